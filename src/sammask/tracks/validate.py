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
from dataclasses import dataclass, replace
from enum import Enum
from typing import TypedDict

from sammask.errors import TracksFormatError
from sammask.geometry import clip_bbox, clip_polygon_to_frame, grow_empty_box, is_simple_polygon, polygon_bbox
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


class RowPlace(TypedDict):
    """Where a row is, as :class:`RowError`'s keyword arguments (``RowError(..., **place)``)."""

    path: str | None
    """The tracks file."""
    location: str | None
    """The row in it: ``line 12``, ``item 3``..."""


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


# --- fitting detections to the frame --------------------------------------------------------


@dataclass(frozen=True)
class _Fit:
    """One detection fitted to the frame: ``det`` is None when nothing of it lies inside."""

    det: Detection | None
    clipped: bool = False
    as_box: bool = False
    """A polygon masked as its bounding box (:attr:`RepairReason.POLYGON_AS_BOX`)."""


def _refit(det: Detection, bbox: BBox, polygon: tuple[Point, ...] | None) -> _Fit:
    """``det`` with a clipped box / polygon, flagged as clipped when either changed."""
    if bbox == det.bbox and polygon == det.polygon:
        return _Fit(det)
    return _Fit(replace(det, bbox=bbox, polygon=polygon), clipped=True)


def _fit_box(det: Detection, width: int, height: int) -> _Fit:
    """A box detection (types 1-3) clipped to the frame; an informational polygon is clipped
    too, or dropped with nothing of it inside (it is not masked)."""
    bbox = clip_bbox(det.bbox, width, height)
    if bbox is None:
        return _Fit(None)
    polygon = None if det.polygon is None else clip_polygon_to_frame(det.polygon, width, height)
    return _refit(det, bbox, polygon)


def _fit_polygon(det: Detection, width: int, height: int) -> _Fit:
    """A ``POLYGON`` detection clipped to the frame, or masked as its box when not simple."""
    assert det.polygon is not None  # validated by Detection
    if not is_simple_polygon(det.polygon):
        return _polygon_as_box(det, width, height)
    polygon = clip_polygon_to_frame(det.polygon, width, height)
    if polygon is None:
        return _Fit(None)
    bbox = clip_bbox(det.bbox, width, height) or polygon_bbox(polygon)
    if bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
        bbox = grow_empty_box(polygon_bbox(polygon))
    return _refit(det, bbox, polygon)


def _polygon_as_box(det: Detection, width: int, height: int) -> _Fit:
    """A self-intersecting or area-less polygon as a ``MANUAL_BOX`` of its bounds (privacy first)."""
    assert det.polygon is not None
    poly_box = grow_empty_box(polygon_bbox(det.polygon))
    as_box = clip_bbox(poly_box, width, height)
    if as_box is None:
        return _Fit(None)
    box_det = replace(det, bbox=as_box, type=DetectionType.MANUAL_BOX, polygon=None)
    return _Fit(box_det, clipped=as_box != poly_box, as_box=True)


def _location(det: Detection) -> str:
    return f"frame_idx {det.frame_idx} (MOT frame {det.frame_idx + 1}), track_id {det.track_id}"


def _past_end_error(det: Detection, num_frames: int, source: str | None) -> RowError:
    return RowError(
        f"detection on frame_idx {det.frame_idx} but the video has {num_frames} "
        f"frames (0..{num_frames - 1}); are the tracks for this video?",
        reason=DropReason.PAST_END,
        path=source,
        location=_location(det),
        field="frame_idx",
    )


def _outside_error(det: Detection, width: int, height: int, source: str | None) -> RowError:
    fld = "polygon" if det.type == DetectionType.POLYGON else "bbox"
    return RowError(
        f"{fld} {det.polygon if fld == 'polygon' else det.bbox} lies fully outside "
        f"the {width}x{height} frame; are the tracks for this video (same "
        "resolution)?",
        reason=DropReason.OUTSIDE_FRAME,
        path=source,
        location=_location(det),
        field=fld,
    )


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
      detection's polygon (Sutherland-Hodgman, see :func:`sammask.geometry.clip_polygon_to_frame`). Clipped detections
      are counted in the result's :attr:`Tracks.clipped`.
    - A box fully outside the frame (no positive area inside; for ``POLYGON`` detections: neither
      the polygon nor its bounding box has area inside) is an error
      (:attr:`DropReason.OUTSIDE_FRAME`).
    - A ``POLYGON`` that is self-intersecting (:func:`sammask.geometry.is_simple_polygon`) or has no area inside
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
    _check_video_size(width, height, num_frames)
    errors: list[RowError] = []
    repaired: dict[str, int] = {}
    clipped = 0
    kept: list[Detection] = []
    for det in tracks:
        if num_frames is not None and det.frame_idx >= num_frames:
            errors.append(_past_end_error(det, num_frames, tracks.source))
            continue
        fit = _fit_polygon(det, width, height) if det.type == DetectionType.POLYGON else _fit_box(det, width, height)
        if fit.det is None:
            errors.append(_outside_error(det, width, height, tracks.source))
            continue
        if fit.as_box:
            repaired[RepairReason.POLYGON_AS_BOX.value] = repaired.get(RepairReason.POLYGON_AS_BOX.value, 0) + 1
        clipped += fit.clipped
        kept.append(fit.det)
    _count_duplicates(kept, repaired)
    dropped = _refuse_or_count(errors, lenient=lenient, source=tracks.source)
    if clipped:
        logger.info("%s: clipped %d box(es) to the %dx%d frame", tracks.source or "tracks", clipped, width, height)
    out = Tracks.from_detections(kept, source=tracks.source)
    out.dropped = merge_counts(tracks.dropped, dropped)
    out.repaired = merge_counts(tracks.repaired, repaired)
    out.clipped = tracks.clipped + clipped
    out.rows = tracks.rows
    return out


def _check_video_size(width: int, height: int, num_frames: int | None) -> None:
    """Raise :class:`TracksFormatError` for a non-positive frame size or a negative frame count."""
    if width <= 0 or height <= 0:
        raise TracksFormatError(f"frame size must be positive pixels, got {width}x{height}", field="width/height")
    if num_frames is not None and num_frames < 0:
        raise TracksFormatError(f"num_frames must be >= 0, got {num_frames}", field="num_frames")


def _refuse_or_count(errors: list[RowError], *, lenient: bool, source: str | None) -> dict[str, int]:
    """Strict: raise the first error, saying how many more there are. Lenient: count them by reason.

    Raises:
        RowError: not lenient and ``errors`` is not empty.
    """
    if not errors:
        return {}
    if not lenient:
        first = errors[0]
        more = f" ({len(errors) - 1} more invalid detection(s); --lenient (lenient=True) drops them)" if len(errors) > 1 else ""
        raise RowError(first.detail + more, reason=first.reason, path=first.path, location=first.location, field=first.field)
    dropped: dict[str, int] = {}
    for err in errors:
        dropped[err.reason.value] = dropped.get(err.reason.value, 0) + 1
    logger.warning("%s: dropped %d detection(s) that do not fit the video: %s", source or "tracks", len(errors), dropped)
    return dropped
