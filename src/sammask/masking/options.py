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


EFFECT_ORDER: tuple[Effect, ...] = (Effect.BLUR, Effect.MOSAIC, Effect.SOLID)
"""Effects from weakest to strongest, the order :func:`~sammask.masking.compose.compose` paints
overlapping objects in (the strongest last, so it wins where masks overlap). ``SOLID`` removes
every trace of the pixels and cannot be undone; a mosaic keeps one mean colour per cell and a
blur a low-passed image, both partly reversible (McPherson, Shokri and Shmatikov 2016, see
:mod:`sammask.masking.effects`); of the two, the mosaic is put above the blur because its flat
cells keep no edge inside a cell, whereas a blur keeps every edge as a gradient."""


def _check_color(color: tuple[int, int, int]) -> None:
    if len(color) != 3 or not all(0 <= c <= 255 for c in color):
        raise ConfigError(f"color must be three values 0..255, got {color}")


@dataclass(frozen=True, slots=True)
class EffectSpec:
    """One resolved effect: what :func:`~sammask.masking.compose.compose` applies to an object.

    Attributes:
        effect: :class:`Effect`.
        strength: level 1..5.
        color: RGB fill colour for ``SOLID`` (0..255 each).
    """

    effect: Effect
    strength: int
    color: tuple[int, int, int]

    @property
    def rank(self) -> tuple[int, int]:
        """``(position in EFFECT_ORDER, strength)``: larger is stronger (painted later)."""
        return EFFECT_ORDER.index(self.effect), self.strength


@dataclass(frozen=True, slots=True)
class ClassEffect:
    """How the detections of one class are masked (a ``[class.NAME]`` section of config.ini,
    ``--class-effect NAME=EFFECT[:STRENGTH]`` on the command line).

    Attributes:
        effect: :class:`Effect`, or None for the run's ``effect``.
        strength: level 1..5, or None for the run's ``strength``.
        color: RGB fill colour for ``SOLID``, or None for the run's ``color``.

    Raises:
        ConfigError: on a value out of range.
    """

    effect: Effect | None = None
    strength: int | None = None
    color: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.effect is not None:
            try:
                object.__setattr__(self, "effect", Effect(self.effect))
            except ValueError:
                raise ConfigError(f"effect must be one of {', '.join(e.value for e in Effect)}, got '{self.effect}'") from None
        if self.strength is not None and not 1 <= self.strength <= 5:
            raise ConfigError(f"strength must be 1..5, got {self.strength}")
        if self.color is not None:
            _check_color(self.color)


def parse_color(text: str) -> tuple[int, int, int]:
    """``"255,0,0"`` or ``"#ff0000"`` -> ``(255, 0, 0)`` (RGB, 0..255 each).

    Raises:
        ConfigError: anything else.
    """
    raw = text.strip()
    try:
        if raw.startswith("#") and len(raw) == 7:
            rgb = tuple(int(raw[i : i + 2], 16) for i in (1, 3, 5))
        else:
            rgb = tuple(int(v) for v in raw.split(","))
    except ValueError:
        rgb = ()
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise ConfigError(f"color must be R,G,B (0..255 each) or #RRGGBB, got '{raw}'")
    return rgb


def parse_class_effect(text: str) -> tuple[str, ClassEffect]:
    """``"face=blur:5"`` -> ``("face", ClassEffect(Effect.BLUR, 5))`` (``--class-effect``).

    The form is ``CLASS=EFFECT[:STRENGTH]``; a missing strength takes the run's ``strength``.

    Raises:
        ConfigError: a malformed item, an unknown effect or a strength outside 1..5.
    """
    name, eq, value = text.partition("=")
    effect, colon, strength = value.partition(":")
    name, effect, strength = name.strip(), effect.strip().lower(), strength.strip()
    form = f"--class-effect takes CLASS=EFFECT[:STRENGTH], e.g. face=blur:5 or car=solid, got '{text}'"
    if not eq or not name or not effect or (colon and not strength):
        raise ConfigError(form)
    if effect not in {e.value for e in Effect}:
        raise ConfigError(f"--class-effect {name}: effect must be one of {', '.join(e.value for e in Effect)}, got '{effect}'")
    if colon and not strength.isdigit():
        raise ConfigError(form)
    try:
        return name, ClassEffect(Effect(effect), int(strength) if colon else None)
    except ConfigError as exc:
        raise ConfigError(f"--class-effect {name}: {exc}") from None


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
        class_effects: per-class effects, ``((class name, ClassEffect), ...)``: a detection whose
            ``class_name`` is listed is masked with that entry (its unset fields taken from
            ``effect`` / ``strength`` / ``color``); any other detection, one without a class
            included, with the global effect. Names are matched exactly (``face`` as the faces
            detector and COCO write them). ``SELECTED`` / ``UNSELECTED`` modes only:
            ``BACKGROUND`` masks the whole frame with the global effect and keeps every object.

    Raises:
        ConfigError: on a value out of range, an empty or repeated class name.

    Examples:
        >>> from sammask import MaskingOptions
        >>> from sammask.masking.options import MaskMode
        >>> opts = MaskingOptions(mode=MaskMode.BACKGROUND)
        >>> opts.mode.value, opts.effect.value, opts.strength
        ('background', 'blur', 3)
        >>> MaskingOptions(strength=9)
        Traceback (most recent call last):
        ...
        sammask.errors.ConfigError: ...
    """

    mode: MaskMode = MaskMode.SELECTED
    effect: Effect = Effect.BLUR
    strength: int = 3
    dilate: int | None = None
    feather: int = 0
    color: tuple[int, int, int] = (0, 0, 0)
    min_coverage: float = 0.10
    class_effects: tuple[tuple[str, ClassEffect], ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.strength <= 5:
            raise ConfigError(f"strength must be 1..5, got {self.strength}")
        if self.dilate is not None and self.dilate < 0:
            raise ConfigError(f"dilate must be >= 0 pixels, got {self.dilate}")
        if self.feather < 0:
            raise ConfigError(f"feather must be >= 0 pixels, got {self.feather}")
        _check_color(self.color)
        if not 0.0 <= self.min_coverage <= 1.0:
            raise ConfigError(f"min_coverage must be in [0, 1], got {self.min_coverage}")
        names = [name for name, _ in self.class_effects]
        if any(not isinstance(n, str) or not n.strip() or n != n.strip() for n in names):
            raise ConfigError(f"class_effects names must be non-empty class names without surrounding spaces, got {names}")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(f"class_effects lists {', '.join(repeated)} more than once; give one effect per class")
        if not all(isinstance(c, ClassEffect) for _, c in self.class_effects):
            raise ConfigError("class_effects values must be ClassEffect")

    @property
    def default_effect(self) -> EffectSpec:
        """The global effect (for detections without an entry in ``class_effects``)."""
        return EffectSpec(self.effect, self.strength, self.color)

    def effect_for(self, class_name: str | None) -> EffectSpec:
        """The effect a detection of ``class_name`` (None: no class) is masked with.

        Its ``class_effects`` entry with the unset fields filled from the global
        ``effect`` / ``strength`` / ``color``, or :attr:`default_effect` when the class has none.
        """
        for name, entry in self.class_effects:
            if name == class_name:
                return EffectSpec(
                    self.effect if entry.effect is None else entry.effect,
                    self.strength if entry.strength is None else entry.strength,
                    self.color if entry.color is None else entry.color,
                )
        return self.default_effect

    def dilate_px(self, height: int, width: int) -> int:
        """The dilation applied to a ``height`` x ``width`` frame, pixels.

        ``dilate`` when set, else :func:`auto_dilate_px`; capped at :func:`max_dilate_px` (the
        frame diagonal: a larger margin masks nothing more).
        """
        px = auto_dilate_px(height, width) if self.dilate is None else self.dilate
        return min(px, max_dilate_px(height, width))
