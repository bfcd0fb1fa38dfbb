"""The redaction pipeline: video + tracks in, silhouette-masked video out.

``redact`` runs named stages in one streaming pass (bounded memory: a frame is held only until
its masks come back from the segmenter)::

    check paths -> read/validate -> prompts -> segment -> secure -> compose -> encode
                                    (media.ReadAhead)     (fail-secure)  (worker thread)
    -> past-end / nothing-masked checks -> report written -> video renamed into place

A decode thread (``media.ReadAhead``) decodes up to 3 frames ahead; the main thread pairs
frames with prompts, segments and applies the fail-secure rule; one worker thread composes,
exports the applied masks and encodes. The run report is owned by the main thread only: the
worker keeps its own timings, merged after it has stopped. No model code lives here.

The promise (README, "Privacy guarantees"): exit 0 means every detection the run was given, on a
frame that exists in the decoded video, is covered by the applied mask in the written output;
any failure raises, leaves nothing at the output path and no temporary file, and touches no
input file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from sammask.detection.stream import DetectAndTrack, DetectionStats, upright_transform
from sammask.errors import ConfigError, Interrupted, MediaError, NothingMaskedError, SammaskError, TracksFormatError
from sammask.geometry import DisplayTransform, TracksSpace, box_pixel_bounds, polygon_mask, stored_transform
from sammask.masking.compose import ObjectRegion, compose
from sammask.export.applied import AppliedMaskWriter
from sammask.masking.options import MaskMode
from sammask.masking.rules import secure_mask
from sammask.media import ReadAhead, VideoReader, VideoWriter, probe, video_identity
from sammask.spec.gate import check_output_paths
from sammask.media.types import DecodedFrame, VideoInfo
from sammask.segmentation import FrameMasks, FramePrompts, Segmenter, TrackPrompt, build_segmenter
from sammask.segmentation.keyframe import KeyframeSegmenter
from sammask.settings import RedactSettings
from sammask.tracks import Detection, DetectionType, Tracks
from sammask.tracks.io import read_tracks
from sammask.io import write_text_atomic
from sammask.tracks.validate import DropReason, validate_tracks

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]
"""Called with the fraction of frames done, 0.0 .. 1.0, never decreasing; 1.0 once at the end."""

STAGES = ("decode", "segment", "compose", "encode")

STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)
"""Signals that stop a run cleanly (temp files removed, :class:`~sammask.errors.Interrupted`)."""


@dataclass(slots=True)
class ClassEffectUse:
    """A per-class effect in force in a run (:attr:`RunReport.class_effects`).

    Attributes:
        effect: ``blur`` | ``mosaic`` | ``solid``.
        strength: level 1..5.
        color: RGB fill colour of ``solid``.
        masked_track_frames: detections of the class masked with it.
    """

    effect: str
    strength: int
    color: tuple[int, int, int]
    masked_track_frames: int = 0


@dataclass(slots=True)
class RunReport:
    """What a :func:`redact` run did (written as JSON with ``report_path``).

    Attributes:
        input: input video path.
        output: output video path.
        segmenter: segmenter name (with ``+stride=k`` when keyframes are used).
        mode: masking mode.
        frames: frames decoded and written.
        rows: detection rows the tracks held (kept, repaired or dropped).
        tracks: distinct track ids acted on.
        detections: detections acted on (after the mode's selection).
        masked_track_frames: detections whose object was masked on a written frame (in
            ``background`` mode: the selected objects kept while everything else was masked).
            0 with an empty tracks file: the video is passed through unmasked.
        segmented: track-frames that went through the segmenter (types 1 and 2).
        fallbacks: track-frames masked with the box by the fail-secure rule, by reason
            (``missing``, ``empty``, ``low_coverage``, ``error``).
        segmenter_error: message of the exception that stopped the segmenter, if it did; all
            later track-frames were masked with boxes (counted under ``error``).
        dropped: detections dropped by ``lenient`` validation, by reason (only detections that
            cannot be placed on any pixel of any decoded frame).
        repaired: flawed rows kept and masked anyway, by reason (duplicates, padded boxes,
            polygons masked as boxes...).
        clipped: boxes clipped to the frame.
        tracks_space: coordinate space the tracks were given in (``display`` or ``stored``);
            with built-in detection ``display`` (the detectors saw the upright frames), or
            ``stored`` when the display matrix has no pixel-exact upright frame.
        tracks_transform: how they were mapped onto the stored frames (``identity``,
            ``rotate 90 clockwise``, ... see :class:`sammask.geometry.DisplayTransform`).
        dilate_px: dilation applied, pixels (the resolution-aware default or ``--dilate``).
        stage_seconds: wall-clock seconds per stage (decode, segment, compose, encode; plus
            detect when built-in detection ran).
        seconds: total wall-clock seconds.
        detection: what built-in detection did (runs without a tracks file), else None.
        class_effects: the per-class effects in force, class name -> :class:`ClassEffectUse`
            (the global ``effect`` / ``strength`` masked every other detection); empty when none
            was configured, and in ``background`` mode (which masks with the global effect).
        warnings: things the user must know about the output, in words (e.g. a second video
            stream of the input that is not in the output); also logged as warnings.
    """

    input: str
    output: str
    segmenter: str
    mode: str
    frames: int = 0
    rows: int = 0
    tracks: int = 0
    detections: int = 0
    masked_track_frames: int = 0
    segmented: int = 0
    fallbacks: dict[str, int] = field(default_factory=dict)
    segmenter_error: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    clipped: int = 0
    tracks_space: str = "display"
    tracks_transform: str = "identity"
    dilate_px: int = 0
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    seconds: float = 0.0
    detection: DetectionStats | None = None
    class_effects: dict[str, ClassEffectUse] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def fallback_total(self) -> int:
        """Track-frames masked with the box instead of the segmenter's mask."""
        return sum(self.fallbacks.values())

    @property
    def pass_through(self) -> bool:
        """True when the tracks held no detection at all: the video was copied unmasked (except in
        ``background`` mode, which masks the whole frame then)."""
        return self.rows == 0 and self.mode != MaskMode.BACKGROUND.value

    def to_json(self) -> str:
        """The report as indented JSON (seconds rounded to ms)."""
        data = asdict(self)
        data["stage_seconds"] = {k: round(v, 3) for k, v in self.stage_seconds.items()}
        data["seconds"] = round(self.seconds, 3)
        data["fallback_total"] = self.fallback_total
        data["fps"] = round(self.frames / self.seconds, 3) if self.seconds > 0 else None
        if self.detection is not None:
            data["detection"]["seconds"] = round(self.detection.seconds, 3)
            data["detection"]["coasted_total"] = self.detection.coasted_total
        return json.dumps(data, indent=2)


def select_detections(detections: list[Detection], mode: MaskMode) -> list[Detection]:
    """The detections a mode acts on.

    ``SELECTED``: selected objects (masked). ``UNSELECTED``: de-selected objects (masked).
    ``BACKGROUND``: selected objects (kept; everything else is masked).
    """
    if mode is MaskMode.UNSELECTED:
        return [d for d in detections if not d.selected]
    return [d for d in detections if d.selected]


# --- signals ------------------------------------------------------------------------------


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT / SIGTERM / SIGHUP into :class:`~sammask.errors.Interrupted` for the block.

    The exception unwinds the run like any failure (temporary files removed, nothing at the
    output path); a second signal while cleaning up is ignored so the cleanup finishes. Outside
    the main thread (signal handlers can only be set there) this does nothing. The previous
    handlers are restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if fired:
            return  # already unwinding: let the cleanup finish
        fired.append(signum)
        raise Interrupted(signum)

    previous = {}
    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --- stages -------------------------------------------------------------------------------


class _Stopwatch:
    """Accumulates wall-clock seconds per stage (one owner thread)."""

    def __init__(self, totals: dict[str, float]) -> None:
        self.totals = totals

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.totals[stage] += now - since
        return now


def _read_and_validate(
    input_path: Path, tracks: Tracks | Path | str, settings: RedactSettings
) -> tuple[VideoInfo, Tracks, DisplayTransform]:
    """Stage 1: probe the video, read the tracks, map them onto the stored frames and check them
    against the frame size. Returns the transform applied (``settings.tracks_space``).

    Frame counts from container headers are not facts (a fragmented MP4 or an AVI can say 5 and
    hold 24): past-the-end detections are decided at the end of the run against the frames
    actually decoded (:func:`_check_past_end`), never here.
    """
    info = probe(input_path)
    if not isinstance(tracks, Tracks):
        tracks = read_tracks(Path(tracks), lenient=settings.lenient)
    # Tracks in display (upright) coordinates of a rotated clip go onto the stored frames first.
    to_stored = stored_transform(settings.tracks_space, info.display_matrix, info.width, info.height)
    tracks = validate_tracks(tracks.to_stored(to_stored), info.width, info.height, None, lenient=settings.lenient)
    return info, tracks, to_stored


def _check_something_to_mask(tracks: Tracks, mode: MaskMode, decoded: int | None = None) -> None:
    """Refuse a run that had detections but would mask none ("nothing masked" is not success).

    Raises:
        NothingMaskedError: naming why (all rows dropped, the mode selects none, all on frames
            the video does not have).
    """
    rows = tracks.row_count
    if rows == 0 or mode is MaskMode.BACKGROUND:
        return  # an empty tracks file is a pass-through; background mode masks the frame
    where = f"{tracks.source}: " if tracks.source else ""
    acted = select_detections(list(tracks), mode)
    if decoded is not None:
        acted = [d for d in acted if d.frame_idx < decoded]
    if acted:
        return
    if len(tracks) == 0:
        raise NothingMaskedError(
            f"{where}all {rows} detection row(s) were dropped ({dict(tracks.dropped)}), so nothing would be "
            "masked; fix the tracks file (are the tracks for this video?)"
        )
    if not select_detections(list(tracks), mode):
        which = "de-selected (object == 2)" if mode is MaskMode.UNSELECTED else "selected (object != 2)"
        raise NothingMaskedError(
            f"{where}none of the {len(tracks)} detection(s) is {which}, so --mode {mode.value} would mask "
            "nothing; choose another --mode or fix the selection flags"
        )
    raise NothingMaskedError(
        f"{where}every detection to mask lies on a frame >= {decoded}, but the video decoded only {decoded} "
        "frame(s); nothing would be masked (are the tracks for this video?)"
    )


def track_prompts(detections: list[Detection]) -> list[TrackPrompt]:
    """One segmenter prompt per track among the segmented detections (types 1 and 2) of a frame.

    A track listed more than once on the frame (duplicate rows, kept by the readers) is prompted
    once with the enclosing box of its rows; each row is then checked against its own box.
    """
    boxes: dict[int, tuple[float, float, float, float]] = {}
    for d in detections:
        if d.type.is_segmented:
            b = boxes.get(d.track_id)
            boxes[d.track_id] = (
                d.bbox if b is None else (min(b[0], d.bbox[0]), min(b[1], d.bbox[1]), max(b[2], d.bbox[2]), max(b[3], d.bbox[3]))
            )
    return [TrackPrompt(tid, box) for tid, box in boxes.items()]


@dataclass(slots=True)
class _Pending:
    frame: DecodedFrame
    detections: list[Detection]
    masked: list[Detection] = field(default_factory=list)
    """``BACKGROUND`` mode: the de-selected detections, which stay masked whatever is kept."""


class _Prompts:
    """Stage 2: decode frames and pair each with its prompts (a generator the segmenter pulls).

    Holds each frame in :attr:`pending` until the segment stage answers it. A decode error is
    recorded in :attr:`error` before it propagates, so that the pipeline fails the run whatever
    the segmenter does with the exception (re-raise, wrap, swallow).
    """

    def __init__(
        self,
        reader: Iterable[DecodedFrame],
        tracks: Tracks,
        mode: MaskMode,
        clock: _Stopwatch,
        detection: DetectAndTrack | None = None,
        upright: DisplayTransform | None = None,
    ) -> None:
        self.pending: dict[int, _Pending] = {}
        self.error: Exception | None = None
        self.decoded = 0
        # one decode pass: (frame, its detections) from the tracks, or from built-in detection
        # (the detectors see upright frames; their boxes come back in stored pixels)
        self._frames = detection.run(reader, upright) if detection is not None else ((f, tracks.on_frame(f.frame_idx)) for f in reader)
        self._tracks, self._mode, self._clock = tracks, mode, clock

    def __iter__(self) -> Iterator[FramePrompts]:
        while True:
            t0 = time.perf_counter()
            try:
                frame, found = next(self._frames, (None, []))
            except Exception as exc:  # a signal (KeyboardInterrupt) is not a decode error
                self.error = exc
                raise
            self._clock.add("decode", t0)
            if frame is None:
                return
            self.decoded += 1
            dets = select_detections(found, self._mode)
            masked = [d for d in found if not d.selected] if self._mode is MaskMode.BACKGROUND else []
            self.pending[frame.frame_idx] = _Pending(frame, dets, masked)
            yield FramePrompts(frame.frame_idx, frame.image, track_prompts(dets))

    def raise_decode_error(self) -> None:
        """Re-raise a decode error seen by the stream, if any (a corrupt input fails the run)."""
        if self.error is not None:
            if isinstance(self.error, SammaskError):
                raise self.error
            raise MediaError(f"decoding failed: {self.error}") from self.error


def _segment(seg: Segmenter, prompts: _Prompts, report: RunReport) -> Iterator[tuple[_Pending, FrameMasks | None]]:
    """Stage 3: run the segmenter over the prompt stream; yield every frame in order with its
    masks, or None where the segmenter gave no answer (fail-secure: boxes are masked).

    A segmenter that raises stops being asked: the frames it held and all later frames come with
    None and the error goes to the report. A decode error always fails the run, even when the
    segmenter wraps it (e.g. into ``SegmentationError``) or swallows it.
    """
    stream = iter(prompts)
    results = seg.segment(stream)
    pending = prompts.pending
    while True:
        t0 = time.perf_counter()
        decode_before = report.stage_seconds["decode"]
        try:
            masks = next(results, None)
        except Exception as exc:  # noqa: BLE001 - any segmenter failure must fail secure
            prompts.raise_decode_error()  # the input's fault, whatever the segmenter made of it
            report.segmenter_error = f"{type(exc).__name__}: {exc}"
            logger.warning("segmenter failed (%r); masking boxes for the rest of the video", exc)
            masks = None
        report.stage_seconds["segment"] += time.perf_counter() - t0 - (report.stage_seconds["decode"] - decode_before)
        if masks is None:  # segmenter finished or failed
            break
        if masks.frame_idx not in pending:
            raise SammaskError(
                f"segmenter '{report.segmenter}' returned frame {masks.frame_idx}, which it was "
                "not given or already answered: this is a bug in the segmenter"
            )
        # A segmenter answers in order: anything older still pending got no answer.
        for idx in sorted(i for i in pending if i < masks.frame_idx):
            yield pending.pop(idx), None
        yield pending.pop(masks.frame_idx), masks
    prompts.raise_decode_error()
    # Fail-secure tail: frames held by a finished or failed segmenter, then the rest of the stream.
    for idx in sorted(pending):
        yield pending.pop(idx), None
    for fp in stream:
        yield pending.pop(fp.frame_idx), None
    prompts.raise_decode_error()


def _secure(det: Detection, masks: FrameMasks | None, shape: tuple[int, int], settings: RedactSettings, report: RunReport) -> ObjectRegion:
    """Stage 4: the object mask for one detection, with the fail-secure rule (types 1 and 2).

    The result is a region of interest (the detection's box, or the polygon's bounds), not a
    full-frame mask: memory per frame grows with the objects' sizes, not with
    detections x frame size. A segmenter's full-frame mask is cropped to the box here and
    released with its frame.
    """
    h, w = shape
    if det.type == DetectionType.POLYGON:
        return _drawn_region(det, shape)
    x0, y0, x1, y1 = box_pixel_bounds(det.bbox, shape)
    if det.type.is_segmented:
        report.segmented += 1
        candidate = None if masks is None else masks.masks.get(det.track_id)
        mask, reason = secure_mask(candidate, det.bbox, (h, w), settings.masking.min_coverage)
        if reason is None:  # a plausible mask, clipped to its box (never spreads over the frame)
            return ObjectRegion(det.track_id, mask[y0:y1, x0:x1].copy(), det.bbox, offset=(x0, y0), class_name=det.class_name)
        reason_key = "error" if masks is None else reason.value
        report.fallbacks[reason_key] = report.fallbacks.get(reason_key, 0) + 1
        logger.debug("frame %d track %d: box fallback (%s)", det.frame_idx, det.track_id, reason_key)
    return ObjectRegion(det.track_id, np.ones((y1 - y0, x1 - x0), bool), det.bbox, offset=(x0, y0), class_name=det.class_name)


def _drawn_region(det: Detection, shape: tuple[int, int]) -> ObjectRegion:
    """The object mask of a detection without segmentation: its polygon, or else its whole box.

    Used for polygons (type 4) and, in ``BACKGROUND`` mode, for the de-selected objects that
    must stay masked (their box holds their silhouette: when in doubt, mask more).
    """
    if det.type == DetectionType.POLYGON:
        assert det.polygon is not None  # validated by Detection
        xs, ys = [p[0] for p in det.polygon], [p[1] for p in det.polygon]
        # polygon_mask grows the fill by one pixel: two pixels of margin hold it
        x0, y0, x1, y1 = box_pixel_bounds((min(xs) - 2, min(ys) - 2, max(xs) + 2, max(ys) + 2), shape)
        local = [(x - x0, y - y0) for x, y in det.polygon]
        return ObjectRegion(det.track_id, polygon_mask(local, (y1 - y0, x1 - x0)), det.bbox, offset=(x0, y0), class_name=det.class_name)
    x0, y0, x1, y1 = box_pixel_bounds(det.bbox, shape)
    return ObjectRegion(det.track_id, np.ones((y1 - y0, x1 - x0), bool), det.bbox, offset=(x0, y0), class_name=det.class_name)


class _Encoder:
    """Stages 5-6 on one background thread: compose, export the applied masks, encode.

    The main thread decodes and segments frame ``i + 1`` while this thread composes and encodes
    frame ``i`` (PyAV, OpenCV and torch release the GIL): wall time approaches the slower half.
    At most ``maxsize`` frames wait in the queue. It touches no shared state but its own
    :attr:`seconds`, read after :meth:`close`. The first exception it raises is re-raised in the
    main thread by :meth:`put` or :meth:`close`; items after it are discarded.
    """

    _STOP = object()

    def __init__(self, writer: VideoWriter, mask_writer: AppliedMaskWriter | None, settings: RedactSettings, maxsize: int = 4) -> None:
        self._writer, self._mask_writer, self._settings = writer, mask_writer, settings
        self.seconds = {"compose": 0.0, "encode": 0.0}
        self._queue: queue.Queue[object] = queue.Queue(maxsize=maxsize)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sammask-encode", daemon=True)
        self._thread.start()

    def _encode(self, frame: DecodedFrame, regions: list[ObjectRegion], masked: list[ObjectRegion]) -> None:
        t0 = time.perf_counter()
        masking = self._settings.masking
        result = compose(frame.image, regions, masking, masked=masked)
        if self._mask_writer is not None:
            self._mask_writer.write_rois(frame.frame_idx, result.dilated, result.applied)
        t1 = time.perf_counter()
        self.seconds["compose"] += t1 - t0
        self._writer.write(result.image, frame.pts)
        self.seconds["encode"] += time.perf_counter() - t1

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._STOP:
                return
            if self._error is None:
                try:
                    self._encode(*item)  # type: ignore[misc]  # the queue holds encode tuples and the _STOP sentinel, handled above
                except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                    self._error = exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, frame: DecodedFrame, regions: list[ObjectRegion], masked: list[ObjectRegion]) -> None:
        """Queue a frame (blocks while the queue is full); raises the worker's error if any.

        ``masked``: ``BACKGROUND`` mode's de-selected objects (they win over ``regions``).
        """
        self._raise_if_failed()
        self._queue.put((frame, regions, masked))

    def close(self) -> None:
        """Process the queued frames, stop the thread, and raise the worker's error if any."""
        if self._thread.is_alive():
            self._queue.put(self._STOP)
            self._thread.join()
        self._raise_if_failed()

    def abort(self) -> None:
        """Discard the queued frames and stop the thread (after a failure in the main thread)."""
        if self._error is None:
            self._error = SammaskError("aborted")
        if self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
            self._queue.put(self._STOP)
            self._thread.join()


def _check_past_end(tracks: Tracks, decoded: int, lenient: bool, report: RunReport) -> None:
    """Detections on frames the video does not have, decided against the frames decoded.

    Raises:
        TracksFormatError: (not lenient) naming the first such frame and the decoded count.
    """
    past = {f: len(d) for f, d in tracks.by_frame.items() if f >= decoded}
    if not past:
        return
    n = sum(past.values())
    if not lenient:
        raise TracksFormatError(
            f"{n} detection(s) on frames {min(past)}..{max(past)} but the video decoded only {decoded} frames "
            "(0-based frame_idx); fix the tracks file or pass --lenient to drop them",
            path=tracks.source,
            field="frame_idx",
        )
    key = DropReason.PAST_END.value
    report.dropped[key] = report.dropped.get(key, 0) + n
    logger.warning("%s: dropped %d detection(s) past the %d decoded frames", tracks.source or "tracks", n, decoded)


def _build_segmenter(settings: RedactSettings, segmenter: Segmenter | None) -> Segmenter:
    seg = segmenter if segmenter is not None else build_segmenter(settings.segmenter, **settings.segmenter_options())
    if settings.stride > 1:
        seg = KeyframeSegmenter(seg, stride=settings.stride)
    return seg


def redact(
    input_path: Path | str,
    tracks: Tracks | Path | str | None,
    output_path: Path | str,
    settings: RedactSettings | None = None,
    *,
    progress: ProgressCallback | None = None,
    save_masks: Path | str | None = None,
    report_path: Path | str | None = None,
    segmenter: Segmenter | None = None,
    overwrite: bool = False,
    detection: DetectAndTrack | None = None,
) -> RunReport:
    """Mask the tracked objects of a video along their silhouettes and write the result.

    Args:
        input_path: input video (any container/codec FFmpeg decodes).
        tracks: detections (a :class:`Tracks`, or a MOT ``.txt`` / sammask ``.json`` path);
            validated against the video (boxes clipped to the frame; boxes fully outside or
            frames past the last *decoded* frame are errors unless ``settings.lenient``, which
            drops only detections that cannot be placed on any pixel).
        output_path: output video (H.264, same frame rate and timestamps, audio copied whole).
            Written to a temporary file and renamed on success: a failed or interrupted run
            leaves no file.
        settings: :class:`RedactSettings` (defaults when None).
        progress: optional callback with the fraction of frames done (0.0 .. 1.0, monotone).
        save_masks: optional directory for the exact applied masks (see docs/masks-format.md).
        report_path: optional path for the :class:`RunReport` as JSON, written before the video
            is renamed into place (a report failure leaves no video).
        segmenter: a pre-built segmenter to use instead of building ``settings.segmenter``
            (e.g. a SAM 2 model already in memory). The pipeline closes it at the end.
        detection: built-in detection and tracking (:class:`DetectAndTrack`) to use instead of
            ``tracks`` (None); its statistics go to ``RunReport.detection``. The caller closes it.
        overwrite: replace an existing output video / report (ffmpeg's ``-y``); otherwise they
            are refused before anything is decoded.

    Returns:
        The :class:`RunReport`. ``masked_track_frames == 0`` only for an empty tracks file (the
        video is passed through unmasked).

    Raises:
        InputFileError: a missing input video or tracks file.
        OutputPathError: an output location that is unusable or would destroy a file.
        MediaError: an undecodable/corrupt input (always, whatever the segmenter does), a
            container that cannot hold the streams, or an encoder failure.
        TracksFormatError: malformed tracks, boxes outside the frame, frames past the end.
        NothingMaskedError: the tracks had detections but none would be masked.
        ConfigError: invalid settings (unknown segmenter...).
        ModelLoadError: the segmenter's model could not be loaded.
        Interrupted: SIGINT / SIGTERM / SIGHUP (main thread); nothing was written.

    Examples:
        Mask one tracked object with a solid fill on a 3-frame clip built here:

        >>> import tempfile, av, numpy as np
        >>> clip = f"{tempfile.mkdtemp()}/in.mp4"
        >>> image = np.full((48, 64, 3), 230, np.uint8)
        >>> image[12:36, 16:40] = 30  # a dark 24x24 object on a bright background
        >>> with av.open(clip, "w") as c:  # three 64x48 frames, H.264
        ...     s = c.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        ...     s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        ...     for _ in range(3):
        ...         c.mux(s.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        ...     c.mux(s.encode())
        >>> from sammask import Detection, MaskingOptions, RedactSettings, Tracks, VideoReader, redact
        >>> from sammask.masking.options import Effect
        >>> tracks = Tracks.from_detections([Detection(i, 1, (16.0, 12.0, 40.0, 36.0)) for i in range(3)])
        >>> settings = RedactSettings(masking=MaskingOptions(effect=Effect.SOLID), segmenter="box")
        >>> out = clip.replace("in.mp4", "out.mp4")
        >>> report = redact(clip, tracks, out, settings)
        >>> report.frames, report.masked_track_frames
        (3, 3)
        >>> with VideoReader(out) as reader:  # the object's pixels are black in every decoded frame
        ...     [bool((f.image[12:36, 16:40] < 16).all()) for f in reader]
        [True, True, True]
    """
    settings = settings or RedactSettings()
    if (tracks is None) == (detection is None):
        raise ConfigError("redact needs either a tracks file or built-in detection, not both or neither")
    input_path, output_path = Path(input_path), Path(output_path)
    t_start = time.perf_counter()
    check_output_paths(
        input_path,
        output_path,
        tracks_path=None if tracks is None or isinstance(tracks, Tracks) else tracks,
        report_path=report_path,
        save_masks=save_masks,
        overwrite=overwrite,
    )
    info, tracks, to_stored, upright, settings = _placed_tracks(input_path, tracks, settings)
    settings = settings.for_video(info)  # resolution-aware dilation, capped at the frame diagonal
    mode = settings.masking.mode
    _check_something_to_mask(tracks, mode)
    report = _new_report(input_path, output_path, info, tracks, settings, segmenter, detection, to_stored)
    clock = _Stopwatch(report.stage_seconds)

    with stop_on_signals(), contextlib.ExitStack() as stack:
        # Outputs first (their checks need no decoding), then the model, then the input.
        writer = stack.enter_context(VideoWriter(output_path, info, settings.encode, audio_source=input_path))
        seg = stack.enter_context(_build_segmenter(settings, segmenter))
        mask_writer = None
        if save_masks:
            made_on = video_identity(
                input_path, width=info.width, height=info.height, frames=info.num_frames if info.num_frames_exact else None
            )
            mask_writer = stack.enter_context(AppliedMaskWriter(Path(save_masks), info.width, info.height, video=made_on))
        reader = stack.enter_context(VideoReader(input_path))
        frames = stack.enter_context(ReadAhead(reader))  # decodes frame i+1 while frame i is segmented
        prompts = _Prompts(frames, tracks, mode, clock, detection, upright)
        encoder = _Encoder(writer, mask_writer, settings)
        try:
            acted_tracks = _mask_frames(seg, prompts, encoder, settings, report, progress, total=max(info.num_frames, 1))
            encoder.close()
        except BaseException:  # also a signal while waiting for the worker: stop it before cleanup
            encoder.abort()
            raise
        for stage, seconds in encoder.seconds.items():
            report.stage_seconds[stage] += seconds
        _check_past_end(tracks, prompts.decoded, settings.lenient, report)
        _check_something_to_mask(tracks, mode, decoded=prompts.decoded)
        report.tracks = len(acted_tracks)
        if detection is not None:  # detection ran inside the decode loop: report it as its own stage
            report.rows = report.detections
            report.stage_seconds["detect"] = detection.stats.seconds
            report.stage_seconds["decode"] = max(report.stage_seconds["decode"] - detection.stats.seconds, 0.0)
        writer.finish()
        if mask_writer is not None:
            mask_writer.close()
        _commit(writer, mask_writer, report, report_path, t_start)
    if progress is not None:
        progress(1.0)
    if report.fallback_total:
        logger.info("fail-secure: %d track-frames masked with their box (%s)", report.fallback_total, report.fallbacks)
    if report.pass_through:
        logger.warning("%s: no detections: the video was passed through unmasked", tracks.source or "tracks")
    return report


def _placed_tracks(
    input_path: Path, tracks: Tracks | Path | str | None, settings: RedactSettings
) -> tuple[VideoInfo, Tracks, DisplayTransform, DisplayTransform | None, RedactSettings]:
    """The video's info and its tracks validated in stored pixels: ``(info, tracks, to_stored,
    upright, settings)``. ``tracks=None`` (built-in detection): no tracks yet, and ``upright``
    is the map detection runs through (None: detect on stored frames), recorded in the
    settings' ``tracks_space``."""
    if tracks is not None:
        info, placed, to_stored = _read_and_validate(input_path, tracks, settings)
        return info, placed, to_stored, None, settings
    # detections come from `detection`, frame by frame, in stored pixels
    info, placed, to_stored = _read_and_validate(input_path, Tracks(), replace(settings, tracks_space=TracksSpace.STORED))
    upright = upright_transform(info)  # None: no pixel-exact upright frame, detect as stored
    settings = replace(settings, tracks_space=TracksSpace.STORED if upright is None else TracksSpace.DISPLAY)
    return info, placed, upright or to_stored, upright, settings


def _new_report(
    input_path: Path,
    output_path: Path,
    info: VideoInfo,
    tracks: Tracks,
    settings: RedactSettings,
    segmenter: Segmenter | None,
    detection: DetectAndTrack | None,
    to_stored: DisplayTransform,
) -> RunReport:
    """The run's report before any frame: what was read, the settings in force, the warnings
    known up front (other video streams; per-class effects in background mode)."""
    assert settings.masking.dilate is not None  # for_video resolved the auto margin to pixels
    mode = settings.masking.mode
    report = RunReport(
        input=str(input_path),
        output=str(output_path),
        segmenter=settings.segmenter if segmenter is None else getattr(segmenter, "name", type(segmenter).__name__),
        mode=mode.value,
        rows=tracks.row_count,
        dropped=dict(tracks.dropped),
        repaired=dict(tracks.repaired),
        clipped=tracks.clipped,
        detection=None if detection is None else detection.stats,
        tracks_space=settings.tracks_space.value,
        tracks_transform=to_stored.name,
        dilate_px=settings.masking.dilate,
    )
    if settings.stride > 1:
        report.segmenter += f"+stride={settings.stride}"
    for other in info.other_video_streams:  # only the first video stream is masked and written
        report.warnings.append(f"{other} of the input is not in the output (only the first video stream is masked)")
        logger.warning("%s: %s", input_path, report.warnings[-1])
    if settings.masking.class_effects and mode is MaskMode.BACKGROUND:
        logger.warning("per-class effects do not apply in background mode: the whole frame gets the global effect")
    elif settings.masking.class_effects:
        for name, _ in settings.masking.class_effects:
            spec = settings.masking.effect_for(name)
            report.class_effects[name] = ClassEffectUse(spec.effect.value, spec.strength, spec.color)
    return report


def _mask_frames(
    seg: Segmenter,
    prompts: _Prompts,
    encoder: _Encoder,
    settings: RedactSettings,
    report: RunReport,
    progress: ProgressCallback | None,
    *,
    total: int,
) -> set[int]:
    """Segment, secure and hand every frame to the encoder, counting into ``report``; the ids of
    the tracks that had a detection. ``progress`` gets the fraction done (monotone, < 1)."""
    acted_tracks: set[int] = set()
    last_progress = 0.0
    for item, masks in _segment(seg, prompts, report):
        shape = item.frame.image.shape[:2]
        regions = [_secure(d, masks, shape, settings, report) for d in item.detections]
        encoder.put(item.frame, regions, [_drawn_region(d, shape) for d in item.masked])
        report.frames += 1
        report.detections += len(item.detections)
        report.masked_track_frames += len(regions)
        for d in item.detections if report.class_effects else ():
            if d.class_name in report.class_effects:
                report.class_effects[d.class_name].masked_track_frames += 1
        acted_tracks.update(d.track_id for d in item.detections)
        if progress is not None:
            value = min(report.frames / total, 0.999)
            if value > last_progress:
                last_progress = value
                progress(value)
    return acted_tracks


def _commit(
    writer: VideoWriter, mask_writer: AppliedMaskWriter | None, report: RunReport, report_path: Path | str | None, t_start: float
) -> None:
    """Write the report, then move the video into place (a report failure leaves no video); on
    any failure the applied-mask export is marked incomplete."""
    try:
        report.seconds = time.perf_counter() - t_start
        if report_path is not None:
            write_text_atomic(report_path, report.to_json() + "\n")
        try:
            writer.commit()  # the video appears last: a report failure leaves no video
        except BaseException:
            if report_path is not None:
                Path(report_path).unlink(missing_ok=True)
            raise
    except BaseException:
        if mask_writer is not None:
            mask_writer.mark_incomplete()
        raise
