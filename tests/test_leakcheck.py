"""tests/leakcheck.py: a session that leaves a child process or a non-daemon thread fails, and ends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

LEAVES_BOTH = """
import subprocess, sys, threading

STOP_FORGOTTEN = threading.Event()

def test_leaves_a_thread_and_a_child():
    threading.Thread(target=STOP_FORGOTTEN.wait, args=(60,), name="forgotten", daemon=False).start()
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
"""

# after the plugin has reported, release the forgotten thread so that the inner run ends at once
RELEASE = """
import sys

def pytest_unconfigure(config):
    for module in list(sys.modules.values()):
        event = getattr(module, "STOP_FORGOTTEN", None)
        if event is not None:
            event.set()
"""

CLEAN = """
import subprocess, sys, threading

def test_cleans_up():
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
"""

TESTS = Path(__file__).resolve().parent


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, source: str) -> pytest.RunResult:
    pytester.makepyfile(source)
    pytester.makeconftest(RELEASE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # a bare session starts faster
    return pytester.runpytest_subprocess("-p", "leakcheck", "-p", "no:cacheprovider", timeout=120)


def test_a_leftover_fails_the_session_and_is_named(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(pytester, monkeypatch, LEAVES_BOTH)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*left running after the last test*",
            "*child process*time.sleep(60)*first seen after*test_leaves_a_thread_and_a_child*",
            "*non-daemon thread 'forgotten'*first seen after*test_leaves_a_thread_and_a_child*",
        ]
    )
    result.assert_outcomes(passed=1)


def test_a_clean_session_passes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(pytester, monkeypatch, CLEAN)
    assert result.ret == pytest.ExitCode.OK
    assert "left running" not in result.stdout.str()


ON_ITS_WAY_OUT = """
import threading
from concurrent.futures import ThreadPoolExecutor

def test_pool_shut_down_without_waiting():
    # a pool shut down with wait=False: its worker is still finishing when the session ends
    release = threading.Event()
    pool = ThreadPoolExecutor(1)
    pool.submit(release.wait, 30)
    pool.shutdown(wait=False)
    threading.Timer(0.5, release.set).start()
"""


IDLE_AND_BUSY_POOLS = """
import threading
from concurrent.futures import ThreadPoolExecutor

KEPT = ThreadPoolExecutor(2, thread_name_prefix="kept-idle")  # a library's cached pool
STOP_FORGOTTEN = threading.Event()

def test_an_idle_kept_pool_and_a_busy_one():
    KEPT.submit(lambda: None).result()
    busy = ThreadPoolExecutor(1, thread_name_prefix="busy")
    busy.submit(STOP_FORGOTTEN.wait, 60)
    busy.shutdown(wait=False)
"""


def test_an_idle_pool_worker_is_not_a_leak_a_busy_one_is(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle workers of a pool kept alive are joined by concurrent.futures at exit; a worker still
    running its task blocks exit until the task ends, so it is named."""
    result = _run(pytester, monkeypatch, IDLE_AND_BUSY_POOLS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(["*left running after the last test*", "*non-daemon thread 'busy_0'*"])
    assert "kept-idle" not in result.stdout.str()


def test_a_thread_that_ends_within_the_grace_is_not_a_leak(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CI run flagged a third-party ThreadPoolExecutor's workers that were ending on their own."""
    result = _run(pytester, monkeypatch, ON_ITS_WAY_OUT)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert "left running" not in result.stdout.str()
