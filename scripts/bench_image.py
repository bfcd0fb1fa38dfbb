"""Measure the image room's classical backend on DAVIS frame 0 (docs/image.md).

    PYTHONPATH=src python scripts/bench_image.py prompts [--data ../shared/data]
    PYTHONPATH=src python scripts/bench_image.py everything
    PYTHONPATH=src python scripts/bench_image.py sam2-everything [--points-per-side 8]

``prompts``: for every object on frame 0 of every DAVIS sequence under --data: J (IoU with the
ground truth) of the classical backend from the GT box, and from one click at the object's
interior-most pixel (the maximum of the distance transform, the usual click simulation), best
candidate by score; the box itself as a reference. ``everything``: mask count and seconds per
image for the classical baseline at 480p (DAVIS frame) and 1080p (pedestrians-1080p frame 0).
``sam2-everything``: seconds per image of SAM 2 "everything" (sam2.1_hiera_tiny, 1024 input,
RANDOM weights: the time is real, the mask count meaningless) at 480p and 1080p.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from sammask.eval.groundtruth import GroundTruthSequence
from sammask.eval.metrics import jaccard
from sammask.geometry import box_mask, mask_bbox
from sammask.image import ClassicalBackend, Prompt, segment_everything


def _frame0(video: Path) -> np.ndarray:
    import av

    with av.open(str(video)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


def _click(mask: np.ndarray) -> tuple[float, float]:
    import cv2

    d = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    r, c = np.unravel_index(int(np.argmax(d)), d.shape)
    return float(c) + 0.5, float(r) + 0.5


def prompts(data: Path) -> None:
    seqs = sorted(p for d in ("davis2016", "davis2017-lowres") for p in (data / d).iterdir() if p.is_dir())
    backend = ClassicalBackend()
    rows = []
    for seq in seqs:
        gt = GroundTruthSequence(seq)
        image = _frame0(seq / "video.mp4")
        backend.set_image(image)
        ids = np.unique(gt.mask(0))
        for obj in ids[ids > 0]:
            m = gt.mask(0) == obj
            box = mask_bbox(m)
            t0 = time.perf_counter()
            jb = jaccard(m, backend.predict(Prompt(box=box), multimask=False)[0].mask)
            tb = time.perf_counter() - t0
            t0 = time.perf_counter()
            jc = jaccard(m, backend.predict(Prompt(points=[_click(m)], labels=[1]), multimask=True)[0].mask)
            tc = time.perf_counter() - t0
            rows.append((seq.name, int(obj), jaccard(m, box_mask(box, m.shape)), jb, jc, tb, tc))
            print(f"{seq.name:18s} obj {obj}: J box-only {rows[-1][2]:.3f}  box {jb:.3f}  click {jc:.3f}"
                  f"  ({tb:.2f} s, {tc:.2f} s)", flush=True)
    a = np.array([r[2:] for r in rows])
    print(f"mean over {len(rows)} objects of {len(seqs)} sequences: J box-only {a[:, 0].mean():.3f}, "
          f"grabcut box {a[:, 1].mean():.3f}, grabcut 1 click {a[:, 2].mean():.3f}; "
          f"s/prompt box {a[:, 3].mean():.2f}, click (3 candidates) {a[:, 4].mean():.2f}")


def everything(data: Path) -> None:
    backend = ClassicalBackend()
    for name, video in (("480p", data / "davis2016" / "bmx-bumps" / "video.mp4"),
                        ("480p", data / "davis2016" / "dance-jump" / "video.mp4"),
                        ("1080p", data / "videos" / "pedestrians-1080p.mp4")):
        image = _frame0(video)
        segment_everything(image, backend)  # warm-up (imports)
        t0 = time.perf_counter()
        masks = segment_everything(image, backend)
        dt = time.perf_counter() - t0
        print(f"{name} {video.parent.name if name == '480p' else video.name} {image.shape[1]}x{image.shape[0]}: "
              f"{len(masks)} masks, {dt:.2f} s")


def sam2_everything(data: Path, points_per_side: int) -> None:
    import torch

    from sammask.image.sam2 import EverythingOptions, Sam2ImageBackend
    from sammask.segmentation.sam2.model import build_sam2_model

    torch.manual_seed(0)
    backend = Sam2ImageBackend(build_sam2_model("sam2.1_hiera_tiny", checkpoint=None, image_size=1024, random_init=True))
    for name, video in (("480p", data / "davis2016" / "bmx-bumps" / "video.mp4"),
                        ("1080p", data / "videos" / "pedestrians-1080p.mp4")):
        image = _frame0(video)
        t0 = time.perf_counter()
        backend.set_image(image)
        te = time.perf_counter() - t0
        backend._cache = None  # time the whole generator, encoder included
        t0 = time.perf_counter()
        masks = segment_everything(image, backend, EverythingOptions(points_per_side=points_per_side))
        print(f"{name} {image.shape[1]}x{image.shape[0]}: encoder {te:.1f} s, everything "
              f"({points_per_side}x{points_per_side} grid, random weights) {time.perf_counter() - t0:.1f} s, "
              f"{len(masks)} masks", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("prompts", "everything", "sam2-everything"))
    ap.add_argument("--points-per-side", type=int, default=8)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = ap.parse_args()
    if args.what == "sam2-everything":
        sam2_everything(args.data, args.points_per_side)
    else:
        {"prompts": prompts, "everything": everything}[args.what](args.data)
    sys.exit(0)
