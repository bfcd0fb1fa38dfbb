"""Input-size oracle: how much dilation does SAM 2's mask resolution need to stay under the leak budget?

The oracle-keyframe study's logic (``sammask.eval.oracle``: ground truth stands in for a perfect
segmenter, then dilate and score like a real run) applied to SAM 2's *output resolution*
instead of striding: SAM 2 answers each box with (S/4 x S/4) low-res logits over what it
encoded (the whole frame resized to S x S, or the square crop of
:func:`sammask.segmentation.sam2.crop.plan_crop`), upsampled bilinearly and thresholded at 0.
The best such answer is the ground-truth mask area-averaged onto that grid (a cell's value is the
object's share of it), minus 0.5, upsampled the same way. Its leak after ``d`` px of dilation
is a lower bound for a real SAM 2 run at input S: whatever dilation this needs, real weights
need at least as much. As in the pipeline, a mask that is empty or covers less than
``min_coverage`` of its box is replaced by the box (``secure_mask``), then clipped to the box,
then dilated.

Frames are scaled to 1280x720 (nearest) so that the figures hold for the 720p footage of
docs/benchmarks.md; boxes are gt.txt's, scaled the same. Every ``--every``-th frame is scored.

Usage::

    python scripts/bench_sam2_resolution.py ../shared/data/davis2016/* --sizes 1024 512 448 384 \
        --dilations 0 2 4 8 --every 2 > docs/quality/sam2-input-size.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from sammask.eval.groundtruth import GroundTruthSequence
from sammask.eval.metrics import boxes_mask, combine, evaluate_frame, summarize
from sammask.masking.options import MaskingOptions
from sammask.masking.rules import clip_to_box, dilate_mask, secure_mask
from sammask.segmentation.sam2.crop import plan_crop

OUT_H, OUT_W = 720, 1280
MIN_COVERAGE = MaskingOptions().min_coverage


def sam2_resolution_mask(obj: np.ndarray, size: int) -> np.ndarray:
    """Best mask SAM 2 at input ``size`` can output for the (h, w) bool object region ``obj``."""
    low = size // 4
    h, w = obj.shape
    p = cv2.resize(obj.astype(np.float32), (low, low), interpolation=cv2.INTER_AREA) - 0.5
    return cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR) > 0


def study(seqs: list[GroundTruthSequence], size: int, crop: bool, dilations: list[int], every: int) -> dict:
    rows: dict[int, list] = {d: [] for d in dilations}
    per_seq = {d: [] for d in dilations}
    crops = frames = 0
    for seq in seqs:
        matching = {o: o for o in seq.object_ids}
        sy, sx = OUT_H / seq.shape[0], OUT_W / seq.shape[1]
        rows = {d: [] for d in dilations}
        for gt in seq.frames():
            if gt.frame_idx % every:
                continue
            ids = cv2.resize(gt.ids, (OUT_W, OUT_H), interpolation=cv2.INTER_NEAREST)
            boxes = {t: (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy) for t, b in gt.boxes.items()}
            masks: dict[int, np.ndarray] = {}
            if boxes:
                window = plan_crop(np.array(list(boxes.values())), OUT_H, OUT_W, size) if crop else None
                frames += 1
                crops += window is not None
                for t in boxes:
                    if window is None:
                        masks[t] = sam2_resolution_mask(ids == t, size)
                    else:
                        m = np.zeros((OUT_H, OUT_W), bool)
                        m[window.y0 : window.y0 + window.side, window.x0 : window.x0 + window.side] = (
                            sam2_resolution_mask(window.cut(ids) == t, size)
                        )
                        masks[t] = m
                for t, bbox in boxes.items():  # the pipeline's rule: fail-secure box, then clip to the box
                    m, reason = secure_mask(masks[t], bbox, (OUT_H, OUT_W), MIN_COVERAGE)
                    masks[t] = m if reason is not None else clip_to_box(m, bbox, 0)
            for d in dilations:
                dil = {t: dilate_mask(m, d) for t, m in masks.items()}
                applied = np.zeros((OUT_H, OUT_W), bool)
                for m in dil.values():
                    applied |= m
                rows[d].append(evaluate_frame(gt.frame_idx, ids, applied, dil, matching, boxes_mask(boxes.values(), (OUT_H, OUT_W), d)))
        for d in dilations:
            per_seq[d].append(summarize(seq.name, rows[d]))
        print(f"size {size} crop {crop}: {seq.name} done", file=sys.stderr, flush=True)
    return {"overall": {d: combine(per_seq[d]) for d in dilations}, "crops": crops, "frames": frames}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sequences", nargs="+", type=Path)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 512, 448, 384])
    ap.add_argument("--dilations", type=int, nargs="+", default=[0, 2, 4, 8])
    ap.add_argument("--every", type=int, default=2)
    args = ap.parse_args()
    seqs = [GroundTruthSequence(p) for p in args.sequences]
    print("| input S | crop | frames cropped | dilate px | leak % | worst seq leak % | frames >1% | frames >5% | collateral vs box |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        for crop in (False, True):
            r = study(seqs, size, crop, args.dilations, args.every)
            for d, o in r["overall"].items():
                print(
                    f"| {size} | {'on' if crop else 'off'} | {r['crops']}/{r['frames']} | {d} | {100 * o.leak:.3f} | "
                    f"{100 * o.worst_leak:.2f} | {o.frames_over.get(0.01, 0)} | {o.frames_over.get(0.05, 0)} | "
                    f"{o.collateral_vs_box:.3f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
