"""Oracle-keyframe study: how much does carrying masks between keyframes leak, at best?

A perfect segmenter is simulated by the ground-truth masks on keyframes. On the frames in between,
each object's keyframe mask is carried with the pipeline's own motion rule,
:func:`sammask.segmentation.keyframe.carry_mask`, from its keyframe box to its current box (the
gt.txt boxes, a perfect tracker). Keyframes follow :class:`~sammask.segmentation.keyframe.KeyframeSegmenter`:
``frame_idx % k == 0``, or a frame where a track appears that was not on the previous frame. A
carried mask that comes out empty is replaced by the box (the pipeline's fail-secure rule). The
masks are then dilated by ``d`` pixels (:func:`sammask.masking.rules.dilate_mask`) and scored
like a real run (:mod:`sammask.eval.metrics`). Any leak measured here is caused by the
carrying alone: it is a lower bound for a real segmenter run with stride ``k``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sammask.eval.groundtruth import GroundTruthSequence
from sammask.eval.metrics import FrameResult, OverallMetrics, SequenceMetrics, boxes_mask, combine, evaluate_frame, summarize

logger = logging.getLogger(__name__)

STRIDES = (1, 2, 4, 8, 16)
DILATIONS = (0, 4, 8, 16)


def oracle_sequence(
    seq: GroundTruthSequence,
    stride: int,
    dilations: Sequence[int] = DILATIONS,
    *,
    frames_limit: int | None = None,
) -> dict[int, SequenceMetrics]:
    """Score oracle keyframes with stride ``stride`` on one sequence, for each dilation.

    Args:
        seq: the ground-truth sequence (gt.txt ids are the track ids; GT mask ids the objects).
        stride: keyframe stride k >= 1 (frames).
        dilations: dilation radii in pixels.
        frames_limit: only the first N frames.

    Returns:
        ``dilation -> SequenceMetrics``.

    Raises:
        EvalError: on inconsistent ground truth (see :class:`GroundTruthSequence`).
    """
    from sammask.geometry import box_mask
    from sammask.masking.rules import dilate_mask
    from sammask.segmentation.keyframe import carry_mask

    results: dict[int, list[FrameResult]] = {d: [] for d in dilations}
    matching = {o: o for o in seq.object_ids}
    key: dict[int, tuple[np.ndarray, tuple[float, float, float, float]]] = {}
    prev_tracks: set[int] = set()
    for gt in seq.frames(frames_limit):
        shape = gt.ids.shape
        tracks = set(gt.boxes)
        is_key = gt.frame_idx % stride == 0 or not tracks <= prev_tracks
        prev_tracks = tracks
        masks: dict[int, np.ndarray] = {}
        if is_key:
            key = {t: (gt.ids == t, b) for t, b in gt.boxes.items()}
            masks = {t: m for t, (m, _) in key.items()}
        else:
            for t, bbox in gt.boxes.items():
                kmask, kbox = key[t]
                m = carry_mask(kmask, kbox, bbox, shape) if kmask.any() else kmask
                masks[t] = m if m.any() else box_mask(bbox, shape)
        for d in dilations:
            dil = {t: dilate_mask(m, d) for t, m in masks.items()}
            applied = np.zeros(shape, bool)
            for m in dil.values():
                applied |= m
            box = boxes_mask(gt.boxes.values(), shape, d)
            results[d].append(evaluate_frame(gt.frame_idx, gt.ids, applied, dil, matching, box))
    return {d: summarize(seq.name, rows) for d, rows in results.items()}


@dataclass(frozen=True, slots=True)
class OracleRow:
    """One (stride, dilation) cell of the study, pooled over the sequences."""

    stride: int
    dilate: int
    overall: OverallMetrics


def run_oracle(
    sequences: Sequence[Path],
    strides: Sequence[int] = STRIDES,
    dilations: Sequence[int] = DILATIONS,
    *,
    frames_limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[OracleRow]:
    """Run the oracle-keyframe study on sequence folders.

    Returns:
        One :class:`OracleRow` per (stride, dilation), strides outer.

    Raises:
        InputFileError / EvalError: on bad sequence folders.
    """
    seqs = [GroundTruthSequence(Path(s)) for s in sequences]
    cells: dict[tuple[int, int], list[SequenceMetrics]] = {}
    for k in strides:
        for seq in seqs:
            for d, m in oracle_sequence(seq, k, dilations, frames_limit=frames_limit).items():
                cells.setdefault((k, d), []).append(m)
            if progress is not None:
                progress(f"oracle k={k} {seq.name} done")
    return [OracleRow(k, d, combine(cells[(k, d)])) for k in strides for d in dilations]


def oracle_markdown(rows: Sequence[OracleRow]) -> str:
    """Markdown table of the study (one row per stride and dilation)."""
    lines = [
        "| stride k | dilate px | leak % | worst seq leak % | frames >1% | frames >5% | collateral % | collateral vs box | J | F |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        o = r.overall
        lines.append(
            f"| {r.stride} | {r.dilate} | {100 * o.leak:.3f} | {100 * o.worst_leak:.2f} | {o.frames_over.get(0.01, 0)} "
            f"| {o.frames_over.get(0.05, 0)} | {100 * o.collateral:.2f} | {o.collateral_vs_box:.3f} | {o.j:.3f} | {o.f:.3f} |"
        )
    return "\n".join(lines) + "\n"
