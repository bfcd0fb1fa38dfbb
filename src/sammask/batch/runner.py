"""``sammask batch``: plan the videos of a batch, run them (serial, process pool or Ray), summarize.

Every video is one :class:`~sammask.batch.task.VideoTask` run by
:func:`~sammask.batch.task.run_task`, the same function ``serve``'s workers run. Outputs land in
``OUT_DIR/<name>.mp4`` (+ ``<name>.report.json``, ``<name>.masks/``) where ``<name>`` is the file's
stem, or for a file found inside a directory argument its path below that directory with ``/``
replaced by ``-`` (``davis/bus/video.mp4`` -> ``bus-video``). A finished video records a digest
of what made it (the input video's bytes, the tracks file's bytes or the detection options, the
settings) in ``OUT_DIR/.checkpoints/<name>.done``; a re-run skips a video only when its output,
its report and that digest exist and the digest is still the same, and redoes it (replacing the
stale output) when the digest differs (rows added to a tracks file, another setting). An output
without a digest is not the batch's: ``sammask batch`` refuses it before any work unless
``-y/--overwrite`` (:func:`foreign_outputs` lists them), and with ``overwrite`` it is replaced.
An interrupted video resumes from its checkpoint in
``OUT_DIR/.checkpoints/``; a failed one keeps no checkpoint. One batch at a time writes into an
output folder (``OUT_DIR/.checkpoints/.lock``, released by the kernel when the batch dies), and
the process pool's workers die with the batch (``PR_SET_PDEATHSIG``).

Detections come from each video's tracks file, or, with ``masks`` (``sammask batch --masks``),
from each video's stored masks (COCO, MOTS, PNG id maps or an applied-mask export, applied as
``redact --masks`` applies them: :func:`sammask.annotate.redact.stored_mask_prompts`), or, with
``detect`` (``sammask batch --detect``), from built-in detection for every video (tracks files
are then not looked for). A video without its tracks file (or masks) fails (its error names
where they were looked for): one batch applies one policy, it never mixes given tracks, stored
masks and detection silently.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sammask.batch.process import FolderLock, die_with_parent
from sammask.batch.task import (
    DetectOptions,
    TaskResult,
    TracksFilter,
    VideoTask,
    run_task,
    task_fingerprint,
)
from sammask.errors import ConfigError, InputFileError
from sammask.io import write_text_atomic
from sammask.settings import RedactSettings

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")
TRACKS_NAMES = ("{name}.tracks.json", "{name}.tracks.txt", "{name}.json", "{name}.txt")
SIDECAR_NAMES = ("{stem}.tracks.json", "{stem}.tracks.txt", "{stem}.json", "{stem}.txt", "gt.txt", "gt/gt.txt")
MASKS_NAMES = ("{name}.masks", "{name}.masks.json", "{name}.masks.txt")
"""Stored masks of a video (``--masks``), beside it (``{name}`` = the video's stem) or in ``--masks-dir``
(``{name}`` = its output name): a folder (an applied-mask export such as ``batch --save-masks`` writes
as ``OUT/<name>.masks/``, or PNG id maps), a COCO ``.json`` or a MOTS ``.txt``."""
SUMMARY_FILE = "batch-summary.json"
CHECKPOINT_DIR = ".checkpoints"
DONE_SUFFIX = ".done"


def _done_path(task: VideoTask) -> Path:
    assert task.checkpoint is not None
    return task.checkpoint.with_suffix(DONE_SUFFIX)


def _digest(task: VideoTask) -> str | None:
    """The "done" digest of ``task`` (None when its inputs cannot be read: the run then reports why)."""
    try:
        return task_fingerprint(task, content=True)
    except OSError:
        return None


def _is_done(task: VideoTask, digest: str | None) -> bool:
    """Output, report and a digest equal to ``digest`` all present."""
    if digest is None or not task.output.is_file() or task.report is None or not task.report.is_file():
        return False
    try:
        return _done_path(task).read_text(encoding="utf-8").strip() == digest
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One video of a batch.

    Attributes:
        name: output base name (unique in the batch).
        input: the video.
        tracks: its tracks file, or None when none was found (the video then fails unless the
            batch detects) or none was looked for (``plan_batch(..., detect=True)`` or ``masks=True``).
        looked_for: where tracks (or masks) were looked for (for the error message).
        masks: its stored masks (``plan_batch(..., masks=True)``), or None (not found, or not
            looked for).
    """

    name: str
    input: Path
    tracks: Path | None
    looked_for: tuple[str, ...] = ()
    masks: Path | None = None


@dataclass(slots=True)
class BatchSummary:
    """What a batch did.

    Attributes:
        results: one :class:`TaskResult` per video, in plan order.
        skipped: names of videos skipped because their output already existed.
        seconds: wall-clock seconds of the whole batch.
        backend: ``serial``, ``pool:N`` or ``ray:ADDRESS``.
    """

    results: list[TaskResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    backend: str = "serial"

    @property
    def failed(self) -> list[TaskResult]:
        """Results of the videos that failed."""
        return [r for r in self.results if not r.ok]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``videos``, ``done``, ``failed``, ``skipped``, ``frames``, per-video results)."""
        frames = sum((r.report or {}).get("frames", 0) for r in self.results if r.ok)
        return {
            "backend": self.backend,
            "seconds": round(self.seconds, 3),
            "videos": len(self.results),
            "done": sum(r.ok for r in self.results),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
            "frames": frames,
            "fps": round(frames / self.seconds, 3) if self.seconds > 0 else None,
            "results": [r.to_dict() for r in self.results],
        }


def _expand(arg: str) -> list[tuple[Path, str]]:
    """``(video, name)`` pairs of one INPUTS argument (file, directory or glob)."""
    p = Path(arg)
    if p.is_dir():
        found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
        return [(f, "-".join(f.relative_to(p).with_suffix("").parts)) for f in found]
    if p.is_file():
        return [(p, p.stem)]
    matches = sorted(Path(m) for m in glob.glob(arg, recursive=True))
    return [(m, m.stem) for m in matches if m.is_file() and m.suffix.lower() in VIDEO_SUFFIXES]


def _find_tracks(video: Path, name: str, tracks_dir: Path | None) -> tuple[Path | None, tuple[str, ...]]:
    if tracks_dir is not None:
        candidates = [tracks_dir / t.format(name=name) for t in TRACKS_NAMES]
    else:
        candidates = [video.parent / t.format(stem=video.stem) for t in SIDECAR_NAMES]
    for c in candidates:
        if c.is_file():
            return c, ()
    return None, tuple(str(c) for c in candidates)


def _find_masks(video: Path, name: str, masks_dir: Path | None) -> tuple[Path | None, tuple[str, ...]]:
    folder, key = (masks_dir, name) if masks_dir is not None else (video.parent, video.stem)
    candidates = [folder / t.format(name=key) for t in MASKS_NAMES]
    for c in candidates:
        if c.is_dir() if c.suffix == ".masks" else c.is_file():
            return c, ()
    return None, tuple(str(c) for c in candidates)


def plan_batch(
    inputs: Iterable[str], tracks_dir: Path | None = None, *, detect: bool = False, masks: bool = False, masks_dir: Path | None = None
) -> list[BatchItem]:
    """The videos named by ``inputs`` (files, directories searched recursively, globs).

    Tracks: ``tracks_dir/<name>{.tracks,}.{json,txt}`` with ``tracks_dir``, else beside the
    video: ``<stem>{.tracks,}.{json,txt}``, ``gt.txt`` or ``gt/gt.txt`` (DAVIS / MOTChallenge);
    with ``detect`` none are looked for (built-in detection). With ``masks`` (or ``masks_dir``)
    stored masks are looked for instead (:data:`MASKS_NAMES`), in ``masks_dir`` or beside the video.

    Raises:
        InputFileError: an argument matches no video, or ``tracks_dir`` / ``masks_dir`` is not a folder.
        ConfigError: two videos would get the same output name, or two sources are given
            (``tracks_dir``, ``masks`` / ``masks_dir``, ``detect``).
    """
    masks = masks or masks_dir is not None
    if sum((detect, masks, tracks_dir is not None)) > 1:
        raise ConfigError(
            "give one source for the whole batch: --tracks-dir (tracks files), --masks / --masks-dir "
            "(stored masks) or --detect (built-in detection)"
        )
    for flag, folder in (("--tracks-dir", tracks_dir), ("--masks-dir", masks_dir)):
        if folder is not None and not folder.is_dir():
            raise InputFileError(f"{flag} {folder} is not a folder")
    items: list[BatchItem] = []
    seen: dict[Path, str] = {}
    names: dict[str, Path] = {}
    for arg in inputs:
        pairs = _expand(arg)
        if not pairs:
            raise InputFileError(f"no video found for input '{arg}' (files, folders or globs of {', '.join(VIDEO_SUFFIXES)})")
        for video, name in pairs:
            key = video.resolve()
            if key in seen:
                continue
            if name in names:
                raise ConfigError(
                    f"{video} and {names[name]} would both be written as '{name}.mp4'; pass their folders separately or rename one"
                )
            seen[key], names[name] = name, video
            if masks:
                found, looked = _find_masks(video, name, masks_dir)
                items.append(BatchItem(name, video, None, looked, masks=found))
                continue
            tracks, looked = (None, ()) if detect else _find_tracks(video, name, tracks_dir)
            items.append(BatchItem(name, video, tracks, looked))
    return items


def batch_outputs(item: BatchItem, save_masks: bool) -> tuple[str, ...]:
    """Names of the entries ``item`` writes in the output folder (video, report, masks folder)."""
    return (f"{item.name}.mp4", f"{item.name}.report.json") + ((f"{item.name}.masks",) if save_masks else ())


def foreign_outputs(items: Iterable[BatchItem], out_dir: Path, *, save_masks: bool) -> list[str]:
    """Names (in ``out_dir``) a batch would write that are not the batch's own resume state.

    A video's outputs are the batch's own when ``OUT_DIR/.checkpoints/<name>.done`` exists (a
    finished run recorded them: skipped when its digest still matches, else redone); the summary
    is the batch's own when ``OUT_DIR/.checkpoints/`` exists. Every other entry listed here may
    exist (then it is replaced only with ``overwrite``) or not. No file is read or hashed.

    Args:
        items: from :func:`plan_batch`.
        out_dir: the output folder (may not exist).
        save_masks: the batch also writes ``<name>.masks/``.

    Returns:
        Entry names relative to ``out_dir``, in plan order (the summary last).
    """
    ck = out_dir / CHECKPOINT_DIR
    names = [n for item in items if not (ck / f"{item.name}{DONE_SUFFIX}").is_file() for n in batch_outputs(item, save_masks)]
    return names if ck.is_dir() else [*names, SUMMARY_FILE]


def _task(
    item: BatchItem,
    out_dir: Path,
    settings: RedactSettings,
    save_masks: bool,
    detect: DetectOptions | None,
    tracks_filter: TracksFilter | None,
    masks: bool,
    masks_any_video: bool,
) -> VideoTask:
    return VideoTask(
        input=item.input,
        tracks=None if detect is not None or masks else item.tracks or Path(os.devnull),
        output=out_dir / f"{item.name}.mp4",
        settings=settings,
        report=out_dir / f"{item.name}.report.json",
        save_masks=out_dir / f"{item.name}.masks" if save_masks else None,
        checkpoint=out_dir / CHECKPOINT_DIR / f"{item.name}.jsonl",
        masks=(item.masks or Path(os.devnull)) if masks else None,
        masks_any_video=masks and masks_any_video,
        detect=detect,
        tracks_filter=None if detect is not None or masks else tracks_filter,
    )


def run_batch(
    items: list[BatchItem],
    out_dir: Path,
    settings: RedactSettings,
    *,
    jobs: int = 1,
    ray_address: str | None = None,
    save_masks: bool = False,
    on_result: Callable[[TaskResult], None] | None = None,
    detect: DetectOptions | None = None,
    tracks_filter: TracksFilter | None = None,
    overwrite: bool = False,
    masks: bool = False,
    masks_any_video: bool = False,
) -> BatchSummary:
    """Run a planned batch and write ``OUT_DIR/batch-summary.json``.

    Args:
        items: from :func:`plan_batch`.
        out_dir: output folder (created).
        settings: settings of every video.
        jobs: concurrent videos (``1`` runs in this process; more: a process pool; with Ray,
            the CPUs of a local Ray started here).
        ray_address: None (no Ray), ``"auto"`` (``$RAY_ADDRESS`` or a new local Ray) or a
            cluster address: each video is a Ray task.
        save_masks: also export each video's applied masks.
        on_result: called with each :class:`TaskResult` as it completes.
        detect: built-in detection for every video instead of tracks files (None: tracks).
        tracks_filter: class / score filters on the tracks files (ignored with ``detect``).
        overwrite: replace an existing output that is not the batch's (no ``.done`` record);
            without it such a video fails (``sammask batch`` refuses it earlier, in its gate).
            A stale output of this batch (``.done`` of other inputs or settings) is always redone.
        masks: apply each video's stored masks (:attr:`BatchItem.masks`, from
            ``plan_batch(..., masks=True)``) instead of tracks files; a video without them fails.
        masks_any_video: with ``masks``: apply masks that record another video, or none
            (``--masks-any-video``); otherwise each video's masks must record that very file.

    Returns:
        The :class:`BatchSummary` (per-video failures are in it; nothing is raised for them).

    Examples:
        Two clips, each with its tracks file beside it (``<stem>.tracks.json``), redacted into a folder:

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
        >>> import shutil
        >>> from pathlib import Path
        >>> from sammask import Detection, RedactSettings, Tracks, run_batch, write_tracks
        >>> from sammask.batch.runner import plan_batch
        >>> folder = Path(clip).parent
        >>> _ = shutil.copy(clip, folder / "b.mp4")
        >>> tracks = Tracks.from_detections([Detection(i, 1, (16.0, 12.0, 40.0, 36.0)) for i in range(3)])
        >>> for stem in ("in", "b"):
        ...     write_tracks(tracks, folder / f"{stem}.tracks.json")
        >>> summary = run_batch(plan_batch([str(folder)]), folder / "out", RedactSettings(segmenter="box"))
        >>> sorted(Path(r.output).name for r in summary.results if r.ok), summary.failed
        (['b.mp4', 'in.mp4'], [])
    """
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / CHECKPOINT_DIR).mkdir(exist_ok=True)
    with FolderLock(out_dir / CHECKPOINT_DIR, "batch"):
        return _run_locked(
            items,
            out_dir,
            settings,
            t0,
            jobs=jobs,
            ray_address=ray_address,
            save_masks=save_masks,
            on_result=on_result,
            detect=detect,
            tracks_filter=tracks_filter,
            overwrite=overwrite,
            masks=masks,
            masks_any_video=masks_any_video,
        )


def _missing_source(item: BatchItem, task: VideoTask, *, detect: bool, masks: bool) -> TaskResult | None:
    """The failed result of a video whose masks (``masks``) or tracks (neither ``masks`` nor
    ``detect``) were not found beside it, naming where the batch looked; None when it has them."""
    if masks and item.masks is None:
        return TaskResult(
            str(item.input),
            str(task.output),
            ok=False,
            error=f"InputFileError: no masks found for {item.input} (looked for {', '.join(item.looked_for)}): "
            "give a masks folder, a COCO .json or a MOTS .txt there, or leave out --masks",
        )
    if item.tracks is None and not detect and not masks:
        return TaskResult(
            str(item.input),
            str(task.output),
            ok=False,
            error=f"InputFileError: no tracks found for {item.input} (looked for {', '.join(item.looked_for)}); "
            "pass --detect faces (or --detect faces,person...) to detect objects instead",
        )
    return None


def _run_locked(
    items: list[BatchItem],
    out_dir: Path,
    settings: RedactSettings,
    t0: float,
    *,
    jobs: int,
    ray_address: str | None,
    save_masks: bool,
    on_result: Callable[[TaskResult], None] | None,
    detect: DetectOptions | None,
    tracks_filter: TracksFilter | None,
    overwrite: bool,
    masks: bool,
    masks_any_video: bool,
) -> BatchSummary:
    summary = BatchSummary(
        backend="serial" if jobs <= 1 and ray_address is None else f"ray:{ray_address}" if ray_address is not None else f"pool:{jobs}"
    )
    by_name: dict[str, TaskResult] = {}
    todo: list[tuple[BatchItem, VideoTask]] = []
    digests: dict[str, str | None] = {}
    for item in items:
        task = _task(item, out_dir, settings, save_masks, detect, tracks_filter, masks, masks_any_video)
        missing = _missing_source(item, task, detect=detect is not None, masks=masks)
        if missing is not None:
            by_name[item.name] = missing
            continue
        digests[item.name] = _digest(task)
        if _is_done(task, digests[item.name]):
            summary.skipped.append(item.name)
        else:
            stale = _done_path(task)
            if stale.is_file():  # this batch's output of other inputs or settings: replaced
                task = replace(task, overwrite=True)
                stale.unlink()
            elif overwrite:  # not the batch's output: replaced only with -y (the command's gate refused it otherwise)
                task = replace(task, overwrite=True)
            todo.append((item, task))

    def record(name: str, result: TaskResult) -> None:
        by_name[name] = result
        digest = digests.get(name)
        if result.ok and digest is not None:
            write_text_atomic(out_dir / CHECKPOINT_DIR / f"{name}{DONE_SUFFIX}", digest + "\n")
        if on_result is not None:
            on_result(result)

    if ray_address is not None:
        from sammask.batch.ray_backend import run_on_ray

        for name, result in zip([i.name for i, _ in todo], run_on_ray([t for _, t in todo], ray_address, jobs)):
            record(name, result)
    elif jobs <= 1:
        for item, task in todo:
            record(item.name, run_task(task))
    else:
        import multiprocessing

        with ProcessPoolExecutor(
            max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent, initargs=(os.getpid(),)
        ) as pool:
            futures = {pool.submit(run_task, task): (item.name, task) for item, task in todo}
            for fut in as_completed(futures):
                name, task = futures[fut]
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker process died: that video failed
                    result = TaskResult(
                        str(task.input),
                        str(task.output),
                        ok=False,
                        user_error=False,
                        error=f"{type(exc).__name__}: worker process failed ({exc})",
                    )
                record(name, result)
    summary.results = [by_name[i.name] for i in items if i.name in by_name]
    summary.seconds = time.perf_counter() - t0
    write_text_atomic(out_dir / SUMMARY_FILE, json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary
