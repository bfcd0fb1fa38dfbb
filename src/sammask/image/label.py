"""Auto-labelling: detector boxes -> masks -> a training dataset, resumable over large folders.

:func:`label_folder` runs detectors over images, turns every box into a mask with an image
backend (the data-engine loop of the SAM paper; what Grounded-SAM / autodistill do), and writes
one dataset folder::

    OUT/annotations.json      --format coco: COCO instances, RLE masks, one category per class
    OUT/images/KEY.jpg        --format yolo-seg: the upright image (JPEG 95)
    OUT/labels/KEY.txt        --format yolo-seg: "class x1 y1 x2 y2 ..." normalised to [0, 1]
    OUT/data.yaml             --format yolo-seg: Ultralytics dataset file
    OUT/masks/KEY.png         --format png: uint16 instance ids (0 = none; overlaps by z-order)
    OUT/classes.json          every format: class names in index order (YOLO index = position)
    OUT/contact_sheet.png     thumbnails with the masks, to review
    OUT/.sammask-label/       resume state: settings digest + one record per labelled image

Coordinates are those of the **upright** image (EXIF orientation applied). Every file is written
atomically (:mod:`sammask.io`). Resume: an image whose record carries the same settings digest
and the same source (path, size, modification time) is not labelled again; the summary files
(annotations, data.yaml, classes, contact sheet) are rebuilt from all records at the end.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sammask.palette import OBJECT_COLOURS
from sammask.errors import ConfigError, InputFileError
from sammask.geometry import as_bbox
from sammask.image.backend import ImageBackend
from sammask.image.load import encode_png, load_image
from sammask.image.types import Prompt

logger = logging.getLogger(__name__)

__all__ = ["FORMATS", "STATE_DIR", "LabelReport", "LabelledObject", "label_folder", "output_names"]

FORMATS = ("coco", "yolo-seg", "png")
"""Dataset formats of :func:`label_folder`."""

STATE_DIR = ".sammask-label"
"""Resume state folder inside the dataset."""

SHEET_MAX_IMAGES = 48
"""Images shown on the contact sheet (the first ones, in input order)."""


def output_names(format: str) -> tuple[str, ...]:
    """The entries :func:`label_folder` writes in its folder for ``format`` (for the path gate).

    Raises:
        ConfigError: unknown format.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown label format '{format}': choose one of {', '.join(FORMATS)}")
    own = {"coco": ("annotations.json",), "yolo-seg": ("images", "labels", "data.yaml"), "png": ("masks",)}[format]
    return (*own, "classes.json", "contact_sheet.png", STATE_DIR)


@dataclass(frozen=True, slots=True)
class LabelledObject:
    """One object of one image in a record.

    Attributes:
        class_name: the detector's class (``person``, ``face``...).
        score: detection confidence in [0, 1].
        box: detector box xyxy float pixels (upright image).
        rle: the mask as COCO compressed RLE ``{"size": [H, W], "counts": str}``.
        mask_score: the backend's score of the mask.
    """

    class_name: str
    score: float
    box: tuple[float, float, float, float]
    rle: dict[str, Any]
    mask_score: float


@dataclass(slots=True)
class LabelReport:
    """What :func:`label_folder` did.

    Attributes:
        images: images in the input.
        labelled: images labelled in this run.
        skipped: images skipped because already labelled with the same settings (resume).
        objects: objects (masks) in the whole dataset.
        seconds: wall time of the labelling loop in this run.
        images_per_second: ``labelled / seconds`` (0 when nothing was labelled).
        digest: the settings digest recorded.
        path: the dataset folder.
    """

    images: int = 0
    labelled: int = 0
    skipped: int = 0
    objects: int = 0
    seconds: float = 0.0
    images_per_second: float = 0.0
    digest: str = ""
    path: Path = field(default_factory=Path)


def _digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _keys(paths: Sequence[Path]) -> list[str]:
    """Unique, file-system-safe dataset names for the images (relative to their common folder)."""
    absolute = [os.path.abspath(p) for p in paths]
    root = os.path.commonpath([os.path.dirname(a) for a in absolute]) if absolute else ""
    out, seen = [], set()
    for a in absolute:
        rel = os.path.splitext(os.path.relpath(a, root))[0]
        key = rel.replace(os.sep, "__").replace(" ", "_")
        base, n = key, 1
        while key in seen:
            key, n = f"{base}-{n}", n + 1
        seen.add(key)
        out.append(key)
    return out


def _source_stamp(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def label_folder(
    images: Sequence[Path],
    out_dir: Path,
    *,
    detect: Callable[[np.ndarray], Any],
    backend: ImageBackend,
    format: str = "coco",
    settings: dict[str, Any] | None = None,
    resume: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
) -> LabelReport:
    """Label images: detections -> masks -> dataset (module docstring).

    The caller checks the output location first (:func:`sammask.spec.gate.check_paths` with
    :func:`output_names`); this function creates ``out_dir`` if needed.

    Args:
        images: image files (see :func:`~sammask.image.load.expand_inputs`).
        out_dir: dataset folder.
        detect: ``(H, W, 3) uint8 RGB -> FrameDetections`` (``xyxy``, ``scores``, ``class_names``;
            e.g. a :class:`~sammask.detection.base.Detector`'s ``detect``, filtered).
        backend: turns each box into a mask (box prompt, single mask).
        format: one of :data:`FORMATS`.
        settings: what defines "the same settings" for resume (detector spec, score threshold,
            model...); the backend name and the format are added.
        resume: skip images whose record has the same digest and source; needs ``out_dir`` to
            be a dataset written by this function (else :class:`ConfigError`).
        progress: ``(done, total, images_per_second) -> None`` after each image.

    Returns:
        :class:`LabelReport`.

    Raises:
        ConfigError: unknown format, or ``resume`` on a folder without resume state.
        InputFileError: an image cannot be read (records written so far are kept: resume).
        SegmentationError, ModelLoadError: the backend / detector failed.
        OutputWriteError: a file could not be written.
    """
    from sammask.io import write_bytes_atomic, write_text_atomic

    output_names(format)
    out_dir = Path(out_dir)
    state = out_dir / STATE_DIR / "records"
    if resume and not (out_dir / STATE_DIR / "settings.json").is_file():
        raise ConfigError(
            f"--resume: {out_dir} holds no sammask label state ({STATE_DIR}/settings.json); run without --resume to start the dataset"
        )
    full_settings = {**(settings or {}), "backend": backend.name, "format": format}
    digest = _digest(full_settings)
    state.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        out_dir / STATE_DIR / "settings.json", json.dumps({"digest": digest, "settings": full_settings}, indent=2, default=str) + "\n"
    )
    if format == "yolo-seg":
        (out_dir / "images").mkdir(exist_ok=True)
    keys = _keys(list(images))
    report = LabelReport(images=len(images), digest=digest, path=out_dir)
    t0 = time.perf_counter()
    for n, (path, key) in enumerate(zip(images, keys), 1):
        record_path = state / f"{key}.json"
        stamp = _source_stamp(Path(path))
        if resume and record_path.is_file():
            try:
                old = json.loads(record_path.read_text(encoding="utf-8"))
            except ValueError:
                old = {}
            if old.get("digest") == digest and old.get("source") == stamp:
                report.skipped += 1
                if progress is not None:
                    progress(n, len(images), report.labelled / max(time.perf_counter() - t0, 1e-9))
                continue
        img = load_image(path)
        dets = detect(img.rgb)
        objects: list[LabelledObject] = []
        if len(dets):
            from sammask.export.rle import mask_to_rle

            backend.set_image(img.rgb)
            for box, score, cls in zip(dets.xyxy, dets.scores, dets.class_names):
                box_t = as_bbox(box)
                cand = backend.predict(Prompt(box=box_t), multimask=False)[0]
                objects.append(LabelledObject(str(cls), float(score), box_t, mask_to_rle(cand.mask), float(cand.score)))
        if format == "yolo-seg":
            write_bytes_atomic(out_dir / "images" / f"{key}.jpg", _jpeg(img.rgb))
        record = {
            "digest": digest,
            "source": stamp,
            "key": key,
            "width": img.width,
            "height": img.height,
            "orientation": img.orientation,
            "objects": [asdict(o) for o in objects],
        }
        write_text_atomic(record_path, json.dumps(record) + "\n")
        report.labelled += 1
        if progress is not None:
            progress(n, len(images), report.labelled / max(time.perf_counter() - t0, 1e-9))
    report.seconds = time.perf_counter() - t0
    report.images_per_second = report.labelled / report.seconds if report.labelled and report.seconds > 0 else 0.0
    records = []
    for key in keys:
        rec = json.loads((state / f"{key}.json").read_text(encoding="utf-8"))
        records.append(rec)
    report.objects = sum(len(r["objects"]) for r in records)
    _write_dataset(out_dir, format, records, [Path(p) for p in images])
    return report


def _jpeg(rgb: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _write_dataset(out_dir: Path, format: str, records: list[dict[str, Any]], images: list[Path]) -> None:
    from sammask.export.rle import rle_to_mask
    from sammask.export.base import exclusive_masks
    from sammask.export.yolo import mask_polygons
    from sammask.io import write_bytes_atomic, write_text_atomic

    classes = sorted({o["class_name"] for r in records for o in r["objects"]})
    index = {c: i for i, c in enumerate(classes)}
    write_text_atomic(out_dir / "classes.json", json.dumps(classes) + "\n")
    if format == "coco":
        from pycocotools import mask as mask_util

        doc: dict[str, Any] = {
            "info": {"description": "sammask label (masks in upright image coordinates)", "version": "1.0"},
            "licenses": [],
            "categories": [{"id": i + 1, "name": c, "supercategory": "object"} for i, c in enumerate(classes)],
            "images": [],
            "annotations": [],
        }
        root = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in images])
        for image_id, (rec, path) in enumerate(zip(records, images), 1):
            doc["images"].append(
                {"id": image_id, "file_name": os.path.relpath(os.path.abspath(path), root), "width": rec["width"], "height": rec["height"]}
            )
            for o in rec["objects"]:
                rle = {"size": o["rle"]["size"], "counts": o["rle"]["counts"].encode("utf-8")}
                doc["annotations"].append(
                    {
                        "id": len(doc["annotations"]) + 1,
                        "image_id": image_id,
                        "category_id": index[o["class_name"]] + 1,
                        "segmentation": o["rle"],
                        "area": float(mask_util.area(rle)),
                        "bbox": [float(v) for v in mask_util.toBbox(rle)],
                        "iscrowd": 0,
                        "score": o["score"],
                    }
                )
        write_text_atomic(out_dir / "annotations.json", json.dumps(doc, separators=(",", ":")) + "\n")
    elif format == "yolo-seg":
        (out_dir / "labels").mkdir(exist_ok=True)
        for rec in records:
            w, h = rec["width"], rec["height"]
            lines = []
            for o in rec["objects"]:
                for poly in mask_polygons(rle_to_mask(o["rle"])):
                    xy = np.clip(poly / np.array([w, h], np.float64), 0, 1)
                    lines.append(f"{index[o['class_name']]} " + " ".join(f"{v:.6f}" for v in xy.reshape(-1)))
            write_text_atomic(out_dir / "labels" / f"{rec['key']}.txt", "".join(line + "\n" for line in lines))
        names = "".join(f"  {i}: {json.dumps(c)}\n" for i, c in enumerate(classes))
        write_text_atomic(out_dir / "data.yaml", "path: .\ntrain: images\nval: images\nnames:\n" + (names or "  {}\n"))
    else:
        (out_dir / "masks").mkdir(exist_ok=True)
        for rec in records:
            ids = np.zeros((rec["height"], rec["width"]), np.uint16)
            masks = {i + 1: rle_to_mask(o["rle"]) for i, o in enumerate(rec["objects"])}
            for obj_id, m in exclusive_masks(masks).items():
                ids[m] = obj_id
            write_bytes_atomic(out_dir / "masks" / f"{rec['key']}.png", encode_png(ids))
    write_bytes_atomic(out_dir / "contact_sheet.png", encode_png(contact_sheet(records, images)))


def contact_sheet(records: list[dict[str, Any]], images: list[Path], *, thumb: int = 240, columns: int = 4) -> np.ndarray:
    """Review sheet: the first :data:`SHEET_MAX_IMAGES` images, masks tinted (50 %) in distinct
    colours with their boxes, captioned with the dataset key and the object count.

    Returns:
        (H, W, 3) uint8 RGB.

    Raises:
        InputFileError: an image cannot be read any more.
    """
    import cv2

    from sammask.export.rle import rle_to_mask

    tiles = []
    for rec, path in list(zip(records, images))[:SHEET_MAX_IMAGES]:
        rgb = load_image(path).rgb.copy()
        for i, o in enumerate(rec["objects"]):
            m = rle_to_mask(o["rle"])
            col = OBJECT_COLOURS[i % len(OBJECT_COLOURS)]
            rgb[m] = (rgb[m].astype(np.uint16) // 2 + col // 2).astype(np.uint8)
            x1, y1, x2, y2 = (int(round(v)) for v in o["box"])
            cv2.rectangle(rgb, (x1, y1), (x2 - 1, y2 - 1), tuple(int(c) for c in col), max(1, rgb.shape[1] // 300))
        s = thumb / max(rgb.shape[:2])
        small = cv2.resize(rgb, (max(1, round(rgb.shape[1] * s)), max(1, round(rgb.shape[0] * s))), interpolation=cv2.INTER_AREA)
        tiles.append((small, f"{rec['key'][:24]} ({len(rec['objects'])})"))
    if not tiles:
        raise InputFileError("no image to put on the contact sheet")
    tile_h = max(small.shape[0] for small, _ in tiles) + 18
    framed: list[np.ndarray] = []
    for small, caption in tiles:
        tile = np.full((tile_h, thumb, 3), 255, np.uint8)
        tile[18 : 18 + small.shape[0], : small.shape[1]] = small
        cv2.putText(tile, caption, (2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        framed.append(tile)
    while len(framed) % columns and len(framed) > columns:
        framed.append(np.full_like(framed[0], 255))
    rows = [np.concatenate(framed[i : i + columns], axis=1) for i in range(0, len(framed), columns)]
    return np.concatenate(rows, axis=0)
