"""The worker process of one job attempt: ``python -m sammask.service.worker DATA_DIR JOB_ID ATTEMPT MAX_UNPACK_BYTES``.

The scheduler starts one process per running job, so a crash (or a kill) of one job never takes
the server down. The worker runs :func:`sammask.batch.task.run_task` (the same code path as
``sammask batch``) with the job's checkpoint(s), writes progress to the job store, and records the
outcome (the report gains ``resumed``: the attempt and the frames replayed from the checkpoints).
Its outputs go to ``work/`` and are moved to ``result/`` in one rename before the job is marked done.
It dies with its server (Linux ``PR_SET_PDEATHSIG``), so a restarted server never races an orphan
for the same job.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sammask.batch.options import JobSettings, Source
from sammask.batch.process import die_with_parent
from sammask.batch.task import TaskResult, VideoTask, run_task
from sammask.errors import SammaskError
from sammask.io import write_text_atomic
from sammask.service.layout import JobFiles, without_paths
from sammask.service.masks_upload import stage_job_masks
from sammask.service.store import JobState, JobStore

logger = logging.getLogger(__name__)

PARENT_ENV = "SAMMASK_SERVER_PID"
PROGRESS_INTERVAL_S = 0.25


def _zip_dir(folder: Path, dest: Path) -> None:
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())


def job_source(files: JobFiles) -> Source:
    """Where a job's detections come from: its masks upload, its tracks upload, else built-in detection."""
    if files.masks_upload is not None:
        return Source.MASKS
    return Source.TRACKS if files.tracks.is_file() else Source.DETECT


def run_job(data_dir: Path, job_id: str, attempt: int, max_unpack_bytes: int | None = None) -> int:
    """Run one attempt of a job; returns the process exit code (0 also for a failed video).

    Errors and the report name files relative to the job folder (no server path leaves it); a
    failed job keeps only its ``worker.log``.

    Args:
        data_dir: the service's data folder.
        job_id: the job (state ``running``).
        attempt: the attempt number the scheduler claimed (stale attempts do nothing).
        max_unpack_bytes: most bytes a masks zip may unpack to (None: unbounded).
    """
    store = JobStore(data_dir)
    rec = store.get(job_id)
    if rec is None or rec.state is not JobState.RUNNING or rec.attempts != attempt:
        return 0
    files = JobFiles.of(data_dir, job_id)
    store.set_worker(job_id, attempt, os.getpid())

    def fail(error: str | None, replayed: int = 0) -> int:
        store.finish(job_id, attempt, JobState.FAILED, error=without_paths(error, files.root, Path(data_dir).resolve()), replayed=replayed)
        files.keep_only_log()
        return 0

    if files.output.is_file() and files.report.is_file():  # killed after the final rename
        store.finish(job_id, attempt, JobState.DONE, report=json.loads(files.report.read_text(encoding="utf-8")))
        return 0
    shutil.rmtree(files.work, ignore_errors=True)
    shutil.rmtree(files.result, ignore_errors=True)
    files.work.mkdir(parents=True)
    try:
        task = _job_task(rec.settings, rec.video_path, files, max_unpack_bytes)
    except _SetupFailed as exc:
        return fail(str(exc))
    result = run_task(task, _progress_reporter(store, job_id, attempt))
    if not result.ok:
        return fail(result.error, result.replayed)
    report = _publish(task, result, files, attempt, Path(data_dir).resolve())
    store.finish(job_id, attempt, JobState.DONE, report=report, replayed=result.replayed)
    shutil.rmtree(files.input_dir, ignore_errors=True)
    return 0


class _SetupFailed(Exception):
    """A job's settings or masks upload could not be turned into a task (the message is recorded)."""


def _job_task(job_settings: dict[str, Any], video_path: str, files: JobFiles, max_unpack_bytes: int | None) -> VideoTask:
    """The :class:`VideoTask` of a job: its settings for its source, its masks upload staged.

    Raises:
        _SetupFailed: the settings do not fit the source, or the masks upload cannot be staged
            (``"ExceptionType: message"``).
    """
    options = JobSettings.model_validate(job_settings)
    source = job_source(files)
    try:
        options.check_source(source)
        settings = options.to_redact_settings(source=source)
    except Exception as exc:  # validated at submission; recorded if it fails anyway
        raise _SetupFailed(f"{type(exc).__name__}: {exc}") from exc
    masks = None
    upload = files.masks_upload
    if upload is not None:
        try:
            masks = stage_job_masks(upload, files.masks_input, max_unpack_bytes)
        except SammaskError as exc:
            raise _SetupFailed(f"{type(exc).__name__}: {exc}") from exc
    return VideoTask(
        input=files.root / video_path,
        tracks=files.tracks if source is Source.TRACKS else None,
        output=files.work / "output.mp4",
        settings=settings,
        report=files.work / "report.json",
        save_masks=files.work / "masks" if options.save_masks else None,
        checkpoint=None if masks is not None else files.checkpoint,
        masks=masks,
        masks_any_video=options.masks_any_video,
        detect=options.detect_options() if source is Source.DETECT else None,
        tracks_filter=options.tracks_filter() if source is Source.TRACKS else None,
    )


def _progress_reporter(store: JobStore, job_id: str, attempt: int) -> Callable[[float], None]:
    """A progress callback that records the fraction done and an ETA in the job store, at most
    every :data:`PROGRESS_INTERVAL_S` seconds (and always at 1.0)."""
    t_start = time.monotonic()
    last = [0.0]

    def progress(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_INTERVAL_S and fraction < 1.0:
            return
        last[0] = now
        elapsed = now - t_start
        eta = elapsed / fraction * (1.0 - fraction) if fraction > 0.01 else None
        store.set_progress(job_id, attempt, fraction, eta)

    return progress


def _publish(task: VideoTask, result: TaskResult, files: JobFiles, attempt: int, data_dir: Path) -> dict[str, Any]:
    """Zip the saved masks, write the report (paths relative to the job, ``resumed`` added) and
    move ``work/`` to ``result/`` in one rename; returns the report."""
    if task.save_masks is not None:
        _zip_dir(task.save_masks, files.work / "masks.zip")
        shutil.rmtree(task.save_masks)
    report = without_paths(
        dict(result.report or {}, output=str(files.output)),  # where the video is once moved
        files.work,
        files.root,
        data_dir,
    )
    report["resumed"] = {"attempt": attempt, "replayed_frames": result.replayed, "detect_replayed_frames": result.detect_replayed}
    write_text_atomic(files.work / "report.json", json.dumps(report, indent=2) + "\n")
    files.work.rename(files.result)
    return report


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``DATA_DIR JOB_ID ATTEMPT [MAX_UNPACK_BYTES]``."""
    args = sys.argv[1:] if argv is None else argv
    parent = os.environ.get(PARENT_ENV)
    die_with_parent(None if parent is None else int(parent))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return run_job(Path(args[0]), args[1], int(args[2]), int(args[3]) if len(args) > 3 else None)


if __name__ == "__main__":
    sys.exit(main())
