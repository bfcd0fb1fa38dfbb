"""Keyframe stride: segment every k-th frame, carry the masks to the frames in between.

:func:`carry_mask` is the motion rule (box-to-box affine map); :class:`KeyframeSegmenter` wraps
any inner :class:`~sammask.segmentation.base.Segmenter` and sends it only keyframes. The same
:func:`carry_mask` is used by the evaluation's oracle-keyframe study, so it is kept pure.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from sammask.errors import ConfigError, SegmentationError
from sammask.segmentation.base import FrameMasks, FramePrompts, Segmenter
from sammask.geometry import box_mask
from sammask.tracks.types import BBox

logger = logging.getLogger(__name__)


def carry_affine(prev_bbox: BBox, cur_bbox: BBox) -> np.ndarray:
    """The 2x3 affine matrix (translation + per-axis scale) taking ``prev_bbox`` onto ``cur_bbox``.

    Boxes are in continuous pixel coordinates (pixel column ``c`` covers ``[c, c + 1)``, its
    centre is ``c + 0.5``); the matrix acts on pixel indices (centres), as ``cv2.warpAffine``
    expects: ``c' = sx * c + tx`` with ``sx = w_cur / w_prev`` and
    ``tx = x1_cur - sx * x1_prev + (sx - 1) / 2`` (same for rows). A pure translation by an
    integer number of pixels is thus an exact integer shift.

    Args:
        prev_bbox: ``(x1, y1, x2, y2)`` float pixels of the keyframe box (positive width/height).
        cur_bbox: ``(x1, y1, x2, y2)`` float pixels of the current box.

    Returns:
        (2, 3) float64 forward affine matrix.

    Raises:
        ValueError: if ``prev_bbox`` has zero or negative width or height.
    """
    px1, py1, px2, py2 = (float(v) for v in prev_bbox)
    cx1, cy1, cx2, cy2 = (float(v) for v in cur_bbox)
    pw, ph = px2 - px1, py2 - py1
    if pw <= 0 or ph <= 0:
        raise ValueError(f"prev_bbox must have positive width and height, got {prev_bbox}")
    sx = (cx2 - cx1) / pw
    sy = (cy2 - cy1) / ph
    tx = cx1 - sx * px1 + 0.5 * (sx - 1.0)
    ty = cy1 - sy * py1 + 0.5 * (sy - 1.0)
    return np.array([[sx, 0.0, tx], [0.0, sy, ty]], dtype=np.float64)


def carry_mask(prev_mask: np.ndarray, prev_bbox: BBox, cur_bbox: BBox, shape: tuple[int, int]) -> np.ndarray:
    """Carry a track's mask from its keyframe to a later frame by the motion of its box.

    The affine map of :func:`carry_affine` (translation + per-axis scale taking ``prev_bbox``
    onto ``cur_bbox``) is applied to ``prev_mask`` with ``cv2.warpAffine`` (nearest neighbour,
    zeros outside), and the result is clipped to the pixels touched by ``cur_bbox`` (see
    :func:`sammask.segmentation.box.box_mask`). Pure: the inputs are not modified.

    Args:
        prev_mask: (H0, W0) bool mask of the track on its keyframe.
        prev_bbox: ``(x1, y1, x2, y2)`` float pixels, the track's box on the keyframe.
        cur_bbox: ``(x1, y1, x2, y2)`` float pixels, the track's box on the current frame.
        shape: ``(H, W)`` of the current frame in pixels.

    Returns:
        (H, W) bool mask (may be all False, e.g. when ``prev_mask`` is empty).

    Raises:
        ValueError: if ``prev_bbox`` has zero or negative width or height, or ``prev_mask`` is
            not 2-D.
    """
    import cv2

    if prev_mask.ndim != 2:
        raise ValueError(f"prev_mask must be (H, W), got shape {prev_mask.shape}")
    h, w = int(shape[0]), int(shape[1])
    matrix = carry_affine(prev_bbox, cur_bbox)
    src = np.ascontiguousarray(prev_mask, dtype=np.uint8)
    warped = cv2.warpAffine(
        src,
        matrix,
        (w, h),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return (warped > 0) & box_mask(cur_bbox, (h, w))


@dataclass(frozen=True, slots=True)
class _KeyState:
    """A track's last keyframe: its mask (None when the inner had none) and box."""

    mask: np.ndarray | None
    bbox: BBox


@dataclass(frozen=True, slots=True)
class _Pending:
    """A frame pulled from the input and not yet answered."""

    frame: FramePrompts
    is_key: bool


class KeyframeSegmenter(Segmenter):
    """Run an inner segmenter on keyframes only; carry its masks to the frames in between.

    A frame is a keyframe when ``frame_idx % stride == 0``, or when one of its tracks has no
    mask to carry yet: it was not on the previous input frame (first appearance, or
    re-appearance after a gap). Keyframes, with all of the frame's prompts, are sent to the inner
    segmenter lazily and in order; the inner may read ahead (the non-key frames pulled meanwhile
    are buffered: at most ``stride`` frames per keyframe the inner holds). On every other frame a
    track's mask is :func:`carry_mask` of its last keyframe mask. When the inner gave no mask
    (``None``, missing or all False) for a track on its keyframe, the track gets ``None`` on the
    following frames until its next keyframe, so the pipeline masks its box (fail-secure). A
    carried mask that comes out empty is also reported as ``None``.

    ``stride=1`` is a pass-through: every frame is a keyframe and the inner's
    :class:`FrameMasks` are yielded unchanged.

    Args:
        inner: the segmenter run on keyframes (closed by :meth:`close`).
        stride: keyframe stride ``k >= 1`` in frames.

    Raises:
        ConfigError: if ``stride < 1``.
    """

    name = "keyframe"

    def __init__(self, inner: Segmenter, stride: int = 1) -> None:
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ConfigError(f"keyframe stride must be an integer >= 1, got {stride!r}")
        self.inner = inner
        self.stride = stride

    def close(self) -> None:
        """Close the inner segmenter."""
        self.inner.close()

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Segment a stream, running the inner segmenter on keyframes only.

        Args:
            frames: :class:`FramePrompts` in increasing ``frame_idx`` order, (H, W, 3) uint8 RGB.

        Yields:
            Exactly one :class:`FrameMasks` per input frame, in order: the inner's on keyframes,
            carried (H, W) bool masks (or ``None``) on the others.

        Raises:
            SegmentationError: if the inner segmenter yields more or fewer results than the
                keyframes it was given, or answers them out of order. Errors of the inner
                segmenter propagate unchanged.
        """
        pending: deque[_Pending] = deque()
        stats = {"key": 0, "carried": 0}
        state: dict[int, _KeyState] = {}  # each track's last keyframe mask and box

        def drain_non_key() -> Iterator[FrameMasks]:
            while pending and not pending[0].is_key:
                stats["carried"] += 1
                yield _carried(pending.popleft().frame, state)

        for result in self.inner.segment(self._keyframes(frames, pending, stats)):
            yield from drain_non_key()
            key_fp = self._answered_keyframe(pending, result)
            state = _key_states(key_fp, result)
            yield result
            yield from drain_non_key()
        if any(p.is_key for p in pending):
            missing = [p.frame.frame_idx for p in pending if p.is_key]
            raise SegmentationError(
                f"inner segmenter '{self.inner.name}' stopped before answering keyframes "
                f"{missing[:5]}; it must yield exactly one FrameMasks per input frame"
            )
        yield from drain_non_key()
        logger.debug("keyframe stride %d: %d keyframes, %d carried frames", self.stride, stats["key"], stats["carried"])

    def _keyframes(self, frames: Iterable[FramePrompts], pending: deque[_Pending], stats: dict[str, int]) -> Iterator[FramePrompts]:
        """The keyframes of ``frames`` (every ``stride``-th, and a frame where a track appears);
        every frame is queued in ``pending``, marked key or not."""
        prev_tracks: set[int] = set()
        for fp in frames:
            tracks = {p.track_id for p in fp.prompts}
            is_key = fp.frame_idx % self.stride == 0 or not tracks <= prev_tracks
            prev_tracks = tracks
            pending.append(_Pending(fp, is_key))
            if is_key:
                stats["key"] += 1
                yield fp

    def _answered_keyframe(self, pending: deque[_Pending], result: FrameMasks) -> FramePrompts:
        """The queued keyframe ``result`` answers (taken off ``pending``).

        Raises:
            SegmentationError: no keyframe is waiting, or ``result`` is for another frame.
        """
        if not pending:
            raise SegmentationError(
                f"inner segmenter '{self.inner.name}' yielded a result (frame "
                f"{result.frame_idx}) for a keyframe it was not given; it must yield exactly "
                "one FrameMasks per input frame"
            )
        key_fp = pending.popleft().frame
        if result.frame_idx != key_fp.frame_idx:
            raise SegmentationError(
                f"inner segmenter '{self.inner.name}' answered frame {result.frame_idx} "
                f"where frame {key_fp.frame_idx} was expected; results must be in input order"
            )
        return key_fp


def _key_states(key_fp: FramePrompts, result: FrameMasks) -> dict[int, _KeyState]:
    """Each prompted track's keyframe mask (None when the inner gave none or an empty one) and box."""
    states: dict[int, _KeyState] = {}
    for prompt in key_fp.prompts:
        mask = result.masks.get(prompt.track_id)
        if mask is not None and not mask.any():
            mask = None
        if mask is None:
            logger.debug(
                "frame %d: inner gave no mask for track %d; it gets None until its next keyframe",
                key_fp.frame_idx,
                prompt.track_id,
            )
        states[prompt.track_id] = _KeyState(mask, prompt.bbox)
    return states


def _carried(fp: FramePrompts, state: dict[int, _KeyState]) -> FrameMasks:
    """Masks of a non-key frame: each track's keyframe mask carried onto its current box
    (:func:`carry_mask`), None without one or when nothing of it lands in the box."""
    out = FrameMasks(frame_idx=fp.frame_idx)
    shape = fp.image.shape[:2]
    for prompt in fp.prompts:
        key = state.get(prompt.track_id)
        mask = None
        if key is not None and key.mask is not None:
            x1, y1, x2, y2 = key.bbox
            if x2 > x1 and y2 > y1:
                mask = carry_mask(key.mask, key.bbox, prompt.bbox, shape)
                if not mask.any():
                    mask = None
        out.masks[prompt.track_id] = mask
    return out
