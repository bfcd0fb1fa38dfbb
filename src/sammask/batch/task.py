"""One video, one task: the code path shared by ``sammask batch`` (pool or Ray) and ``serve``'s workers.

:func:`run_task` runs :func:`sammask.pipeline.redact` on one :class:`VideoTask` with a
:class:`~sammask.batch.checkpoint.CheckpointSegmenter` (when the task names a checkpoint file) and
turns the outcome into a picklable :class:`TaskResult`: a failure of one video is a result, not
an exception, so a batch or a job server goes on with the others.

A task's detections come from one of three sources, as in ``sammask redact``: a tracks file
(optionally filtered by :class:`TracksFilter`), stored masks (any format
:func:`sammask.export.read_masks` reads, through
:func:`sammask.annotate.redact.stored_mask_prompts`, the one path ``redact --masks`` takes), or built-in detection
(:class:`DetectOptions`; its detector boxes are checkpointed too, by
:class:`~sammask.batch.checkpoint.CheckpointDetection`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sammask.batch.checkpoint import CheckpointDetection, CheckpointSegmenter
from sammask.annotate.redact import stored_mask_prompts
from sammask.detection.stream import DetectAndTrack
from sammask.errors import InputFileError, SammaskError
from sammask.export.applied import META_FILE
from sammask.geometry import TracksSpace
from sammask.media.probe import check_input_file, probe
from sammask.pipeline import ProgressCallback, redact
from sammask.segmentation import Segmenter, build_segmenter
from sammask.settings import RedactSettings
from sammask.tracks import Tracks
from sammask.tracks.io import read_tracks

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DetectOptions:
    """Built-in detection and tracking of a video without tracks (``sammask redact`` without
    ``--tracks``); picklable, so a task can travel to a process pool or a Ray worker.

    Attributes:
        spec: what to detect (``faces``, ``faces,person``, ``hub:ID``; see
            :func:`~sammask.detection.registry.parse_spec`).
        min_score: detector score threshold in [0, 1] (None: each detector's default, faces 0.2).
        max_gap: detector misses a track is coasted through, frames (None: the default, 10).
        scale: faces inference size ``(width, height)`` in pixels (None: full frame).
    """

    spec: str = "faces"
    min_score: float | None = None
    max_gap: int | None = None
    scale: tuple[int, int] | None = None

    def build(self) -> DetectAndTrack:
        """The :class:`DetectAndTrack` (models loaded; never contacts the Hugging Face hub).

        Raises:
            ConfigError, WeightsNotFoundError, ModelLoadError: see
                :func:`~sammask.detection.video.make_detection`.
        """
        from sammask.detection.video import make_detection

        return make_detection(self.spec, min_score=self.min_score, max_gap=self.max_gap, scale=self.scale, offline=True)


@dataclass(frozen=True, slots=True)
class TracksFilter:
    """Class and score filters on a tracks file (``redact --tracks F --classes --min-score``).

    Attributes:
        classes: class names to keep (detections without a class are kept), None: all.
        min_score: keep detections scoring at least this, in [0, 1]; None: all.
    """

    classes: tuple[str, ...] | None = None
    min_score: float | None = None

    def apply(self, path: Path, lenient: bool) -> Tracks:
        """The tracks of ``path`` with the filters applied (see :func:`sammask.tracks.filters.filter_tracks`).

        Raises:
            InputFileError, TracksFormatError: the file is missing or malformed.
        """
        from sammask.tracks.filters import filter_tracks

        tracks, removed = filter_tracks(read_tracks(path, lenient=lenient), min_score=self.min_score, classes=self.classes)
        logger.info("%s: classes/min_score removed %d detection(s)", path, removed)
        return tracks


@dataclass(frozen=True, slots=True)
class VideoTask:
    """What to run for one video.

    Exactly one of ``tracks``, ``masks`` and ``detect`` is set.

    Attributes:
        input: input video.
        tracks: tracks file (MOT ``.txt`` or sammask ``.json``, detected by content); None
            when ``masks`` or ``detect`` is given.
        output: output video (written atomically).
        settings: :class:`RedactSettings`.
        report: where to write the run report (JSON), or None.
        save_masks: folder for the applied-mask export, or None.
        checkpoint: segmentation checkpoint file, or None (no resume); with ``detect`` the
            detection checkpoint is :attr:`detect_checkpoint` beside it.
        masks: stored masks to apply instead of tracks + segmentation: a COCO ``.json``, a MOTS
            ``.txt``, a folder of PNG id maps or an applied-mask export (``--save-masks``), read by
            :func:`sammask.export.read_masks`; or None.
        masks_any_video: with ``masks``: apply masks that record another video, or none
            (``--masks-any-video``); otherwise they must record this very file.
        detect: built-in detection instead of a tracks file, or None.
        tracks_filter: class / score filters on ``tracks``, or None.
        overwrite: replace an existing output and report (a batch's stale output of other
            inputs or settings); otherwise an existing output is an error.
    """

    input: Path
    tracks: Path | None
    output: Path
    settings: RedactSettings = field(default_factory=RedactSettings)
    report: Path | None = None
    save_masks: Path | None = None
    checkpoint: Path | None = None
    masks: Path | None = None
    masks_any_video: bool = False
    detect: DetectOptions | None = None
    tracks_filter: TracksFilter | None = None
    overwrite: bool = False

    @property
    def detect_checkpoint(self) -> Path | None:
        """The detection checkpoint (``<checkpoint>.detect``), or None without a checkpoint."""
        return None if self.checkpoint is None else self.checkpoint.with_name(self.checkpoint.name + ".detect")


@dataclass(slots=True)
class TaskResult:
    """Outcome of :func:`run_task`.

    Attributes:
        input: input video path.
        output: output video path.
        ok: True when the output was written.
        error: one-line error (``"<ExceptionType>: message"``) when not ok.
        user_error: True when the error is a :class:`SammaskError` (bad input or settings),
            False for an unexpected (internal) error.
        report: the run report as a dict when ok.
        seconds: wall-clock seconds of the task.
        replayed: frames served from the checkpoint (not segmented again).
        segmented: frames segmented in this run.
        detect_replayed: frames whose detector boxes came from the detection checkpoint (not
            detected again).
    """

    input: str
    output: str
    ok: bool
    error: str | None = None
    user_error: bool = True
    report: dict[str, Any] | None = None
    seconds: float = 0.0
    replayed: int = 0
    segmented: int = 0
    detect_replayed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        return asdict(self)


def task_fingerprint(task: VideoTask, *, content: bool = False) -> str:
    """Hex SHA-256 identifying what an output or a checkpoint of ``task`` depends on.

    Covers the input video (its size and modification time, or with ``content`` its bytes), the
    tracks file's bytes (or the stored masks' bytes and ``masks_any_video``, or the detection
    options), the tracks filter, whether masks are exported and the settings (not the output paths).

    Args:
        task: the :class:`VideoTask`.
        content: hash the video's bytes instead of trusting size and mtime (a batch's "done"
            digest: a replaced video with the same size and mtime is still noticed).

    Raises:
        OSError: the video, the tracks file or the stored masks cannot be read.
    """
    h = hashlib.sha256()
    if content:
        with task.input.open("rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())
    else:
        st = task.input.stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}\n".encode())
    if task.tracks is not None:
        h.update(hashlib.sha256(task.tracks.read_bytes()).digest())
    if task.masks is not None:
        _hash_masks(h, task.masks)
    options = [None if o is None else asdict(o) for o in (task.detect, task.tracks_filter)]
    h.update(
        json.dumps(
            [asdict(task.settings), options, task.save_masks is not None, task.masks_any_video], sort_keys=True, default=str
        ).encode()
    )
    return h.hexdigest()


def _hash_masks(h: Any, path: Path) -> None:
    """Feed the bytes of a masks file, or of every file in a masks folder (with its name), to ``h``."""
    if not path.is_dir():
        with path.open("rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())
        return
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode() + b"\0")
        with f.open("rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())


def _clear_crashed_export(folder: Path) -> None:
    """Remove an applied-mask export a crashed run left (``complete`` false); keep anything else."""
    meta = folder / META_FILE
    if not meta.is_file():
        return
    try:
        complete = json.loads(meta.read_text(encoding="utf-8")).get("complete")
    except ValueError:
        return
    if complete is False:
        shutil.rmtree(folder)


def _task_detection(task: VideoTask, fingerprint: str) -> DetectAndTrack | None:
    """The task's detector (``task.detect``), resuming from ``task.detect_checkpoint`` when set;
    None without detection. The caller closes it.

    Raises:
        SammaskError: as ``DetectOptions.build`` and :class:`CheckpointDetection`.
    """
    if task.detect is None:
        return None
    detection = task.detect.build()
    if task.detect_checkpoint is None:
        return detection
    try:
        return CheckpointDetection(detection, task.detect_checkpoint, fingerprint)
    except BaseException:
        detection.close()
        raise


def _checkpoint_segmenter(task: VideoTask, settings: RedactSettings, fingerprint: str) -> CheckpointSegmenter | None:
    """The settings' segmenter wrapped to replay and append ``task.checkpoint``; None without a
    checkpoint (``redact`` builds its own). The caller closes it.

    Raises:
        SammaskError: as :func:`build_segmenter` and :class:`CheckpointSegmenter`.
    """
    if task.checkpoint is None:
        return None
    inner = build_segmenter(settings.segmenter, **settings.segmenter_options())
    try:
        return CheckpointSegmenter(inner, task.checkpoint, fingerprint)
    except BaseException:
        inner.close()
        raise


def run_task(task: VideoTask, progress: ProgressCallback | None = None) -> TaskResult:
    """Redact one video; never raises for a failure of the video itself.

    With ``task.checkpoint``, masks already in the checkpoint are replayed instead of segmented
    and new ones are appended as they are produced (with ``task.detect`` the detector boxes
    likewise, in :attr:`VideoTask.detect_checkpoint`); the checkpoints are deleted once the
    output is written, and when the video fails (a killed process keeps them: it resumes).

    Args:
        task: the :class:`VideoTask`.
        progress: optional callback with the fraction of frames done (0.0 .. 1.0).

    Returns:
        A :class:`TaskResult` (``ok`` False with the error on failure).
    """
    t0 = time.perf_counter()
    result = TaskResult(input=str(task.input), output=str(task.output), ok=False)
    seg: CheckpointSegmenter | None = None
    detection: DetectAndTrack | None = None
    settings = task.settings
    try:
        segmenter: Segmenter | None = None
        tracks: Tracks | Path | None = task.tracks
        if sum(x is not None for x in (task.tracks, task.masks, task.detect)) != 1:
            raise InputFileError("a task needs exactly one of a tracks file, a masks export and built-in detection")
        if task.masks is not None:
            check_input_file(task.input)
            # the one stored-mask path (redact --masks): frame size and video identity checked,
            # one type-2 detection per mask, the masks served as they are (fail-secure applies)
            tracks, segmenter = stored_mask_prompts(task.masks, task.input, probe(task.input), any_video=task.masks_any_video)
            # the masks are pixels of the frames as decoded (stored, unrotated): so are their boxes
            settings = replace(settings, tracks_space=TracksSpace.STORED)
        else:
            check_input_file(task.input)
            if task.tracks is not None and not task.tracks.is_file():
                raise InputFileError(f"tracks file not found: {task.tracks}")
            fingerprint = task_fingerprint(task) if task.checkpoint is not None else ""
            detection = _task_detection(task, fingerprint)
            if task.tracks is not None and task.tracks_filter is not None:
                tracks = task.tracks_filter.apply(task.tracks, settings.lenient)
            seg = segmenter = _checkpoint_segmenter(task, settings, fingerprint)
        if task.save_masks is not None:
            _clear_crashed_export(task.save_masks)
        report = redact(
            task.input,
            tracks,
            task.output,
            settings,
            progress=progress,
            save_masks=task.save_masks,
            report_path=task.report,
            segmenter=segmenter,
            detection=detection,
            overwrite=task.overwrite,
        )
        result.ok = True
        result.report = json.loads(report.to_json())
        for done in (task.checkpoint, task.detect_checkpoint):
            if done is not None:
                done.unlink(missing_ok=True)
    except SammaskError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # one video's bug must not stop the batch; it is reported
        logger.exception("internal error on %s", task.input)
        result.error, result.user_error = f"{type(exc).__name__}: {exc}", False
    finally:
        if detection is not None:
            detection.close()
    if not result.ok:  # a failed video keeps no checkpoint (a kill, which never gets here, keeps it)
        for stale in (task.checkpoint, task.detect_checkpoint):
            if stale is not None:
                stale.unlink(missing_ok=True)
    if seg is not None:
        result.replayed, result.segmented = seg.replayed, seg.segmented
    if isinstance(detection, CheckpointDetection):
        result.detect_replayed = detection.replayed
    result.seconds = time.perf_counter() - t0
    return result
