"""Where a job's files live under the data folder (one folder per job, removed with the job).

::

    DATA/jobs.sqlite                 job state (see store.py)
    DATA/jobs/<id>/input/video       the uploaded video (client file names are never used as paths)
    DATA/jobs/<id>/input/tracks      the uploaded tracks file (format detected by content; none:
                                     built-in detection)
    DATA/jobs/<id>/input/masks.zip   or uploaded masks: a zipped masks folder (unpacked to input/masks/),
                     masks.json      a COCO file or a MOTS file (named by content at submission)
                     masks.txt
    DATA/jobs/<id>/checkpoint.jsonl  segmentation checkpoint while the job runs
    DATA/jobs/<id>/checkpoint.jsonl.detect  detector boxes checkpoint (jobs without tracks)
    DATA/jobs/<id>/work/             the current attempt's outputs (removed when an attempt starts)
    DATA/jobs/<id>/result/           output.mp4, report.json, masks.zip once done
    DATA/jobs/<id>/worker.log        the worker's log (stderr); all a failed job keeps
    DATA/incoming/<id>/              an upload being received (moved to jobs/<id> when accepted)
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
"""Job ids are uuid4 hex: routes reject anything else, so an id can never name another path."""


@dataclass(frozen=True, slots=True)
class JobFiles:
    """Paths of one job's files under ``data_dir/jobs/<id>``."""

    root: Path

    @classmethod
    def of(cls, data_dir: Path, job_id: str) -> JobFiles:
        """The files of ``job_id`` (which must match :data:`JOB_ID`).

        Raises:
            ValueError: a malformed id.
        """
        if not JOB_ID.match(job_id):
            raise ValueError(f"malformed job id {job_id!r}")
        return cls(Path(data_dir) / "jobs" / job_id)

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def video(self) -> Path:
        return self.input_dir / "video"

    @property
    def tracks(self) -> Path:
        return self.input_dir / "tracks"

    @property
    def masks_upload(self) -> Path | None:
        """The stored masks upload (``masks.zip``, ``masks.json`` or ``masks.txt``), or None."""
        from sammask.service.masks_upload import stored_upload

        return stored_upload(self.input_dir)

    @property
    def masks_input(self) -> Path:
        return self.input_dir / "masks"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.jsonl"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def result(self) -> Path:
        return self.root / "result"

    @property
    def output(self) -> Path:
        return self.result / "output.mp4"

    @property
    def report(self) -> Path:
        return self.result / "report.json"

    @property
    def masks_zip(self) -> Path:
        return self.result / "masks.zip"

    @property
    def log(self) -> Path:
        return self.root / "worker.log"

    def remove(self) -> None:
        """Delete the job's folder (missing is fine)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def keep_only_log(self) -> None:
        """What a failed job keeps: its ``worker.log``; everything else in its folder is deleted."""
        if not self.root.is_dir():
            return
        for path in self.root.iterdir():
            if path == self.log:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def display_name(filename: str | None, default: str = "video") -> str:
    """A client file name reduced to a safe display name (base name, ``[A-Za-z0-9._-]``, <= 80 chars).

    Only for display and ``Content-Disposition``; never used to build a path.
    """
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    safe = _UNSAFE.sub("_", base).strip("._")[:80]
    return safe or default


def without_paths(value: Any, *roots: Path) -> Any:
    """``value`` (str, list or dict, recursively) with each of ``roots`` cut from the paths in it.

    A path under a job's folder becomes relative to it (``result/output.mp4``); other server
    folders become ``<server>``. Used on job errors and reports so no absolute server path leaves
    the service.
    """
    if isinstance(value, str):
        for root in roots:
            value = value.replace(str(root).rstrip("/") + "/", "")
        for root in roots:
            value = value.replace(str(root).rstrip("/"), "<server>")
        return value
    if isinstance(value, list):
        return [without_paths(v, *roots) for v in value]
    if isinstance(value, dict):
        return {k: without_paths(v, *roots) for k, v in value.items()}
    return value
