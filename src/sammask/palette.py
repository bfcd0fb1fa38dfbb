"""Object colours for overlays and contact sheets (the eval sheet, ``sammask label``, the UI).

Sasha Trubetskoy's "List of 20 Simple, Distinct Colors" (2017), its first ten, in RGB: distinct
for most colour-vision types and on both dark and light footage.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

OBJECT_COLOURS: npt.NDArray[np.uint8] = np.array(
    [
        [230, 25, 75],
        [60, 180, 75],
        [255, 225, 25],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [210, 245, 60],
        [250, 190, 212],
    ],
    dtype=np.uint8,
)
"""(10, 3) uint8 RGB, indexed by ``(obj_id - 1) % 10`` (:func:`object_colour`)."""


def object_colour(obj_id: int) -> tuple[int, int, int]:
    """The RGB colour of object ``obj_id`` (>= 1; 0 and negatives wrap around too)."""
    r, g, b = (int(v) for v in OBJECT_COLOURS[(obj_id - 1) % len(OBJECT_COLOURS)])
    return r, g, b
