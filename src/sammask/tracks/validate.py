"""Validation of tracks against a video, and helpers shared by the tracks readers.

:func:`validate_tracks` checks detections against the video they belong to (frame size, frame
count): boxes and polygons partly outside the frame are clipped, detections fully outside the
frame or past the last frame are errors, or, with ``lenient=True``, dropped and counted in
:attr:`Tracks.dropped` by :class:`DropReason`.

The readers (:mod:`sammask.tracks.mot`, :mod:`sammask.tracks.jsonfmt`) share the row-level
machinery here: :class:`RowError` (a :class:`TracksFormatError` carrying a drop reason) and
:class:`DropCounter` (raise in strict mode, count in lenient mode).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from enum import Enum

from sammask.errors import TracksFormatError
from sammask.geometry import clip_bbox
from sammask.geometry import clip_polygon as _clip_exact
from sammask.tracks.types import BBox, Detection, DetectionType, Tracks

logger = logging.getLogger(__name__)

Point = tuple[float, float]


class DropReason(str, Enum):
    """Why a lenient reader or :func:`validate_tracks` dropped a row / detection.

    The ``value`` strings are the keys of :attr:`Tracks.dropped`.
    """

    COLUMN_COUNT = "column_count"
    """MOT line with fewer than 6 columns."""
    NOT_A_NUMBER = "not_a_number"
    """A value that does not parse as a number (MOT) or has the wrong JSON type."""
    NOT_FINITE = "not_finite"
    """NaN or infinity in a coordinate or score."""
    BAD_FRAME = "bad_frame"
    """Frame number < 1 (MOT, 1-based), frame_idx < 0 (JSON) or not an integer."""
    BAD_TRACK_ID = "bad_track_id"
    """Negative or non-integer track id."""
    NEGATIVE_SIZE = "negative_size"
    """Negative box width or height."""
    ZERO_SIZE = "zero_size"
    """Box with zero width or height."""
    BAD_TYPE = "bad_type"
    """Detection type other than 1, 2, 3, 4."""
    BAD_POLYGON = "bad_polygon"
    """Type 4 without a polygon of at least 3 finite points, or a malformed polygon."""
    BAD_SCORE = "bad_score"
    """Score outside [0, 1] (JSON)."""
    MISSING_FIELD = "missing_field"
    """A required JSON key is absent."""
    DUPLICATE_TRACK = "duplicate_track"
    """The same track id twice on one frame (strict mode refuses it; lenient mode masks both)."""
    OUTSIDE_FRAME = "outside_frame"
    """Box (or polygon) fully outside the video frame (:func:`validate_tracks`)."""
    PAST_END = "past_end"
    """Detection on a frame >= the video's frame count (:func:`validate_tracks`)."""


class RepairReason(str, Enum):
    """How a lenient reader or :func:`validate_tracks` kept a flawed row that can still be masked.

    Privacy first: a row is dropped only when it cannot be placed on any pixel; everything else
    is repaired towards masking *more*. The ``value`` strings are the keys of
    :attr:`Tracks.repaired`.
    """

    DUPLICATE = "duplicate"
    """The same track id more than once on a frame: all are masked (a segmenter gets one prompt
    per track, the enclosing box; each row's own box gets the fail-secure rule)."""
    ZERO_SIZE_PADDED = "zero_size_padded"
    """A zero-width or zero-height box grown to 1 pixel (lenient)."""
    BAD_SCORE = "bad_score"
    """A score outside [0, 1] or not a number: clamped / set to 1 (lenient)."""
    BAD_TYPE_AS_BOX = "bad_type_as_box"
    """An unknown detection type masked as a drawn box (type 3) (lenient)."""
    POLYGON_AS_BOX = "polygon_as_box"
    """A polygon that is self-intersecting, has no area, or is malformed while a box is given:
    masked as its bounding box (type 3)."""


class RowError(TracksFormatError):
    """A :class:`TracksFormatError` about one row / detection, with the :class:`DropReason`
    a lenient reader counts it under.

    Attributes:
        reason: the :class:`DropReason`.
        detail: the message without the ``path, location, field`` prefix.
        droppable: False for rows that hold a maskable box but cannot be assigned safely (e.g. no
            usable track id): they are refused in lenient mode too, never dropped silently.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: DropReason,
        path: str | None = None,
        location: str | None = None,
        field: str | None = None,
        droppable: bool = True,
    ) -> None:
        self.reason = reason
        self.detail = message
        self.droppable = droppable
        super().__init__(message, path=path, location=location, field=field)


class DropCounter:
    """Strict/lenient switch used by readers: raise a :class:`RowError` or count it.

    Args:
        lenient: ``False``: :meth:`handle` re-raises. ``True``: it counts the error's reason,
            logs it at debug level, and returns (the caller skips the row).
    """

    def __init__(self, lenient: bool) -> None:
        self.lenient = lenient
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}
        self.repaired: dict[str, int] = {}

    def handle(self, err: RowError, n: int = 1) -> None:
        """Raise ``err`` (strict, or a row that must not be dropped) or count ``n`` drops under its
        reason (lenient).

        Raises:
            RowError: ``err`` itself when not lenient or when ``err.droppable`` is False.
        """
        if not self.lenient or not err.droppable:
            raise err
        key = err.reason.value
        self.counts[key] = self.counts.get(key, 0) + n
        self.first.setdefault(key, str(err))
        logger.debug("dropped: %s", err)

    def repair(self, err: RowError, reason: RepairReason) -> None:
        """Keep a flawed but maskable row (lenient) and count the repair; raise ``err`` (strict).

        Raises:
            RowError: ``err`` itself when not lenient.
        """
        if not self.lenient:
            raise err
        self.repaired[reason.value] = self.repaired.get(reason.value, 0) + 1
        logger.debug("repaired (%s): %s", reason.value, err)

    def log_summary(self, path: str) -> None:
        """Log one warning per reason with the count and the first example."""
        for key, n in sorted(self.counts.items()):
            logger.warning("%s: dropped %d row(s) (%s), first: %s", path, n, key, self.first[key])
        for key, n in sorted(self.repaired.items()):
            logger.warning("%s: kept %d flawed row(s) masked (%s)", path, n, key)


def merge_counts(*counts: dict[str, int]) -> dict[str, int]:
    """Sum several ``reason -> count`` dicts."""
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[k] = out.get(k, 0) + v
    return out


# --- clipping -------------------------------------------------------------------------------


def _polygon_area(points: Sequence[Point]) -> float:
    """Absolute area (pixels^2) by the shoelace formula."""
    n = len(points)
    s = 0.0
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        s += x1 * y2 - x2 * y1
    return abs(s) / 2.0


def clip_polygon(points: Sequence[Point], width: int, height: int) -> tuple[Point, ...] | None:
    """Clip a polygon (pixels, any orientation, convex or not) to ``[0, width] x [0, height]``.

    Exact Sutherland-Hodgman clipping (:func:`sammask.geometry.clip_polygon`: far-away vertices
    such as ``1e19`` lose no precision). For a concave polygon the result can contain zero-width
    edges along the frame border; it fills the same pixels.

    Returns:
        The clipped vertices, or ``None`` if less than 3 vertices or no area remain.
    """
    pts = _clip_exact(points, (0.0, 0.0, float(width), float(height)))
    if len(pts) < 3 or _polygon_area(pts) <= 0.0:
        return None
    return pts


def _bounds(points: Sequence[Point]) -> BBox:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def is_simple_polygon(points: Sequence[Point]) -> bool:
    """True when the closed polygon has a positive area, no zero-length edge, and no two
    non-adjacent edges that touch or cross: a *simple* polygon, whose filled area is unambiguous.

    A self-intersecting outline (a bow-tie, a pentagram) is filled differently by even-odd and
    non-zero rules; the pipeline masks such a polygon by its bounding box instead (privacy first).
    Vectorised O(n^2) segment test (orientation signs), fine for the few hundred vertices an
    annotation tool draws.
    """
    import numpy as np

    pts = np.asarray(points, dtype=np.float64)
    n = len(pts)
    if n < 3 or _polygon_area(points) <= 0.0:
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

    def orient(u, v, w):
        return np.sign((v[:, 0] - u[:, 0]) * (w[:, 1] - u[:, 1]) - (v[:, 1] - u[:, 1]) * (w[:, 0] - u[:, 0]))

    def on_seg(u, v, w):  # w on segment uv, given collinear
        return (np.minimum(u[:, 0], v[:, 0]) <= w[:, 0]) & (w[:, 0] <= np.maximum(u[:, 0], v[:, 0])) & (
            np.minimum(u[:, 1], v[:, 1]) <= w[:, 1]) & (w[:, 1] <= np.maximum(u[:, 1], v[:, 1]))

    o1, o2, o3, o4 = orient(p1, p2, q1), orient(p1, p2, q2), orient(q1, q2, p1), orient(q1, q2, p2)
    cross = (o1 != o2) & (o3 != o4) & (o1 != 0) & (o2 != 0) & (o3 != 0) & (o4 != 0)
    touch = ((o1 == 0) & on_seg(p1, p2, q1)) | ((o2 == 0) & on_seg(p1, p2, q2)) | (
        (o3 == 0) & on_seg(q1, q2, p1)) | ((o4 == 0) & on_seg(q1, q2, p2))
    return not bool(np.any(cross | touch))


def _padded(b: BBox) -> BBox:
    """A box grown to at least 1 pixel wide and high (a line-shaped polygon's bounds)."""
    x1, y1, x2, y2 = b
    return (x1, y1, x2 if x2 > x1 else x1 + 1.0, y2 if y2 > y1 else y1 + 1.0)


def _enclosing(a: BBox, b: BBox) -> BBox:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _count_duplicates(dets: list[Detection], repaired: dict[str, int]) -> None:
    """Count detections repeating a ``(frame_idx, track_id)``: all are kept and masked (the
    pipeline prompts a segmenter once per track with the enclosing box, and applies the
    fail-secure rule to each detection's own box)."""
    seen: set[tuple[int, int]] = set()
    for det in dets:
        key = (det.frame_idx, det.track_id)
        if key in seen:
            repaired[RepairReason.DUPLICATE.value] = repaired.get(RepairReason.DUPLICATE.value, 0) + 1
        seen.add(key)


def validate_tracks(
    tracks: Tracks,
    width: int,
    height: int,
    num_frames: int | None,
    *,
    lenient: bool = False,
) -> Tracks:
    """Check detections against the video: clip to the frame, reject what cannot be placed.

    - A box partly outside ``[0, width] x [0, height]`` is clipped to it; so is a ``POLYGON``
      detection's polygon (Sutherland-Hodgman, see :func:`clip_polygon`). Clipped detections
      are counted in the result's :attr:`Tracks.clipped`.
    - A box fully outside the frame (no positive area inside; for ``POLYGON`` detections: neither
      the polygon nor its bounding box has area inside) is an error
      (:attr:`DropReason.OUTSIDE_FRAME`).
    - A ``POLYGON`` that is self-intersecting (:func:`is_simple_polygon`) or has no area inside
      the frame (collinear points, a degenerate bow-tie) but whose bounding box does is masked as
      that box: it becomes a ``MANUAL_BOX`` detection (:attr:`RepairReason.POLYGON_AS_BOX`).
    - The same track id more than once on a frame: every detection is kept and masked
      (:attr:`RepairReason.DUPLICATE`).
    - A detection on ``frame_idx >= num_frames`` is an error (:attr:`DropReason.PAST_END`).
      Container frame counts are not facts (fragmented MP4, AVI headers lie): the pipeline passes
      ``None`` and checks against the frames it actually decoded.

    Args:
        tracks: detections (not modified).
        width: video frame width in pixels (> 0).
        height: video frame height in pixels (> 0).
        num_frames: number of frames in the video; ``None`` when unknown (no past-end check).
        lenient: drop invalid detections and count them in :attr:`Tracks.dropped` by reason
            instead of raising.

    Returns:
        A new :class:`Tracks` with the same ``source``, clipped detections, ``dropped`` = the
        input's counts plus this validation's, ``repaired`` likewise, and ``clipped`` = the
        input's plus this one's.

    Raises:
        TracksFormatError: (not lenient) on the first invalid detection, naming the source
            file, the frame and track, the field, and how many more invalid detections exist;
            also when ``width``/``height``/``num_frames`` are not positive.
    """
    if width <= 0 or height <= 0:
        raise TracksFormatError(
            f"frame size must be positive pixels, got {width}x{height}", field="width/height"
        )
    if num_frames is not None and num_frames < 0:
        raise TracksFormatError(f"num_frames must be >= 0, got {num_frames}", field="num_frames")

    errors: list[RowError] = []
    dropped: dict[str, int] = {}
    repaired: dict[str, int] = {}
    clipped = 0
    kept: list[Detection] = []
    for det in tracks:
        loc = f"frame_idx {det.frame_idx} (MOT frame {det.frame_idx + 1}), track_id {det.track_id}"
        if num_frames is not None and det.frame_idx >= num_frames:
            errors.append(
                RowError(
                    f"detection on frame_idx {det.frame_idx} but the video has {num_frames} "
                    f"frames (0..{num_frames - 1}); are the tracks for this video?",
                    reason=DropReason.PAST_END,
                    path=tracks.source,
                    location=loc,
                    field="frame_idx",
                )
            )
            continue
        if det.type == DetectionType.POLYGON:
            assert det.polygon is not None  # validated by Detection
            if is_simple_polygon(det.polygon):
                new_poly = clip_polygon(det.polygon, width, height)
                new_bbox = None
                if new_poly is not None:
                    new_bbox = clip_bbox(det.bbox, width, height) or _bounds(new_poly)
                    if new_bbox[2] <= new_bbox[0] or new_bbox[3] <= new_bbox[1]:
                        new_bbox = _padded(_bounds(new_poly))
            else:
                # self-intersecting or without area: mask its bounding box instead (privacy first)
                poly_box = _padded(_bounds(det.polygon))
                as_box = clip_bbox(poly_box, width, height)
                if as_box is not None:
                    repaired[RepairReason.POLYGON_AS_BOX.value] = repaired.get(RepairReason.POLYGON_AS_BOX.value, 0) + 1
                    if as_box != poly_box:
                        clipped += 1
                    kept.append(replace(det, bbox=as_box, type=DetectionType.MANUAL_BOX, polygon=None))
                    continue
                new_bbox = new_poly = None
            outside, fld = new_bbox is None, "polygon"
        else:
            new_bbox = clip_bbox(det.bbox, width, height)
            # an informational polygon on a box type is not masked; drop it with the box
            new_poly = None if det.polygon is None else clip_polygon(det.polygon, width, height)
            outside, fld = new_bbox is None, "bbox"
        if outside:
            errors.append(
                RowError(
                    f"{fld} {det.polygon if fld == 'polygon' else det.bbox} lies fully outside "
                    f"the {width}x{height} frame; are the tracks for this video (same "
                    "resolution)?",
                    reason=DropReason.OUTSIDE_FRAME,
                    path=tracks.source,
                    location=loc,
                    field=fld,
                )
            )
            continue
        assert new_bbox is not None
        if new_bbox != det.bbox or new_poly != det.polygon:
            clipped += 1
            det = replace(det, bbox=new_bbox, polygon=new_poly)
        kept.append(det)
    _count_duplicates(kept, repaired)

    if errors:
        if not lenient:
            first = errors[0]
            more = (
                f" ({len(errors) - 1} more invalid detection(s); --lenient (lenient=True) drops them)"
                if len(errors) > 1
                else ""
            )
            raise RowError(
                first.detail + more,
                reason=first.reason,
                path=first.path,
                location=first.location,
                field=first.field,
            )
        for err in errors:
            dropped[err.reason.value] = dropped.get(err.reason.value, 0) + 1
        logger.warning(
            "%s: dropped %d detection(s) that do not fit the video: %s",
            tracks.source or "tracks",
            len(errors),
            dropped,
        )
    if clipped:
        logger.info(
            "%s: clipped %d box(es) to the %dx%d frame",
            tracks.source or "tracks",
            clipped,
            width,
            height,
        )
    out = Tracks.from_detections(kept, source=tracks.source)
    out.dropped = merge_counts(tracks.dropped, dropped)
    out.repaired = merge_counts(tracks.repaired, repaired)
    out.clipped = tracks.clipped + clipped
    out.rows = tracks.rows
    return out
