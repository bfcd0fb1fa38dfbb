"""Issue 14, class 4: polygons with far-away (finite, huge) vertices are clipped exactly.

Every pixel whose centre lies inside the polygon (exact rational point-in-triangle test, an
oracle independent of sammask's geometry) is masked: by :func:`polygon_mask`, by the tracks
validation's clipping, and in the decoded output of ``redact``.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from videos import decode, make_video

from sammask.geometry import clip_polygon_to_frame, polygon_mask
from sammask.masking.options import Effect, MaskingOptions
from sammask.media.types import EncodeOptions
from sammask.pipeline import redact
from sammask.settings import RedactSettings
from sammask.tracks import Detection, DetectionType, Tracks

DARK = 40
H, W = 24, 32


def inside_exact(points, h: int, w: int) -> np.ndarray:
    """Pixels whose centre lies strictly inside the polygon (non-zero winding), in exact arithmetic."""
    pts = [(Fraction(x), Fraction(y)) for x, y in points]
    out = np.zeros((h, w), bool)
    for i in range(h):
        py = Fraction(2 * i + 1, 2)
        for j in range(w):
            px = Fraction(2 * j + 1, 2)
            wn = 0
            for (ax, ay), (bx, by) in zip(pts, pts[1:] + pts[:1]):
                cross = (bx - ax) * (py - ay) - (px - ax) * (by - ay)
                if ay <= py < by and cross > 0:
                    wn += 1
                elif by <= py < ay and cross < 0:
                    wn -= 1
            out[i, j] = wn != 0
    return out


FAR = st.sampled_from([1e19, -1e19, 3.7e18, -9.1e15, 1e300, -2.5e12, 1e6])
NEAR = st.floats(-8, 40, allow_nan=False)


@st.composite
def far_triangles(draw):
    pts = [(draw(NEAR), draw(NEAR)) for _ in range(3)]
    for k in draw(st.lists(st.integers(0, 2), min_size=1, max_size=2, unique=True)):
        x, y = pts[k]
        axis = draw(st.sampled_from(["x", "y", "both"]))
        pts[k] = (draw(FAR) if axis != "y" else x, draw(FAR) if axis != "x" else y)
    return pts


def test_issue_case_far_vertex_keeps_every_inside_pixel() -> None:
    pts = [(4.0, 3.0), (1e19, 10.0), (5.0, 20.0)]
    need = inside_exact(pts, H, W)
    assert need.sum() > 200
    assert polygon_mask(pts, (H, W))[need].all()


@settings(max_examples=40, deadline=None)
@given(far_triangles())
def test_far_vertices_lose_no_inside_pixel(pts) -> None:
    h, w = 12, 16  # small: the exact oracle is slow
    pts = [(x / 2.5, y / 2.5) for x, y in pts]
    need = inside_exact(pts, h, w)
    got = polygon_mask(pts, (h, w))
    assert not (need & ~got).any(), f"{int((need & ~got).sum())} inside pixel(s) unmasked"
    clipped = clip_polygon_to_frame(pts, w, h)  # the tracks validation's clip, then the fill
    if need.any():
        assert clipped is not None
        assert polygon_mask(clipped, (h, w))[need].all()


def test_decoded_output_masks_a_polygon_with_a_1e19_vertex(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", 2, (W, H))
    pts = ((2.0, 2.0), (1e19, 1e19 + 4.0), (3.0, 21.0))
    dets = [Detection(i, 7, (0.0, 0.0, float(W), float(H)), DetectionType.POLYGON, polygon=pts) for i in range(2)]
    settings_ = RedactSettings(
        masking=MaskingOptions(effect=Effect.SOLID, dilate=0), segmenter="box", encode=EncodeOptions(preset="ultrafast", crf=0)
    )
    redact(src, Tracks.from_detections(dets), tmp_path / "out.mp4", settings_)
    need = inside_exact(pts, H, W)
    assert need.sum() > 100
    for frame in decode(tmp_path / "out.mp4"):
        dark = frame.max(axis=2) <= DARK
        assert dark[need].all(), f"{int((need & ~dark).sum())} inside pixel(s) visible"
