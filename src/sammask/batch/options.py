"""Run options of one video as the service and batch take them: the CLI's flags as a pydantic model.

``JobSettings`` is what ``POST /v1/jobs`` accepts as its ``settings`` JSON (and what the OpenAPI
schema documents) and what ``sammask batch`` builds from its flags. Every field mirrors the
``sammask redact`` option of the same name; an unset field keeps the default of
:class:`~sammask.settings.RedactSettings`. Server-side paths (``--model-path``, ``--config``) are
not accepted from clients.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sammask.masking.options import Effect, MaskMode
from sammask.segmentation.registry import SEGMENTERS
from sammask.settings import RedactSettings


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

    @field_validator("segmenter")
    @classmethod
    def _known_segmenter(cls, name: str | None) -> str | None:
        if name is not None and name not in SEGMENTERS:
            raise ValueError(f"unknown segmenter '{name}': choose one of {', '.join(sorted(SEGMENTERS))}")
        return name

    def to_redact_settings(self, base: RedactSettings | None = None) -> RedactSettings:
        """The :class:`RedactSettings` these options give on top of ``base`` (defaults when None).

        Raises:
            ConfigError: a value the settings reject (unknown preset, strategy, device...).
        """
        s = base or RedactSettings()
        return replace(
            _given(s, segmenter=self.segmenter, stride=self.stride, lenient=self.lenient or None),
            masking=_given(s.masking, mode=self.mode, effect=self.effect, strength=self.strength,
                           dilate=self.dilate, feather=self.feather),
            encode=_given(s.encode, crf=self.crf, preset=self.preset, copy_audio=False if self.no_audio else None),
            sam2=_given(s.sam2, model=self.model, device=self.device, strategy=self.strategy,
                        input_size=self.input_size, chunk_size=self.chunk_size,
                        use_previous_mask=self.use_previous_mask or None, offline=True),
        )
