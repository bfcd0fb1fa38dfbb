"""The annotation backend interface: a mask from prompts on one frame, and propagation.

A backend is two methods. :meth:`AnnotateBackend.predict` turns the prompts of one object on one
frame (and the object's current mask there, for corrections) into a mask;
:meth:`AnnotateBackend.propagate` carries the masks of the objects on a start frame through a
stream of frames in one direction. The :class:`~sammask.annotate.Session` owns prompts, masks,
undo and cancellation; backends may keep model state (SAM 2's memory bank) between calls and
are told to forget it with :meth:`forget` and :meth:`reset`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import ClassVar

import numpy as np

from sammask.annotate.types import ObjectPrompt

FrameGetter = Callable[[int], np.ndarray]
"""``frame_idx -> (H, W, 3) uint8 RGB frame`` (lazy, cached by the session's frame source)."""


class AnnotateBackend(ABC):
    """Base class of annotation backends (``classical``, ``sam2``)."""

    name: ClassVar[str] = "base"
    stateful: ClassVar[bool] = False
    """True when the backend keeps prompt memory (the session replays prompts after undo)."""

    def bind(self, frames: FrameGetter, num_frames: int, shape: tuple[int, int]) -> None:
        """Attach the backend to a video (called once by :meth:`Session.open`).

        Args:
            frames: lazy frame getter.
            num_frames: frames in the video.
            shape: ``(H, W)`` of the frames in pixels.
        """
        self.get_frame = frames
        self.num_frames = int(num_frames)
        self.shape = (int(shape[0]), int(shape[1]))

    @abstractmethod
    def predict(self, frame_idx: int, obj_id: int, prompt: ObjectPrompt, current: np.ndarray | None) -> np.ndarray:
        """The object's mask on ``frame_idx`` from all of its prompts on that frame.

        Args:
            frame_idx: 0-based frame index.
            obj_id: the object (>= 0).
            prompt: every point/label and the box given for the object on this frame.
            current: the object's (H, W) bool mask on this frame before the prompt (propagated
                or earlier prompts), or None.

        Returns:
            (H, W) bool mask.

        Raises:
            SegmentationError: if the backend fails.
        """

    @abstractmethod
    def propagate(
        self,
        start: int,
        frame_indices: Iterable[int],
        start_masks: Mapping[int, np.ndarray],
        anchors: Callable[[int], dict[int, np.ndarray]],
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """Carry the objects' masks from ``start`` through ``frame_indices`` (one direction).

        Args:
            start: the frame the masks are on.
            frame_indices: the following frames in order (``start + 1, start + 2, ...`` or
                ``start - 1, start - 2, ...``); consumed lazily, the caller may stop at any time.
            start_masks: ``obj_id -> (H, W) bool`` masks on ``start`` (the objects to carry).
            anchors: ``frame_idx -> {obj_id: (H, W) bool}``, the masks of objects *prompted* on
                that frame: the session keeps those, and propagation continues from them.

        Yields:
            ``(frame_idx, {obj_id: (H, W) bool mask})`` for each frame of ``frame_indices``.

        Raises:
            SegmentationError: if the backend fails.
        """

    def forget(self, obj_id: int) -> None:
        """Drop any state held for ``obj_id`` (object removed)."""

    def reset(self) -> None:
        """Drop all state (session reset, or undo: the session replays the remaining prompts)."""

    def close(self) -> None:
        """Release models and memory. Safe to call twice."""
