"""Dilation cost against the radius (issue 14, class 7).

Times :func:`sammask.masking.rules.dilate_roi` (distance transform) and, for comparison, the
former ``cv2.dilate`` with a ``MORPH_ELLIPSE`` kernel, on a 100 x 80 px object in a 854 x 480
frame, and a whole ``redact`` of three 480p frames at ``--dilate 8`` and ``--dilate 980``.

    PYTHONPATH=src python scripts/bench_dilation.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def _kernel_dilate(mask: np.ndarray, px: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.view(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=0)


def _best(fn, repeat: int) -> float:
    fn()  # warm-up (imports, cached disk radius)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    from sammask.masking.rules import dilate_roi

    h, w = 480, 854
    mask = np.zeros((h, w), bool)
    mask[200:300, 380:460] = True
    for px in (8, 100, 400, 980):
        new = _best(lambda px=px: dilate_roi(mask, px), 5)
        old = _best(lambda px=px: _kernel_dilate(mask, px), 1 if px > 100 else 5)
        print(f"dilate {px:4d} px: distance transform {new * 1e3:8.2f} ms, MORPH_ELLIPSE kernel {old * 1e3:9.1f} ms")

    import av

    from sammask.masking.options import Effect, MaskingOptions
    from sammask.media.types import EncodeOptions
    from sammask.pipeline import redact
    from sammask.settings import RedactSettings
    from sammask.tracks import Detection, Tracks

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.mp4"
        with av.open(str(src), "w") as c:
            s = c.add_stream("libx264", rate=10)
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            for i in range(3):
                f = av.VideoFrame.from_ndarray(np.full((h, w, 3), 200, np.uint8), format="rgb24")
                f.pts = i
                c.mux(s.encode(f))
            c.mux(s.encode(None))
        tracks = Tracks.from_detections(Detection(i, 1, (380.0, 200.0, 460.0, 300.0)) for i in range(3))
        for px in (8, 980):
            settings = RedactSettings(masking=MaskingOptions(effect=Effect.BLUR, dilate=px), segmenter="box",
                                      encode=EncodeOptions(preset="ultrafast"))
            t = time.perf_counter()
            redact(src, tracks, Path(tmp) / f"out{px}.mp4", settings)
            print(f"redact 3 frames 854x480 --dilate {px}: {time.perf_counter() - t:.2f} s (in-process, no start-up)")


if __name__ == "__main__":
    main()
