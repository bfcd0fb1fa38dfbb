"""Benchmark the SAM 2 ``video`` and ``baseline`` strategies (speed and peak memory).

Random-init published architecture (weights cannot be downloaded here): the timings are those of
the real network, the masks are meaningless. Frames come from a real clip (default
``../shared/data/videos/pingpong-720p.mp4``), looped when more frames are asked for than it has;
the boxes are fixed synthetic boxes spread over the frame (one per track).

With random weights SAM 2 predicts "no object" on most frames, so the ``video`` strategy would
re-prompt every track on every frame (its drift rule). ``--no-reprompt`` turns the rule off to
measure plain propagation, which is the path whose state grows in stock SAM 2 and what a trained
model does on most frames.

Usage (one measurement per process, so peak RSS is per run)::

    python scripts/bench_sam2_video.py speed --strategy video --tracks 5 --input-size 512 --frames 4
    python scripts/bench_sam2_video.py memory --frames 3000 --input-size 256 --no-reprompt

Prints one JSON line: strategy, tracks, input size, frames, seconds per frame (after the first
frame, which includes warm-up), peak RSS (``VmHWM`` from /proc/self/status, MiB), state counts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "videos" / "pingpong-720p.mp4"


def peak_rss_mib() -> float:
    """Peak resident set size of this process (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def looped_frames(path: Path, n: int) -> Iterator[np.ndarray]:
    """``n`` RGB frames of ``path``, decoding it again from the start as often as needed."""
    import av

    produced = 0
    while produced < n:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
                produced += 1
                if produced == n:
                    return
        if produced == 0:
            raise SystemExit(f"{path}: no video frames")


def synthetic_boxes(n_tracks: int, width: int, height: int) -> list[tuple[float, float, float, float]]:
    """``n_tracks`` boxes side by side across the middle of the frame (xyxy pixels)."""
    bw = width / (n_tracks + 1)
    return [
        (bw * (i + 0.5), height * 0.25, bw * (i + 1.5) - 4.0, height * 0.8) for i in range(n_tracks)
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=("speed", "memory"))
    ap.add_argument("--strategy", choices=("video", "baseline"), default="video")
    ap.add_argument("--tracks", type=int, default=1)
    ap.add_argument("--input-size", type=int, default=1024)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--chunk-size", type=int, default=300)
    ap.add_argument("--model", default="sam2.1_hiera_tiny")
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--no-reprompt", action="store_true", help="video: disable drift re-prompting")
    ap.add_argument("--report-every", type=int, default=0, help="memory: log progress every N frames")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    import warnings

    import torch

    from sammask.segmentation.base import FramePrompts, TrackPrompt
    from sammask.segmentation.sam2.model import build_sam2_model
    from sammask.segmentation.sam2.video import BaselineStrategy, VideoStrategy
    from sammask.settings import Sam2Settings

    warnings.filterwarnings("ignore", message=".*post-processing.*")
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build_sam2_model(args.model, checkpoint=None, image_size=args.input_size, random_init=True)
    settings = Sam2Settings(
        model=args.model, strategy=args.strategy, input_size=args.input_size, chunk_size=args.chunk_size
    )
    if args.strategy == "video":
        strategy = VideoStrategy(model, settings)
        if args.no_reprompt:
            strategy.needs_reprompt = lambda mask, bbox: False  # type: ignore[method-assign]
    else:
        strategy = BaselineStrategy(model, settings)

    def stream() -> Iterator[FramePrompts]:
        boxes = None
        for i, img in enumerate(looped_frames(args.video, args.frames)):
            if boxes is None:
                boxes = synthetic_boxes(args.tracks, img.shape[1], img.shape[0])
            yield FramePrompts(i, img, [TrackPrompt(t + 1, b) for t, b in enumerate(boxes)])

    t0 = time.perf_counter()
    t_first = None
    n = 0
    for fm in strategy.segment(stream()):
        n += 1
        if t_first is None:
            t_first = time.perf_counter()
        if args.report_every and n % args.report_every == 0:
            print(
                f"frame {n}: {time.perf_counter() - t0:.0f} s, peak RSS {peak_rss_mib():.0f} MiB",
                file=sys.stderr,
                flush=True,
            )
    t_end = time.perf_counter()
    assert t_first is not None
    result = {
        "kind": args.kind,
        "strategy": args.strategy,
        "model": args.model,
        "tracks": args.tracks,
        "input_size": args.input_size,
        "frames": n,
        "chunk_size": args.chunk_size if args.strategy == "baseline" else None,
        "no_reprompt": args.no_reprompt,
        "threads": torch.get_num_threads(),
        "total_s": round(t_end - t0, 2),
        # baseline yields a whole chunk at once: use the mean over all frames for it
        "s_per_frame": round((t_end - t0) / n, 3),
        "s_per_frame_after_first": round((t_end - t_first) / (n - 1), 3) if n > 1 and args.strategy == "video" else None,
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "cpu_count": os.cpu_count(),
    }
    if isinstance(strategy, VideoStrategy):
        result["reprompts"] = strategy.reprompt_count
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
