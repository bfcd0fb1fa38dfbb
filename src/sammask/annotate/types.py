"""Typed prompts and results of the annotator (points, boxes, directions, progress)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from sammask.errors import ConfigError
from sammask.geometry import BBox


class Direction(str, Enum):
    """Which way :meth:`sammask.annotate.Session.propagate` goes from its start frame."""

    FORWARD = "forward"
    BACKWARD = "backward"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class ObjectPrompt:
    """All the clicks and the box given for one object on one frame.

    SAM 2 semantics: points accumulate on a frame (a new click refines the mask of the earlier
    ones); a new box replaces the frame's box; a mask prompt (SAM 2's ``add_new_mask``, the UI's
    brush / eraser, an imported COCO or PNG mask) replaces the frame's points and box.

    Attributes:
        points: (N, 2) float64 ``(x, y)`` pixel coordinates, N >= 0 (pixel ``(r, c)`` covers
            ``[c, c + 1) x [r, r + 1)``, so its centre is ``(c + 0.5, r + 0.5)``).
        labels: (N,) int64, 1 = positive (object), 0 = negative (not the object).
        box: ``(x1, y1, x2, y2)`` float pixels, or None.
        mask: (H, W) bool mask given as the object's mask on the frame, or None.

    Raises:
        ConfigError: on mismatched or non-finite points, labels other than 0/1, an empty box,
            a mask that is not 2-D, or no points, box nor mask.
    """

    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float64))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    box: BBox | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float64).reshape(-1, 2)
        labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if len(pts) != len(labels):
            raise ConfigError(f"got {len(pts)} points but {len(labels)} labels; give one label (1/0) per point")
        if not np.isfinite(pts).all():
            raise ConfigError("points must be finite (x, y) pixel coordinates")
        if not np.isin(labels, (0, 1)).all():
            raise ConfigError(f"point labels must be 1 (positive) or 0 (negative), got {sorted(set(labels.tolist()))}")
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "labels", labels)
        if self.box is not None:
            box = tuple(float(v) for v in self.box)
            if len(box) != 4 or not all(math.isfinite(v) for v in box) or box[2] <= box[0] or box[3] <= box[1]:
                raise ConfigError(f"box must be (x1, y1, x2, y2) pixels with x2 > x1 and y2 > y1, got {self.box}")
            object.__setattr__(self, "box", box)
        if self.mask is not None:
            m = np.asarray(self.mask)
            if m.ndim != 2:
                raise ConfigError(f"a mask prompt must be an (H, W) array, got shape {m.shape}")
            object.__setattr__(self, "mask", m.astype(bool, copy=True))
        if len(pts) == 0 and self.box is None and self.mask is None:
            raise ConfigError("a prompt needs at least one point, a box or a mask")

    @property
    def positive(self) -> np.ndarray:
        """(P, 2) the positive points."""
        return self.points[self.labels == 1]

    @property
    def negative(self) -> np.ndarray:
        """(Q, 2) the negative points."""
        return self.points[self.labels == 0]

    def with_points(self, points: np.ndarray, labels: np.ndarray) -> ObjectPrompt:
        """This prompt with more points appended."""
        return ObjectPrompt(
            np.concatenate([self.points, np.asarray(points, np.float64).reshape(-1, 2)]),
            np.concatenate([self.labels, np.asarray(labels, np.int64).reshape(-1)]),
            self.box,
            self.mask,
        )

    def with_box(self, box: BBox) -> ObjectPrompt:
        """This prompt with its box replaced (a mask prompt on the frame is dropped)."""
        return ObjectPrompt(self.points, self.labels, box)


ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each propagated frame (``done`` counts frames)."""
