"""Pixel geometry shared by every room: boxes, polygons and masks, and conversions between them.

Pixel convention: pixel ``(row i, column j)`` is the unit square ``[j, j + 1) x [i, i + 1)`` in
image coordinates, so its centre is ``(j + 0.5, i + 0.5)``. Boxes are ``(x1, y1, x2, y2)`` float
pixels (xyxy), polygons ``((x, y), ...)`` float pixels, masks (H, W) ``bool`` arrays. Every
rounding from a shape to pixels is generous (a touched pixel is covered): privacy first.

This module imports nothing of sammask's but :mod:`sammask.errors`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

import numpy as np
import numpy.typing as npt

from sammask.errors import MediaError, TracksFormatError

BBox = tuple[float, float, float, float]
"""``(x1, y1, x2, y2)`` float pixels (xyxy)."""

Bounds = tuple[int, int, int, int]
"""Integer pixel bounds ``(x0, y0, x1, y1)``: columns ``x0..x1-1`` and rows ``y0..y1-1``."""


def frame_hw(shape: Sequence[int]) -> tuple[int, int]:
    """``(H, W)`` from a frame or mask shape ``(H, W, ...)``.

    Raises:
        MediaError: if the shape has fewer than 2 dimensions or a negative size.
    """
    if len(shape) < 2 or int(shape[0]) < 0 or int(shape[1]) < 0:
        raise MediaError(f"frame shape must start with (H, W) >= 0, got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def box_pixel_bounds(bbox: BBox, shape: Sequence[int]) -> Bounds:
    """Integer pixel bounds of the pixels a box touches, clipped to the frame.

    Columns ``floor(x1) .. ceil(x2) - 1`` and rows ``floor(y1) .. ceil(y2) - 1`` (inclusive), i.e.
    every pixel whose unit square overlaps the box by a positive width and height; a degenerate
    (zero-width) box still covers one column / row. The result is clipped to ``[0, W] x [0, H]``
    and is empty (``x0 == x1`` or ``y0 == y1``) for a box entirely outside the frame.

    Args:
        bbox: ``(x1, y1, x2, y2)`` float pixels.
        shape: ``(H, W, ...)`` of the frame (pixels).

    Returns:
        ``(x0, y0, x1, y1)`` ints with ``0 <= x0 <= x1 <= W`` and ``0 <= y0 <= y1 <= H``.

    Raises:
        TracksFormatError: if the box is not 4 finite numbers or is inverted (``x2 < x1``).
    """
    h, w = frame_hw(shape)
    if len(bbox) != 4 or not all(math.isfinite(float(v)) for v in bbox):
        raise TracksFormatError(f"bbox must be 4 finite numbers (x1, y1, x2, y2), got {bbox}", field="bbox")
    bx1, by1, bx2, by2 = (float(v) for v in bbox)
    if bx2 < bx1 or by2 < by1:
        raise TracksFormatError(f"bbox must have x2 >= x1 and y2 >= y1 (xyxy pixels), got {bbox}", field="bbox")
    x0, y0 = math.floor(bx1), math.floor(by1)
    x1, y1 = max(math.ceil(bx2), x0 + 1), max(math.ceil(by2), y0 + 1)
    x0, x1 = min(max(x0, 0), w), min(max(x1, 0), w)
    y0, y1 = min(max(y0, 0), h), min(max(y1, 0), h)
    return x0, y0, x1, y1


def clip_boxes(xyxy: npt.ArrayLike, width: float, height: float, *, dtype: npt.DTypeLike = np.float32) -> npt.NDArray[np.floating]:
    """Clip xyxy pixel boxes to the frame ``[0, width] x [0, height]``.

    The one box-clipping helper (detectors' arrays and :func:`clip_bbox` use it). A box wholly
    outside the frame becomes an empty (zero-width or zero-height) box at its edge.

    Args:
        xyxy: (N, 4) (or anything reshapable to it) ``x1, y1, x2, y2`` in pixels.
        width: frame width W in pixels.
        height: frame height H in pixels.
        dtype: float dtype of the result (float32 for detector arrays).

    Returns:
        (N, 4) clipped copy of ``dtype``.
    """
    out = np.array(xyxy, dtype=dtype).reshape(-1, 4)
    out[:, 0::2] = out[:, 0::2].clip(0, width)
    out[:, 1::2] = out[:, 1::2].clip(0, height)
    return out


def clip_bbox(bbox: BBox, width: float, height: float) -> BBox | None:
    """Clip one xyxy box (pixels) to ``[0, width] x [0, height]`` (:func:`clip_boxes`, float64).

    Returns:
        The clipped box, or ``None`` if nothing of it (no positive area) lies inside the frame.
    """
    x1, y1, x2, y2 = (float(v) for v in clip_boxes([bbox], width, height, dtype=np.float64)[0])
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


def box_mask(bbox: BBox, shape: Sequence[int]) -> np.ndarray:
    """Mask of the pixels an xyxy box touches (generous rounding, privacy first).

    A box touching a pixel covers it: columns ``floor(x1) .. ceil(x2) - 1`` and rows
    ``floor(y1) .. ceil(y2) - 1`` are set (see :func:`box_pixel_bounds`). For an integer box
    ``(10, 20, 30, 40)`` that is exactly columns 10..29 and rows 20..39 (the pixels whose centres
    lie inside the box); a fractional edge such as ``x2 = 30.2`` adds column 30.

    Args:
        bbox: ``(x1, y1, x2, y2)`` float pixels; parts outside the frame are clipped.
        shape: ``(H, W, ...)`` of the frame (pixels).

    Returns:
        (H, W) bool mask.

    Raises:
        TracksFormatError: if the box is not 4 finite numbers or is inverted.
    """
    h, w = frame_hw(shape)
    x0, y0, x1, y1 = box_pixel_bounds(bbox, (h, w))
    out = np.zeros((h, w), dtype=bool)
    out[y0:y1, x0:x1] = True
    return out


def clip_polygon(points: Sequence[Sequence[float]], window: tuple[float, float, float, float]) -> tuple[tuple[float, float], ...]:
    """Clip a polygon to a rectangle, exactly, whatever the magnitude of its vertices.

    Sutherland-Hodgman clipping against the window's four edges (I. E. Sutherland and
    G. W. Hodgman, "Reentrant polygon clipping", CACM 17(1), 1974) in exact rational arithmetic
    (:class:`fractions.Fraction`, which holds any float exactly): a vertex at ``1e19`` pixels
    loses nothing (in float64 the intersection of an edge from ``1e19`` with the frame edge is off
    by up to ``1e19 * 2**-53 ~ 1000`` pixels, issue 14 class 4). Only the results, which lie in
    the window, are rounded to float64 (error < ``1e-12`` pixel for windows up to ``1e4``
    pixels). Polygons whose vertices all lie in the window are returned as they are (fast path).

    For any polygon (convex or not, self-intersecting included) the winding number of every
    point strictly inside the window is unchanged (each clipped excursion is replaced by a
    segment on the window edge), so the even-odd and non-zero fills agree there; the result can
    hold zero-width edges along the window border.

    Args:
        points: ``((x, y), ...)`` finite float pixels.
        window: ``(x0, y0, x1, y1)`` float pixels, ``x0 < x1``, ``y0 < y1``.

    Returns:
        The clipped vertices (float pixels), or ``()`` when fewer than 3 remain.

    Raises:
        TracksFormatError: if a coordinate is not finite.
    """
    from fractions import Fraction

    x0, y0, x1, y1 = (float(v) for v in window)
    pts = [(float(x), float(y)) for x, y in points]
    if not all(math.isfinite(x) and math.isfinite(y) for x, y in pts):
        raise TracksFormatError("polygon points must be finite (x, y) pairs", field="polygon")
    if all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in pts):
        return tuple(pts) if len(pts) >= 3 else ()
    exact = [(Fraction(x), Fraction(y)) for x, y in pts]

    def cut(poly: list, axis: int, bound: Fraction, keep_greater: bool) -> list:
        out: list = []
        if not poly:
            return out

        def inside(p: tuple[Fraction, Fraction]) -> bool:
            return p[axis] >= bound if keep_greater else p[axis] <= bound

        def cross(p: tuple[Fraction, Fraction], q: tuple[Fraction, Fraction]) -> tuple[Fraction, Fraction]:
            t = (bound - p[axis]) / (q[axis] - p[axis])
            other = p[1 - axis] + t * (q[1 - axis] - p[1 - axis])
            return (bound, other) if axis == 0 else (other, bound)

        prev = poly[-1]
        for cur in poly:
            if inside(cur):
                if not inside(prev):
                    out.append(cross(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cross(prev, cur))
            prev = cur
        return out

    for axis, bound, keep_greater in ((0, x0, True), (0, x1, False), (1, y0, True), (1, y1, False)):
        exact = cut(exact, axis, Fraction(bound), keep_greater)
    if len(exact) < 3:
        return ()
    return tuple((float(x), float(y)) for x, y in exact)


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    """Absolute area of a closed polygon by the shoelace formula.

    Args:
        points: ``((x, y), ...)`` float pixels, any orientation.

    Returns:
        The area in square pixels (0 for fewer than 3 points or collinear points). A
        self-intersecting outline's lobes of opposite orientation cancel (a bow-tie gives 0).
    """
    n = len(points)
    s = 0.0
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        s += x1 * y2 - x2 * y1
    return abs(s) / 2.0


def polygon_bbox(points: Sequence[Sequence[float]]) -> BBox:
    """Bounding xyxy box of a polygon's vertices (float pixels); see :func:`grow_empty_box` for
    a line-shaped polygon.

    Args:
        points: ``((x, y), ...)`` float pixels, at least one.

    Returns:
        ``(x1, y1, x2, y2)`` float pixels.
    """
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def grow_empty_box(bbox: BBox) -> BBox:
    """A box with a zero width or height grown to 1 pixel from its ``x1`` / ``y1``, so that it
    covers pixels (privacy first: a zero-size box from a tracker or a line-shaped polygon).

    Where ``x1 + 1`` rounds back to ``x1`` (beyond 2**53 pixels), the side grows to the next
    float instead, so the result always has a positive width and height.

    Args:
        bbox: ``(x1, y1, x2, y2)`` float pixels with ``x2 >= x1``, ``y2 >= y1``.

    Returns:
        ``(x1, y1, x2, y2)``, unchanged where the side was already positive.
    """
    x1, y1, x2, y2 = bbox

    def grown(lo: float, hi: float) -> float:
        return hi if hi > lo else max(lo + 1.0, math.nextafter(lo, math.inf))

    return (x1, y1, grown(x1, x2), grown(y1, y2))


def clip_polygon_to_frame(points: Sequence[Sequence[float]], width: int, height: int) -> tuple[tuple[float, float], ...] | None:
    """Clip a polygon (pixels, any orientation, convex or not) to the frame ``[0, width] x [0, height]``.

    :func:`clip_polygon` with the frame as window, plus the check that something fillable is
    left. For a concave polygon the result can contain zero-width edges along the frame border;
    it fills the same pixels. Own code, not a library's: OpenCV's ``intersectConvexConvex`` takes
    convex polygons only (in float32), and shapely is not a dependency.

    Args:
        points: ``((x, y), ...)`` finite float pixels.
        width: frame width in pixels.
        height: frame height in pixels.

    Returns:
        The clipped vertices, or ``None`` if fewer than 3 vertices or no area remain.

    Raises:
        TracksFormatError: if a coordinate is not finite.
    """
    pts = clip_polygon(points, (0.0, 0.0, float(width), float(height)))
    if len(pts) < 3 or polygon_area(pts) <= 0.0:
        return None
    return pts


def _orientation(u: npt.NDArray[np.float64], v: npt.NDArray[np.float64], w: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Sign (-1, 0, 1) of the turn ``u -> v -> w`` for (N, 2) arrays of points, row by row."""
    return np.sign((v[:, 0] - u[:, 0]) * (w[:, 1] - u[:, 1]) - (v[:, 1] - u[:, 1]) * (w[:, 0] - u[:, 0]))


def _within_box_of(u: npt.NDArray[np.float64], v: npt.NDArray[np.float64], w: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Row by row: ``w`` lies in the bounding box of segment ``uv`` (on the segment, if collinear)."""
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    return np.all((lo <= w) & (w <= hi), axis=1)


def is_simple_polygon(points: Sequence[Sequence[float]]) -> bool:
    """True when the closed polygon has a positive area, no zero-length edge, and no two
    non-adjacent edges that touch or cross: a *simple* polygon, whose filled area is unambiguous.

    A self-intersecting outline (a bow-tie, a pentagram) is filled differently by even-odd and
    non-zero rules; the pipeline masks such a polygon by its bounding box instead (privacy first).
    Vectorised O(n^2) segment-intersection test by orientation signs (Cormen et al.,
    *Introduction to Algorithms*, 3rd ed., section 33.1), fine for the few hundred vertices an
    annotation tool draws. Own code: no installed library tests simplicity (shapely, whose
    ``is_simple`` does, is not a dependency; OpenCV has no such test).

    Args:
        points: ``((x, y), ...)`` finite float pixels.

    Returns:
        Whether the polygon is simple with a positive area.
    """
    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    if n < 3 or polygon_area(points) <= 0.0:
        return False
    a, b = pts, np.roll(pts, -1, axis=0)
    if np.any(np.all(a == b, axis=1)):
        return False
    i, j = np.triu_indices(n, k=2)
    keep = ~((i == 0) & (j == n - 1))  # the first and last edges share a vertex
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return True
    p1, p2, q1, q2 = a[i], b[i], a[j], b[j]
    o1, o2 = _orientation(p1, p2, q1), _orientation(p1, p2, q2)
    o3, o4 = _orientation(q1, q2, p1), _orientation(q1, q2, p2)
    cross = (o1 != o2) & (o3 != o4) & (o1 != 0) & (o2 != 0) & (o3 != 0) & (o4 != 0)
    touch = (
        ((o1 == 0) & _within_box_of(p1, p2, q1))
        | ((o2 == 0) & _within_box_of(p1, p2, q2))
        | ((o3 == 0) & _within_box_of(q1, q2, p1))
        | ((o4 == 0) & _within_box_of(q1, q2, p2))
    )
    return not bool(np.any(cross | touch))


def polygon_mask(
    points: Sequence[Sequence[float]] | np.ndarray,
    shape: Sequence[int],
    *,
    edges: Literal["generous", "centres"] = "generous",
) -> np.ndarray:
    """Mask of a polygon, generous at its edges (default) or exactly on pixel centres.

    ``edges="generous"`` (what masking uses: privacy first): the polygon is filled with
    ``cv2.fillPoly`` at sub-pixel precision (1/256 pixel) in OpenCV's pixel-centre convention
    (which sets the pixels whose centre lies inside or on the outline), and the result is grown
    by one pixel (3 x 3 square) so that pixels the outline merely touches are covered too.
    Guarantee: every pixel whose unit square overlaps the polygon is set, and every set pixel's
    centre lies within 2.5 pixels of the polygon. For the square ``(10, 10) (20, 10) (20, 20)
    (10, 20)`` the result is rows and columns 9..21 (the box's 10..19 plus the generous edge).
    Self-intersecting outlines follow ``fillPoly`` semantics.

    ``edges="centres"`` (the inverse of :func:`sammask.export.yolo.mask_polygons`, whose
    vertices are the centres ``(col + 0.5, row + 0.5)`` of a mask's outline pixels): each vertex
    is rounded to the pixel whose centre it is nearest, and the pixels inside the polygon or on
    its outline are set (``cv2.fillPoly`` plus ``cv2.polylines``), without growing: a mask's
    traced outline rasterises back to that mask. Use it to read exported polygons back, never
    to decide what to mask.

    Args:
        points: ``((x, y), ...)`` vertices in float pixels, at least 3; parts outside the frame
            are clipped.
        shape: ``(H, W, ...)`` of the frame (pixels).
        edges: ``"generous"`` or ``"centres"``, see above.

    Returns:
        (H, W) bool mask.

    Raises:
        TracksFormatError: if there are fewer than 3 points or a coordinate is not finite.
        ValueError: if ``edges`` is neither ``"generous"`` nor ``"centres"``.
    """
    import cv2

    h, w = frame_hw(shape)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] < 3 or pts.shape[1] != 2:
        raise TracksFormatError(f"polygon needs at least 3 (x, y) points, got array of shape {pts.shape}", field="polygon")
    if not np.isfinite(pts).all():
        raise TracksFormatError("polygon points must be finite (x, y) pairs", field="polygon")
    if h == 0 or w == 0:
        return np.zeros((h, w), dtype=bool)
    if edges == "centres":
        exact = np.zeros((h, w), np.uint8)
        ipts = np.round(pts - 0.5).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(exact, [ipts], 1)
        cv2.polylines(exact, [ipts], True, 1)
        return exact.view(bool)
    if edges != "generous":
        raise ValueError(f"edges must be 'generous' or 'centres', got {edges!r}")
    shift = 8
    # Filled on a canvas with a border of `pad` pixels, then cropped: OpenCV clips outlines at the
    # image edge and then drops slivers thinner than a pixel that touch it (measured: the triangle
    # (14, 16) (16, 16) (16, 0) on a 16 x 16 frame lost column 15 on rows 0-5), so the frame edge
    # must not be the canvas edge. OpenCV puts pixel centres on integer coordinates: ours are at
    # +0.5. The polygon is first clipped exactly to a window one pixel beyond the canvas
    # (clip_polygon: far-away vertices, e.g. 1e19, lose nothing in the frame), so that the
    # fixed-point coordinates stay well inside int32; the window's edges lie off the canvas.
    pad = 2
    out = np.zeros((h + 2 * pad, w + 2 * pad), dtype=np.uint8)
    clipped = clip_polygon(pts.tolist(), (-pad - 1.0, -pad - 1.0, w + pad + 1.0, h + pad + 1.0))
    if not clipped:
        return np.zeros((h, w), dtype=bool)
    fixed = np.round((np.asarray(clipped, dtype=np.float64) + pad - 0.5) * (1 << shift)).astype(np.int32)
    cv2.fillPoly(out, [fixed.reshape(-1, 1, 2)], 1, lineType=cv2.LINE_8, shift=shift)
    grown = cv2.dilate(out, np.ones((3, 3), np.uint8))
    return np.ascontiguousarray(grown[pad : pad + h, pad : pad + w]).view(bool)


def mask_bounds(mask: np.ndarray) -> Bounds | None:
    """Tight integer bounds of a mask's True pixels, or None for an empty mask.

    Args:
        mask: (H, W) bool.

    Returns:
        ``(x0, y0, x1, y1)`` with the True pixels in columns ``x0..x1-1``, rows ``y0..y1-1``.
    """
    import cv2

    x, y, bw, bh = cv2.boundingRect(np.ascontiguousarray(mask).view(np.uint8))
    if bw == 0 or bh == 0:
        return None
    return x, y, x + bw, y + bh


def mask_bbox(mask: np.ndarray) -> BBox | None:
    """Tight xyxy box of a mask's pixels, or None when the mask is empty.

    Args:
        mask: (H, W) bool.

    Returns:
        ``(x1, y1, x2, y2)`` float pixels with pixel column ``c`` covering ``[c, c + 1)`` (so a
        single pixel at (r, c) gives ``(c, r, c + 1, r + 1)``), or None when the mask is empty.
    """
    bounds = mask_bounds(mask)
    return None if bounds is None else as_bbox(bounds)


def as_bbox(values: Sequence[float] | npt.NDArray[np.floating] | npt.NDArray[np.integer]) -> BBox:
    """Four numbers (a box from an array row, a tuple of ints) as a :data:`BBox` of Python floats.

    Raises:
        TracksFormatError: if there are not exactly 4 values.
    """
    if len(values) != 4:
        raise TracksFormatError(f"a box is 4 numbers (x1, y1, x2, y2), got {len(values)}", field="bbox")
    x1, y1, x2, y2 = (float(v) for v in values)
    return (x1, y1, x2, y2)


def box_iou(a: BBox, b: BBox) -> float:
    """Intersection over union of two xyxy boxes (continuous pixel coordinates), in [0, 1].

    Returns 0 when the union is empty (two degenerate boxes).
    """
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class TracksSpace(str, Enum):
    """The pixel coordinate space detections are given in.

    - ``DISPLAY`` (the default): the upright frame a player shows, i.e. the decoded frame with the
      stream's display matrix applied. This is what OpenCV (``CAP_PROP_ORIENTATION_AUTO``, on by
      default) and the ffmpeg CLI (``-autorotate``, on by default) hand a detector or tracker.
    - ``STORED``: the frame as stored in the file and decoded without rotation (what PyAV and
      sammask's own reader decode).

    For a video without a display matrix the two are the same.
    """

    DISPLAY = "display"
    STORED = "stored"


# (a, b, c, d) of FFmpeg's display matrix (display x' = a x + c y, y' = b x + d y, then a shift
# that puts the frame back at the origin) for the 8 axis-aligned maps, and their names.
_DIHEDRAL: dict[tuple[int, int, int, int], str] = {
    (1, 0, 0, 1): "identity",
    (0, 1, -1, 0): "rotate 90 clockwise",
    (-1, 0, 0, -1): "rotate 180",
    (0, -1, 1, 0): "rotate 90 counter-clockwise",
    (-1, 0, 0, 1): "horizontal flip",
    (1, 0, 0, -1): "vertical flip",
    (0, 1, 1, 0): "transpose",
    (0, -1, -1, 0): "anti-transpose",
}


@dataclass(frozen=True, slots=True)
class DisplayTransform:
    """The map from stored (decoded) frame coordinates to display (upright) coordinates.

    One of the 8 axis-aligned maps (rotations by multiples of 90 degrees, with or without a
    flip) in continuous pixel coordinates: the stored frame ``[0, W] x [0, H]`` maps onto the
    display frame ``[0, W'] x [0, H']`` (``W' = H, H' = W`` for 90 / 270 degrees), so every pixel
    square maps exactly onto a pixel square and boxes stay boxes. Display ``x' = a x + c y + tx``,
    ``y' = b x + d y + ty`` (FFmpeg's ``AV_PKT_DATA_DISPLAYMATRIX`` convention, the same map the
    ffmpeg CLI's autorotate applies: ``transpose``/``hflip``/``vflip``).

    Attributes:
        a, b, c, d: the linear part, each -1, 0 or 1.
        width, height: stored frame size in pixels.
    """

    a: int = 1
    b: int = 0
    c: int = 0
    d: int = 1
    width: int = 0
    height: int = 0

    @property
    def name(self) -> str:
        """``identity``, ``rotate 90 clockwise``, ``rotate 180``, ``horizontal flip``, ..."""
        return _DIHEDRAL[(self.a, self.b, self.c, self.d)]

    @property
    def is_identity(self) -> bool:
        """True when display and stored coordinates are the same."""
        return (self.a, self.b, self.c, self.d) == (1, 0, 0, 1)

    @property
    def display_size(self) -> tuple[int, int]:
        """``(width, height)`` of the display frame, pixels."""
        return (self.height, self.width) if self.a == 0 else (self.width, self.height)

    def _shift(self) -> tuple[float, float]:
        # The linear map sends the stored corners to a rectangle; shift its minimum to (0, 0).
        xs = [self.a * x + self.c * y for x in (0, self.width) for y in (0, self.height)]
        ys = [self.b * x + self.d * y for x in (0, self.width) for y in (0, self.height)]
        return -float(min(xs)), -float(min(ys))

    def points_to_stored(self, points: Sequence[Sequence[float]]) -> tuple[tuple[float, float], ...]:
        """Map display-space ``((x, y), ...)`` points (float pixels) to stored-space points."""
        tx, ty = self._shift()
        out = []
        for x, y in points:
            u, v = float(x) - tx, float(y) - ty
            # The linear part is orthogonal: its inverse is its transpose.
            out.append((self.a * u + self.b * v, self.c * u + self.d * v))
        return tuple(out)

    def points_to_display(self, points: Sequence[Sequence[float]]) -> tuple[tuple[float, float], ...]:
        """Map stored-space ``((x, y), ...)`` points (float pixels) to display-space points."""
        tx, ty = self._shift()
        return tuple((self.a * x + self.c * y + tx, self.b * x + self.d * y + ty) for x, y in points)

    def box_to_stored(self, bbox: BBox) -> BBox:
        """Map a display-space xyxy box (float pixels) to the stored-space box covering the same pixels."""
        (x1, y1), (x2, y2) = self.points_to_stored(((bbox[0], bbox[1]), (bbox[2], bbox[3])))
        return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)

    def box_to_display(self, bbox: BBox) -> BBox:
        """Map a stored-space xyxy box (float pixels) to display space."""
        (x1, y1), (x2, y2) = self.points_to_display(((bbox[0], bbox[1]), (bbox[2], bbox[3])))
        return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)

    def image_to_display(self, image: np.ndarray) -> np.ndarray:
        """The upright (display) frame of a stored frame: pixel-exact, no resampling.

        Display pixel ``(x', y')`` is the stored pixel whose centre :meth:`points_to_display`
        maps onto its centre, so a box found on the result maps back with
        :meth:`box_to_stored` onto the same stored pixels.

        Args:
            image: (H, W, ...) array of the stored frame (``H == height``, ``W == width``).

        Returns:
            (H', W', ...) array, ``(W', H') ==`` :attr:`display_size`; the input itself for the
            identity, else a new C-contiguous array.

        Raises:
            MediaError: if the image is not ``height`` x ``width``.
        """
        if tuple(image.shape[:2]) != (self.height, self.width):
            raise MediaError(f"frame of shape {image.shape[:2]} does not match the {self.width}x{self.height} stored size")
        if self.is_identity:
            return image
        if self.a == 0:  # the axes swap: display x' = c y + tx, y' = b x + ty
            out, flip_rows, flip_cols = np.swapaxes(image, 0, 1), self.b < 0, self.c < 0
        else:  # display x' = a x + tx, y' = d y + ty
            out, flip_rows, flip_cols = image, self.d < 0, self.a < 0
        if flip_rows:
            out = out[::-1]
        if flip_cols:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)


def display_transform(matrix: Sequence[int] | None, width: int, height: int) -> DisplayTransform:
    """The stored-to-display map of a video stream's display matrix.

    Like FFmpeg's autorotate, only the matrix's rotation and flip are used (its translation and
    scale are ignored); the rotation must be a multiple of 90 degrees (within 1 degree).

    Args:
        matrix: the 9 int32 of FFmpeg's display matrix (16.16 fixed point ``a b u c d v x y w``),
            or None when the stream has none (identity).
        width, height: stored frame size in pixels.

    Returns:
        The :class:`DisplayTransform`.

    Raises:
        MediaError: if the matrix is not a rotation by a multiple of 90 degrees, with or without a
            flip (shear, perspective, free angles): such footage has no pixel-exact upright frame.
    """
    if matrix is None:
        return DisplayTransform(width=int(width), height=int(height))
    if len(matrix) != 9:
        raise MediaError(f"display matrix must have 9 entries, got {len(matrix)}")
    a, b, c, d = (float(matrix[i]) / 65536.0 for i in (0, 1, 3, 4))
    sx, sy = math.hypot(a, c), math.hypot(b, d)
    snapped = None
    if sx > 0 and sy > 0 and matrix[2] == 0 and matrix[5] == 0:
        key = tuple(int(round(v)) for v in (a / sx, b / sy, c / sx, d / sy))
        close = all(abs(v - k) < 0.0175 for v, k in zip((a / sx, b / sy, c / sx, d / sy), key))  # ~1 degree
        if close and key in _DIHEDRAL:
            snapped = key
    if snapped is None:
        angle = -math.degrees(math.atan2(b, a)) if (a or b) else float("nan")
        raise MediaError(
            f"the video's display matrix {tuple(int(v) for v in matrix)} (rotation {angle:.1f} degrees) is not a "
            "rotation by a multiple of 90 degrees or a flip, so boxes in display coordinates cannot be mapped onto "
            "the stored frames; give the tracks in stored (decoded, unrotated) coordinates with --tracks-space stored, "
            "or re-encode the video upright"
        )
    return DisplayTransform(*snapped, width=int(width), height=int(height))


def stored_transform(space: TracksSpace | str, matrix: Sequence[int] | None, width: int, height: int) -> DisplayTransform:
    """The transform that takes detections given in ``space`` onto the stored frames.

    ``STORED`` -> identity (whatever the matrix); ``DISPLAY`` -> :func:`display_transform`.

    Raises:
        MediaError: see :func:`display_transform` (``DISPLAY`` only).
        ValueError: on an unknown ``space``.
    """
    if TracksSpace(space) is TracksSpace.STORED:
        return DisplayTransform(width=int(width), height=int(height))
    return display_transform(matrix, width, height)
