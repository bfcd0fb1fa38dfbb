"""Contact sheets: a few frames of a sequence side by side, so a reviewer sees what leaked.

Each row is one (configuration, frame) with four panels, downscaled to ``panel_width`` pixels:

1. the input frame;
2. the ground truth: object ids in distinct colours over the dimmed frame;
3. the applied mask: white where the effect was applied, black elsewhere, **magenta** on GT
   object pixels left unmasked (leaked); any leaked pixel stays visible after downscaling;
4. the output frame, with the leaked pixels painted magenta too.

A caption above the row gives the configuration, the frame index and the frame's leak in percent.
The sheet is saved as a palette PNG (128 colours) to stay small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sammask.palette import OBJECT_COLOURS
from sammask.errors import EvalError

LEAK_RGB = (255, 0, 255)
"""Magenta: leaked GT pixels."""


@dataclass(frozen=True, slots=True)
class SheetRow:
    """One row of a contact sheet.

    Attributes:
        label: configuration name (e.g. ``grabcut:dilate=8``).
        frame_idx: 0-based frame index.
        image: (H, W, 3) uint8 RGB input frame.
        gt_ids: (H, W) uint8 GT object ids, 0 = background.
        applied: (H, W) bool pixels the effect replaced.
        output: (H, W, 3) uint8 RGB output frame (decoded from the redacted video).
        leak: the frame's leak as a fraction (worst object, see :mod:`sammask.eval.metrics`).
    """

    label: str
    frame_idx: int
    image: np.ndarray
    gt_ids: np.ndarray
    applied: np.ndarray
    output: np.ndarray
    leak: float


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _leak_small(leaked: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Downscale a bool mask so that any leaked pixel keeps its panel pixel marked."""
    import cv2

    return cv2.resize(leaked.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0


def render_row(row: SheetRow, panel_width: int = 240) -> np.ndarray:
    """Render one row (caption + 4 panels) as (h, 4 * panel_width, 3) uint8 RGB.

    Raises:
        EvalError: if the arrays of the row disagree in size.
    """
    import cv2

    h, w = row.gt_ids.shape
    for name, arr in (("image", row.image), ("applied", row.applied), ("output", row.output)):
        if arr.shape[:2] != (h, w):
            raise EvalError(f"contact sheet: {name} is {arr.shape[:2]}, GT is {(h, w)} (frame {row.frame_idx})")
    size = (panel_width, max(1, round(h * panel_width / w)))
    applied = row.applied.astype(bool, copy=False)
    leaked = (row.gt_ids > 0) & ~applied
    leak_small = _leak_small(leaked, size)

    inp = _resize(row.image, size)
    colours = OBJECT_COLOURS[(row.gt_ids.astype(np.int64) - 1) % len(OBJECT_COLOURS)]
    gt = np.where(row.gt_ids[..., None] > 0, colours, row.image // 3).astype(np.uint8)
    gt = _resize(gt, size)
    mask = np.where(applied[..., None], np.uint8(255), np.uint8(0)).repeat(3, axis=2)
    mask = _resize(mask, size)
    mask[leak_small] = LEAK_RGB
    out = _resize(row.output, size).copy()
    out[leak_small] = LEAK_RGB

    panels = np.concatenate([inp, gt, mask, out], axis=1)
    caption = np.full((18, panels.shape[1], 3), 255, np.uint8)
    text = f"{row.label} | frame {row.frame_idx} | leak {100 * row.leak:.2f}%"
    colour = (200, 0, 200) if row.leak > 0.01 else (0, 0, 0)
    cv2.putText(caption, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, colour, 1, cv2.LINE_AA)
    return np.concatenate([caption, panels], axis=0)


def write_contact_sheet(rows: Sequence[SheetRow], path: Path, *, title: str = "", panel_width: int = 200) -> Path:
    """Render rows under a header (``title`` and the column names) and save a palette PNG.

    Args:
        rows: the rows, top to bottom.
        path: output ``.png`` (parent folders are created).
        title: header text (e.g. the sequence name).
        panel_width: width of each panel in pixels.

    Returns:
        ``path``.

    Raises:
        EvalError: if ``rows`` is empty or rows disagree in size.
    """
    import cv2
    from PIL import Image

    if not rows:
        raise EvalError("contact sheet needs at least one row")
    rendered = [render_row(r, panel_width) for r in rows]
    width = rendered[0].shape[1]
    if any(r.shape[1] != width for r in rendered):
        raise EvalError("contact sheet rows differ in width (frames of different sizes?)")
    header = np.full((22, width, 3), 255, np.uint8)
    names = ("input", "ground truth", "applied (magenta = leaked)", "output")
    for i, name in enumerate(names):
        cv2.putText(header, name, (i * panel_width + 4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    parts = [header, *rendered]
    if title:
        top = np.full((22, width, 3), 255, np.uint8)
        cv2.putText(top, title, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        parts.insert(0, top)
    sheet = np.concatenate(parts, axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    import io

    from sammask.io import write_bytes_atomic

    buf = io.BytesIO()
    Image.fromarray(sheet).quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(buf, format="PNG", optimize=True)
    write_bytes_atomic(path, buf.getvalue())
    return path
