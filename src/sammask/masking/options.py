"""Masking modes, effects and their options."""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class MaskingOptions:
    """How to mask.

    Attributes:
        mode: :class:`MaskMode`.
        effect: :class:`Effect`.
        strength: level 1 (weakest) to 5 (strongest). Blur kernel and mosaic cell size scale
            with each object's box size, so a small face is as unrecognisable as a large one.
        dilate: safety margin in pixels added around every object mask (>= 0). Default 8:
            chosen in docs/quality/README.md (GrabCut on DAVIS 480p: pooled leak 0.31 % at 4 px,
            0.06 % at 8 px; with perfect masks 8 px keeps collateral at 0.23x box masking).
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
    dilate: int = 8
    feather: int = 0
    color: tuple[int, int, int] = (0, 0, 0)
    min_coverage: float = 0.10

    def __post_init__(self) -> None:
        if not 1 <= self.strength <= 5:
            raise ConfigError(f"strength must be 1..5, got {self.strength}")
        if self.dilate < 0:
            raise ConfigError(f"dilate must be >= 0 pixels, got {self.dilate}")
        if self.feather < 0:
            raise ConfigError(f"feather must be >= 0 pixels, got {self.feather}")
        if len(self.color) != 3 or not all(0 <= c <= 255 for c in self.color):
            raise ConfigError(f"color must be three values 0..255, got {self.color}")
        if not 0.0 <= self.min_coverage <= 1.0:
            raise ConfigError(f"min_coverage must be in [0, 1], got {self.min_coverage}")
