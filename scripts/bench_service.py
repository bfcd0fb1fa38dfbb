"""Measure the job service and batch modes on this machine (figures for docs/service.md).

    flock /tmp/sammask-bench.lock .venv/bin/python scripts/bench_service.py service --jobs 20 --frames 24
    flock /tmp/sammask-bench.lock .venv/bin/python scripts/bench_service.py batch --frames 30

``service``: starts ``sammask serve`` (``--workers``), submits N jobs at once (one thread each),
polls ``GET /v1/jobs/{id}`` round-robin from one client while they run (latency p50/p95), samples
the server's and the workers' resident memory, and reports jobs/min and frames/s from the first
submit to the last job done. ``batch``: runs ``sammask batch`` on 8 shared DAVIS clips (first
``--frames`` frames) serially, with ``--jobs 2`` and with ``--ray auto`` (local Ray, 2 CPUs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from service_helpers import Server, make_clip  # noqa: E402

DAVIS = REPO.parent / "shared" / "data" / "davis2016"
BATCH_SEQS = ("bmx-bumps", "bus", "car-turn", "dance-jump", "hike", "kite-walk", "lucia", "stroller")


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def bench_service(args: argparse.Namespace) -> dict:
    import httpx

    work = Path(tempfile.mkdtemp(prefix="sammask-bench-svc-"))
    video, tracks = make_clip(DAVIS / "hike", work / "clip", args.frames)
    srv = Server(work / "data", "--workers", str(args.workers), "--token", "bench-token-0123456789").start()
    headers = {"Authorization": "Bearer bench-token-0123456789"}
    settings = json.dumps({"segmenter": args.segmenter})
    video_bytes, tracks_bytes = video.read_bytes(), tracks.read_bytes()
    latencies: list[float] = []
    peak = {"server_mb": 0.0, "workers_mb": 0.0}
    stop = threading.Event()

    def sample_memory() -> None:
        while not stop.is_set():
            peak["server_mb"] = max(peak["server_mb"], rss_mb(srv.proc.pid))
            peak["workers_mb"] = max(peak["workers_mb"], sum(rss_mb(c) for c in children(srv.proc.pid)))
            time.sleep(0.1)

    def submit(i: int) -> str:
        with httpx.Client(base_url=srv.url, headers=headers, timeout=120) as c:
            r = c.post("/v1/jobs", files={"video": (f"clip{i}.mp4", video_bytes), "tracks": ("gt.txt", tracks_bytes)},
                       data={"settings": settings})
            r.raise_for_status()
            return r.json()["id"]

    mem = threading.Thread(target=sample_memory, daemon=True)
    mem.start()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        ids = list(pool.map(submit, range(args.jobs)))
    t_submitted = time.perf_counter() - t0
    states: dict[str, dict] = {}
    with httpx.Client(base_url=srv.url, headers=headers, timeout=30) as c:
        deadline = time.monotonic() + 900
        i = 0
        while time.monotonic() < deadline:
            job_id = ids[i % len(ids)]
            i += 1
            t = time.perf_counter()
            job = c.get(f"/v1/jobs/{job_id}").json()
            latencies.append(time.perf_counter() - t)
            states[job_id] = job
            if len(states) == len(ids) and all(s["state"] in ("done", "failed") for s in states.values()):
                break
            time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    stop.set()
    mem.join()
    srv.stop()
    done = [s for s in states.values() if s["state"] == "done"]
    frames = sum(s["report"]["frames"] for s in done)
    lat = sorted(latencies)
    return {
        "jobs": args.jobs, "workers": args.workers, "segmenter": args.segmenter, "frames_per_clip": args.frames,
        "clip": "davis2016/hike 854x480 (first frames, lossless trim)",
        "done": len(done), "failed": len(ids) - len(done),
        "submit_all_s": round(t_submitted, 2), "elapsed_s": round(elapsed, 2),
        "jobs_per_min": round(len(done) / elapsed * 60, 1), "frames_per_s": round(frames / elapsed, 1),
        "get_requests": len(lat), "get_p50_ms": round(statistics.median(lat) * 1000, 1),
        "get_p95_ms": round(lat[int(0.95 * (len(lat) - 1))] * 1000, 1),
        "server_peak_rss_mb": round(peak["server_mb"], 1), "workers_peak_rss_mb": round(peak["workers_mb"], 1),
    }


def bench_batch(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="sammask-bench-batch-"))
    for seq in BATCH_SEQS:
        make_clip(DAVIS / seq, work / "in" / seq, args.frames)
    sammask = str(Path(sys.executable).parent / "sammask")
    runs = {}
    for label, extra in (("serial", []), ("jobs2", ["--jobs", "2"]), ("ray", ["--ray", "auto", "--jobs", "2"])):
        out = work / f"out-{label}"
        t = time.perf_counter()
        proc = subprocess.run([sammask, "batch", str(work / "in"), "-o", str(out), "--segmenter", args.segmenter, *extra],
                              capture_output=True, text=True, env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
        wall = time.perf_counter() - t
        summary = json.loads((out / "batch-summary.json").read_text())
        runs[label] = {"exit": proc.returncode, "wall_s": round(wall, 2), "batch_s": summary["seconds"],
                       "done": summary["done"], "failed": summary["failed"], "frames": summary["frames"],
                       "fps": round(summary["frames"] / wall, 1)}
    for label in ("jobs2", "ray"):
        runs[label]["speedup_vs_serial"] = round(runs["serial"]["wall_s"] / runs[label]["wall_s"], 2)
    return {"clips": len(BATCH_SEQS), "frames_per_clip": args.frames, "segmenter": args.segmenter, "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("service", "batch"))
    ap.add_argument("--jobs", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--segmenter", default="box")
    args = ap.parse_args()
    load_before = os.getloadavg()
    result = bench_service(args) if args.what == "service" else bench_batch(args)
    result["loadavg_before"] = [round(x, 2) for x in load_before]
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["cpus"] = os.cpu_count()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
