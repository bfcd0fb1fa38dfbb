"""The Image tab of ``sammask ui``: upload a photo, click / box an object, pick among the
candidate masks, segment everything, download the cut-out and the masks.

Same backends as ``sammask image`` (:mod:`sammask.image`): ``classical`` (GrabCut /
Felzenszwalb, no weights) or ``sam2`` (the image encoder runs once per photo; further clicks run
only the prompt encoder and mask decoder). The photo is read with
:func:`~sammask.image.load.load_image`, so clicks are in the upright image (EXIF applied).
Downloads are written through :mod:`sammask.io` into the tab's temporary folder.

Importing this module imports gradio (``sammask.ui.app`` registers the tab).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from sammask.errors import SammaskError

IMAGE_MODES = ["positive point", "negative point", "box (2 clicks)"]


@dataclass
class ImageTabState:
    """What one browser tab's Image tab holds.

    Attributes:
        backend: the image backend (built on the first upload).
        image: (H, W, 3) uint8 RGB upright photo, or None.
        name: the photo's file stem (for download names).
        points: ``(x, y, label)`` clicks on the current object.
        box: ``(x1, y1, x2, y2)`` or None.
        corner: first corner of a box being drawn, or None.
        candidates: the backend's candidates for the prompts, best first.
        everything: the masks of the last "segment everything".
        workdir: temporary folder for downloads.
    """

    backend: Any = None
    image: np.ndarray | None = None
    name: str = "image"
    points: list[tuple[float, float, int]] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    corner: tuple[float, float] | None = None
    candidates: list[Any] = field(default_factory=list)
    everything: list[Any] = field(default_factory=list)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sammask-ui-image-")))

    def reset_prompts(self) -> None:
        """Forget the clicks, the box and the candidates."""
        self.points, self.box, self.corner, self.candidates = [], None, None, []

    def discard(self) -> None:
        """Delete the tab's downloads (the browser tab went away)."""
        shutil.rmtree(self.workdir, ignore_errors=True)


def _discard(state: ImageTabState | None) -> None:
    if state is not None:
        state.discard()


def render(state: ImageTabState, chosen: int = 0) -> np.ndarray | None:
    """The photo with the chosen candidate tinted blue (or the everything masks), the clicks
    (green = object, red = background) and the box drawn."""
    import cv2

    if state.image is None:
        return None
    out = state.image.copy()
    if state.candidates:
        m = state.candidates[min(chosen, len(state.candidates) - 1)].mask
        out[m] = ((out[m].astype(np.uint16) + np.array([0, 90, 255])) // 2).astype(np.uint8)
    elif state.everything:
        from sammask.image.command import overlay

        out = overlay(out, [m.mask for m in state.everything])
    r = max(3, min(out.shape[:2]) // 120)
    for x, y, lab in state.points:
        cv2.circle(out, (int(x), int(y)), r, (0, 200, 0) if lab == 1 else (220, 0, 0), -1)
    if state.box is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in state.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), (255, 200, 0), max(1, r // 2))
    if state.corner is not None:
        cv2.circle(out, (int(state.corner[0]), int(state.corner[1])), r, (255, 200, 0), 1)
    return out


def _choices(state: ImageTabState) -> Any:
    labels = [f"{i + 1}: score {c.score:.2f}, {int(c.mask.sum())} px" for i, c in enumerate(state.candidates)]
    return gr.update(choices=labels, value=labels[0] if labels else None)


def _chosen(state: ImageTabState, label: str | None) -> int:
    if not label or not state.candidates:
        return 0
    return max(0, min(int(label.split(":")[0]) - 1, len(state.candidates) - 1))


def _backend(backend: str, opts: dict[str, Any]) -> Any:
    """Build the image backend ``backend`` with the tab's options (``model``, ``checkpoint``, ``device``)."""
    from sammask.image.command import make_backend

    return make_backend(backend, opts.get("model"), opts.get("checkpoint"), opts.get("device"))


def _upload(state: ImageTabState | None, path: str | None, backend: str, opts: dict[str, Any]) -> tuple[Any, ...]:
    """Load the photo at ``path`` and set it on the backend (built on the first upload)."""
    from sammask.image.load import load_image

    state = state or ImageTabState()
    if not path:
        return state, None, gr.update(choices=[], value=None), "Upload a photo."
    try:
        loaded = load_image(Path(path))
        if state.backend is None:
            state.backend = _backend(backend, opts)
        state.backend.set_image(loaded.rgb)
    except SammaskError as exc:
        return state, None, gr.update(choices=[], value=None), f"Error: {exc}"
    state.image, state.name = loaded.rgb, Path(path).stem
    state.reset_prompts()
    state.everything = []
    h, w = loaded.rgb.shape[:2]
    note = "" if loaded.orientation == 1 else f" (EXIF orientation {loaded.orientation} applied)"
    return state, render(state), gr.update(choices=[], value=None), f"Photo {w}x{h}{note}. Click the object."


def _click(state: ImageTabState | None, mode: str, evt: gr.SelectData) -> tuple[Any, ...]:
    from sammask.image.types import Prompt

    if state is None or state.image is None:
        return state, None, gr.update(), "Upload a photo first."
    x, y = float(evt.index[0]), float(evt.index[1])
    if mode == IMAGE_MODES[2]:
        if state.corner is None:
            state.corner = (x, y)
            return state, render(state), gr.update(), "Box: click the opposite corner."
        (ax, ay), state.corner = state.corner, None
        if abs(x - ax) < 2 or abs(y - ay) < 2:
            return state, render(state), gr.update(), "Box too small: click two opposite corners."
        state.box = (min(ax, x), min(ay, y), max(ax, x), max(ay, y))
    else:
        state.points.append((x, y, 1 if mode == IMAGE_MODES[0] else 0))
    pts = [(p[0], p[1]) for p in state.points]
    labs = [p[2] for p in state.points]
    try:
        prompt = Prompt(points=np.array(pts, np.float32).reshape(-1, 2), labels=np.array(labs, np.int32), box=state.box)
        state.everything = []
        state.candidates = state.backend.predict(prompt, multimask=True)
    except SammaskError as exc:
        return state, render(state), gr.update(), f"Error: {exc}"
    best = state.candidates[0]
    return (
        state,
        render(state),
        _choices(state),
        f"{len(state.candidates)} candidate(s); best score {best.score:.2f}, {int(best.mask.sum())} px.",
    )


def _pick(state: ImageTabState | None, label: str | None) -> Any:
    if state is None or state.image is None:
        return None
    return render(state, _chosen(state, label))


def _reset(state: ImageTabState | None) -> tuple[Any, ...]:
    if state is None:
        return state, None, gr.update(choices=[], value=None), "Upload a photo first."
    state.reset_prompts()
    state.everything = []
    return state, render(state), gr.update(choices=[], value=None), "Prompts cleared."


def _everything(state: ImageTabState | None) -> tuple[Any, ...]:
    from sammask.image.api import segment_everything
    from sammask.image.command import everything_coco
    from sammask.io import write_text_atomic

    if state is None or state.image is None:
        return state, None, None, "Upload a photo first."
    try:
        state.everything = segment_everything(state.image, state.backend)
    except SammaskError as exc:
        return state, render(state), None, f"Error: {exc}"
    state.reset_prompts()
    h, w = state.image.shape[:2]
    out = state.workdir / f"{state.name}.everything.coco.json"
    write_text_atomic(out, json.dumps(everything_coco(state.everything, f"{state.name}", w, h)) + "\n")
    return state, render(state), str(out), f"{len(state.everything)} masks ({state.backend.name})."


def _download(state: ImageTabState | None, label: str | None, what: str) -> tuple[Any, str]:
    from sammask.image.api import cutout
    from sammask.image.load import encode_png
    from sammask.io import write_bytes_atomic

    if state is None or state.image is None or not state.candidates:
        return None, "Click an object first."
    mask = state.candidates[_chosen(state, label)].mask
    data = cutout(state.image, [mask]) if what == "cutout" else mask
    out = state.workdir / f"{state.name}.{what}.png"
    write_bytes_atomic(out, encode_png(data))
    return str(out), f"{what} ready: {out.name}."


@dataclass(frozen=True)
class ImageTabComponents:
    """The Image tab's components: the upload and status row, the photo view, and the controls
    column (click mode, candidates, buttons, download)."""

    upload: gr.File
    status: gr.Textbox
    image: gr.Image
    mode: gr.Radio
    candidates: gr.Radio
    reset_btn: gr.Button
    everything_btn: gr.Button
    cutout_btn: gr.Button
    mask_btn: gr.Button
    download: gr.File


def _image_controls() -> tuple[gr.Radio, gr.Radio, gr.Button, gr.Button, gr.Button, gr.Button, gr.File]:
    """The controls column: click mode, candidate masks, Clear / Segment everything, the two
    downloads and the download file (call inside the column)."""
    mode = gr.Radio(IMAGE_MODES, value=IMAGE_MODES[0], label="Click adds", elem_id="sammask-image-mode")
    candidates = gr.Radio([], label="Candidate masks", elem_id="sammask-image-candidates")
    reset_btn = gr.Button("Clear prompts", elem_id="sammask-image-reset")
    everything_btn = gr.Button("Segment everything", elem_id="sammask-image-everything")
    cutout_btn = gr.Button("Cut-out (PNG with transparency)", variant="primary", elem_id="sammask-image-cutout")
    mask_btn = gr.Button("Mask (PNG)", elem_id="sammask-image-mask")
    download = gr.File(label="Download", interactive=False, elem_id="sammask-image-download")
    return mode, candidates, reset_btn, everything_btn, cutout_btn, mask_btn, download


def _image_layout() -> ImageTabComponents:
    """Build the tab's layout (call inside the tab)."""
    with gr.Row():
        upload = gr.File(label="Photo", file_types=["image"], type="filepath", elem_id="sammask-image-upload")
        status = gr.Textbox(label="Status", interactive=False, elem_id="sammask-image-status", lines=2)
    with gr.Row():
        with gr.Column(scale=3):
            image = gr.Image(label="Photo (click to prompt)", interactive=False, type="numpy", format="png", elem_id="sammask-image-view")
        with gr.Column(scale=1):
            controls = _image_controls()
    return ImageTabComponents(upload, status, image, *controls)


def _wire_prompts(state: gr.State, ui: ImageTabComponents, *, backend: str, opts: dict[str, Any]) -> None:
    """Upload, clicks, the candidate choice and Clear prompts."""

    def upload(st: ImageTabState | None, path: str | None) -> tuple[Any, ...]:
        return _upload(st, path, backend, opts)

    ui.upload.change(upload, [state, ui.upload], [state, ui.image, ui.candidates, ui.status])
    ui.image.select(_click, [state, ui.mode], [state, ui.image, ui.candidates, ui.status])
    ui.candidates.change(_pick, [state, ui.candidates], ui.image, show_progress="hidden")
    ui.reset_btn.click(_reset, [state], [state, ui.image, ui.candidates, ui.status])


def _wire_downloads(state: gr.State, ui: ImageTabComponents) -> None:
    """Segment everything (its COCO file) and the cut-out / mask downloads."""
    ui.everything_btn.click(_everything, [state], [state, ui.image, ui.download, ui.status])
    ui.cutout_btn.click(lambda st, c: _download(st, c, "cutout"), [state, ui.candidates], [ui.download, ui.status])
    ui.mask_btn.click(lambda st, c: _download(st, c, "mask"), [state, ui.candidates], [ui.download, ui.status])


def build_image_tab(*, backend: str = "classical", backend_options: dict[str, Any] | None = None) -> None:
    """Add the Image tab to the ``gr.Blocks`` being built (call inside ``with gr.Blocks()``).

    Args:
        backend: ``classical`` or ``sam2``.
        backend_options: sam2 only: ``model``, ``checkpoint``, ``device``.
    """
    with gr.Tab("Image", elem_id="sammask-image-tab"):
        state = gr.State(None, delete_callback=_discard)
        ui = _image_layout()
        _wire_prompts(state, ui, backend=backend, opts=dict(backend_options or {}))
        _wire_downloads(state, ui)
