"""Job state in SQLite (WAL): the one place the server, its scheduler and the worker processes meet.

Every state change is one conditional ``UPDATE`` (``WHERE state = ... AND attempts = ...``), so a
worker of an old attempt, a cancel and a crash recovery can race without a lost or doubled
transition. The job is durable once :meth:`JobStore.create` returns (``synchronous=FULL`` for that
connection); progress updates use ``synchronous=NORMAL`` (WAL: survives a process kill).

States::

    queued -> running -> done | failed
       \\         \\-> queued (its worker died; resumed from the checkpoint)
        \\-> cancelled (DELETE; also from running)
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

DB_FILE = "jobs.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    started REAL,
    finished REAL,
    progress REAL NOT NULL DEFAULT 0,
    eta_s REAL,
    error TEXT,
    report TEXT,
    settings TEXT NOT NULL,
    video_path TEXT NOT NULL,
    filename TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    attempts INTEGER NOT NULL DEFAULT 0,
    replayed INTEGER NOT NULL DEFAULT 0,
    worker_pid INTEGER,
    owner TEXT NOT NULL DEFAULT 'local'
);
CREATE INDEX IF NOT EXISTS jobs_state_created ON jobs (state, created);
"""


class JobState(str, Enum):
    """Life-cycle state of a job."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True for ``done``, ``failed`` and ``cancelled``."""
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One row of the ``jobs`` table.

    Attributes:
        id: 32 hex digits (uuid4).
        state: :class:`JobState`.
        created, updated, started, finished: UNIX times in seconds (None when not reached).
        progress: fraction of frames done, 0.0 .. 1.0.
        eta_s: estimated seconds left while running, else None.
        error: one-line error of a failed job.
        report: the run report (dict) of a done job.
        settings: the job's :class:`~sammask.batch.options.JobSettings` as a dict.
        video_path: the video the worker reads, relative to the job folder (``input/video``: an
            upload, or a link to / copy of a file under ``--allow-root`` made at submission).
        filename: display name of the video (sanitized; never used as a path).
        idempotency_key: ``<owner>/<Idempotency-Key>``, if the client sent one (keys of two
            clients never meet).
        attempts: how many times a worker started the job (more than 1 after a crash).
        replayed: frames served from the checkpoint by the last attempt.
        worker_pid: process id of the current attempt's worker.
        owner: name of the client that submitted it (see :mod:`sammask.service.auth`).
    """

    id: str
    state: JobState
    created: float
    updated: float
    started: float | None
    finished: float | None
    progress: float
    eta_s: float | None
    error: str | None
    report: dict[str, Any] | None
    settings: dict[str, Any]
    video_path: str
    filename: str
    idempotency_key: str | None
    attempts: int
    replayed: int
    worker_pid: int | None
    owner: str = "local"


def _record(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    data["state"] = JobState(data["state"])
    data["report"] = json.loads(data["report"]) if data["report"] else None
    data["settings"] = json.loads(data["settings"])
    return JobRecord(**data)


class JobStore:
    """SQLite job table under ``data_dir`` (created with WAL journaling).

    Args:
        data_dir: the service's data folder (``jobs.sqlite`` lives here).
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DB_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            columns = {r["name"] for r in db.execute("PRAGMA table_info(jobs)")}
            if "owner" not in columns:  # a data folder of an earlier version
                db.execute("ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT 'local'")

    @contextmanager
    def _connect(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            yield db
        finally:
            db.close()

    def create(
        self, *, job_id: str, settings: dict[str, Any], video_path: str, filename: str, idempotency_key: str | None, owner: str = "local"
    ) -> tuple[JobRecord, bool]:
        """Insert a queued job; with an ``idempotency_key`` already used, return that job instead.

        Returns:
            ``(record, created)``: ``created`` is False when the key matched an existing job.
        """
        now = time.time()
        with self._connect(durable=True) as db:
            try:
                db.execute(
                    "INSERT INTO jobs (id, state, created, updated, settings, video_path, filename, idempotency_key,"
                    " owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, JobState.QUEUED.value, now, now, json.dumps(settings), video_path, filename, idempotency_key, owner),
                )
            except sqlite3.IntegrityError:
                if idempotency_key is None:
                    raise
                row = db.execute("SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
                return _record(row), False
            return _record(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()), True

    def by_key(self, idempotency_key: str) -> JobRecord | None:
        """The job created with this ``Idempotency-Key``, if any."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
        return None if row is None else _record(row)

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None if unknown."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _record(row)

    def list(self, *, state: JobState | None = None, limit: int = 100, owner: str | None = None) -> list[JobRecord]:
        """Jobs, newest first (at most ``limit``), optionally of one state and one owner (None: all owners)."""
        where, args = [], []
        if state is not None:
            where.append("state = ?")
            args.append(state.value)
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created DESC LIMIT ?"
        with self._connect() as db:
            rows = db.execute(sql, (*args, limit)).fetchall()
        return [_record(r) for r in rows]

    def count(self, state: JobState) -> int:
        """Number of jobs in ``state``."""
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state.value,)).fetchone()[0])

    def claim_next(self) -> JobRecord | None:
        """Move the oldest queued job to running (``attempts`` + 1) and return it, or None."""
        with self._connect(durable=True) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT id FROM jobs WHERE state = ? ORDER BY created LIMIT 1", (JobState.QUEUED.value,)).fetchone()
                if row is None:
                    db.execute("COMMIT")
                    return None
                now = time.time()
                db.execute(
                    "UPDATE jobs SET state = ?, attempts = attempts + 1, started = ?, updated = ?, eta_s = NULL,"
                    " worker_pid = NULL WHERE id = ?",
                    (JobState.RUNNING.value, now, now, row["id"]),
                )
                rec = _record(db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone())
                db.execute("COMMIT")
                return rec
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _update_running(self, job_id: str, attempt: int, sql: str, args: tuple[Any, ...], *, durable: bool = False) -> bool:
        with self._connect(durable=durable) as db:
            cur = db.execute(
                f"UPDATE jobs SET {sql}, updated = ? WHERE id = ? AND state = ? AND attempts = ?",
                (*args, time.time(), job_id, JobState.RUNNING.value, attempt),
            )
            return cur.rowcount == 1

    def set_worker(self, job_id: str, attempt: int, pid: int) -> bool:
        """Record the worker process of a running attempt."""
        return self._update_running(job_id, attempt, "worker_pid = ?", (pid,))

    def set_progress(self, job_id: str, attempt: int, progress: float, eta_s: float | None, replayed: int | None = None) -> bool:
        """Update a running attempt's progress (ignored once the job left that attempt)."""
        if replayed is None:
            return self._update_running(job_id, attempt, "progress = ?, eta_s = ?", (progress, eta_s))
        return self._update_running(job_id, attempt, "progress = ?, eta_s = ?, replayed = ?", (progress, eta_s, replayed))

    def finish(
        self,
        job_id: str,
        attempt: int,
        state: JobState,
        *,
        error: str | None = None,
        report: dict[str, Any] | None = None,
        replayed: int = 0,
    ) -> bool:
        """Move a running attempt to ``done`` or ``failed``; False if it was cancelled meanwhile."""
        progress = 1.0 if state is JobState.DONE else None
        return self._update_running(
            job_id,
            attempt,
            "state = ?, finished = ?, error = ?, report = ?, replayed = ?, eta_s = NULL, progress = COALESCE(?, progress)",
            (state.value, time.time(), error, json.dumps(report) if report is not None else None, replayed, progress),
            durable=True,
        )

    def requeue(self, job_id: str, attempt: int) -> bool:
        """Put a running attempt whose worker died back in the queue (it resumes from its checkpoint)."""
        return self._update_running(job_id, attempt, "state = ?, eta_s = NULL, worker_pid = NULL", (JobState.QUEUED.value,), durable=True)

    def requeue_all_running(self) -> builtins.list[str]:  # builtins: the class's own list() shadows it
        """At server start: every job left running by a killed server goes back to the queue."""
        with self._connect(durable=True) as db:
            rows = db.execute("SELECT id FROM jobs WHERE state = ?", (JobState.RUNNING.value,)).fetchall()
            db.execute(
                "UPDATE jobs SET state = ?, eta_s = NULL, worker_pid = NULL, updated = ? WHERE state = ?",
                (JobState.QUEUED.value, time.time(), JobState.RUNNING.value),
            )
        return [r["id"] for r in rows]

    def cancel(self, job_id: str) -> JobState | None:
        """Cancel a queued or running job. Returns its state before, or None if unknown."""
        with self._connect(durable=True) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
                before = None if row is None else JobState(row["state"])
                if before is not None and not before.terminal:
                    now = time.time()
                    db.execute(
                        "UPDATE jobs SET state = ?, finished = ?, updated = ?, eta_s = NULL WHERE id = ?",
                        (JobState.CANCELLED.value, now, now, job_id),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return before

    def delete(self, job_id: str) -> bool:
        """Remove a job's row (its files are the caller's)."""
        with self._connect(durable=True) as db:
            return db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount == 1

    def finished_before(self, t: float) -> builtins.list[str]:
        """Ids of terminal jobs that finished before UNIX time ``t`` (retention)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE state IN (?, ?, ?) AND finished < ?",
                (JobState.DONE.value, JobState.FAILED.value, JobState.CANCELLED.value, t),
            ).fetchall()
        return [r["id"] for r in rows]

    def ids(self) -> set[str]:
        """All job ids."""
        with self._connect() as db:
            return {r["id"] for r in db.execute("SELECT id FROM jobs").fetchall()}
