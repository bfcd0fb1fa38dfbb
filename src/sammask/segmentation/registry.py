"""Name -> segmenter class registry. A new segmenter is one new file plus one line here.

Classes are imported lazily so that importing sammask never imports torch or OpenCV models.
"""

from __future__ import annotations

import importlib
from typing import Any

from sammask.errors import ConfigError
from sammask.segmentation.base import Segmenter

SEGMENTERS: dict[str, str] = {
    "box": "sammask.segmentation.box:BoxSegmenter",
    "grabcut": "sammask.segmentation.grabcut:GrabCutSegmenter",
    "sam2": "sammask.segmentation.sam2.segmenter:Sam2Segmenter",
}


def build_segmenter(name: str, **options: Any) -> Segmenter:
    """Build the segmenter registered as ``name`` with keyword ``options``.

    Raises:
        ConfigError: if ``name`` is not registered.
    """
    try:
        target = SEGMENTERS[name]
    except KeyError:
        raise ConfigError(f"unknown segmenter '{name}': choose one of {', '.join(sorted(SEGMENTERS))}") from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**options)
