"""A job's uploaded masks: a zip of a masks folder, a COCO ``.json`` or a MOTS ``.txt``.

The format is told and a zip unpacked by :mod:`sammask.export.packed` (shared with the UI's
import); this module names the stored upload in a job's ``input/`` folder and checks it at
submission against ``--max-unpack-mb``.
"""

from __future__ import annotations

from pathlib import Path

from sammask.errors import ExportError
from sammask.export.packed import check_masks_zip, stage_masks_upload, upload_format

__all__ = ["LIMIT_NAME", "UPLOAD_NAMES", "check_masks_upload", "stage_job_masks", "stored_upload"]

UPLOAD_NAMES = {"zip": "masks.zip", "coco": "masks.json", "mots": "masks.txt"}
"""Upload format -> the name the upload is stored under in the job's ``input/`` folder."""

LIMIT_NAME = "the server's --max-unpack-mb"


def check_masks_upload(upload: Path, max_bytes: int) -> Path:
    """Check an uploaded masks file at submission and store it under its format's name.

    A zip is checked by :func:`check_masks_zip` (nothing unpacked); a COCO or MOTS file is read
    by :func:`sammask.export.read_masks` (parsed whole: a malformed file is refused now).

    Args:
        upload: the received file (renamed to ``upload.parent / UPLOAD_NAMES[format]``).
        max_bytes: ``--max-unpack-mb`` in bytes.

    Returns:
        The stored path.

    Raises:
        ExportError: an unknown format, a zip over the bounds or without a masks folder, a
            malformed COCO or MOTS file.
    """
    fmt = upload_format(upload)
    stored = upload.rename(upload.with_name(UPLOAD_NAMES[fmt]))
    if fmt == "zip":
        check_masks_zip(stored, max_bytes, limit_name=LIMIT_NAME)
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


def stage_job_masks(upload: Path, dest: Path, max_bytes: int | None = None) -> Path:
    """:func:`sammask.export.packed.stage_masks_upload` with the server's limit named in its errors."""
    return stage_masks_upload(upload, dest, max_bytes, limit_name=LIMIT_NAME)
