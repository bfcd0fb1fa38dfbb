"""A segmenter that serves masks made beforehand (annotated, exported) instead of computing them.

``sammask redact --masks FILE`` masks the annotated masks directly: the pipeline gets one
detection per object and frame (box = the mask's tight box, type 2) and this segmenter, which
answers each frame with the stored masks. The pipeline's fail-secure rule then applies
unchanged: a stored mask that is missing, empty or covers too little of its box is replaced by
the box, and the run report counts it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import ClassVar

import numpy as np

from sammask.errors import SegmentationError
from sammask.segmentation.base import FrameMasks, FramePrompts, Segmenter

StoredFrames = Callable[[], Iterator[tuple[int, Mapping[int, np.ndarray]]]]
"""Returns a fresh iterator of ``(frame_idx, {track_id: (H, W) bool})`` in increasing frame_idx."""


class StoredMaskSegmenter(Segmenter):
    """Serve stored masks frame by frame (reads the store in step with the video: bounded memory).

    Args:
        frames: see :data:`StoredFrames`.

    Raises:
        SegmentationError: (while segmenting) if the store is not in increasing frame order.
    """

    name: ClassVar[str] = "masks"

    def __init__(self, frames: StoredFrames) -> None:
        self._frames = frames

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Yield, for each input frame, the stored masks of its prompted tracks (None if absent)."""
        store = iter(self._frames())
        item = next(store, None)
        for fp in frames:
            while item is not None and item[0] < fp.frame_idx:
                prev = item[0]
                item = next(store, None)
                if item is not None and item[0] <= prev:
                    raise SegmentationError(f"stored masks are not in increasing frame order: frame {item[0]} after {prev}")
            masks = item[1] if item is not None and item[0] == fp.frame_idx else {}
            yield FrameMasks(fp.frame_idx, {p.track_id: masks.get(p.track_id) for p in fp.prompts})
