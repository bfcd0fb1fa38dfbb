"""Tracking (ByteTrack from roboflow ``trackers``) and privacy coasting.

:class:`ByteTrackAdapter` gives per-frame :class:`~sammask.detection.base.FrameDetections` stable
``track_id`` s with ``trackers.ByteTrackTracker`` (Y. Zhang et al., "ByteTrack: Multi-Object
Tracking by Associating Every Detection Box", ECCV 2022), one tracker per class. Privacy rule: a
detection the tracker leaves unassigned (ByteTrack reports those with id -1) still gets a track
id of its own, so every detection is masked.

:class:`Coaster` closes the detector's flicker (a face missed on single frames): a track missed
for up to ``max_gap`` frames is filled with boxes interpolated between its detections, and a
track is held for ``margin`` frames before its first and after its last detection. It holds at
most ``max(max_gap, margin) + 1`` frames back (bounded memory, independent of video length).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import numpy as np

from sammask.detection.base import FrameDetections
from sammask.errors import ConfigError, ModelLoadError
from sammask.tracks.types import BBox, Detection, DetectionType

logger = logging.getLogger(__name__)

COAST_KINDS = ("gap", "lead", "trail")
"""How a coasted track-frame was made: interpolated inside a gap, held before the first
detection, held after the last detection."""


@dataclass(frozen=True, slots=True)
class TrackingOptions:
    """Options of tracking and coasting.

    Attributes:
        max_gap: a track missed on up to this many consecutive frames is masked there with
            boxes interpolated between its detections (0 = no interpolation). ByteTrack keeps a
            lost track this long too, so the id survives the gap.
        margin: frames a track is masked before its first and after its last detection, with
            the box of that detection (0 = none).
        min_iou: IoU a detection needs with a track's predicted box to join it (ByteTrack's
            ``minimum_iou_threshold``).
        high_score: ByteTrack's split between the first association (detections >= this) and
            the second (weaker detections only extend existing tracks); new tracks start from
            detections >= this score. 0.2 = the faces detector's threshold: measured on
            pedestrians-1080p (docs/detection.md), ByteTrack's usual 0.5 left 220 weak faces
            without a track (no gap filling for them) where 0.2 leaves none.
    """

    max_gap: int = 10
    margin: int = 3
    min_iou: float = 0.1
    high_score: float = 0.2

    def __post_init__(self) -> None:
        if self.max_gap < 0:
            raise ConfigError(f"max_gap must be >= 0 frames, got {self.max_gap}")
        if self.margin < 0:
            raise ConfigError(f"margin must be >= 0 frames, got {self.margin}")
        if not 0.0 <= self.min_iou <= 1.0 or not 0.0 <= self.high_score <= 1.0:
            raise ConfigError("min_iou and high_score must be in [0, 1]")

    @property
    def delay(self) -> int:
        """Frames the coaster holds back before a frame's detections are final."""
        return max(self.max_gap, self.margin)


@dataclass(frozen=True, slots=True)
class TrackedBox:
    """One tracked detection on one frame.

    Attributes:
        track_id: stable id (>= 0) across frames.
        bbox: ``(x1, y1, x2, y2)`` float pixels.
        score: detector confidence in [0, 1].
        class_name: the detector's class name.
    """

    track_id: int
    bbox: BBox
    score: float
    class_name: str


class ByteTrackAdapter:
    """Stable track ids for per-frame detections, with one ByteTrack per class.

    Args:
        options: :class:`TrackingOptions` (``max_gap`` sets ByteTrack's lost-track buffer).

    Raises:
        ModelLoadError: the ``trackers`` package is not installed.
    """

    def __init__(self, options: TrackingOptions | None = None) -> None:
        self.options = options or TrackingOptions()
        try:
            from trackers import ByteTrackTracker
        except ImportError:
            raise ModelLoadError(
                "tracking needs the 'trackers' package: pip install --no-deps trackers==2.6.1 (see requirements/detect.txt)"
            ) from None
        self._factory = ByteTrackTracker
        self._trackers: dict[str, object] = {}
        self._ids: dict[tuple[str, int], int] = {}  # (class, ByteTrack id) -> our id
        self._spawned: dict[int, int] = {}  # id(tracklet) of a just-started track -> our id
        self._next_id = 0
        self.untracked = 0
        """Detections ByteTrack left unassigned that got a track id of their own."""

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _tracker(self, class_name: str):
        if class_name not in self._trackers:
            self._trackers[class_name] = self._factory(
                lost_track_buffer=max(self.options.max_gap, 1),
                frame_rate=30.0,  # lost_track_buffer counts frames at 30 fps: 30 -> frames as given
                track_activation_threshold=self.options.high_score,
                minimum_consecutive_frames=1,
                minimum_iou_threshold=self.options.min_iou,
                high_conf_det_threshold=self.options.high_score,
            )
        return self._trackers[class_name]

    def update(self, detections: FrameDetections) -> list[TrackedBox]:
        """Assign track ids to one frame's detections (call once per frame, in order, also
        for frames without detections).

        Returns:
            One :class:`TrackedBox` per input detection (same boxes, scores and classes).
        """
        import supervision as sv

        out: list[TrackedBox] = []
        classes = sorted(set(detections.class_names) | set(self._trackers))
        for cls in classes:
            idx = [i for i, c in enumerate(detections.class_names) if c == cls]
            tracker = self._tracker(cls)
            sv_dets = sv.Detections(
                xyxy=detections.xyxy[idx].astype(np.float32).reshape(-1, 4),
                confidence=detections.scores[idx].astype(np.float32),
                class_id=np.zeros(len(idx), dtype=int),
            )
            result = tracker.update(sv_dets)
            tracklets = list(tracker.tracks)
            unnamed = [t for t in tracklets if t.tracker_id == -1]  # started on this frame
            unnamed_boxes = np.array([t.get_state_bbox() for t in unnamed], dtype=np.float64).reshape(-1, 4)
            for t in tracklets:
                if t.tracker_id != -1 and id(t) in self._spawned:  # started last frame: keep the id it got then
                    self._ids[(cls, int(t.tracker_id))] = self._spawned.pop(id(t))
            self._spawned = {k: v for k, v in self._spawned.items() if any(id(t) == k for t in tracklets)}
            for box, score, tid in zip(result.xyxy, result.confidence, result.tracker_id):
                if tid >= 0:
                    key = (cls, int(tid))
                    if key not in self._ids:
                        self._ids[key] = self._new_id()
                    our = self._ids[key]
                else:
                    our = self._new_id()
                    # the tracklet ByteTrack started from this box gets its id on its next match:
                    # remember it, so the track keeps this id (its box is this detection's box)
                    near = np.abs(unnamed_boxes - np.asarray(box, dtype=np.float64)).max(axis=1) if len(unnamed) else []
                    k = int(np.argmin(near)) if len(near) else -1
                    if k >= 0 and near[k] < 1e-2 and id(unnamed[k]) not in self._spawned:
                        self._spawned[id(unnamed[k])] = our
                    else:
                        self.untracked += 1
                out.append(TrackedBox(our, tuple(float(v) for v in box), float(score), cls))  # type: ignore[arg-type]  # a 4-element generator; mypy types it tuple[float, ...]
        return out


class _HasFrameIdx(Protocol):
    @property
    def frame_idx(self) -> int: ...


F = TypeVar("F", bound=_HasFrameIdx)


@dataclass(slots=True)
class _Slot(Generic[F]):
    item: F
    boxes: dict[int, TrackedBox] = field(default_factory=dict)
    kinds: dict[int, str] = field(default_factory=dict)  # track_id -> coast kind (absent: detected)


@dataclass(slots=True)
class _Seen:
    frame_idx: int
    box: TrackedBox


def _lerp(a: BBox, b: BBox, t: float) -> BBox:
    return tuple(float(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]  # a 4-element generator; mypy types it tuple[float, ...]


class Coaster(Generic[F]):
    """Fills detector misses of tracks (privacy coasting), with a bounded look-behind.

    Push frames in order with their tracked boxes; :meth:`push` returns the frames whose
    detections are final (at most ``options.delay`` frames late), :meth:`flush` the rest.

    Args:
        options: :class:`TrackingOptions` (``max_gap``, ``margin``).
    """

    def __init__(self, options: TrackingOptions | None = None) -> None:
        self.options = options or TrackingOptions()
        self._slots: deque[_Slot[F]] = deque()
        self._seen: dict[int, _Seen] = {}
        self.coasted: dict[str, int] = dict.fromkeys(COAST_KINDS, 0)
        """Coasted track-frames emitted so far, by kind."""

    def _slot(self, frame_idx: int) -> _Slot[F] | None:
        if not self._slots:
            return None
        k = frame_idx - self._slots[0].item.frame_idx
        if 0 <= k < len(self._slots) and self._slots[k].item.frame_idx == frame_idx:
            return self._slots[k]
        return next((s for s in self._slots if s.item.frame_idx == frame_idx), None)

    def _coast(self, frame_idx: int, box: TrackedBox, kind: str, *, replace: bool) -> None:
        slot = self._slot(frame_idx)
        if slot is None:
            return
        present = box.track_id in slot.boxes
        if present and not (replace and box.track_id in slot.kinds):
            return
        slot.boxes[box.track_id] = box
        slot.kinds[box.track_id] = kind

    def push(self, item: F, boxes: Sequence[TrackedBox]) -> list[tuple[F, list[TrackedBox], dict[int, str]]]:
        """Add one frame (frame indices increasing) and its tracked boxes.

        Returns:
            Finished frames, in order: ``(item, boxes, kinds)`` where ``kinds`` maps the
            track ids of coasted boxes to their kind (``gap``, ``lead``, ``trail``).
        """
        i = item.frame_idx
        slot: _Slot[F] = _Slot(item, {b.track_id: b for b in boxes})
        self._slots.append(slot)
        opts = self.options
        for b in boxes:
            seen = self._seen.get(b.track_id)
            gap = None if seen is None else i - seen.frame_idx - 1
            if seen is not None and 1 <= gap <= opts.max_gap:  # type: ignore[operator]  # gap is an int whenever seen is not None
                for k in range(seen.frame_idx + 1, i):
                    t = (k - seen.frame_idx) / (i - seen.frame_idx)
                    mid = TrackedBox(b.track_id, _lerp(seen.box.bbox, b.bbox, t), min(seen.box.score, b.score), b.class_name)
                    self._coast(k, mid, "gap", replace=True)
            elif seen is None or gap > opts.max_gap:  # type: ignore[operator]  # gap is an int whenever seen is not None
                for k in range(max(i - opts.margin, 0), i):
                    self._coast(k, b, "lead", replace=False)
            self._seen[b.track_id] = _Seen(i, b)
        present = {b.track_id for b in boxes}
        for tid, seen in list(self._seen.items()):
            age = i - seen.frame_idx
            if tid not in present and 1 <= age <= opts.margin:
                self._coast(i, seen.box, "trail", replace=False)
            elif age > opts.delay + 1:
                del self._seen[tid]  # nothing can join it any more
        ready = []
        while self._slots and self._slots[0].item.frame_idx <= i - opts.delay:
            ready.append(self._emit(self._slots.popleft()))
        return ready

    def flush(self) -> list[tuple[F, list[TrackedBox], dict[int, str]]]:
        """The frames still held (at the end of the video)."""
        ready = [self._emit(s) for s in self._slots]
        self._slots.clear()
        return ready

    def _emit(self, slot: _Slot[F]) -> tuple[F, list[TrackedBox], dict[int, str]]:
        for kind in slot.kinds.values():
            self.coasted[kind] += 1
        return slot.item, sorted(slot.boxes.values(), key=lambda b: b.track_id), dict(slot.kinds)


def to_detection(frame_idx: int, box: TrackedBox) -> Detection:
    """A tracked box as a sammask :class:`~sammask.tracks.types.Detection` (type 1, selected)."""
    return Detection(
        frame_idx=frame_idx,
        track_id=box.track_id,
        bbox=box.bbox,
        type=DetectionType.AUTO,
        selected=True,
        score=min(max(box.score, 0.0), 1.0),
        class_name=box.class_name,
    )
