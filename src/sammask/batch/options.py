"""Run options of one video as the service and batch take them: the CLI's flags as a pydantic model.

``JobSettings`` is what ``POST /v1/jobs`` accepts as its ``settings`` JSON (and what the OpenAPI
schema documents) and what ``sammask batch`` builds from its flags. Every field mirrors the
``sammask redact`` option of the same name; an unset field keeps the default of
:class:`~sammask.settings.RedactSettings`. Server-side paths (``--model-path``, ``--config``) are
not accepted from clients.

Where a video's detections come from (:class:`Source`) follows ``sammask redact``: a tracks file,
an applied-mask export, or -- with neither -- built-in detection (``detect``, default ``faces``,
which masks faces by their box unless a ``segmenter`` is given). :meth:`JobSettings.check_source`
refuses options that do not apply to the source, as the CLI does.
"""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sammask.batch.task import DetectOptions, TracksFilter
from sammask.errors import ConfigError
from sammask.geometry import TracksSpace
from sammask.masking.options import Effect, MaskMode
from sammask.segmentation.registry import SEGMENTERS
from sammask.settings import RedactSettings


class Source(str, Enum):
    """Where a video's detections come from."""

    TRACKS = "tracks"
    MASKS = "masks"
    DETECT = "detect"


# options that apply to one source only -> (the sources they apply to, the CLI flag)
_APPLIES = {
    "detect": ((Source.DETECT,), "--detect"),
    "max_gap": ((Source.DETECT,), "--max-gap"),
    "scale": ((Source.DETECT,), "--scale"),
    "min_score": ((Source.DETECT, Source.TRACKS), "--min-score"),
    "classes": ((Source.TRACKS,), "--classes"),
    "tracks_space": ((Source.TRACKS,), "--tracks-space"),
}
_WHY = {
    Source.TRACKS: "with a tracks file",
    Source.MASKS: "with a masks export (its masks are applied as given, in stored frame coordinates)",
    Source.DETECT: "with built-in detection (no tracks file)",
}
_HINT = {
    "classes": "; without tracks choose what to detect with detect, e.g. \"faces,person\" (--detect faces,person)",
    "tracks_space": "; detector boxes are found on the frames as decoded",
}


def _given(obj: Any, **values: Any) -> Any:
    given = {k: v for k, v in values.items() if v is not None}
    return replace(obj, **given) if given else obj


class JobSettings(BaseModel):
    """Options of one redaction job (all optional; names and ranges as the ``redact`` CLI flags)."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    mode: MaskMode | None = Field(None, description="What to mask: selected | unselected | background.")
    effect: Effect | None = Field(None, description="How to mask: blur | mosaic | solid.")
    strength: int | None = Field(None, ge=1, le=5, description="Effect level 1-5.")
    segmenter: str | None = Field(None, description="box | grabcut | sam2.")
    stride: int | None = Field(None, ge=1, description="Segment every k-th frame, carry masks between.")
    dilate: int | None = Field(None, ge=0, description="Safety margin around masks, pixels.")
    feather: int | None = Field(None, ge=0, description="Soft edge outside the mask, pixels.")
    crf: int | None = Field(None, ge=0, le=51, description="x264 CRF.")
    preset: str | None = Field(None, description="x264 preset.")
    no_audio: bool = Field(False, description="Drop audio instead of copying it.")
    lenient: bool = Field(False, description="Drop invalid detections (counted) instead of failing.")
    model: str | None = Field(None, description="SAM 2 model name, e.g. sam2.1_hiera_tiny.")
    device: str | None = Field(None, description="cpu | cuda | mps.")
    strategy: str | None = Field(None, description="SAM 2 strategy: image | video | baseline.")
    input_size: int | None = Field(None, description="SAM 2 input size, pixels.")
    chunk_size: int | None = Field(None, ge=1, description="Frames per chunk (baseline strategy).")
    use_previous_mask: bool = Field(False, description="SAM 2 image strategy: also prompt with the previous mask.")
    save_masks: bool = Field(False, description="Also export the applied masks (downloadable as a zip).")
    tracks_space: TracksSpace | None = Field(
        None, description="Coordinates of the tracks on a rotated clip: display (upright, as OpenCV and ffmpeg "
                          "decode it; the default) or stored (as decoded without rotation). Tracks only.")
    detect: str | None = Field(
        None, description="Without tracks or masks: what to detect and track, e.g. faces | faces,person | hub:ID | text:license plate,face "
                          "(default faces; faces alone are masked by their box unless a segmenter is given).")
    min_score: float | None = Field(
        None, ge=0.0, le=1.0, description="Detection score threshold (default faces 0.2); with tracks: drop "
                                          "detections scoring less.")
    max_gap: int | None = Field(None, ge=0, description="Detection: mask a track through detector misses up to "
                                                        "this many frames (default 10).")
    scale: str | None = Field(None, description="Detection: face inference size WxH, e.g. 960x540 (default: full frame).")
    classes: str | None = Field(None, description="With tracks: mask only these classes, e.g. face,car "
                                                  "(detections without a class are kept).")

    @field_validator("segmenter")
    @classmethod
    def _known_segmenter(cls, name: str | None) -> str | None:
        if name is not None and name not in SEGMENTERS:
            raise ValueError(f"unknown segmenter '{name}': choose one of {', '.join(sorted(SEGMENTERS))}")
        return name

    @field_validator("detect")
    @classmethod
    def _parsed_detect(cls, spec: str | None) -> str | None:
        if spec is not None:
            from sammask.detection.command import faces_only

            faces_only(spec)  # raises ConfigError (a ValueError) on a malformed spec
        return spec

    @field_validator("scale")
    @classmethod
    def _parsed_scale(cls, text: str | None) -> str | None:
        if text is not None:
            from sammask.detection.faces import parse_scale

            parse_scale(text)
        return text

    @field_validator("classes")
    @classmethod
    def _parsed_classes(cls, text: str | None) -> str | None:
        if text is not None:
            from sammask.tracks.filters import parse_classes

            parse_classes(text)
        return text

    def check_source(self, source: Source) -> None:
        """Refuse options that do not apply to ``source`` (as ``sammask redact`` does).

        Raises:
            ConfigError: naming the option (field and CLI flag) and where it applies.
        """
        for name, (sources, flag) in _APPLIES.items():
            if getattr(self, name) is not None and source not in sources:
                where = " or ".join(_WHY[s] for s in sources)
                raise ConfigError(f"{name} ({flag}) applies {where} only, not {_WHY[source]}{_HINT.get(name, '')}")

    def detect_options(self) -> DetectOptions:
        """The built-in detection these options ask for (``detect`` or ``faces``)."""
        from sammask.detection.faces import parse_scale

        return DetectOptions(spec=self.detect or "faces", min_score=self.min_score, max_gap=self.max_gap,
                             scale=parse_scale(self.scale) if self.scale else None)

    def tracks_filter(self) -> TracksFilter | None:
        """The class / score filter on a tracks file, or None when neither is set."""
        if self.classes is None and self.min_score is None:
            return None
        from sammask.tracks.filters import parse_classes

        return TracksFilter(classes=parse_classes(self.classes), min_score=self.min_score)

    def to_redact_settings(self, base: RedactSettings | None = None, source: Source = Source.TRACKS) -> RedactSettings:
        """The :class:`RedactSettings` these options give on top of ``base`` (defaults when None).

        With ``source`` :attr:`Source.DETECT` and faces-only detection, an unset ``segmenter``
        is ``box`` (as ``sammask redact`` without ``--tracks``).

        Raises:
            ConfigError: a value the settings reject (unknown preset, strategy, device...).
        """
        s = base or RedactSettings()
        segmenter = self.segmenter
        if segmenter is None and source is Source.DETECT:
            from sammask.detection.command import faces_only

            segmenter = "box" if faces_only(self.detect or "faces") else None
        return replace(
            _given(s, segmenter=segmenter, stride=self.stride, lenient=self.lenient or None,
                   tracks_space=self.tracks_space),
            masking=_given(s.masking, mode=self.mode, effect=self.effect, strength=self.strength,
                           dilate=self.dilate, feather=self.feather),
            encode=_given(s.encode, crf=self.crf, preset=self.preset, copy_audio=False if self.no_audio else None),
            sam2=_given(s.sam2, model=self.model, device=self.device, strategy=self.strategy,
                        input_size=self.input_size, chunk_size=self.chunk_size,
                        use_previous_mask=self.use_previous_mask or None, offline=True),
        )
