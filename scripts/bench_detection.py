"""Measure built-in face detection for docs/detection.md, side by side with deface 1.5.

Modes:

``run``: for each clip, ``sammask redact CLIP -o OUT`` as the CLI runs it without ``--tracks``
(faces detector at full resolution, ByteTrack, coasting, box masking, blur, x264 CRF 18 medium,
audio copied), timed end to end including model load; the detector and the detection stream
are wrapped only to record per frame the raw detector boxes and the final (coasted) boxes.

``variants``: replays the recorded raw boxes through tracking / coasting variants (no decode,
no detector): tracks, untracked detections, coasted track-frames, rescued frames.

``compare``: per clip against ``scripts/bench_deface.py`` results: faces per frame, frames where
deface finds a face sammask misses (a deface box whose centre lies in no sammask box) and the
reverse, before and after coasting, fps of both; prints markdown.

Usage (every run under ``flock /tmp/sammask-bench.lock``)::

    python scripts/bench_detection.py run --clips pedestrians-1080p,pingpong-720p --out /tmp/bench
    python scripts/bench_detection.py variants --out /tmp/bench
    python scripts/bench_detection.py compare --out /tmp/bench
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "videos"


def run(clips: list[str], out: Path) -> None:
    from sammask.detection import DetectAndTrack, Detections
    from sammask.detection.command import make_detection
    from sammask.pipeline import redact
    from sammask.settings import RedactSettings

    for clip in clips:
        raw: list[list[list[float]]] = []
        final: list[list[list[float]]] = []
        t0 = time.perf_counter()
        det = make_detection("faces")
        inner = det.detectors[0]
        real_detect = inner.detect

        def recording_detect(image: np.ndarray, _real=real_detect) -> Detections:
            found = _real(image)
            raw.append(np.concatenate([found.xyxy, found.scores[:, None]], axis=1).tolist())
            return found

        inner.detect = recording_detect  # type: ignore[method-assign]
        real_run = DetectAndTrack.run

        def recording_run(self, frames, upright=None, _real=real_run):  # type: ignore[no-untyped-def]
            for item, dets in _real(self, frames, upright):
                final.append([list(d.bbox) for d in dets])
                yield item, dets

        det.run = recording_run.__get__(det)  # type: ignore[method-assign]
        report = redact(DATA / f"{clip}.mp4", None, out / f"{clip}-sammask.mp4", RedactSettings(segmenter="box"), detection=det)
        seconds = time.perf_counter() - t0
        det.close()
        res = {"clip": clip, "seconds": seconds, "frames": report.frames, "raw": raw, "final": final,
               "report": json.loads(report.to_json())}
        (out / f"{clip}-sammask.json").write_text(json.dumps(res))
        print(f"sammask {clip}: {report.frames} frames in {seconds:.1f} s ({report.frames / seconds:.2f} fps), "
              f"stages {res['report']['stage_seconds']}")


def _replay(raw: list[list[list[float]]], options):  # type: ignore[no-untyped-def]
    """Run recorded detector boxes through tracking + coasting: (stats, final boxes per frame)."""
    from sammask.detection import DetectAndTrack, Detections
    from sammask.detection.base import Detector

    class Replay(Detector):
        name = "replay"
        classes = ("face",)

        def __init__(self, frames: list[list[list[float]]]) -> None:
            arrs = [np.array(f, np.float32).reshape(-1, 5) for f in frames]
            self.frames = [Detections(a[:, :4], a[:, 4], ("face",) * len(a)) for a in arrs]

        def detect(self, image: np.ndarray) -> Detections:
            return self.frames.pop(0)

    class F:
        def __init__(self, i: int) -> None:
            self.frame_idx, self.image = i, None

    s = DetectAndTrack([Replay(raw)], options)
    final = [[list(d.bbox) for d in dets] for _, dets in s.run(F(i) for i in range(len(raw)))]
    return s.stats, final


def variants(out: Path) -> None:
    from sammask.detection import TrackingOptions

    print("| clip | max_gap | margin | high_score | tracks | untracked | gap | lead | trail | frames rescued |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in sorted(out.glob("*-sammask.json")):
        res = json.loads(path.read_text())
        for max_gap, margin, high in ((0, 0, 0.5), (5, 0, 0.5), (10, 0, 0.5), (25, 0, 0.5), (10, 3, 0.5), (10, 3, 0.2)):
            st, _ = _replay(res["raw"], TrackingOptions(max_gap=max_gap, margin=margin, high_score=high))
            print(f"| {res['clip']} | {max_gap} | {margin} | {high} | {st.tracks} | {st.untracked} | {st.coasted['gap']} | "
                  f"{st.coasted['lead']} | {st.coasted['trail']} | {st.frames_rescued} |")


def _centres(boxes: list[list[float]]) -> np.ndarray:
    b = np.array(boxes, float).reshape(len(boxes), -1)[:, :4] if boxes else np.zeros((0, 4))
    return (b[:, :2] + b[:, 2:]) / 2


def _inside(points: np.ndarray, boxes: list[list[float]]) -> np.ndarray:
    """(P,) bool: point inside at least one box."""
    if not len(points):
        return np.zeros(0, bool)
    if not boxes:
        return np.zeros(len(points), bool)
    b = np.array(boxes, float)[:, :4]
    px, py = points[:, :1], points[:, 1:]
    return ((px >= b[:, 0]) & (px <= b[:, 2]) & (py >= b[:, 1]) & (py <= b[:, 3])).any(axis=1)


def compare(out: Path) -> None:
    """Deface vs sammask per frame; sammask's coasting replayed with today's TrackingOptions()."""
    from sammask.detection import TrackingOptions

    print("| clip | frames | deface faces/frame | sammask faces/frame (detector) | frames deface finds a face sammask's detector misses | ... after coasting | frames sammask finds a face deface misses | coasted track-frames | frames with a coasted box | frames with a gap-filled face (deface shows it) | frames rescued (no detector box) | deface fps | sammask fps |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in sorted(out.glob("*-sammask.json")):
        s = json.loads(path.read_text())
        dpath = out / path.name.replace("-sammask.json", "-deface.json")
        if not dpath.exists():
            continue
        d = json.loads(dpath.read_text())
        stats, s["final"] = _replay(s["raw"], TrackingOptions())
        _, gap_only = _replay(s["raw"], TrackingOptions(margin=0))
        gap_frames = sum(len(f) > len(r) for f, r in zip(gap_only, s["raw"]))
        n = min(len(s["raw"]), len(d["boxes"]))
        miss_raw = miss_final = extra = 0
        for i in range(n):
            dc = _centres(d["boxes"][i])
            sc = _centres(s["raw"][i])
            miss_raw += bool(len(dc)) and not _inside(dc, s["raw"][i]).all()
            miss_final += bool(len(dc)) and not _inside(dc, s["final"][i]).all()
            extra += bool(len(sc)) and not _inside(sc, [list(b[:4]) for b in d["boxes"][i]]).all()
        rescued, coasted = stats.frames_rescued, stats.coasted_total
        with_coast = sum(len(f) > len(r) for f, r in zip(s["final"], s["raw"]))
        dfaces = np.mean([len(b) for b in d["boxes"][:n]])
        sfaces = np.mean([len(b) for b in s["raw"][:n]])
        print(f"| {s['clip']} | {n} | {dfaces:.2f} | {sfaces:.2f} | {miss_raw} | {miss_final} | {extra} | {coasted} | {with_coast} | {gap_frames} | {rescued} | "
              f"{d['frames'] / d['seconds']:.2f} | {s['frames'] / s['seconds']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("run", "variants", "compare"))
    ap.add_argument("--clips", default="pedestrians-1080p,pingpong-720p,cloth-magic-720p")
    ap.add_argument("--out", type=Path, default=Path("/tmp/sammask-bench-detection"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.mode == "run":
        run(args.clips.split(","), args.out)
    elif args.mode == "variants":
        variants(args.out)
    else:
        compare(args.out)


if __name__ == "__main__":
    main()
