"""Scoring the decoded output video, not only the exported masks (``sammask eval --score output``).

Two end-to-end measures, both on frames decoded from the written output (RGB, the same reader
the pipeline uses):

- **Output leak** (``--effect solid`` only): a GT object pixel is *covered* when the decoded
  output pixel is the fill colour within :data:`CODEC_TOLERANCE`, *leaked* when it is not, and
  *undecidable* when it is the fill colour but the decoded input pixel is already within
  ``2 * CODEC_TOLERANCE`` of it (an unmasked pixel, moved by at most the codec tolerance, could
  then also look like the fill). Undecidable pixels are never counted as covered. The fill is
  picked per sequence among :data:`FILL_COLORS` as the one with the fewest such input pixels
  (:func:`pick_fill_color`). This measure does not read the exported masks at all.
- **Effect check** (blur, mosaic and solid): the effect is re-applied to the decoded input with
  the exported per-track masks (:func:`replay_effect`, the pipeline's own
  :func:`~sammask.masking.compose.compose`), and the decoded output must equal that replay
  within :data:`CODEC_TOLERANCE` (:data:`MOSAIC_TOLERANCE` inside a mosaic) on every pixel inside
  the applied mask and every pixel outside it, except the :data:`EDGE_BAND_PX` band along the applied mask's boundary, where the codec
  mixes both sides (4:2:0 chroma is shared by 2x2 pixels, and the DCT rings across a sharp
  edge). Edge pixels are counted, not checked.

Distances are per pixel, the largest absolute difference over the R, G and B channels (0..255).
The constants were measured on DAVIS with the default encoder (x264 CRF 18, preset medium,
yuv420p; docs/quality/README.md, "Leak from the decoded output").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from sammask.errors import EvalError
from sammask.eval.metrics import LEAK_THRESHOLDS
from sammask.masking.options import Effect, MaskingOptions
from sammask.tracks.types import BBox

CODEC_TOLERANCE = 64
"""Largest per-pixel difference (max over RGB, 0..255) the default encode adds, away from mask
edges. Measured on all 17 DAVIS sequences, 1206 frames (docs/quality/README.md): at most 58 on
unmasked pixels, 31 inside a solid fill, 28 inside a blur."""

MOSAIC_TOLERANCE = 96
"""The same inside a mosaic, whose cell edges are sharp edges the DCT rings across: at most 91
measured on the same frames (flat cell interiors stay far below)."""

EDGE_BAND_PX = 3
"""Pixels within this distance (Chebyshev, pixels) of the applied mask's boundary, on either side,
are edge pixels: the codec mixes fill and content there (bus, 12 frames, magenta fill: up to 201
at 1 px from the boundary, 116 at 2 px, 55 at 3 px, 43 from 4 px on)."""

FILL_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 255),
    (0, 255, 0),
    (0, 0, 255),
    (255, 0, 0),
    (0, 255, 255),
    (255, 255, 0),
    (0, 0, 0),
    (255, 255, 255),
)
"""Candidate fill colours (RGB): the saturated primaries and secondaries, then black and white."""


def color_distance(image: np.ndarray, other: np.ndarray | tuple[int, int, int]) -> np.ndarray:
    """Per-pixel distance: the largest absolute difference over the three channels.

    Args:
        image: (H, W, 3) uint8 RGB.
        other: (H, W, 3) uint8 RGB, or one ``(r, g, b)`` colour.

    Returns:
        (H, W) int16, 0..255.

    Raises:
        EvalError: if the arrays are not (H, W, 3) of the same shape.
    """
    b = np.asarray(other, dtype=np.int16)
    if image.ndim != 3 or image.shape[2] != 3 or (b.ndim == 3 and b.shape != image.shape):
        raise EvalError(f"images must be (H, W, 3) of the same shape, got {image.shape} and {b.shape}")
    return np.abs(image.astype(np.int16) - b).max(axis=-1)


def pick_fill_color(
    frames: Iterable[tuple[np.ndarray, np.ndarray]], candidates: tuple[tuple[int, int, int], ...] = FILL_COLORS
) -> tuple[int, int, int]:
    """The candidate fill that the fewest GT object pixels of the input already resemble.

    A GT pixel resembles a fill when its decoded input colour is within ``2 * CODEC_TOLERANCE``
    of it (it would be undecidable, see the module docstring). Ties go to the earlier candidate.

    Args:
        frames: ``(image, gt_ids)`` pairs: (H, W, 3) uint8 decoded input, (H, W) uint8 GT ids.
        candidates: RGB colours to choose from.

    Raises:
        EvalError: on mismatched shapes or no candidates.
    """
    if not candidates:
        raise EvalError("no candidate fill colour")
    counts = [0] * len(candidates)
    for image, ids in frames:
        if ids.shape != image.shape[:2]:
            raise EvalError(f"GT ids are {ids.shape}, the frame is {image.shape[:2]}")
        pixels = image[ids > 0][None].astype(np.uint8)  # (1, n, 3)
        for k, color in enumerate(candidates):
            counts[k] += int(np.count_nonzero(color_distance(pixels, color) <= 2 * CODEC_TOLERANCE))
    return candidates[counts.index(min(counts))]


@dataclass(frozen=True, slots=True)
class OutputLeakFrame:
    """Output leak of one frame (solid fill; see the module docstring).

    Attributes:
        frame_idx: 0-based frame index.
        gt_pixels: GT object pixels.
        covered_pixels: GT pixels whose output is the fill and whose input is not fill-like.
        leaked_pixels: GT pixels whose output is not the fill (within the tolerance).
        undecidable_pixels: GT pixels whose output is the fill but whose input already was.
        edge_leaked_pixels: those leaked pixels within :data:`EDGE_BAND_PX` of the applied
            mask's boundary (codec bleed; only for explaining a gap to the mask-based leak).
        worst: the largest leaked share of one GT object on this frame (0 when none present).
    """

    frame_idx: int
    gt_pixels: int
    covered_pixels: int
    leaked_pixels: int
    undecidable_pixels: int
    edge_leaked_pixels: int
    worst: float


def edge_band(applied: np.ndarray, px: int = EDGE_BAND_PX) -> np.ndarray:
    """Pixels within ``px`` (Chebyshev) of the boundary of ``applied``, on either side.

    Args:
        applied: (H, W) bool.

    Returns:
        (H, W) bool; all False for an empty or a full mask.
    """
    import cv2

    m = applied.astype(np.uint8)
    kernel = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    grown = cv2.dilate(m, kernel, borderType=cv2.BORDER_REPLICATE)
    shrunk = cv2.erode(m, kernel, borderType=cv2.BORDER_REPLICATE)
    return grown > shrunk


def classify_output(
    decoded_input: np.ndarray,
    decoded_output: np.ndarray,
    fill: tuple[int, int, int],
    tolerance: int = CODEC_TOLERANCE,
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: is the output the fill, and did the input already look like it?

    Args:
        decoded_input: (H, W, 3) uint8 RGB input frame as decoded.
        decoded_output: (H, W, 3) uint8 RGB output frame as decoded.
        fill: the run's ``(r, g, b)`` fill colour.
        tolerance: per-pixel tolerance (see :data:`CODEC_TOLERANCE`).

    Returns:
        ``(filled, ambiguous)``, (H, W) bool each: output within ``tolerance`` of the fill;
        input within ``2 * tolerance`` of it. A GT pixel is covered when ``filled & ~ambiguous``,
        undecidable when ``filled & ambiguous``, leaked when ``~filled``.

    Raises:
        EvalError: if the frames are not (H, W, 3) of the same shape.
    """
    if decoded_input.shape != decoded_output.shape:
        raise EvalError(f"input frame is {decoded_input.shape}, output frame {decoded_output.shape}")
    return color_distance(decoded_output, fill) <= tolerance, color_distance(decoded_input, fill) <= 2 * tolerance


def output_leak_frame(
    frame_idx: int,
    gt_ids: np.ndarray,
    decoded_input: np.ndarray,
    decoded_output: np.ndarray,
    fill: tuple[int, int, int],
    applied: np.ndarray | None = None,
    tolerance: int = CODEC_TOLERANCE,
) -> OutputLeakFrame:
    """Score the leak of one frame from the decoded output of a solid-fill run.

    Args:
        frame_idx: 0-based frame index.
        gt_ids: (H, W) uint8 GT object ids, 0 = background.
        decoded_input: (H, W, 3) uint8 RGB input frame as decoded.
        decoded_output: (H, W, 3) uint8 RGB output frame as decoded.
        fill: the run's ``(r, g, b)`` fill colour.
        applied: optional (H, W) bool applied mask, used only to count ``edge_leaked_pixels``.
        tolerance: per-pixel tolerance (see :data:`CODEC_TOLERANCE`).

    Raises:
        EvalError: on shape mismatches.
    """
    if gt_ids.shape != decoded_output.shape[:2] or (applied is not None and applied.shape != gt_ids.shape):
        raise EvalError(f"frame {frame_idx}: GT is {gt_ids.shape}, output {decoded_output.shape[:2]}")
    is_fill, ambiguous = classify_output(decoded_input, decoded_output, fill, tolerance)
    fg = gt_ids > 0
    leaked = fg & ~is_fill
    undecidable = fg & is_fill & ambiguous
    worst = 0.0
    for obj in np.unique(gt_ids[fg]).tolist():
        obj_px = gt_ids == obj
        worst = max(worst, np.count_nonzero(leaked & obj_px) / np.count_nonzero(obj_px))
    edge = int(np.count_nonzero(leaked & edge_band(applied))) if applied is not None else 0
    n_fg, n_leak, n_und = (int(np.count_nonzero(a)) for a in (fg, leaked, undecidable))
    return OutputLeakFrame(frame_idx, n_fg, n_fg - n_leak - n_und, n_leak, n_und, edge, worst)


_COUNTS = ("gt_pixels", "covered_pixels", "leaked_pixels", "undecidable_pixels", "edge_leaked_pixels")


def _sum_counts(rows: Iterable[OutputLeakFrame | OutputLeak]) -> dict[str, int]:
    """The pixel-count fields shared by :class:`OutputLeakFrame` and :class:`OutputLeak`, summed."""
    rows = list(rows)
    return {k: sum(getattr(r, k) for r in rows) for k in _COUNTS}


@dataclass(frozen=True, slots=True)
class OutputLeak:
    """Output leak of a sequence (or several pooled): pixel counts summed over frames.

    Attributes:
        fill: the fill colour scored against (the first sequence's when pooled).
        frames: frames scored.
        gt_pixels, covered_pixels, leaked_pixels, undecidable_pixels, edge_leaked_pixels: sums
            of the :class:`OutputLeakFrame` fields.
        frames_over: ``threshold -> frame indices`` whose worst object leaks more than it.
    """

    fill: tuple[int, int, int]
    frames: int
    gt_pixels: int
    covered_pixels: int
    leaked_pixels: int
    undecidable_pixels: int
    edge_leaked_pixels: int
    frames_over: dict[float, tuple[int, ...]]

    def share(self, pixels: int) -> float:
        """``pixels`` as a fraction of the GT object pixels (0 when there are none)."""
        return pixels / self.gt_pixels if self.gt_pixels else 0.0

    @property
    def leak(self) -> float:
        """Leaked share of the GT object pixels (undecidable pixels are not in it)."""
        return self.share(self.leaked_pixels)

    @property
    def undecidable(self) -> float:
        """Undecidable share of the GT object pixels (an upper bound is ``leak + undecidable``)."""
        return self.share(self.undecidable_pixels)

    @classmethod
    def from_frames(
        cls, fill: tuple[int, int, int], frames: Iterable[OutputLeakFrame], thresholds: tuple[float, ...] = LEAK_THRESHOLDS
    ) -> OutputLeak:
        """Sum per-frame results.

        Raises:
            EvalError: if there are no frames.
        """
        rows = list(frames)
        if not rows:
            raise EvalError("no frames to score")
        over = {t: tuple(r.frame_idx for r in rows if r.worst > t) for t in thresholds}
        return cls(fill=fill, frames=len(rows), frames_over=over, **_sum_counts(rows))


def replay_effect(
    decoded_input: np.ndarray,
    track_masks: Mapping[int, np.ndarray],
    boxes: Mapping[int, BBox],
    options: MaskingOptions,
) -> np.ndarray:
    """Re-apply a run's effect to the decoded input with its exported masks.

    Calls :func:`~sammask.masking.compose.compose` with the run's options but no dilation: the
    exported per-track masks are the final, already dilated ones (docs/masks-format.md), and
    each track's effect scale comes from its detection box, as in the run.

    Args:
        decoded_input: (H, W, 3) uint8 RGB input frame as decoded.
        track_masks: ``track_id -> (H, W) bool`` exported final masks of this frame.
        boxes: ``track_id -> (x1, y1, x2, y2)`` float pixel detection boxes of this frame.
        options: the run's :class:`~sammask.masking.options.MaskingOptions`.

    Returns:
        (H, W, 3) uint8 RGB: the frame the run composed, before encoding.

    Raises:
        EvalError: if a masked track has no box on the frame.
        MediaError, SegmentationError: from :func:`compose` on malformed inputs.
    """
    from sammask.masking.compose import ObjectRegion, compose

    missing = sorted(set(track_masks) - set(boxes))
    if missing:
        raise EvalError(f"tracks {missing} have exported masks but no detection box on this frame")
    regions = [ObjectRegion(t, m.astype(bool, copy=False), boxes[t]) for t, m in sorted(track_masks.items())]
    return compose(decoded_input, regions, replace(options, dilate=0)).image


@dataclass(frozen=True, slots=True)
class EffectCheck:
    """How closely the decoded output matches the replayed effect (one frame, or summed).

    Attributes:
        inside_pixels: applied pixels away from the edge band (checked).
        inside_mismatched: of those, pixels off the replay by more than the tolerance.
        outside_pixels: non-applied pixels away from the edge band (checked).
        outside_mismatched: of those, pixels off the replay (= the input) by more than the tolerance.
        edge_pixels: pixels in the edge band (not checked).
        inside_sq_error: sum over checked inside pixels and channels of the squared difference.
        outside_sq_error: the same outside.
        max_inside: largest checked inside difference (0..255).
        max_outside: largest checked outside difference (0..255).
        failed_frames: frame indices with a mismatched pixel.
    """

    inside_pixels: int = 0
    inside_mismatched: int = 0
    outside_pixels: int = 0
    outside_mismatched: int = 0
    edge_pixels: int = 0
    inside_sq_error: float = 0.0
    outside_sq_error: float = 0.0
    max_inside: int = 0
    max_outside: int = 0
    failed_frames: tuple[int, ...] = ()

    @property
    def passed(self) -> bool:
        """True when no checked pixel is off the replay by more than the tolerance."""
        return self.inside_mismatched == 0 and self.outside_mismatched == 0

    @staticmethod
    def _psnr(sq: float, n: int) -> float:
        if n == 0:
            return math.nan
        mse = sq / (3 * n)
        return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)

    @property
    def psnr_inside(self) -> float:
        """PSNR (dB) of the output against the replay over the checked inside pixels."""
        return self._psnr(self.inside_sq_error, self.inside_pixels)

    @property
    def psnr_outside(self) -> float:
        """PSNR (dB) of the output against the replay over the checked outside pixels."""
        return self._psnr(self.outside_sq_error, self.outside_pixels)

    def __add__(self, other: EffectCheck) -> EffectCheck:
        return EffectCheck(
            self.inside_pixels + other.inside_pixels,
            self.inside_mismatched + other.inside_mismatched,
            self.outside_pixels + other.outside_pixels,
            self.outside_mismatched + other.outside_mismatched,
            self.edge_pixels + other.edge_pixels,
            self.inside_sq_error + other.inside_sq_error,
            self.outside_sq_error + other.outside_sq_error,
            max(self.max_inside, other.max_inside),
            max(self.max_outside, other.max_outside),
            self.failed_frames + other.failed_frames,
        )


def inside_tolerance(effect: Effect | str) -> int:
    """Per-pixel tolerance inside the applied mask for an effect (:data:`MOSAIC_TOLERANCE` for
    mosaic, :data:`CODEC_TOLERANCE` otherwise)."""
    return MOSAIC_TOLERANCE if Effect(effect) is Effect.MOSAIC else CODEC_TOLERANCE


def effect_mismatch(
    decoded_output: np.ndarray, replayed: np.ndarray, applied: np.ndarray, effect: Effect | str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: where the decoded output is off the replayed effect.

    Args:
        decoded_output: (H, W, 3) uint8 RGB output frame as decoded.
        replayed: (H, W, 3) uint8 RGB from :func:`replay_effect`.
        applied: (H, W) bool exported applied mask of the frame.
        effect: the run's effect (sets the tolerance inside the mask, :func:`inside_tolerance`;
            outside it is :data:`CODEC_TOLERANCE`).

    Returns:
        ``(mismatched, dist, edge)``: (H, W) bool checked pixels (outside the edge band) off by
        more than their tolerance; (H, W) int16 distance; (H, W) bool edge band.

    Raises:
        EvalError: on shape mismatches.
    """
    if applied.shape != decoded_output.shape[:2]:
        raise EvalError(f"applied mask is {applied.shape}, output frame {decoded_output.shape[:2]}")
    dist = color_distance(decoded_output, replayed)
    edge = edge_band(applied)
    bad = np.where(applied, dist > inside_tolerance(effect), dist > CODEC_TOLERANCE)
    return bad & ~edge, dist, edge


def check_effect_frame(
    frame_idx: int,
    decoded_output: np.ndarray,
    replayed: np.ndarray,
    applied: np.ndarray,
    effect: Effect | str,
) -> EffectCheck:
    """Compare one decoded output frame with the replayed effect, inside vs outside the mask.

    Args:
        frame_idx: 0-based frame index.
        decoded_output: (H, W, 3) uint8 RGB output frame as decoded.
        replayed: (H, W, 3) uint8 RGB from :func:`replay_effect`.
        applied: (H, W) bool exported applied mask of the frame.
        effect: the run's effect (see :func:`effect_mismatch`).

    Raises:
        EvalError: on shape mismatches.
    """
    try:
        bad, dist, edge = effect_mismatch(decoded_output, replayed, applied, effect)
    except EvalError as exc:
        raise EvalError(f"frame {frame_idx}: {exc}") from None
    diff3 = decoded_output.astype(np.int32) - replayed.astype(np.int32)
    sq = (diff3 * diff3).sum(axis=-1)
    inside, outside = applied & ~edge, ~applied & ~edge
    bad_in = int(np.count_nonzero(bad & applied))
    bad_out = int(np.count_nonzero(bad & ~applied))
    return EffectCheck(
        inside_pixels=int(np.count_nonzero(inside)),
        inside_mismatched=bad_in,
        outside_pixels=int(np.count_nonzero(outside)),
        outside_mismatched=bad_out,
        edge_pixels=int(np.count_nonzero(edge)),
        inside_sq_error=float(sq[inside].sum()),
        outside_sq_error=float(sq[outside].sum()),
        max_inside=int(dist[inside].max(initial=0)),
        max_outside=int(dist[outside].max(initial=0)),
        failed_frames=(frame_idx,) if bad_in or bad_out else (),
    )


@dataclass(frozen=True, slots=True)
class OutputScore:
    """What :func:`sammask.eval.runner.evaluate_sequence` measured on the decoded output.

    Attributes:
        effect: the run's effect (``blur``, ``mosaic``, ``solid``).
        check: the effect check summed over frames.
        leak: the output leak (None unless the effect is ``solid``).
    """

    effect: str
    check: EffectCheck
    leak: OutputLeak | None = None


class Score(str, Enum):
    """What ``sammask eval`` scores: the exported masks only, or also the decoded output."""

    MASK = "mask"
    OUTPUT = "output"


def combine_scores(scores: Iterable[OutputScore]) -> OutputScore | None:
    """Pool the output scores of several sequences (counts summed), None when there are none.

    The effect is the first score's (one configuration has one effect); the pooled leak is None
    when any sequence has none.
    """
    rows = list(scores)
    if not rows:
        return None
    check = sum((r.check for r in rows), EffectCheck())
    leaks = [r.leak for r in rows]
    leak = None
    if all(x is not None for x in leaks):
        ls = [x for x in leaks if x is not None]
        over = {t: tuple(i for x in ls for i in x.frames_over.get(t, ())) for t in ls[0].frames_over}
        leak = OutputLeak(fill=ls[0].fill, frames=sum(x.frames for x in ls), frames_over=over, **_sum_counts(ls))
    return OutputScore(rows[0].effect, check, leak)
