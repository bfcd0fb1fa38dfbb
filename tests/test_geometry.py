"""Polygon rasterisation does not depend on where the frame ends (found by the rotated-clip
property test: a sliver polygon on the right frame edge lost pixels)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_invariant import winding_pixels

from sammask.geometry import polygon_mask


def test_sliver_on_the_frame_edge_is_filled() -> None:
    m = polygon_mask(((14.0, 16.0), (16.0, 16.0), (16.0, 0.0)), (16, 16))
    # pixel (row 4, column 15): its centre (15.5, 4.5) lies inside the triangle
    assert m[4, 15] and m[5, 15] and m[:, 15].all()


@settings(max_examples=300, deadline=None)
@given(
    w=st.integers(4, 30),
    h=st.integers(4, 30),
    pts=st.lists(
        st.tuples(st.sampled_from([0.0, 0.5, 1.0]) | st.floats(-0.3, 1.3), st.sampled_from([0.0, 0.5, 1.0]) | st.floats(-0.3, 1.3)),
        min_size=3,
        max_size=3,
    ),
)
def test_every_pixel_centre_inside_the_polygon_is_set_also_at_the_frame_edges(w: int, h: int, pts) -> None:
    # Triangles (never self-intersecting: the pipeline masks self-intersecting outlines by their
    # bounding box before they get here), vertices often exactly on the frame edges.
    poly = [(x * w, y * h) for x, y in pts]
    inside = winding_pixels(poly, h, w)  # independent oracle (tests/test_invariant.py)
    assert not (inside & ~polygon_mask(poly, (h, w))).any()


def test_polygon_mask_centres_is_the_exact_inverse_of_traced_outlines() -> None:
    """edges="centres" reads back a mask's traced outline exactly (rectangle, L shape); the
    default generous fill covers it and more (one pixel of margin)."""
    from sammask.export.yolo import mask_polygons, rasterize_polygons

    rect = np.zeros((20, 30), bool)
    rect[4:11, 7:19] = True
    ell = rect.copy()
    ell[4:8, 12:19] = False
    for mask in (rect, ell):
        (poly,) = mask_polygons(mask)
        exact = polygon_mask(poly, mask.shape, edges="centres")
        assert (exact == mask).all()
        assert (rasterize_polygons([poly], mask.shape) == mask).all()
        generous = polygon_mask(poly, mask.shape)
        assert (generous >= exact).all() and generous.sum() > exact.sum()
    with pytest.raises(ValueError, match="edges"):
        polygon_mask(poly, rect.shape, edges="tight")  # type: ignore[arg-type]  # the wrong value is the test


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=4, max_size=4), st.integers(1, 4000), st.integers(1, 4000))
def test_clip_bbox_is_the_intersection_with_the_frame(v: list[float], w: int, h: int) -> None:
    """clip_bbox (tracks) and clip_boxes (detectors) are one helper: the box's intersection with
    [0, W] x [0, H], None when it has no area; float32 for detector arrays, exact otherwise."""
    from sammask.geometry import clip_bbox, clip_boxes

    box = (min(v[0], v[2]), min(v[1], v[3]), max(v[0], v[2]), max(v[1], v[3]))
    x1, y1, x2, y2 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(w)), min(box[3], float(h))
    want = (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None
    assert clip_bbox(box, w, h) == want
    arr = clip_boxes(np.array([box, box]), w, h)
    assert arr.dtype == np.float32 and arr.shape == (2, 4)
    assert (arr[:, 0::2] >= 0).all() and (arr[:, 0::2] <= w).all() and (arr[:, 1::2] <= h).all()
    if want is not None:
        assert np.allclose(arr[0], want, rtol=1e-6, atol=1e-3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-50, 150), min_size=4, max_size=4, unique=True), st.integers(1, 100), st.integers(1, 100))
def test_rectangle_area_simplicity_and_frame_clip(v: list[int], w: int, h: int) -> None:
    """A rectangle is simple with area width x height, its frame clip keeps exactly the
    intersection's area (None without one), and its bow-tie reordering is not simple."""
    from sammask.geometry import clip_polygon_to_frame, is_simple_polygon, polygon_area, polygon_bbox

    x1, x2 = sorted(v[:2])
    y1, y2 = sorted(v[2:])
    rect = ((x1, y1), (x2, y1), (x2, y2), (x1, y2))
    assert is_simple_polygon(rect) and polygon_area(rect) == (x2 - x1) * (y2 - y1)
    assert not is_simple_polygon((rect[0], rect[2], rect[1], rect[3]))
    assert polygon_bbox(rect) == (x1, y1, x2, y2)
    iw, ih = min(x2, w) - max(x1, 0), min(y2, h) - max(y1, 0)
    clipped = clip_polygon_to_frame(rect, w, h)
    if iw > 0 and ih > 0:
        assert clipped is not None and polygon_area(clipped) == iw * ih
    else:
        assert clipped is None


def test_grow_empty_box_grows_only_an_empty_side() -> None:
    from sammask.geometry import grow_empty_box, polygon_bbox

    line = polygon_bbox(((2.0, 3.0), (2.0, 9.0), (2.0, 5.0)))
    assert line == (2.0, 3.0, 2.0, 9.0)
    assert grow_empty_box(line) == (2.0, 3.0, 3.0, 9.0)
    assert grow_empty_box((0.0, 0.0, 0.5, 0.25)) == (0.0, 0.0, 0.5, 0.25)
    far = grow_empty_box((1e19, 0.0, 1e19, 0.0))
    assert far[2] > far[0] and far[3] == 1.0
