"""Benchmark the SAM 2 ``image`` strategy: seconds per frame vs input size and number of boxes.

Random-init weights (speed does not depend on the weight values). Also measures how much the
optional previous-mask prompt (``use_previous_mask``) changes the output on random weights.

Usage:
    python scripts/bench_sam2_image.py [--video ../shared/data/videos/pingpong-720p.mp4]
        [--model sam2.1_hiera_tiny] [--sizes 1024 512] [--boxes 1 5] [--frames 4]

Prints one line per (input size, boxes): mean/min wall seconds per frame over the timed frames
(the first frame is a warm-up and not timed), the process CPU seconds per frame (all threads;
less sensitive to other load on the machine than wall time), and the encoder / decoder split.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import av
import numpy as np
import torch

from sammask.segmentation.base import FramePrompts, TrackPrompt
from sammask.segmentation.sam2.image import ImageStrategy, decode_boxes, encode_image
from sammask.segmentation.sam2.model import build_sam2_model
from sammask.settings import Sam2Settings

REPO = Path(__file__).resolve().parents[1]

# Plausible person-sized boxes on a 1280x720 frame (xyxy pixels).
BOXES = [
    (420.0, 150.0, 640.0, 700.0),
    (700.0, 160.0, 900.0, 700.0),
    (100.0, 300.0, 260.0, 620.0),
    (980.0, 250.0, 1180.0, 690.0),
    (560.0, 80.0, 720.0, 300.0),
]


def read_frames(video: Path, n: int) -> list[np.ndarray]:
    out = []
    with av.open(str(video)) as c:
        for frame in c.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == n:
                break
    return out


def scaled(boxes, w: int, h: int):
    sx, sy = w / 1280.0, h / 720.0
    return [(x1 * sx, y1 * sy, x2 * sx, y2 * sy) for x1, y1, x2, y2 in boxes]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=REPO.parent / "shared/data/videos/pingpong-720p.mp4")
    ap.add_argument("--model", default="sam2.1_hiera_tiny")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 512])
    ap.add_argument("--boxes", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--frames", type=int, default=4, help="frames per run, the first untimed")
    args = ap.parse_args()

    frames = read_frames(args.video, args.frames)
    h, w = frames[0].shape[:2]
    print(f"video {args.video.name} {w}x{h}, model {args.model} (random weights), "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for size in args.sizes:
        torch.manual_seed(0)
        model = build_sam2_model(args.model, checkpoint=None, image_size=size, random_init=True)
        for n in args.boxes:
            boxes = scaled(BOXES[:n], w, h)
            items = [FramePrompts(i, f, [TrackPrompt(t, b) for t, b in enumerate(boxes)]) for i, f in enumerate(frames)]
            strategy = ImageStrategy(model, Sam2Settings(input_size=size))
            times, cpu = [], []
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in strategy.segment(items):
                t1, c1 = time.perf_counter(), time.process_time()
                times.append(t1 - t0)
                cpu.append(c1 - c0)
                t0, c0 = t1, c1
            timed = times[1:] or times
            cpu_timed = cpu[1:] or cpu
            # encoder / decoder split on one frame
            with torch.inference_mode():
                te = time.perf_counter()
                feats = encode_image(model, frames[-1])
                td = time.perf_counter()
                decode_boxes(model, feats, np.array(boxes, dtype=np.float32))
                tend = time.perf_counter()
            print(f"input {size:5d}  boxes {n}: {np.mean(timed):.2f} s/frame (min {np.min(timed):.2f}, "
                  f"n={len(timed)}; process CPU {np.mean(cpu_timed):.2f} s/frame)  encoder {td - te:.2f} s, decoder {tend - td:.3f} s")
        if size == min(args.sizes):
            measure_previous_mask(model, frames, scaled(BOXES, w, h), size)


def measure_previous_mask(model, frames, boxes, size: int) -> None:
    """Compare masks with and without the previous-mask prompt on frames 1.. (random weights)."""
    items = [FramePrompts(i, f, [TrackPrompt(t, b) for t, b in enumerate(boxes)]) for i, f in enumerate(frames)]
    plain = list(ImageStrategy(model, Sam2Settings(input_size=size)).segment(items))
    prev = list(ImageStrategy(model, Sam2Settings(input_size=size), use_previous_mask=True).segment(items))
    ious, dscore, cover_p, cover_q = [], [], [], []
    for a, b in zip(plain[1:], prev[1:]):
        for t in a.masks:
            ma, mb = a.masks[t], b.masks[t]
            union = np.logical_or(ma, mb).sum()
            ious.append(np.logical_and(ma, mb).sum() / union if union else 1.0)
            dscore.append(abs(a.scores[t] - b.scores[t]))
            cover_p.append(ma.mean())
            cover_q.append(mb.mean())
    print(f"previous-mask prompt (input {size}, {len(boxes)} boxes, frames 1..{len(frames) - 1}): "
          f"mask IoU with vs without mean {np.mean(ious):.4f} (min {np.min(ious):.4f}), "
          f"|score diff| mean {np.mean(dscore):.4f}, frame coverage {np.mean(cover_p):.3f} -> {np.mean(cover_q):.3f}")


if __name__ == "__main__":
    main()
