"""pytest plugin: the session fails when a test leaves a child process or a non-daemon thread.

Either blocks the interpreter's exit after the last test (multiprocessing joins its children at
exit, a non-daemon thread is joined too), so a suite that printed its result could hang for ever;
OpenVINO's telemetry once did exactly that. Checked once, after every fixture has been torn down;
the leftovers are named (with the test after which each was first seen alive) in the terminal
summary, then terminated so that the run still ends.
"""

from __future__ import annotations

import concurrent.futures.thread
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest


def child_pids(pid: int | None = None) -> list[int]:
    """Direct child processes of ``pid`` (default: this process), from /proc (Linux)."""
    pids: list[int] = []
    for task in Path(f"/proc/{pid or os.getpid()}/task").glob("*/children"):
        pids += [int(p) for p in task.read_text().split()]
    return sorted(set(pids))


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
    except OSError:
        return "?"


def _idle_pool_worker(t: threading.Thread) -> bool:
    """An idle ``ThreadPoolExecutor`` worker: blocked in its work queue's ``get``, so its innermost
    Python frame is ``concurrent.futures.thread._worker`` itself (a busy one runs its task's code).

    Such a worker never blocks exit: ``concurrent.futures`` registers ``threading._register_atexit``
    that wakes and joins every worker before the interpreter joins its non-daemon threads. A pool
    that a library keeps alive (a module-level or cached executor) leaves such workers for as long
    as the process lives; whether the garbage collector freed a dropped pool before the end of the
    session is chance (the CI run of 2026-12-06 ended red on exactly that).
    """
    frame = sys._current_frames().get(t.ident or -1)
    return frame is not None and frame.f_code is concurrent.futures.thread._worker.__code__


def blocking_threads() -> list[threading.Thread]:
    """Live non-daemon threads other than the main thread that would block exit (not idle pool workers)."""
    return [
        t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive() and not _idle_pool_worker(t)
    ]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


_STDLIB_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")
"""The standard library's helper processes a process pool starts once per interpreter: they read
a pipe from this process and end by themselves at its EOF, so they never block exit."""


def _exits_with_us(pid: int) -> bool:
    cmd = _cmdline(pid)
    return any(helper in cmd for helper in _STDLIB_HELPERS)


GRACE_S = 15.0
"""How long a thread or child that is already on its way out (a pool shut down with
``wait=False``, a server thread finishing its last request) may take to end before it counts as
left running. Waited on the threads themselves (join) and on the children's state, never a sleep
of fixed length; a thread that blocks exit for good still fails the session."""


def _leftovers(grace_s: float) -> tuple[list[int], list[threading.Thread]]:
    """Children and non-daemon threads still alive after giving them ``grace_s`` seconds to end."""
    deadline = time.monotonic() + grace_s
    for t in blocking_threads():
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    children = [p for p in child_pids() if not _zombie(p) and not _exits_with_us(p)]
    while children and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the children's state until the deadline
        children = [p for p in children if not _zombie(p) and Path(f"/proc/{p}").exists()]
    return children, blocking_threads()


_FIRST_SEEN: dict[str, str] = {}
"""Each child (``"pid N"``) and non-daemon thread (``"thread IDENT"``) seen alive after a test,
mapped to that test's node id: names the test that started a leftover."""

_REPORT: list[str] = []


def _keys() -> list[str]:
    return [f"pid {p}" for p in child_pids()] + [f"thread {t.ident}" for t in blocking_threads()]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]  # pluggy hookwrapper generator
    yield
    for key in _keys():
        _FIRST_SEEN.setdefault(key, item.nodeid)


def _origin(key: str) -> str:
    return f" (first seen after {_FIRST_SEEN[key]})" if key in _FIRST_SEEN else ""


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    children, threads = _leftovers(grace_s=GRACE_S)
    if not children and not threads:
        return
    _REPORT[:] = [f"child process {p}: {_cmdline(p)}{_origin(f'pid {p}')}" for p in children]
    _REPORT.extend(f"non-daemon thread {t.name!r} ({getattr(t, '_target', None)!r}){_origin(f'thread {t.ident}')}" for t in threads)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    for p in children:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]  # pytest's TerminalReporter is not public API
    """Names the leftovers last, next to the result line, where a CI log's tail shows them."""
    if not _REPORT:
        return
    terminalreporter.write_line("")
    terminalreporter.write_line("left running after the last test (they would block interpreter exit):", red=True, bold=True)
    for line in _REPORT:
        terminalreporter.write_line(f"  {line}", red=True)
