"""The image room's functions: :func:`segment`, :func:`segment_everything`, :func:`cutout`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sammask.errors import ConfigError
from sammask.image.backend import ImageBackend, check_rgb
from sammask.image.types import Candidate, ImageMask, Prompt

__all__ = ["cutout", "segment", "segment_everything"]


def segment(image: np.ndarray, backend: ImageBackend, prompt: Prompt, *, multimask: bool = True) -> list[Candidate]:
    """Masks of one object from points, labels, a box and/or a mask prompt.

    Args:
        image: (H, W, 3) uint8 RGB, upright (as :func:`~sammask.image.load.load_image` gives).
        backend: :class:`~sammask.image.classical.ClassicalBackend` or
            :class:`~sammask.image.sam2.Sam2ImageBackend`.
        prompt: :class:`~sammask.image.types.Prompt` in pixels of ``image``.
        multimask: several candidates (SAM 2: 3) instead of one.

    Returns:
        Candidates ``(mask (H, W) bool, score in [0, 1])``, best first.

    Raises:
        ConfigError: bad image, or the prompt is outside it.
        SegmentationError: the backend failed.
    """
    backend.set_image(check_rgb(image))
    return backend.predict(prompt, multimask=multimask)


def segment_everything(image: np.ndarray, backend: ImageBackend, options: Any | None = None) -> list[ImageMask]:
    """Every mask the backend finds without prompts ("segment everything").

    Args:
        image: (H, W, 3) uint8 RGB.
        backend: the backend; ``options`` is its own options dataclass
            (:class:`~sammask.image.classical.FelzenszwalbOptions` /
            :class:`~sammask.image.sam2.EverythingOptions`), None for its defaults.

    Returns:
        :class:`~sammask.image.types.ImageMask` list (mask, bbox xyxy, area, predicted IoU,
        stability), largest first.

    Raises:
        ConfigError: bad image or options of another backend.
        SegmentationError: the backend failed.
    """
    return backend.everything(check_rgb(image), options)


def cutout(image: np.ndarray, masks: Sequence[np.ndarray], *, background: np.ndarray | None = None) -> np.ndarray:
    """The union of ``masks`` cut out of ``image``.

    Args:
        image: (H, W, 3) uint8 RGB.
        masks: (H, W) bool masks (at least one); their union is kept.
        background: None -> an RGBA result whose alpha is 255 on the union and 0 elsewhere (RGB
            kept everywhere); else an (H, W, 3) uint8 image that replaces the pixels outside the
            union (RGB result, e.g. a solid colour, a blurred copy or another photo).

    Returns:
        (H, W, 4) uint8 RGBA, or (H, W, 3) uint8 RGB with ``background``.

    Raises:
        ConfigError: no mask, or a mask / background of another size.
    """
    image = check_rgb(image)
    h, w = image.shape[:2]
    if not masks:
        raise ConfigError("a cut-out needs at least one mask")
    union = np.zeros((h, w), bool)
    for m in masks:
        m = np.asarray(m)
        if m.shape != (h, w):
            raise ConfigError(f"mask is {m.shape}, the image is {(h, w)}")
        union |= m.astype(bool)
    if background is None:
        return np.dstack([image, union.astype(np.uint8) * 255])
    bg = np.asarray(background)
    if bg.shape != image.shape or bg.dtype != np.uint8:
        raise ConfigError(f"background must be {image.shape} uint8, got {bg.shape} {bg.dtype}")
    return np.where(union[:, :, None], image, bg)
