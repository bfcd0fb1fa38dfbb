"""Detection and track containers.

A *detection* is one object's box on one frame, as stored by the original system's export:
``frame_idx`` (0-based), ``track_id``, ``bbox`` (x1, y1, x2, y2 pixels), ``type`` and the
selection flag. Readers (MOT text, sammask JSON) build these; the pipeline turns them into
segmenter prompts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any

import numpy as np

from sammask.errors import TracksFormatError
from sammask.geometry import BBox, DisplayTransform


class DetectionType(IntEnum):
    """How a detection was made (the original system's ``type`` field).

    ``AUTO`` and ``USER_PICKED`` are segmented; ``MANUAL_BOX`` and ``POLYGON`` are masked as drawn.

    ``USER_PICKED`` (the original's "user-selected detection", ``type == 2``) says how the box
    was *made*: the user picked the object. It is unrelated to :attr:`Detection.selected`, the
    masking-mode flag (the original's ``object`` field, where ``object == 2`` means de-selected).
    """

    AUTO = 1
    USER_PICKED = 2
    MANUAL_BOX = 3
    POLYGON = 4

    @property
    def is_segmented(self) -> bool:
        """True for the types that go through the segmenter (1 and 2)."""
        return self in (DetectionType.AUTO, DetectionType.USER_PICKED)


@dataclass(frozen=True, slots=True)
class Detection:
    """One object's box on one frame.

    Attributes:
        frame_idx: 0-based frame index in decode order.
        track_id: identity of the object across frames (>= 0).
        bbox: ``(x1, y1, x2, y2)`` pixels, float, finite, ``x2 > x1`` and ``y2 > y1``.
        type: :class:`DetectionType`.
        selected: whether the object belongs to the *selected* set of the masking mode:
            ``False`` when the user de-selected it (original ``object == 2``), ``True`` otherwise.
            Independent of ``type`` (``DetectionType.USER_PICKED`` is about how the box was made).
        score: detector confidence in [0, 1] (1.0 when unknown).
        polygon: for ``POLYGON`` detections, the region's vertices ``((x, y), ...)`` in pixels
            (at least 3); ``None`` otherwise.
        class_name: the detector's class (``"face"``, ``"person"``, ``"car"``...), ``None`` when
            the source does not say.

    Raises:
        TracksFormatError: on a negative frame or track id, a non-finite coordinate, an empty or
            inverted box, or a ``POLYGON`` detection without at least 3 points.

    Examples:
        >>> from sammask import Detection
        >>> from sammask.tracks.types import DetectionType
        >>> det = Detection(frame_idx=0, track_id=3, bbox=(0.0, 0.0, 32.0, 64.0), type=DetectionType.MANUAL_BOX)
        >>> det.type.is_segmented, det.selected  # a drawn box is masked as drawn; selected by default
        (False, True)
        >>> Detection(frame_idx=0, track_id=3, bbox=(5.0, 5.0, 5.0, 9.0))
        Traceback (most recent call last):
        ...
        sammask.errors.TracksFormatError: field 'bbox': bbox must have x2 > x1 and y2 > y1 (xyxy pixels), got (5.0, 5.0, 5.0, 9.0)
    """

    frame_idx: int
    track_id: int
    bbox: BBox
    type: DetectionType = DetectionType.AUTO
    selected: bool = True
    score: float = 1.0
    polygon: tuple[tuple[float, float], ...] | None = None
    class_name: str | None = None

    def __post_init__(self) -> None:
        if self.frame_idx < 0:
            raise TracksFormatError(f"frame_idx must be >= 0, got {self.frame_idx}", field="frame_idx")
        if self.track_id < 0:
            raise TracksFormatError(f"track_id must be >= 0, got {self.track_id}", field="track_id")
        if len(self.bbox) != 4 or not all(math.isfinite(v) for v in self.bbox):
            raise TracksFormatError(f"bbox must be 4 finite numbers, got {self.bbox}", field="bbox")
        x1, y1, x2, y2 = self.bbox
        if x2 <= x1 or y2 <= y1:
            raise TracksFormatError(f"bbox must have x2 > x1 and y2 > y1 (xyxy pixels), got {self.bbox}", field="bbox")
        if self.type == DetectionType.POLYGON:
            if self.polygon is None or len(self.polygon) < 3:
                raise TracksFormatError("type 4 (polygon) needs at least 3 polygon points", field="polygon")
            if not all(len(p) == 2 and all(math.isfinite(c) for c in p) for p in self.polygon):
                raise TracksFormatError("polygon points must be finite (x, y) pairs", field="polygon")

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.bbox[3] - self.bbox[1]


@dataclass(slots=True)
class Tracks:
    """All detections of a video, indexed by frame.

    Attributes:
        by_frame: ``frame_idx -> detections on that frame`` (frames without detections absent).
        source: the file the detections came from (for messages), if any.
        dropped: counts of detections (or malformed rows) dropped by a lenient reader or
            :func:`sammask.tracks.validate.validate_tracks`, by reason (e.g.
            ``{"outside_frame": 3, "past_end": 2}``; reasons are listed in
            ``sammask.tracks.validate.DropReason``).
        clipped: number of detections whose box (or polygon) was clipped to the frame by
            :func:`sammask.tracks.validate.validate_tracks`.
        repaired: counts of flawed rows that were kept and masked anyway (duplicates, padded
            zero-size boxes, polygons masked as boxes...), by
            ``sammask.tracks.validate.RepairReason`` value.
        rows: detection rows the source held (kept, repaired or dropped) when read from a file;
            None when the tracks were built in code (then ``len(self)`` plus the drops).

    Examples:
        Build tracks in code (two frames of one object), look them up by frame:

        >>> from sammask import Detection, Tracks
        >>> tracks = Tracks.from_detections([Detection(frame_idx=i, track_id=7, bbox=(10.0, 20.0, 50.0, 80.0)) for i in (0, 1)])
        >>> len(tracks), tracks.track_ids
        (2, [7])
        >>> tracks.on_frame(1)[0].bbox
        (10.0, 20.0, 50.0, 80.0)
        >>> tracks.on_frame(5)
        []
    """

    by_frame: dict[int, list[Detection]] = field(default_factory=dict)
    source: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    clipped: int = 0
    repaired: dict[str, int] = field(default_factory=dict)
    rows: int | None = None

    @classmethod
    def from_detections(cls, detections: Iterable[Detection], source: str | None = None) -> Tracks:
        """Group detections by frame (order within a frame is kept)."""
        tracks = cls(source=source)
        for det in detections:
            tracks.by_frame.setdefault(det.frame_idx, []).append(det)
        return tracks

    @classmethod
    def from_arrays(
        cls,
        frame_idx: Any,
        track_id: Any,
        xyxy: Any,
        *,
        scores: Any = None,
        class_names: Sequence[str | None] | None = None,
        types: Any = None,
        source: str | None = None,
    ) -> Tracks:
        """Detections from parallel arrays (numpy arrays or lists; numpy scalars accepted).

        Args:
            frame_idx: (N,) integers >= 0, 0-based frames.
            track_id: (N,) integers >= 0.
            xyxy: (N, 4) float pixels ``x1, y1, x2, y2``.
            scores: (N,) in [0, 1] (None: 1.0).
            class_names: N class names or None entries.
            types: (N,) :class:`DetectionType` values 1-3 (None: 1, auto-detected).
            source: name for messages.

        Raises:
            TracksFormatError: on any shape mismatch, non-integer or negative id / frame,
                non-finite value, empty or inverted box, score outside [0, 1], a track twice on
                a frame, or a polygon type; checked for all rows before any is built.
        """
        fi = np.asarray(frame_idx)
        ti = np.asarray(track_id)
        boxes = np.asarray(xyxy, dtype=float)
        n = fi.size
        if boxes.size == 0 and n == 0:
            return cls(source=source)
        if fi.ndim != 1 or ti.shape != fi.shape:
            raise TracksFormatError(f"frame_idx and track_id must be 1-D of one length, got {fi.shape} and {ti.shape}", field="frame_idx")
        if boxes.shape != (n, 4):
            raise TracksFormatError(f"xyxy must have shape (N, 4) = ({n}, 4), got {boxes.shape}", field="bbox")
        for name, arr in (("frame_idx", fi), ("track_id", ti)):
            if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and not np.all(np.mod(arr, 1) == 0)):
                raise TracksFormatError(f"{name} must hold integers, got dtype {arr.dtype}", field=name)
            if (arr < 0).any():
                raise TracksFormatError(f"{name} must be >= 0, got {arr.min()}", field=name)
        sc = np.ones(n) if scores is None else np.asarray(scores, dtype=float)
        if sc.shape != (n,):
            raise TracksFormatError(f"scores must have shape ({n},), got {sc.shape}", field="score")
        if not (np.isfinite(sc).all() and (sc >= 0).all() and (sc <= 1).all()):
            raise TracksFormatError("scores must be finite and in [0, 1]", field="score")
        if not np.isfinite(boxes).all():
            raise TracksFormatError("xyxy must be finite", field="bbox")
        bad = np.flatnonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))
        if bad.size:
            raise TracksFormatError(
                f"row {bad[0]}: box {boxes[bad[0]].tolist()} needs x2 > x1 and y2 > y1 ({bad.size} such rows)", field="bbox"
            )
        names = [None] * n if class_names is None else list(class_names)
        if len(names) != n:
            raise TracksFormatError(f"class_names must have {n} items, got {len(names)}", field="class")
        kinds = np.full(n, int(DetectionType.AUTO)) if types is None else np.asarray(types)
        if kinds.shape != (n,):
            raise TracksFormatError(f"types must have shape ({n},), got {kinds.shape}", field="type")
        pairs = set()
        dets = []
        for i in range(n):
            key = (int(fi[i]), int(ti[i]))
            if key in pairs:
                raise TracksFormatError(f"track_id {key[1]} twice on frame_idx {key[0]}", field="track_id")
            pairs.add(key)
            try:
                dtype = DetectionType(int(kinds[i]))
            except ValueError:
                raise TracksFormatError(f"row {i}: unknown detection type {kinds[i]}", field="type") from None
            if dtype == DetectionType.POLYGON:
                raise TracksFormatError("from_arrays makes box detections (types 1-3); build polygons as Detection", field="type")
            x1, y1, x2, y2 = (float(v) for v in boxes[i])
            dets.append(
                Detection(
                    key[0],
                    key[1],
                    (x1, y1, x2, y2),
                    type=dtype,
                    score=float(sc[i]),
                    class_name=None if names[i] is None else str(names[i]),
                )
            )
        return cls.from_detections(dets, source=source)

    def __iter__(self) -> Iterator[Detection]:
        for frame_idx in sorted(self.by_frame):
            yield from self.by_frame[frame_idx]

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_frame.values())

    def on_frame(self, frame_idx: int) -> list[Detection]:
        """Detections on ``frame_idx`` (empty list if none)."""
        return self.by_frame.get(frame_idx, [])

    @property
    def track_ids(self) -> list[int]:
        """Sorted distinct track ids."""
        return sorted({d.track_id for d in self})

    def to_stored(self, transform: DisplayTransform) -> Tracks:
        """These tracks with every box and polygon mapped from display to stored coordinates.

        Args:
            transform: the video's :class:`~sammask.geometry.DisplayTransform` (see
                :func:`sammask.geometry.stored_transform`); the identity returns ``self``.

        Returns:
            A new :class:`Tracks` with every other attribute (source, counts) copied, unless
            identity.
        """
        return self._mapped(transform, to_display=False)

    def to_display(self, transform: DisplayTransform) -> Tracks:
        """These tracks with every box and polygon mapped from stored to display coordinates
        (the inverse of :meth:`to_stored`; ``sammask detect`` writes display-space tracks).

        Args:
            transform: the video's :class:`~sammask.geometry.DisplayTransform`; the identity
                returns ``self``.
        """
        return self._mapped(transform, to_display=True)

    def _mapped(self, transform: DisplayTransform, *, to_display: bool) -> Tracks:
        if transform.is_identity:
            return self
        box = transform.box_to_display if to_display else transform.box_to_stored
        points = transform.points_to_display if to_display else transform.points_to_stored
        by_frame = {
            frame_idx: [replace(det, bbox=box(det.bbox), polygon=None if det.polygon is None else points(det.polygon)) for det in dets]
            for frame_idx, dets in self.by_frame.items()
        }
        return replace(self, by_frame=by_frame, dropped=dict(self.dropped), repaired=dict(self.repaired))

    @property
    def row_count(self) -> int:
        """Detection rows given (``rows`` when read from a file, else detections plus drops)."""
        return self.rows if self.rows is not None else len(self) + sum(self.dropped.values())

    @property
    def last_frame_idx(self) -> int:
        """Largest frame index with a detection, -1 when empty."""
        return max(self.by_frame, default=-1)
