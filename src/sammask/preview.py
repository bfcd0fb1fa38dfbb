"""``--preview N``: a contact sheet of N frames to check boxes and masking before a long run.

Each row is one frame, evenly spaced through the video, with three panels: the input, the boxes
(with track ids from a tracks file, or with class and score from the detector — ids need the
whole video's tracking, which a preview skips), and the output masked over those boxes with the
run's masking options. Segmentation is not run: the output panel shows box masks (what built-in
face detection masks by default); a full run with a segmenter masks silhouettes inside them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sammask.detection.stream import DetectAndTrack, upright_transform
from sammask.errors import ConfigError, MediaError, OutputPathError
from sammask.geometry import as_bbox, box_mask
from sammask.masking.compose import ObjectRegion, compose
from sammask.masking.options import MaskingOptions
from sammask.media import VideoReader, probe
from sammask.tracks.types import BBox, Tracks
from sammask.io import write_bytes_atomic

PANEL_WIDTH = 420
BOX_RGB = (255, 40, 40)


def preview_indices(num_frames: int, n: int) -> list[int]:
    """``n`` frame indices evenly spread over ``[0, num_frames)`` (fewer if the video is shorter).

    Raises:
        ConfigError: ``n < 1``.
    """
    if n < 1:
        raise ConfigError(f"--preview takes a number of frames >= 1, got {n}")
    n = min(n, max(num_frames, 1))
    return sorted({int(round(i * (num_frames - 1) / max(n - 1, 1))) for i in range(n)}) if n > 1 else [0]


def _draw(image: np.ndarray, boxes: list[tuple[BBox, str]]) -> np.ndarray:
    import cv2

    out = image.copy()
    thick = max(2, image.shape[1] // 400)
    for (x1, y1, x2, y2), label in boxes:
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), BOX_RGB, thick)
        cv2.putText(out, label, (int(x1), max(int(y1) - 6, 14)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thick, BOX_RGB, thick, cv2.LINE_AA)
    return out


def write_preview(
    video: Path | str,
    path: Path | str,
    n: int,
    masking: MaskingOptions,
    *,
    tracks: Tracks | None = None,
    detection: DetectAndTrack | None = None,
) -> Path:
    """Write the contact sheet of ``n`` frames of ``video`` to ``path`` (PNG, atomically).

    Args:
        video: the input video.
        path: output ``.png``.
        n: frames on the sheet (>= 1).
        masking: the run's :class:`MaskingOptions` (mode, effect, strength, dilate).
        tracks: boxes from a tracks file (labels ``#track_id``), or
        detection: boxes from the detectors, frame by frame (labels ``class score``).

    Raises:
        ConfigError: ``n < 1``, or neither / both of ``tracks`` and ``detection``.
        OutputPathError: the folder of ``path`` does not exist.
        OutputWriteError: the file cannot be written (permissions, disk full).
        MediaError: the video does not decode.
    """
    import cv2

    if (tracks is None) == (detection is None):
        raise ConfigError("a preview needs either tracks or detection")
    info = probe(video)
    wanted = set(preview_indices(info.num_frames, n))
    upright = upright_transform(info) if detection is not None else None  # detectors see upright frames
    rows = []
    with VideoReader(video) as reader:
        for frame in reader:
            if frame.frame_idx not in wanted:
                continue
            image = frame.image
            if detection is not None:
                found = detection.detect(image, upright)
                boxes = [(as_bbox(b), f"{c} {s:.2f}") for b, c, s in zip(found.xyxy, found.class_names, found.scores)]
                names: list[str | None] = list(found.class_names)
            else:
                dets = tracks.on_frame(frame.frame_idx)  # type: ignore[union-attr]  # tracks is set whenever detection is None (checked at the top)
                boxes = [(d.bbox, f"#{d.track_id}") for d in dets]
                names = [d.class_name for d in dets]
            regions = [ObjectRegion(i, box_mask(b, image.shape), b, class_name=c) for i, ((b, _), c) in enumerate(zip(boxes, names))]
            panels = [image, _draw(image, boxes), compose(image, regions, masking).image]
            h = max(1, round(image.shape[0] * PANEL_WIDTH / image.shape[1]))
            row = np.concatenate([cv2.resize(p, (PANEL_WIDTH, h), interpolation=cv2.INTER_AREA) for p in panels], axis=1)
            caption = np.full((20, row.shape[1], 3), 255, np.uint8)
            cv2.putText(
                caption,
                f"frame {frame.frame_idx}: {len(boxes)} box(es) | input | boxes | output (box masks)",
                (4, 14),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.45,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
            rows.append(np.concatenate([caption, row], axis=0))
            if len(rows) == len(wanted):
                break
    sheet = np.concatenate(rows, axis=0)
    path = Path(path)
    if not path.parent.is_dir():
        raise OutputPathError(f"preview folder does not exist: {path.parent}; create it or choose another --preview path")
    ok, data = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise MediaError(
            f"OpenCV could not encode the preview sheet ({sheet.shape[1]}x{sheet.shape[0]} px) as PNG; use fewer or smaller frames"
        )
    write_bytes_atomic(path, data.tobytes())
    return path
