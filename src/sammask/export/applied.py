"""Applied-mask export: the exact pixels a redaction run altered, streamed to disk.

Format ``sammask-applied-masks`` version 1 (documented in ``docs/masks-format.md``)::

    DIR/meta.json     {"format": "sammask-applied-masks", "version": 1, "width": W, "height": H,
                       "frames": N, "complete": true}
    DIR/masks.jsonl   one JSON object per written frame, in increasing frame_idx order:
                      {"frame_idx": 0,
                       "applied": {"size": [H, W], "counts": "<COCO RLE string>"},
                       "tracks": {"<track_id>": {"size": [H, W], "counts": "..."}, ...}}
    DIR/ids/00000.png optional (``write_png=True``): uint8 track id per pixel, 0 = none
                      (track ids > 255 are written as 255; where tracks overlap the larger id wins)

Masks are COCO run-length encodings (pycocotools ``mask.encode`` on a Fortran-ordered uint8
array; ``counts`` is the compressed string decoded as UTF-8), so the round trip is lossless and
each line is small. Lines are appended and flushed one frame at a time: memory is bounded by one
frame, whatever the video length. ``meta.json`` is written when the writer opens (``frames``
null, ``complete`` false) and rewritten by :meth:`AppliedMaskWriter.close` (``complete`` true);
:meth:`AppliedMaskWriter.abort` (or leaving the ``with`` block on an exception) keeps it false.

Source: COCO RLE as defined by the COCO API (``pycocotools.mask``), https://cocodataset.org/#format-data.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sammask.errors import EvalError, InputFileError
from sammask.export.rle import mask_to_rle, rle_to_mask
from sammask.io import loads_json, write_text_atomic
from sammask.media.identity import VideoIdentity

logger = logging.getLogger(__name__)

FORMAT_NAME = "sammask-applied-masks"
FORMAT_VERSION = 1
META_FILE = "meta.json"
MASKS_FILE = "masks.jsonl"
IDS_DIR = "ids"


@dataclass(frozen=True, slots=True)
class AppliedMasksMeta:
    """Contents of ``meta.json``.

    Attributes:
        width: frame width in pixels.
        height: frame height in pixels.
        frames: number of frame lines written, or None if the writer was not closed (crash).
        complete: True once the writer closed normally.
        version: format version (1).
        video: the input video of the run (``"video"`` in ``meta.json``), or None (older exports).
    """

    width: int
    height: int
    frames: int | None
    complete: bool
    version: int = FORMAT_VERSION
    video: VideoIdentity | None = None


@dataclass(frozen=True, slots=True)
class AppliedFrame:
    """The masks of one frame as a redaction run applied them.

    Attributes:
        frame_idx: 0-based frame index.
        applied: (H, W) bool, the pixels the effect replaced (union of the tracks' final masks in
            ``selected``/``unselected`` mode; its complement in ``background`` mode).
        tracks: ``track_id -> (H, W) bool`` final mask used for that track (after fail-secure
            fallback and dilation). Tracks without a detection on the frame are absent.
    """

    frame_idx: int
    applied: np.ndarray
    tracks: dict[int, np.ndarray] = field(default_factory=dict)


class AppliedMaskWriter:
    """Streams the applied masks of a run to ``directory`` (format in the module docstring).

    Use as a context manager; :meth:`write` one frame at a time in increasing ``frame_idx``.

    Args:
        directory: output folder (created; must not already hold a ``masks.jsonl``).
        width: frame width in pixels.
        height: frame height in pixels.
        write_png: also write ``ids/%05d.png`` (uint8 track ids) for viewing.
        video: the run's input video, recorded in ``meta.json`` (``"video"``) so that
            ``redact --masks`` can refuse to apply these masks to another video.

    Raises:
        EvalError: if ``directory`` already holds applied masks or the size is not positive.
    """

    def __init__(self, directory: Path, width: int, height: int, *, write_png: bool = False, video: VideoIdentity | None = None) -> None:
        self.video = video
        if width <= 0 or height <= 0:
            raise EvalError(f"applied masks need a positive frame size, got {width}x{height}")
        self.directory = Path(directory)
        self.width = int(width)
        self.height = int(height)
        self.write_png = write_png
        self.frames = 0
        self._last_idx = -1
        self.directory.mkdir(parents=True, exist_ok=True)
        masks_path = self.directory / MASKS_FILE
        if masks_path.exists():
            raise EvalError(f"{masks_path} already exists: choose an empty folder for --save-masks")
        if write_png:
            (self.directory / IDS_DIR).mkdir(exist_ok=True)
        self._write_meta(complete=False)
        self._fh = masks_path.open("w", encoding="utf-8")

    def _write_meta(self, *, complete: bool) -> None:
        meta = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "width": self.width,
            "height": self.height,
            "frames": self.frames if complete else None,
            "complete": complete,
        }
        if self.video is not None:
            meta["video"] = self.video.to_json()
        write_text_atomic(self.directory / META_FILE, json.dumps(meta, indent=1) + "\n")

    def write(self, frame_idx: int, tracks: dict[int, np.ndarray], applied: np.ndarray) -> None:
        """Append one frame.

        Args:
            frame_idx: 0-based, strictly greater than the previous call's.
            tracks: ``track_id -> (H, W) bool`` final mask of each track on this frame.
            applied: (H, W) bool pixels the effect replaced.

        Raises:
            EvalError: on a closed writer, a non-increasing ``frame_idx`` or a mask whose shape
                is not (height, width).
        """
        self._write_lazy(frame_idx, {t: _returning(m) for t, m in tracks.items()}, applied)

    def _write_lazy(self, frame_idx: int, tracks: dict[int, Callable[[], np.ndarray]], applied: np.ndarray) -> None:
        """Write one record; each track's full mask is built, encoded and released in turn."""
        if self._fh.closed:
            raise EvalError("AppliedMaskWriter is closed; open a new one to write more frames")
        if frame_idx <= self._last_idx:
            raise EvalError(f"frame_idx must increase: got {frame_idx} after {self._last_idx}")
        shape = (self.height, self.width)
        if applied.shape != shape:
            raise EvalError(f"applied mask of frame {frame_idx} has shape {applied.shape}, expected {shape}")
        encoded: dict[str, dict[str, Any]] = {}
        ids = np.zeros(shape, np.uint8) if self.write_png else None
        for t in sorted(tracks):
            m = tracks[t]()
            if m.shape != shape:
                raise EvalError(f"track {t} mask of frame {frame_idx} has shape {m.shape}, expected {shape}")
            m = m.astype(bool, copy=False)
            encoded[str(int(t))] = mask_to_rle(m)
            if ids is not None:
                ids[m] = min(int(t), 255)
        line = {"frame_idx": int(frame_idx), "applied": mask_to_rle(applied.astype(bool, copy=False)), "tracks": encoded}
        self._fh.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._fh.flush()
        if ids is not None:
            self._write_png(frame_idx, ids)
        self._last_idx = frame_idx
        self.frames += 1

    def write_rois(
        self,
        frame_idx: int,
        rois: Sequence[tuple[int, tuple[int, int, int, int], np.ndarray]],
        applied: np.ndarray,
    ) -> None:
        """Append one frame given each track's final mask as regions of interest.

        Same record as :meth:`write`, but only one full-frame mask exists at a time (memory does
        not grow with the number of detections on the frame). A track with several regions
        (duplicate rows) gets their union.

        Args:
            frame_idx: 0-based, strictly greater than the previous call's.
            rois: ``(track_id, (x0, y0, x1, y1), sub)`` with ``sub`` (y1-y0, x1-x0) bool.
            applied: (H, W) bool pixels the effect replaced.

        Raises:
            EvalError: as :meth:`write`.
        """
        by_track: dict[int, list[tuple[tuple[int, int, int, int], np.ndarray]]] = {}
        for tid, bounds, sub in rois:
            by_track.setdefault(int(tid), []).append((bounds, sub))

        def full(parts: list[tuple[tuple[int, int, int, int], np.ndarray]]) -> np.ndarray:
            m = np.zeros((self.height, self.width), bool)
            for (x0, y0, x1, y1), sub in parts:
                m[y0:y1, x0:x1] |= sub
            return m

        self._write_lazy(frame_idx, {t: functools.partial(full, p) for t, p in by_track.items()}, applied)

    def _write_png(self, frame_idx: int, ids: np.ndarray) -> None:
        import cv2

        path = self.directory / IDS_DIR / f"{frame_idx:05d}.png"
        if not cv2.imwrite(str(path), ids):
            raise EvalError(f"could not write {path}: check the folder is writable")

    def close(self) -> None:
        """Flush, close and mark the export complete. Safe to call twice."""
        if not self._fh.closed:
            self._fh.close()
            self._write_meta(complete=True)

    def abort(self) -> None:
        """Close *without* marking the export complete (the run failed). Safe to call twice.

        The frames written so far stay readable; :func:`read_applied_masks` yields them and then
        raises :class:`EvalError` (incomplete export), so a failed run is never taken for a
        finished one.
        """
        if not self._fh.closed:
            self._fh.close()
            self._write_meta(complete=False)

    def mark_incomplete(self) -> None:
        """Close (if open) and mark the export incomplete, also after :meth:`close` (the run failed
        after its masks were all written, e.g. the video could not be moved into place)."""
        if not self._fh.closed:
            self._fh.close()
        self._write_meta(complete=False)

    def __enter__(self) -> AppliedMaskWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def read_applied_meta(directory: Path) -> AppliedMasksMeta:
    """Read and check ``directory/meta.json``.

    Raises:
        InputFileError: if the folder or ``meta.json`` is missing.
        EvalError: if it is not a ``sammask-applied-masks`` version 1 file.
    """
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise InputFileError(f"no applied masks at {directory}: {META_FILE} not found (run with --save-masks)")
    try:
        meta = loads_json(path.read_text(encoding="utf-8"))
        fmt, version = meta["format"], meta["version"]
        width, height = int(meta["width"]), int(meta["height"])
        video = None if meta.get("video") is None else VideoIdentity.from_json(meta["video"])
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise EvalError(f"{path}: not a valid applied-masks meta file ({exc})") from None
    if fmt != FORMAT_NAME or version != FORMAT_VERSION:
        raise EvalError(f"{path}: format {fmt!r} version {version!r}, expected {FORMAT_NAME!r} {FORMAT_VERSION}")
    return AppliedMasksMeta(width, height, meta.get("frames"), bool(meta.get("complete")), version, video)


def read_applied_masks(directory: Path) -> Iterator[AppliedFrame]:
    """Stream the frames of an applied-mask export (one frame in memory at a time).

    Args:
        directory: a folder written by :class:`AppliedMaskWriter`.

    Yields:
        :class:`AppliedFrame` in increasing ``frame_idx`` order; masks are (H, W) bool.

    Raises:
        InputFileError: if the folder, ``meta.json`` or ``masks.jsonl`` is missing.
        EvalError: on a malformed line, a mask of the wrong size, or an export that was not
            closed (``complete`` false: the run crashed; the frames before are still yielded).
    """
    directory = Path(directory)
    meta = read_applied_meta(directory)
    path = directory / MASKS_FILE
    if not path.is_file():
        raise InputFileError(f"no applied masks at {directory}: {MASKS_FILE} not found")
    shape = (meta.height, meta.width)
    count = 0
    with path.open("r", encoding="utf-8") as fh:
        for lineno, text in enumerate(fh, 1):
            try:
                rec = loads_json(text)
                frame_idx = int(rec["frame_idx"])
                applied = rle_to_mask(rec["applied"])
                tracks = {int(t): rle_to_mask(r) for t, r in rec["tracks"].items()}
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise EvalError(f"{path} line {lineno}: malformed applied-mask record ({exc})") from None
            for m in (applied, *tracks.values()):
                if m.shape != shape:
                    raise EvalError(f"{path} line {lineno}: mask shape {m.shape} differs from meta {shape}")
            count += 1
            yield AppliedFrame(frame_idx, applied, tracks)
    if not meta.complete:
        raise EvalError(f"{directory}: applied-mask export is incomplete (writer not closed; run crashed?)")
    if meta.frames is not None and meta.frames != count:
        raise EvalError(f"{directory}: meta.json says {meta.frames} frames but {MASKS_FILE} holds {count}")


def _returning(mask: np.ndarray) -> Callable[[], np.ndarray]:
    """A lazy mask that is already computed."""
    return lambda: mask
