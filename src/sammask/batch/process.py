"""Child processes that never outlive their parent, and a lock that keeps two runs off one folder.

Used by ``sammask batch``'s process pool (:func:`die_with_parent` is the pool's initializer) and
by ``serve``'s worker processes, so a ``kill -9`` of the parent never leaves an orphan writing
into an output folder that a re-run is writing too.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
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
            raise ConfigError(f"another {self.what} is writing into {self.path.parent}; wait for it to finish "
                              "or choose another output folder") from None
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
