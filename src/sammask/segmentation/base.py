"""The segmenter interface: frames and per-frame box prompts in, per-track masks out.

A segmenter is one streaming method, :meth:`Segmenter.segment`. The pipeline feeds it
:class:`FramePrompts` lazily from the decoder and receives one :class:`FrameMasks` per frame, in
order. A segmenter may read ahead a bounded number of frames (it must never hold the whole video).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from sammask.tracks.types import BBox


@dataclass(frozen=True, slots=True)
class TrackPrompt:
    """A box prompt for one track on one frame.

    Attributes:
        track_id: the track (SAM 2 calls it ``obj_id``).
        bbox: ``(x1, y1, x2, y2)`` float pixels, already clipped to the frame.
    """

    track_id: int
    bbox: BBox


@dataclass(slots=True)
class FramePrompts:
    """One decoded frame and the tracks to segment on it.

    Attributes:
        frame_idx: 0-based frame index in decode order.
        image: (H, W, 3) uint8 RGB frame. Segmenters must not modify it in place.
        prompts: one :class:`TrackPrompt` per track to segment on this frame (may be empty).
    """

    frame_idx: int
    image: np.ndarray
    prompts: list[TrackPrompt] = field(default_factory=list)


@dataclass(slots=True)
class FrameMasks:
    """Masks a segmenter produced for one frame.

    Attributes:
        frame_idx: the frame index of the :class:`FramePrompts` this answers.
        masks: ``track_id -> (H, W) bool`` mask for every prompted track. A missing key or a
            ``None`` value means the segmenter has no mask for that track on this frame; the
            pipeline then masks the track's box (fail-secure) and counts it.
        scores: optional ``track_id -> float`` quality score in [0, 1] (e.g. SAM 2 predicted IoU).
    """

    frame_idx: int
    masks: dict[int, np.ndarray | None] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)


class Segmenter(ABC):
    """Base class of all segmenters (box, grabcut, sam2, ...).

    Subclasses set :attr:`name` and implement :meth:`segment`. Resources (models, threads) are
    built in ``__init__`` from explicit arguments and released in :meth:`close`; use the
    segmenter as a context manager.
    """

    name: ClassVar[str] = "base"

    @abstractmethod
    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Segment a stream of frames.

        Args:
            frames: :class:`FramePrompts` in increasing ``frame_idx`` order (frames without
                prompts are included, so temporal segmenters see every frame).

        Yields:
            Exactly one :class:`FrameMasks` per input item, in the same order. Masks are
            (H, W) bool with the frame's size.

        Raises:
            SegmentationError: (or any exception) on failure; the pipeline then masks boxes for
                the remaining frames and records the failure in the run report.
        """

    def close(self) -> None:
        """Release resources. Safe to call twice."""

    def __enter__(self) -> Segmenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
