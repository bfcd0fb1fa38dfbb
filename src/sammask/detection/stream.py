"""Detect, track and coast in one pass over decoded frames: the seam the pipeline consumes.

:class:`DetectAndTrack` turns a stream of frames into a stream of ``(frame, detections)`` with
stable track ids, holding at most ``TrackingOptions.delay + 1`` frames back (coasting needs to
see a few frames ahead). The pipeline (``redact`` without a tracks file) and ``sammask detect``
both use it, so the video is decoded once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from sammask.detection.base import Detector, FrameDetections
from sammask.detection.tracking import COAST_KINDS, ByteTrackAdapter, Coaster, TrackedBox, TrackingOptions, to_detection
from sammask.errors import ConfigError, MediaError
from sammask.geometry import DisplayTransform, as_bbox, display_transform
from sammask.media.types import VideoInfo
from sammask.tracks.types import Detection

logger = logging.getLogger(__name__)


class FrameLike(Protocol):
    """What the stream needs of a frame: a 0-based index and an (H, W, 3) uint8 RGB image."""

    @property
    def frame_idx(self) -> int: ...

    @property
    def image(self) -> np.ndarray: ...


F = TypeVar("F", bound=FrameLike)


def upright_transform(info: VideoInfo) -> DisplayTransform | None:
    """The stored-to-display map detection runs through on a video, or None.

    Detectors are trained on upright images: a phone clip stored sideways with a display matrix
    is detected on its display (upright) frames. None when the matrix is not a rotation by a
    multiple of 90 degrees or a flip (no pixel-exact upright frame): the caller then detects on
    the stored frames (logged as a warning).
    """
    try:
        return display_transform(info.display_matrix, info.width, info.height)
    except MediaError:
        logger.warning(
            "the display matrix %s is not a rotation by a multiple of 90 degrees: detecting on the frames as "
            "stored (check the result with --preview)",
            info.display_matrix,
        )
        return None


@dataclass(slots=True)
class DetectionStats:
    """What a detection run did (part of the run report).

    Attributes:
        detectors: detector names.
        frames: frames processed.
        detections: detector boxes kept (after ``min_score`` / ``classes``).
        by_class: kept detector boxes per class name.
        frames_with_detections: frames where a detector found at least one box.
        tracks: distinct track ids emitted.
        untracked: detections ByteTrack left unassigned that were given an id of their own.
        coasted: coasted track-frames by kind (``gap`` interpolated, ``lead`` before the first
            detection, ``trail`` after the last).
        frames_rescued: frames without any detector box on which coasting masked something.
        seconds: wall-clock seconds spent in detection, tracking and coasting.
        upright: how the stored frames were turned upright for the detectors
            (:attr:`sammask.geometry.DisplayTransform.name`: ``identity``, ``rotate 90 clockwise``...).
    """

    detectors: list[str] = field(default_factory=list)
    frames: int = 0
    detections: int = 0
    by_class: dict[str, int] = field(default_factory=dict)
    frames_with_detections: int = 0
    tracks: int = 0
    untracked: int = 0
    coasted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COAST_KINDS, 0))
    frames_rescued: int = 0
    seconds: float = 0.0
    upright: str = "identity"

    @property
    def coasted_total(self) -> int:
        """All coasted track-frames."""
        return sum(self.coasted.values())


class DetectAndTrack:
    """Detectors + ByteTrack + coasting over a frame stream.

    Args:
        detectors: one or more :class:`Detector` (their boxes are pooled per frame; each class
            is tracked separately).
        tracking: :class:`TrackingOptions`.
        min_score: drop detector boxes scoring below this (in [0, 1]).
        classes: keep only these class names (None = all the detectors report).

    Raises:
        ConfigError: no detector, ``min_score`` outside [0, 1], or a class no detector reports.
    """

    def __init__(
        self,
        detectors: Sequence[Detector],
        tracking: TrackingOptions | None = None,
        *,
        min_score: float = 0.0,
        classes: Iterable[str] | None = None,
    ) -> None:
        if not detectors:
            raise ConfigError("detection needs at least one detector")
        if not 0.0 <= min_score <= 1.0:
            raise ConfigError(f"min_score must be in [0, 1], got {min_score}")
        self.detectors = list(detectors)
        self.tracking = tracking or TrackingOptions()
        self.min_score = min_score
        self.classes = None if classes is None else tuple(classes)
        if self.classes is not None:
            known = {c for d in self.detectors for c in d.classes}
            unknown = [c for c in self.classes if c not in known]
            if unknown:
                raise ConfigError(
                    f"class(es) {', '.join(unknown)} are not reported by the detector(s) "
                    f"{', '.join(d.name for d in self.detectors)} (they report: {', '.join(sorted(known))})"
                )
        self.stats = DetectionStats(detectors=[d.name for d in self.detectors])

    def detect(self, image: np.ndarray, upright: DisplayTransform | None = None) -> FrameDetections:
        """All detectors' boxes on one image, filtered by ``min_score`` and ``classes``.

        Args:
            image: (H, W, 3) uint8 RGB, as stored.
            upright: the video's stored-to-display map (:func:`upright_transform`): the
                detectors see ``upright.image_to_display(image)`` and the boxes are mapped back
                onto ``image`` (:meth:`~sammask.geometry.DisplayTransform.box_to_stored`).
                None: detect on ``image`` as it is.

        Returns:
            :class:`FrameDetections` in ``image``'s (stored) pixels.
        """
        turn = upright is not None and not upright.is_identity
        seen = upright.image_to_display(image) if turn else image  # type: ignore[union-attr]  # turn implies upright is not None
        found = FrameDetections.concat(d.detect(seen) for d in self.detectors)
        found = found.filter(min_score=self.min_score, classes=self.classes)
        if turn and len(found):
            xyxy = np.array([upright.box_to_stored(as_bbox(b)) for b in found.xyxy], np.float32)  # type: ignore[union-attr]  # turn implies upright is not None
            found = FrameDetections(xyxy, found.scores, found.class_names)
        return found

    def run(self, frames: Iterable[F], upright: DisplayTransform | None = None) -> Iterator[tuple[F, list[Detection]]]:
        """Detect, track and coast; yields every input frame once, in order, with its
        detections (type 1, selected, ``class_name`` and ``score`` set) in the frames' (stored)
        pixels.

        Frames come out at most ``tracking.delay`` frames after they went in. ``stats`` is
        updated as frames are yielded.

        Args:
            frames: decoded frames, as stored.
            upright: see :meth:`detect` (the detectors see upright frames of a rotated clip).

        Raises:
            ConfigError: a frame's image is not (H, W, 3) uint8.
            ModelLoadError: the tracker package is missing.
        """
        self.stats.upright = "identity" if upright is None else upright.name
        adapter = ByteTrackAdapter(self.tracking)
        coaster: Coaster[F] = Coaster(self.tracking)
        track_ids: set[int] = set()
        stats = self.stats

        def convert(ready: list[tuple[F, list[TrackedBox], dict[int, str]]]) -> Iterator[tuple[F, list[Detection]]]:
            for item, boxes, kinds in ready:
                stats.frames += 1
                if kinds and len(kinds) == len(boxes):
                    stats.frames_rescued += 1
                for kind in kinds.values():
                    stats.coasted[kind] += 1
                track_ids.update(b.track_id for b in boxes)
                stats.tracks = len(track_ids)
                yield item, [to_detection(item.frame_idx, b) for b in boxes]

        for item in frames:
            t0 = time.perf_counter()
            found = self.detect(item.image, upright)
            stats.detections += len(found)
            stats.frames_with_detections += bool(len(found))
            for c in found.class_names:
                stats.by_class[c] = stats.by_class.get(c, 0) + 1
            ready = coaster.push(item, adapter.update(found))
            stats.untracked = adapter.untracked
            stats.seconds += time.perf_counter() - t0
            yield from convert(ready)
        yield from convert(coaster.flush())
        logger.info(
            "detection: %d boxes on %d frames, %d tracks, %d coasted track-frames %s",
            stats.detections,
            stats.frames,
            stats.tracks,
            stats.coasted_total,
            stats.coasted,
        )

    def close(self) -> None:
        """Close the detectors."""
        for d in self.detectors:
            d.close()
