"""sammask JSON tracks (format ``sammask-tracks``, version 1): reader and writer.

The format carries what the original system's export stores per detection (see
``docs/tracks-format.md`` for the full description and an example)::

    {
        "format": "sammask-tracks",
        "version": 1,
        "frames": [
            {
                "frame_idx": 0,
                "detections": [
                    {"track_id": 1, "bbox": [x1, y1, x2, y2], "type": 1, "object": 1, "score": 0.9},
                    {"track_id": 9, "type": 4, "polygon": [[x, y], [x, y], [x, y]]},
                ],
            }
        ],
    }

Instead of ``"frames"`` a file may hold a flat ``"detections"`` list whose items carry their own
``"frame_idx"``. ``frame_idx`` is 0-based; coordinates are float pixels, ``bbox`` is xyxy.
``type``: 1 auto-detected, 2 user-selected, 3 manual box, 4 polygon (default 1). ``object``:
2 = de-selected by the user, anything else or absent = selected. ``score`` in [0, 1] (default 1).
``class`` (optional): the detector's class name (``"face"``, ``"person"``...).
Unknown keys (top level, frame entries, detections) are ignored with one logged warning per key,
so that newer writers' additions do not break older readers; a higher ``version`` is refused.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter
from typing import Any

from sammask.errors import TracksFormatError
from sammask.geometry import grow_empty_box, polygon_bbox
from sammask.io import DuplicateKeyError, loads_json, read_text, write_text_atomic
from sammask.tracks.types import BBox, Detection, DetectionType, Tracks
from sammask.tracks.validate import (
    DropCounter,
    DropReason,
    RepairReason,
    RowError,
)

logger = logging.getLogger(__name__)

FORMAT_NAME = "sammask-tracks"
"""Value of the top-level ``"format"`` key."""
FORMAT_VERSION = 1
"""The format version this module reads and writes."""
OBJECT_DESELECTED = 2
"""``"object"`` value of a detection the user de-selected (original system's flag)."""
OBJECT_SELECTED = 1
"""``"object"`` value :func:`write_json` writes for selected detections."""

_TOP_KEYS = frozenset({"format", "version", "frames", "detections"})
_FRAME_KEYS = frozenset({"frame_idx", "detections"})
_DET_KEYS = frozenset({"frame_idx", "track_id", "bbox", "type", "object", "score", "polygon", "class"})


def _type_name(v: Any) -> str:
    """JSON name of a parsed value's type (for messages)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


class _Ctx:
    """Where we are in the file, to build :class:`RowError` s."""

    def __init__(self, path: str, location: str) -> None:
        self.path = path
        self.location = location

    def error(self, message: str, reason: DropReason, field: str | None) -> RowError:
        return RowError(message, reason=reason, path=self.path, location=self.location, field=field)


def _is_integral(v: Any) -> bool:
    """True for a JSON integer or an integral float (``3`` or ``3.0``), not a boolean."""
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and v.is_integer())


MAX_INDEX = 2**63 - 1
"""Largest ``frame_idx`` / ``track_id`` accepted (int64; beyond: refused, not an internal error)."""


def _short(v: Any) -> str:
    """``repr(v)`` cut to 40 characters (a 401-digit number must not make a 401-character line)."""
    text = repr(v)
    if isinstance(v, int) and not isinstance(v, bool) and len(text) > 40:
        return f"an integer of {len(text.lstrip('-'))} digits"
    return text if len(text) <= 40 else text[:37] + "..."


def _number(v: Any, field: str, ctx: _Ctx) -> float:
    """A finite JSON number (not a boolean) that a float64 holds (huge integers are refused)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ctx.error(f"must be a number, got {_type_name(v)} {_short(v)}", DropReason.NOT_A_NUMBER, field)
    try:
        f = float(v)
    except OverflowError:  # an integer beyond float64 (about 1.8e308)
        f = math.inf
    if not math.isfinite(f):
        raise ctx.error(f"must be finite, got {_short(v)}", DropReason.NOT_FINITE, field)
    return f


def _integer(v: Any, field: str, ctx: _Ctx, reason: DropReason) -> int:
    """A JSON integer (an integral float such as ``3.0`` is accepted), ``0 <= v <= MAX_INDEX``."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ctx.error(f"must be an integer, got {_type_name(v)} {_short(v)}", DropReason.NOT_A_NUMBER, field)
    if isinstance(v, float) and not v.is_integer():
        raise ctx.error(f"must be an integer, got {_short(v)}", reason, field)
    if v < 0:
        raise ctx.error(f"must be >= 0, got {_short(v)}", reason, field)
    if v > MAX_INDEX:
        raise ctx.error(f"must be <= {MAX_INDEX}, got {_short(v)}", reason, field)
    return int(v)


def _bbox(v: Any, ctx: _Ctx, counter: DropCounter) -> BBox:
    if not isinstance(v, list) or len(v) != 4:
        n = f"{len(v)} values" if isinstance(v, list) else f"{_type_name(v)} {_short(v)}"
        raise ctx.error(f"must be an array [x1, y1, x2, y2] of 4 numbers, got {n}", DropReason.NOT_A_NUMBER, "bbox")
    x1, y1, x2, y2 = (_number(c, "bbox", ctx) for c in v)
    if x2 < x1 or y2 < y1:
        raise ctx.error(
            f"must be [x1, y1, x2, y2] with x2 > x1 and y2 > y1 (pixels), got {[x1, y1, x2, y2]}: negative "
            "width/height (is it [left, top, width, height]? convert to corners)",
            DropReason.NEGATIVE_SIZE,
            "bbox",
        )
    if x2 == x1 or y2 == y1:
        counter.repair(
            ctx.error(f"zero-size box {[x1, y1, x2, y2]}: width and height must be > 0 pixels", DropReason.ZERO_SIZE, "bbox"),
            RepairReason.ZERO_SIZE_PADDED,
        )
        return grow_empty_box((x1, y1, x2, y2))
    return (x1, y1, x2, y2)


def _polygon(v: Any, ctx: _Ctx) -> tuple[tuple[float, float], ...]:
    if not isinstance(v, list) or len(v) < 3:
        got = f"{len(v)} points" if isinstance(v, list) else f"{_type_name(v)}"
        raise ctx.error(f"must be an array of at least 3 [x, y] points, got {got}", DropReason.BAD_POLYGON, "polygon")
    pts = []
    for i, p in enumerate(v):
        if not isinstance(p, list) or len(p) != 2:
            raise ctx.error(f"point {i} must be [x, y], got {_short(p)}", DropReason.BAD_POLYGON, "polygon")
        pts.append((_number(p[0], "polygon", ctx), _number(p[1], "polygon", ctx)))
    # A polygon without area (all points on one line) is kept: validate_tracks masks its box.
    return tuple(pts)


def _detection(d: Any, frame_idx: int | None, ctx: _Ctx, unknown: Counter[str], counter: DropCounter) -> Detection:
    """Parse one detection object. ``frame_idx`` is the enclosing frame's (None when flat).

    The fields are checked in this order (the first flaw is the one reported): ``frame_idx``,
    ``track_id``, ``type``, ``object``, ``score``, ``polygon``, ``bbox``, ``class``.
    """
    if not isinstance(d, dict):
        raise ctx.error(f"a detection must be an object, got {_type_name(d)}", DropReason.NOT_A_NUMBER, None)
    unknown.update(k for k in d if k not in _DET_KEYS)
    frame_idx = _detection_frame(d, frame_idx, ctx)
    track_id = _track_id(d, ctx)
    dtype = _detection_type(d, ctx, counter)
    selected = _selected(d, ctx)
    score = _score(d, ctx, counter)
    dtype, polygon = _polygon_field(d, dtype, ctx, counter, unknown)
    bbox = _bbox_field(d, polygon, ctx, counter)
    class_name = _class_name(d, ctx)
    try:
        return Detection(
            frame_idx=frame_idx,
            track_id=track_id,
            bbox=bbox,
            type=dtype,
            selected=selected,
            score=score,
            polygon=polygon,
            class_name=class_name,
        )
    except TracksFormatError as exc:  # a Detection check not covered above: keep the context
        raise ctx.error(str(exc), DropReason.NOT_A_NUMBER, exc.field) from exc


def _detection_frame(d: dict[str, Any], frame_idx: int | None, ctx: _Ctx) -> int:
    """The detection's own ``frame_idx``, which must agree with its frame entry's, if any."""
    if "frame_idx" in d:
        f = _integer(d["frame_idx"], "frame_idx", ctx, DropReason.BAD_FRAME)
        if frame_idx is not None and f != frame_idx:
            raise ctx.error(f"is {f} but the detection is listed under frame_idx {frame_idx}", DropReason.BAD_FRAME, "frame_idx")
        frame_idx = f
    if frame_idx is None:
        raise ctx.error("missing (each item of a flat 'detections' list needs its frame_idx)", DropReason.MISSING_FIELD, "frame_idx")
    return frame_idx


def _track_id(d: dict[str, Any], ctx: _Ctx) -> int:
    """The ``track_id``; a detection without a usable one is refused in lenient mode too (never
    dropped)."""
    if "track_id" not in d:
        err = ctx.error("missing", DropReason.MISSING_FIELD, "track_id")
        err.droppable = False
        raise err
    try:
        return _integer(d["track_id"], "track_id", ctx, DropReason.BAD_TRACK_ID)
    except RowError as err:
        err.droppable = False
        raise


def _detection_type(d: dict[str, Any], ctx: _Ctx, counter: DropCounter) -> DetectionType:
    """``type`` (default 1); an unknown type next to a ``bbox`` is masked as a drawn box (lenient)."""
    raw_type = d.get("type", int(DetectionType.AUTO))
    try:
        if not _is_integral(raw_type):
            raise ctx.error(f"must be an integer 1..4, got {_type_name(raw_type)} {_short(raw_type)}", DropReason.BAD_TYPE, "type")
        try:
            return DetectionType(int(raw_type))
        except ValueError:
            raise ctx.error(
                f"unknown detection type {_short(raw_type)}; known: 1 auto, 2 user-selected, 3 manual box, 4 polygon",
                DropReason.BAD_TYPE,
                "type",
            ) from None
    except RowError as err:
        if "bbox" not in d:
            raise
        counter.repair(err, RepairReason.BAD_TYPE_AS_BOX)  # lenient: mask the drawn box
        return DetectionType.MANUAL_BOX


def _selected(d: dict[str, Any], ctx: _Ctx) -> bool:
    """False when ``object`` is 2 (de-selected by the user); absent or any other integer: True."""
    obj = d.get("object")
    if obj is not None and not _is_integral(obj):
        raise ctx.error(
            f"must be an integer (2 = de-selected) or absent, got {_type_name(obj)} {_short(obj)}", DropReason.NOT_A_NUMBER, "object"
        )
    return bool(obj != OBJECT_DESELECTED)


def _score(d: dict[str, Any], ctx: _Ctx, counter: DropCounter) -> float:
    """``score`` in [0, 1] (default 1); lenient: clamped, or 1 when not a finite number."""
    score = 1.0
    if d.get("score") is None:
        return score
    try:
        score = _number(d["score"], "score", ctx)
        if not 0.0 <= score <= 1.0:
            raise ctx.error(f"must be in [0, 1], got {score}", DropReason.BAD_SCORE, "score")
    except RowError as err:
        counter.repair(err, RepairReason.BAD_SCORE)  # lenient: the box is still maskable
        score = min(max(score, 0.0), 1.0) if math.isfinite(score) else 1.0
    return score


def _polygon_field(
    d: dict[str, Any], dtype: DetectionType, ctx: _Ctx, counter: DropCounter, unknown: Counter[str]
) -> tuple[DetectionType, tuple[tuple[float, float], ...] | None]:
    """``(type, polygon)``: a type 4's polygon; a bad one next to a ``bbox`` makes it a manual box
    (lenient). A polygon on types 1-3 is ignored (counted as an unknown key)."""
    if dtype != DetectionType.POLYGON:
        if "polygon" in d:
            unknown.update(["polygon (ignored for types 1-3)"])
        return dtype, None
    try:
        if d.get("polygon") is None:
            raise ctx.error("missing: type 4 (area polygon) needs 'polygon': [[x, y], ...]", DropReason.BAD_POLYGON, "polygon")
        return dtype, _polygon(d["polygon"], ctx)
    except RowError as err:
        if "bbox" not in d:
            raise
        counter.repair(err, RepairReason.POLYGON_AS_BOX)  # lenient: mask the given box
        return DetectionType.MANUAL_BOX, None


def _bbox_field(d: dict[str, Any], polygon: tuple[tuple[float, float], ...] | None, ctx: _Ctx, counter: DropCounter) -> BBox:
    """The ``bbox``, or a polygon's bounds (grown to 1 pixel where it is a line) when absent."""
    if "bbox" in d:
        return _bbox(d["bbox"], ctx, counter)
    if polygon is not None:
        return grow_empty_box(polygon_bbox(polygon))
    raise ctx.error("missing: [x1, y1, x2, y2] in pixels", DropReason.MISSING_FIELD, "bbox")


def _class_name(d: dict[str, Any], ctx: _Ctx) -> str | None:
    class_name = d.get("class")
    if class_name is not None and (not isinstance(class_name, str) or not class_name):
        raise ctx.error(
            f'must be a non-empty string (a class name such as "face"), got {_type_name(class_name)} {_short(class_name)}',
            DropReason.NOT_A_NUMBER,
            "class",
        )
    return class_name


def _whole_file_error(message: str, path: str, field: str | None = None) -> TracksFormatError:
    return TracksFormatError(message, path=path, location="top level", field=field)


def read_json(path: str | os.PathLike[str], *, lenient: bool = False) -> Tracks:
    """Read a sammask JSON tracks file (format ``sammask-tracks``, version 1).

    The original system's export (the same detections as a top-level list, without the
    ``format`` / ``version`` wrapper, see :func:`original_export_doc`) is read too.

    Args:
        path: the ``.json`` file.
        lenient: drop detections that cannot be placed (wrong JSON types or NaN/inf in the
            box, negative size, no box, bad frame index) and count them in
            :attr:`Tracks.dropped` by :class:`~sammask.tracks.validate.DropReason` value,
            instead of raising. Flawed detections that can still be masked are kept and counted
            in :attr:`Tracks.repaired` (a track id repeated on a frame, a zero-size box, a bad
            score, an unknown type or a bad polygon next to a box: masked as the box). A
            detection without a usable ``track_id`` is refused in both modes. A malformed
            frame entry drops its detections. Errors of the whole file (JSON syntax, not an
            object, wrong ``format``/``version``, neither ``frames`` nor ``detections``) always
            raise.

    Returns:
        :class:`Tracks` (``source=str(path)``); within a frame, detections keep file order.

    Raises:
        InputFileError: the file is missing or unreadable.
        TracksFormatError: malformed file; the message names the file, the place
            (``line L column C`` for syntax errors, ``frames[i] (frame_idx F), detections[j]``
            or ``detections[j]`` otherwise) and the field.
    """
    src = str(path)
    doc = _load_document(path, src)
    key = _check_header(doc, src)
    reader = _Reader(src, lenient=lenient)
    reader.unknown["top level"].update(k for k in doc if k not in _TOP_KEYS)
    if key == "frames":
        reader.read_frames(doc["frames"])
    else:
        reader.read_flat(doc["detections"])
    return reader.finish()


def _load_document(path: str | os.PathLike[str], src: str) -> dict[str, Any]:
    """The file's JSON object (the original system's top-level list wrapped as version 1).

    Raises:
        InputFileError: the file is missing or unreadable.
        TracksFormatError: not JSON, duplicate keys, too deep, unreadable numbers, not an object.
    """
    text = read_text(path)
    try:
        doc = loads_json(text)
    except DuplicateKeyError as exc:
        raise TracksFormatError(str(exc), path=src) from exc  # any object of the file, not only the top level
    except json.JSONDecodeError as exc:
        raise TracksFormatError(f"invalid JSON: {exc.msg}", path=src, location=f"line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise _whole_file_error("JSON nested too deeply", src) from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits (Python's int limit)
        raise _whole_file_error(f"a number in the file cannot be read ({exc})", src) from exc
    if isinstance(doc, list):  # the original system's export: the list without the wrapper
        doc = original_export_doc(doc)
    if not isinstance(doc, dict):
        raise _whole_file_error(f"must be a JSON object, got {_type_name(doc)}", src)
    return doc


def _check_header(doc: dict[str, Any], src: str) -> str:
    """Check ``format``, ``version`` and the layout; return the layout's key.

    Returns:
        ``"frames"`` or ``"detections"`` (flat), whose value is a list.

    Raises:
        TracksFormatError: another format, an unsupported version, not exactly one layout key,
            or its value not an array.
    """
    if doc.get("format") != FORMAT_NAME:
        raise _whole_file_error(
            f'expected "format": "{FORMAT_NAME}", got {_short(doc.get("format"))} (MOT text files '
            "need a .txt/.csv suffix or format='mot')",
            src,
            "format",
        )
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise _whole_file_error(f"must be an integer, got {_short(version)}", src, "version")
    if version != FORMAT_VERSION:
        newer = " (written by a newer sammask: upgrade)" if version > FORMAT_VERSION else ""
        raise _whole_file_error(
            f"unsupported version {_short(version)}; this sammask reads version {FORMAT_VERSION}{newer}", src, "version"
        )
    has_frames, has_flat = "frames" in doc, "detections" in doc
    if has_frames == has_flat:
        raise _whole_file_error(
            "needs exactly one of 'frames' (list of {frame_idx, detections}) or 'detections' "
            "(flat list)" + (", not both" if has_frames else ""),
            src,
            "frames",
        )
    key = "frames" if has_frames else "detections"
    if not isinstance(doc[key], list):
        raise _whole_file_error(f"must be an array, got {_type_name(doc[key])}", src, key)
    return key


class _Reader:
    """The rows of one file: parsed detections, drop / repair counts, unknown keys, row count."""

    def __init__(self, src: str, *, lenient: bool) -> None:
        self.src = src
        self.lenient = lenient
        self.counter = DropCounter(lenient)
        self.dets: list[Detection] = []
        self.seen: dict[tuple[int, int], str] = {}
        self.rows = 0
        self.unknown: dict[str, Counter[str]] = {"top level": Counter(), "frame entries": Counter(), "detections": Counter()}

    def add(self, d: Any, frame_idx: int | None, location: str) -> None:
        """Parse one detection; keep it, or hand its error to the drop counter (raise / count).
        A track id twice on a frame is refused unless lenient (then both are masked)."""
        ctx = _Ctx(self.src, location)
        self.rows += 1
        try:
            det = _detection(d, frame_idx, ctx, self.unknown["detections"], self.counter)
            k = (det.frame_idx, det.track_id)
            if k in self.seen and not self.lenient:
                raise ctx.error(
                    f"track_id {det.track_id} appears twice on frame_idx {det.frame_idx} (first at {self.seen[k]}); --lenient masks both",
                    DropReason.DUPLICATE_TRACK,
                    "track_id",
                )
        except RowError as err:
            self.counter.handle(err)
            return
        self.seen.setdefault(k, location)
        self.dets.append(det)

    def read_frames(self, entries: list[Any]) -> None:
        """The ``frames`` layout; a malformed frame entry drops (lenient) all its detections."""
        for fi, entry in enumerate(entries):
            ctx = _Ctx(self.src, f"frames[{fi}]")
            try:
                f, items = self._frame_entry(entry, ctx)
            except RowError as err:
                listed = entry.get("detections") if isinstance(entry, dict) else None
                n = len(listed) if isinstance(listed, list) and listed else 1
                self.rows += n
                self.counter.handle(err, n)
                continue
            for di, d in enumerate(items):
                self.add(d, f, f"frames[{fi}] (frame_idx {f}), detections[{di}]")

    def _frame_entry(self, entry: Any, ctx: _Ctx) -> tuple[int, list[Any]]:
        """``(frame_idx, detections)`` of one frame entry."""
        if not isinstance(entry, dict):
            raise ctx.error(f"a frame entry must be an object, got {_type_name(entry)}", DropReason.NOT_A_NUMBER, None)
        self.unknown["frame entries"].update(k for k in entry if k not in _FRAME_KEYS)
        if "frame_idx" not in entry:
            raise ctx.error("missing", DropReason.MISSING_FIELD, "frame_idx")
        f = _integer(entry["frame_idx"], "frame_idx", ctx, DropReason.BAD_FRAME)
        items = entry.get("detections", [])
        if not isinstance(items, list):
            raise ctx.error(f"must be an array, got {_type_name(items)}", DropReason.NOT_A_NUMBER, "detections")
        return f, items

    def read_flat(self, items: list[Any]) -> None:
        """The flat ``detections`` layout: each item carries its ``frame_idx``."""
        for di, d in enumerate(items):
            f = d.get("frame_idx") if isinstance(d, dict) else None
            where = f" (frame_idx {f})" if isinstance(f, int) and not isinstance(f, bool) else ""
            self.add(d, None, f"detections[{di}]{where}")

    def finish(self) -> Tracks:
        """Log unknown keys and the drop / repair summary; the :class:`Tracks` read."""
        for scope, keys in self.unknown.items():
            if keys:
                logger.warning(
                    "%s: ignoring unknown key(s) in %s: %s (this sammask reads %s version %d)",
                    self.src,
                    scope,
                    ", ".join(f"'{k}' x{n}" for k, n in sorted(keys.items())),
                    FORMAT_NAME,
                    FORMAT_VERSION,
                )
        self.counter.log_summary(self.src)
        tracks = Tracks.from_detections(self.dets, source=self.src)
        tracks.dropped = dict(self.counter.counts)
        tracks.repaired = dict(self.counter.repaired)
        tracks.rows = self.rows
        return tracks


def original_export_doc(items: list[Any]) -> dict[str, Any]:
    """Wrap the original system's export (a top-level JSON list) as a version-1 document.

    The export stores either per-frame entries ``[{"frame_idx": 0, "detections": [...]}, ...]``
    or a flat list of detections that carry their own ``frame_idx``; the first item tells
    which. Detections have the same keys as version 1 (``track_id``, ``bbox``, ``type``,
    ``object``, ``score``, ``polygon``).
    """
    per_frame = bool(items) and isinstance(items[0], dict) and "detections" in items[0]
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "frames" if per_frame else "detections": items}


def detection_to_json(det: Detection) -> dict[str, Any]:
    """One detection as a version-1 JSON object (without ``frame_idx``).

    Keys: ``track_id``, ``bbox`` (xyxy pixels), ``type`` (1..4), ``object`` (1 selected,
    2 de-selected), ``score``, ``class`` when known, and ``polygon`` for type 4.

    Raises:
        TracksFormatError: the score is not a finite number in [0, 1].
    """
    if not (math.isfinite(det.score) and 0.0 <= det.score <= 1.0):
        raise TracksFormatError(
            f"score must be in [0, 1], got {det.score}", location=f"frame_idx {det.frame_idx}, track_id {det.track_id}", field="score"
        )
    out: dict[str, Any] = {
        "track_id": det.track_id,
        "bbox": [float(c) for c in det.bbox],
        "type": int(det.type),
        "object": OBJECT_SELECTED if det.selected else OBJECT_DESELECTED,
        "score": float(det.score),
    }
    if det.class_name is not None:
        out["class"] = det.class_name
    if det.type == DetectionType.POLYGON and det.polygon is not None:
        out["polygon"] = [[float(x), float(y)] for x, y in det.polygon]
    return out


def write_json(tracks: Tracks, path: str | os.PathLike[str]) -> None:
    """Write :class:`Tracks` as sammask JSON version 1 (``frames`` layout, one detection per
    line, frames in increasing ``frame_idx``), atomically (temporary file + rename).

    Polygons on detections of types 1-3 are not written (the format stores polygons for type 4
    only).

    Raises:
        TracksFormatError: a score outside [0, 1].
        OutputWriteError: the output folder does not exist or is not writable.
    """
    dumps = json.JSONEncoder(allow_nan=False, separators=(", ", ": ")).encode
    frames = []
    for f in sorted(tracks.by_frame):
        items = ",\n".join("      " + dumps(detection_to_json(d)) for d in tracks.by_frame[f])
        frames.append(f'    {{"frame_idx": {f}, "detections": [\n{items}\n    ]}}')
    body = ",\n".join(frames)
    text = f'{{\n  "format": "{FORMAT_NAME}",\n  "version": {FORMAT_VERSION},\n  "frames": [\n' + (body + "\n" if body else "") + "  ]\n}\n"
    write_text_atomic(path, text)
