"""Measure ``sammask matte`` on DAVIS: matte quality per keep source, flicker with and without
temporal smoothing, trimap refinement (pymatting), and frames/s per output option at 480p / 720p.

Quality: for each sequence (video.mp4, masks/, gt.txt) and each source -- ``box`` and
``grabcut`` segment the sequence's gt.txt boxes as ``sammask matte --tracks`` does,
``mediapipe`` is ``--keep person`` -- the soft matte (``--feather``) is thresholded at 0.5 and
scored against the union of the ground-truth objects with ``sammask.eval.metrics`` (J, boundary
F); flicker is ``sammask.matte.flicker`` (mean |alpha_t - alpha_t-1| where the GT does not change).

Speed: ``matte()`` end to end (decode, keep source, matte, encode, rename) on the first
``--speed-frames`` frames of one sequence at its 480p and upscaled to 1280x720.

Usage::

    PYTHONPATH=src:/tmp/mp2 nice .venv/bin/python scripts/bench_matte.py quality \
        ../shared/data/davis2016/{breakdance-flare,dance-jump,lucia} -o /tmp/matte-quality.json
    PYTHONPATH=src:/tmp/mp2 nice .venv/bin/python scripts/bench_matte.py speed \
        ../shared/data/davis2016/breakdance-flare -o /tmp/matte-speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from sammask.eval.metrics import f_measure, jaccard
from sammask.matte import MatteOptions, TemporalSmoother, feather_alpha, flicker, matte, parse_background
from sammask.matte.alpha import refine_alpha
from sammask.matte.sources import PersonSource, TracksSource
from sammask.media import EncodeOptions, VideoInfo, VideoReader, VideoWriter, probe
from sammask.settings import RedactSettings


def _gt(seq: Path, n: int) -> list[np.ndarray]:
    return [cv2.imread(str(seq / "masks" / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE) > 0 for i in range(n)]


def _keep_masks(seq: Path, method: str) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    source = PersonSource() if method == "mediapipe" else TracksSource(seq / "video.mp4", seq / "gt.txt", RedactSettings(segmenter=method))
    images, masks = [], []
    t0 = time.perf_counter()
    with VideoReader(seq / "video.mp4") as reader:
        for frame, mask in source.run(reader):
            images.append(frame.image)
            masks.append(mask)
    secs = time.perf_counter() - t0
    source.close()
    return images, masks, len(masks) / secs


def quality(seqs: list[Path], methods: list[str], feather: float, smooth: list[float], refine_frames: int) -> list[dict]:
    rows = []
    for seq in seqs:
        for method in methods:
            images, masks, fps = _keep_masks(seq, method)
            gts = _gt(seq, len(masks))
            for s in smooth:
                for f in sorted({0.0, feather}):
                    sm = TemporalSmoother(s)
                    alphas = [sm(feather_alpha(m, f)) for m in masks]
                    rows.append({
                        "sequence": seq.name, "source": method, "feather": f, "smooth": s, "frames": len(masks),
                        "J": float(np.mean([jaccard(g, a > 0.5) for g, a in zip(gts, alphas)])),
                        "F": float(np.mean([f_measure(g, a > 0.5) for g, a in zip(gts, alphas)])),
                        "flicker": flicker(alphas, gts), "source_fps": fps,
                    })
                    print(json.dumps(rows[-1]), flush=True)
            if refine_frames and method != "box":
                idx = list(range(min(refine_frames, len(masks))))
                t0 = time.perf_counter()
                refined = [refine_alpha(images[i], masks[i], 6) for i in idx]
                secs = time.perf_counter() - t0
                soft = [feather_alpha(masks[i], feather) for i in idx]
                g = [gts[i] for i in idx]
                rows.append({
                    "sequence": seq.name, "source": method, "refine": "pymatting cf, 6 px band", "frames": len(idx),
                    "J": float(np.mean([jaccard(a, r > 0.5) for a, r in zip(g, refined)])),
                    "F": float(np.mean([f_measure(a, r > 0.5) for a, r in zip(g, refined)])),
                    "J_feather_same_frames": float(np.mean([jaccard(a, r > 0.5) for a, r in zip(g, soft)])),
                    "F_feather_same_frames": float(np.mean([f_measure(a, r > 0.5) for a, r in zip(g, soft)])),
                    "refine_s_per_frame": secs / len(idx),
                })
                print(json.dumps(rows[-1]), flush=True)
    return rows


def _clip(seq: Path, frames: int, height: int, folder: Path) -> tuple[Path, Path]:
    """The first ``frames`` frames of the sequence scaled to ``height`` (H.264 CRF 16) and its
    gt.txt boxes scaled alike."""
    info = probe(seq / "video.mp4")
    scale = height / info.height
    width = int(round(info.width * scale / 2)) * 2
    out = folder / f"{seq.name}-{height}p.mp4"
    new = VideoInfo(out, width, height, info.fps, info.time_base, frames, True, 0.0, 0, "h264", 0)
    with VideoReader(seq / "video.mp4") as r, VideoWriter(out, new, EncodeOptions(crf=16, copy_audio=False)) as w:
        for frame in r:
            if frame.frame_idx >= frames:
                break
            w.write(cv2.resize(frame.image, (width, height), interpolation=cv2.INTER_LINEAR), frame.pts)
    rows = []
    for line in (seq / "gt.txt").read_text().splitlines():
        v = line.split(",")
        if int(v[0]) <= frames:
            v[2:6] = [f"{float(x) * scale:.2f}" for x in v[2:6]]
            rows.append(",".join(v))
    tracks = folder / f"{seq.name}-{height}p.txt"
    tracks.write_text("\n".join(rows) + "\n")
    return out, tracks


SPEED_OPTIONS = [
    ("transparent", ".mov", False), ("transparent", ".webm", False), ("transparent", "", False),
    ("blur", ".mp4", False), ("color:#00ff00", ".mp4", False), ("image", ".mp4", False), ("video", ".mp4", False),
    ("color:#00ff00", ".mp4", True),
]


def speed(seq: Path, frames: int, sources: list[str], smooth: float) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        folder = Path(tmp)
        for height in (480, 720):
            video, tracks = _clip(seq, frames, height, folder)
            bg_image = folder / "bg.png"
            img = cv2.resize(cv2.imread(str(seq / "masks" / "00000.png")) * 80, (640, 360))
            cv2.imwrite(str(bg_image), img)
            for background, suffix, with_matte in SPEED_OPTIONS:
                spec = {"image": f"image:{bg_image}", "video": f"video:{video}"}.get(background, background)
                out = folder / f"out-{height}{suffix}"
                opts = MatteOptions(background=parse_background(spec), segmenter="box", smooth=smooth)
                report = matte(video, out, tracks=tracks, options=opts, overwrite=True,
                               matte_path=folder / "m.mp4" if with_matte else None,
                               settings=RedactSettings(encode=EncodeOptions(copy_audio=False)))
                rows.append({"height": height, "source": "box", "background": background, "output": suffix or "png folder",
                             "matte_out": with_matte, "frames": report.frames, "fps": report.fps})
                print(json.dumps(rows[-1]), flush=True)
                if suffix == "":
                    import shutil

                    shutil.rmtree(out)
            for method in sources:
                out = folder / f"src-{height}.mp4"
                kw = {"keep": "person"} if method == "mediapipe" else {"tracks": tracks}
                report = matte(video, out, options=MatteOptions(background=parse_background("color:#00ff00"),
                                                                segmenter="box" if method == "mediapipe" else method),
                               overwrite=True, settings=RedactSettings(encode=EncodeOptions(copy_audio=False)), **kw)
                rows.append({"height": height, "source": method, "background": "color", "output": ".mp4",
                             "matte_out": False, "frames": report.frames, "fps": report.fps})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["quality", "speed"])
    p.add_argument("seqs", nargs="+", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--sources", default="box,grabcut,mediapipe")
    p.add_argument("--feather", type=float, default=4.0)
    p.add_argument("--smooth", default="0,0.3,0.6")
    p.add_argument("--refine-frames", type=int, default=0, help="pymatting refinement on the first N frames")
    p.add_argument("--speed-frames", type=int, default=30)
    a = p.parse_args()
    meta = {"command": " ".join(["scripts/bench_matte.py", *os.sys.argv[1:]]), "loadavg_start": os.getloadavg()}
    if a.what == "quality":
        rows = quality(a.seqs, a.sources.split(","), a.feather, [float(s) for s in a.smooth.split(",")], a.refine_frames)
    else:
        rows = speed(a.seqs[0], a.speed_frames, a.sources.split(","), 0.0)
    meta["loadavg_end"] = os.getloadavg()
    a.output.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
