"""Box segmenter: the mask of a track is its box (the original system's rectangle behaviour).

Used when segmentation is off (``segmentation_masking = no``), as the fail-secure fallback, and as
the baseline the other segmenters are compared against.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np

from sammask.segmentation.base import FrameMasks, FramePrompts, Segmenter
from sammask.tracks.types import BBox


def box_pixel_bounds(bbox: BBox, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer pixel bounds of the pixels touched by a box, clipped to the frame.

    Args:
        bbox: ``(x1, y1, x2, y2)`` float pixels (continuous coordinates: pixel column ``c``
            covers ``[c, c + 1)``).
        shape: frame ``(H, W)`` in pixels.

    Returns:
        ``(c0, r0, c1, r1)``: columns ``c0 <= c < c1`` and rows ``r0 <= r < r1`` with
        ``c0 = floor(x1)``, ``r0 = floor(y1)``, ``c1 = ceil(x2)``, ``r1 = ceil(y2)``, clipped to
        ``[0, W]`` / ``[0, H]``. Empty (``c1 <= c0`` or ``r1 <= r0``) when the box lies outside
        the frame.
    """
    h, w = int(shape[0]), int(shape[1])
    x1, y1, x2, y2 = bbox
    c0 = min(max(math.floor(x1), 0), w)
    r0 = min(max(math.floor(y1), 0), h)
    c1 = min(max(math.ceil(x2), 0), w)
    r1 = min(max(math.ceil(y2), 0), h)
    return c0, r0, c1, r1


def box_mask(bbox: BBox, shape: tuple[int, int]) -> np.ndarray:
    """The (H, W) bool mask of the pixels touched by ``bbox`` (see :func:`box_pixel_bounds`).

    Args:
        bbox: ``(x1, y1, x2, y2)`` float pixels.
        shape: frame ``(H, W)`` in pixels.

    Returns:
        (H, W) bool array, True inside the box (all False when the box is outside the frame).
    """
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), dtype=bool)
    c0, r0, c1, r1 = box_pixel_bounds(bbox, (h, w))
    if c1 > c0 and r1 > r0:
        mask[r0:r1, c0:c1] = True
    return mask


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
