"""COCO instances JSON with RLE masks (``--format coco``).

One image per video frame that has masks (``id = frame_idx + 1``, ``file_name`` ``%05d.jpg``,
plus ``frame_idx``), one category (``1``, ``"object"``), and one annotation per object and frame:
``segmentation`` = compressed RLE exactly as ``pycocotools.mask.encode`` returns it with
``counts`` as a string, ``area`` and ``bbox`` (``[x, y, w, h]`` pixels) from
``pycocotools.mask.area`` / ``toBbox``, ``iscrowd`` 0, and ``track_id`` (the ``obj_id``, as in
the COCO video extensions such as TAO / YouTube-VIS ``track_id``). ``pycocotools.coco.COCO``
reads the file; ``annToMask`` decodes the masks. Source: https://cocodataset.org/#format-data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sammask.errors import ExportError, InputFileError
from sammask.export.base import FrameMasksByObject, MaskFrame, MaskSource, MaskWriter
from sammask.export.rle import mask_to_rle, rle_to_mask
from sammask.io import DuplicateKeyError, loads_json
from sammask.media.identity import VideoIdentity

CATEGORY = {"id": 1, "name": "object", "supercategory": "object"}


class CocoWriter(MaskWriter):
    """COCO instances JSON (module docstring); ``path`` is the ``.json`` file."""

    name = "coco"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._images: list[dict[str, Any]] = []
        self._annotations: list[dict[str, Any]] = []

    def _write(self, masks: FrameMasksByObject, frame_idx: int) -> None:
        from pycocotools import mask as mask_util

        if not masks:
            return
        image_id = frame_idx + 1
        self._images.append(
            {"id": image_id, "file_name": f"{frame_idx:05d}.jpg", "width": self.width, "height": self.height, "frame_idx": frame_idx}
        )
        for obj_id, m in sorted(masks.items()):
            rle = mask_to_rle(m)
            coco_rle = {"size": rle["size"], "counts": rle["counts"].encode("utf-8")}
            self._annotations.append(
                {
                    "id": len(self._annotations) + 1,
                    "image_id": image_id,
                    "category_id": CATEGORY["id"],
                    "segmentation": rle,
                    "area": float(mask_util.area(coco_rle)),
                    "bbox": [float(v) for v in mask_util.toBbox(coco_rle)],
                    "iscrowd": 0,
                    "track_id": obj_id,
                }
            )

    def _finish(self) -> None:
        doc = {
            "info": {
                "description": "sammask masks",
                "version": "1.0",
                **({} if self.video is None else {"sammask_video": self.video.to_json()}),
            },
            "licenses": [],
            "categories": [CATEGORY],
            "images": self._images,
            "annotations": self._annotations,
        }
        self.tmp.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")


def read_coco(path: Path) -> MaskSource:
    """Read a COCO instances JSON written by :class:`CocoWriter` (or any COCO file whose images
    carry ``frame_idx`` and annotations ``track_id``, with RLE or polygon segmentations).

    Images without ``frame_idx`` use ``id - 1``; annotations without ``track_id`` use their ``id``.
    An RLE segmentation whose ``size`` is not the images' ``[height, width]`` is refused (decoding
    it anyway would put the object elsewhere, e.g. ``[W, H]`` for an H x W video). The video the
    masks were made on is read from ``info.sammask_video`` when present.

    Raises:
        InputFileError: if the file is missing.
        ExportError: if it is not a COCO instances file (a duplicate key included), images differ
            in size, or an RLE's ``size`` differs from its image's.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"masks file not found: {path}")
    try:
        doc = loads_json(path.read_text(encoding="utf-8"))
        images = {int(im["id"]): im for im in doc["images"]}
        annotations = doc["annotations"]
        info = doc.get("info") or {}
        video = None if info.get("sammask_video") is None else VideoIdentity.from_json(info["sammask_video"])
    except DuplicateKeyError as exc:
        raise ExportError(f"{path}: {exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ExportError(f"{path}: not a COCO instances JSON ({exc}); expected 'images' and 'annotations'") from None
    sizes = {(int(im["height"]), int(im["width"])) for im in images.values()}
    if len(sizes) != 1:
        raise ExportError(f"{path}: images of {len(sizes)} sizes; a video's masks have one size")
    height, width = sizes.pop()
    by_frame: dict[int, list[dict[str, Any]]] = {}
    for a in annotations:
        try:
            im = images[int(a["image_id"])]
        except (KeyError, TypeError, ValueError):
            raise ExportError(f"{path}: annotation {a.get('id')} names an unknown image_id") from None
        frame_idx = int(im.get("frame_idx", int(im["id"]) - 1))
        by_frame.setdefault(frame_idx, []).append(a)
        seg = a.get("segmentation")
        if isinstance(seg, dict):
            size = seg.get("size")
            ok = isinstance(size, list) and len(size) == 2 and all(type(v) is int for v in size) and size == [height, width]
            if not ok:
                shown = str(size) if len(str(size)) <= 40 else str(size)[:37] + "..."
                raise ExportError(
                    f"{path}: annotation {str(a.get('id'))[:20]}: RLE size {shown} is not the image's "
                    f"[height, width] = [{height}, {width}]; give masks made for this frame size"
                )

    def frames() -> Iterator[MaskFrame]:
        from pycocotools import mask as mask_util

        for frame_idx in sorted(by_frame):
            out: FrameMasksByObject = {}
            for a in by_frame[frame_idx]:
                seg = a.get("segmentation")
                obj_id = int(a.get("track_id", a["id"]))
                if isinstance(seg, dict) and isinstance(seg.get("counts"), str):
                    m = rle_to_mask(seg)
                elif isinstance(seg, dict):  # uncompressed RLE
                    m = mask_util.decode(mask_util.frPyObjects(seg, height, width)).astype(bool)
                elif isinstance(seg, list) and seg:
                    m = mask_util.decode(mask_util.merge(mask_util.frPyObjects(seg, height, width))).astype(bool)
                else:
                    raise ExportError(f"{path}: annotation {a.get('id')} has no segmentation")
                out[obj_id] = out[obj_id] | m if obj_id in out else m
            yield MaskFrame(frame_idx, out)

    return MaskSource(path, "coco", width, height, frames, video=video)
