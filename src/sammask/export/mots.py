"""MOTS text (``--format mots``), the MOTSChallenge / KITTI MOTS layout TrackEval reads.

One line per object and frame::

    <time_frame> <id> <class_id> <img_height> <img_width> <rle>

``time_frame`` is **1-based** (MOTSChallenge; KITTI MOTS counts from 0: subtract 1),
``id`` the ``obj_id``, ``class_id`` 2 (pedestrian: the class TrackEval's MOTSChallenge benchmark
scores), ``rle`` the COCO compressed RLE string of the mask. MOTS forbids overlapping masks
(TrackEval stops with "Tracker has overlapping masks"), so overlaps are resolved by the z-order of
:func:`sammask.export.base.z_order`: the smaller object wins the shared pixels. Source: Voigtlaender
et al., "MOTS: Multi-Object Tracking and Segmentation", CVPR 2019; TrackEval
``trackeval/datasets/mots_challenge.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sammask.errors import ExportError, InputFileError
from sammask.export.base import FrameMasksByObject, MaskFrame, MaskSource, MaskWriter, exclusive_masks
from sammask.export.rle import mask_to_rle, rle_to_mask

CLASS_ID = 2


class MotsWriter(MaskWriter):
    """MOTS txt (module docstring); ``path`` is the ``.txt`` file."""

    name = "mots"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fh = self.tmp.open("w", encoding="utf-8", newline="\n")

    def _write(self, masks: FrameMasksByObject, frame_idx: int) -> None:
        for obj_id, m in sorted(exclusive_masks(masks).items()):
            rle = mask_to_rle(m)
            self._fh.write(f"{frame_idx + 1} {obj_id} {CLASS_ID} {self.height} {self.width} {rle['counts']}\n")

    def _finish(self) -> None:
        self._fh.close()

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        super().abort()


def read_mots(path: Path) -> MaskSource:
    """Read a MOTS txt file (1-based ``time_frame``; see the module docstring).

    Raises:
        InputFileError: if the file is missing.
        ExportError: on a malformed line or a size change.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"masks file not found: {path}")
    rows: list[tuple[int, int, int, int, str]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(" ")
        try:
            t, obj, _cls, h, w = (int(v) for v in parts[:5])
            rows.append((t - 1, obj, h, w, parts[5]))
        except (ValueError, IndexError):
            raise ExportError(f"{path} line {n}: expected 'time_frame id class_id height width rle'") from None
    sizes = {(h, w) for _, _, h, w, _ in rows}
    if len(sizes) > 1:
        raise ExportError(f"{path}: masks of {len(sizes)} sizes; a video's masks have one size")
    if not sizes:
        raise ExportError(f"{path}: no masks")
    height, width = sizes.pop()

    def frames() -> Iterator[MaskFrame]:
        by_frame: dict[int, dict[int, Any]] = {}
        for t, obj, h, w, counts in rows:
            by_frame.setdefault(t, {})[obj] = rle_to_mask({"size": [h, w], "counts": counts})
        for t in sorted(by_frame):
            yield MaskFrame(t, by_frame[t])

    return MaskSource(path, "mots", width, height, frames)
