"""File reads and atomic writes: the one helper every file sammask writes goes through.

:func:`write_bytes_atomic` writes a temporary sibling with a unique name and renames it into
place, so a reader (or a crash) never sees a half-written file and the temporary is removed on
any failure. :func:`read_text` reads a UTF-8 input file with a one-line error naming it.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from sammask.errors import InputFileError, OutputWriteError, TracksFormatError

__all__ = ["DuplicateKeyError", "loads_json", "read_text", "temp_sibling", "write_bytes_atomic", "write_text_atomic"]

NAME_MAX = 255
"""File-name limit in bytes (ext4, XFS, btrfs, APFS)."""


def temp_sibling(path: str | os.PathLike[str], suffix: str = ".tmp") -> Path:
    """A unique hidden name beside ``path`` for a temporary file, within the 255-byte name limit.

    The name keeps ``suffix`` last (a muxer that picks the container from the suffix still sees
    it). Nothing is created.
    """
    p = Path(path)
    tag = f".{os.getpid()}.{secrets.token_hex(4)}{suffix}"
    name = os.fsencode(p.name)[: NAME_MAX - 1 - len(os.fsencode(tag))].decode("utf-8", "ignore")
    return p.with_name(f".{name}{tag}")


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via a unique temporary file in the same folder and a rename.

    A reader never sees a half-written file, and the temporary is removed on any failure
    (including ``KeyboardInterrupt``). The file gets the usual mode (umask), not mkstemp's 0600.

    Raises:
        OutputWriteError: the folder does not exist, or the file cannot be written (permissions,
            ``path`` is a directory, disk full).
    """
    p = Path(path)
    if not p.parent.is_dir():
        raise OutputWriteError(f"output folder does not exist: {p.parent}; create it first")
    tmp = temp_sibling(p)
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
        os.replace(tmp, p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputWriteError(f"cannot write {p}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """:func:`write_bytes_atomic` of ``text`` encoded as UTF-8.

    Raises:
        OutputWriteError: as :func:`write_bytes_atomic`.
    """
    write_bytes_atomic(path, text.encode("utf-8"))


def read_text(path: str | os.PathLike[str], *, what: str = "tracks file") -> str:
    """Read a UTF-8 text file (a BOM is accepted).

    Args:
        path: the file.
        what: what the file is, for the error message (``"tracks file"``, ``"prompts file"``).

    Raises:
        InputFileError: the file is missing, a directory, or unreadable.
        TracksFormatError: the file is not UTF-8 text.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{what} not found: {p}; check the path")
    if p.is_dir():
        raise InputFileError(f"{what} path is a directory, not a file: {p}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {p}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TracksFormatError(f"{what} is not UTF-8 text (byte {exc.start})", path=str(p)) from exc


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (raised by :func:`loads_json`).

    Attributes:
        key: the repeated key.
    """

    def __init__(self, key: str) -> None:
        shown = key if len(key) <= 40 else key[:37] + "..."
        super().__init__(f"duplicate key {shown!r} in one JSON object; each key may appear once")
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def loads_json(text: str) -> Any:
    """Parse JSON text, refusing an object that names a key twice.

    Python's :func:`json.loads` keeps the last of repeated keys silently: ``"frames"`` twice
    (the real list, then ``[]``) would read as a file with no detections (issue 14, class 5).
    Every input file sammask reads as JSON (tracks, supervision sinks, COCO masks, applied-mask
    exports) goes through here.

    Raises:
        DuplicateKeyError: (a :class:`ValueError`) naming the repeated key.
        json.JSONDecodeError: on a syntax error (also a :class:`ValueError`).
        ValueError: an integer longer than Python's digit limit (4300 digits).
        RecursionError: nesting too deep.
    """
    return json.loads(text, object_pairs_hook=_no_duplicates)
