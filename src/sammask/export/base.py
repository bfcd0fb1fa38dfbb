"""The mask-writer interface shared by every export format, and the helpers they share.

A writer takes a stream of frames ``(frame_idx, {obj_id: (H, W) bool mask})`` in increasing
``frame_idx`` (frames without masks may be skipped or given as ``{}``), and writes its format to
``path`` atomically: files go to a temporary sibling and are renamed on :meth:`MaskWriter.close`;
:meth:`MaskWriter.abort` (or leaving the ``with`` block by an exception) leaves nothing at
``path``. Memory per frame is bounded; COCO keeps its annotations' RLE strings until the end.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from sammask.errors import ExportError
from sammask.io import loads_json, write_text_atomic
from sammask.media.identity import VideoIdentity

VIDEO_FILE = "video.json"
"""Name of the video record (:class:`~sammask.media.identity.VideoIdentity`) in folder exports."""


def read_video_record(folder: Path) -> VideoIdentity | None:
    """The video record ``folder/video.json`` of a folder export, or None when there is none.

    Raises:
        ExportError: if the file exists but is not a valid record.
    """
    path = Path(folder) / VIDEO_FILE
    if not path.is_file():
        return None
    try:
        return VideoIdentity.from_json(loads_json(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, RecursionError) as exc:
        raise ExportError(f"{path}: not a valid video record ({exc})") from None


FrameMasksByObject = dict[int, np.ndarray]
"""``obj_id -> (H, W) bool`` masks of one frame."""

FrameGetter = Callable[[int], np.ndarray]
"""``frame_idx -> (H, W, 3) uint8 RGB`` frame (needed by formats that write images)."""


def z_order(masks: Mapping[int, np.ndarray]) -> list[int]:
    """Paint order that resolves overlaps: larger masks first, so smaller ones end on top.

    Where objects overlap, the pixel goes to the object with the **smallest area on that frame**
    (a small object overlapping a large one is usually in front of it: a rider on a bike, a person
    before a bus); ties go to the larger ``obj_id``. Used by the PNG id maps and MOTS, whose
    formats allow one object per pixel.

    Args:
        masks: ``obj_id -> (H, W) bool``.

    Returns:
        obj_ids in paint order (the last one wins).
    """
    return sorted(masks, key=lambda o: (-int(np.count_nonzero(masks[o])), o))


def exclusive_masks(masks: Mapping[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Non-overlapping copies of ``masks`` by :func:`z_order` (empty results dropped)."""
    if not masks:
        return {}
    shape = next(iter(masks.values())).shape
    ids = np.zeros(shape, np.int64)
    order = z_order(masks)
    for rank, o in enumerate(order, 1):
        ids[masks[o]] = rank
    out = {}
    for rank, o in enumerate(order, 1):
        m = ids == rank
        if m.any():
            out[o] = m
    return out


@dataclass(frozen=True, slots=True)
class MaskFrame:
    """One frame read back from an export.

    Attributes:
        frame_idx: 0-based frame index.
        masks: ``obj_id -> (H, W) bool``.
    """

    frame_idx: int
    masks: FrameMasksByObject


def check_masks(frame_idx: int, masks: Mapping[int, np.ndarray], shape: tuple[int, int]) -> None:
    """Raise :class:`ExportError` unless every mask is (H, W) of ``shape`` and ids are >= 0."""
    for o, m in masks.items():
        if int(o) < 0:
            raise ExportError(f"frame {frame_idx}: obj_id must be >= 0, got {o}")
        if np.shape(m) != shape:
            raise ExportError(f"frame {frame_idx} object {o}: mask shape {np.shape(m)}, expected {shape}")


class MaskWriter(ABC):
    """Base class of the export writers (one per format; see :data:`sammask.export.FORMATS`).

    Args:
        path: output file or folder (the format says which).
        width: frame width W in pixels.
        height: frame height H in pixels.
        frames: frame getter, for formats that write images (YOLO); else unused.
        video: the video the masks were made on (:class:`~sammask.media.identity.VideoIdentity`),
            recorded in the export (COCO ``info.sammask_video``; ``video.json`` in folder
            exports) so that ``redact --masks`` can refuse another video. MOTS and tracks files
            have no place for it.

    Raises:
        ExportError: on a non-positive size, or when ``path`` already exists (a folder must be
            empty).
    """

    name: ClassVar[str] = "base"
    is_dir: ClassVar[bool] = False

    def __init__(
        self, path: Path, width: int, height: int, frames: FrameGetter | None = None, *, video: VideoIdentity | None = None
    ) -> None:
        self.video = video
        if width <= 0 or height <= 0:
            raise ExportError(f"an export needs a positive frame size, got {width}x{height}")
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.get_frame = frames
        self._last = -1
        self._done = False
        if self.path.exists() and not (self.is_dir and self.path.is_dir() and not any(self.path.iterdir())):
            kind = "an empty or new folder" if self.is_dir else "a new file name"
            raise ExportError(f"{self.path} already exists: choose {kind} for the {self.name} export")
        if not self.path.parent.is_dir():
            raise ExportError(f"output folder does not exist: {self.path.parent}")
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        if self.is_dir:
            self.tmp.mkdir()

    def write(self, frame_idx: int, masks: Mapping[int, np.ndarray]) -> None:
        """Add one frame.

        Args:
            frame_idx: 0-based, strictly increasing.
            masks: ``obj_id -> (H, W) bool``; empty masks are skipped.

        Raises:
            ExportError: on a closed writer, a non-increasing index or a wrong mask shape.
        """
        if self._done:
            raise ExportError(f"the {self.name} writer is closed")
        if frame_idx <= self._last:
            raise ExportError(f"frame_idx must increase: got {frame_idx} after {self._last}")
        check_masks(frame_idx, masks, (self.height, self.width))
        self._last = int(frame_idx)
        self._write({int(o): np.asarray(m, bool) for o, m in masks.items() if np.any(m)}, int(frame_idx))

    @abstractmethod
    def _write(self, masks: FrameMasksByObject, frame_idx: int) -> None:
        """Write one frame's non-empty masks (validated)."""

    def _finish(self) -> None:
        """Complete the temporary output (e.g. write the JSON); called by :meth:`close`."""

    def close(self) -> Path:
        """Finish and move the output into place; returns ``path``. Safe to call twice."""
        if not self._done:
            try:
                self._finish()
                if self.is_dir and self.video is not None:
                    write_text_atomic(self.tmp / VIDEO_FILE, json.dumps(self.video.to_json(), indent=2) + "\n")
                if self.is_dir and self.path.is_dir():
                    self.path.rmdir()  # empty, checked in __init__
                os.replace(self.tmp, self.path)
            except BaseException:
                self.abort()
                raise
            self._done = True
        return self.path

    def abort(self) -> None:
        """Drop the temporary output: nothing is left at ``path``. Safe to call twice."""
        self._done = True
        if self.tmp.is_dir():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> MaskWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


@dataclass(frozen=True, slots=True)
class MaskSource:
    """Masks read from an export file or folder, streamed frame by frame.

    Attributes:
        path: what was read.
        format: the format name (``coco``, ``png``, ``mots``, ``applied``).
        width: frame width W in pixels.
        height: frame height H in pixels.
        read: a function returning a fresh iterator of :class:`MaskFrame` in increasing
            ``frame_idx`` (frames without masks may be absent); may be called more than once.
        video: the video the masks were made on, as the export recorded it (None: not
            recorded, e.g. a MOTS file or another tool's COCO).
    """

    path: Path
    format: str
    width: int
    height: int
    read: Callable[[], Iterator[MaskFrame]]
    video: VideoIdentity | None = None
