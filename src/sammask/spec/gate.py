"""Output-location checks done before any frame is decoded: no run may destroy a file.

:func:`check_paths` is the one place that decides whether a run's outputs (video, report, mask
folders, exports, tracks written by ``detect``...) can be written without touching the inputs
or each other. Every entry point describes its files as :class:`InputRef` / :class:`OutputRef`
and calls it before any work.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sammask.errors import OutputPathError
from sammask.io import NAME_MAX

__all__ = [
    "MASK_EXPORT_NAMES",
    "InputRef",
    "OutputKind",
    "OutputRef",
    "check_output_paths",
    "check_paths",
    "same_file",
]

MASK_EXPORT_NAMES = ("meta.json", "masks.jsonl", "ids")
"""Entries an applied-mask export writes in its folder (``sammask.export.applied``)."""

OutputKind = Literal["file", "folder", "video"]


@dataclass(frozen=True)
class InputRef:
    """A file or folder a run reads; no output may be it, alias it, or lie inside it.

    Attributes:
        flag: how the user named it, for messages (``"the input video"``, ``"--tracks"``).
        path: the file or folder.
    """

    flag: str
    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))


@dataclass(frozen=True)
class OutputRef:
    """A file or folder a run writes.

    Attributes:
        flag: the option that named it (``"-o"``, ``"--report"``, ``"--save-masks"``).
        path: the file or folder.
        kind: ``"file"`` (any file), ``"video"`` (a file whose suffix must name a single-file
            container for H.264, :data:`sammask.spec.containers.SINGLE_FILE_CONTAINERS`) or ``"folder"`` (created if missing; its parent must exist).
        names: for a folder, the entries the run writes inside it (files or sub-folders); each
            is checked like an output of its own.
    """

    flag: str
    path: Path
    kind: OutputKind = "file"
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.kind not in ("file", "folder", "video"):
            raise ValueError(f"OutputRef.kind must be file, folder or video, not {self.kind!r}")


def _key(path: Path) -> Path:
    return Path(os.path.abspath(path)).resolve()


def same_file(a: Path, b: Path) -> bool:
    """True when two paths name the same file or folder (hard and symbolic links, ``..`` and,
    on case-insensitive file systems, case included)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return _key(a) == _key(b)


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path`` lies (at any depth) inside ``folder``."""
    try:
        return _key(path).is_relative_to(_key(folder)) and not same_file(path, folder)
    except OSError:
        return False


def _check_name(path: Path, flag: str) -> None:
    size = len(os.fsencode(path.name))
    if size > NAME_MAX:
        raise OutputPathError(f"{flag} file name is {size} bytes, over the {NAME_MAX}-byte limit of file systems; choose a shorter name")


def _check_dir_writable(folder: Path, flag: str) -> None:
    if not folder.exists():
        raise OutputPathError(f"{flag}: folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise OutputPathError(f"{flag}: {folder} is not a folder")
    # Create (and remove) a file there: os.access says yes to root and on read-only mounts.
    try:
        fd, probe = tempfile.mkstemp(prefix=".sammask-write-check-", dir=folder)
    except OSError as exc:
        raise OutputPathError(f"{flag}: cannot create files in folder {folder} ({exc.strerror}); choose another folder") from None
    os.close(fd)
    os.unlink(probe)


def _check_location(out: OutputRef) -> None:
    _check_name(out.path, out.flag)
    if out.kind == "folder":
        if out.path.exists() and not out.path.is_dir():
            raise OutputPathError(f"{out.flag} {out.path} is an existing file; give a folder")
        anchor = out.path
        while not anchor.exists() and anchor != anchor.parent:
            anchor = anchor.parent
        _check_dir_writable(anchor, out.flag)
        return
    if out.path.is_dir():
        raise OutputPathError(f"{out.flag} {out.path} is a folder; give a file name")
    _check_dir_writable(out.path.parent if str(out.path.parent) else Path("."), out.flag)
    if out.kind == "video":  # one file holding the H.264 video: no HLS / DASH / .ffmeta / raw frames
        from sammask.spec.containers import check_single_file_container

        check_single_file_container(out.path, out.flag)


def _written(out: OutputRef) -> list[tuple[str, Path]]:
    """The paths an output writes: the file itself, or a folder's entries (or the folder)."""
    if out.kind != "folder":
        return [(out.flag, out.path)]
    return [(out.flag, out.path / name) for name in out.names]


def check_paths(inputs: Sequence[InputRef], outputs: Sequence[OutputRef], *, overwrite: bool) -> None:
    """Refuse output locations that cannot be written or that would destroy a file.

    Checked, in this order:

    - every output's name fits in 255 bytes and its folder exists and is writable (a folder
      output may be missing: its nearest existing parent must be writable); a file output is
      not an existing folder, a folder output not an existing file; a video output's suffix
      names a single-file container for H.264 (``.mp4``, ``.m4v``, ``.mov``, ``.mkv``);
    - no output (or an entry a folder output writes) is the same file as an input (symbolic and
      hard links, ``..`` and case included), lies inside an input folder, or is a folder that
      holds an input; no two outputs are or write the same file;
    - an existing output file (or an existing entry a folder output writes) is refused unless
      ``overwrite`` (ffmpeg's ``-y``).

    Args:
        inputs: every file and folder the run reads.
        outputs: every file and folder the run writes.
        overwrite: allow replacing existing output files.

    Raises:
        OutputPathError: naming the flag, the problem and the fix.
    """
    try:
        _check(list(inputs), list(outputs), overwrite)
    except OSError as exc:  # e.g. a folder name over the limit: ENAMETOOLONG from stat()
        raise OutputPathError(f"cannot use output location {exc.filename}: {exc.strerror}; choose another path") from None


def _check(inputs: list[InputRef], outputs: list[OutputRef], overwrite: bool) -> None:
    for out in outputs:
        _check_location(out)
    for out in outputs:
        for inp in inputs:
            if same_file(out.path, inp.path):
                raise OutputPathError(f"{out.flag} {out.path} is {inp.flag}; writing there would destroy it: choose another name")
            if inp.path.is_dir() and _inside(out.path, inp.path):
                raise OutputPathError(f"{out.flag} {out.path} lies inside {inp.flag} ({inp.path}); choose a path outside it")
            for flag, path in _written(out):
                if same_file(path, inp.path) or (out.kind == "folder" and _inside(inp.path, path)):
                    raise OutputPathError(f"{flag} {out.path} would write over {inp.flag} ({inp.path}); choose another folder")
    written = [(out, flag, path) for out in outputs for flag, path in _written(out)]
    for i, (out_a, flag_a, a) in enumerate(written):
        for out_b, flag_b, b in written[i + 1 :]:
            if out_a is not out_b and same_file(a, b):
                raise OutputPathError(f"{flag_a} and {flag_b} are the same file ({a}); give each its own name")
        for out_b in outputs:
            if out_b is not out_a and out_b.kind == "folder" and same_file(a, out_b.path):
                raise OutputPathError(f"{flag_a} {a} is the {out_b.flag} folder; choose another name")
    if not overwrite:
        for _out, flag, path in written:
            if path.exists() or path.is_symlink():
                raise OutputPathError(f"{flag} {path} already exists; pass -y/--overwrite to replace it")


def check_output_paths(
    input_path: Path | str,
    output_path: Path | str,
    *,
    tracks_path: Path | str | None = None,
    report_path: Path | str | None = None,
    save_masks: Path | str | None = None,
    overwrite: bool = False,
) -> None:
    """Refuse output locations that cannot be written or that would destroy a file.

    Checked, in this order, for the output video, the report and the applied-mask folder:

    - the name fits in 255 bytes and its folder exists and is writable;
    - the video's suffix selects a container FFmpeg can write (``.mp4``, ``.mkv``, ``.mov``...);
    - no output is the same file as an input (video or tracks, hard and symbolic links included)
      or as another output, and no output lies where the mask export writes (``meta.json``,
      ``masks.jsonl``, ``ids/`` inside ``save_masks``);
    - an existing output video or report is refused unless ``overwrite`` (ffmpeg's ``-y``); an
      existing file at ``save_masks`` is refused (a folder is expected).

    Whether the container can hold the input's streams is checked when the writer opens (also
    before decoding; see :class:`sammask.media.VideoWriter`).

    Args:
        input_path: the input video.
        output_path: the output video.
        tracks_path: the tracks file, when the tracks come from a file.
        report_path: the run report (JSON), if any.
        save_masks: the applied-mask folder, if any.
        overwrite: allow replacing an existing output video / report.

    Raises:
        OutputPathError: naming the flag (``-o``, ``--report``, ``--save-masks``), the problem and
            the fix.
    """
    inputs = [InputRef("the input video", Path(input_path))]
    if tracks_path is not None:
        inputs.append(InputRef("the tracks file", Path(tracks_path)))
    outputs = [OutputRef("-o", Path(output_path), "video")]
    if report_path is not None:
        outputs.append(OutputRef("--report", Path(report_path)))
    if save_masks is not None:
        outputs.append(OutputRef("--save-masks", Path(save_masks), "folder", MASK_EXPORT_NAMES))
    check_paths(inputs, outputs, overwrite=overwrite)
