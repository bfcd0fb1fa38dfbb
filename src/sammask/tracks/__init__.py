"""Detections with track ids: dataclasses, readers and writers (MOT text, sammask JSON)."""

from sammask.tracks.io import detect_format, read_tracks, write_tracks
from sammask.tracks.jsonfmt import read_json, write_json
from sammask.tracks.mot import read_mot, write_mot
from sammask.tracks.types import BBox, Detection, DetectionType, Tracks
from sammask.tracks.validate import DropReason, validate_tracks

__all__ = [
    "BBox",
    "Detection",
    "DetectionType",
    "DropReason",
    "Tracks",
    "detect_format",
    "read_json",
    "read_mot",
    "read_tracks",
    "validate_tracks",
    "write_json",
    "write_mot",
    "write_tracks",
]
