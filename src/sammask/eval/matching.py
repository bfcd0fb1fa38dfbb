"""Match a run's track ids to ground-truth object ids by their boxes.

Each (track, object) pair is scored by the mean IoU of the track's box (the tracks file the run was
given) and the object's box over the frames where both exist; the one-to-one assignment with the
largest total score is chosen (exhaustive search while there are at most
``EXHAUSTIVE_LIMIT`` candidate assignments, greedy-by-IoU beyond), and pairs below ``min_iou`` are left unmatched. Unmatched tracks and objects
are reported, never dropped silently.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

logger = logging.getLogger(__name__)

from sammask.geometry import BBox as Box, box_iou
BoxesByFrame = Mapping[int, Mapping[int, Box]]
"""``frame_idx -> {id: (x1, y1, x2, y2)}`` xyxy float pixels."""

EXHAUSTIVE_LIMIT = 100_000
"""Largest number of candidate assignments searched exhaustively (7 vs 7 ids: 5040)."""


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

    def score(t: int, o: int) -> float:
        s = scores.get((t, o), 0.0)
        return s if s >= min_iou else 0.0

    pairs: list[tuple[int, int]] = []
    small, large, small_is_track = (
        (track_ids, obj_ids, True) if len(track_ids) <= len(obj_ids) else (obj_ids, track_ids, False)
    )
    if math.perm(len(large), len(small)) <= EXHAUSTIVE_LIMIT:
        best, best_total = (), -1.0
        for perm in itertools.permutations(large, len(small)):
            total = sum(score(*((s, l) if small_is_track else (l, s))) for s, l in zip(small, perm))
            if total > best_total:
                best, best_total = perm, total
        cand = [((s, l) if small_is_track else (l, s)) for s, l in zip(small, best)]
        pairs = [(t, o) for t, o in cand if score(t, o) > 0]
    else:
        used_t: set[int] = set()
        used_o: set[int] = set()
        for (t, o), s in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])):
            if s >= min_iou and t not in used_t and o not in used_o:
                pairs.append((t, o))
                used_t.add(t)
                used_o.add(o)
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
