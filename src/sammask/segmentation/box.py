"""Box segmenter: the mask of a track is its box (the original system's rectangle behaviour).

Used when segmentation is off (``segmentation_masking = no``), as the fail-secure fallback, and as
the baseline the other segmenters are compared against.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from sammask.errors import MediaError, TracksFormatError
from sammask.segmentation.base import FrameMasks, FramePrompts, Segmenter
from sammask.tracks.types import BBox

Bounds = tuple[int, int, int, int]
"""Integer pixel bounds ``(x0, y0, x1, y1)``: columns ``x0..x1-1`` and rows ``y0..y1-1``."""


def frame_hw(shape: Sequence[int]) -> tuple[int, int]:
    """``(H, W)`` from a frame or mask shape ``(H, W, ...)``.

    Raises:
        MediaError: if the shape has fewer than 2 dimensions or a negative size.
    """
    if len(shape) < 2 or int(shape[0]) < 0 or int(shape[1]) < 0:
        raise MediaError(f"frame shape must start with (H, W) >= 0, got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def box_pixel_bounds(bbox: BBox, shape: Sequence[int]) -> Bounds:
    """Integer pixel bounds of the pixels a box touches, clipped to the frame.

    Columns ``floor(x1) .. ceil(x2) - 1`` and rows ``floor(y1) .. ceil(y2) - 1`` (inclusive), i.e.
    every pixel whose unit square overlaps the box by a positive width and height; a degenerate
    (zero-width) box still covers one column / row. The result is clipped to ``[0, W] x [0, H]``
    and is empty (``x0 == x1`` or ``y0 == y1``) for a box entirely outside the frame.

    Args:
        bbox: ``(x1, y1, x2, y2)`` float pixels.
        shape: ``(H, W, ...)`` of the frame (pixels).

    Returns:
        ``(x0, y0, x1, y1)`` ints with ``0 <= x0 <= x1 <= W`` and ``0 <= y0 <= y1 <= H``.

    Raises:
        TracksFormatError: if the box is not 4 finite numbers or is inverted (``x2 < x1``).
    """
    h, w = frame_hw(shape)
    if len(bbox) != 4 or not all(math.isfinite(float(v)) for v in bbox):
        raise TracksFormatError(f"bbox must be 4 finite numbers (x1, y1, x2, y2), got {bbox}", field="bbox")
    bx1, by1, bx2, by2 = (float(v) for v in bbox)
    if bx2 < bx1 or by2 < by1:
        raise TracksFormatError(f"bbox must have x2 >= x1 and y2 >= y1 (xyxy pixels), got {bbox}", field="bbox")
    x0, y0 = math.floor(bx1), math.floor(by1)
    x1, y1 = max(math.ceil(bx2), x0 + 1), max(math.ceil(by2), y0 + 1)
    x0, x1 = min(max(x0, 0), w), min(max(x1, 0), w)
    y0, y1 = min(max(y0, 0), h), min(max(y1, 0), h)
    return x0, y0, x1, y1


def box_mask(bbox: BBox, shape: Sequence[int]) -> np.ndarray:
    """Mask of the pixels an xyxy box touches (generous rounding, privacy first).

    A box touching a pixel covers it: columns ``floor(x1) .. ceil(x2) - 1`` and rows
    ``floor(y1) .. ceil(y2) - 1`` are set (see :func:`box_pixel_bounds`). For an integer box
    ``(10, 20, 30, 40)`` that is exactly columns 10..29 and rows 20..39 (the pixels whose centres
    lie inside the box); a fractional edge such as ``x2 = 30.2`` adds column 30.

    Args:
        bbox: ``(x1, y1, x2, y2)`` float pixels; parts outside the frame are clipped.
        shape: ``(H, W, ...)`` of the frame (pixels).

    Returns:
        (H, W) bool mask.

    Raises:
        TracksFormatError: if the box is not 4 finite numbers or is inverted.
    """
    h, w = frame_hw(shape)
    x0, y0, x1, y1 = box_pixel_bounds(bbox, (h, w))
    out = np.zeros((h, w), dtype=bool)
    out[y0:y1, x0:x1] = True
    return out



class BoxSegmenter(Segmenter):
    """Segmenter whose mask for each prompt is the prompt's box (rectangle masking).

    Every prompted track gets :func:`box_mask` of its box; frames without prompts get an empty
    :class:`FrameMasks`. No image work is done (only the masks are allocated). Reads no frame
    ahead.
    """

    name = "box"

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Yield one :class:`FrameMasks` per input frame, in order.

        Args:
            frames: :class:`FramePrompts` with (H, W, 3) uint8 RGB images.

        Yields:
            :class:`FrameMasks` with ``masks[track_id]`` an (H, W) bool box mask for every
            prompt (no scores: a box is not a prediction).
        """
        for fp in frames:
            shape = fp.image.shape[:2]
            out = FrameMasks(frame_idx=fp.frame_idx)
            for prompt in fp.prompts:
                out.masks[prompt.track_id] = box_mask(prompt.bbox, shape)
            yield out
