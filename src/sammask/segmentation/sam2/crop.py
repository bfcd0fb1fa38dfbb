"""Crop encoding for the SAM 2 ``image`` strategy: which square of a frame to encode.

SAM 2 resizes whatever it encodes to S x S (aspect not kept). For a 1280 x 720 frame at S = 512
that is 0.40 model pixels per frame pixel across and 0.71 down; a square crop of side c around
the frame's boxes gets S / c in both directions instead. The original system encoded such crops
(its ``crop_size = 384``).

Per-frame rule (:func:`plan_crop`):

1. Take the union of the frame's boxes and add a margin on every side of
   ``max(CROP_MIN_MARGIN, CROP_MARGIN * side)`` pixels (side = the union's longer side), so the
   decoder sees context around each object.
2. The crop is the square of that side (at least ``min(S / 2, frame's short side)``: never more
   than 2x upsampling), centred on the union and shifted to lie inside the frame.
3. Crop only if that square fits in the frame (side <= the frame's short side). Then the crop's
   scale S / c is at least the whole frame's on both axes, so no object gets fewer model pixels
   than without the crop; otherwise the whole frame is encoded.

One crop per frame: every encode costs the same at a given S whatever it shows, so k crops cost
k encodes and are never cheaper than one; several crops would only buy resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CROP_MARGIN", "CROP_MIN_MARGIN", "CropWindow", "paste_masks", "plan_crop"]

CROP_MARGIN = 0.15
"""Margin added on each side of the boxes' union, as a fraction of its longer side."""
CROP_MIN_MARGIN = 16
"""Smallest margin on each side, pixels."""


@dataclass(frozen=True, slots=True)
class CropWindow:
    """A square window of a frame, in frame pixels.

    Attributes:
        x0: left column (inclusive), >= 0.
        y0: top row (inclusive), >= 0.
        side: width = height in pixels; ``x0 + side <= W`` and ``y0 + side <= H``.
    """

    x0: int
    y0: int
    side: int

    def cut(self, image: np.ndarray) -> np.ndarray:
        """The window of an (H, W, ...) array: (side, side, ...) view."""
        return image[self.y0 : self.y0 + self.side, self.x0 : self.x0 + self.side]


def plan_crop(boxes: np.ndarray, height: int, width: int, image_size: int) -> CropWindow | None:
    """The square to encode for a frame's boxes, or None to encode the whole frame.

    Args:
        boxes: (N, 4) float xyxy boxes in frame pixels, N >= 1.
        height: frame height H in pixels.
        width: frame width W in pixels.
        image_size: S, the model input side in pixels.

    Returns:
        A :class:`CropWindow` containing every box plus its margin, or None when that square
        does not fit in the frame (see the module docstring for the rule).
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0 = max(0.0, float(b[:, 0].min()))
    y0 = max(0.0, float(b[:, 1].min()))
    x1 = min(float(width), float(b[:, 2].max()))
    y1 = min(float(height), float(b[:, 3].max()))
    longer = max(x1 - x0, y1 - y0, 1.0)
    margin = max(CROP_MIN_MARGIN, CROP_MARGIN * longer)
    short = min(height, width)
    side = max(math.ceil(longer + 2 * margin), min(image_size // 2, short))
    if side > short:
        return None
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(min(max(round(cx - side / 2), 0), width - side))
    top = int(min(max(round(cy - side / 2), 0), height - side))
    return CropWindow(left, top, side)


def paste_masks(masks: np.ndarray, window: CropWindow, height: int, width: int) -> np.ndarray:
    """Put (N, side, side) crop masks back into (N, H, W) frame masks (False outside the crop).

    Args:
        masks: (N, side, side) bool masks in crop pixels.
        window: the crop they were computed on.
        height: frame height H.
        width: frame width W.

    Returns:
        (N, H, W) bool.
    """
    out = np.zeros((masks.shape[0], height, width), dtype=bool)
    out[:, window.y0 : window.y0 + window.side, window.x0 : window.x0 + window.side] = masks
    return out
