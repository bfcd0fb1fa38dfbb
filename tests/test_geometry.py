"""Polygon rasterisation does not depend on where the frame ends (found by the rotated-clip
property test: a sliver polygon on the right frame edge lost pixels)."""

from __future__ import annotations

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
    w=st.integers(4, 30), h=st.integers(4, 30),
    pts=st.lists(st.tuples(st.sampled_from([0.0, 0.5, 1.0]) | st.floats(-0.3, 1.3),
                           st.sampled_from([0.0, 0.5, 1.0]) | st.floats(-0.3, 1.3)), min_size=3, max_size=3),
)
def test_every_pixel_centre_inside_the_polygon_is_set_also_at_the_frame_edges(w: int, h: int, pts) -> None:
    # Triangles (never self-intersecting: the pipeline masks self-intersecting outlines by their
    # bounding box before they get here), vertices often exactly on the frame edges.
    poly = [(x * w, y * h) for x, y in pts]
    inside = winding_pixels(poly, h, w)  # independent oracle (tests/test_invariant.py)
    assert not (inside & ~polygon_mask(poly, (h, w))).any()
