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
EXTRA_BOXES = [(40.0, 60.0, 240.0, 420.0), (300.0, 80.0, 460.0, 300.0), (100.0, 450.0, 400.0, 700.0), (1080.0, 100.0, 1260.0, 500.0)]


def load_frames(n: int) -> list:
    with av.open(str(VIDEO)) as c:
        out = []
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="rgb24"))
            if len(out) == n:
                return out
    return out


def tracks_for(n_frames: int, n_tracks: int) -> Tracks:
    player = read_tracks(TRACKS)
    dets = []
    for i in range(n_frames):
        dets += [d for d in player.on_frame(i)]
        dets += [Detection(i, 2 + k, box) for k, box in enumerate(EXTRA_BOXES[: n_tracks - 1])]
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


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("matrix", "e2e"))
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
    args = ap.parse_args()
    if args.kind == "e2e":
        args.tracks = args.tracks[0] if isinstance(args.tracks, list) else args.tracks
        e2e(args)
    else:
        matrix(args)


if __name__ == "__main__":
    main()
