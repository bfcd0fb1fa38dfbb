"""What a matte run keeps and what it puts behind it: :class:`Background`, :class:`MatteOptions`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from sammask.errors import ConfigError
from sammask.masking.options import parse_color

__all__ = ["Background", "BackgroundKind", "MatteOptions", "OutputKind", "output_kind", "parse_background"]


class BackgroundKind(str, Enum):
    """What replaces the background (everything outside the kept objects)."""

    TRANSPARENT = "transparent"
    """Nothing: the output carries the matte as its alpha plane (``.mov``, ``.webm``, PNG folder)."""
    BLUR = "blur"
    """The frame itself, blurred (the redaction blur with the frame's scale)."""
    COLOR = "color"
    """A solid colour."""
    IMAGE = "image"
    """A still image, resized to the frame."""
    VIDEO = "video"
    """Another video's frames, resized to the frame (looped when it is shorter)."""


@dataclass(frozen=True, slots=True)
class Background:
    """A background replacement.

    Attributes:
        kind: :class:`BackgroundKind`.
        color: RGB 0..255 for ``COLOR``.
        path: the image or video file for ``IMAGE`` / ``VIDEO``.
        strength: blur level 1..5 for ``BLUR`` (the redaction scale).

    Raises:
        ConfigError: a ``path`` missing for IMAGE / VIDEO or given for another kind.
    """

    kind: BackgroundKind = BackgroundKind.TRANSPARENT
    color: tuple[int, int, int] = (0, 0, 0)
    path: Path | None = None
    strength: int = 3

    def __post_init__(self) -> None:
        needs_path = self.kind in (BackgroundKind.IMAGE, BackgroundKind.VIDEO)
        if needs_path and self.path is None:
            raise ConfigError(f"--background {self.kind.value} needs a file: {self.kind.value}:PATH")
        if not needs_path and self.path is not None:
            raise ConfigError(f"--background {self.kind.value} takes no file")
        if not 1 <= self.strength <= 5:
            raise ConfigError(f"strength must be 1..5, got {self.strength}")

    def __str__(self) -> str:
        if self.kind is BackgroundKind.COLOR:
            r, g, b = self.color
            return f"color:#{r:02x}{g:02x}{b:02x}"
        if self.path is not None:
            return f"{self.kind.value}:{self.path}"
        return self.kind.value


def parse_background(text: str) -> Background:
    """Parse ``--background``: ``transparent`` | ``blur`` | ``color:#RRGGBB`` (or ``color:R,G,B``) |
    ``image:PATH`` | ``video:PATH``.

    Raises:
        ConfigError: naming the accepted forms.
    """
    kind, _, rest = text.strip().partition(":")
    try:
        k = BackgroundKind(kind.strip().lower())
    except ValueError:
        raise ConfigError(f"--background '{text}' is not one of transparent, blur, color:#RRGGBB, image:PATH, video:PATH") from None
    if k is BackgroundKind.COLOR:
        if not rest:
            raise ConfigError("--background color needs a colour: color:#RRGGBB")
        return Background(k, color=parse_color(rest))
    if k in (BackgroundKind.IMAGE, BackgroundKind.VIDEO):
        return Background(k, path=Path(rest) if rest else None)
    if rest:
        raise ConfigError(f"--background {k.value} takes no value after ':' (got '{text}')")
    return Background(k)


class OutputKind(str, Enum):
    """The file an output path asks for (chosen by its suffix)."""

    PRORES_4444 = "prores4444"
    """``.mov``: ProRes 4444 with alpha (``yuva444p10le``); with a replaced background: H.264."""
    VP9_ALPHA = "vp9alpha"
    """``.webm``: VP9 with alpha (``yuva420p``); with a replaced background: VP9 without alpha."""
    PNG_FOLDER = "png"
    """No suffix: a new folder of RGBA PNGs, ``000000.png``, ``000001.png``... (frame_idx)."""
    H264 = "h264"
    """``.mp4``, ``.mkv``, ...: H.264 (a replaced background only: these hold no alpha)."""


def output_kind(path: Path) -> OutputKind:
    """The :class:`OutputKind` of an output path (by suffix; no suffix = PNG folder)."""
    suffix = path.suffix.lower()
    if suffix == ".mov":
        return OutputKind.PRORES_4444
    if suffix == ".webm":
        return OutputKind.VP9_ALPHA
    if suffix == "":
        return OutputKind.PNG_FOLDER
    return OutputKind.H264


@dataclass(frozen=True, slots=True)
class MatteOptions:
    """How the matte is made.

    Attributes:
        background: :class:`Background` (default transparent).
        feather: width in pixels of the soft edge, centred on the mask's outline (0: a hard
            0/255 matte). Alpha is ``0.5 + signed_distance / feather`` clipped to [0, 1], so
            thresholding the matte at 0.5 gives back the mask exactly.
        smooth: temporal smoothing, the weight in [0, 1) of the previous frame's alpha in an
            exponential moving average (0: off).
        segmenter: segmenter for a tracks file (``box`` | ``grabcut`` | ``sam2``), as in redaction.
        refine: trimap half-width in pixels for closed-form matting of the edges
            (:func:`~sammask.matte.alpha.refine_alpha`, pymatting), or 0 (off: distance-field
            feathering only). Slow: about 1.4 s per 480p frame (docs/matte.md).

    Raises:
        ConfigError: a value out of range.
    """

    background: Background = Background()
    feather: float = 4.0
    smooth: float = 0.0
    segmenter: str = "grabcut"
    refine: int = 0

    def __post_init__(self) -> None:
        if self.refine < 0:
            raise ConfigError(f"--refine must be >= 0 pixels, got {self.refine}")
        if not self.feather >= 0:
            raise ConfigError(f"--feather must be >= 0 pixels, got {self.feather}")
        if not 0.0 <= self.smooth < 1.0:
            raise ConfigError(f"--smooth must be in [0, 1), got {self.smooth}")
