"""One typed settings object for a redaction run, and its INI / CLI mapping.

The INI file is the original system's ``config.ini``; its ``[sam2]`` section keys map as follows
(CLI flags override the file):

=========================  ==========================================================
``segmentation_masking``   ``yes`` -> segmenter from ``segmenter``, else ``sam2`` when
                           ``model_path`` is set (the original plan), else ``grabcut``;
                           ``no`` -> ``box`` (the original rectangle behaviour)
``segmenter``              ``box`` | ``grabcut`` | ``sam2``
``chunk_size``             :attr:`Sam2Options.chunk_size` (frames)
``model_path``             :attr:`Sam2Options.checkpoint` (relative to the INI file's
                           folder); an official file name also sets ``model``
``model``                  :attr:`Sam2Options.model`
``device``                 :attr:`Sam2Options.device` (``cpu`` | ``cuda`` | ``mps``)
``strategy``               :attr:`Sam2Options.strategy`
``input_size``             :attr:`Sam2Options.input_size` (pixels)
``runtime``                :attr:`Sam2Options.runtime` (``auto`` | ``torch`` | ``compile`` |
                           ``onnx`` | ``openvino``)
``precision``              :attr:`Sam2Options.precision` (``fp32`` | ``bf16`` | ``int8``)
``crop``                   :attr:`Sam2Options.crop` (``yes`` | ``no``; the original
                           ``crop_size`` is ignored: the crop is encoded at ``input_size``)
``stride``                 :attr:`RedactSettings.stride` (frames)
``mode``/``masking_range`` :class:`MaskMode` (``masking_range`` takes the original 1/2/3)
``effect``/``tool``        :class:`Effect`
``strength``/``level``     1..5
``dilate``, ``feather``    pixels
``crf``, ``preset``        encoder
``tracks_space``           :class:`~sammask.geometry.TracksSpace` (``display`` | ``stored``)
``color``                  ``SOLID`` fill: ``R,G,B`` (0..255 each) or ``#RRGGBB``
=========================  ==========================================================

Per-class effects (:attr:`MaskingOptions.class_effects`) are sections of their own, one per
class name as the detections carry it (tracks JSON ``class``, MOT17 class column, detector
output), with the keys ``effect`` (or ``tool``), ``strength`` (or ``level``) and ``color``; an
unset key takes the ``[sam2]`` value, a class without a section the global effect::

    [class.face]
    effect = blur
    strength = 5

    [class.car]
    effect = solid

A file may hold ``[class.NAME]`` sections without a ``[sam2]`` section. An unknown key in a class
section is an error naming the closest key; any other section is ignored with a warning.
"""

from __future__ import annotations

import configparser
import difflib
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sammask.errors import ConfigError, InputFileError
from sammask.geometry import TracksSpace
from sammask.masking.options import ClassEffect, Effect, MaskingOptions, MaskMode, parse_color
from sammask.media.types import EncodeOptions, VideoInfo
from sammask.segmentation.sam2.options import Sam2Options

logger = logging.getLogger(__name__)

Sam2Settings = Sam2Options
"""The SAM 2 segmenter's options, owned by the segmentation room
(:class:`sammask.segmentation.sam2.options.Sam2Options`); this name is kept for callers."""


@dataclass(frozen=True, slots=True)
class RedactSettings:
    """Everything a redaction run needs besides its input and output paths.

    Attributes:
        masking: :class:`MaskingOptions` (mode, effect, strength, dilate, feather, fail-secure).
        segmenter: registered segmenter name (``box``, ``grabcut``, ``sam2``).
        stride: keyframe stride in frames: segment every ``stride``-th frame of a track and
            carry masks by box motion in between (1 = every frame).
        sam2: :class:`~sammask.segmentation.sam2.options.Sam2Options` (used when ``segmenter == "sam2"``).
        encode: :class:`EncodeOptions`.
        lenient: drop invalid detections (counted in the report) instead of failing.
        tracks_space: :class:`~sammask.geometry.TracksSpace` the detections' coordinates are in:
            ``display`` (default: the upright frame OpenCV and ffmpeg deliver for a rotated
            clip) or ``stored`` (the frame as decoded without rotation); see
            docs/tracks-format.md.

    Examples:
        >>> from sammask import MaskingOptions, RedactSettings
        >>> from sammask.masking.options import Effect
        >>> settings = RedactSettings(masking=MaskingOptions(effect=Effect.MOSAIC, strength=5), segmenter="box")
        >>> settings.masking.effect.value, settings.masking.strength, settings.segmenter
        ('mosaic', 5, 'box')
        >>> RedactSettings().segmenter  # the default: GrabCut, no model weights
        'grabcut'
    """

    masking: MaskingOptions = field(default_factory=MaskingOptions)
    segmenter: str = "grabcut"
    stride: int = 1
    sam2: Sam2Options = field(default_factory=Sam2Options)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    lenient: bool = False
    tracks_space: TracksSpace = TracksSpace.DISPLAY

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ConfigError(f"stride must be >= 1 frame, got {self.stride}")
        try:
            object.__setattr__(self, "tracks_space", TracksSpace(self.tracks_space))
        except ValueError:
            raise ConfigError(f"tracks_space must be display or stored, got '{self.tracks_space}'") from None

    def for_video(self, info: VideoInfo) -> RedactSettings:
        """These settings with the frame-dependent values resolved for a video.

        ``masking.dilate`` becomes the pixels :meth:`MaskingOptions.dilate_px` gives for the
        video's frame (the resolution-aware default, or the explicit value capped at the frame
        diagonal).
        """
        px = self.masking.dilate_px(info.height, info.width)
        if self.masking.dilate is not None and px < self.masking.dilate:
            logger.warning(
                "dilate %d px exceeds the %dx%d frame's diagonal; using %d px (the whole frame)",
                self.masking.dilate,
                info.width,
                info.height,
                px,
            )
        return self if px == self.masking.dilate else replace(self, masking=replace(self.masking, dilate=px))

    def segmenter_options(self) -> dict[str, Any]:
        """Keyword options for :func:`sammask.segmentation.build_segmenter`."""
        if self.segmenter == "sam2":
            return {"settings": self.sam2}
        return {}


_OFFICIAL_CHECKPOINT = re.compile(r"^sam2(\.1)?_hiera_(tiny|small|base_plus|large)$")


def model_from_checkpoint(path: Path) -> str | None:
    """The model name an official checkpoint file name implies, else None.

    ``model/sam2.1_hiera_base_plus.pt`` -> ``"sam2.1_hiera_base_plus"`` (Meta's published names).
    """
    stem = Path(path).stem
    return stem if _OFFICIAL_CHECKPOINT.match(stem) else None


INI_KEYS = (
    "segmentation_masking",
    "segmenter",
    "chunk_size",
    "model_path",
    "model",
    "device",
    "strategy",
    "input_size",
    "stride",
    "mode",
    "masking_range",
    "effect",
    "tool",
    "strength",
    "level",
    "dilate",
    "feather",
    "crf",
    "preset",
    "tracks_space",
    "color",
)
"""The ``[sam2]`` keys sammask reads (see the module docstring)."""
INI_IGNORED = ("crop_size", "forward_frames")
"""Keys of the original system's ``config.ini`` that sammask does not need (read silently)."""

CLASS_SECTION = "class."
"""Prefix of a per-class effect section: ``[class.face]``."""
CLASS_KEYS = ("effect", "tool", "strength", "level", "color")
"""The keys of a ``[class.NAME]`` section."""

_MASKING_RANGE = {"1": MaskMode.BACKGROUND, "2": MaskMode.SELECTED, "3": MaskMode.UNSELECTED}
_BOOL = {"yes": True, "true": True, "on": True, "1": True, "no": False, "false": False, "off": False, "0": False}


def _int(section: configparser.SectionProxy, key: str) -> int:
    try:
        return int(section[key])  # what getint does, typed int (getint's stub allows None)
    except ValueError:
        raw = section[key]
        shown = raw if len(raw) <= 40 else f"{raw[:20]}...({len(raw)} characters)"
        raise ConfigError(f"[{section.name}] {key} must be an integer, got '{shown}'") from None


def _choice(section: configparser.SectionProxy, key: str, enum: type[Any], path: Path) -> Any:
    value = section[key].strip().lower()
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise ConfigError(f"{path}: [{section.name}] {key} must be one of {choices}, got '{section[key].strip()}'") from None


def _color(section: configparser.SectionProxy, path: Path) -> tuple[int, int, int]:
    try:
        return parse_color(section["color"])
    except ConfigError as exc:
        raise ConfigError(f"{path}: [{section.name}] {exc}") from None


def _class_effects(parser: configparser.ConfigParser, path: Path) -> tuple[tuple[str, ClassEffect], ...]:
    """The ``[class.NAME]`` sections as ``((NAME, ClassEffect), ...)``, in file order."""
    out: list[tuple[str, ClassEffect]] = []
    for name in parser.sections():
        if name == "sam2":
            continue
        if not name.startswith(CLASS_SECTION):
            prefix, dot, rest = name.partition(".")
            if dot and difflib.get_close_matches(prefix.lower(), ["class"], n=1):
                raise ConfigError(f"{path}: unknown section [{name}]; did you mean [{CLASS_SECTION}{rest}]?")
            logger.warning("%s: section [%s] is ignored (per-class effects go in [%sNAME] sections)", path, name, CLASS_SECTION)
            continue
        cls = name[len(CLASS_SECTION) :].strip()
        if not cls:
            raise ConfigError(f"{path}: [{name}] needs a class name after '{CLASS_SECTION}', e.g. [{CLASS_SECTION}face]")
        sec = parser[name]
        for key in sec:
            if key not in CLASS_KEYS:
                close = difflib.get_close_matches(key, CLASS_KEYS, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f" (known keys: {', '.join(CLASS_KEYS)})"
                raise ConfigError(f"{path}: [{name}] unknown key '{key}'{hint}")
        if not any(True for _ in sec):
            raise ConfigError(f"{path}: [{name}] sets nothing; give it effect, strength or color (or remove it)")
        values: dict[str, Any] = {}
        for key in ("effect", "tool"):
            if key in sec:
                values["effect"] = _choice(sec, key, Effect, path)
        for key in ("strength", "level"):
            if key in sec:
                values["strength"] = _int(sec, key)
        if "color" in sec:
            values["color"] = _color(sec, path)
        try:
            out.append((cls, ClassEffect(**values)))
        except ConfigError as exc:
            raise ConfigError(f"{path}: [{name}] {exc}") from None
    return tuple(out)


def load_ini(path: Path, base: RedactSettings | None = None) -> RedactSettings:
    """Read the original system's ``config.ini`` (section ``[sam2]``, per-class effect sections
    ``[class.NAME]``) into settings.

    The file is read as UTF-8 without ``%`` interpolation (a ``%`` in a path is taken literally).
    The original system's ``crop_size`` and ``forward_frames`` are ignored; any other unknown
    key is ignored with a warning naming the closest known key (``dilat`` -> ``dilate``).

    Args:
        path: INI file.
        base: settings to start from (defaults when None).

    Raises:
        InputFileError: if the file is missing.
        ConfigError: if it is not UTF-8 text, not valid INI, has neither a ``[sam2]`` nor a
            ``[class.NAME]`` section, a class section has an unknown key (the message names the
            closest) or none, or a value is invalid (the message names the file and the key).
    """
    path = Path(path)
    parser = _read_ini(path)
    class_effects = _class_effects(parser, path)
    if "sam2" not in parser:
        if not class_effects:
            raise ConfigError(f"{path}: no [sam2] section (sections: {', '.join(parser.sections()) or 'none'})")
        parser.add_section("sam2")
    sec = parser["sam2"]
    _warn_unknown_keys(sec, path)
    s = base or RedactSettings()
    masking = _masking_values(sec, path, class_effects)
    top = _run_values(sec, path, s.segmenter)
    sam2 = _sam2_values(sec, path)
    encode: dict[str, Any] = {}
    if "crf" in sec:
        encode["crf"] = _int(sec, "crf")
    if "preset" in sec:
        encode["preset"] = sec["preset"].strip()
    try:
        return replace(
            s,
            masking=replace(s.masking, **masking),
            sam2=replace(s.sam2, **sam2),
            encode=replace(s.encode, **encode),
            **top,
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: [sam2] {exc}") from None


def _read_ini(path: Path) -> configparser.ConfigParser:
    """The file parsed as UTF-8 INI without ``%`` interpolation.

    Raises:
        InputFileError: missing or unreadable.
        ConfigError: not UTF-8 text, or not valid INI.
    """
    if not path.is_file():
        raise InputFileError(f"config file not found: {path}")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise InputFileError(f"config file {path} cannot be read ({exc.strerror})") from None
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not a valid INI file ({exc.message.splitlines()[0]})") from None
    return parser


def _warn_unknown_keys(sec: configparser.SectionProxy, path: Path) -> None:
    """One warning per unknown ``[sam2]`` key, naming the closest known key."""
    for key in sec:
        if key not in INI_KEYS and key not in INI_IGNORED:
            close = difflib.get_close_matches(key, INI_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f" (known keys: {', '.join(INI_KEYS)})"
            logger.warning("%s: [sam2] unknown key '%s' is ignored%s", path, key, hint)


def _masking_values(sec: configparser.SectionProxy, path: Path, class_effects: tuple[tuple[str, ClassEffect], ...]) -> dict[str, Any]:
    """:class:`MaskingOptions` fields set by ``[sam2]`` (mode / masking_range, effect / tool,
    strength / level, dilate, feather, color) and the ``[class.NAME]`` sections."""
    masking: dict[str, Any] = {}
    if "mode" in sec:
        masking["mode"] = _choice(sec, "mode", MaskMode, path)
    if "masking_range" in sec:
        key = sec["masking_range"].strip()
        if key not in _MASKING_RANGE:
            raise ConfigError(f"{path}: [sam2] masking_range must be 1, 2 or 3, got '{key}'")
        masking["mode"] = _MASKING_RANGE[key]
    for key in ("effect", "tool"):
        if key in sec:
            masking["effect"] = _choice(sec, key, Effect, path)
    for key, name in (("strength", "strength"), ("level", "strength"), ("dilate", "dilate"), ("feather", "feather")):
        if key in sec:
            masking[name] = _int(sec, key)
    if "color" in sec:
        masking["color"] = _color(sec, path)
    if class_effects:
        masking["class_effects"] = class_effects
    return masking


def _run_values(sec: configparser.SectionProxy, path: Path, base_segmenter: str) -> dict[str, Any]:
    """:class:`RedactSettings` fields set by ``[sam2]``: segmenter (also through the original
    ``segmentation_masking``), stride, tracks_space."""
    top: dict[str, Any] = {}
    if "segmenter" in sec:
        top["segmenter"] = sec["segmenter"].strip()
    if "segmentation_masking" in sec:
        val = sec["segmentation_masking"].strip().lower()
        if val not in _BOOL:
            raise ConfigError(f"{path}: [sam2] segmentation_masking must be yes or no, got '{val}'")
        if not _BOOL[val]:
            top["segmenter"] = "box"
        elif "segmenter" not in top:
            top["segmenter"] = "sam2" if "model_path" in sec else ("grabcut" if base_segmenter == "box" else base_segmenter)
    if "stride" in sec:
        top["stride"] = _int(sec, "stride")
    if "tracks_space" in sec:
        top["tracks_space"] = sec["tracks_space"].strip().lower()
    return top


def _sam2_values(sec: configparser.SectionProxy, path: Path) -> dict[str, Any]:
    """:class:`Sam2Settings` fields set by ``[sam2]``; a relative ``model_path`` is relative to
    the INI file, and names the model when ``model`` is not given."""
    sam2: dict[str, Any] = {}
    if "chunk_size" in sec:
        sam2["chunk_size"] = _int(sec, "chunk_size")
    if "input_size" in sec:
        sam2["input_size"] = _int(sec, "input_size")
    if "model_path" in sec:
        p = Path(sec["model_path"].strip())
        sam2["checkpoint"] = p if p.is_absolute() else (path.parent / p)
        implied = model_from_checkpoint(p)
        if implied is not None and "model" not in sec:
            sam2["model"] = implied
    for key in ("model", "device", "strategy", "runtime", "precision"):
        if key in sec:
            sam2[key] = sec[key].strip()
    if "crop" in sec:
        val = sec["crop"].strip().lower()
        if val not in _BOOL:
            raise ConfigError(f"{path}: [sam2] crop must be yes or no, got '{val}'")
        sam2["crop"] = _BOOL[val]
    return sam2
