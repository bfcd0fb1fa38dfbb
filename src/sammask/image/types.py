"""Typed values of the image room: prompts, candidate masks, "everything" masks, loaded images."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sammask.errors import ConfigError

BBox = tuple[float, float, float, float]
"""``(x1, y1, x2, y2)`` float pixels of the upright image."""


@dataclass(frozen=True, slots=True)
class Prompt:
    """What the user gave for one object, in pixels of the upright image.

    Attributes:
        points: (K, 2) float32 ``(x, y)`` pixels (K may be 0).
        labels: (K,) int32, 1 = foreground point, 0 = background point (SAM's convention).
        box: ``(x1, y1, x2, y2)`` float pixels, or None.
        mask: (H, W) bool mask prompt (a previous answer to refine), or None.

    Raises:
        ConfigError: no point and no box; mismatched points / labels; labels other than 0/1; a
            non-finite value; an inverted box; a background-only prompt without a box.
    """

    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    box: BBox | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float32).reshape(-1, 2)
        labels = np.asarray(self.labels, dtype=np.int32).reshape(-1)
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "labels", labels)
        if len(pts) != len(labels):
            raise ConfigError(f"a prompt needs one label per point: {len(pts)} points, {len(labels)} labels")
        if not np.isfinite(pts).all():
            raise ConfigError("prompt points must be finite pixel coordinates")
        if len(labels) and not np.isin(labels, (0, 1)).all():
            raise ConfigError(f"point labels must be 1 (foreground) or 0 (background), got {sorted(set(labels.tolist()))}")
        if self.box is not None:
            box = tuple(float(v) for v in self.box)
            if len(box) != 4 or not all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
                raise ConfigError(f"a box must be x1,y1,x2,y2 pixels with x2 > x1 and y2 > y1, got {self.box}")
            object.__setattr__(self, "box", box)
        if self.box is None and not (labels == 1).any():
            raise ConfigError("a prompt needs a box or at least one foreground point (label 1)")
        if self.mask is not None:
            m = np.asarray(self.mask)
            if m.ndim != 2:
                raise ConfigError(f"a mask prompt must be (H, W), got shape {m.shape}")
            object.__setattr__(self, "mask", m.astype(bool, copy=False))

    def check_inside(self, height: int, width: int) -> None:
        """Raise :class:`ConfigError` if a point or the whole box lies outside a ``width x height`` image."""
        pts = self.points
        if len(pts) and ((pts[:, 0] < 0) | (pts[:, 0] >= width) | (pts[:, 1] < 0) | (pts[:, 1] >= height)).any():
            bad = pts[(pts[:, 0] < 0) | (pts[:, 0] >= width) | (pts[:, 1] < 0) | (pts[:, 1] >= height)][0]
            raise ConfigError(
                f"point ({bad[0]:g}, {bad[1]:g}) is outside the {width}x{height} image (upright coordinates, as a viewer shows the photo)"
            )
        if self.box is not None:
            x1, y1, x2, y2 = self.box
            if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
                raise ConfigError(f"box {self.box} is outside the {width}x{height} image (upright coordinates)")
        if self.mask is not None and self.mask.shape != (height, width):
            raise ConfigError(f"mask prompt is {self.mask.shape}, the image is {(height, width)}")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate answer to a prompt.

    Attributes:
        mask: (H, W) bool.
        score: the backend's quality estimate in [0, 1] (SAM 2: predicted IoU; classical:
            boundary contrast, see :mod:`sammask.image.classical`); higher is better.
    """

    mask: np.ndarray
    score: float


@dataclass(frozen=True, slots=True)
class ImageMask:
    """One mask of "segment everything".

    Attributes:
        mask: (H, W) bool.
        bbox: xyxy float pixels of the mask's pixels (pixel c covers [c, c + 1)).
        area: number of mask pixels.
        predicted_iou: SAM's predicted IoU in [0, 1]; None for the classical baseline.
        stability: SAM's stability score in [0, 1] (IoU of the mask thresholded at +-offset);
            None for the classical baseline.
        point: the grid point ``(x, y)`` pixels that produced it (SAM), or None.
        crop_box: the crop ``(x0, y0, x1, y1)`` pixels it was found in (the whole image
            without crop layers / tiles).
    """

    mask: np.ndarray
    bbox: BBox
    area: int
    predicted_iou: float | None = None
    stability: float | None = None
    point: tuple[float, float] | None = None
    crop_box: tuple[int, int, int, int] | None = None


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """An image file decoded for segmentation.

    Attributes:
        rgb: (H, W, 3) uint8 RGB of the **upright** image (EXIF orientation applied; 16-bit
            samples scaled to 8 bits; alpha dropped).
        alpha: (H, W) uint8 alpha of the upright image, or None when the file has none.
        path: the file read (None for an in-memory image).
        orientation: the EXIF orientation tag found (1 = upright, 2..8 = transposed on load).
        bit_depth: bits per sample of the file (8 or 16; 1 for bilevel).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    path: Path | None = None
    orientation: int = 1
    bit_depth: int = 8

    @property
    def height(self) -> int:
        """H in pixels (upright)."""
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        """W in pixels (upright)."""
        return int(self.rgb.shape[1])
