"""Redact with given masks instead of segmenting: an applied-mask export (docs/masks-format.md),
e.g. from the annotator or a previous run's ``--save-masks`` / ``GET /v1/jobs/{id}/masks``.

Each track's mask on a frame becomes a detection whose box is the mask's tight box, and the
mask itself is the "segmenter" answer for it, so the pipeline's rules (fail-secure, dilation,
modes, effects) apply unchanged.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from sammask.errors import EvalError
from sammask.export.applied import MASKS_FILE, META_FILE, read_applied_masks
from sammask.geometry import mask_bbox
from sammask.segmentation import FrameMasks, FramePrompts, Segmenter
from sammask.tracks import Detection, Tracks

MAX_ZIP_MEMBERS = 64
"""Most members a masks zip may list (an export has two; the central directory is read whole)."""


def check_masks_zip(archive: Path, max_bytes: int, max_members: int = MAX_ZIP_MEMBERS) -> int:
    """Check a zipped applied-mask export before anything is extracted from it.

    Args:
        archive: the zip file.
        max_bytes: most bytes ``meta.json`` and ``masks.jsonl`` may unpack to, together.
        max_members: most members the zip may list.

    Returns:
        The bytes the two members declare they unpack to.

    Raises:
        EvalError: not a zip, a member missing, too many members, or more than ``max_bytes``
            declared.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > max_members:
                raise EvalError(f"the masks zip lists {len(infos)} members; at most {max_members} are accepted "
                                f"(an applied-mask export has {META_FILE} and {MASKS_FILE})")
            declared = sum(zf.getinfo(name).file_size for name in (META_FILE, MASKS_FILE))
    except (zipfile.BadZipFile, KeyError) as exc:
        raise EvalError(f"the masks file is not a zipped sammask applied-mask export with {META_FILE} and "
                        f"{MASKS_FILE} at its top ({exc})") from None
    if declared > max_bytes:
        raise EvalError(f"the masks zip unpacks to {declared} bytes, over the limit of {max_bytes} bytes "
                        "(the server's --max-unpack-mb)")
    return declared


def extract_masks_zip(archive: Path, dest: Path, max_bytes: int | None = None,
                      max_members: int = MAX_ZIP_MEMBERS) -> Path:
    """Extract ``meta.json`` and ``masks.jsonl`` of a zipped applied-mask export into ``dest``.

    Only those two members are read, by name, into fixed paths (member names are never paths).
    With ``max_bytes`` the zip is checked first (:func:`check_masks_zip`) and the bytes actually
    unpacked are counted as they are written, so a member whose header understates its size is
    cut off at the limit (the partial folder is removed).

    Raises:
        EvalError: not a zip, one of the two files is missing, or over ``max_bytes`` / ``max_members``.
    """
    if max_bytes is not None:
        check_masks_zip(archive, max_bytes, max_members)
    dest.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in (META_FILE, MASKS_FILE):
                with zf.open(name) as src, (dest / name).open("wb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if max_bytes is not None and written > max_bytes:
                            raise EvalError(f"the masks zip unpacks to more than {max_bytes} bytes (the server's "
                                            "--max-unpack-mb)")
                        out.write(chunk)
    except (zipfile.BadZipFile, KeyError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise EvalError(f"the masks file is not a zipped sammask applied-mask export with {META_FILE} and "
                        f"{MASKS_FILE} at its top ({exc})") from None
    except EvalError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def tracks_from_masks(directory: Path) -> Tracks:
    """One detection per non-empty track mask, boxed by :func:`sammask.geometry.mask_bbox`.

    Raises:
        InputFileError, EvalError: see :func:`sammask.export.applied.read_applied_masks`.
    """
    dets = []
    for frame in read_applied_masks(directory):
        for track_id, mask in frame.tracks.items():
            box = mask_bbox(mask)
            if box is not None:
                dets.append(Detection(frame_idx=frame.frame_idx, track_id=track_id, bbox=box))
    return Tracks.from_detections(dets, source=str(directory))


class MaskFileSegmenter(Segmenter):
    """Answers each prompt with the export's mask of that track on that frame (streamed).

    Args:
        directory: an applied-mask export folder.
    """

    name = "masks"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Yield one :class:`FrameMasks` per frame with the export's (H, W) bool masks."""
        records = read_applied_masks(self.directory)
        rec = next(records, None)
        for fp in frames:
            while rec is not None and rec.frame_idx < fp.frame_idx:
                rec = next(records, None)
            have = rec.tracks if rec is not None and rec.frame_idx == fp.frame_idx else {}
            yield FrameMasks(fp.frame_idx, {p.track_id: have.get(p.track_id) for p in fp.prompts})
