"""Output-location checks done before any frame is decoded: no run may destroy a file.

:func:`check_output_paths` is the one place that decides whether a run's outputs (video, report,
applied-mask folder) can be written without touching the inputs or each other; the pipeline (and
through it the CLI and the services) calls it first.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

from sammask.errors import OutputPathError

__all__ = ["check_output_paths", "muxer_for_suffix"]

NAME_MAX = 255
"""File-name limit in bytes (ext4, XFS, btrfs, APFS)."""

MASK_EXPORT_NAMES = ("meta.json", "masks.jsonl", "ids")
"""Entries an applied-mask export writes in its folder (``sammask.export.applied``)."""


@functools.lru_cache(maxsize=1)
def _muxers_by_extension() -> dict[str, str]:
    import av

    out: dict[str, str] = {}
    for name in sorted(av.formats_available - {"image2", "image2pipe"}):  # single images, not video
        try:
            fmt = av.ContainerFormat(name, "w")
        except (ValueError, av.FFmpegError):
            continue
        for ext in fmt.extensions:
            out.setdefault(ext.lower(), name)
    return out


def muxer_for_suffix(path: Path) -> str | None:
    """FFmpeg muxer name that a file name's suffix selects (``.mp4`` -> ``mp4``), or None."""
    return _muxers_by_extension().get(path.suffix.lower().lstrip("."))


def _key(path: Path) -> Path:
    return Path(os.path.abspath(path)).resolve()


def _same(a: Path, b: Path) -> bool:
    """True when two paths name the same file (hard links and symlinks included)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return _key(a) == _key(b)


def _check_name(path: Path, flag: str) -> None:
    if len(os.fsencode(path.name)) > NAME_MAX:
        raise OutputPathError(
            f"{flag} file name is {len(os.fsencode(path.name))} bytes, over the {NAME_MAX}-byte limit of "
            "file systems; choose a shorter name"
        )


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
    try:
        _check(Path(input_path), Path(output_path), tracks_path, report_path, save_masks, overwrite)
    except OSError as exc:  # e.g. a folder name over the limit: ENAMETOOLONG from stat()
        raise OutputPathError(f"cannot use output location {exc.filename}: {exc.strerror}; choose another path") from None


def _check(inp: Path, out: Path, tracks_path, report_path, save_masks, overwrite: bool) -> None:
    inputs = [("the input video", inp)] + ([("the tracks file", Path(tracks_path))] if tracks_path else [])
    outputs: list[tuple[str, Path]] = [("-o", out)]
    if report_path is not None:
        outputs.append(("--report", Path(report_path)))

    for flag, path in outputs:
        _check_name(path, flag)
        if path.is_dir():
            raise OutputPathError(f"{flag} {path} is a folder; give a file name")
        _check_dir_writable(path.parent if str(path.parent) else Path("."), flag)
    if muxer_for_suffix(out) is None:
        raise OutputPathError(
            f"-o {out}: the suffix '{out.suffix}' names no video container FFmpeg can write; "
            "use .mp4, .mkv or .mov"
        )
    masks = Path(save_masks) if save_masks is not None else None
    if masks is not None:
        _check_name(masks, "--save-masks")
        if masks.exists() and not masks.is_dir():
            raise OutputPathError(f"--save-masks {masks} is an existing file; give a folder")
        anchor = masks
        while not anchor.exists() and anchor != anchor.parent:
            anchor = anchor.parent
        _check_dir_writable(anchor, "--save-masks")

    for flag, path in outputs:
        for what, src in inputs:
            if _same(path, src):
                raise OutputPathError(f"{flag} {path} is {what}; writing there would destroy it: choose another name")
    for i, (flag_a, a) in enumerate(outputs):
        for flag_b, b in outputs[i + 1 :]:
            if _same(a, b):
                raise OutputPathError(f"{flag_a} and {flag_b} are the same file ({a}); give each its own name")
    if masks is not None:
        for what, path in [*inputs, *((f"the {flag} file", p) for flag, p in outputs)]:
            if _same(masks, path):
                raise OutputPathError(f"--save-masks {masks} is {what}; choose another folder")
            if _key(path).parent == _key(masks) and path.name in MASK_EXPORT_NAMES:
                raise OutputPathError(
                    f"--save-masks {masks} would write over {what} ({path}); choose another folder"
                )
    if not overwrite:
        for flag, path in outputs:
            if path.exists() or path.is_symlink():
                raise OutputPathError(f"{flag} {path} already exists; pass -y/--overwrite to replace it")
