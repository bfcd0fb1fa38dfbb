"""Per-frame PNG id maps (``--format png``): ``DIR/00000.png`` ... one per video frame.

Each PNG is single-channel **uint16** (so up to 65535 objects): the ``obj_id`` of the object
at each pixel, 0 = none (so ``obj_id`` 0 cannot be written: ids must be 1..65535). Where objects
overlap the smaller one wins (:func:`sammask.export.base.z_order`). Every frame of the stream
gets a file, also frames without masks (all zeros). Read with ``cv2.imread(p, cv2.IMREAD_UNCHANGED)``
or Pillow (mode ``I;16``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sammask.errors import ExportError, InputFileError
from sammask.export.base import read_video_record, FrameMasksByObject, MaskFrame, MaskSource, MaskWriter, z_order

MAX_ID = 65535


class PngWriter(MaskWriter):
    """uint16 PNG id maps (module docstring); ``path`` is the folder."""

    name = "png"
    is_dir = True

    def _write(self, masks: FrameMasksByObject, frame_idx: int) -> None:
        import cv2

        ids = np.zeros((self.height, self.width), np.uint16)
        for obj_id in z_order(masks):
            if not 1 <= obj_id <= MAX_ID:
                raise ExportError(f"PNG id maps hold obj_id 1..{MAX_ID}; got {obj_id} (renumber the objects)")
            ids[masks[obj_id]] = obj_id
        out = self.tmp / f"{frame_idx:05d}.png"
        if not cv2.imwrite(str(out), ids):
            raise ExportError(f"could not write {out}: check the folder is writable")


def read_png(path: Path) -> MaskSource:
    """Read a folder of id-map PNGs (``%05d.png``, uint8 or uint16, 0 = none).

    Raises:
        InputFileError: if the folder is missing or holds no PNG.
        ExportError: on an unreadable or multi-channel PNG or a size change.
    """
    import cv2

    path = Path(path)
    files = sorted(path.glob("*.png")) if path.is_dir() else []
    if not files:
        raise InputFileError(f"no PNG id maps in {path}")
    first = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
    if first is None or first.ndim != 2:
        raise ExportError(f"{files[0]}: not a single-channel id map")
    height, width = first.shape

    def frames() -> Iterator[MaskFrame]:
        for f in files:
            try:
                frame_idx = int(f.stem)
            except ValueError:
                raise ExportError(f"{f}: id maps are named by frame index (00000.png)") from None
            ids = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
            if ids is None or ids.ndim != 2 or ids.shape != (height, width):
                raise ExportError(f"{f}: unreadable, multi-channel or of another size than {width}x{height}")
            yield MaskFrame(frame_idx, {int(o): ids == o for o in np.unique(ids) if o != 0})

    return MaskSource(path, "png", width, height, frames, video=read_video_record(path))
