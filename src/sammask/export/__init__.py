"""Mask export and import: one room for ``sammask annotate``, the UI and ``redact --masks``.

Writers (:class:`~sammask.export.base.MaskWriter`, one file each; a new format is one file plus
one line in :data:`FORMATS`):

========  ===========================================  ==========================
format    what                                          path
========  ===========================================  ==========================
coco      COCO instances JSON, RLE masks, track_id      file ``.json``
png       uint16 id map per frame (0 = none)            folder
yolo      YOLO-seg labels + frames + data.yaml          folder
mots      MOTS txt (TrackEval), overlaps resolved       file ``.txt``
tracks    sammask tracks JSON, boxes from masks, type 2 file ``.json``
========  ===========================================  ==========================

Readers (:func:`read_masks`) return a :class:`~sammask.export.base.MaskSource` for COCO, PNG
folders, MOTS and the applied-mask folders ``redact --save-masks`` writes
(``sammask.export.applied``, per-track masks), so ``redact --masks`` and ``sammask eval`` take
any of them. Format details: docs/annotate.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from sammask.errors import ConfigError, InputFileError
from sammask.media.identity import VideoIdentity
from sammask.export.base import FrameGetter, MaskFrame, MaskSource, MaskWriter, exclusive_masks, z_order

FORMATS: dict[str, str] = {
    "coco": "sammask.export.coco:CocoWriter",
    "png": "sammask.export.png:PngWriter",
    "yolo": "sammask.export.yolo:YoloWriter",
    "mots": "sammask.export.mots:MotsWriter",
    "tracks": "sammask.export.tracks:TracksWriter",
}
"""Export format name -> writer class (imported lazily)."""

DEFAULT_NAMES = {"coco": "masks.coco.json", "png": "ids", "yolo": "yolo", "mots": "masks.mots.txt", "tracks": "tracks.json"}
"""File / folder name used inside an output folder (``sammask annotate -o DIR``)."""

__all__ = [
    "DEFAULT_NAMES",
    "FORMATS",
    "MaskFrame",
    "MaskSource",
    "MaskWriter",
    "build_writer",
    "exclusive_masks",
    "read_masks",
    "write_masks",
    "z_order",
]


def build_writer(
    format: str, path: Path, *, width: int, height: int, frames: FrameGetter | None = None, video: VideoIdentity | None = None
) -> MaskWriter:
    """The writer of ``format`` for ``path`` (``video``: the video the masks were made on, recorded
    where the format has a place for it, see :class:`~sammask.export.base.MaskWriter`).

    Raises:
        ConfigError: unknown format.
        ExportError: ``path`` exists, bad size, or (yolo) no frames.
    """
    try:
        target = FORMATS[format]
    except KeyError:
        raise ConfigError(f"unknown export format '{format}': choose one of {', '.join(FORMATS)}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(Path(path), width, height, frames, video=video)


def write_masks(
    frames_masks: Iterable[tuple[int, Mapping[int, np.ndarray]]],
    path: Path,
    format: str,
    *,
    width: int,
    height: int,
    frames: FrameGetter | None = None,
    video: VideoIdentity | None = None,
) -> Path:
    """Write a stream of ``(frame_idx, {obj_id: (H, W) bool})`` as ``format`` at ``path``.

    Args:
        frames_masks: frames in increasing ``frame_idx``.
        path: output file or folder (see :data:`FORMATS`); nothing is left there on failure.
        format: a key of :data:`FORMATS`.
        width: W in pixels.
        height: H in pixels.
        frames: frame getter (required by ``yolo``).
        video: the video the masks were made on (recorded in COCO and folder exports).

    Returns:
        ``path``.

    Raises:
        ConfigError: unknown format.
        ExportError: ``path`` exists, a mask has the wrong shape, or writing fails.
    """
    with build_writer(format, path, width=width, height=height, frames=frames, video=video) as writer:
        for frame_idx, masks in frames_masks:
            writer.write(frame_idx, masks)
    return writer.path


def read_masks(path: Path) -> MaskSource:
    """Open annotated masks from any readable export (format detected from the path).

    - a ``.json`` file: COCO instances (:func:`sammask.export.coco.read_coco`);
    - a ``.txt`` file: MOTS (:func:`sammask.export.mots.read_mots`);
    - a folder with ``meta.json``: applied masks of ``redact --save-masks`` (per-track masks);
    - a folder of ``*.png``: id maps (:func:`sammask.export.png.read_png`).

    Raises:
        InputFileError: if nothing is at ``path`` or it is none of the above.
        ExportError / EvalError: if the file is malformed.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".json":
        from sammask.export.coco import read_coco

        return read_coco(path)
    if path.is_file() and path.suffix.lower() == ".txt":
        from sammask.export.mots import read_mots

        return read_mots(path)
    if path.is_dir() and (path / "meta.json").is_file():
        return _read_applied(path)
    if path.is_dir() and any(path.glob("*.png")):
        from sammask.export.png import read_png

        return read_png(path)
    raise InputFileError(f"no masks at {path}: give a COCO .json, a MOTS .txt, a folder of PNG id maps or a --save-masks folder")


def _read_applied(path: Path) -> MaskSource:
    from sammask.export.applied import read_applied_masks, read_applied_meta

    meta = read_applied_meta(path)

    def frames():
        for f in read_applied_masks(path):
            yield MaskFrame(f.frame_idx, dict(f.tracks))

    return MaskSource(path, "applied", meta.width, meta.height, frames, video=meta.video)
