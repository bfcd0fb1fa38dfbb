"""Detections with track ids: dataclasses, readers and writers (MOT text, sammask JSON)."""

from sammask.tracks.types import BBox, Detection, DetectionType, Tracks

__all__ = ["BBox", "Detection", "DetectionType", "Tracks"]
