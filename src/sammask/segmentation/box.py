"""Box segmenter: the mask of a track is its box (the original system's rectangle behaviour).

Used when segmentation is off (``segmentation_masking = no``), as the fail-secure fallback, and as
the baseline the other segmenters are compared against.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


from sammask.segmentation.base import FrameMasks, FramePrompts, Segmenter
from sammask.geometry import box_mask


class BoxSegmenter(Segmenter):
    """Segmenter whose mask for each prompt is the prompt's box (rectangle masking).

    Every prompted track gets :func:`box_mask` of its box; frames without prompts get an empty
    :class:`FrameMasks`. No image work is done (only the masks are allocated). Reads no frame
    ahead.
    """

    name = "box"

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Yield one :class:`FrameMasks` per input frame, in order.

        Args:
            frames: :class:`FramePrompts` with (H, W, 3) uint8 RGB images.

        Yields:
            :class:`FrameMasks` with ``masks[track_id]`` an (H, W) bool box mask for every
            prompt (no scores: a box is not a prediction).
        """
        for fp in frames:
            shape = fp.image.shape[:2]
            out = FrameMasks(frame_idx=fp.frame_idx)
            for prompt in fp.prompts:
                out.masks[prompt.track_id] = box_mask(prompt.bbox, shape)
            yield out
