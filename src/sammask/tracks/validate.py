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
import os
import secrets
from collections.abc import Sequence
from dataclasses import replace
from enum import Enum
from pathlib import Path

from sammask.errors import InputFileError, TracksFormatError
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
    """The same track id twice on one frame (the later one is dropped)."""
    OUTSIDE_FRAME = "outside_frame"
    """Box (or polygon) fully outside the video frame (:func:`validate_tracks`)."""
    PAST_END = "past_end"
    """Detection on a frame >= the video's frame count (:func:`validate_tracks`)."""


class RowError(TracksFormatError):
    """A :class:`TracksFormatError` about one row / detection, with the :class:`DropReason`
    a lenient reader counts it under.

    Attributes:
        reason: the :class:`DropReason`.
        detail: the message without the ``path, location, field`` prefix.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: DropReason,
        path: str | None = None,
        location: str | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.detail = message
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

    def handle(self, err: RowError, n: int = 1) -> None:
        """Raise ``err`` (strict) or count ``n`` drops under its reason (lenient).

        Raises:
            RowError: ``err`` itself when not lenient.
        """
        if not self.lenient:
            raise err
        key = err.reason.value
        self.counts[key] = self.counts.get(key, 0) + n
        self.first.setdefault(key, str(err))
        logger.debug("dropped: %s", err)

    def log_summary(self, path: str) -> None:
        """Log one warning per reason with the count and the first example."""
        for key, n in sorted(self.counts.items()):
            logger.warning("%s: dropped %d row(s) (%s), first: %s", path, n, key, self.first[key])


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a UTF-8 tracks file (a BOM is accepted).

    Raises:
        InputFileError: the file is missing, a directory, or unreadable.
        TracksFormatError: the file is not UTF-8 text.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"tracks file not found: {p}; check the path")
    if p.is_dir():
        raise InputFileError(f"tracks path is a directory, not a file: {p}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read tracks file {p}: {exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TracksFormatError(
            f"not UTF-8 text (byte {exc.start}); a tracks file is MOT text or sammask JSON",
            path=str(p),
        ) from exc


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file in the same folder and a rename,
    so a reader never sees a half-written file.

    Raises:
        InputFileError: the folder does not exist, or the file cannot be written (permissions,
            ``path`` is a directory, disk full).
    """
    p = Path(path)
    if not p.parent.is_dir():
        raise InputFileError(f"output folder does not exist: {p.parent}")
    # a unique sibling name opened with "x" (not mkstemp: that would leave mode 0600)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputFileError(f"cannot write tracks file {p}: {exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def merge_counts(*counts: dict[str, int]) -> dict[str, int]:
    """Sum several ``reason -> count`` dicts."""
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[k] = out.get(k, 0) + v
    return out


# --- clipping -------------------------------------------------------------------------------


def clip_bbox(bbox: BBox, width: int, height: int) -> BBox | None:
    """Clip an xyxy box (pixels) to ``[0, width] x [0, height]``.

    Returns:
        The clipped box, or ``None`` if nothing of it (no positive area) lies inside the frame.
    """
    x1, y1, x2, y2 = bbox
    cx1, cy1 = min(max(x1, 0.0), float(width)), min(max(y1, 0.0), float(height))
    cx2, cy2 = min(max(x2, 0.0), float(width)), min(max(y2, 0.0), float(height))
    if cx2 <= cx1 or cy2 <= cy1:
        return None
    return (cx1, cy1, cx2, cy2)


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

    Sutherland-Hodgman clipping against the four frame edges (I. E. Sutherland and
    G. W. Hodgman, "Reentrant polygon clipping", CACM 17(1), 1974). For a concave polygon the
    result can contain zero-width edges along the frame border; it fills the same pixels.

    Returns:
        The clipped vertices, or ``None`` if less than 3 vertices or no area remain.
    """
    W, H = float(width), float(height)

    def cut(pts: list[Point], axis: int, bound: float, keep_greater: bool) -> list[Point]:
        out: list[Point] = []
        if not pts:
            return out

        def inside(p: Point) -> bool:
            return p[axis] >= bound if keep_greater else p[axis] <= bound

        def cross(p: Point, q: Point) -> Point:
            t = (bound - p[axis]) / (q[axis] - p[axis])
            other = 1 - axis
            r = [0.0, 0.0]
            r[axis] = bound
            r[other] = p[other] + t * (q[other] - p[other])
            return (r[0], r[1])

        prev = pts[-1]
        for cur in pts:
            if inside(cur):
                if not inside(prev):
                    out.append(cross(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cross(prev, cur))
            prev = cur
        return out

    pts = [(float(x), float(y)) for x, y in points]
    for axis, bound, keep_greater in ((0, 0.0, True), (0, W, False), (1, 0.0, True), (1, H, False)):
        pts = cut(pts, axis, bound, keep_greater)
    if len(pts) < 3 or _polygon_area(pts) <= 0.0:
        return None
    return tuple(pts)


def _bounds(points: Sequence[Point]) -> BBox:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


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
    - A box fully outside the frame (no positive area inside; for ``POLYGON`` detections: the
      polygon has no area inside) is an error (:attr:`DropReason.OUTSIDE_FRAME`).
    - A detection on ``frame_idx >= num_frames`` is an error (:attr:`DropReason.PAST_END`).

    Args:
        tracks: detections (not modified).
        width: video frame width in pixels (> 0).
        height: video frame height in pixels (> 0).
        num_frames: number of frames in the video; ``None`` when unknown (no past-end check).
        lenient: drop invalid detections and count them in :attr:`Tracks.dropped` by reason
            instead of raising.

    Returns:
        A new :class:`Tracks` with the same ``source``, clipped detections, ``dropped`` = the
        input's counts plus this validation's, and ``clipped`` = the input's plus this one's.

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
        new_bbox = clip_bbox(det.bbox, width, height)
        new_poly = det.polygon
        if det.polygon is not None:
            new_poly = clip_polygon(det.polygon, width, height)
        if det.type == DetectionType.POLYGON:
            outside, fld = new_poly is None, "polygon"
            if new_poly is not None and new_bbox is None:
                new_bbox = _bounds(new_poly)  # the polygon is what gets masked
                if new_bbox[2] <= new_bbox[0] or new_bbox[3] <= new_bbox[1]:
                    outside = True
        else:
            # an informational polygon on a box type that ends up fully outside becomes None
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

    if errors:
        if not lenient:
            first = errors[0]
            more = (
                f" ({len(errors) - 1} more invalid detection(s); lenient=True drops them)"
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
    out.clipped = tracks.clipped + clipped
    return out
