"""Redact with given masks instead of segmenting: an applied-mask export (docs/masks-format.md),
e.g. from the annotator or a previous run's ``--save-masks`` / ``GET /v1/jobs/{id}/masks``.

Each track's mask on a frame becomes a detection whose box is the mask's tight box, and the
mask itself is the "segmenter" answer for it, so the pipeline's rules (fail-secure, dilation,
modes, effects) apply unchanged.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from sammask.errors import EvalError
from sammask.geometry import mask_bbox
from sammask.export.applied import MASKS_FILE, META_FILE, read_applied_masks
from sammask.segmentation import FrameMasks, FramePrompts, Segmenter
from sammask.tracks import Detection, Tracks


def extract_masks_zip(archive: Path, dest: Path) -> Path:
    """Extract ``meta.json`` and ``masks.jsonl`` of a zipped applied-mask export into ``dest``.

    Only those two members are read, by name, into fixed paths (member names are never paths).

    Raises:
        EvalError: not a zip, or one of the two files is missing.
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in (META_FILE, MASKS_FILE):
                with zf.open(name) as src, (dest / name).open("wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise EvalError(f"the masks file is not a zipped sammask applied-mask export with {META_FILE} and "
                        f"{MASKS_FILE} at its top ({exc})") from None
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
