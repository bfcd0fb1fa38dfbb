"""Child processes that never outlive their parent, and a lock that keeps two runs off one folder.

Used by ``sammask batch``'s process pool (:func:`die_with_parent` is the pool's initializer), by
``serve``'s worker processes and by ``batch --ray``'s local Ray (:class:`DescendantReaper`), so a
``kill -9`` of the parent never leaves an orphan writing into an output folder that a re-run is
writing too.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Self

from sammask.errors import ConfigError

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask Linux to SIGKILL this process when its parent dies; exit at once if it already has.

    Args:
        parent_pid: the pid the caller expects as its parent (None: the parent at call time).
            Checked after the request, so a parent that died just before it is not missed.
    """
    expected = os.getppid() if parent_pid is None else parent_pid
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != expected:
        os._exit(3)


def _process_table() -> dict[int, tuple[int, int]]:
    """``pid -> (ppid, start time in clock ticks since boot)`` of every process (Linux ``/proc``)."""
    table: dict[int, tuple[int, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while we looked
        table[int(stat.parent.name)] = (int(fields[1]), int(fields[19]))
    return table


def _descendants(roots: set[int], table: dict[int, tuple[int, int]]) -> dict[int, int]:
    """``pid -> start time`` of every descendant of ``roots`` in ``table`` (roots excluded)."""
    found: dict[int, int] = {}
    frontier = set(roots)
    while frontier:
        frontier = {pid for pid, (ppid, _) in table.items() if ppid in frontier and pid not in found}
        found.update({pid: table[pid][1] for pid in frontier})
    return found


def _guard(parent: int, interval_s: float = 0.25) -> None:
    """The reaper's process: note ``parent``'s descendants; SIGKILL them when ``parent`` dies.

    ``parent`` holds the write end of this process's stdin: ``b"done"`` on it ends the guard
    without killing anything; end of file without it means the parent died. A noted process is
    killed only while its start time is unchanged (its pid was not reused).
    """
    me, known, said = os.getpid(), {}, b""
    while True:
        ready, _, _ = select.select([0], [], [], interval_s)
        if ready:
            chunk = os.read(0, 64)
            said += chunk
            if b"done" in said:
                return
            if not chunk:
                break
        known.update({p: t for p, t in _descendants({parent}, _process_table()).items() if p != me})
    table = _process_table()
    alive = {p for p, t in known.items() if p in table and table[p][1] == t}
    alive |= set(_descendants(alive, table)) - {me}  # started since the last look
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class DescendantReaper:
    """While open, a guardian process SIGKILLs every descendant of this process if this process dies.

    ``PR_SET_PDEATHSIG`` (:func:`die_with_parent`) covers direct children only. A local Ray
    started by ``ray.init`` makes its GCS and raylet die with the driver (Ray's fate sharing) and
    its workers die with the raylet, but the raylet's dashboard and runtime-env agents outlive a
    ``kill -9`` of the driver by about a minute (Ray 2.60: they report the raylet's death to the
    dead GCS with a 60 s timeout). The guardian, started on entry, notes this process's
    descendants four times a second and kills those still running (start time unchanged) as soon
    as this process dies; on a normal exit (``__exit__``) it ends without killing anything.
    Linux only (``/proc``); elsewhere it does nothing.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        if sys.platform.startswith("linux"):
            code = f"from sammask.batch.process import _guard; _guard({os.getpid()})"
            self._proc = subprocess.Popen(
                [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            try:
                self._proc.stdin.write(b"done")
                self._proc.stdin.close()
            except BrokenPipeError:  # the guardian died: nothing to end
                pass
            self._proc.wait()
            self._proc = None


class FolderLock:
    """An exclusive ``flock`` on ``folder/.lock`` held while a run writes into ``folder``.

    The kernel drops the lock when the holder dies (even ``kill -9``), so a stale lock never
    blocks a re-run.

    Args:
        folder: the output folder (created).
        what: how the error names the holder (``batch``).

    Raises:
        ConfigError: another live process holds the lock.
    """

    def __init__(self, folder: Path, what: str = "run") -> None:
        self.path = Path(folder) / ".lock"
        self.what = what
        self._fh: IO[bytes] | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("ab")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise ConfigError(
                f"another {self.what} is writing into {self.path.parent}; wait for it to finish or choose another output folder"
            ) from None
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
