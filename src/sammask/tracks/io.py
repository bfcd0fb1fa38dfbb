"""Format-agnostic entry points: read or write tracks choosing MOT text or sammask JSON."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from sammask.errors import ConfigError
from sammask.tracks.jsonfmt import read_json, write_json
from sammask.tracks.mot import read_mot, write_mot
from sammask.tracks.types import Tracks
from sammask.io import read_text

TracksFormat = Literal["auto", "mot", "json", "supervision"]
"""``"mot"`` (MOTChallenge text), ``"json"`` (sammask JSON, or the original export's top-level
list), ``"supervision"`` (``sv.CSVSink`` / ``sv.JSONSink`` files, read only) or ``"auto"``."""

MOT_SUFFIXES = (".txt", ".csv")
JSON_SUFFIXES = (".json",)


def detect_format(path: str | os.PathLike[str]) -> Literal["mot", "json", "supervision"]:
    """Guess a tracks file's format: ``.txt``/``.csv`` -> ``"mot"``, ``.json`` -> ``"json"``;
    any other suffix: ``"json"`` if the first non-blank character is ``{`` or ``[``, else
    ``"mot"``. For ``.csv`` and ``.json``/other files the content is checked first: a
    supervision sink file (header / keys starting with ``x_min``) -> ``"supervision"``.

    Raises:
        InputFileError: the file is missing or unreadable (only when the content is sniffed).
        TracksFormatError: the file is not UTF-8 text (only when the content is sniffed).
    """
    from sammask.tracks.supervision import looks_like_sink

    suffix = Path(path).suffix.lower()
    if suffix == ".txt":
        return "mot"
    text = read_text(path)
    if looks_like_sink(text):
        return "supervision"
    if suffix in MOT_SUFFIXES:
        return "mot"
    if suffix in JSON_SUFFIXES:
        return "json"
    return "json" if text.lstrip()[:1] in ("{", "[") else "mot"


def _check_format(format: str) -> None:
    if format not in ("auto", "mot", "json", "supervision"):
        raise ConfigError(f"tracks format must be 'auto', 'mot', 'json' or 'supervision', got {format!r}")


def read_tracks(path: str | os.PathLike[str], format: TracksFormat = "auto", *, lenient: bool = False) -> Tracks:
    """Read a tracks file: MOTChallenge text (:func:`~sammask.tracks.mot.read_mot`) or sammask
    JSON (:func:`~sammask.tracks.jsonfmt.read_json`).

    Args:
        path: the tracks file.
        format: ``"auto"`` (see :func:`detect_format`), ``"mot"`` or ``"json"``.
        lenient: drop and count malformed rows instead of raising (see the readers).

    Returns:
        :class:`Tracks` with 0-based ``frame_idx`` and xyxy float pixel boxes. Check it against
        the video with :func:`~sammask.tracks.validate.validate_tracks`.

    Raises:
        InputFileError: the file is missing or unreadable.
        TracksFormatError: the file is malformed (message names file, line / detection, field).
        ConfigError: ``format`` is not one of the three values.

    Examples:
        Write tracks as sammask JSON and read them back (the suffix picks the format):

        >>> import tempfile
        >>> from pathlib import Path
        >>> from sammask import Detection, Tracks, read_tracks, write_tracks
        >>> path = Path(tempfile.mkdtemp()) / "tracks.json"
        >>> write_tracks(Tracks.from_detections([Detection(0, 1, (4.0, 4.0, 20.0, 30.0))]), path)
        >>> [(d.frame_idx, d.track_id, d.bbox) for d in read_tracks(path)]
        [(0, 1, (4.0, 4.0, 20.0, 30.0))]
    """
    _check_format(format)
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "mot":
        return read_mot(path, lenient=lenient)
    if fmt == "supervision":
        from sammask.tracks.supervision import read_supervision

        return read_supervision(path, lenient=lenient)
    return read_json(path, lenient=lenient)


def write_tracks(tracks: Tracks, path: str | os.PathLike[str], format: TracksFormat = "auto") -> None:
    """Write tracks as MOT text (``.txt``/``.csv`` or ``format="mot"``) or sammask JSON
    (anything else, or ``format="json"``).

    Raises:
        TracksFormatError: MOT cannot store a detection's type / selection / polygon (use JSON).
        OutputWriteError: the output folder does not exist or is not writable.
        ConfigError: ``format`` is not one of the three values.
    """
    _check_format(format)
    if format == "supervision":
        raise ConfigError("supervision sink files are read only; write 'json' or 'mot'")
    if format == "mot" or (format == "auto" and Path(path).suffix.lower() in MOT_SUFFIXES):
        write_mot(tracks, path)
    else:
        write_json(tracks, path)
