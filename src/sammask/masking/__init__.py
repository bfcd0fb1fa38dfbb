"""Masking: modes and options, mask rules (fail-secure, dilation), effects and frame composition.

Importing this package does no work and imports no OpenCV (it is imported lazily on first use).
"""

from sammask.masking.compose import ComposeResult, ObjectRegion, compose
from sammask.masking.effects import (
    apply_effect,
    blur,
    blur_sigma_px,
    effect_margin_px,
    frame_object_size_px,
    mosaic,
    mosaic_cell_px,
    object_size_px,
    solid,
)
from sammask.masking.options import ClassEffect, Effect, EffectSpec, MaskingOptions, MaskMode
from sammask.masking.rules import (
    FailSecureReason,
    box_coverage,
    clip_to_box,
    dilate_mask,
    secure_mask,
)

__all__ = [
    "ClassEffect",
    "ComposeResult",
    "Effect",
    "EffectSpec",
    "FailSecureReason",
    "MaskMode",
    "MaskingOptions",
    "ObjectRegion",
    "apply_effect",
    "blur",
    "blur_sigma_px",
    "box_coverage",
    "clip_to_box",
    "compose",
    "dilate_mask",
    "effect_margin_px",
    "frame_object_size_px",
    "mosaic",
    "mosaic_cell_px",
    "object_size_px",
    "secure_mask",
    "solid",
]
