"""The image-backend interface: one image, prompts in, candidate masks out; "everything".

A backend is built explicitly and passed in (no singletons). :meth:`ImageBackend.set_image`
prepares an image once (SAM 2: runs the image encoder); :meth:`ImageBackend.predict` answers
prompts on it; :meth:`ImageBackend.everything` segments the whole image.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from sammask.errors import ConfigError
from sammask.image.types import Candidate, ImageMask, Prompt


def check_rgb(image: np.ndarray) -> np.ndarray:
    """Return ``image`` if it is an (H, W, 3) uint8 RGB array.

    Raises:
        ConfigError: otherwise (names the shape and dtype it got).
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ConfigError(f"image tools take an (H, W, 3) uint8 RGB image, got {got}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ConfigError(f"image is empty: {image.shape}")
    return image


class ImageBackend(ABC):
    """Base class of the image backends (``classical``, ``sam2``)."""

    name: ClassVar[str] = "base"

    def __init__(self) -> None:
        self._image: np.ndarray | None = None

    def set_image(self, image: np.ndarray) -> None:
        """Prepare ``image`` ((H, W, 3) uint8 RGB, upright) for :meth:`predict`.

        Raises:
            ConfigError: not an (H, W, 3) uint8 array.
        """
        self._image = check_rgb(image)

    @property
    def image(self) -> np.ndarray:
        """The image set last.

        Raises:
            ConfigError: no image set yet.
        """
        if self._image is None:
            raise ConfigError("no image set: call set_image(image) first")
        return self._image

    @abstractmethod
    def predict(self, prompt: Prompt, *, multimask: bool = True) -> list[Candidate]:
        """Candidate masks for one object on the image set last, best first.

        Args:
            prompt: points / labels / box / mask in upright pixels of that image.
            multimask: several candidates (SAM: 3, for ambiguous single clicks) instead of one.

        Returns:
            1 or more :class:`Candidate`, sorted by score (highest first).

        Raises:
            ConfigError: the prompt lies outside the image.
            SegmentationError: the backend failed.
        """

    @abstractmethod
    def everything(self, image: np.ndarray, options: Any | None = None) -> list[ImageMask]:
        """Segment the whole image into masks (no prompt).

        Args:
            image: (H, W, 3) uint8 RGB.
            options: the backend's own options dataclass, or None for its defaults.

        Returns:
            :class:`ImageMask` list, largest area first.
        """

    def close(self) -> None:
        """Release model resources (default: nothing)."""

    def __enter__(self) -> ImageBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
