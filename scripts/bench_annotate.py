"""Measure the annotator's backends on DAVIS: one click (or the GT box) on frame 0, propagated.

For every sequence folder given (video.mp4, masks/, gt.txt), every object present on frame 0
gets, in separate runs, (a) one positive click at its most interior GT pixel (the maximum of
the distance transform), (b) its GT box or (c) its GT mask (``Session.add_mask``); the session
propagates forward to the last frame. Per-prompt latency (the ``add_points`` / ``add_box`` /
``add_mask`` call) and propagation frames/s are timed; empty masks are counted.
J (region IoU) and F (boundary, DAVIS tolerance) come from ``sammask.eval.metrics``, scored on
every frame (frame 0 included), averaged per object over frames, then over objects. Then, for
the click run, one correction click on the worst frame (lowest mean J over objects), at the
interior of the largest error region of the worst object (positive click on missed object
pixels, negative on wrongly covered background), and re-propagation from that frame in both
directions up to the neighbouring prompted frames (``Session.repropagate``).

Usage::

    flock /tmp/sammask-bench.lock .venv/bin/python scripts/bench_annotate.py \
        ../shared/data/davis2016/* ../shared/data/davis2017-lowres/* -o docs/annotate-results.json
    # SAM 2 with random weights (meaningless masks, harness check):
    ... --backend sam2 --random-weights --input-size 256
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def interior(mask: np.ndarray) -> tuple[float, float]:
    import cv2

    d = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    r, c = np.unravel_index(int(d.argmax()), d.shape)
    return float(c) + 0.5, float(r) + 0.5


def score(session, seq, objs, frames=None):
    from sammask.eval.metrics import f_measure, jaccard

    frames = range(session.num_frames) if frames is None else frames
    per = {o: ([], []) for o in objs}
    per_frame = []
    for f in frames:
        ids = seq.mask(f)
        js = []
        for o in objs:
            m = session.mask(f, o)
            j = jaccard(ids == o, m)
            per[o][0].append(j)
            per[o][1].append(f_measure(ids == o, m))
            js.append(j)
        per_frame.append(float(np.mean(js)))
    J = float(np.mean([np.mean(v[0]) for v in per.values()]))
    F = float(np.mean([np.mean(v[1]) for v in per.values()]))
    return J, F, per_frame, {o: v[0] for o, v in per.items()}


def correction(session, seq, objs, per_obj, stop):
    """Click once on the worst frame (of 0..stop) and re-propagate forward to ``stop``; returns
    (frame, obj_id, label, J of the frame before)."""
    n = stop + 1
    frame_j = [np.mean([per_obj[o][f] for o in objs]) for f in range(n)]
    k = int(np.argmin(frame_j))
    worst = min(objs, key=lambda o: per_obj[o][k])
    import cv2

    ids = seq.mask(k)
    gt = ids == worst
    pred = session.mask(k, worst)
    fn, fp = gt & ~pred, pred & ~gt

    def largest(m):
        n_, lab, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
        if n_ <= 1:
            return None, 0
        i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        return lab == i, int(stats[i, cv2.CC_STAT_AREA])

    rfn, afn = largest(fn)
    rfp, afp = largest(fp)
    label = 1 if afn >= afp else 0
    region = rfn if label == 1 else rfp
    before = frame_j[k]
    session.add_points(k, worst, [interior(region)], [label])
    for _ in session.repropagate(k, worst, max_frames=stop - k):
        pass
    return k, worst, label, float(before)


def markdown(summary: dict) -> str:
    """One table per protocol (J, F, J&F, J on frame 0, empty masks, prompt latency, frames/s),
    then the correction table, each with its mean row."""
    rows = summary["rows"]
    out = []
    names = {"box": "GT box on frame 0", "click": "one positive click on frame 0", "gt": "GT mask on frame 0 (add_mask)"}
    for p in ("box", "click", "gt"):
        if p not in rows[0]:
            continue
        out += [f"**{names[p]}**, propagated forward", "",
                "| sequence | objects | frames | J | F | J&F | J frame 0 | empty masks | prompt s/object | frames/s |",
                "|" + "---|" * 10]
        for r in rows:
            c = r[p]
            out.append(f"| {r['sequence']} | {r['objects']} | {r['frames']} | {c['J']:.3f} | {c['F']:.3f} | {c['JF']:.3f} "
                       f"| {c['J_frame0']:.3f} | {c.get('empty_masks', '-')} | {c.get('prompt_s', float('nan')):.3f} | {c['fps']:.2f} |")
        mean = lambda k, p=p: float(np.mean([r[p][k] for r in rows]))  # noqa: E731
        out.append(f"| **mean** | | | **{mean('J'):.3f}** | **{mean('F'):.3f}** | **{mean('JF'):.3f}** | **{mean('J_frame0'):.3f}** "
                   f"| {sum(r[p].get('empty_masks', 0) for r in rows)} | {mean('prompt_s'):.3f} | {mean('fps'):.2f} |")
        out.append("")
    if "corrected" in rows[0]:
        out += ["**one correction click** on the worst frame of the click run, re-propagated both ways", "",
                "| sequence | frame | click | J of the frame before | after | sequence J&F before | after |", "|" + "---|" * 7]
        up = down = 0
        for r in rows:
            k = r["corrected"]
            d = k["J_frame_after"] - k["J_frame_before"]
            up += d > 0
            down += d < -0.02
            out.append(f"| {r['sequence']} | {k['frame']} | {'+' if k['label'] else '-'} | {k['J_frame_before']:.3f} "
                       f"| {k['J_frame_after']:.3f} | {r['click']['JF']:.3f} | {k['JF']:.3f} |")
        out.append(f"| **raised / lowered by > 0.02** | | | | **{up} / {down}** of {len(rows)} | | |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sequences", nargs="*", type=Path)
    ap.add_argument("-o", "--out", type=Path)
    ap.add_argument("--table", type=Path, nargs="+", help="print the markdown tables of results JSONs (merged by sequence) and exit")
    ap.add_argument("--collect", type=Path, nargs="+", metavar="LOG",
                    help="merge the per-sequence rows that runs printed (their stdout logs; a split run: "
                         "several processes over parts of the sequences) into -o OUT.json and exit")
    ap.add_argument("--backend", default="classical")
    ap.add_argument("--random-weights", action="store_true")
    ap.add_argument("--input-size", type=int, default=1024)
    ap.add_argument("--frames-limit", type=int, default=None)
    ap.add_argument("--protocols", default="click,box,gt", help="comma list of click, box, gt (the correction needs click)")
    args = ap.parse_args()
    if args.table:
        summary = json.loads(args.table[0].read_text(encoding="utf-8"))
        for extra in args.table[1:]:
            other = {r["sequence"]: r for r in json.loads(extra.read_text(encoding="utf-8"))["rows"]}
            for r in summary["rows"]:
                r.update({k: v for k, v in other[r["sequence"]].items() if k not in r})
        print(markdown(summary))
        return
    if args.collect:
        rows_by_seq: dict[str, dict] = {}
        for log in args.collect:
            for line in log.read_text(encoding="utf-8").splitlines():
                if line.startswith('{"sequence"'):
                    row = json.loads(line)
                    rows_by_seq.setdefault(row["sequence"], {}).update(row)  # runs of other protocols merge
        rows = [rows_by_seq[k] for k in sorted(rows_by_seq)]
        keys = [p for p in ("click", "box", "gt", "corrected") if p in rows[0]]
        summary = {"backend": args.backend, "sequences": len(rows), "collected_from": [str(x) for x in args.collect],
                   "mean": {p: {k: float(np.mean([r[p][k] for r in rows])) for k in ("J", "F", "JF")} for p in keys},
                   "rows": rows}
        args.out.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        print(json.dumps(summary["mean"]))
        return
    if not args.sequences or args.out is None:
        ap.error("give sequence folders and -o OUT.json (or --table RESULTS.json)")

    from sammask.annotate import Session, build_backend
    from sammask.eval.groundtruth import GroundTruthSequence

    def make_backend():
        if args.backend == "sam2":
            return build_backend("sam2", random_init=args.random_weights, input_size=args.input_size)
        return build_backend(args.backend)

    rows = []
    t_all = time.perf_counter()
    for path in sorted(args.sequences, key=lambda p: p.name):
        seq = GroundTruthSequence(path)
        ids0 = seq.mask(0)
        objs = [o for o in seq.object_ids if (ids0 == o).any()]
        row = {"sequence": seq.name, "objects": len(objs), "frames": seq.num_frames}
        for protocol in args.protocols.split(","):
            with Session.open(seq.video_path, make_backend()) as s:
                s.frames.frame(0)  # decoded before timing: the latency is the prompt's alone
                t0 = time.perf_counter()
                for o in objs:
                    if protocol == "click":
                        s.add_points(0, o, [interior(ids0 == o)], [1])
                    elif protocol == "box":
                        s.add_box(0, o, seq.boxes[0][o])
                    else:
                        s.add_mask(0, o, ids0 == o)
                t1 = time.perf_counter()
                stop = s.num_frames - 1 if args.frames_limit is None else min(s.num_frames, args.frames_limit) - 1
                for _ in s.propagate("forward", start=0, max_frames=stop):
                    pass
                t2 = time.perf_counter()
                frames = range(stop + 1)
                J, F, per_frame, per_obj = score(s, seq, objs, frames)
                empty = sum(1 for f in frames for o in objs if not s.mask(f, o).any())
                row[protocol] = {"J": J, "F": F, "JF": (J + F) / 2, "seconds": t2 - t0,
                                 "prompt_s": (t1 - t0) / len(objs), "fps": stop / max(t2 - t1, 1e-9),
                                 "J_frame0": per_frame[0], "empty_masks": empty}
                if protocol == "click":
                    k, obj, label, before = correction(s, seq, objs, per_obj, stop)
                    J2, F2, per_frame2, _ = score(s, seq, objs, frames)
                    row["corrected"] = {"frame": k, "obj_id": obj, "label": label, "J_frame_before": before,
                                        "J_frame_after": per_frame2[k], "J": J2, "F": F2, "JF": (J2 + F2) / 2}
        print(json.dumps(row), flush=True)
        rows.append(row)
    mean = lambda key, sub: float(np.mean([r[key][sub] for r in rows]))  # noqa: E731
    summary = {
        "backend": args.backend, "random_weights": args.random_weights, "sequences": len(rows),
        "load_avg": os.getloadavg(), "seconds": time.perf_counter() - t_all,
        "mean": {p: {k: mean(p, k) for k in ("J", "F", "JF")} for p in ("click", "box", "gt", "corrected") if p in rows[0]},
        "rows": rows,
    }
    args.out.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(summary["mean"]))


if __name__ == "__main__":
    main()
