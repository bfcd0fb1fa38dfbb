"""Redaction quality metrics: leak, collateral, and the DAVIS region (J) and boundary (F) measures.

Definitions (all on boolean (H, W) masks, pixel counts):

- **leak** of an object: GT object pixels *not* covered by the applied mask / GT object pixels.
  A frame's leak is its worst object's leak (privacy first: a small object fully visible is not
  hidden by a big one fully masked); a sequence's leak is summed over frames (pixel-weighted).
- **collateral**: background pixels (GT id 0) covered by the applied mask / background pixels, and
  ``collateral_vs_box``: that count divided by the collateral of masking the GT boxes (dilated the
  same way) on the same frames.
- **J** (region similarity): intersection over union of a track's mask and its GT object's mask;
  1 when both are empty.
- **F** (boundary measure): F = 2PR / (P + R) of the 1-pixel boundaries of both masks matched
  within a tolerance of ``ceil(bound_th * image diagonal)`` pixels (``bound_th=0.008``) by
  dilation with a disk; P = 1, R = 1 when both boundaries are empty.

J and F follow F. Perazzi et al., "A Benchmark Dataset and Evaluation Methodology for Video Object
Segmentation", CVPR 2016 and the davis2017-evaluation code (``db_eval_iou``, ``f_measure``,
``_seg2bmap``); sequence scores are per-object means over frames, then the mean over objects.
Unlike the semi-supervised benchmark, every frame is scored (the tracker gives a box on every
frame, no first-frame mask), and frames where the GT object is absent count (J = F = 1 when the
track's mask is empty too).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from sammask.errors import EvalError

BOUND_TH = 0.008
"""DAVIS boundary tolerance as a fraction of the image diagonal."""

LEAK_THRESHOLDS = (0.01, 0.05)
"""Per-frame leak thresholds (fractions) whose exceeding frames are listed."""


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.ndim != 2:
        raise EvalError(f"masks must be (H, W) of the same shape, got {a.shape} and {b.shape}")


def jaccard(gt: np.ndarray, pred: np.ndarray) -> float:
    """Region similarity J: |gt & pred| / |gt | pred| (DAVIS ``db_eval_iou``).

    Args:
        gt: (H, W) bool ground-truth mask.
        pred: (H, W) bool predicted mask.

    Returns:
        IoU in [0, 1]; 1.0 when both masks are empty.

    Raises:
        EvalError: if the shapes differ or are not 2-D.
    """
    _check_pair(gt, pred)
    gt = gt.astype(bool, copy=False)
    pred = pred.astype(bool, copy=False)
    union = int(np.count_nonzero(gt | pred))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(gt & pred)) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """1-pixel boundary of a mask, as ``_seg2bmap`` of the DAVIS code (same image size).

    A pixel is a boundary pixel when it differs from its east, south or south-east neighbour;
    in the last row only the east neighbour counts, in the last column only the south one, and
    the bottom-right pixel is never a boundary.

    Args:
        mask: (H, W) bool.

    Returns:
        (H, W) bool boundary map.
    """
    seg = mask.astype(bool, copy=False)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def disk(radius: int) -> np.ndarray:
    """Disk structuring element: (2r+1, 2r+1) uint8, 1 where ``x**2 + y**2 <= r**2``.

    Same as ``skimage.morphology.disk(radius)`` (used by the DAVIS code).
    """
    r = int(radius)
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return ((x * x + y * y) <= r * r).astype(np.uint8)


def boundary_tolerance(shape: tuple[int, int], bound_th: float = BOUND_TH) -> int:
    """Boundary match tolerance in pixels: ``bound_th`` if >= 1, else ``ceil(bound_th * diagonal)``.

    For 854x480 frames (DAVIS 480p) this is 8 pixels; for 432x240 it is 4.
    """
    if bound_th >= 1:
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(shape[0], shape[1])))


@dataclass(frozen=True, slots=True)
class BoundaryScore:
    """Boundary precision, recall and F-measure (all in [0, 1])."""

    precision: float
    recall: float
    f: float


def boundary_score(gt: np.ndarray, pred: np.ndarray, bound_th: float = BOUND_TH) -> BoundaryScore:
    """DAVIS boundary measure of ``pred`` against ``gt``.

    Boundaries (:func:`boundary_map`) are matched when within the tolerance
    (:func:`boundary_tolerance`) via dilation with :func:`disk`. P = matched pred boundary pixels
    / pred boundary pixels, R = matched GT boundary pixels / GT boundary pixels, F = 2PR/(P+R)
    (0 when P + R = 0). Empty boundaries: both empty -> P = R = 1; pred empty -> P = 1, R = 0;
    GT empty -> P = 0, R = 1.

    Args:
        gt: (H, W) bool ground truth.
        pred: (H, W) bool prediction.
        bound_th: tolerance, fraction of the image diagonal (< 1) or pixels (>= 1).

    Raises:
        EvalError: if the shapes differ or are not 2-D.
    """
    import cv2

    _check_pair(gt, pred)
    kernel = disk(boundary_tolerance(gt.shape, bound_th))
    gt_b = boundary_map(gt)
    fg_b = boundary_map(pred)
    n_gt = int(np.count_nonzero(gt_b))
    n_fg = int(np.count_nonzero(fg_b))
    if n_fg == 0 and n_gt == 0:
        return BoundaryScore(1.0, 1.0, 1.0)
    if n_fg == 0:
        return BoundaryScore(1.0, 0.0, 0.0)
    if n_gt == 0:
        return BoundaryScore(0.0, 1.0, 0.0)
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), kernel).astype(bool)
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel).astype(bool)
    precision = int(np.count_nonzero(fg_b & gt_dil)) / n_fg
    recall = int(np.count_nonzero(gt_b & fg_dil)) / n_gt
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return BoundaryScore(precision, recall, f)


def f_measure(gt: np.ndarray, pred: np.ndarray, bound_th: float = BOUND_TH) -> float:
    """DAVIS boundary F-measure (see :func:`boundary_score`)."""
    return boundary_score(gt, pred, bound_th).f


def boxes_mask(boxes: Iterable[tuple[float, float, float, float]], shape: tuple[int, int], dilate: int = 0) -> np.ndarray:
    """The box-masking baseline: union of xyxy boxes as an (H, W) bool mask, dilated by ``dilate`` px.

    Uses the masking room's own rules (:func:`sammask.geometry.box_mask`: every pixel a box
    touches; :func:`sammask.masking.rules.dilate_mask`: disk of radius ``dilate``),
    so it equals what the pipeline masks with the ``box`` segmenter.
    """
    from sammask.geometry import box_mask
    from sammask.masking.rules import dilate_mask

    h, w = shape
    out = np.zeros((h, w), bool)
    for bbox in boxes:
        out |= box_mask(bbox, (h, w))
    return dilate_mask(out, dilate) if dilate else out


@dataclass(frozen=True, slots=True)
class ObjectFrameResult:
    """One GT object on one frame.

    Attributes:
        obj_id: GT object id.
        track_id: matched track id, or None when no track matched the object.
        gt_pixels: GT object pixels.
        leaked_pixels: GT object pixels not covered by the applied mask.
        j: region similarity of the track's mask vs the GT object's mask.
        f: boundary F-measure of the same pair.
    """

    obj_id: int
    track_id: int | None
    gt_pixels: int
    leaked_pixels: int
    j: float
    f: float

    @property
    def leak(self) -> float:
        """Leaked fraction of the object's pixels (0 when the object is absent)."""
        return self.leaked_pixels / self.gt_pixels if self.gt_pixels else 0.0


@dataclass(frozen=True, slots=True)
class FrameResult:
    """Metrics of one frame.

    Attributes:
        frame_idx: 0-based frame index.
        gt_pixels: pixels of all GT objects.
        leaked_pixels: GT object pixels not covered by the applied mask.
        background_pixels: pixels with GT id 0.
        collateral_pixels: background pixels covered by the applied mask.
        box_collateral_pixels: background pixels covered by the dilated GT boxes.
        objects: one :class:`ObjectFrameResult` per evaluated GT object.
    """

    frame_idx: int
    gt_pixels: int
    leaked_pixels: int
    background_pixels: int
    collateral_pixels: int
    box_collateral_pixels: int
    objects: tuple[ObjectFrameResult, ...]

    @property
    def leak(self) -> float:
        """Worst object's leaked fraction on this frame (0 when no object is present)."""
        return max((o.leak for o in self.objects), default=0.0)


def evaluate_frame(
    frame_idx: int,
    gt_ids: np.ndarray,
    applied: np.ndarray,
    track_masks: Mapping[int, np.ndarray],
    matching: Mapping[int, int | None],
    box: np.ndarray,
    *,
    bound_th: float = BOUND_TH,
) -> FrameResult:
    """Score one frame.

    Args:
        frame_idx: 0-based frame index.
        gt_ids: (H, W) uint8 GT object ids, 0 = background.
        applied: (H, W) bool pixels the effect replaced (``selected`` mode).
        track_masks: ``track_id -> (H, W) bool`` final masks on this frame (absent = no mask).
        matching: ``obj_id -> track_id`` (None when unmatched) for every GT object to score;
            objects absent on this frame are still scored for J/F (DAVIS convention).
        box: (H, W) bool dilated union of the GT boxes on this frame (the box-masking baseline).
        bound_th: F tolerance (see :func:`boundary_score`).

    Raises:
        EvalError: on shape mismatches or an id in ``gt_ids`` that is not in ``matching``.
    """
    shape = gt_ids.shape
    for name, m in (("applied", applied), ("box", box), *((f"track {t}", m) for t, m in track_masks.items())):
        if m.shape != shape:
            raise EvalError(f"frame {frame_idx}: {name} mask has shape {m.shape}, GT has {shape}")
    present = set(np.unique(gt_ids).tolist()) - {0}
    unknown = present - set(matching)
    if unknown:
        raise EvalError(f"frame {frame_idx}: GT object ids {sorted(unknown)} are not among the objects {sorted(matching)}")
    applied = applied.astype(bool, copy=False)
    background = gt_ids == 0
    objects = []
    empty = np.zeros(shape, bool)
    for obj_id in sorted(matching):
        track_id = matching[obj_id]
        gt = gt_ids == obj_id if obj_id in present else empty
        pred = track_masks.get(track_id, empty) if track_id is not None else empty
        pred = pred.astype(bool, copy=False)
        n_gt = int(np.count_nonzero(gt))
        leaked = int(np.count_nonzero(gt & ~applied)) if n_gt else 0
        objects.append(ObjectFrameResult(obj_id, track_id, n_gt, leaked, jaccard(gt, pred), f_measure(gt, pred, bound_th)))
    fg = ~background
    return FrameResult(
        frame_idx=frame_idx,
        gt_pixels=int(np.count_nonzero(fg)),
        leaked_pixels=int(np.count_nonzero(fg & ~applied)),
        background_pixels=int(np.count_nonzero(background)),
        collateral_pixels=int(np.count_nonzero(background & applied)),
        box_collateral_pixels=int(np.count_nonzero(background & box)),
        objects=tuple(objects),
    )


@dataclass(frozen=True, slots=True)
class ObjectSummary:
    """Aggregate of one GT object over a sequence.

    Attributes:
        obj_id: GT object id.
        track_id: matched track id (None if unmatched).
        leak: leaked pixels / GT pixels over all frames.
        j: mean J over frames.
        f: mean F over frames.
        frames: frames scored.
    """

    obj_id: int
    track_id: int | None
    leak: float
    j: float
    f: float
    frames: int


@dataclass(frozen=True, slots=True)
class SequenceMetrics:
    """Aggregate metrics of one sequence (or of several, see :func:`combine`).

    Attributes:
        name: sequence name.
        frames: frames scored.
        gt_pixels: GT object pixels over all frames.
        leaked_pixels: leaked GT object pixels over all frames.
        background_pixels: background pixels over all frames.
        collateral_pixels: covered background pixels over all frames.
        box_collateral_pixels: background pixels covered by dilated GT boxes over all frames.
        frames_over: ``threshold -> frame indices`` whose frame leak (worst object) exceeds it.
        objects: per-object summaries.
        j: mean over objects of per-object mean J.
        f: mean over objects of per-object mean F.
    """

    name: str
    frames: int
    gt_pixels: int
    leaked_pixels: int
    background_pixels: int
    collateral_pixels: int
    box_collateral_pixels: int
    frames_over: dict[float, tuple[int, ...]]
    objects: tuple[ObjectSummary, ...]
    j: float
    f: float

    @property
    def leak(self) -> float:
        """Leaked fraction of all GT object pixels."""
        return self.leaked_pixels / self.gt_pixels if self.gt_pixels else 0.0

    @property
    def collateral(self) -> float:
        """Covered fraction of all background pixels."""
        return self.collateral_pixels / self.background_pixels if self.background_pixels else 0.0

    @property
    def collateral_vs_box(self) -> float:
        """Collateral relative to box masking's (1.0 = as much as boxes; nan if boxes have none)."""
        return self.collateral_pixels / self.box_collateral_pixels if self.box_collateral_pixels else math.nan

    @property
    def jf(self) -> float:
        """J&F: mean of J and F."""
        return (self.j + self.f) / 2


def summarize(name: str, frames: Iterable[FrameResult], thresholds: tuple[float, ...] = LEAK_THRESHOLDS) -> SequenceMetrics:
    """Aggregate per-frame results of one sequence.

    Raises:
        EvalError: if there are no frames.
    """
    frames = list(frames)
    if not frames:
        raise EvalError(f"{name}: no frames to evaluate")
    per_obj: dict[int, list[ObjectFrameResult]] = {}
    for fr in frames:
        for o in fr.objects:
            per_obj.setdefault(o.obj_id, []).append(o)
    objects = []
    for obj_id, rows in sorted(per_obj.items()):
        gt = sum(r.gt_pixels for r in rows)
        objects.append(
            ObjectSummary(
                obj_id=obj_id,
                track_id=rows[0].track_id,
                leak=sum(r.leaked_pixels for r in rows) / gt if gt else 0.0,
                j=float(np.mean([r.j for r in rows])),
                f=float(np.mean([r.f for r in rows])),
                frames=len(rows),
            )
        )
    return SequenceMetrics(
        name=name,
        frames=len(frames),
        gt_pixels=sum(f.gt_pixels for f in frames),
        leaked_pixels=sum(f.leaked_pixels for f in frames),
        background_pixels=sum(f.background_pixels for f in frames),
        collateral_pixels=sum(f.collateral_pixels for f in frames),
        box_collateral_pixels=sum(f.box_collateral_pixels for f in frames),
        frames_over={t: tuple(f.frame_idx for f in frames if f.leak > t) for t in thresholds},
        objects=tuple(objects),
        j=float(np.mean([o.j for o in objects])) if objects else 1.0,
        f=float(np.mean([o.f for o in objects])) if objects else 1.0,
    )


@dataclass(frozen=True, slots=True)
class OverallMetrics:
    """Aggregate over several sequences.

    Attributes:
        sequences: the per-sequence metrics.
        leak: leaked / GT pixels summed over all sequences (pixel-weighted).
        collateral: covered / background pixels summed over all sequences.
        collateral_vs_box: covered background / box-covered background, summed.
        frames: frames scored.
        frames_over: ``threshold -> number of frames`` over it (all sequences).
        j: mean J over all objects of all sequences (DAVIS: mean over objects).
        f: mean F over all objects.
        worst_leak: the largest per-sequence leak.
    """

    sequences: tuple[SequenceMetrics, ...]
    leak: float
    collateral: float
    collateral_vs_box: float
    frames: int
    frames_over: dict[float, int] = field(default_factory=dict)
    j: float = 1.0
    f: float = 1.0
    worst_leak: float = 0.0

    @property
    def jf(self) -> float:
        """J&F: mean of J and F."""
        return (self.j + self.f) / 2


def combine(sequences: Iterable[SequenceMetrics]) -> OverallMetrics:
    """Pool per-sequence metrics (pixel counts summed; J/F averaged over all objects).

    Raises:
        EvalError: if there are no sequences.
    """
    seqs = tuple(sequences)
    if not seqs:
        raise EvalError("no sequences to combine")
    gt = sum(s.gt_pixels for s in seqs)
    bg = sum(s.background_pixels for s in seqs)
    box = sum(s.box_collateral_pixels for s in seqs)
    col = sum(s.collateral_pixels for s in seqs)
    objs = [o for s in seqs for o in s.objects]
    thresholds = sorted({t for s in seqs for t in s.frames_over})
    return OverallMetrics(
        sequences=seqs,
        leak=sum(s.leaked_pixels for s in seqs) / gt if gt else 0.0,
        collateral=col / bg if bg else 0.0,
        collateral_vs_box=col / box if box else math.nan,
        frames=sum(s.frames for s in seqs),
        frames_over={t: sum(len(s.frames_over.get(t, ())) for s in seqs) for t in thresholds},
        j=float(np.mean([o.j for o in objs])) if objs else 1.0,
        f=float(np.mean([o.f for o in objs])) if objs else 1.0,
        worst_leak=max(s.leak for s in seqs),
    )
