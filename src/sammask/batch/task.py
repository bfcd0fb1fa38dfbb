"""One video, one task: the code path shared by ``sammask batch`` (pool or Ray) and ``serve``'s workers.

:func:`run_task` runs :func:`sammask.pipeline.redact` on one :class:`VideoTask` with a
:class:`~sammask.batch.checkpoint.CheckpointSegmenter` (when the task names a checkpoint file) and
turns the outcome into a picklable :class:`TaskResult`: a failure of one video is a result, not
an exception, so a batch or a job server goes on with the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sammask.batch.checkpoint import CheckpointSegmenter
from sammask.batch.masks_input import MaskFileSegmenter, tracks_from_masks
from sammask.errors import InputFileError, SammaskError
from sammask.export.applied import META_FILE
from sammask.media.probe import check_input_file
from sammask.pipeline import ProgressCallback, redact
from sammask.segmentation import Segmenter, build_segmenter
from sammask.settings import RedactSettings
from sammask.tracks import Tracks

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VideoTask:
    """What to run for one video.

    Attributes:
        input: input video.
        tracks: tracks file (MOT ``.txt`` or sammask ``.json``, detected by content); None
            when ``masks`` is given.
        output: output video (written atomically).
        settings: :class:`RedactSettings`.
        report: where to write the run report (JSON), or None.
        save_masks: folder for the applied-mask export, or None.
        checkpoint: segmentation checkpoint file, or None (no resume).
        masks: an applied-mask export folder to apply instead of tracks + segmentation
            (:mod:`sammask.batch.masks_input`), or None.
    """

    input: Path
    tracks: Path | None
    output: Path
    settings: RedactSettings = field(default_factory=RedactSettings)
    report: Path | None = None
    save_masks: Path | None = None
    checkpoint: Path | None = None
    masks: Path | None = None


@dataclass(slots=True)
class TaskResult:
    """Outcome of :func:`run_task`.

    Attributes:
        input: input video path.
        output: output video path.
        ok: True when the output was written.
        error: one-line error (``"<ExceptionType>: message"``) when not ok.
        user_error: True when the error is a :class:`SammaskError` (bad input or settings),
            False for an unexpected (internal) error.
        report: the run report as a dict when ok.
        seconds: wall-clock seconds of the task.
        replayed: frames served from the checkpoint (not segmented again).
        segmented: frames segmented in this run.
    """

    input: str
    output: str
    ok: bool
    error: str | None = None
    user_error: bool = True
    report: dict[str, Any] | None = None
    seconds: float = 0.0
    replayed: int = 0
    segmented: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        return asdict(self)


def task_fingerprint(task: VideoTask) -> str:
    """Hex SHA-256 identifying what a checkpoint of ``task`` depends on.

    Covers the input video's size and modification time, the tracks file's bytes and the
    settings (not the output paths). Raises ``OSError`` if a file is missing.
    """
    h = hashlib.sha256()
    st = task.input.stat()
    h.update(f"{st.st_size}:{st.st_mtime_ns}\n".encode())
    h.update(hashlib.sha256(task.tracks.read_bytes()).digest())
    h.update(json.dumps(asdict(task.settings), sort_keys=True, default=str).encode())
    return h.hexdigest()


def _clear_crashed_export(folder: Path) -> None:
    """Remove an applied-mask export a crashed run left (``complete`` false); keep anything else."""
    meta = folder / META_FILE
    if not meta.is_file():
        return
    try:
        complete = json.loads(meta.read_text(encoding="utf-8")).get("complete")
    except ValueError:
        return
    if complete is False:
        shutil.rmtree(folder)


def run_task(task: VideoTask, progress: ProgressCallback | None = None) -> TaskResult:
    """Redact one video; never raises for a failure of the video itself.

    With ``task.checkpoint``, masks already in the checkpoint are replayed instead of segmented
    and new ones are appended as they are produced; the checkpoint is deleted once the output is
    written.

    Args:
        task: the :class:`VideoTask`.
        progress: optional callback with the fraction of frames done (0.0 .. 1.0).

    Returns:
        A :class:`TaskResult` (``ok`` False with the error on failure).
    """
    t0 = time.perf_counter()
    result = TaskResult(input=str(task.input), output=str(task.output), ok=False)
    seg: CheckpointSegmenter | None = None
    try:
        segmenter: Segmenter | None = None
        tracks: Tracks | Path | None = task.tracks
        if task.masks is not None:
            tracks, segmenter = tracks_from_masks(task.masks), MaskFileSegmenter(task.masks)
        elif tracks is None:
            raise InputFileError("a task needs a tracks file or a masks export")
        elif task.checkpoint is not None:
            check_input_file(task.input)
            if not tracks.is_file():
                raise InputFileError(f"tracks file not found: {tracks}")
            inner = build_segmenter(task.settings.segmenter, **task.settings.segmenter_options())
            try:
                seg = CheckpointSegmenter(inner, task.checkpoint, task_fingerprint(task))
            except BaseException:
                inner.close()
                raise
            segmenter = seg
        if task.save_masks is not None:
            _clear_crashed_export(task.save_masks)
        report = redact(task.input, tracks, task.output, task.settings, progress=progress,
                        save_masks=task.save_masks, report_path=task.report, segmenter=segmenter)
        result.ok = True
        result.report = json.loads(report.to_json())
        if task.checkpoint is not None:
            task.checkpoint.unlink(missing_ok=True)
    except SammaskError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - one video's bug must not stop the batch; it is reported
        logger.exception("internal error on %s", task.input)
        result.error, result.user_error = f"{type(exc).__name__}: {exc}", False
    if seg is not None:
        result.replayed, result.segmented = seg.replayed, seg.segmented
    result.seconds = time.perf_counter() - t0
    return result
