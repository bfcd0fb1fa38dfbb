"""Benchmark: redact throughput vs a plain PyAV decode+encode of the same clip (docs/benchmarks.md).

Runs, in one process and alternating order, for ``--repeat`` rounds:
  plain   - VideoReader -> VideoWriter with the same EncodeOptions (audio copied), no masking;
  box     - sammask.pipeline.redact with the box segmenter;
  grabcut - redact with the grabcut segmenter (only with --grabcut).
Prints frames per second (median over rounds) and the box/plain ratio.

Usage: python scripts/bench_pipeline.py VIDEO TRACKS [--preset medium] [--repeat 3] [--grabcut]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sammask.media import VideoReader, VideoWriter
from sammask.media.types import EncodeOptions
from sammask.pipeline import redact
from sammask.settings import RedactSettings


def plain(video: Path, out: Path, options: EncodeOptions) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = 0
    with VideoReader(video) as reader, VideoWriter(out, reader.info, options, audio_source=video) as writer:
        for frame in reader:
            writer.write(frame.image, frame.pts)
            n += 1
    return n, time.perf_counter() - t0


def run_redact(video: Path, tracks: Path, out: Path, settings: RedactSettings) -> tuple[int, float, dict]:
    t0 = time.perf_counter()
    report = redact(video, tracks, out, settings)
    return report.frames, time.perf_counter() - t0, report.stage_seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video", type=Path)
    ap.add_argument("tracks", type=Path)
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--grabcut", action="store_true")
    args = ap.parse_args()
    options = EncodeOptions(preset=args.preset)
    fps: dict[str, list[float]] = {"plain": [], "box": [], "grabcut": []}
    stages: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "o.mp4"
        for r in range(args.repeat):
            order = ["plain", "box"] if r % 2 == 0 else ["box", "plain"]
            for name in order:
                if name == "plain":
                    n, s = plain(args.video, out, options)
                else:
                    n, s, stages["box"] = run_redact(args.video, args.tracks, out, RedactSettings(segmenter="box", encode=options))
                fps[name].append(n / s)
                print(f"round {r} {name}: {n} frames {s:.2f} s {n / s:.2f} fps", flush=True)
        if args.grabcut:
            n, s, stages["grabcut"] = run_redact(args.video, args.tracks, out, RedactSettings(segmenter="grabcut", encode=options))
            fps["grabcut"].append(n / s)
            print(f"grabcut: {n} frames {s:.2f} s {n / s:.2f} fps", flush=True)
    med = {k: statistics.median(v) for k, v in fps.items() if v}
    for k, v in med.items():
        print(f"{k}: median {v:.2f} fps over {len(fps[k])} run(s)")
    print(f"ratio box/plain: {med['box'] / med['plain']:.3f}")
    for k, st in stages.items():
        print(f"{k} stage seconds: " + ", ".join(f"{s}={v:.2f}" for s, v in st.items()))


if __name__ == "__main__":
    main()
