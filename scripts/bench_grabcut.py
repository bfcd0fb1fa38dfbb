"""Benchmark GrabCut variants for privacy: leak vs collateral on DAVIS with a perfect tracker.

For every sequence of ``DATA/davis2016`` and ``DATA/davis2017-lowres`` (every ``--step``-th
frame): the GT boxes of ``gt.txt`` (MOTChallenge, 1-based frames) are the prompts, each variant
of :class:`sammask.segmentation.grabcut.GrabCutSegmenter` segments them, and the pipeline's own
rules turn the output into the applied mask: :func:`sammask.masking.rules.secure_mask` (box
fallback below ``--min-coverage`` of the box or on ``None``), clip to the box, and
:func:`sammask.masking.rules.dilate_mask` by each ``--dilate`` radius; the union over tracks is
the applied mask. Against ``masks/*.png`` (instance ids, 0 = background):

- leak: GT object pixels not covered / GT object pixels, summed over all frames (pixel-weighted);
- frames > 1 % / > 5 %: frames whose worst object leaks more than that;
- collateral: covered background pixels / background pixels, and ``vs box``: covered background
  / background covered by the GT boxes dilated the same way (box masking);
- fallback: track-frames the pipeline would mask with the box (segmenter gave None or < 10 %);
- ms/track-frame at 720p: every ``--time-step``-th frame of the DAVIS 2016 sequences upscaled to
  1280x720 (boxes scaled alike), wall time of ``segment`` per box, 1 OpenCV thread.

Usage::

    python scripts/bench_grabcut.py [--data ../shared/data] [--step 1] [--jobs 2]
        [--variants old,default,...] [--dilate 0,4,8,12] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# The closing / hole-filling / upscale-threshold / fill-history / growth variants of the tuning in
# docs/quality/grabcut-tuning.md measured no gain; their options were removed from GrabCutSegmenter
# (git history keeps them and this script's earlier variants).
VARIANTS: dict[str, dict[str, Any]] = {
    # the previous default (before this tuning)
    "old": {"max_side": 160, "iterations": 1, "fg_margin": None},
    "side240": {"max_side": 240, "iterations": 1},
    "side320": {"max_side": 320, "iterations": 1},
    "it2": {"max_side": 160, "iterations": 2},
    "it3_side240": {"max_side": 240, "iterations": 3},
    "gmm1": {"max_side": 160, "fg_margin": 1.0},
    "gmm3": {"max_side": 160, "fg_margin": 3.0},
    "fill0.25": {"max_side": 160, "min_fill": 0.25},
    "gmm0": {"max_side": 160, "fg_margin": 0.0},
    "gmm-1": {"max_side": 160, "fg_margin": -1.0},
    "gmm-2": {"max_side": 160, "fg_margin": -2.0},
    "it2_gmm0": {"max_side": 160, "iterations": 2, "fg_margin": 0.0},
    "it2_gmm1": {"max_side": 160, "iterations": 2, "fg_margin": 1.0},
    "it2_gmm2": {"max_side": 160, "iterations": 2, "fg_margin": 2.0},
    # the new default: whatever GrabCutSegmenter() is built with
    "default": {},
}


@dataclass(slots=True)
class Counts:
    """Pixel and frame counts for one (variant, dilation) on one or more sequences."""

    gt: int = 0
    leaked: int = 0
    background: int = 0
    collateral: int = 0
    box_collateral: int = 0
    frames: int = 0
    frames_over_1: int = 0
    frames_over_5: int = 0
    worst_frame_leak: float = 0.0

    def add(self, other: Counts) -> None:
        for k in ("gt", "leaked", "background", "collateral", "box_collateral", "frames", "frames_over_1", "frames_over_5"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.worst_frame_leak = max(self.worst_frame_leak, other.worst_frame_leak)


@dataclass(slots=True)
class SeqResult:
    """One variant on one sequence: counts per dilation, fallbacks, timing."""

    variant: str
    sequence: str
    counts: dict[int, Counts] = field(default_factory=dict)
    track_frames: int = 0
    fallbacks: int = 0
    seconds_720p: float = 0.0
    track_frames_720p: int = 0


def read_boxes(path: Path) -> dict[int, list[tuple[int, tuple[float, float, float, float]]]]:
    """``frame_idx -> [(track_id, xyxy bbox)]`` from a MOT file (sammask's own reader)."""
    from sammask.tracks import read_mot

    tracks = read_mot(path)
    return {f: [(d.track_id, d.bbox) for d in dets] for f, dets in tracks.by_frame.items()}


def load(seq: Path, step: int) -> tuple[list[int], list[np.ndarray], list[np.ndarray], dict]:
    import av
    import cv2

    idx, images = [], []
    with av.open(str(seq / "video.mp4")) as c:
        for k, frame in enumerate(c.decode(video=0)):
            if k % step == 0 and (seq / "masks" / f"{k:05d}.png").exists():
                idx.append(k)
                images.append(frame.to_ndarray(format="rgb24"))
    gts = [cv2.imread(str(seq / "masks" / f"{k:05d}.png"), cv2.IMREAD_UNCHANGED) for k in idx]
    return idx, images, gts, read_boxes(seq / "gt.txt")


def run_sequence(seq: Path, variants: list[str], dilations: list[int], step: int, time_step: int,
                 min_coverage: float) -> list[SeqResult]:
    import cv2

    from sammask.geometry import box_mask
    from sammask.masking.rules import clip_to_box, dilate_mask, secure_mask
    from sammask.segmentation.base import FramePrompts, TrackPrompt
    from sammask.segmentation.grabcut import GrabCutSegmenter

    cv2.setNumThreads(1)
    idx, images, gts, boxes = load(seq, step)
    prompts = [FramePrompts(k, im, [TrackPrompt(t, b) for t, b in boxes.get(k, [])]) for k, im in zip(idx, images)]
    results = []
    for name in variants:
        seg_opts = VARIANTS[name]
        res = SeqResult(name, seq.name, {d: Counts() for d in dilations})
        for fp, out, gt in zip(prompts, GrabCutSegmenter(**seg_opts).segment(iter(prompts)), gts, strict=True):
            shape = gt.shape
            final = []
            for p in fp.prompts:
                m, reason = secure_mask(out.masks.get(p.track_id), p.bbox, shape, min_coverage)
                if reason is not None:
                    res.fallbacks += 1
                final.append(clip_to_box(m, p.bbox, 0) if reason is None else m)
                res.track_frames += 1
            objs = [o for o in np.unique(gt).tolist() if o != 0]
            bg = gt == 0
            boxes_union = np.zeros(shape, bool)
            for p in fp.prompts:
                boxes_union |= box_mask(p.bbox, shape)
            for d in dilations:
                applied = np.zeros(shape, bool)
                for m in final:
                    applied |= dilate_mask(m, d) if d else m
                c = res.counts[d]
                frame_leak = 0.0
                for o in objs:
                    g = gt == o
                    n = int(np.count_nonzero(g))
                    lk = int(np.count_nonzero(g & ~applied))
                    c.gt += n
                    c.leaked += lk
                    frame_leak = max(frame_leak, lk / n)
                c.background += int(np.count_nonzero(bg))
                c.collateral += int(np.count_nonzero(bg & applied))
                c.box_collateral += int(np.count_nonzero(bg & (dilate_mask(boxes_union, d) if d else boxes_union)))
                c.frames += 1
                c.frames_over_1 += frame_leak > 0.01
                c.frames_over_5 += frame_leak > 0.05
                c.worst_frame_leak = max(c.worst_frame_leak, frame_leak)
        if seq.parent.name == "davis2016" and time_step > 0:
            seg = GrabCutSegmenter(**seg_opts)
            for k, im in zip(idx, images):
                if k % time_step:
                    continue
                big = cv2.resize(im, (1280, 720), interpolation=cv2.INTER_LINEAR)
                sx, sy = 1280 / im.shape[1], 720 / im.shape[0]
                for _, (x1, y1, x2, y2) in boxes.get(k, []):
                    t0 = time.perf_counter()
                    seg.segment_box(big, (x1 * sx, y1 * sy, x2 * sx, y2 * sy))
                    res.seconds_720p += time.perf_counter() - t0
                    res.track_frames_720p += 1
        results.append(res)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    ap.add_argument("--step", type=int, default=1, help="use every step-th frame")
    ap.add_argument("--time-step", type=int, default=10, help="720p timing on every n-th frame (0 = off)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--dilate", default="0,4,8,12")
    ap.add_argument("--min-coverage", type=float, default=0.10)
    ap.add_argument("--sequences", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    dilations = [int(d) for d in args.dilate.split(",")]
    seqs = sorted(p for sub in ("davis2016", "davis2017-lowres") for p in (args.data / sub).iterdir() if p.is_dir())
    if args.sequences:
        wanted = set(args.sequences.split(","))
        seqs = [s for s in seqs if s.name in wanted]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_sequence, s, variants, dilations, args.step, args.time_step, args.min_coverage) for s in seqs]
        per_seq = [r for f in futures for r in f.result()]
    print(f"{len(seqs)} sequences, every {args.step}. frame, {time.perf_counter() - t0:.0f} s wall")
    print("| variant | dilate px | leak % | frames >1% | frames >5% | worst frame % | collateral % | vs box % | fallback % | ms/track-frame 720p |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for v in variants:
        rs = [r for r in per_seq if r.variant == v]
        tf = sum(r.track_frames for r in rs)
        fb = sum(r.fallbacks for r in rs)
        n720 = sum(r.track_frames_720p for r in rs)
        ms = 1000 * sum(r.seconds_720p for r in rs) / n720 if n720 else float("nan")
        summary[v] = {"options": VARIANTS[v], "ms_720p": ms, "fallback": fb / tf, "dilate": {}}
        for d in dilations:
            tot = Counts()
            for r in rs:
                tot.add(r.counts[d])
            summary[v]["dilate"][d] = asdict(tot)
            print(
                f"| {v} | {d} | {100 * tot.leaked / tot.gt:.2f} | {tot.frames_over_1}/{tot.frames} | {tot.frames_over_5} "
                f"| {100 * tot.worst_frame_leak:.1f} | {100 * tot.collateral / tot.background:.2f} "
                f"| {100 * tot.collateral / tot.box_collateral:.1f} | {100 * fb / tf:.1f} | {ms:.1f} |"
            )
    if args.json:
        per = [{"variant": r.variant, "sequence": r.sequence, "fallbacks": r.fallbacks, "track_frames": r.track_frames,
                "counts": {d: asdict(c) for d, c in r.counts.items()}} for r in per_seq]
        args.json.write_text(json.dumps({"summary": summary, "per_sequence": per}, indent=1))


if __name__ == "__main__":
    main()
