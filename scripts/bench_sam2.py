"""SAM 2 speed matrix and end-to-end overhead (docs/benchmarks.md).

Random-init sam2.1_hiera_tiny (the published architecture; weights cannot be downloaded here):
timings are those of the real network, masks are meaningless. Frames are the first N frames of
a 720p clip (default ../shared/data/videos/pingpong-720p.mp4); track 1 is the player's box from
samples/pingpong.tracks.json, tracks 2-5 are fixed boxes elsewhere in the frame.

With random weights the ``video`` strategy's drift rule would re-prompt every track on every
frame (the random network predicts "no object"); ``--reprompt`` keeps the rule on, by default it
is off so that the numbers are those of plain propagation, which is what a trained model does on
most frames.

Usage::

    python scripts/bench_sam2.py matrix --frames 8 [--sizes 1024 512] [--strides 1 4 8]
    python scripts/bench_sam2.py e2e --strategy image --tracks 5 --input-size 512 --stride 4 --frames 48

    python scripts/bench_sam2.py runtimes --frames 20 --sizes 1024 512 384 --configs torch:fp32 openvino:bf16 ...

``runtimes`` (issue 11) runs, for each input size and each ``runtime:precision[:crop][:preset]``
config, the image strategy with 5 tracks at stride 1: the runtime's build time (export /
conversion / compilation, cache bypassed), bare seconds per frame (after one warm-up frame), the
end-to-end ``redact`` frames/s of the same frames and the ratio, the share of frames encoded as a
crop, and the mask IoU against torch eager fp32 without crop at the same input size (random
weights: a numerical agreement check, not a quality figure). ``--layout cluster`` puts the four
extra boxes around the player (so crops apply) instead of spreading them over the frame.

``matrix`` prints one JSON line per (strategy, tracks, input size, stride): seconds per frame
over all frames (warm-up included: a real run pays it too; the first frame is also reported).
``e2e`` times the bare segmenter over the clip's first N frames, then ``redact`` of the same N
frames (trimmed copy of the clip, same tracks) with the same segmenter, and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import av

from sammask.media.types import EncodeOptions
from sammask.segmentation import FramePrompts, Segmenter, TrackPrompt
from sammask.segmentation.keyframe import KeyframeSegmenter
from sammask.segmentation.sam2.model import build_sam2_model
from sammask.segmentation.sam2.segmenter import Sam2Segmenter
from sammask.settings import RedactSettings, Sam2Settings
from sammask.tracks import Detection, Tracks
from sammask.tracks.io import read_tracks

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "videos" / "pingpong-720p.mp4"
TRACKS = REPO / "samples" / "pingpong.tracks.json"
CLUSTER_BOXES = [(720.0, 150.0, 800.0, 350.0), (1100.0, 120.0, 1180.0, 330.0), (900.0, 420.0, 1000.0, 590.0), (780.0, 400.0, 860.0, 560.0)]
EXTRA_BOXES = [(40.0, 60.0, 240.0, 420.0), (300.0, 80.0, 460.0, 300.0), (100.0, 450.0, 400.0, 700.0), (1080.0, 100.0, 1260.0, 500.0)]


def load_frames(n: int) -> list:
    with av.open(str(VIDEO)) as c:
        out = []
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="rgb24"))
            if len(out) == n:
                return out
    return out


def tracks_for(n_frames: int, n_tracks: int, layout: str = "spread") -> Tracks:
    player = read_tracks(TRACKS)
    extra = CLUSTER_BOXES if layout == "cluster" else EXTRA_BOXES
    dets = []
    for i in range(n_frames):
        dets += [d for d in player.on_frame(i)]
        dets += [Detection(i, 2 + k, box) for k, box in enumerate(extra[: n_tracks - 1])]
    return Tracks.from_detections(dets)


def make_segmenter(strategy: str, size: int, stride: int, reprompt: bool, model=None) -> Segmenter:
    model = model or build_sam2_model("sam2.1_hiera_tiny", checkpoint=None, image_size=size, random_init=True)
    seg = Sam2Segmenter(Sam2Settings(strategy=strategy, input_size=size), model=model)
    if strategy == "video" and not reprompt:
        seg.strategy.needs_reprompt = lambda mask, bbox: False
    return KeyframeSegmenter(seg, stride=stride) if stride > 1 else seg


def bare_run(seg: Segmenter, frames: list, tracks: Tracks) -> tuple[float, float]:
    stream = (
        FramePrompts(i, img, [TrackPrompt(d.track_id, d.bbox) for d in tracks.on_frame(i)])
        for i, img in enumerate(frames)
    )
    t0 = time.perf_counter()
    first = None
    for _ in seg.segment(stream):
        if first is None:
            first = time.perf_counter() - t0
    return time.perf_counter() - t0, first or 0.0


def matrix(args: argparse.Namespace) -> None:
    frames = load_frames(args.frames)
    for size in args.sizes:
        model = build_sam2_model("sam2.1_hiera_tiny", checkpoint=None, image_size=size, random_init=True)
        for strategy in args.strategies:
            for n_tracks in args.tracks:
                for stride in args.strides if strategy != "baseline" else [1]:
                    tracks = tracks_for(len(frames), n_tracks)
                    seg = make_segmenter(strategy, size, stride, args.reprompt, model)
                    total, first = bare_run(seg, frames, tracks)
                    seg.close()
                    print(json.dumps({
                        "strategy": strategy, "tracks": n_tracks, "input_size": size, "stride": stride,
                        "frames": len(frames), "s_per_frame": round(total / len(frames), 3),
                        "fps": round(len(frames) / total, 3), "first_frame_s": round(first, 3),
                    }), flush=True)


def e2e(args: argparse.Namespace) -> None:
    from sammask.media import trim_video
    from sammask.pipeline import redact

    frames = load_frames(args.frames)
    tracks = tracks_for(len(frames), args.tracks)
    model = build_sam2_model("sam2.1_hiera_tiny", checkpoint=None, image_size=args.input_size, random_init=True)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        trim_video(VIDEO, clip, len(frames))
        bare_total, _ = bare_run(make_segmenter(args.strategy, args.input_size, args.stride, args.reprompt, model), frames, tracks)
        settings = RedactSettings(segmenter="sam2", stride=1, encode=EncodeOptions(preset=args.preset))
        seg = make_segmenter(args.strategy, args.input_size, args.stride, args.reprompt, model)
        t0 = time.perf_counter()
        report = redact(clip, tracks, Path(tmp) / "out.mp4", settings, segmenter=seg)
        e2e_total = time.perf_counter() - t0
    print(json.dumps({
        "strategy": args.strategy, "tracks": args.tracks, "input_size": args.input_size, "stride": args.stride,
        "frames": len(frames), "preset": args.preset, "bare_s": round(bare_total, 2), "e2e_s": round(e2e_total, 2),
        "ratio": round(e2e_total / bare_total, 3), "e2e_fps": round(len(frames) / e2e_total, 3),
        "stage_seconds": {k: round(v, 2) for k, v in report.stage_seconds.items()},
    }), flush=True)


def _iou_stats(masks: list, ref: list) -> tuple[float, float]:
    ious = []
    for fm, rm in zip(masks, ref):
        for t, m in rm.items():
            a, b = fm[t], m
            union = (a | b).sum()
            ious.append(float((a & b).sum() / union) if union else 1.0)
    return sum(ious) / len(ious), min(ious)


def runtimes(args: argparse.Namespace) -> None:
    import os
    import shutil

    import torch

    from sammask.media import trim_video
    from sammask.pipeline import redact
    from sammask.segmentation.sam2.runtime import build_encoder_runtime

    frames = load_frames(args.frames + 1)  # frame 0 warms up
    tracks = tracks_for(len(frames), 5, args.layout)
    stream = [
        FramePrompts(i, img, [TrackPrompt(d.track_id, d.bbox) for d in tracks.on_frame(i)]) for i, img in enumerate(frames)
    ]
    load = os.getloadavg()
    print(json.dumps({"uptime_load": [round(x, 2) for x in load], "torch_threads": torch.get_num_threads(),
                      "frames": args.frames, "layout": args.layout}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        trim_video(VIDEO, clip, len(frames))
        for size in args.sizes:
            model = build_sam2_model("sam2.1_hiera_tiny", checkpoint=None, image_size=size, random_init=True)
            ref = None
            for cfg in args.configs:
                parts = cfg.split(":")
                runtime, precision = parts[0], parts[1]
                crop = len(parts) > 2 and parts[2] == "crop"  # config: runtime:precision[:crop|nocrop[:preset[:seg_threads]]]
                preset = parts[3] if len(parts) > 3 and parts[3] else args.preset
                seg_threads = int(parts[4]) if len(parts) > 4 else 2
                torch.set_num_threads(seg_threads)  # OpenVINO / ONNX Runtime take the same count
                if size in args.skip.get(cfg, ()):
                    continue
                opts = Sam2Settings(input_size=size, runtime=runtime, precision=precision, crop=crop,
                                    export_cache=Path(tmp) / "exports")
                shutil.rmtree(Path(tmp) / "exports", ignore_errors=True)
                t0 = time.perf_counter()
                rt = build_encoder_runtime(model, opts)
                seg = Sam2Segmenter(opts, model=model, runtime=rt)
                it = seg.segment(iter(stream))
                next(it)  # warm-up frame (lazy compilation happens here)
                build_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                masks = [fm.masks for fm in it]
                bare = time.perf_counter() - t0
                crops = seg.strategy.crops - (1 if seg.strategy.crops and len(masks) + 1 == seg.strategy.crops else 0)
                if runtime == "torch" and precision == "fp32" and not crop:
                    ref = masks
                iou_mean, iou_min = _iou_stats(masks, ref) if ref is not None else (None, None)
                settings = RedactSettings(segmenter="sam2", sam2=opts, encode=EncodeOptions(preset=preset))
                seg2 = Sam2Segmenter(opts, model=model, runtime=rt)
                t0 = time.perf_counter()
                (Path(tmp) / "out.mp4").unlink(missing_ok=True)
                report = redact(clip, tracks, Path(tmp) / "out.mp4", settings, segmenter=seg2)
                e2e_s = time.perf_counter() - t0
                n = len(frames)
                bare_pf = bare / args.frames
                extra = {}
                if args.compare_read_ahead:  # the same run with decoding back on the main thread
                    import contextlib

                    import sammask.pipeline as pipeline_module

                    (Path(tmp) / "out.mp4").unlink(missing_ok=True)
                    saved = pipeline_module.ReadAhead
                    pipeline_module.ReadAhead = lambda reader: contextlib.nullcontext(reader)
                    try:
                        seg3 = Sam2Segmenter(opts, model=model, runtime=rt)
                        t0 = time.perf_counter()
                        r3 = redact(clip, tracks, Path(tmp) / "out.mp4", settings, segmenter=seg3)
                        s3 = time.perf_counter() - t0
                    finally:
                        pipeline_module.ReadAhead = saved
                    extra = {"no_read_ahead": {"e2e_fps": round(n / s3, 2), "ratio": round((s3 / n) / bare_pf, 3),
                                               "stage_s": {k: round(v, 2) for k, v in r3.stage_seconds.items()}}}
                print(json.dumps({
                    "size": size, "runtime": runtime, "precision": precision, "crop": crop, "preset": preset,
                    "seg_threads": seg_threads,
                    "build_s": round(build_s, 1), "bare_s_per_frame": round(bare_pf, 3),
                    "e2e_fps": round(n / e2e_s, 2), "ratio": round((e2e_s / n) / bare_pf, 3),
                    "crop_frames": f"{seg.strategy.crops}/{n}",
                    "iou_mean": None if iou_mean is None else round(iou_mean, 4),
                    "iou_min": None if iou_min is None else round(iou_min, 4),
                    "load": round(os.getloadavg()[0], 2),
                    "stage_s": {k: round(v, 2) for k, v in report.stage_seconds.items()},
                } | extra), flush=True)
            del model


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("matrix", "e2e", "runtimes"))
    ap.add_argument("--configs", nargs="+", default=["torch:fp32", "openvino:bf16"])
    ap.add_argument("--layout", choices=("spread", "cluster"), default="spread")
    ap.add_argument("--skip", type=json.loads, default={}, help='JSON {"config": [sizes]} to leave out')
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 512])
    ap.add_argument("--strategies", nargs="+", default=["image", "video", "baseline"])
    ap.add_argument("--tracks", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--strides", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--strategy", default="image")
    ap.add_argument("--input-size", type=int, default=512)
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--reprompt", action="store_true")
    ap.add_argument("--compare-read-ahead", action="store_true",
                    help="runtimes: also run each e2e with decoding on the main thread (no media.ReadAhead)")
    args = ap.parse_args()
    if args.kind == "runtimes":
        runtimes(args)
    elif args.kind == "e2e":
        args.tracks = args.tracks[0] if isinstance(args.tracks, list) else args.tracks
        e2e(args)
    else:
        matrix(args)


if __name__ == "__main__":
    main()
