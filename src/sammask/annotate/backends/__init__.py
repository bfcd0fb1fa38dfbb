"""Annotation backends: ``classical`` (GrabCut + optical flow, no weights) and ``sam2``."""

from sammask.annotate.backends.base import AnnotateBackend

__all__ = ["AnnotateBackend"]
