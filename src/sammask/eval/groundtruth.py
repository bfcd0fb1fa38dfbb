"""Ground-truth sequences in the layout of ``shared/data/davis*/<seq>/``.

A sequence folder holds::

    video.mp4          the frames
    masks/00000.png    uint8 object ids per pixel, 0 = background, one PNG per frame
                       (file number = 0-based frame index)
    gt.txt             MOTChallenge boxes ``frame,id,left,top,width,height,1,-1,-1,-1``,
                       1-based frames, pixels (a perfect tracker derived from the masks)

Masks are read lazily, one frame at a time. Boxes become xyxy float pixels with
``x2 = left + width`` (pixel-edge coordinates) and 0-based ``frame_idx``.

Source: MOTChallenge format, A. Milan et al., "MOT16: A Benchmark for Multi-Object Tracking",
arXiv:1603.00831; DAVIS layout, F. Perazzi et al., CVPR 2016.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from sammask.errors import EvalError, InputFileError
from sammask.geometry import as_bbox, mask_bbox

logger = logging.getLogger(__name__)

BoxesByFrame = dict[int, dict[int, tuple[float, float, float, float]]]
"""``frame_idx -> {obj_id: (x1, y1, x2, y2)}`` xyxy float pixels."""


def read_mot_boxes(path: Path) -> BoxesByFrame:
    """Read a MOTChallenge text file into ``frame_idx -> {id: xyxy}`` (0-based frames).

    Uses the package's MOT reader (:func:`sammask.tracks.mot.read_mot`): ``x2 = left + width``.

    Raises:
        InputFileError: if the file is missing.
        TracksFormatError: on a malformed line (the message names the line and column).
    """
    from sammask.tracks.mot import read_mot

    out: BoxesByFrame = {}
    for det in read_mot(Path(path)):
        out.setdefault(det.frame_idx, {})[det.track_id] = as_bbox(det.bbox)
    return out


@dataclass(frozen=True, slots=True)
class GroundTruthFrame:
    """One frame of ground truth.

    Attributes:
        frame_idx: 0-based frame index.
        ids: (H, W) uint8 object ids, 0 = background.
        boxes: ``obj_id -> (x1, y1, x2, y2)`` xyxy float pixels from gt.txt.
    """

    frame_idx: int
    ids: np.ndarray
    boxes: dict[int, tuple[float, float, float, float]]


class GroundTruthSequence:
    """A ground-truth sequence folder (see the module docstring), read lazily.

    Args:
        directory: the sequence folder.

    Raises:
        InputFileError: if the folder, ``masks/``, ``gt.txt`` or ``video.mp4`` is missing.
        EvalError: if ``masks/`` holds no PNG.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise InputFileError(f"ground-truth sequence folder not found: {self.directory}")
        for name in ("masks", "gt.txt", "video.mp4"):
            if not (self.directory / name).exists():
                raise InputFileError(f"{self.directory}: missing {name} (expected video.mp4, masks/00000.png..., gt.txt)")
        self._mask_files = sorted((self.directory / "masks").glob("*.png"))
        if not self._mask_files:
            raise EvalError(f"{self.directory / 'masks'}: no PNG masks")

    @property
    def name(self) -> str:
        """The folder's name (e.g. ``bmx-bumps``)."""
        return self.directory.name

    @property
    def video_path(self) -> Path:
        """``video.mp4``."""
        return self.directory / "video.mp4"

    @property
    def tracks_path(self) -> Path:
        """``gt.txt`` (MOT boxes, usable as the run's tracks: a perfect tracker)."""
        return self.directory / "gt.txt"

    @cached_property
    def boxes(self) -> BoxesByFrame:
        """``frame_idx -> {obj_id: xyxy}`` from gt.txt (read once)."""
        return read_mot_boxes(self.tracks_path)

    @property
    def num_frames(self) -> int:
        """Number of mask frames (PNG files)."""
        return len(self._mask_files)

    @cached_property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the masks (from the first PNG)."""
        return self.mask(0).shape

    @cached_property
    def object_ids(self) -> tuple[int, ...]:
        """Sorted object ids in gt.txt (each must appear in the masks to be scored)."""
        return tuple(sorted({o for b in self.boxes.values() for o in b}))

    def mask(self, frame_idx: int) -> np.ndarray:
        """(H, W) uint8 object ids of ``frame_idx`` (0 = background).

        Raises:
            EvalError: if the PNG for that frame is missing, unreadable, not single-channel, or
                its size differs from frame 0's.
        """
        import cv2

        path = self.directory / "masks" / f"{frame_idx:05d}.png"
        if not path.is_file():
            raise EvalError(f"{self.name}: ground-truth mask for frame {frame_idx} is missing ({path})")
        ids = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if ids is None:
            raise EvalError(f"{path}: unreadable PNG")
        if ids.ndim != 2 or ids.dtype != np.uint8:
            raise EvalError(f"{path}: expected a single-channel uint8 id image, got shape {ids.shape} {ids.dtype}")
        if frame_idx and ids.shape != self.shape:
            raise EvalError(f"{path}: size {ids.shape[1]}x{ids.shape[0]} differs from frame 0 ({self.shape[1]}x{self.shape[0]})")
        return ids

    def frame(self, frame_idx: int) -> GroundTruthFrame:
        """Mask and boxes of one frame.

        Raises:
            EvalError: see :meth:`mask`; also when the mask holds an id that gt.txt never names.
        """
        ids = self.mask(frame_idx)
        present = set(np.unique(ids).tolist()) - {0}
        unknown = present - set(self.object_ids)
        if unknown:
            raise EvalError(
                f"{self.name} frame {frame_idx}: mask ids {sorted(unknown)} are unknown (gt.txt has ids {list(self.object_ids)})"
            )
        return GroundTruthFrame(frame_idx, ids, dict(self.boxes.get(frame_idx, {})))

    def frames(self, limit: int | None = None) -> Iterator[GroundTruthFrame]:
        """Frames 0 .. ``min(num_frames, limit) - 1`` in order, read lazily."""
        n = self.num_frames if limit is None else min(self.num_frames, limit)
        for i in range(n):
            yield self.frame(i)

    def check_video(self) -> None:
        """Check the video's frame size equals the masks' size.

        Raises:
            MediaError: if the video cannot be opened.
            EvalError: on a size mismatch.
        """
        import av

        from sammask.errors import MediaError

        try:
            with av.open(str(self.video_path)) as container:
                stream = container.streams.video[0]
                w, h = stream.codec_context.width, stream.codec_context.height
        except (av.error.FFmpegError, IndexError) as exc:
            raise MediaError(f"{self.video_path}: cannot open video ({exc})") from None
        if (h, w) != self.shape:
            raise EvalError(f"{self.name}: video is {w}x{h} but masks are {self.shape[1]}x{self.shape[0]}")


def object_bboxes(ids: np.ndarray) -> dict[int, tuple[float, float, float, float]]:
    """Tight xyxy boxes (pixel edges: ``x2 = last column + 1``) of every non-zero id in an id image."""
    out: dict[int, tuple[float, float, float, float]] = {}
    for obj in np.unique(ids):
        if obj == 0:
            continue
        box = mask_bbox(ids == obj)
        if box is not None:  # always: obj occurs in ids
            out[int(obj)] = box
    return out
