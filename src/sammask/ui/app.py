"""The annotator's web UI (Gradio): open a video, click, propagate, correct, export, redact.

One :class:`~sammask.annotate.Session` per browser tab (held in ``gr.State``). Layout: the
current frame with the masks overlaid (click it: a positive or negative point, or two corners of
a box, for the selected object), a frame slider with step buttons, the object list with colours
(new, select, delete), propagate buttons with a progress bar, undo/reset, the export formats
(the file downloads; folder formats come zipped), and "redact with these masks", which runs
:func:`sammask.annotate.redact.redact_masks` and offers the masked video for download.

Costs on a 2-core CPU: a click runs one backend prediction on the shown frame (classical: one
GrabCut, ~0.1 s at 854x480; SAM 2: the frame's image-encoder pass is cached by the predictor, so
further clicks on the same frame only run the prompt encoder and mask decoder).

Importing this module imports gradio; ``sammask.ui.command`` imports it only when run.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from sammask.annotate import Session
from sammask.errors import SammaskError
from sammask.masking.options import Effect, MaskingOptions
from sammask.spec.options import OPTIONS, Source
from sammask.spec.run import RunSpec, gate
from sammask.ui.image_tab import build_image_tab

logger = logging.getLogger(__name__)

PALETTE = [
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128),
]
"""Object colours (RGB), by ``obj_id`` modulo the palette length."""

MODES = ["positive point", "negative point", "box (2 clicks)"]
FORMATS = ["coco", "png", "yolo", "mots", "tracks"]


def colour(obj_id: int) -> tuple[int, int, int]:
    """The display colour of an object (RGB)."""
    return PALETTE[(obj_id - 1) % len(PALETTE)]


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


def _discard(state: TabState | None) -> None:
    if state is not None:
        state.discard()


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
    for obj_id, m in s.mask(frame_idx).items():
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


def _objects_html(state: TabState) -> str:
    s = state.session
    ids = sorted(set(s.objects) | {state.obj_id}) if s is not None else [state.obj_id]
    items = []
    for o in ids:
        r, g, b = colour(o)
        mark = " (selected)" if o == state.obj_id else ""
        items.append(f'<span style="display:inline-block;margin-right:12px"><span style="display:inline-block;'
                     f'width:12px;height:12px;background:rgb({r},{g},{b});margin-right:4px"></span>'
                     f"object {o}{mark}</span>")
    return "<div id='sammask-objects'>" + "".join(items) + "</div>"


def _choices(state: TabState) -> Any:
    s = state.session
    ids = sorted(set(s.objects if s is not None else []) | {state.obj_id})
    return gr.update(choices=[str(o) for o in ids], value=str(state.obj_id))


def build_app(*, backend: str = "classical", backend_options: dict[str, Any] | None = None,
              video: Path | None = None) -> gr.Blocks:
    """Build the Gradio app (not launched).

    Args:
        backend: annotation backend for opened videos (``classical`` or ``sam2``).
        backend_options: keyword options of the backend.
        video: a video to open in every new tab (else the user uploads one).

    Returns:
        The ``gr.Blocks`` app; ``app.launch(server_name="127.0.0.1", ...)`` serves it.
    """
    from sammask.offline import disable_telemetry

    disable_telemetry()  # Gradio analytics and version check (read at each use), Hugging Face
    options = dict(backend_options or {})

    def _open(state: TabState | None, path: str | None) -> tuple[Any, ...]:
        state = state or TabState()
        if not path:
            return state, gr.update(), None, _choices(state), _objects_html(state), "Upload a video first."
        state.close()
        try:
            state.session = Session.open(path, backend, **options)
        except SammaskError as exc:
            return state, gr.update(), None, _choices(state), _objects_html(state), f"Error: {exc}"
        state.obj_id, state.corner = 1, None
        s = state.session
        status = f"Opened {Path(path).name}: {s.num_frames} frames, {s.shape[1]}x{s.shape[0]}, backend {s.backend.name}."
        return (state, gr.update(minimum=0, maximum=s.num_frames - 1, value=0, step=1), overlay(state, 0),
                _choices(state), _objects_html(state), status)

    def _show(state: TabState | None, frame_idx: float) -> Any:
        return overlay(state, int(frame_idx)) if state is not None and state.session is not None else None

    def _step(state: TabState | None, frame_idx: float, delta: int) -> tuple[Any, Any]:
        if state is None or state.session is None:
            return gr.update(), None
        f = min(max(int(frame_idx) + delta, 0), state.session.num_frames - 1)
        return f, overlay(state, f)

    def _click(state: TabState | None, frame_idx: float, mode: str, evt: gr.SelectData) -> tuple[Any, str]:
        if state is None or state.session is None:
            return None, "Open a video first."
        f = int(frame_idx)
        x, y = float(evt.index[0]) + 0.5, float(evt.index[1]) + 0.5
        try:
            if mode == MODES[2]:
                if state.corner is None:
                    state.corner = (x, y)
                    return overlay(state, f), f"Box: first corner at ({x:.0f}, {y:.0f}); click the opposite corner."
                (x0, y0), state.corner = state.corner, None
                box = (min(x0, x), min(y0, y), max(x0, x), max(y0, y))
                m = state.session.add_box(f, state.obj_id, box)
                what = f"box {tuple(round(v) for v in box)}"
            else:
                label = 1 if mode == MODES[0] else 0
                m = state.session.add_points(f, state.obj_id, [[x, y]], [label])
                what = f"{'positive' if label else 'negative'} point ({x:.0f}, {y:.0f})"
        except SammaskError as exc:
            return overlay(state, f), f"Error: {exc}"
        return overlay(state, f), f"Object {state.obj_id} on frame {f}: {what}; mask {int(m.sum())} pixels."

    def _select(state: TabState | None, value: str | None) -> tuple[str, str]:
        if state is not None and value:
            state.obj_id, state.corner = int(value), None
        return _objects_html(state or TabState()), f"Selected object {value}."

    def _new(state: TabState | None) -> tuple[Any, str, str]:
        state = state or TabState()
        used = set(state.session.objects) if state.session is not None else set()
        state.obj_id = max(used | {state.obj_id}) + 1
        state.corner = None
        return _choices(state), _objects_html(state), f"New object {state.obj_id}: click on it."

    def _delete(state: TabState | None, frame_idx: float) -> tuple[Any, Any, str, str]:
        if state is None or state.session is None:
            return gr.update(), None, "", "Open a video first."
        try:
            state.session.remove_object(state.obj_id)
            msg = f"Deleted object {state.obj_id}."
        except SammaskError as exc:
            msg = f"Error: {exc}"
        objs = state.session.objects
        state.obj_id = objs[0] if objs else 1
        return _choices(state), overlay(state, int(frame_idx)), _objects_html(state), msg

    def _propagate(state: TabState | None, frame_idx: float, direction: str, progress=gr.Progress()) -> tuple[Any, str]:
        if state is None or state.session is None:
            return None, "Open a video first."
        f = int(frame_idx)
        n = 0
        try:
            for _ in state.session.propagate(direction, start=f, progress=lambda d, t: progress((d, t), desc="propagate")):
                n += 1
        except SammaskError as exc:
            return overlay(state, f), f"Error: {exc}"
        return overlay(state, f), f"Propagated {direction} from frame {f}: {n - 1} frames."

    def _propagator(direction: str) -> Any:
        def run(state: TabState | None, frame_idx: float, progress=gr.Progress()) -> tuple[Any, str]:
            return _propagate(state, frame_idx, direction, progress)

        return run

    def _undo(state: TabState | None, frame_idx: float) -> tuple[Any, Any, str, str]:
        if state is None or state.session is None:
            return gr.update(), None, "", "Open a video first."
        what = state.session.undo()
        return (_choices(state), overlay(state, int(frame_idx)), _objects_html(state),
                f"Undid {what}." if what else "Nothing to undo.")

    def _reset(state: TabState | None, frame_idx: float) -> tuple[Any, Any, str, str]:
        if state is None or state.session is None:
            return gr.update(), None, "", "Open a video first."
        state.session.reset()
        state.obj_id, state.corner = 1, None
        return _choices(state), overlay(state, int(frame_idx)), _objects_html(state), "Reset: all prompts and masks removed."

    def _export(state: TabState | None, fmt: str) -> tuple[Any, str]:
        if state is None or state.session is None:
            return None, "Open a video first."
        from sammask.export import DEFAULT_NAMES

        out = Path(tempfile.mkdtemp(dir=state.workdir)) / DEFAULT_NAMES[fmt]
        try:
            gate(RunSpec(command="ui", video=state.session.frames.path, exports=out.parent,
                         export_names=(out.name,)))
            path = state.session.export(out, fmt)
        except SammaskError as exc:
            return None, f"Error: {exc}"
        if path.is_dir():
            path = Path(shutil.make_archive(str(path), "zip", root_dir=path))
        return str(path), f"Exported {fmt}: {path.name}."

    def _redact(state: TabState | None, effect: str, progress=gr.Progress()) -> tuple[Any, str]:
        if state is None or state.session is None:
            return None, "Open a video first."
        from sammask.annotate.redact import redact_masks
        from sammask.settings import RedactSettings

        settings = RedactSettings()
        settings = replace(settings, masking=replace(settings.masking, effect=Effect(effect)))
        out = Path(tempfile.mkdtemp(dir=state.workdir)) / f"{state.session.frames.path.stem}-redacted.mp4"
        try:
            gate(RunSpec(command="ui", video=state.session.frames.path, output=out, source=Source.MASKS,
                         settings=settings))
            report = redact_masks(state.session.frames.path, state.session.mask_source(), out, settings,
                                  progress=lambda x: progress(x, desc="redact"))
        except SammaskError as exc:
            return None, f"Error: {exc}"
        objects = f"{report.tracks} object{'' if report.tracks == 1 else 's'}"
        return str(out), (f"Redacted {report.frames} frames, {objects} "
                          f"({report.fallback_total} box fallbacks): {out.name}.")

    with gr.Blocks(title="sammask annotator") as app:
        state = gr.State(None, delete_callback=_discard)  # called when the tab's session ends
        gr.Markdown("## sammask annotator\nOpen a video, click an object, propagate, correct, export.")
        with gr.Row():
            upload = gr.File(label="Video", file_types=["video"], type="filepath", elem_id="sammask-upload")
            status = gr.Textbox(label="Status", interactive=False, elem_id="sammask-status", lines=2)
        with gr.Row():
            with gr.Column(scale=3):
                image = gr.Image(label="Frame (click to prompt)", interactive=False, type="numpy", format="jpeg",
                                 elem_id="sammask-frame")
                with gr.Row():
                    prev_btn = gr.Button("◀", elem_id="sammask-prev", scale=0)
                    slider = gr.Slider(0, 1, value=0, step=1, label="Frame", elem_id="sammask-slider")
                    next_btn = gr.Button("▶", elem_id="sammask-next", scale=0)
            with gr.Column(scale=1):
                mode = gr.Radio(MODES, value=MODES[0], label="Click adds", elem_id="sammask-mode")
                objects = gr.Dropdown(["1"], value="1", label="Object", elem_id="sammask-object")
                legend = gr.HTML(_objects_html(TabState(session=None)))
                with gr.Row():
                    new_btn = gr.Button("New object", elem_id="sammask-new")
                    del_btn = gr.Button("Delete object", elem_id="sammask-delete")
                with gr.Row():
                    fwd_btn = gr.Button("Propagate ▶", variant="primary", elem_id="sammask-forward")
                    back_btn = gr.Button("◀ Propagate", elem_id="sammask-backward")
                    both_btn = gr.Button("◀ Propagate ▶", elem_id="sammask-both")
                with gr.Row():
                    undo_btn = gr.Button("Undo", elem_id="sammask-undo")
                    reset_btn = gr.Button("Reset", elem_id="sammask-reset")
                fmt = gr.Dropdown(FORMATS, value="coco", label="Export format", elem_id="sammask-format")
                export_btn = gr.Button("Export masks", elem_id="sammask-export")
                export_file = gr.File(label="Export", interactive=False, elem_id="sammask-export-file")
                effect = gr.Dropdown([e.value for e in Effect], value=MaskingOptions().effect.value,
                                     label="Redaction effect", info=OPTIONS["effect"].help_text)
                redact_btn = gr.Button("Redact with these masks", variant="stop", elem_id="sammask-redact")
                redacted = gr.File(label="Redacted video", interactive=False, elem_id="sammask-redacted")

        open_outputs = [state, slider, image, objects, legend, status]
        upload.change(_open, [state, upload], open_outputs)
        if video is not None:
            app.load(lambda st: _open(st, str(video)), [state], open_outputs)
        slider.change(_show, [state, slider], image, show_progress="hidden")
        prev_btn.click(lambda st, f: _step(st, f, -1), [state, slider], [slider, image])
        next_btn.click(lambda st, f: _step(st, f, 1), [state, slider], [slider, image])
        image.select(_click, [state, slider, mode], [image, status])
        objects.change(_select, [state, objects], [legend, status])
        new_btn.click(_new, [state], [objects, legend, status])
        del_btn.click(_delete, [state, slider], [objects, image, legend, status])
        for btn, direction in ((fwd_btn, "forward"), (back_btn, "backward"), (both_btn, "both")):
            btn.click(_propagator(direction), [state, slider], [image, status])
        undo_btn.click(_undo, [state, slider], [objects, image, legend, status])
        reset_btn.click(_reset, [state, slider], [objects, image, legend, status])
        export_btn.click(_export, [state, fmt], [export_file, status])
        redact_btn.click(_redact, [state, effect], [redacted, status])
        build_image_tab(backend=backend, backend_options=backend_options)
    return app
