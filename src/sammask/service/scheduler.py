"""The server's scheduler thread: starts one worker process per running job, reaps, resumes, expires.

At most ``workers`` jobs run at once. A worker that exits without recording an outcome (killed,
crashed) has its job put back in the queue, where it resumes from its segmentation checkpoint, up
to :data:`MAX_ATTEMPTS` attempts. On start, jobs a killed server left ``running`` are queued
again, and job folders without a row (an upload cut off by a crash) are removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sammask.service.layout import JOB_ID, JobFiles
from sammask.service.store import JobState, JobStore
from sammask.service.worker import PARENT_ENV

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""A job whose worker dies this many times fails (a video that crashes the decoder every time)."""

TICK_S = 0.1
RETENTION_SWEEP_S = 60.0


@dataclass(slots=True)
class _Running:
    proc: subprocess.Popen[bytes]
    attempt: int


class Scheduler:
    """Runs queued jobs in worker processes.

    Args:
        store: the :class:`JobStore`.
        data_dir: the data folder.
        workers: maximum concurrent worker processes (>= 1).
        retention_s: terminal jobs older than this are deleted with their files (None: kept
            until deleted).
        max_unpack_bytes: most bytes a job's masks zip may unpack to (``--max-unpack-mb``).
    """

    def __init__(
        self, store: JobStore, data_dir: Path, workers: int, retention_s: float | None, max_unpack_bytes: int = 4096 << 20
    ) -> None:
        self.store = store
        self.max_unpack_bytes = int(max_unpack_bytes)
        self.data_dir = Path(data_dir)
        self.workers = max(1, int(workers))
        self.retention_s = retention_s
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sweep = 0.0

    def start(self) -> None:
        """Recover after a crash and start the scheduling thread."""
        resumed = self.store.requeue_all_running()
        if resumed:
            logger.warning("resuming %d job(s) left running: %s", len(resumed), ", ".join(resumed))
        known = self.store.ids()
        for folder in ((self.data_dir / "jobs").glob("*"), (self.data_dir / "incoming").glob("*")):
            for path in folder:
                if path.parent.name == "incoming" or (JOB_ID.match(path.name) and path.name not in known):
                    shutil.rmtree(path, ignore_errors=True)
        self._thread = threading.Thread(target=self._loop, name="sammask-scheduler", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the queue now (a job was submitted)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop scheduling and kill the workers; their jobs stay ``running`` and resume on restart."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for job in self._running.values():
                job.proc.kill()
            for job in self._running.values():
                job.proc.wait()
            self._running.clear()

    def kill(self, job_id: str) -> None:
        """Kill the worker of ``job_id`` (if any) and wait for it to exit."""
        with self._lock:
            job = self._running.pop(job_id, None)
            if job is not None:
                job.proc.kill()
                job.proc.wait()

    @property
    def active(self) -> int:
        """Number of worker processes running."""
        with self._lock:
            return len(self._running)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._reap()
                self._fill()
                self._expire()
            except Exception:  # the scheduler must outlive one bad tick; logged
                logger.exception("scheduler tick failed")
            self._wake.wait(TICK_S)
            self._wake.clear()

    def _reap(self) -> None:
        with self._lock:
            for job_id, job in list(self._running.items()):
                rc = job.proc.poll()
                if rc is None:
                    continue
                del self._running[job_id]
                rec = self.store.get(job_id)
                if rec is None or rec.state is not JobState.RUNNING or rec.attempts != job.attempt:
                    continue  # finished, cancelled or deleted
                if job.attempt < MAX_ATTEMPTS:
                    logger.warning("worker of job %s exited with %s mid-job: resuming", job_id, rc)
                    self.store.requeue(job_id, job.attempt)
                else:
                    self.store.finish(
                        job_id, job.attempt, JobState.FAILED, error=f"worker process died (exit status {rc}) in {job.attempt} attempts"
                    )
                    JobFiles.of(self.data_dir, job_id).keep_only_log()

    def _fill(self) -> None:
        with self._lock:
            while len(self._running) < self.workers and not self._stop.is_set():
                rec = self.store.claim_next()
                if rec is None:
                    return
                files = JobFiles.of(self.data_dir, rec.id)
                files.root.mkdir(parents=True, exist_ok=True)
                env = dict(os.environ, **{PARENT_ENV: str(os.getpid())})
                with files.log.open("ab") as log:
                    proc = subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "sammask.service.worker",
                            str(self.data_dir),
                            rec.id,
                            str(rec.attempts),
                            str(self.max_unpack_bytes),
                        ],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        env=env,
                    )
                self._running[rec.id] = _Running(proc, rec.attempts)

    def _expire(self) -> None:
        if self.retention_s is None or time.monotonic() - self._last_sweep < RETENTION_SWEEP_S:
            return
        self._last_sweep = time.monotonic()
        for job_id in self.store.finished_before(time.time() - self.retention_s):
            JobFiles.of(self.data_dir, job_id).remove()
            self.store.delete(job_id)
            logger.info("job %s expired (retention)", job_id)
