"""What every tab of the web UI shares: object colours, the per-browser-tab state, the mask
overlay, the object legend and timeline strips, brush strokes, and one-line error messages.

Importing this module does not import gradio.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sammask.annotate import Session
from sammask.palette import OBJECT_COLOURS, object_colour

if TYPE_CHECKING:
    from sammask.segmentation.families import ModelAvailability

PALETTE = [object_colour(i) for i in range(1, len(OBJECT_COLOURS) + 1)]
"""Object colours (RGB), by ``obj_id`` modulo the palette length (:mod:`sammask.palette`)."""


def colour(obj_id: int) -> tuple[int, int, int]:
    """The display colour of an object (RGB)."""
    return object_colour(obj_id)


@dataclass
class TabState:
    """What one browser tab holds.

    Attributes:
        session: the open annotation session, or None before a video is opened.
        obj_id: the selected object.
        corner: first corner ``(x, y)`` of a box being drawn, or None.
        workdir: temporary folder for exports and redacted videos.
    """

    session: Session | None = None
    obj_id: int = 1
    corner: tuple[float, float] | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sammask-ui-")))

    def close(self) -> None:
        """Close the session (the video stays where it is)."""
        if self.session is not None:
            self.session.close()
            self.session = None

    def discard(self) -> None:
        """Close the session and delete the tab's exports and videos (the tab went away)."""
        self.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def discard(state: TabState | None) -> None:
    """``gr.State`` delete callback: drop a closed browser tab's session and files."""
    if state is not None:
        state.discard()


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[/\\][^\s'\"(),;:<>|]+)+")


def models_markdown(models: Sequence[ModelAvailability] | None = None, backend: str = "") -> str:
    """The "Models installed here" table: every ``--model`` choice, its family, the strategies it
    runs, and whether it runs here offline (else why not).

    Args:
        models: :class:`~sammask.segmentation.families.ModelAvailability` rows; None ->
            :func:`~sammask.segmentation.families.installed_models` (cheap: no weights load).
        backend: the annotation backend in use (``sam2`` takes the official ``sam2`` family's
            models; said above the table).

    Returns:
        Markdown text.
    """
    from sammask.segmentation.families import installed_models, model_strategies

    rows = installed_models() if models is None else models
    head = (
        (
            f"Annotation backend **{backend}**"
            + (
                ": takes the `sam2` family's models (`--model`); the others serve `redact`, `batch`, the service and the image tools."
                if backend == "sam2"
                else " (no weights); the models below serve the `sam2` backend (`--backend sam2 --model NAME`), "
                "`redact`, `batch`, the service and the image tools."
            )
            + "\n\n"
        )
        if backend
        else ""
    )
    lines = ["| model | family | strategies | here |", "|---|---|---|---|"]
    for m in rows:
        here = "installed" if m.available else f"no: {m.reason}"
        lines.append(f"| `{m.name}` | {m.family} | {', '.join(model_strategies(m.family))} | {here} |")
    return head + "\n".join(lines)


def error_line(exc: BaseException) -> str:
    """``"Error: ..."`` on one line, every absolute path cut to its file name (the UI's temp
    paths mean nothing to the user and leak the server's layout)."""
    text = " ".join(str(exc).split())
    return "Error: " + _PATH.sub(lambda m: Path(m.group()).name or m.group(), text)


def overlay(state: TabState, frame_idx: int) -> np.ndarray | None:
    """The frame with every object's mask blended in its colour, outlines and the frame's clicks.

    Returns:
        (H, W, 3) uint8 RGB, or None without a session.
    """
    import cv2

    s = state.session
    if s is None:
        return None
    image = np.array(s.frames.frame(frame_idx), copy=True)
    masks = s.mask(frame_idx)
    assert isinstance(masks, dict)  # without obj_id: every object's mask
    for obj_id, m in masks.items():
        c = np.array(colour(obj_id), np.float32)
        image[m] = (0.45 * image[m] + 0.55 * c).astype(np.uint8)
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(image, contours, -1, tuple(int(v) for v in c), 2)
    for (f, obj_id), p in s.prompts().items():
        if f != frame_idx:
            continue
        for (x, y), label in zip(p.points, p.labels):
            cv2.circle(image, (int(x), int(y)), 6, (0, 200, 0) if label else (220, 0, 0), -1)
            cv2.circle(image, (int(x), int(y)), 6, (255, 255, 255), 1)
        if p.box is not None:
            x1, y1, x2, y2 = (int(v) for v in p.box)
            cv2.rectangle(image, (x1, y1), (x2, y2), colour(obj_id), 2)
    if state.corner is not None:
        cv2.drawMarker(image, (int(state.corner[0]), int(state.corner[1])), colour(state.obj_id), cv2.MARKER_CROSS, 16, 2)
    return image


def objects_html(state: TabState) -> str:
    """The object legend: a colour swatch and id per object, the selected one marked."""
    s = state.session
    ids = sorted(set(s.objects) | {state.obj_id}) if s is not None else [state.obj_id]
    items = []
    for o in ids:
        r, g, b = colour(o)
        mark = " (selected)" if o == state.obj_id else ""
        items.append(
            f'<span style="display:inline-block;margin-right:12px"><span style="display:inline-block;'
            f'width:12px;height:12px;background:rgb({r},{g},{b});margin-right:4px"></span>'
            f"object {o}{mark}</span>"
        )
    return "<div id='sammask-objects'>" + "".join(items) + "</div>"


def timeline_html(state: TabState, frame_idx: int) -> str:
    """One strip per object, one cell per frame: dark = prompted frame, object colour = the
    object has a mask there, grey = no mask; the frame on screen is outlined. A click on a cell
    shows its frame (the Video tab's ``TIMELINE_JS``).

    Cells carry ``data-frame`` and the classes ``tl-prompted`` / ``tl-masked`` / ``tl-empty``
    (and ``tl-current``), so the browser tests can read the strip."""
    s = state.session
    if s is None:
        return "<div id='sammask-timeline'></div>"
    rows = []
    ids = sorted(set(s.objects) | {o for _, ms in s.iter_mask_ids() for o in ms})
    for o in ids:
        prompted, masked = s.timeline(o)
        pset, mset = set(prompted), set(masked)
        r, g, b = colour(o)
        cells = []
        for f in range(s.num_frames):
            kind = "tl-prompted" if f in pset else "tl-masked" if f in mset else "tl-empty"
            bg = "#222" if f in pset else f"rgb({r},{g},{b})" if f in mset else "#ddd"
            cur = " tl-current" if f == frame_idx else ""
            outline = "outline:2px solid #000;z-index:1;" if cur else ""
            cells.append(
                f"<span class='tl-cell {kind}{cur}' data-frame='{f}' title='frame {f}' "
                f"style='flex:1;height:14px;cursor:pointer;background:{bg};{outline}'></span>"
            )
        rows.append(
            f"<div class='tl-row' data-obj='{o}' style='display:flex;align-items:center;gap:0;margin:2px 0'>"
            f"<span style='width:70px;font-size:12px'>object {o}</span>"
            f"<span style='display:flex;flex:1;gap:1px'>{''.join(cells)}</span></div>"
        )
    legend = (
        "<div style='font-size:11px;color:#555'>timeline: dark = prompted frame, colour = mask, "
        "grey = no mask, outlined = frame on screen; click a cell to show its frame</div>"
    )
    return f"<div id='sammask-timeline'>{''.join(rows)}{legend if rows else ''}</div>"


_FAR = 1 << 20
"""Stroke coordinates are clipped to +-this many pixels (OpenCV's int range, with room to spare)."""


def stroke_mask(shape: tuple[int, int], points: Sequence[Sequence[float]], radius: int) -> np.ndarray:
    """The pixels a round brush of ``radius`` covers along a polyline (one point: a disc).

    Args:
        shape: ``(H, W)`` of the frame.
        points: (N, 2) ``(x, y)`` pixel coordinates of the stroke, N >= 1, in drawing order
            (points outside the frame are fine: the stroke is clipped).
        radius: brush radius in pixels (at least 1 is used).

    Returns:
        (H, W) bool mask.

    Raises:
        ValueError: no point, or a point that is not a finite ``(x, y)`` pair.
    """
    import cv2

    pts = np.asarray(points, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0 or not np.isfinite(pts).all():
        raise ValueError(f"a stroke needs (N, 2) finite (x, y) points, N >= 1; got shape {pts.shape}")
    r = max(int(radius), 1)
    # the pixel holding each point; absurdly far-off points would overflow OpenCV's int coordinates
    xy = np.floor(np.clip(pts, -_FAR, _FAR)).astype(np.int32)
    m = np.zeros(shape, np.uint8)
    cv2.polylines(m, [xy.reshape(-1, 1, 2)], False, 1, thickness=2 * r)
    for x, y in xy:  # round joints and caps
        cv2.circle(m, (int(x), int(y)), r, 1, thickness=-1)
    return m.astype(bool)
