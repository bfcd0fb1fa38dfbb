"""YOLO segmentation dataset (``--format yolo``): frames, polygon labels and ``data.yaml``.

Layout (Ultralytics YOLO-seg, https://docs.ultralytics.com/datasets/segment/)::

    DIR/data.yaml          path: ., train: images, val: images, names: {0: object}
    DIR/images/00000.jpg   the video frame (JPEG quality 95), for every frame with masks
    DIR/labels/00000.txt   one line per polygon: "0 x1 y1 x2 y2 ..." normalised to [0, 1]

Each object's mask becomes one polygon per outer contour (``cv2.findContours``,
``RETR_EXTERNAL``, simplified with ``cv2.approxPolyDP`` at ``epsilon`` = 0.5 pixel; contours of
fewer than 3 points, i.e. objects of 1-2 pixels, are dropped); holes are not represented (YOLO-seg
has none). Vertex ``(c, r)`` of a contour (a pixel index) is written at the pixel centre
``((c + 0.5) / W, (r + 0.5) / H)``. Class 0 for every object (YOLO classes are categories, not
instances; the ``obj_id`` is not kept: use COCO or MOTS for instance ids).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sammask.errors import ExportError
from sammask.export.base import FrameMasksByObject, MaskWriter
from sammask.geometry import polygon_mask

EPSILON = 0.5


def mask_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """Outer contours of an (H, W) bool mask as (K, 2) float ``(x, y)`` pixel-centre polygons."""
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = []
    for c in contours:
        if len(c) < 3:
            continue
        approx = cv2.approxPolyDP(c, EPSILON, True).reshape(-1, 2)
        if len(approx) < 3:
            approx = c.reshape(-1, 2)
        if len(approx) >= 3:
            out.append(approx.astype(np.float64) + 0.5)
    return out


def rasterize_polygons(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool union of pixel-centre polygons as :func:`mask_polygons` writes them (the
    inverse: :func:`sammask.geometry.polygon_mask` with ``edges="centres"``, per polygon)."""
    out = np.zeros(shape, bool)
    for p in polygons:
        out |= polygon_mask(p, shape, edges="centres")
    return out


class YoloWriter(MaskWriter):
    """YOLO-seg dataset (module docstring); ``path`` is the folder; needs ``frames``."""

    name = "yolo"
    is_dir = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.get_frame is None:
            self.abort()
            raise ExportError("the yolo export writes the frames too: give the video (frames getter)")
        (self.tmp / "images").mkdir()
        (self.tmp / "labels").mkdir()

    def _write(self, masks: FrameMasksByObject, frame_idx: int) -> None:
        import cv2

        if not masks:
            return
        lines = []
        for _obj_id, m in sorted(masks.items()):
            for poly in mask_polygons(m):
                xy = poly / np.array([self.width, self.height], np.float64)
                lines.append("0 " + " ".join(f"{v:.6f}" for v in np.clip(xy, 0, 1).reshape(-1)))
        image = self.get_frame(frame_idx)  # type: ignore[misc]  # a callable attribute, not a method, and set (checked above)
        out = self.tmp / "images" / f"{frame_idx:05d}.jpg"
        if not cv2.imwrite(str(out), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise ExportError(f"could not write {out}")
        (self.tmp / "labels" / f"{frame_idx:05d}.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    def _finish(self) -> None:
        (self.tmp / "data.yaml").write_text("path: .\ntrain: images\nval: images\nnames:\n  0: object\n", encoding="utf-8")


def read_yolo_labels(path: Path, width: int, height: int) -> Iterator[tuple[int, list[np.ndarray]]]:
    """``(frame_idx, [(K, 2) pixel-centre polygons])`` for each ``labels/*.txt`` of a YOLO-seg
    folder (frame size needed: YOLO coordinates are normalised).

    Raises:
        ExportError: on a malformed label line.
    """
    for f in sorted(Path(path, "labels").glob("*.txt")):
        polys = []
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            vals = line.split()
            if len(vals) < 7 or len(vals) % 2 == 0:
                raise ExportError(f"{f} line {n}: expected 'class x1 y1 x2 y2 x3 y3 ...'")
            xy = np.asarray(vals[1:], np.float64).reshape(-1, 2) * np.array([width, height], np.float64)
            polys.append(xy)
        yield int(f.stem), polys
