"""``redact --masks``: mask a video with annotated masks directly (no re-segmentation).

The masks become the run's detections (one per object and frame, box = the mask's tight box,
type 2) and a :class:`~sammask.segmentation.stored.StoredMaskSegmenter` serves them to the
unchanged pipeline, so its rules hold as for any segmenter: dilation, the fail-secure box
fallback (a stored mask covering less than ``min_coverage`` of its own box is replaced by the
box), validation against the video (frames past the end are an error unless ``lenient``), the
atomic output and the run report. Masks are in the coordinates of the frames as decoded (stored,
not display-rotated), so the run uses ``tracks_space = stored`` whatever the settings say.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sammask.errors import ExportError
from sammask.export import MaskSource, read_masks
from sammask.geometry import mask_bbox
from sammask.media import probe, video_identity
from sammask.media.types import VideoInfo
from sammask.tracks import Detection, DetectionType, Tracks

if TYPE_CHECKING:
    from sammask.segmentation.stored import StoredMaskSegmenter


def masks_to_tracks(source: MaskSource) -> Tracks:
    """One type-2 detection per non-empty mask, ``bbox`` = the mask's tight box (xyxy pixels)."""
    dets = []
    for frame in source.read():
        for obj_id, m in sorted(frame.masks.items()):
            bbox = mask_bbox(m)
            if bbox is not None:
                dets.append(Detection(frame.frame_idx, int(obj_id), bbox, DetectionType.USER_SELECTED))
    return Tracks.from_detections(dets, source=str(source.path))


def check_masks_video(source: MaskSource, input_path: Path, info: VideoInfo) -> None:
    """Refuse masks that do not record ``input_path`` as the video they were made on.

    Raises:
        ExportError: the masks record another file (size, frame count and digest named), or no
            video at all (MOTS files, other tools' COCO, older exports); both say to pass
            ``--masks-any-video`` when the user knows they belong to this video.
    """
    if source.video is None:
        raise ExportError(
            f"{source.path}: the masks do not record which video they were made on (MOTS, another tool's "
            f"file or an older export); if they belong to {input_path.name}, pass --masks-any-video"
        )
    frames = info.num_frames if info.num_frames_exact else None
    current = video_identity(input_path, width=info.width, height=info.height, frames=frames)
    diffs = source.video.differences(current)
    if diffs:
        raise ExportError(
            f"{source.path}: masks made on {source.video.name or 'another video'}, not {input_path.name} "
            f"({', '.join(diffs)}); give the masks made for this video or pass --masks-any-video"
        )


def stored_mask_prompts(
    masks: MaskSource | Path | str, input_path: Path, info: VideoInfo, *, any_video: bool = False
) -> tuple[Tracks, StoredMaskSegmenter]:
    """Annotated masks as the pipeline's prompts: one type-2 detection per mask (its tight box)
    and a segmenter that serves the masks as they are (no re-segmentation).

    The one path from stored masks into the pipeline (``redact --masks``, ``matte --masks``).

    Args:
        masks: a :class:`~sammask.export.MaskSource` or a path :func:`sammask.export.read_masks`
            reads (COCO ``.json``, MOTS ``.txt``, PNG id-map folder, ``--save-masks`` folder).
        input_path: the video the masks are applied to.
        info: its :class:`~sammask.media.VideoInfo` (stored frame size).
        any_video: accept masks that record another video, or none (``--masks-any-video``).

    Returns:
        ``(tracks, segmenter)``; the masks are in stored (decoded, unrotated) pixels.

    Raises:
        ExportError: the masks' frame size differs from the video's (always), they record another
            video or none (unless ``any_video``), or they hold no mask.
    """
    from sammask.segmentation.stored import StoredMaskSegmenter

    source = masks if isinstance(masks, MaskSource) else read_masks(Path(masks))
    if (source.width, source.height) != (info.width, info.height):
        raise ExportError(
            f"{source.path}: masks are {source.width}x{source.height} but {input_path} is "
            f"{info.width}x{info.height}; give the masks made for this video"
        )
    if not any_video:
        check_masks_video(source, input_path, info)
    tracks = masks_to_tracks(source)
    if not len(tracks):
        raise ExportError(f"{source.path}: holds no mask; nothing would be masked")

    def stored() -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        for frame in source.read():
            yield frame.frame_idx, frame.masks

    return tracks, StoredMaskSegmenter(stored)


def redact_masks(
    input_path: Path | str,
    masks: MaskSource | Path | str,
    output_path: Path | str,
    settings: Any = None,
    *,
    any_video: bool = False,
    **redact_options: Any,
):  # -> RunReport
    """Run :func:`sammask.pipeline.redact` with stored masks instead of a segmenter.

    Args:
        input_path: the video.
        masks: a :class:`~sammask.export.MaskSource` or a path :func:`sammask.export.read_masks`
            reads (COCO ``.json``, MOTS ``.txt``, PNG id-map folder, ``--save-masks`` folder).
        output_path: the output video.
        settings: :class:`~sammask.settings.RedactSettings` (the segmenter setting is unused).
        any_video: apply masks that record another video, or none (``--masks-any-video``).
            Otherwise the masks must record this very file (:class:`~sammask.media.VideoIdentity`,
            SHA-256 of the file): masks made on a 40-frame clip would leave frames 40.. of a
            60-frame clip of the same size unmasked.
        **redact_options: ``progress``, ``save_masks``, ``report_path`` as for ``redact``.

    Returns:
        The :class:`~sammask.pipeline.RunReport` (``segmenter`` = ``"masks"``).

    Raises:
        ExportError: the masks' frame size differs from the video's (always), they record another
            video or none (unless ``any_video``), or they hold no mask.
        (and everything :func:`sammask.pipeline.redact` raises)
    """
    from dataclasses import replace

    from sammask.geometry import TracksSpace
    from sammask.pipeline import redact
    from sammask.settings import RedactSettings

    tracks, segmenter = stored_mask_prompts(masks, Path(input_path), probe(Path(input_path)), any_video=any_video)
    # the masks are pixel arrays of the frames as decoded (stored, unrotated): so are their boxes
    settings = replace(settings or RedactSettings(), tracks_space=TracksSpace.STORED)
    return redact(input_path, tracks, output_path, settings, segmenter=segmenter, **redact_options)
