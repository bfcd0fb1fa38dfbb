"""sammask: mask people and objects in video along their silhouettes.

Data flows one way: ``media`` (decode) -> ``tracks`` (prompts per frame) -> ``segmentation``
(masks per track) -> ``masking`` (rules + effects) -> ``media`` (encode), with ``pipeline.redact``
wiring the rooms and ``eval`` measuring the applied masks. Importing the package does no work:
the names below are imported from their rooms on first use.

Examples:
    >>> import sammask
    >>> sammask.__version__
    '0.1.0'
    >>> sammask.RedactSettings.__module__
    'sammask.settings'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API: dict[str, str] = {
    # redaction
    "redact": "sammask.pipeline",
    "RunReport": "sammask.pipeline",
    "RedactSettings": "sammask.settings",
    "MaskingOptions": "sammask.masking.options",
    "Sam2Options": "sammask.segmentation.sam2.options",
    # tracks in and out
    "Tracks": "sammask.tracks.types",
    "Detection": "sammask.tracks.types",
    "read_tracks": "sammask.tracks.io",
    "write_tracks": "sammask.tracks.io",
    # video
    "probe": "sammask.media.probe",
    "VideoReader": "sammask.media.reader",
    # interactive annotation
    "Session": "sammask.annotate.session",
    # many videos
    "run_batch": "sammask.batch.runner",
}
"""Public name -> the module that defines it (imported lazily by :func:`__getattr__`)."""

__all__ = [
    "Detection",
    "MaskingOptions",
    "RedactSettings",
    "RunReport",
    "Sam2Options",
    "Session",
    "Tracks",
    "VideoReader",
    "__version__",
    "probe",
    "read_tracks",
    "redact",
    "run_batch",
    "write_tracks",
]

if TYPE_CHECKING:
    from sammask.annotate.session import Session
    from sammask.batch.runner import run_batch
    from sammask.masking.options import MaskingOptions
    from sammask.media.probe import probe
    from sammask.media.reader import VideoReader
    from sammask.pipeline import RunReport, redact
    from sammask.segmentation.sam2.options import Sam2Options
    from sammask.settings import RedactSettings
    from sammask.tracks.io import read_tracks, write_tracks
    from sammask.tracks.types import Detection, Tracks


def __getattr__(name: str) -> Any:
    """Import a public name from its room on first use (PEP 562), so ``import sammask`` stays cheap.

    Raises:
        AttributeError: ``name`` is not part of the public API.
    """
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'sammask' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
