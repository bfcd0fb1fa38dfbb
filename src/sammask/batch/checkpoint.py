"""Segmentation checkpoints: a job killed mid-video resumes without segmenting finished frames.

:class:`CheckpointSegmenter` wraps any :class:`~sammask.segmentation.Segmenter`. Every
:class:`~sammask.segmentation.FrameMasks` the inner segmenter yields is appended to a JSON-lines
file and flushed before it is handed on, so after a crash (even ``kill -9``) the file holds the
answers for a prefix of the video's frames. A new run over the same file first *replays* that
prefix (masks decoded from the file, the inner segmenter never sees those frames) and then feeds
the rest of the video to the inner segmenter, appending as before. The pipeline around it
(fail-secure rule, compose, encode) is deterministic, so the resumed output equals an
uninterrupted run for segmenters whose answer on a frame depends only on that frame and its
prompts (``box``, ``grabcut`` as configured by default, ``sam2`` ``image`` strategy without
``use_previous_mask``). Temporal segmenters (``sam2`` ``video``/``baseline``, GrabCut with
``use_previous``) restart their memory at the resume frame: still one mask per prompt and
fail-secure, but not bit-identical to an uninterrupted run.

File format ``sammask-segment-checkpoint`` version 1::

    line 1   {"format": "sammask-segment-checkpoint", "version": 1, "fingerprint": "<hex>"}
    line 2+  {"frame_idx": 0, "masks": {"<track_id>": <COCO RLE> | null}, "scores": {"<id>": float}}

Masks are stored with :func:`sammask.export.rle.mask_to_rle` (lossless COCO RLE). A torn last
line (the process died inside a write) is cut off when the file is opened. A file whose
fingerprint differs from the run's (other input, tracks or settings) is discarded.

Built-in detection (a video without tracks) has its own checkpoint, :class:`CheckpointDetection`:
the detectors' boxes of each frame (after ``min_score`` / ``classes``, before tracking) are
appended the same way, and a resumed run feeds the recorded boxes of the finished frames to a
fresh tracker instead of running the detectors again. Tracking and coasting are deterministic
functions of those boxes, so the resumed run gets the same tracks as an uninterrupted one (and
the segmentation checkpoint's masks answer the same prompts). File format
``sammask-detect-checkpoint`` version 1::

    line 1   {"format": "sammask-detect-checkpoint", "version": 1, "fingerprint": "<hex>"}
    line 2+  {"frame_idx": 0, "xyxy": [[x1, y1, x2, y2], ...], "scores": [...], "classes": [...]}

Boxes and scores are float32 values written as the shortest decimal that reads back to the same
float (lossless).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

import numpy as np

from sammask.detection.base import FrameDetections
from sammask.detection.stream import DetectAndTrack
from sammask.errors import SammaskError
from sammask.export.rle import mask_to_rle, rle_to_mask
from sammask.geometry import DisplayTransform
from sammask.segmentation import FrameMasks, FramePrompts, Segmenter

logger = logging.getLogger(__name__)

FORMAT_NAME = "sammask-segment-checkpoint"
DETECT_FORMAT_NAME = "sammask-detect-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(SammaskError):
    """A checkpoint file does not fit the frames it is asked to replay (a bug or a tampered file)."""


def _valid_prefix(path: Path, fingerprint: str, format_name: str) -> tuple[int, int]:
    """Byte length of the file's valid prefix and the number of frame lines in it.

    Returns ``(0, 0)`` when the file is missing, is not a ``format_name`` checkpoint or has
    another fingerprint.
    """
    if not path.is_file():
        return 0, 0
    good, frames, last_idx = 0, 0, -1
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh):
            if not raw.endswith(b"\n"):
                break  # torn last line
            try:
                rec = json.loads(raw)
            except ValueError:
                break
            if lineno == 0:
                if not (
                    isinstance(rec, dict)
                    and rec.get("format") == format_name
                    and rec.get("version") == FORMAT_VERSION
                    and rec.get("fingerprint") == fingerprint
                ):
                    logger.info("checkpoint %s belongs to another run: starting over", path)
                    return 0, 0
            else:
                idx = rec.get("frame_idx") if isinstance(rec, dict) else None
                if not isinstance(idx, int) or idx <= last_idx:
                    break
                last_idx = idx
                frames += 1
            good += len(raw)
    return good, frames


def _open_checkpoint(path: Path, fingerprint: str, format_name: str) -> int:
    """Keep the valid prefix of a checkpoint (or start a new file); returns its frame count."""
    size, available = _valid_prefix(path, fingerprint, format_name)
    if size == 0:
        header = {"format": format_name, "version": FORMAT_VERSION, "fingerprint": fingerprint}
        path.write_text(json.dumps(header) + "\n", encoding="utf-8")
    else:
        with path.open("r+b") as fh:
            fh.truncate(size)
    if available:
        logger.info("checkpoint %s: %d frames already done", path, available)
    return available


class CheckpointSegmenter(Segmenter):
    """Replay checkpointed masks, then segment the remaining frames with ``inner`` and checkpoint them.

    Args:
        inner: the segmenter that does the work (closed by :meth:`close`).
        path: checkpoint file (created; its folder must exist).
        fingerprint: identifies the run (input, tracks, settings); a file with another
            fingerprint is started over.

    Attributes:
        replayed: frames answered from the checkpoint in the current run.
        segmented: frames answered by ``inner`` (and appended) in the current run.
        name: the inner segmenter's name (so run reports name the real segmenter).

    Raises:
        CheckpointError: (from :meth:`segment`) if the checkpoint's frames are not the first
            frames of the stream it is given.
    """

    def __init__(self, inner: Segmenter, path: Path, fingerprint: str) -> None:
        self.inner = inner
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.name = inner.name  # type: ignore[misc]  # instance value shadows the ClassVar on purpose
        self.replayed = 0
        self.segmented = 0
        self.available = _open_checkpoint(self.path, fingerprint, FORMAT_NAME)

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Yield one :class:`FrameMasks` per frame: replayed ones first, then the inner segmenter's.

        Args:
            frames: :class:`FramePrompts` in increasing ``frame_idx`` order.

        Yields:
            :class:`FrameMasks` with (H, W) bool masks, in input order.

        Raises:
            CheckpointError: a checkpointed frame index does not match the stream.
        """
        it = iter(frames)
        if self.available:
            with self.path.open("r", encoding="utf-8") as fh:
                next(fh)  # header
                for _ in range(self.available):
                    rec = json.loads(next(fh))
                    fp = next(it, None)
                    if fp is None or fp.frame_idx != rec["frame_idx"]:
                        got = None if fp is None else fp.frame_idx
                        raise CheckpointError(
                            f"checkpoint {self.path} holds frame {rec['frame_idx']} but the video gave frame {got}; "
                            "delete the checkpoint to segment from the start"
                        )
                    masks = {int(t): None if r is None else rle_to_mask(r) for t, r in rec["masks"].items()}
                    scores = {int(t): float(s) for t, s in rec.get("scores", {}).items()}
                    self.replayed += 1
                    yield FrameMasks(fp.frame_idx, masks, scores)
        with self.path.open("a", encoding="utf-8") as out:
            for fm in self.inner.segment(it):
                line = {
                    "frame_idx": int(fm.frame_idx),
                    "masks": {str(int(t)): None if m is None else mask_to_rle(m) for t, m in sorted(fm.masks.items())},
                    "scores": {str(int(t)): float(s) for t, s in sorted(fm.scores.items())},
                }
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
                out.flush()  # in the page cache: survives kill -9 of this process
                self.segmented += 1
                yield fm
            os.fsync(out.fileno())

    def close(self) -> None:
        """Close the inner segmenter. Safe to call twice."""
        self.inner.close()


class CheckpointDetection(DetectAndTrack):
    """Built-in detection whose per-frame detector boxes are checkpointed and replayed on resume.

    Takes over the detectors, tracking options and filters of ``inner`` (a fresh tracker runs in
    :meth:`run`). Frames the checkpoint holds are answered from it without running a detector;
    the others are detected and appended (one line per frame, flushed).

    Args:
        inner: the :class:`DetectAndTrack` to checkpoint (its detectors are closed by
            :meth:`close`).
        path: checkpoint file (created; its folder must exist).
        fingerprint: identifies the run (input, detection options, settings); a file with
            another fingerprint is started over.

    Attributes:
        available: frames the checkpoint held when opened.
        replayed: frames answered from the checkpoint in the current run.
        detected: frames the detectors ran on (and appended) in the current run.

    Raises:
        CheckpointError: (from :meth:`detect`) the checkpoint holds a line that does not belong
            to the frame being detected.
    """

    def __init__(self, inner: DetectAndTrack, path: Path, fingerprint: str) -> None:
        super().__init__(inner.detectors, inner.tracking, min_score=inner.min_score, classes=inner.classes)
        self.path = Path(path)
        self.available = _open_checkpoint(self.path, fingerprint, DETECT_FORMAT_NAME)
        self.replayed = 0
        self.detected = 0
        self._calls = 0
        self._replay: TextIO | None = None
        self._append: TextIO | None = None

    def detect(self, image: np.ndarray, upright: DisplayTransform | None = None) -> FrameDetections:
        """The boxes of the next frame: replayed from the checkpoint, else detected and appended.

        Args:
            image: (H, W, 3) uint8 RGB of frame ``n`` (the ``n``-th call, 0-based), as stored.
            upright: as in :meth:`DetectAndTrack.detect` (detect on the upright frame); the
                checkpoint holds the boxes in stored pixels, so a replay does not need it.

        Returns:
            :class:`FrameDetections` after ``min_score`` / ``classes`` (float32 boxes, pixels).
        """
        idx, self._calls = self._calls, self._calls + 1
        if idx < self.available:
            if self._replay is None:
                self._replay = self.path.open("r", encoding="utf-8")
                next(self._replay)  # header
            rec = json.loads(next(self._replay))
            if rec.get("frame_idx") != idx:
                raise CheckpointError(
                    f"checkpoint {self.path} holds frame {rec.get('frame_idx')} where frame {idx} "
                    "was expected; delete the checkpoint to detect from the start"
                )
            self.replayed += 1
            return FrameDetections(
                np.asarray(rec["xyxy"], np.float32).reshape(-1, 4), np.asarray(rec["scores"], np.float32), tuple(rec["classes"])
            )
        found = super().detect(image, upright)
        if self._append is None:
            self._append = self.path.open("a", encoding="utf-8")
        line = {"frame_idx": idx, "xyxy": found.xyxy.tolist(), "scores": found.scores.tolist(), "classes": list(found.class_names)}
        self._append.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._append.flush()  # in the page cache: survives kill -9 of this process
        self.detected += 1
        return found

    def close(self) -> None:
        """Close the checkpoint file and the detectors. Safe to call twice."""
        for fh in (self._replay, self._append):
            if fh is not None:
                fh.close()
        self._replay = self._append = None
        super().close()
