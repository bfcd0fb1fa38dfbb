"""The web UI's brush strokes without a browser (sammask.ui.common.stroke_mask; importing the
module does not import gradio)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sammask.ui.common import stroke_mask

H, W = 48, 64


def _segment_distance(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """(H, W) float: each pixel centre's distance to the polyline through the pixels holding the points."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    p = np.stack([xx, yy], -1).astype(np.float64)
    q = np.floor(points)
    if len(q) == 1:
        return np.linalg.norm(p - q[0], axis=-1)
    best = np.full(shape, np.inf)
    for a, b in itertools.pairwise(q):
        d = b - a
        t = np.clip(((p - a) @ d) / max(float(d @ d), 1e-12), 0, 1)
        best = np.minimum(best, np.linalg.norm(p - (a + t[..., None] * d), axis=-1))
    return best


@settings(max_examples=60, deadline=None)
@given(
    pts=st.lists(st.tuples(st.floats(-20, W + 20), st.floats(-20, H + 20)), min_size=1, max_size=6),
    radius=st.integers(1, 9),
)
def test_stroke_mask_covers_the_brush_along_the_polyline_and_nothing_beyond(pts, radius):
    """Every pixel within ``radius - 1`` of the polyline is painted and none farther than
    ``radius + 1.5`` (OpenCV's rasterisation of thick lines lies between the two)."""
    points = np.asarray(pts, np.float64)
    m = stroke_mask((H, W), points, radius)
    d = _segment_distance((H, W), points)
    assert m.shape == (H, W) and m.dtype == bool
    assert m[d <= radius - 1].all()
    assert not m[d > radius + 1.5].any()


def test_stroke_mask_rejects_malformed_points():
    for bad in ([], [[1.0]], [[1.0, float("nan")]]):
        with pytest.raises(ValueError, match="stroke needs"):
            stroke_mask((H, W), bad, 3)
