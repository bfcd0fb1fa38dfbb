"""The redaction pipeline: video + tracks in, silhouette-masked video out.

``redact`` wires the rooms in one streaming pass (bounded memory: a frame is held only until its
masks come back from the segmenter)::

    media.VideoReader -> tracks (prompts per frame) -> Segmenter.segment -> fail-secure rule
        -> masking.compose -> media.VideoWriter (temp file, renamed on success)
                                 \\-> applied-mask export (optional) and the run report

No model code lives here.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path


from sammask.errors import SammaskError, TracksFormatError
from sammask.masking.compose import ObjectRegion, compose
from sammask.masking.export import AppliedMaskWriter
from sammask.masking.options import MaskMode
from sammask.geometry import box_mask, polygon_mask, stored_transform
from sammask.masking.rules import clip_to_box, dilate_mask, secure_mask
from sammask.media import VideoReader, VideoWriter, probe
from sammask.media.types import DecodedFrame
from sammask.segmentation import FrameMasks, FramePrompts, Segmenter, TrackPrompt, build_segmenter
from sammask.segmentation.keyframe import KeyframeSegmenter
from sammask.settings import RedactSettings
from sammask.tracks import Detection, DetectionType, Tracks
from sammask.tracks.io import read_tracks
from sammask.tracks.validate import validate_tracks

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]
"""Called with the fraction of frames done, 0.0 .. 1.0, never decreasing; 1.0 once at the end."""

STAGES = ("decode", "segment", "compose", "encode")


@dataclass(slots=True)
class RunReport:
    """What a :func:`redact` run did (written as JSON with ``report_path``).

    Attributes:
        input: input video path.
        output: output video path.
        segmenter: segmenter name (with ``+stride=k`` when keyframes are used).
        mode: masking mode.
        frames: frames decoded and written.
        tracks: distinct track ids acted on.
        detections: detections acted on (after the mode's selection).
        segmented: track-frames that went through the segmenter (types 1 and 2).
        fallbacks: track-frames masked with the box by the fail-secure rule, by reason
            (``missing``, ``empty``, ``low_coverage``, ``error``).
        segmenter_error: message of the exception that stopped the segmenter, if it did; all
            later track-frames were masked with boxes (counted under ``error``).
        dropped: detections dropped by ``lenient`` validation, by reason.
        clipped: boxes clipped to the frame.
        tracks_space: coordinate space the tracks were given in (``display`` or ``stored``).
        tracks_transform: how they were mapped onto the stored frames (``identity``,
            ``rotate 90 clockwise``, ... see :class:`sammask.geometry.DisplayTransform`).
        dilate_px: dilation applied, pixels (the resolution-aware default or ``--dilate``).
        stage_seconds: wall-clock seconds per stage (decode, segment, compose, encode).
        seconds: total wall-clock seconds.
    """

    input: str
    output: str
    segmenter: str
    mode: str
    frames: int = 0
    tracks: int = 0
    detections: int = 0
    segmented: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)
    segmenter_error: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    clipped: int = 0
    tracks_space: str = "display"
    tracks_transform: str = "identity"
    dilate_px: int = 0
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    seconds: float = 0.0

    @property
    def fallback_total(self) -> int:
        """Track-frames masked with the box instead of the segmenter's mask."""
        return sum(self.fallbacks.values())

    def to_json(self) -> str:
        """The report as indented JSON (seconds rounded to ms)."""
        data = asdict(self)
        data["stage_seconds"] = {k: round(v, 3) for k, v in self.stage_seconds.items()}
        data["seconds"] = round(self.seconds, 3)
        data["fallback_total"] = self.fallback_total
        data["fps"] = round(self.frames / self.seconds, 3) if self.seconds > 0 else None
        return json.dumps(data, indent=2)


def select_detections(detections: list[Detection], mode: MaskMode) -> list[Detection]:
    """The detections a mode acts on.

    ``SELECTED``: selected objects (masked). ``UNSELECTED``: de-selected objects (masked).
    ``BACKGROUND``: selected objects (kept; everything else is masked).
    """
    if mode is MaskMode.UNSELECTED:
        return [d for d in detections if not d.selected]
    return [d for d in detections if d.selected]


class _Stopwatch:
    """Accumulates wall-clock seconds per stage."""

    def __init__(self, totals: dict[str, float]) -> None:
        self.totals = totals

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.totals[stage] += now - since
        return now


@dataclass(slots=True)
class _Pending:
    frame: DecodedFrame
    detections: list[Detection]


class _Worker:
    """Runs ``fn(item)`` for each item on one background thread, in order, with a bounded queue.

    The pipeline composes and encodes frame ``i`` here while the main thread decodes and segments
    frame ``i + 1`` (PyAV, OpenCV and torch release the GIL), so wall-clock time approaches the
    slower of the two halves instead of their sum. At most ``maxsize`` frames wait in the queue.
    The first exception raised by ``fn`` is re-raised in the main thread by :meth:`put` or
    :meth:`close`; items after it are discarded.
    """

    _STOP = object()

    def __init__(self, fn: Callable[[object], None], maxsize: int = 4) -> None:
        self._fn = fn
        self._queue: queue.Queue[object] = queue.Queue(maxsize=maxsize)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sammask-encode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._STOP:
                return
            if self._error is None:
                try:
                    self._fn(item)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                    self._error = exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, item: object) -> None:
        """Queue an item (blocks while the queue is full); raises the worker's error if any."""
        self._raise_if_failed()
        self._queue.put(item)

    def close(self) -> None:
        """Process the queued items, stop the thread, and raise the worker's error if any."""
        if self._thread.is_alive():
            self._queue.put(self._STOP)
            self._thread.join()
        self._raise_if_failed()

    def abort(self) -> None:
        """Discard the queued items and stop the thread (after a failure in the main thread)."""
        if self._error is None:
            self._error = SammaskError("aborted")
        if self._thread.is_alive():
            self._queue.put(self._STOP)
            self._thread.join()


def _region_for(
    det: Detection,
    masks: FrameMasks | None,
    shape: tuple[int, int],
    settings: RedactSettings,
    report: RunReport,
) -> ObjectRegion:
    """The object mask for one detection, with the fail-secure rule applied (types 1 and 2)."""
    if det.type == DetectionType.MANUAL_BOX:
        mask = box_mask(det.bbox, shape)
    elif det.type == DetectionType.POLYGON:
        assert det.polygon is not None  # validated by Detection
        mask = polygon_mask(det.polygon, shape)
    else:
        report.segmented += 1
        candidate = None if masks is None else masks.masks.get(det.track_id)
        mask, reason = secure_mask(candidate, det.bbox, shape, settings.masking.min_coverage)
        if masks is None and reason is not None:
            reason_key = "error"
        else:
            reason_key = None if reason is None else reason.value
        if reason_key is not None:
            report.fallbacks[reason_key] = report.fallbacks.get(reason_key, 0) + 1
            logger.debug("frame %d track %d: box fallback (%s)", det.frame_idx, det.track_id, reason_key)
        else:
            mask = clip_to_box(mask, det.bbox, 0)
    return ObjectRegion(track_id=det.track_id, mask=mask, bbox=det.bbox)


def _build_segmenter(settings: RedactSettings, segmenter: Segmenter | None) -> Segmenter:
    seg = segmenter if segmenter is not None else build_segmenter(settings.segmenter, **settings.segmenter_options())
    if settings.stride > 1:
        seg = KeyframeSegmenter(seg, stride=settings.stride)
    return seg


def redact(
    input_path: Path | str,
    tracks: Tracks | Path | str,
    output_path: Path | str,
    settings: RedactSettings | None = None,
    *,
    progress: ProgressCallback | None = None,
    save_masks: Path | str | None = None,
    report_path: Path | str | None = None,
    segmenter: Segmenter | None = None,
) -> RunReport:
    """Mask the tracked objects of a video along their silhouettes and write the result.

    Args:
        input_path: input video (any container/codec FFmpeg decodes).
        tracks: detections (a :class:`Tracks`, or a MOT ``.txt`` / sammask ``.json`` path);
            validated against the video (boxes clipped to the frame; boxes fully outside or
            frames past the end are errors unless ``settings.lenient``).
        output_path: output video (H.264, same frame rate and timestamps, audio copied).
            Written to a temporary file and renamed on success: a failed run leaves no file.
        settings: :class:`RedactSettings` (defaults when None).
        progress: optional callback with the fraction of frames done (0.0 .. 1.0, monotone).
        save_masks: optional directory for the exact applied masks (see docs/masks-format.md).
        report_path: optional path for the :class:`RunReport` as JSON.
        segmenter: a pre-built segmenter to use instead of building ``settings.segmenter``
            (e.g. a SAM 2 model already in memory). The pipeline closes it at the end.

    Returns:
        The :class:`RunReport`.

    Raises:
        InputFileError: a missing input video or tracks file.
        MediaError: an undecodable/corrupt input or an encoder failure.
        TracksFormatError: malformed tracks, boxes outside the frame, frames past the end.
        ConfigError: invalid settings (unknown segmenter...).
        ModelLoadError: the segmenter's model could not be loaded.
    """
    settings = settings or RedactSettings()
    input_path, output_path = Path(input_path), Path(output_path)
    t_start = time.perf_counter()
    info = probe(input_path)
    settings = settings.for_video(info)  # resolution-aware dilation, capped at the frame diagonal
    if not isinstance(tracks, Tracks):
        tracks = read_tracks(Path(tracks), lenient=settings.lenient)
    to_stored = stored_transform(settings.tracks_space, info.display_matrix, info.width, info.height)
    tracks = validate_tracks(tracks.to_stored(to_stored), info.width, info.height, info.num_frames if info.num_frames_exact else None,
                             lenient=settings.lenient)
    mode = settings.masking.mode
    report = RunReport(
        input=str(input_path),
        output=str(output_path),
        segmenter=settings.segmenter if segmenter is None else getattr(segmenter, "name", type(segmenter).__name__),
        mode=mode.value,
        dropped=dict(tracks.dropped),
        clipped=tracks.clipped,
        tracks_space=settings.tracks_space.value,
        tracks_transform=to_stored.name,
        dilate_px=settings.masking.dilate,
    )
    if settings.stride > 1:
        report.segmenter += f"+stride={settings.stride}"
    clock = _Stopwatch(report.stage_seconds)
    acted_tracks: set[int] = set()
    total = max(info.num_frames, 1)
    last_progress = 0.0

    def _progress(done: int) -> None:
        nonlocal last_progress
        if progress is None:
            return
        value = min(done / total, 0.999)
        if value > last_progress:
            last_progress = value
            progress(value)

    seg = _build_segmenter(settings, segmenter)
    mask_writer = AppliedMaskWriter(Path(save_masks), info.width, info.height) if save_masks else None
    succeeded = False
    try:
        with VideoReader(input_path) as reader, VideoWriter(
            output_path, info, settings.encode, audio_source=input_path
        ) as writer:
            pending: dict[int, _Pending] = {}
            stream_error: list[BaseException | None] = [None]  # set when decoding fails

            def frame_stream() -> Iterator[FramePrompts]:
                it = iter(reader)
                while True:
                    t0 = time.perf_counter()
                    try:
                        frame = next(it, None)
                    except BaseException as exc:
                        stream_error[0] = exc
                        raise
                    clock.add("decode", t0)
                    if frame is None:
                        return
                    dets = select_detections(tracks.on_frame(frame.frame_idx), mode)
                    pending[frame.frame_idx] = _Pending(frame, dets)
                    prompts = [TrackPrompt(d.track_id, d.bbox) for d in dets if d.type.is_segmented]
                    yield FramePrompts(frame.frame_idx, frame.image, prompts)

            def compose_and_encode(job: object) -> None:
                item, masks = job  # type: ignore[misc]
                t0 = time.perf_counter()
                image = item.frame.image
                shape = image.shape[:2]
                regions = [_region_for(d, masks, shape, settings, report) for d in item.detections]
                result = compose(image, regions, settings.masking)
                if mask_writer is not None:
                    per_track = {r.track_id: dilate_mask(r.mask, settings.masking.dilate) for r in regions}
                    mask_writer.write(item.frame.frame_idx, per_track, result.applied)
                t0 = clock.add("compose", t0)
                writer.write(result.image, item.frame.pts)
                clock.add("encode", t0)
                report.frames += 1
                report.detections += len(item.detections)
                acted_tracks.update(d.track_id for d in item.detections)
                _progress(report.frames)

            worker = _Worker(compose_and_encode)
            try:

                def finish(frame_idx: int, masks: FrameMasks | None) -> None:
                    worker.put((pending.pop(frame_idx), masks))

                stream = frame_stream()
                results = seg.segment(stream)
                while True:
                    t0 = time.perf_counter()
                    decode_before = report.stage_seconds["decode"]
                    try:
                        masks = next(results, None)
                    except Exception as exc:  # noqa: BLE001 - any segmenter failure must fail secure
                        if exc is stream_error[0]:
                            raise  # a decode error surfaced through the segmenter: not its failure
                        # The segmenter died: fail secure. Frames it held and all later frames are
                        # masked with boxes; the failure is reported, never swallowed silently.
                        report.segmenter_error = f"{type(exc).__name__}: {exc}"
                        logger.warning("segmenter failed (%r); masking boxes for the rest of the video", exc)
                        masks = None
                    decode_in_segment = report.stage_seconds["decode"] - decode_before
                    report.stage_seconds["segment"] += time.perf_counter() - t0 - decode_in_segment
                    if masks is None:  # segmenter finished or failed
                        break
                    if masks.frame_idx not in pending:
                        raise SammaskError(
                            f"segmenter '{report.segmenter}' returned frame {masks.frame_idx}, which it was "
                            "not given or already answered: this is a bug in the segmenter"
                        )
                    # A segmenter answers in order: anything older still pending got no answer.
                    for idx in sorted(i for i in pending if i < masks.frame_idx):
                        finish(idx, None)
                    finish(masks.frame_idx, masks)
                # Fail-secure tail: frames held by a failed segmenter, then the rest of the stream.
                for idx in sorted(pending):
                    finish(idx, None)
                for frame_prompts in stream:
                    finish(frame_prompts.frame_idx, None)
            except BaseException:
                worker.abort()
                raise
            worker.close()
            if tracks.last_frame_idx >= report.frames:
                raise TracksFormatError(
                    f"detections on frame {tracks.last_frame_idx} but the video has only {report.frames} "
                    "frames (0-based frame_idx); fix the tracks file or pass --lenient to drop them",
                    path=tracks.source,
                    field="frame_idx",
                )
        succeeded = True
    finally:
        seg.close()
        if mask_writer is not None:
            # A failed run's export is marked incomplete, so it is never taken for a finished one.
            mask_writer.close() if succeeded else mask_writer.abort()
    report.tracks = len(acted_tracks)
    report.seconds = time.perf_counter() - t_start
    if progress is not None:
        progress(1.0)
    if report.fallback_total:
        logger.info("fail-secure: %d track-frames masked with their box (%s)", report.fallback_total, report.fallbacks)
    if report_path is not None:
        Path(report_path).write_text(report.to_json() + "\n", encoding="utf-8")
    return report
