"""Run deface 1.5 end to end on a video, recording its raw face boxes per frame (for docs/detection.md).

Runs in a scratch venv with deface installed (``python -m venv /tmp/deface-venv &&
/tmp/deface-venv/bin/pip install deface==1.5.0 onnx onnxruntime``), NOT in sammask's venv. It
calls deface's own ``video_detect`` with the arguments its CLI uses by default (threshold 0.2,
mask scale 1.3, ellipse blur, libx264, full-resolution inference, onnxruntime backend); the
CenterFace object is wrapped only to record each frame's boxes (no other change).

Usage::

    /tmp/deface-venv/bin/python scripts/bench_deface.py VIDEO OUT.mp4 RESULT.json [--scale WxH]
"""

from __future__ import annotations

import argparse
import json
import time

from deface import deface
from deface.centerface import CenterFace


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("out")
    ap.add_argument("result")
    ap.add_argument("--scale", default=None)
    args = ap.parse_args()
    in_shape = tuple(int(v) for v in args.scale.split("x")) if args.scale else None
    boxes: list[list[list[float]]] = []

    class Recording(CenterFace):
        def __call__(self, img, threshold=0.5):  # type: ignore[no-untyped-def]
            dets, lms = super().__call__(img, threshold=threshold)
            boxes.append([[float(v) for v in d] for d in dets])
            return dets, lms

    t0 = time.perf_counter()
    centerface = Recording(in_shape=in_shape, backend="auto")
    deface.video_detect(
        ipath=args.video, opath=args.out, centerface=centerface, threshold=0.2, enable_preview=False,
        cam=False, nested=False, replacewith="blur", mask_scale=1.3, ellipse=True, draw_scores=False,
        ffmpeg_config={"codec": "libx264"}, replaceimg=None, keep_audio=False, mosaicsize=20,
    )
    seconds = time.perf_counter() - t0
    with open(args.result, "w") as fh:
        json.dump({"tool": "deface 1.5.0", "backend": centerface.backend, "seconds": seconds,
                   "frames": len(boxes), "boxes": boxes}, fh)
    print(f"deface: {len(boxes)} frames in {seconds:.1f} s ({len(boxes) / seconds:.2f} fps)")


if __name__ == "__main__":
    main()
