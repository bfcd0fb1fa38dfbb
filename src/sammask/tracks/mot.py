"""MOTChallenge text tracks: reader and writer.

Format (one detection per line, A. Milan et al., "MOT16: A Benchmark for Multi-Object
Tracking", arXiv:1603.00831, section 3.3; same in MOT15/17/20)::

    <frame>, <id>, <bb_left>, <bb_top>, <bb_width>, <bb_height>, <conf>, <x>, <y>, <z>

``frame`` is 1-based; boxes are in pixels (left, top, width, height). Files in the wild separate
values by commas or whitespace and carry 6 to 10 (or more) columns; all are accepted, columns
after ``conf`` are ignored. Blank lines and lines starting with ``#`` are skipped.

Inside sammask, ``frame_idx = frame - 1`` and ``bbox = (left, top, left + width, top + height)``;
every MOT detection is :attr:`DetectionType.AUTO` and selected; ``conf == -1`` (unknown) or a
missing ``conf`` column gives score 1.0, other values are clamped to [0, 1].
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from sammask.errors import TracksFormatError
from sammask.io import read_text, write_text_atomic
from sammask.tracks.types import Detection, DetectionType, Tracks
from sammask.tracks.validate import (
    DropCounter,
    DropReason,
    RepairReason,
    RowError,
    RowPlace,
)

logger = logging.getLogger(__name__)

MOT_COLUMNS = ("frame", "id", "bb_left", "bb_top", "bb_width", "bb_height", "conf", "x", "y", "z")
"""MOTChallenge column names (used as field names in error messages)."""

_SPLIT = re.compile(r"\s*,\s*|\s+")

MOT17_CLASSES = {
    1: "pedestrian",
    2: "person_on_vehicle",
    3: "car",
    4: "bicycle",
    5: "motorbike",
    6: "non_motorized_vehicle",
    7: "static_person",
    8: "distractor",
    9: "occluder",
    10: "occluder_on_ground",
    11: "occluder_full",
    12: "reflection",
}
"""Class ids of MOT16/17 ground truth (Milan et al. 2016, table 2; column 8 of ``gt.txt``)."""


def _mot17_gt(fields: list[str]) -> tuple[int, str] | None:
    """``(consider_flag, class_name)`` when a row has MOT16/17 ground-truth layout
    (``frame,id,l,t,w,h,consider,class,visibility``: 9 columns, flag 0/1, class 1-12,
    visibility in [0, 1]), else None (results / detection layout ``conf,x,y,z``)."""
    if len(fields) != 9:
        return None
    try:
        flag, cls, vis = float(fields[6]), float(fields[7]), float(fields[8])
    except ValueError:
        return None
    if flag in (0.0, 1.0) and cls.is_integer() and int(cls) in MOT17_CLASSES and 0.0 <= vis <= 1.0:
        return int(flag), MOT17_CLASSES[int(cls)]
    return None


def _shown(text: str) -> str:
    """``text`` for a message, shortened when very long (a 5000-digit number stays one short line)."""
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _parse_number(text: str, col: int, ctx: RowPlace) -> float:
    """Parse column ``col`` as a finite float (helper of :func:`read_mot`)."""
    name = MOT_COLUMNS[col]
    try:
        value = float(text)
    except ValueError:
        raise RowError(f"'{_shown(text)}' is not a number", reason=DropReason.NOT_A_NUMBER, field=name, **ctx) from None
    if not math.isfinite(value):
        raise RowError(f"{_shown(text)} is not a finite number", reason=DropReason.NOT_FINITE, field=name, **ctx)
    return value


def _parse_integer(text: str, col: int, ctx: RowPlace) -> int | None:
    """Parse column ``col`` as an exact integer (``"7"``, ``"7.0"``, ``"1e3"``), or None when the
    value is a number but not integral. Decimal, not float: ids 2**53 and 2**53 + 1 stay apart.

    Raises:
        RowError: the text is not a finite number.
    """
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RowError(f"'{_shown(text)}' is not a number", reason=DropReason.NOT_A_NUMBER, field=MOT_COLUMNS[col], **ctx) from None
    if not value.is_finite():
        raise RowError(f"{_shown(text)} is not a finite number", reason=DropReason.NOT_FINITE, field=MOT_COLUMNS[col], **ctx)
    if value.adjusted() >= 4000:  # int() refuses more than 4300 digits (CPython's int_max_str_digits)
        raise RowError(
            f"{_shown(text)} is too large for a frame number or id",
            reason=DropReason.NOT_A_NUMBER,
            field=MOT_COLUMNS[col],
            **ctx,
        )
    return int(value) if value == value.to_integral_value() else None


def _parse_line(fields: list[str], ctx: RowPlace, counter: DropCounter) -> tuple[int, int, float, float, float, float, float]:
    """Parse one MOT row into ``(frame, id, left, top, width, height, score)``.

    In lenient mode (``counter.lenient``) a zero-size box is grown to 1 pixel and an invalid
    ``conf`` becomes 1.0 (both counted as repairs): the row can still be masked.

    Raises:
        RowError: on any malformed value, with field and reason; a missing, negative (``-1``:
            untracked det.txt row) or non-integer id is refused even in lenient mode.
    """
    if len(fields) < 6:
        raise RowError(
            f"expected at least 6 columns (frame,id,bb_left,bb_top,bb_width,bb_height[,conf,...]), got {len(fields)}",
            reason=DropReason.COLUMN_COUNT,
            field="columns",
            **ctx,
        )
    frame = _parse_integer(fields[0], 0, ctx)
    left, top, w, h = (_parse_number(fields[c], c, ctx) for c in range(2, 6))
    frame = _checked_frame(frame, fields[0], ctx)
    tid = _track_id(fields[1], ctx)
    w = _size(4, left, w, fields[4], ctx, counter)
    h = _size(5, top, h, fields[5], ctx, counter)
    return frame, tid, left, top, w, h, _score(fields, ctx, counter)


def _checked_frame(frame: int | None, text: str, ctx: RowPlace) -> int:
    """The parsed ``frame`` column: an integer >= 1 (MOT frames are 1-based)."""
    if frame is None:
        raise RowError(f"frame must be an integer, got {text}", reason=DropReason.BAD_FRAME, field="frame", **ctx)
    if frame < 1:
        raise RowError(f"frame must be >= 1 (MOT frames are 1-based), got {text}", reason=DropReason.BAD_FRAME, field="frame", **ctx)
    return frame


def _track_id(text: str, ctx: RowPlace) -> int:
    """The ``id`` column: an integer >= 0; refused in lenient mode too (never dropped)."""
    try:
        tid = _parse_integer(text, 1, ctx)
    except RowError as err:
        err.droppable = False
        raise
    if tid is None or tid < 0:
        hint = (
            "; id -1 marks an untracked detection (det.txt): run a tracker first (sammask never "
            "drops a maskable box silently, so such rows are refused in --lenient mode too)"
            if tid == -1
            else ""
        )
        raise RowError(
            f"track id must be an integer >= 0, got {text}{hint}",
            reason=DropReason.BAD_TRACK_ID,
            field="id",
            droppable=False,
            **ctx,
        )
    return tid


def _size(col: int, start: float, v: float, text: str, ctx: RowPlace, counter: DropCounter) -> float:
    """``bb_width`` (col 4) or ``bb_height`` (col 5) starting at ``start``: negative is an error,
    zero (or too small to change the coordinate) is grown to 1 pixel (lenient repair)."""
    if v < 0:
        raise RowError(
            f"{MOT_COLUMNS[col]} must be > 0 pixels, got {text} (negative)",
            reason=DropReason.NEGATIVE_SIZE,
            field=MOT_COLUMNS[col],
            **ctx,
        )
    if start + v <= start:  # zero, or too small to change the coordinate
        counter.repair(
            RowError(
                f"{MOT_COLUMNS[col]} must be > 0 pixels, got {text} (zero-size box)",
                reason=DropReason.ZERO_SIZE,
                field=MOT_COLUMNS[col],
                **ctx,
            ),
            RepairReason.ZERO_SIZE_PADDED,
        )
        v = max(1.0, math.ulp(start) * 2)
    return v


def _score(fields: list[str], ctx: RowPlace, counter: DropCounter) -> float:
    """The ``conf`` column as a score in [0, 1]; absent or ``-1``: 1; not a number: 1 (lenient)."""
    if len(fields) <= 6:
        return 1.0
    try:
        conf = _parse_number(fields[6], 6, ctx)
    except RowError as err:
        counter.repair(err, RepairReason.BAD_SCORE)
        conf = -1.0
    return 1.0 if conf == -1 else min(max(conf, 0.0), 1.0)


def read_mot(path: str | os.PathLike[str], *, lenient: bool = False) -> Tracks:
    """Read a MOTChallenge text file (``gt.txt``, tracker output) into :class:`Tracks`.

    Args:
        path: the ``.txt`` / ``.csv`` file.
        lenient: drop rows that cannot be placed (wrong column count, non-numeric or NaN/inf
            coordinates, frame < 1, negative size) and count them in :attr:`Tracks.dropped` by
            :class:`DropReason` value, instead of raising. Rows that can still be masked are kept
            and counted in :attr:`Tracks.repaired`: a track id repeated on a frame (both
            masked), a zero-size box (grown to 1 pixel), an invalid ``conf`` (score 1). A row
            without a usable track id (``-1`` of det.txt, negative, non-integer) is refused in
            both modes.

    Returns:
        :class:`Tracks` with 0-based ``frame_idx``, xyxy float ``bbox`` (pixels), type
        :attr:`DetectionType.AUTO`, ``selected=True``, ``source=str(path)``. Within a frame,
        detections keep file order.

    Raises:
        InputFileError: the file is missing or unreadable.
        TracksFormatError: (not lenient) a malformed row; the message names the file, the
            1-based line number and the MOT column (``frame``, ``id``, ``bb_width``...).
    """
    src = str(path)
    counter = DropCounter(lenient)
    dets: list[Detection] = []
    seen: dict[tuple[int, int], int] = {}  # (frame_idx, track_id) -> line number
    not_considered = 0
    rows = 0
    for lineno, fields in _data_rows(read_text(path)):
        ctx: RowPlace = {"path": src, "location": f"line {lineno}"}
        rows += 1
        try:
            det, considered = _row_detection(fields, ctx, counter, seen=None if lenient else seen)
        except RowError as err:
            counter.handle(err)
            continue
        seen.setdefault((det.frame_idx, det.track_id), lineno)
        not_considered += not considered
        dets.append(det)
    counter.log_summary(src)
    if not_considered:
        logger.warning("%s: kept %d MOT ground-truth row(s) with consider flag 0 (privacy first: they are masked)", src, not_considered)
    tracks = Tracks.from_detections(dets, source=src)
    tracks.dropped = dict(counter.counts)
    tracks.repaired = dict(counter.repaired)
    tracks.rows = rows
    logger.debug("%s: read %d MOT detections, %d tracks", src, len(dets), len(tracks.track_ids))
    return tracks


def _data_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """``(1-based line number, fields)`` of each row, without blank lines, ``#`` comments and a
    trailing comma's empty field."""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = _SPLIT.split(line)
        if fields and fields[-1] == "":  # trailing comma
            fields.pop()
        yield lineno, fields


def _row_detection(
    fields: list[str], ctx: RowPlace, counter: DropCounter, *, seen: dict[tuple[int, int], int] | None
) -> tuple[Detection, bool]:
    """One row as a :class:`Detection`, and whether MOT16/17 ground truth considers it (flag 1;
    other layouts: True).

    Raises:
        RowError: a malformed row, or (``seen`` given: strict mode) a track id already seen on
            the frame.
    """
    frame, tid, left, top, w, h, score = _parse_line(fields, ctx, counter)
    key = (frame - 1, tid)
    if seen is not None and key in seen:
        raise RowError(
            f"track id {tid} appears twice on frame {frame} (first on line {seen[key]}); --lenient masks both",
            reason=DropReason.DUPLICATE_TRACK,
            field="id",
            **ctx,
        )
    gt = _mot17_gt(fields)
    if gt is not None:  # MOT16/17 gt: column 7 is the consider flag, not a score
        score = 1.0
    try:
        det = Detection(
            frame_idx=frame - 1,
            track_id=tid,
            bbox=(left, top, left + w, top + h),
            type=DetectionType.AUTO,
            selected=True,
            score=score,
            class_name=None if gt is None else gt[1],
        )
    except RowError:
        raise
    except TracksFormatError as exc:  # a check of Detection not covered above
        raise RowError(str(exc), reason=DropReason.NOT_A_NUMBER, field=exc.field, **ctx) from exc
    return det, gt is None or gt[0] != 0


def _fmt(v: float) -> str:
    """Shortest text that reads back as the same float; integral values without ``.0``."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 2**53 else repr(float(v))


def write_mot(tracks: Tracks, path: str | os.PathLike[str], *, lossy: bool = False) -> None:
    """Write :class:`Tracks` as MOTChallenge text (10 columns, comma separated, 1-based frames).

    Rows: ``frame_idx + 1, track_id, x1, y1, x2 - x1, y2 - y1, score, -1, -1, -1``, sorted by
    frame then file order. Written atomically (temporary file + rename).

    MOT cannot hold the detection type, the selection flag or polygons. Such detections
    (type other than ``AUTO``, ``selected=False``, or a polygon) are refused unless
    ``lossy=True``, which writes their box and logs a warning with the count.

    Args:
        tracks: the detections.
        path: output file.
        lossy: allow dropping type / selection / polygon information.

    Raises:
        TracksFormatError: a detection cannot be represented and ``lossy`` is False.
        OutputWriteError: the output folder does not exist or is not writable.
    """
    lines: list[str] = []
    lost = 0
    for det in tracks:
        if det.type != DetectionType.AUTO or not det.selected or det.polygon is not None:
            if not lossy:
                raise TracksFormatError(
                    f"detection of track {det.track_id} has type {int(det.type)}, "
                    f"selected={det.selected}, polygon={'yes' if det.polygon else 'no'}: MOT "
                    "text cannot store these; write sammask JSON (write_json) or pass lossy=True",
                    path=str(path),
                    location=f"frame_idx {det.frame_idx}",
                    field="type",
                )
            lost += 1
        x1, y1, x2, y2 = det.bbox
        lines.append(
            ",".join(
                (
                    str(det.frame_idx + 1),
                    str(det.track_id),
                    _fmt(x1),
                    _fmt(y1),
                    _fmt(x2 - x1),
                    _fmt(y2 - y1),
                    _fmt(det.score),
                    "-1",
                    "-1",
                    "-1",
                )
            )
        )
    if lost:
        logger.warning(
            "%s: %d detection(s) lost their type / selection / polygon (MOT cannot store them)",
            path,
            lost,
        )
    write_text_atomic(path, "".join(line + "\n" for line in lines))
