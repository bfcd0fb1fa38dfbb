"""Run options of one video as the service and batch take them: the CLI's flags as a pydantic model.

``JobSettings`` is what ``POST /v1/jobs`` accepts as its ``settings`` JSON (and what the OpenAPI
schema documents) and what ``sammask batch`` builds from its flags. Every field mirrors the
``sammask redact`` option of the same name; an unset field keeps the default of
:class:`~sammask.settings.RedactSettings`. Server-side paths (``--model-path``, ``--config``) are
not accepted from clients.

Where a video's detections come from (:class:`Source`) follows ``sammask redact``: a tracks file,
stored masks (COCO, MOTS, PNG id maps, an applied-mask export), or -- with neither -- built-in detection (``detect``, default ``faces``,
which masks faces by their box unless a ``segmenter`` is given). :meth:`JobSettings.check_source`
refuses options that do not apply to the source, as the CLI does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sammask.batch.task import DetectOptions, TracksFilter
from sammask.geometry import TracksSpace
from sammask.masking.options import Effect, MaskMode
from sammask.segmentation.registry import SEGMENTERS
from sammask.settings import RedactSettings
from sammask.spec.options import Source, check_sources, opt
from sammask.spec.run import RunSpec, given_names

__all__ = ["JobSettings", "Source"]


def _given(obj: Any, **values: Any) -> Any:
    given = {k: v for k, v in values.items() if v is not None}
    return replace(obj, **given) if given else obj


class JobSettings(BaseModel):
    """Options of one redaction job (all optional; names and ranges as the ``redact`` CLI flags)."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    mode: MaskMode | None = opt("mode").field()
    effect: Effect | None = opt("effect").field()
    strength: int | None = opt("strength").field()
    segmenter: str | None = opt("segmenter").field()
    stride: int | None = opt("stride").field()
    dilate: int | None = opt("dilate").field()
    feather: int | None = opt("feather").field()
    crf: int | None = opt("crf").field()
    preset: str | None = opt("preset").field()
    no_audio: bool = opt("no_audio").field(default=False)
    lenient: bool = opt("lenient").field(default=False)
    model: str | None = opt("model").field()
    device: str | None = opt("device").field()
    strategy: str | None = opt("strategy").field()
    input_size: int | None = opt("input_size").field()
    chunk_size: int | None = opt("chunk_size").field()
    use_previous_mask: bool = opt("use_previous_mask").field(default=False)
    save_masks: bool = Field(False, description="Also export the applied masks (downloadable as a zip).")
    tracks_space: TracksSpace | None = opt("tracks_space").field()
    detect: str | None = opt("detect").field()
    min_score: float | None = opt("min_score").field()
    max_gap: int | None = opt("max_gap").field()
    scale: str | None = opt("scale").field()
    classes: str | None = opt("classes").field()
    masks_any_video: bool = opt("masks_any_video").field(default=False)

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
            from sammask.detection.video import faces_only

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

    def given(self) -> frozenset[str]:
        """Names of the options set (not None, not False)."""
        return given_names(**{name: getattr(self, name) for name in type(self).model_fields})

    def check_source(self, source: Source) -> None:
        """Refuse options that do not apply to ``source`` (as ``sammask redact`` does).

        Raises:
            ConfigError: naming the option (field and CLI flag) and where it applies.
        """
        check_sources(self.given(), source)

    def run_spec(self, source: Source, base: RedactSettings | None = None, **paths: Any) -> RunSpec:
        """The :class:`~sammask.spec.RunSpec` of a run with these options (``paths``: its files).

        Raises:
            ConfigError: a value the settings reject (unknown preset, strategy, device...).
        """
        return RunSpec(
            command=paths.pop("command", "service"),
            source=source,
            given=self.given(),
            settings=self.to_redact_settings(base, source=source),
            **paths,
        )

    def detect_options(self) -> DetectOptions:
        """The built-in detection these options ask for (``detect`` or ``faces``)."""
        from sammask.detection.faces import parse_scale

        return DetectOptions(
            spec=self.detect or "faces",
            min_score=self.min_score,
            max_gap=self.max_gap,
            scale=parse_scale(self.scale) if self.scale else None,
        )

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
            from sammask.detection.video import faces_only

            segmenter = "box" if faces_only(self.detect or "faces") else None
        return replace(
            _given(s, segmenter=segmenter, stride=self.stride, lenient=self.lenient or None, tracks_space=self.tracks_space),
            masking=_given(s.masking, mode=self.mode, effect=self.effect, strength=self.strength, dilate=self.dilate, feather=self.feather),
            encode=_given(s.encode, crf=self.crf, preset=self.preset, copy_audio=False if self.no_audio else None),
            sam2=_given(
                s.sam2,
                model=self.model,
                device=self.device,
                strategy=self.strategy,
                input_size=self.input_size,
                chunk_size=self.chunk_size,
                use_previous_mask=self.use_previous_mask or None,
                offline=True,
            ),
        )
