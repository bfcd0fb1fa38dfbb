"""``Tracks.from_arrays``: detections from parallel arrays (numpy or lists), validated up front."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sammask.errors import TracksFormatError
from sammask.tracks.types import Detection, DetectionType, Tracks


def tracks_from_arrays(
    frame_idx: Any,
    track_id: Any,
    xyxy: Any,
    *,
    scores: Any = None,
    class_names: Sequence[str | None] | None = None,
    types: Any = None,
    source: str | None = None,
) -> Tracks:
    """See :meth:`Tracks.from_arrays`."""
    fi = np.asarray(frame_idx)
    ti = np.asarray(track_id)
    boxes = np.asarray(xyxy, dtype=float)
    n = fi.size
    if boxes.size == 0 and n == 0:
        return Tracks(source=source)
    if fi.ndim != 1 or ti.shape != fi.shape:
        raise TracksFormatError(f"frame_idx and track_id must be 1-D of one length, got {fi.shape} and {ti.shape}",
                                field="frame_idx")
    if boxes.shape != (n, 4):
        raise TracksFormatError(f"xyxy must have shape (N, 4) = ({n}, 4), got {boxes.shape}", field="bbox")
    for name, arr in (("frame_idx", fi), ("track_id", ti)):
        if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and not np.all(np.mod(arr, 1) == 0)):
            raise TracksFormatError(f"{name} must hold integers, got dtype {arr.dtype}", field=name)
        if (arr < 0).any():
            raise TracksFormatError(f"{name} must be >= 0, got {arr.min()}", field=name)
    sc = np.ones(n) if scores is None else np.asarray(scores, dtype=float)
    if sc.shape != (n,):
        raise TracksFormatError(f"scores must have shape ({n},), got {sc.shape}", field="score")
    if not (np.isfinite(sc).all() and (sc >= 0).all() and (sc <= 1).all()):
        raise TracksFormatError("scores must be finite and in [0, 1]", field="score")
    if not np.isfinite(boxes).all():
        raise TracksFormatError("xyxy must be finite", field="bbox")
    bad = np.flatnonzero((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1]))
    if bad.size:
        raise TracksFormatError(f"row {bad[0]}: box {boxes[bad[0]].tolist()} needs x2 > x1 and y2 > y1 ({bad.size} such rows)",
                                field="bbox")
    names = [None] * n if class_names is None else list(class_names)
    if len(names) != n:
        raise TracksFormatError(f"class_names must have {n} items, got {len(names)}", field="class")
    kinds = np.full(n, int(DetectionType.AUTO)) if types is None else np.asarray(types)
    if kinds.shape != (n,):
        raise TracksFormatError(f"types must have shape ({n},), got {kinds.shape}", field="type")
    pairs = set()
    dets = []
    for i in range(n):
        key = (int(fi[i]), int(ti[i]))
        if key in pairs:
            raise TracksFormatError(f"track_id {key[1]} twice on frame_idx {key[0]}", field="track_id")
        pairs.add(key)
        try:
            dtype = DetectionType(int(kinds[i]))
        except ValueError:
            raise TracksFormatError(f"row {i}: unknown detection type {kinds[i]}", field="type") from None
        if dtype == DetectionType.POLYGON:
            raise TracksFormatError("from_arrays makes box detections (types 1-3); build polygons as Detection", field="type")
        dets.append(Detection(key[0], key[1], tuple(float(v) for v in boxes[i]), type=dtype,  # type: ignore[arg-type]
                              score=float(sc[i]), class_name=None if names[i] is None else str(names[i])))
    return Tracks.from_detections(dets, source=source)
