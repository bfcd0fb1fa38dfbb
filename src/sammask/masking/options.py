"""Masking modes, effects and their options."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from sammask.errors import ConfigError


class MaskMode(str, Enum):
    """Which pixels are masked (the original system's "masking range").

    - ``SELECTED`` (original range 2): the selected objects (``object != 2``).
    - ``UNSELECTED`` (original range 3): only the de-selected objects (``object == 2``).
    - ``BACKGROUND`` (original range 1): everything except the selected objects.
    """

    SELECTED = "selected"
    UNSELECTED = "unselected"
    BACKGROUND = "background"


class Effect(str, Enum):
    """How masked pixels are altered: Gaussian ``BLUR``, ``MOSAIC`` (pixelate), ``SOLID`` fill."""

    BLUR = "blur"
    MOSAIC = "mosaic"
    SOLID = "solid"


DILATE_PER_SHORT_SIDE = (8, 480)
"""Default dilation as a fraction of the frame's shorter side: 8 px per 480 px (1/60).

8 px is the margin measured at 480p (docs/quality: GrabCut pooled leak 0.31 % at 4 px, 0.06 % at
8 px on DAVIS 854x480); the same fraction gives 12 px at 720p, 18 px at 1080p and 36 px at 2160p.
The shorter side (not the diagonal or the width) is used because the size of a person in the
frame follows the frame height in landscape and the width in portrait, whatever the aspect
ratio: a 16:9 and a 4:3 frame of the same height get the same margin, and a rotated clip gets
the same margin as its upright copy."""

DILATE_MIN_PX = 8
"""The default never goes below 8 px on small frames: measured on the two 432x240 DAVIS
sequences, the scaled-down 4 px leaked 0.091 % of schoolgirls' object pixels (8 frames over 1 %)
where 8 px leaked 0.000 % (docs/quality/README.md). Privacy first: scale up, never down."""


def auto_dilate_px(height: int, width: int) -> int:
    """The default dilation for an ``height`` x ``width`` frame, pixels.

    ``max(8, ceil(min(height, width) * 8 / 480))``: 854x480 -> 8, 432x240 -> 8, 1280x720 -> 12,
    1920x1080 -> 18, 3840x2160 -> 36 (see :data:`DILATE_PER_SHORT_SIDE`, :data:`DILATE_MIN_PX`).
    :meth:`MaskingOptions.dilate_px` caps it at the frame diagonal.
    """
    num, den = DILATE_PER_SHORT_SIDE
    return max(DILATE_MIN_PX, -(-min(int(height), int(width)) * num // den))


def max_dilate_px(height: int, width: int) -> int:
    """The largest useful dilation for a frame: its diagonal rounded up, pixels.

    Any non-empty mask dilated by the diagonal covers the whole frame, so larger values change
    nothing but the cost (a 100000 px radius would allocate a 200001 x 200001 kernel).
    """
    return math.ceil(math.hypot(int(height), int(width)))


@dataclass(frozen=True, slots=True)
class MaskingOptions:
    """How to mask.

    Attributes:
        mode: :class:`MaskMode`.
        effect: :class:`Effect`.
        strength: level 1 (weakest) to 5 (strongest). Blur kernel and mosaic cell size scale
            with each object's box size, so a small face is as unrecognisable as a large one.
        dilate: safety margin in pixels added around every object mask (>= 0), or None (the
            default) for :func:`auto_dilate_px` of the frame: 8 px per 480 px of the shorter
            side and at least 8 px, the 8 px chosen at 480p in docs/quality/README.md (GrabCut on DAVIS 480p:
            pooled leak 0.31 % at 4 px, 0.06 % at 8 px; with perfect masks 8 px keeps collateral
            at 0.23x box masking). Use :meth:`dilate_px` for the value applied to a frame.
        feather: width in pixels of a soft edge *outside* the dilated mask (>= 0); pixels
            inside the dilated mask are always fully masked.
        color: RGB fill colour for ``SOLID`` (0..255 each).
        min_coverage: fail-secure threshold: a segmenter mask covering less than this fraction of
            its box is implausible and the box is masked instead (0..1).

    Raises:
        ConfigError: on a value out of range.
    """

    mode: MaskMode = MaskMode.SELECTED
    effect: Effect = Effect.BLUR
    strength: int = 3
    dilate: int | None = None
    feather: int = 0
    color: tuple[int, int, int] = (0, 0, 0)
    min_coverage: float = 0.10

    def __post_init__(self) -> None:
        if not 1 <= self.strength <= 5:
            raise ConfigError(f"strength must be 1..5, got {self.strength}")
        if self.dilate is not None and self.dilate < 0:
            raise ConfigError(f"dilate must be >= 0 pixels, got {self.dilate}")
        if self.feather < 0:
            raise ConfigError(f"feather must be >= 0 pixels, got {self.feather}")
        if len(self.color) != 3 or not all(0 <= c <= 255 for c in self.color):
            raise ConfigError(f"color must be three values 0..255, got {self.color}")
        if not 0.0 <= self.min_coverage <= 1.0:
            raise ConfigError(f"min_coverage must be in [0, 1], got {self.min_coverage}")

    def dilate_px(self, height: int, width: int) -> int:
        """The dilation applied to a ``height`` x ``width`` frame, pixels.

        ``dilate`` when set, else :func:`auto_dilate_px`; capped at :func:`max_dilate_px` (the
        frame diagonal: a larger margin masks nothing more).
        """
        px = auto_dilate_px(height, width) if self.dilate is None else self.dilate
        return min(px, max_dilate_px(height, width))
