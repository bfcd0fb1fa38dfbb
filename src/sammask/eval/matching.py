"""Match a run's track ids to ground-truth object ids by their boxes.

Each (track, object) pair is scored by the mean IoU of the track's box (the tracks file the run was
given) and the object's box over the frames where both exist; the one-to-one assignment with the
largest total score is chosen (``scipy.optimize.linear_sum_assignment``, optimal for any number of
ids), and pairs below ``min_iou`` are left unmatched. Unmatched tracks and objects are reported,
never dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sammask.geometry import BBox as Box, box_iou

logger = logging.getLogger(__name__)

BoxesByFrame = Mapping[int, Mapping[int, Box]]
"""``frame_idx -> {id: (x1, y1, x2, y2)}`` xyxy float pixels."""


@dataclass(frozen=True, slots=True)
class Matching:
    """Result of :func:`match_tracks`.

    Attributes:
        obj_to_track: ``obj_id -> track_id`` for matched objects.
        scores: ``(track_id, obj_id) -> mean box IoU`` for every pair with common frames.
        unmatched_tracks: track ids with no object (sorted).
        unmatched_objects: object ids with no track (sorted): their pixels still count for leak.
    """

    obj_to_track: dict[int, int]
    scores: dict[tuple[int, int], float]
    unmatched_tracks: tuple[int, ...]
    unmatched_objects: tuple[int, ...]

    @property
    def track_to_obj(self) -> dict[int, int]:
        """``track_id -> obj_id`` for matched tracks."""
        return {t: o for o, t in self.obj_to_track.items()}

    def for_objects(self, obj_ids: tuple[int, ...] | list[int]) -> dict[int, int | None]:
        """``obj_id -> track_id or None`` for every id in ``obj_ids``."""
        return {o: self.obj_to_track.get(o) for o in obj_ids}


def pair_scores(tracks: BoxesByFrame, objects: BoxesByFrame) -> dict[tuple[int, int], float]:
    """Mean box IoU of every (track_id, obj_id) pair over their common frames.

    Args:
        tracks: the run's boxes by frame and track id.
        objects: the ground-truth boxes by frame and object id.

    Returns:
        ``(track_id, obj_id) -> mean IoU``; pairs without a common frame are absent.
    """
    sums: dict[tuple[int, int], float] = {}
    counts: dict[tuple[int, int], int] = {}
    for frame_idx, tboxes in tracks.items():
        oboxes = objects.get(frame_idx)
        if not oboxes:
            continue
        for t, tb in tboxes.items():
            for o, ob in oboxes.items():
                sums[(t, o)] = sums.get((t, o), 0.0) + box_iou(tb, ob)
                counts[(t, o)] = counts.get((t, o), 0) + 1
    return {k: sums[k] / counts[k] for k in sums}


def match_tracks(tracks: BoxesByFrame, objects: BoxesByFrame, *, min_iou: float = 0.5) -> Matching:
    """One-to-one assignment of track ids to object ids maximising the total mean box IoU.

    Args:
        tracks: ``frame_idx -> {track_id: xyxy}`` (the run's tracks).
        objects: ``frame_idx -> {obj_id: xyxy}`` (e.g. GT mask bounding boxes or gt.txt).
        min_iou: pairs whose mean IoU is below this are not matched.

    Returns:
        :class:`Matching`.
    """
    track_ids = sorted({t for f in tracks.values() for t in f})
    obj_ids = sorted({o for f in objects.values() for o in f})
    scores = pair_scores(tracks, objects)

    # scipy is imported here so that the redaction path never loads it (it comes with sammask[eval])
    from scipy.optimize import linear_sum_assignment

    gain = np.zeros((len(track_ids), len(obj_ids)))
    t_row = {t: i for i, t in enumerate(track_ids)}
    o_col = {o: j for j, o in enumerate(obj_ids)}
    for (t, o), s in scores.items():
        if s >= min_iou:
            gain[t_row[t], o_col[o]] = s
    rows, cols = linear_sum_assignment(gain, maximize=True)
    pairs = [(track_ids[i], obj_ids[j]) for i, j in zip(rows, cols) if gain[i, j] > 0]
    obj_to_track = {o: t for t, o in pairs}
    matched_t = set(obj_to_track.values())
    result = Matching(
        obj_to_track=obj_to_track,
        scores=scores,
        unmatched_tracks=tuple(t for t in track_ids if t not in matched_t),
        unmatched_objects=tuple(o for o in obj_ids if o not in obj_to_track),
    )
    if result.unmatched_tracks or result.unmatched_objects:
        logger.warning(
            "matching: unmatched tracks %s, unmatched GT objects %s",
            list(result.unmatched_tracks),
            list(result.unmatched_objects),
        )
    return result
