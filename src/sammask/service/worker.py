"""The worker process of one job attempt: ``python -m sammask.service.worker DATA_DIR JOB_ID ATTEMPT``.

The scheduler starts one process per running job, so a crash (or a kill) of one job never takes
the server down. The worker runs :func:`sammask.batch.task.run_task` (the same code path as
``sammask batch``) with the job's checkpoint(s), writes progress to the job store, and records the
outcome (the report gains ``resumed``: the attempt and the frames replayed from the checkpoints).
Its outputs go to ``work/`` and are moved to ``result/`` in one rename before the job is marked done.
It dies with its server (Linux ``PR_SET_PDEATHSIG``), so a restarted server never races an orphan
for the same job.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import sys
import time
import zipfile
from pathlib import Path

from sammask.batch.masks_input import extract_masks_zip
from sammask.batch.options import JobSettings, Source
from sammask.batch.task import VideoTask, run_task
from sammask.errors import SammaskError
from sammask.service.layout import JobFiles
from sammask.service.store import JobState, JobStore

logger = logging.getLogger(__name__)

PARENT_ENV = "SAMMASK_SERVER_PID"
PROGRESS_INTERVAL_S = 0.25


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the server dies; exit now if it already has."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    parent = os.environ.get(PARENT_ENV)
    if parent is not None and os.getppid() != int(parent):
        os._exit(3)


def _zip_dir(folder: Path, dest: Path) -> None:
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())


def job_source(files: JobFiles) -> Source:
    """Where a job's detections come from: its masks upload, its tracks upload, else built-in detection."""
    if files.masks_upload.is_file():
        return Source.MASKS
    return Source.TRACKS if files.tracks.is_file() else Source.DETECT


def run_job(data_dir: Path, job_id: str, attempt: int) -> int:
    """Run one attempt of a job; returns the process exit code (0 also for a failed video).

    Args:
        data_dir: the service's data folder.
        job_id: the job (state ``running``).
        attempt: the attempt number the scheduler claimed (stale attempts do nothing).
    """
    store = JobStore(data_dir)
    rec = store.get(job_id)
    if rec is None or rec.state is not JobState.RUNNING or rec.attempts != attempt:
        return 0
    files = JobFiles.of(data_dir, job_id)
    store.set_worker(job_id, attempt, os.getpid())
    if files.output.is_file() and files.report.is_file():  # killed after the final rename
        store.finish(job_id, attempt, JobState.DONE, report=json.loads(files.report.read_text(encoding="utf-8")))
        return 0
    shutil.rmtree(files.work, ignore_errors=True)
    shutil.rmtree(files.result, ignore_errors=True)
    files.work.mkdir(parents=True)
    options = JobSettings.model_validate(rec.settings)
    source = job_source(files)
    try:
        options.check_source(source)
        settings = options.to_redact_settings(source=source)
    except Exception as exc:  # noqa: BLE001 - validated at submission; recorded if it fails anyway
        store.finish(job_id, attempt, JobState.FAILED, error=f"{type(exc).__name__}: {exc}")
        return 0
    masks = None
    if files.masks_upload.is_file():
        try:
            masks = extract_masks_zip(files.masks_upload, files.masks_input)
        except SammaskError as exc:
            store.finish(job_id, attempt, JobState.FAILED, error=f"{type(exc).__name__}: {exc}")
            shutil.rmtree(files.input_dir, ignore_errors=True)
            return 0
    task = VideoTask(
        input=Path(rec.video_path),
        tracks=files.tracks if source is Source.TRACKS else None,
        output=files.work / "output.mp4",
        settings=settings,
        report=files.work / "report.json",
        save_masks=files.work / "masks" if options.save_masks else None,
        checkpoint=None if masks is not None else files.checkpoint,
        masks=masks,
        detect=options.detect_options() if source is Source.DETECT else None,
        tracks_filter=options.tracks_filter() if source is Source.TRACKS else None,
    )
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

    result = run_task(task, progress)
    if not result.ok:
        store.finish(job_id, attempt, JobState.FAILED, error=result.error, replayed=result.replayed)
        shutil.rmtree(files.work, ignore_errors=True)
        shutil.rmtree(files.input_dir, ignore_errors=True)
        for checkpoint in (task.checkpoint, task.detect_checkpoint):
            if checkpoint is not None:
                checkpoint.unlink(missing_ok=True)
        return 0
    if task.save_masks is not None:
        _zip_dir(task.save_masks, files.work / "masks.zip")
        shutil.rmtree(task.save_masks)
    report = dict(result.report or {}, output=str(files.output))  # where the video is once moved
    report["resumed"] = {"attempt": attempt, "replayed_frames": result.replayed,
                         "detect_replayed_frames": result.detect_replayed}
    (files.work / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    files.work.rename(files.result)
    store.finish(job_id, attempt, JobState.DONE, report=report, replayed=result.replayed)
    shutil.rmtree(files.input_dir, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``DATA_DIR JOB_ID ATTEMPT``."""
    args = sys.argv[1:] if argv is None else argv
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    return run_job(Path(args[0]), args[1], int(args[2]))


if __name__ == "__main__":
    sys.exit(main())
