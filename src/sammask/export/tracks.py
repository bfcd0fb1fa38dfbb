"""sammask tracks JSON (``--format tracks``): one box per object and frame, from its mask.

Each non-empty mask becomes a detection with ``bbox`` = the mask's tight box
(:func:`sammask.geometry.mask_bbox`), ``type`` 2 (user-selected: segmented by ``sammask
redact``), ``object`` 1 (selected), ``track_id`` = ``obj_id``; written by
:func:`sammask.tracks.jsonfmt.write_json` (format in docs/tracks-format.md), so that
``sammask redact --tracks`` can re-segment the annotated objects from their boxes.
"""

from __future__ import annotations

from typing import Any

from sammask.export.base import FrameMasksByObject, MaskWriter
from sammask.geometry import mask_bbox
from sammask.tracks import Detection, DetectionType, Tracks


class TracksWriter(MaskWriter):
    """sammask tracks JSON (module docstring); ``path`` is the ``.json`` file."""

    name = "tracks"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dets: list[Detection] = []

    def _write(self, masks: FrameMasksByObject, frame_idx: int) -> None:
        for obj_id, m in sorted(masks.items()):
            bbox = mask_bbox(m)
            if bbox is not None:
                self._dets.append(Detection(frame_idx, obj_id, bbox, DetectionType.USER_PICKED))

    def _finish(self) -> None:
        from sammask.tracks.jsonfmt import write_json

        write_json(Tracks.from_detections(self._dets), self.tmp)
