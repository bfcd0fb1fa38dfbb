"""How long the processes of a local Ray started by ``sammask batch --ray auto`` outlive a ``kill -9`` of the batch.

Usage (figures in docs/reliability.md)::

    PYTHONPATH=src python scripts/ray_kill_check.py IN_FOLDER [--segmenter grabcut]

``IN_FOLDER`` holds videos with their tracks (e.g. ``<seq>/video.mp4`` + ``gt.txt`` clips). The
batch runs with ``--jobs 2`` into a fresh temporary folder; once its raylet and a Ray worker are
up, every descendant of the batch is noted, the batch is killed with SIGKILL, and the script
prints how many seconds passed until none of them was alive (polled every 0.2 s, at most 90 s).
Survivors are killed at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _table() -> dict[int, int]:
    kids = {}
    for st in Path("/proc").glob("[0-9]*/stat"):
        try:
            kids[int(st.parent.name)] = int(st.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            pass
    return kids


def _descendants(pid: int) -> set[int]:
    table, found, frontier = _table(), set(), {pid}
    while frontier:
        frontier = {p for p, pp in table.items() if pp in frontier} - found
        found |= frontier
    return found


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", type=Path)
    ap.add_argument("--segmenter", default="grabcut")
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="ray-kill-")) / "out"
    cmd = [sys.executable, "-c", "import sys; sys.argv[0]='sammask'; from sammask.cli import main; main()",
           "batch", str(args.inputs), "-o", str(out), "--ray", "auto", "--jobs", "2", "--segmenter", args.segmenter]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while True:
        names = [_name(p) for p in _descendants(proc.pid)]
        if any("raylet" in n for n in names) and any(n.startswith(("ray::IDLE", "ray::run_task")) for n in names):
            break
        if proc.poll() is not None or time.monotonic() - t0 > 120:
            sys.exit("the batch ended (or took over 120 s) before Ray's workers were seen")
        time.sleep(0.2)
    noted = _descendants(proc.pid)
    print(f"{len(noted)} processes under the batch after {time.monotonic() - t0:.1f} s:")
    for p in sorted(noted):
        print(f"  {p} {_name(p)[:90]}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t1 = time.monotonic()
    while time.monotonic() - t1 < 90 and any(_alive(p) for p in noted):
        time.sleep(0.2)
    left = [p for p in noted if _alive(p)]
    print(f"all gone after {time.monotonic() - t1:.1f} s" if not left else
          f"still alive after 90 s: {[_name(p)[:40] for p in left]}")
    for p in left:
        os.kill(p, signal.SIGKILL)


if __name__ == "__main__":
    main()
