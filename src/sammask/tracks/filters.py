"""Class and score filters for tracks (``--classes``, ``--min-score`` on a tracks file)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sammask.errors import ConfigError
from sammask.tracks.types import Tracks

logger = logging.getLogger(__name__)


def parse_classes(text: str | None) -> tuple[str, ...] | None:
    """``"face, person"`` -> ``("face", "person")``; None or blank -> None (no filter).

    Raises:
        ConfigError: an empty item (``"face,,car"``).
    """
    if text is None or not text.strip():
        return None
    items = tuple(t.strip() for t in text.split(","))
    if any(not t for t in items):
        raise ConfigError(f"--classes takes comma-separated class names, got '{text}'")
    return items


def filter_tracks(tracks: Tracks, *, min_score: float | None = None, classes: Iterable[str] | None = None) -> tuple[Tracks, int]:
    """Keep the detections with ``score >= min_score`` and a class in ``classes``.

    Privacy first: a detection whose source gives no class (``class_name is None``, e.g. any
    MOT file) is kept by the class filter, and the number of such detections is logged.
    Detections the user drew (types 3 and 4) are never filtered.

    Args:
        tracks: the detections (not modified).
        min_score: score threshold in [0, 1] (None: no score filter).
        classes: class names to keep (None: no class filter).

    Returns:
        ``(kept, removed)``: a new :class:`Tracks` (same ``source``, ``dropped``, ``clipped``)
        and the number of detections the filters removed.

    Raises:
        ConfigError: ``min_score`` outside [0, 1].
    """
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise ConfigError(f"min_score must be in [0, 1], got {min_score}")
    wanted = None if classes is None else set(classes)
    kept, removed, unknown = [], 0, 0
    for det in tracks:
        if det.type.is_segmented:
            if min_score is not None and det.score < min_score:
                removed += 1
                continue
            if wanted is not None:
                if det.class_name is None:
                    unknown += 1
                elif det.class_name not in wanted:
                    removed += 1
                    continue
        kept.append(det)
    if unknown:
        logger.warning("%s: %d detection(s) carry no class; kept by --classes (privacy first)", tracks.source or "tracks", unknown)
    out = Tracks.from_detections(kept, source=tracks.source)
    out.dropped = dict(tracks.dropped)
    out.clipped = tracks.clipped
    if hasattr(tracks, "repaired"):
        out.repaired = dict(tracks.repaired)
    return out, removed
