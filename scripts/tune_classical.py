"""Tuning runs of the classical annotation backend (docs/annotate.md, "Backends").

``click``: frame 0 only, one positive click at the most interior GT pixel of every object of all
17 sequences, J of the returned mask, for each backend-options JSON given::

    PYTHONPATH=src nice -n 10 python scripts/tune_classical.py click '{}' '{"click_window": 0.35}'

``box``: the same with the GT box of frame 0 (``Session.add_box``)::

    PYTHONPATH=src nice -n 10 python scripts/tune_classical.py box '{}' '{"iterations": 6}'

``gt``: the GT mask of frame 0 (``Session.add_mask``) propagated forward over the first LIMIT
frames of the named sequences, mean J over frames::

    PYTHONPATH=src nice -n 10 python scripts/tune_classical.py gt 40 bus,swing '{"band_out": 0.16}'

``correction``: the click protocol of ``scripts/bench_annotate.py`` (one interior click on frame 0,
forward propagation over all frames of all 17 sequences), then its correction click on the worst
frame, once for each ``correction_window`` given (undone between them); J of that frame before
and after each, and how many sequences it raises / lowers by > 0.02::

    PYTHONPATH=src nice -n 10 python scripts/tune_classical.py correction '{}' 0,0.08,0.12,0.2
"""

from __future__ import annotations

import glob
import json
import sys
import time

import numpy as np

ROOT = "../shared/data"


def interior(mask: np.ndarray) -> tuple[float, float]:
    import cv2

    d = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    r, c = np.unravel_index(int(d.argmax()), d.shape)
    return float(c) + 0.5, float(r) + 0.5


def correction(opts: dict, windows: list[float]) -> None:
    import cv2

    from sammask.annotate import Session
    from sammask.annotate.backends.classical import ClassicalBackend
    from sammask.eval.groundtruth import GroundTruthSequence
    from sammask.eval.metrics import jaccard

    def largest(m: np.ndarray) -> tuple[np.ndarray | None, int]:
        n, lab, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
        if n <= 1:
            return None, 0
        i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        return lab == i, int(stats[i, cv2.CC_STAT_AREA])

    paths = sorted(glob.glob(f"{ROOT}/davis2016/*") + glob.glob(f"{ROOT}/davis2017-lowres/*"))
    up, down = [0] * len(windows), [0] * len(windows)
    for p in paths:
        seq = GroundTruthSequence(p)
        ids0 = seq.mask(0)
        objs = [o for o in seq.object_ids if (ids0 == o).any()]
        with Session.open(seq.video_path, ClassicalBackend(**opts)) as s:
            for o in objs:
                s.add_points(0, o, [interior(ids0 == o)], [1])
            list(s.propagate("forward", start=0))
            n = s.num_frames
            per = {o: [jaccard(seq.mask(f) == o, s.mask(f, o)) for f in range(n)] for o in objs}
            frame_j = [float(np.mean([per[o][f] for o in objs])) for f in range(n)]
            k = int(np.argmin(frame_j))
            worst = min(objs, key=lambda o: per[o][k])
            gt, pred = seq.mask(k) == worst, s.mask(k, worst)
            rfn, afn = largest(gt & ~pred)
            rfp, afp = largest(pred & ~gt)
            label = 1 if afn >= afp else 0
            region = rfn if label == 1 else rfp
            assert region is not None
            line = f"{seq.name[:16]:17s} frame {k} {'+-'[1 - label]} before {frame_j[k]:.3f} after"
            for i, wv in enumerate(windows):
                s.backend.correction_window = wv  # type: ignore[attr-defined]
                s.add_points(k, worst, [interior(region)], [label])
                after = float(np.mean([jaccard(seq.mask(k) == o, s.mask(k, o)) for o in objs]))
                s.undo(worst)
                up[i] += after > frame_j[k]
                down[i] += after < frame_j[k] - 0.02
                line += f" {after:.3f}"
        print(line, flush=True)
    for i, wv in enumerate(windows):
        print(f"correction_window {wv}: raised {up[i]}, lowered by > 0.02 {down[i]} of {len(paths)}")


def main() -> None:
    from sammask.annotate import Session
    from sammask.annotate.backends.classical import ClassicalBackend
    from sammask.eval.groundtruth import GroundTruthSequence
    from sammask.eval.metrics import jaccard

    mode = sys.argv[1]
    if mode in ("click", "box"):
        cfgs = [json.loads(c) for c in sys.argv[2:]] or [{}]
        paths = sorted(glob.glob(f"{ROOT}/davis2016/*") + glob.glob(f"{ROOT}/davis2017-lowres/*"))
        res: dict[int, list[float]] = {i: [] for i in range(len(cfgs))}
        for p in paths:
            seq = GroundTruthSequence(p)
            ids0 = seq.mask(0)
            objs = [o for o in seq.object_ids if (ids0 == o).any()]
            line = seq.name[:16].ljust(17)
            for i, c in enumerate(cfgs):
                with Session.open(seq.video_path, ClassicalBackend(**c)) as s:
                    if mode == "box":
                        js = [jaccard(ids0 == o, s.add_box(0, o, seq.boxes[0][o])) for o in objs]
                    else:
                        js = [jaccard(ids0 == o, s.add_points(0, o, [interior(ids0 == o)], [1])) for o in objs]
                res[i].append(float(np.mean(js)))
                line += f" {np.mean(js):.3f}"
            print(line, flush=True)
        for i, c in enumerate(cfgs):
            print(c, round(float(np.mean(res[i])), 3))
        return
    if mode == "correction":
        correction(json.loads(sys.argv[2]), [float(v) for v in sys.argv[3].split(",")])
        return
    limit, names = int(sys.argv[2]), sys.argv[3].split(",")
    opts = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    out = []
    for name in names:
        found = glob.glob(f"{ROOT}/*/{name}")
        seq = GroundTruthSequence(found[0])
        ids0 = seq.mask(0)
        objs = [o for o in seq.object_ids if (ids0 == o).any()]
        with Session.open(seq.video_path, ClassicalBackend(**opts)) as s:
            t = time.perf_counter()
            for o in objs:
                s.add_mask(0, o, ids0 == o)
            n = min(limit, s.num_frames)
            list(s.propagate("forward", start=0, max_frames=n - 1))
            dt = time.perf_counter() - t
            j = float(np.mean([np.mean([jaccard(seq.mask(f) == o, s.mask(f, o)) for f in range(n)]) for o in objs]))
        out.append(j)
        print(f"{name:18s} J={j:.3f} fps={n / dt:.2f}", flush=True)
    print("MEAN", round(float(np.mean(out)), 3), opts)


if __name__ == "__main__":
    main()
