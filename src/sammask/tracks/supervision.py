"""Tracks from roboflow ``supervision``: its CSV / JSON sinks, and in-memory ``sv.Detections``.

``sv.CSVSink`` / ``sv.JSONSink`` write one row per detection with the columns ``x_min, y_min,
x_max, y_max, class_id, confidence, tracker_id``, then the ``Detections.data`` fields (such as
``class_name``) and the ``custom_data`` given to ``append`` — by supervision's convention
``{"frame_index": i}``, which is how a row is placed in time. Empty cells (no confidence, no
class) are allowed; a row without a tracker id is refused (run a tracker first, e.g.
``trackers.ByteTrackTracker``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from sammask.errors import TracksFormatError
from sammask.tracks.types import Detection, Tracks
from sammask.io import DuplicateKeyError, loads_json, read_text
from sammask.tracks.validate import DropCounter, DropReason, RowError, RowPlace

SINK_COLUMNS = ("x_min", "y_min", "x_max", "y_max", "class_id", "confidence", "tracker_id")
"""The columns supervision's sinks always write, in order."""
FRAME_KEYS = ("frame_index", "frame_idx", "frame")
"""``custom_data`` keys accepted as the 0-based frame index (the first present is used)."""


def looks_like_sink(text: str) -> bool:
    """True when ``text`` is a supervision CSV (header starts with ``x_min``) or JSON sink file."""
    head = text.lstrip()
    if head.startswith("x_min"):
        return True
    return head.startswith("[") and '"x_min"' in head[:400]


def _cell(row: dict[str, Any], key: str) -> Any:
    v = row.get(key)
    return None if v is None or (isinstance(v, str) and not v.strip()) else v


def _show(v: Any) -> str:
    """A value for a message, at most 40 characters (huge numbers must not make huge lines)."""
    text = str(v)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _num(v: Any, field: str, ctx: RowPlace) -> float:
    try:
        if isinstance(v, bool):
            raise ValueError
        x = float(v)
    except OverflowError:  # a JSON integer beyond float64
        x = math.inf
    except (TypeError, ValueError):
        raise RowError(f"'{_show(v)}' is not a number", reason=DropReason.NOT_A_NUMBER, field=field, **ctx) from None
    if not math.isfinite(x):
        raise RowError(f"{_show(v)} is not finite", reason=DropReason.NOT_FINITE, field=field, **ctx)
    return x


def _int(v: Any, field: str, ctx: RowPlace, reason: DropReason, hint: str = "") -> int:
    x = _num(v, field, ctx)
    if not x.is_integer() or x < 0 or x > 2**63 - 1:
        raise RowError(f"must be an integer in 0..2**63-1, got {_show(v)}{hint}", reason=reason, field=field, **ctx)
    return int(x)


def read_supervision(path: str | os.PathLike[str], *, lenient: bool = False) -> Tracks:
    """Read a ``sv.CSVSink`` or ``sv.JSONSink`` file (with a frame index in ``custom_data``).

    Args:
        path: the ``.csv`` or ``.json`` file.
        lenient: drop malformed rows (counted in :attr:`Tracks.dropped`) instead of raising.

    Returns:
        :class:`Tracks`: ``frame_idx`` from ``frame_index`` (or ``frame_idx`` / ``frame``),
        ``track_id`` from ``tracker_id``, ``score`` from ``confidence`` (1.0 when empty),
        ``class_name`` from ``class_name`` (else None); type 1, selected.

    Raises:
        InputFileError: the file is missing or unreadable.
        TracksFormatError: no frame column, a missing tracker id, or a malformed row (names
            the file, the row and the column).
    """
    src = str(path)
    text = read_text(path)
    if text.lstrip().startswith("["):
        try:
            rows = loads_json(text)
        except DuplicateKeyError as exc:
            raise TracksFormatError(str(exc), path=src) from exc
        except json.JSONDecodeError as exc:
            raise TracksFormatError(f"invalid JSON: {exc.msg}", path=src, location=f"line {exc.lineno} column {exc.colno}") from exc
        except (ValueError, RecursionError) as exc:
            raise TracksFormatError(f"cannot read the JSON ({type(exc).__name__})", path=src) from exc
        if not all(isinstance(r, dict) for r in rows):
            raise TracksFormatError("a supervision JSON sink file is a list of objects", path=src)
        where = "item"
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
        where = "data row"
    keys = set().union(*(r.keys() for r in rows)) if rows else set()
    frame_key = next((k for k in FRAME_KEYS if k in keys), "")
    if rows and not frame_key:
        raise TracksFormatError(
            f"no frame column: append with custom_data={{'frame_index': i}} so each row says its frame (accepted: {', '.join(FRAME_KEYS)})",
            path=src,
            field="frame_index",
        )
    counter = DropCounter(lenient)
    dets: list[Detection] = []
    seen: set[tuple[int, int]] = set()
    for n, row in enumerate(rows, start=1):
        ctx: RowPlace = {"path": src, "location": f"{where} {n}"}
        try:
            tid = _cell(row, "tracker_id")
            if tid is None:
                raise RowError(
                    "empty: untracked detections cannot be masked per track; run a tracker first",
                    reason=DropReason.BAD_TRACK_ID,
                    field="tracker_id",
                    **ctx,
                )
            track_id = _int(tid, "tracker_id", ctx, DropReason.BAD_TRACK_ID)
            frame_idx = _int(_cell(row, frame_key), frame_key, ctx, DropReason.BAD_FRAME)
            x1, y1, x2, y2 = (_num(_cell(row, k), k, ctx) for k in SINK_COLUMNS[:4])
            if x2 <= x1 or y2 <= y1:
                raise RowError(
                    f"box [{x1}, {y1}, {x2}, {y2}] needs x_max > x_min and y_max > y_min",
                    reason=DropReason.ZERO_SIZE if (x2 == x1 or y2 == y1) else DropReason.NEGATIVE_SIZE,
                    field="x_max",
                    **ctx,
                )
            conf = _cell(row, "confidence")
            score = 1.0 if conf is None else _num(conf, "confidence", ctx)
            if not 0.0 <= score <= 1.0:
                raise RowError(f"must be in [0, 1], got {score}", reason=DropReason.BAD_SCORE, field="confidence", **ctx)
            if (frame_idx, track_id) in seen:
                raise RowError(
                    f"tracker_id {track_id} twice on frame {frame_idx}", reason=DropReason.DUPLICATE_TRACK, field="tracker_id", **ctx
                )
            name = _cell(row, "class_name")
            dets.append(Detection(frame_idx, track_id, (x1, y1, x2, y2), score=score, class_name=None if name is None else str(name)))
            seen.add((frame_idx, track_id))
        except RowError as err:
            counter.handle(err)
    counter.log_summary(src)
    tracks = Tracks.from_detections(dets, source=src)
    tracks.dropped = dict(counter.counts)
    return tracks


def from_supervision(frames: Iterable[tuple[int, Any]], *, source: str | None = None) -> Tracks:
    """Tracks from ``(frame_idx, sv.Detections)`` pairs (tracked: ``tracker_id`` set).

    Class names come from ``detections.data["class_name"]`` when present. Values are validated
    up front by :meth:`Tracks.from_arrays`.

    Raises:
        TracksFormatError: detections without ``tracker_id``, or invalid boxes / ids / scores.
    """
    fi: list[int] = []
    ti: list[int] = []
    boxes: list[np.ndarray] = []
    scores: list[float] = []
    names: list[str | None] = []
    for frame_idx, dets in frames:
        n = len(dets)
        if n == 0:
            continue
        if dets.tracker_id is None:
            raise TracksFormatError(f"frame {frame_idx}: sv.Detections without tracker_id; run a tracker first", field="tracker_id")
        fi.extend([frame_idx] * n)
        ti.extend(np.asarray(dets.tracker_id).tolist())
        boxes.append(np.asarray(dets.xyxy, dtype=float).reshape(-1, 4))
        scores.extend(np.ones(n).tolist() if dets.confidence is None else np.asarray(dets.confidence, dtype=float).tolist())
        cn = (dets.data or {}).get("class_name")
        names.extend([None] * n if cn is None else [str(c) for c in cn])
    xyxy = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    return Tracks.from_arrays(fi, ti, xyxy, scores=scores, class_names=names, source=source)
