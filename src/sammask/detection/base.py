"""The detector interface: one RGB image in, :class:`FrameDetections` out.

A detector is one method, :meth:`Detector.detect`. Backends (``faces``: CenterFace via
onnxruntime; ``hub``: transformers object detectors) are built explicitly from their options
dataclass and passed in; nothing is loaded at import.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from sammask.errors import DetectionError


@dataclass(frozen=True, slots=True)
class FrameDetections:
    """The boxes a detector found on one image (no track ids yet).

    Not to be confused with :class:`sammask.tracks.types.Detection`, one tracked object's box on
    one frame of a tracks file: a tracker turns these into those.

    Attributes:
        xyxy: (N, 4) float32 boxes ``x1, y1, x2, y2`` in pixels of the input image, ``x2 > x1``,
            ``y2 > y1``, clipped to the image.
        scores: (N,) float32 confidences in [0, 1].
        class_names: N class names (``"face"``, ``"person"``, ``"car"``...), one per box.

    Raises:
        DetectionError: on mismatched lengths, a wrong shape, non-finite values, an empty or
            inverted box, or a score outside [0, 1].
    """

    xyxy: np.ndarray
    scores: np.ndarray
    class_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4) if np.size(self.xyxy) else np.zeros((0, 4), np.float32)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        n = len(xyxy)
        if len(scores) != n or len(self.class_names) != n:
            raise DetectionError(
                f"FrameDetections needs as many scores and class names as boxes: {n} boxes, "
                f"{len(scores)} scores, {len(self.class_names)} class names"
            )
        if n and not (np.isfinite(xyxy).all() and np.isfinite(scores).all()):
            raise DetectionError("FrameDetections boxes and scores must be finite")
        if n and ((xyxy[:, 2] <= xyxy[:, 0]).any() or (xyxy[:, 3] <= xyxy[:, 1]).any()):
            raise DetectionError("FrameDetections boxes must have x2 > x1 and y2 > y1 (xyxy pixels)")
        if n and ((scores < 0).any() or (scores > 1).any()):
            raise DetectionError("FrameDetections scores must be in [0, 1]")

    @classmethod
    def empty(cls) -> FrameDetections:
        """No boxes."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), ())

    def __len__(self) -> int:
        return len(self.xyxy)

    def filter(self, *, min_score: float = 0.0, classes: Iterable[str] | None = None) -> FrameDetections:
        """The boxes with ``score >= min_score`` and (when given) a class in ``classes``."""
        keep = self.scores >= min_score
        if classes is not None:
            wanted = set(classes)
            keep &= np.array([c in wanted for c in self.class_names], dtype=bool)
        idx = np.flatnonzero(keep)
        return FrameDetections(self.xyxy[idx], self.scores[idx], tuple(self.class_names[i] for i in idx))

    @classmethod
    def concat(cls, parts: Iterable[FrameDetections]) -> FrameDetections:
        """All boxes of several :class:`FrameDetections` (e.g. of two detectors), in order."""
        parts = list(parts)
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.scores for p in parts]),
            tuple(c for p in parts for c in p.class_names),
        )


def valid_boxes(xyxy: np.ndarray) -> np.ndarray:
    """(N,) bool: boxes with positive width and height (after clipping)."""
    return (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])


def check_image(image: np.ndarray) -> None:
    """Check that ``image`` is an (H, W, 3) uint8 RGB array.

    Raises:
        DetectionError: otherwise (names the shape and dtype it got).
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise DetectionError(f"a detector takes an (H, W, 3) uint8 RGB image, got {got}")


class Detector(ABC):
    """Base class of all detectors.

    Subclasses set :attr:`name` and :attr:`classes` and implement :meth:`detect`. Models are
    built in ``__init__`` from explicit arguments and released in :meth:`close`; use the
    detector as a context manager.
    """

    name: ClassVar[str] = "base"
    classes: tuple[str, ...] = ()
    """Class names this detector can report."""

    @abstractmethod
    def detect(self, image: np.ndarray) -> FrameDetections:
        """Find objects on one image.

        Args:
            image: (H, W, 3) uint8 RGB. Not modified.

        Returns:
            :class:`FrameDetections` in the image's pixel coordinates, clipped to it.

        Raises:
            DetectionError: the image is not (H, W, 3) uint8.
        """

    def close(self) -> None:
        """Release model resources (default: nothing)."""

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
