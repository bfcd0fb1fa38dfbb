"""A job's uploaded masks: a zip of a masks folder, a COCO ``.json`` or a MOTS ``.txt``.

The service only stores and unpacks the upload; reading it is :func:`sammask.export.read_masks`
and applying it :func:`sammask.annotate.redact.stored_mask_prompts`, the one stored-mask path of
``redact --masks``, ``matte --masks`` and ``batch --masks``.

The format is told by content (the client's file name is never trusted): a zip (``PK\\x03\\x04``,
or ``PK\\x05\\x06`` when empty), a JSON object (COCO instances), else MOTS text. At submission
(:func:`check_masks_upload`) a COCO or MOTS file is read whole (it is bounded by the upload
limit) and a zip's central directory is checked against the unpack bounds before anything is
unpacked: at most :data:`MAX_ZIP_MEMBERS` members and at most ``--max-unpack-mb`` declared for the
members that will be written. The upload is then stored under the name of its format
(:data:`UPLOAD_NAMES`). The worker (:func:`stage_masks_upload`) unpacks a zip into a folder,
counting the bytes as they are written (a member whose header understates its size is cut off at
the limit and the partial folder removed).

A zip holds one masks folder, at its top or inside one top-level folder (a zipped
``job-masks/`` folder): the applied-mask export of ``redact --save-masks`` / ``GET
/v1/jobs/{id}/masks`` (``meta.json`` + ``masks.jsonl``) or PNG id maps (``00000.png`` ... and the
``video.json`` record). Only those files are unpacked, each into a fixed folder under a checked
base name (member names are never used as paths); anything else in the zip (sub-folders,
``__MACOSX/``, dot files) is skipped.
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

UPLOAD_NAMES = {"zip": "masks.zip", "coco": "masks.json", "mots": "masks.txt"}
"""Upload format -> the name the upload is stored under in the job's ``input/`` folder."""

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


def _members(zf: zipfile.ZipFile, max_members: int) -> dict[str, zipfile.ZipInfo]:
    """Base name -> member of the files a zip's masks folder unpacks to (see the module docstring)."""
    infos = zf.infolist()
    if len(infos) > max_members:
        raise ExportError(f"the masks zip lists {len(infos)} members; at most {max_members} are accepted")
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
        raise ExportError("the masks zip holds no masks folder: zip the folder of a --save-masks export "
                          "(meta.json, masks.jsonl) or of PNG id maps")
    return keep


def check_masks_zip(archive: Path, max_bytes: int, max_members: int | None = None) -> int:
    """Check a masks zip before anything is unpacked from it.

    Args:
        archive: the zip file.
        max_bytes: most bytes the unpacked files may declare, together.
        max_members: most members the zip may list (None: :data:`MAX_ZIP_MEMBERS`).

    Returns:
        The bytes the files that will be unpacked declare.

    Raises:
        ExportError: not a zip, too many members, no masks folder in it, or more than
            ``max_bytes`` declared.
    """
    limit = MAX_ZIP_MEMBERS if max_members is None else max_members
    try:
        with zipfile.ZipFile(archive) as zf:
            declared = sum(info.file_size for info in _members(zf, limit).values())
    except zipfile.BadZipFile as exc:
        raise ExportError(f"the masks upload is not {KINDS} ({exc})") from None
    if declared > max_bytes:
        raise ExportError(f"the masks zip unpacks to {declared} bytes, over the limit of {max_bytes} bytes "
                          "(the server's --max-unpack-mb)")
    return declared


def check_masks_upload(upload: Path, max_bytes: int, max_members: int | None = None) -> Path:
    """Check an uploaded masks file at submission and store it under its format's name.

    A zip is checked by :func:`check_masks_zip` (nothing unpacked); a COCO or MOTS file is read
    by :func:`sammask.export.read_masks` (parsed whole: a malformed file is refused now).

    Args:
        upload: the received file (renamed to ``upload.parent / UPLOAD_NAMES[format]``).
        max_bytes: ``--max-unpack-mb`` in bytes.
        max_members: most members a zip may list (None: :data:`MAX_ZIP_MEMBERS`).

    Returns:
        The stored path.

    Raises:
        ExportError: an unknown format, a zip over the bounds or without a masks folder, a
            malformed COCO or MOTS file.
    """
    fmt = upload_format(upload)
    stored = upload.rename(upload.with_name(UPLOAD_NAMES[fmt]))
    if fmt == "zip":
        check_masks_zip(stored, max_bytes, max_members)
        return stored
    from sammask.export import read_masks

    try:
        read_masks(stored)
    except UnicodeDecodeError as exc:
        raise ExportError(f"the masks upload is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return stored


def stored_upload(input_dir: Path) -> Path | None:
    """The masks upload stored in a job's ``input/`` folder (see :data:`UPLOAD_NAMES`), or None."""
    for name in UPLOAD_NAMES.values():
        if (input_dir / name).is_file():
            return input_dir / name
    return None


def stage_masks_upload(upload: Path, dest: Path, max_bytes: int | None = None, max_members: int | None = None) -> Path:
    """The path :func:`sammask.export.read_masks` reads for a stored upload.

    A COCO or MOTS file is returned as it is; a zip's masks folder is unpacked into ``dest``
    (replaced if present), with ``max_bytes`` checked first (:func:`check_masks_zip`) and counted
    as the bytes are written.

    Raises:
        ExportError: not a zip, no masks folder, or over ``max_bytes`` / ``max_members`` (the
            partial folder is removed).
    """
    if upload.suffix != ".zip":
        return upload
    if max_bytes is not None:
        check_masks_zip(upload, max_bytes, max_members)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    written = 0
    try:
        with zipfile.ZipFile(upload) as zf:
            for name, info in _members(zf, MAX_ZIP_MEMBERS if max_members is None else max_members).items():
                with zf.open(info) as src, (dest / name).open("xb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if max_bytes is not None and written > max_bytes:
                            raise ExportError(f"the masks zip unpacks to more than {max_bytes} bytes (the server's "
                                              "--max-unpack-mb)")
                        out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:  # corrupt, encrypted, odd method
        shutil.rmtree(dest, ignore_errors=True)
        raise ExportError(f"the masks zip cannot be unpacked ({type(exc).__name__}: {exc}); zip the masks folder "
                          "again (deflate, no password)") from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest
