"""Stored masks packed in one file: a zip of a masks folder, a COCO ``.json`` or a MOTS ``.txt``.

What an upload (the service's ``masks`` field, the UI's "Import masks") carries. Reading the
masks is :func:`sammask.export.read_masks`; this module tells the format by content (a file name
is never trusted): a zip (``PK\\x03\\x04``, or ``PK\\x05\\x06`` when empty), a JSON object
(COCO instances), else MOTS text; and unpacks a zip's masks folder within bounds.

A zip holds one masks folder, at its top or inside one top-level folder (a zipped
``job-masks/`` folder): the applied-mask export of ``redact --save-masks`` / ``GET
/v1/jobs/{id}/masks`` (``meta.json`` + ``masks.jsonl``) or PNG id maps (``00000.png`` ... and the
``video.json`` record). Only those files are unpacked, each into a fixed folder under a checked
base name (member names are never used as paths); anything else in the zip (sub-folders,
``__MACOSX/``, dot files) is skipped. The central directory is checked against the bounds before
anything is unpacked (at most :data:`MAX_ZIP_MEMBERS` members, at most ``max_bytes`` declared),
and the bytes are counted again as they are written (a member whose header understates its size
is cut off at the limit and the partial folder removed).
"""

from __future__ import annotations

import re
import shutil
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from sammask.errors import ExportError

MAX_ZIP_MEMBERS = 100_000
"""Most members a masks zip may list (the central directory is read whole; a PNG id-map folder has
one file per frame: 100 000 is over an hour at 25 fps)."""

KINDS = "a zip of a masks folder (a --save-masks or GET /v1/jobs/{id}/masks export, or PNG id maps), a COCO .json or a MOTS .txt"

_KEEP = re.compile(r"^(meta\.json|masks\.jsonl|video\.json|[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}\.png)$")


def upload_format(upload: Path) -> str:
    """The format of an uploaded masks file, by content: ``zip``, ``coco`` or ``mots``.

    Raises:
        ExportError: the file starts like none of them (not a zip, no JSON object, no MOTS digit).
    """
    with upload.open("rb") as fh:
        head = fh.read(4096)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] == b"{":
        return "coco"
    if text[:1].isdigit():
        return "mots"
    raise ExportError(f"the masks upload is not {KINDS}")


def _members(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Base name -> member of the files a zip's masks folder unpacks to (see the module docstring)."""
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise ExportError(f"the masks zip lists {len(infos)} members; at most {MAX_ZIP_MEMBERS} are accepted")
    files = []
    for info in infos:
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.is_dir() or not parts or parts[0] == "__MACOSX" or parts[-1].startswith("."):
            continue
        files.append((parts, info))
    tops = {parts[0] for parts, _ in files if len(parts) > 1}
    strip = 1 if len(tops) == 1 and all(len(parts) > 1 for parts, _ in files) else 0
    keep: dict[str, zipfile.ZipInfo] = {}
    for parts, info in files:
        rest = parts[strip:]
        if len(rest) == 1 and _KEEP.match(rest[0]):
            if rest[0] in keep:
                raise ExportError(f"the masks zip holds {rest[0]} twice; zip one masks folder")
            keep[rest[0]] = info
    if not keep:
        raise ExportError(
            "the masks zip holds no masks folder: zip the folder of a --save-masks export (meta.json, masks.jsonl) or of PNG id maps"
        )
    return keep


def check_masks_zip(archive: Path, max_bytes: int, *, limit_name: str = "the unpack limit") -> int:
    """Check a masks zip before anything is unpacked from it.

    Args:
        archive: the zip file.
        max_bytes: most bytes the unpacked files may declare, together.
        limit_name: what sets ``max_bytes``, named in the error (e.g. the server's option).

    Returns:
        The bytes the files that will be unpacked declare.

    Raises:
        ExportError: not a zip, too many members, no masks folder in it, or more than
            ``max_bytes`` declared.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            declared = sum(info.file_size for info in _members(zf).values())
    except zipfile.BadZipFile as exc:
        raise ExportError(f"the masks upload is not {KINDS} ({exc})") from None
    if declared > max_bytes:
        raise ExportError(f"the masks zip unpacks to {declared} bytes, over the limit of {max_bytes} bytes ({limit_name})")
    return declared


def stage_masks_upload(upload: Path, dest: Path, max_bytes: int | None = None, *, limit_name: str = "the unpack limit") -> Path:
    """The path :func:`sammask.export.read_masks` reads for a packed masks file (``*.zip`` unpacked).

    A COCO or MOTS file (told by content, :func:`upload_format`) is returned as it is; a zip's masks folder is unpacked into ``dest``
    (replaced if present), with ``max_bytes`` checked first (:func:`check_masks_zip`) and counted
    as the bytes are written.

    Raises:
        ExportError: not a zip, no masks folder, or over ``max_bytes`` / :data:`MAX_ZIP_MEMBERS` (the
            partial folder is removed).
    """
    if upload_format(upload) != "zip":
        return upload
    if max_bytes is not None:
        check_masks_zip(upload, max_bytes, limit_name=limit_name)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    written = 0
    try:
        with zipfile.ZipFile(upload) as zf:
            for name, info in _members(zf).items():
                with zf.open(info) as src, (dest / name).open("xb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if max_bytes is not None and written > max_bytes:
                            raise ExportError(f"the masks zip unpacks to more than {max_bytes} bytes ({limit_name})")
                        out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:  # corrupt, encrypted, odd method
        shutil.rmtree(dest, ignore_errors=True)
        raise ExportError(
            f"the masks zip cannot be unpacked ({type(exc).__name__}: {exc}); zip the masks folder again (deflate, no password)"
        ) from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest
