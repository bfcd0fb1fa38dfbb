"""Interactive annotation: click points or draw boxes on any frame, propagate, correct, export.

Entry point: :class:`Session` (``Session.open(video, backend="classical" | "sam2")``).
"""

from sammask.annotate.session import BACKENDS, Session, build_backend
from sammask.annotate.types import Direction, ObjectPrompt

__all__ = ["BACKENDS", "Direction", "ObjectPrompt", "Session", "build_backend"]
