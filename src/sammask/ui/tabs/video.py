"""The Video tab: open a video, prompt objects, propagate (streamed, cancellable), correct,
paint, undo, export, redact.

Layout: the current frame with the masks overlaid (a click adds a positive or negative point,
a box corner, or paints / erases a disc of the selected object's mask, by the mode chosen; in
brush / eraser mode a drag paints / erases a stroke, :data:`STROKE_JS`), a frame slider with
step buttons, one timeline strip per object (prompted frames and frames with masks; clicking a
cell shows that frame, :data:`TIMELINE_JS`), the object list, the propagate buttons (whole
video / forward / backward from each object's prompted frames:
:meth:`~sammask.annotate.Session.propagate_prompts`) with Cancel, undo (the selected object's
last step), mask import (every format :func:`sammask.export.read_masks` reads, folders zipped;
into the frame on screen or every frame the file holds), export and "redact with these masks".
Keyboard shortcuts are listed in the page (:data:`SHORTCUTS`).

Brush and eraser: a click or a drag is one :meth:`~sammask.annotate.Session.add_mask` of the
selected object on the shown frame (its mask with the stroke added or removed), so one undo
removes a whole stroke. The browser sends a drag's polyline when the mouse button is released.

Propagation streams: every :data:`STREAM_EVERY` frames the view shows the frame just
propagated with its masks, the status counts frames and the timeline fills in; Cancel calls
:meth:`~sammask.annotate.Session.cancel` and the frames done so far stay.

Costs on a 2-core CPU: a click runs one backend prediction on the shown frame (classical: one
GrabCut on a region of interest at most 320 px; SAM 2: the frame's image-encoder pass is cached
by the predictor, so further clicks on the same frame only run the prompt and mask decoders).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from sammask.annotate import Session
from sammask.errors import SammaskError
from sammask.export.packed import stage_masks_upload, upload_format
from sammask.masking.options import Effect, MaskingOptions
from sammask.spec.options import OPTIONS, Source
from sammask.spec.run import RunSpec, gate
from sammask.ui.common import (
    TabState,
    discard,
    error_line,
    models_markdown,
    objects_html,
    overlay,
    stroke_mask,
    timeline_html,
)
from sammask.ui.matte_tab import add_matte_controls

MODES = ["positive point", "negative point", "box (2 clicks)", "brush", "eraser"]
FORMATS = ["coco", "png", "yolo", "mots", "tracks"]
DIRECTIONS = {"whole video": "both", "forward": "forward", "backward": "backward"}
STREAM_EVERY = 4
"""Propagation shows its latest frame every this many frames."""

SHORTCUTS = [
    ("← / →", "previous / next frame"),
    ("a", "positive point mode"),
    ("s", "negative point mode"),
    ("b", "box mode"),
    ("r / e", "brush / eraser mode"),
    ("z", "undo (selected object)"),
    ("p", "propagate (whole video)"),
    ("Esc", "cancel propagation"),
]
"""(key, action): listed in the page and bound by :data:`SHORTCUTS_JS`."""

IMPORT_INTO = {"the frame on screen": "frame", "every frame in the file": "all"}
"""Import choices -> what :meth:`~sammask.annotate.Session.import_masks` imports."""

MASKS_ZIP_MAX_BYTES = 1 << 30
"""Most bytes an imported masks zip may unpack to (counted as it unpacks, whatever it declares)."""

MAX_STROKE_POINTS = 20_000
"""Most points one brush stroke may send (a long drag sends a few hundred)."""

STROKE_JS = """
// Brush / eraser strokes on the frame image: in brush or eraser mode a drag (mouse moved more
// than 4 display pixels) is drawn on a canvas over the image and, on release, sent to the server
// as one polyline in image pixels (trigger('click', {points})); the click that ends a drag is
// swallowed so it does not also paint a disc. A click without a drag stays the image's select
// event (one disc). Image pixels as Gradio's select computes them (scale <= 1, centred).
const FRAME = '#sammask-frame';
window.__sammaskStrokeTrigger = trigger;
if (!window.__sammaskStroke) {
  window.__sammaskStroke = true;
  let pts = null, moved = false, swallow = false, canvas = null, start = null, last = null;
  const mode = () => {
    const c = document.querySelector('#sammask-mode input[type=radio]:checked');
    return c ? c.value : '';
  };
  const radius = () => {
    const i = document.querySelector('#sammask-brush input[type=number]');
    return i ? Number(i.value) : 12;
  };
  const geom = (img) => {
    const r = img.getBoundingClientRect();
    const s = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight, 1);
    return {r, s, ox: (r.width - img.naturalWidth * s) / 2, oy: (r.height - img.naturalHeight * s) / 2};
  };
  const toImage = (img, ev) => {
    const g = geom(img);
    return [(ev.clientX - g.r.left - g.ox) / g.s, (ev.clientY - g.r.top - g.oy) / g.s];
  };
  const done = () => { pts = null; if (canvas) { canvas.remove(); canvas = null; } };
  document.addEventListener('mousedown', (ev) => {
    swallow = false;
    const img = ev.target.tagName === 'IMG' && ev.target.closest(FRAME) ? ev.target : null;  // not the toolbar
    if (!img || ev.button !== 0 || !img.naturalWidth || !['brush', 'eraser'].includes(mode())) return;
    ev.preventDefault();  // no native image drag, no text selection
    pts = [toImage(img, ev)];
    moved = false; start = last = [ev.clientX, ev.clientY];
    const g = geom(img);
    canvas = document.createElement('canvas');
    canvas.id = 'sammask-stroke-canvas';
    canvas.width = g.r.width; canvas.height = g.r.height;
    Object.assign(canvas.style, {position: 'fixed', left: g.r.left + 'px', top: g.r.top + 'px',
                                 pointerEvents: 'none', zIndex: 1000});
    document.body.appendChild(canvas);
    const ctx = canvas.getContext('2d');
    ctx.lineWidth = 2 * radius() * g.s; ctx.lineCap = ctx.lineJoin = 'round';
    ctx.strokeStyle = mode() === 'brush' ? 'rgba(255,255,0,0.6)' : 'rgba(0,0,0,0.6)';
    ctx.beginPath(); ctx.moveTo(ev.clientX - g.r.left, ev.clientY - g.r.top);
    canvas.__ctx = ctx; canvas.__rect = g.r;
  }, true);
  document.addEventListener('mousemove', (ev) => {
    if (!pts) return;
    if (Math.hypot(ev.clientX - last[0], ev.clientY - last[1]) < 2) return;
    last = [ev.clientX, ev.clientY];
    if (Math.hypot(ev.clientX - start[0], ev.clientY - start[1]) > 4) moved = true;
    pts.push(toImage(document.querySelector(FRAME + ' img'), ev));
    const ctx = canvas.__ctx;
    ctx.lineTo(ev.clientX - canvas.__rect.left, ev.clientY - canvas.__rect.top); ctx.stroke();
  }, true);
  document.addEventListener('mouseup', (ev) => {
    if (!pts) return;
    const stroke = pts;
    const wasDrag = moved;
    done();
    if (!wasDrag) return;  // a plain click: the image's select event paints a disc
    swallow = true;
    window.__sammaskStrokeTrigger('click', {points: stroke});
  }, true);
  document.addEventListener('click', (ev) => {
    if (swallow && ev.target.closest && ev.target.closest(FRAME)) {
      ev.stopImmediatePropagation(); ev.preventDefault();
    }
    swallow = false;
  }, true);
  document.addEventListener('dragstart', (ev) => {
    if (ev.target.closest && ev.target.closest(FRAME)) ev.preventDefault();
  }, true);
}
"""
"""``js_on_load`` of the (textual) stroke component: document-level mouse listeners (installed
once per page) that turn a drag on the frame into one stroke event."""

TIMELINE_JS = """
element.addEventListener('click', (ev) => {
  const cell = ev.target.closest ? ev.target.closest('.tl-cell') : null;
  if (cell) trigger('click', {frame: Number(cell.dataset.frame)});
});
"""
"""``js_on_load`` of the timeline: a click on a cell sends its frame index."""

SHORTCUTS_JS = """
() => {
  if (window.__sammaskKeys) return;
  window.__sammaskKeys = true;
  const press = (id) => { const b = document.querySelector('#' + id); if (b) b.click(); };
  const mode = (i) => {
    const inputs = document.querySelectorAll('#sammask-mode input[type=radio]');
    if (inputs[i]) inputs[i].click();
  };
  document.addEventListener('keydown', (ev) => {
    const t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    const actions = {
      ArrowLeft: () => press('sammask-prev'), ArrowRight: () => press('sammask-next'),
      a: () => mode(0), s: () => mode(1), b: () => mode(2), r: () => mode(3), e: () => mode(4),
      z: () => press('sammask-undo'), p: () => press('sammask-propagate'),
      Escape: () => press('sammask-cancel'),
    };
    const f = actions[ev.key];
    if (f) { ev.preventDefault(); f(); }
  });
}
"""


def _choices(state: TabState) -> Any:
    s = state.session
    ids = sorted(set(s.objects if s is not None else []) | {state.obj_id})
    return gr.update(choices=[str(o) for o in ids], value=str(state.obj_id))


def _event_value(evt: gr.EventData, key: str) -> Any:
    """A value the browser sent with a custom event (``trigger(name, {key: ...})``), or None."""
    try:
        return getattr(evt, key)
    except (AttributeError, TypeError):  # TypeError: the event carried no data at all
        return None


def paint(session: Session, frame_idx: int, obj_id: int, mode: str, points: Any, radius: int) -> np.ndarray:
    """Add (``brush``) or remove (``eraser``) a stroke in ``obj_id``'s mask on ``frame_idx``: one
    :meth:`~sammask.annotate.Session.add_mask`, so one undo step.

    Args:
        session: the open session.
        frame_idx: the frame on screen.
        obj_id: the selected object.
        mode: ``"brush"`` or ``"eraser"``.
        points: (N, 2) ``(x, y)`` image pixels of the stroke, N >= 1 (:func:`~sammask.ui.common.stroke_mask`).
        radius: brush radius in pixels.

    Returns:
        (H, W) bool: the object's new mask on the frame.

    Raises:
        ValueError / TypeError: malformed points.
        ConfigError / SegmentationError: as :meth:`~sammask.annotate.Session.add_mask`.
    """
    stroke = stroke_mask(session.shape, points, radius)
    current = session.mask(frame_idx, obj_id)
    assert isinstance(current, np.ndarray)  # with obj_id: one mask
    return session.add_mask(frame_idx, obj_id, current | stroke if mode == MODES[3] else current & ~stroke)


def _views(state: TabState, f: int) -> tuple[Any, str, str]:
    """The frame with its masks, the object legend and the timeline strips."""
    return overlay(state, f), objects_html(state), timeline_html(state, f)


def _open(state: TabState | None, path: str | None, backend: str, options: dict[str, Any]) -> tuple[Any, ...]:
    """Open ``path`` with ``backend`` in a new session (the current one stays open on failure)."""
    state = state or TabState()
    keep = (gr.update(), gr.update(), _choices(state), objects_html(state), gr.update())
    if not path:
        return (state, *keep, "Upload a video first.")
    try:
        new = Session.open(path, backend, **options)
    except SammaskError as exc:  # the current session (if any) stays open and untouched
        kept = " (the current video stays open)" if state.session is not None else ""
        return (state, *keep, error_line(exc) + kept)
    state.close()
    state.session, state.obj_id, state.corner = new, 1, None
    s = new
    status = f"Opened {Path(path).name}: {s.num_frames} frames, {s.shape[1]}x{s.shape[0]}, backend {s.backend.name}."
    return (
        state,
        gr.update(minimum=0, maximum=s.num_frames - 1, value=0, step=1),
        overlay(state, 0),
        _choices(state),
        objects_html(state),
        timeline_html(state, 0),
        status,
    )


def _show(state: TabState | None, frame_idx: float) -> tuple[Any, Any]:
    if state is None or state.session is None:
        return None, gr.update()
    f = int(frame_idx)
    return overlay(state, f), timeline_html(state, f)


def _step(state: TabState | None, frame_idx: float, delta: int) -> Any:
    if state is None or state.session is None:
        return gr.update()
    return min(max(int(frame_idx) + delta, 0), state.session.num_frames - 1)


def _click(state: TabState | None, frame_idx: float, mode: str, brush: float, evt: gr.SelectData) -> tuple[Any, ...]:
    if state is None or state.session is None:
        return None, gr.update(), gr.update(), "Open a video first."
    s, f = state.session, int(frame_idx)
    x, y = float(evt.index[0]) + 0.5, float(evt.index[1]) + 0.5
    try:
        if mode == MODES[2]:
            if state.corner is None:
                state.corner = (x, y)
                return (overlay(state, f), gr.update(), gr.update(), f"Box: first corner at ({x:.0f}, {y:.0f}); click the opposite corner.")
            (x0, y0), state.corner = state.corner, None
            box = (min(x0, x), min(y0, y), max(x0, x), max(y0, y))
            m = s.add_box(f, state.obj_id, box)
            what = f"box {tuple(round(v) for v in box)}"
        elif mode in (MODES[3], MODES[4]):
            m = paint(s, f, state.obj_id, mode, [(x, y)], int(brush))
            what = f"{mode} at ({x:.0f}, {y:.0f}), radius {int(brush)}"
        else:
            label = 1 if mode == MODES[0] else 0
            m = s.add_points(f, state.obj_id, [[x, y]], [label])
            what = f"{'positive' if label else 'negative'} point ({x:.0f}, {y:.0f})"
    except SammaskError as exc:
        return (*_views(state, f), error_line(exc))
    return (*_views(state, f), f"Object {state.obj_id} on frame {f}: {what}; mask {int(m.sum())} pixels.")


def _stroke(state: TabState | None, frame_idx: float, mode: str, brush: float, evt: gr.EventData) -> tuple[Any, ...]:
    if state is None or state.session is None:
        return None, gr.update(), gr.update(), "Open a video first."
    f = int(frame_idx)
    if mode not in (MODES[3], MODES[4]):
        return (*_views(state, f), f"A drag paints in brush or eraser mode only (mode now: {mode}).")
    points = _event_value(evt, "points")
    if not isinstance(points, list) or not 2 <= len(points) <= MAX_STROKE_POINTS:
        return (*_views(state, f), f"Error: a stroke sends 2 to {MAX_STROKE_POINTS} points; try a shorter one.")
    try:
        m = paint(state.session, f, state.obj_id, mode, points, int(brush))
    except (SammaskError, ValueError, TypeError) as exc:
        return (*_views(state, f), error_line(exc))
    return (
        *_views(state, f),
        f"Object {state.obj_id} on frame {f}: {mode} stroke of {len(points)} points, radius {int(brush)}; mask {int(m.sum())} pixels.",
    )


def _jump(state: TabState | None, evt: gr.EventData) -> Any:
    frame = _event_value(evt, "frame")
    if state is None or state.session is None or not isinstance(frame, int | float):
        return gr.update()
    return min(max(int(frame), 0), state.session.num_frames - 1)


def _select(state: TabState | None, value: str | None) -> tuple[str, str]:
    if state is not None and value:
        state.obj_id, state.corner = int(value), None
    return objects_html(state or TabState()), f"Selected object {value}."


def _new(state: TabState | None) -> tuple[Any, str, str]:
    state = state or TabState()
    used = set(state.session.objects) if state.session is not None else set()
    state.obj_id = max(used | {state.obj_id}) + 1
    state.corner = None
    return _choices(state), objects_html(state), f"New object {state.obj_id}: click on it."


def _delete(state: TabState | None, frame_idx: float) -> tuple[Any, ...]:
    if state is None or state.session is None:
        return gr.update(), None, "", gr.update(), "Open a video first."
    try:
        state.session.remove_object(state.obj_id)
        msg = f"Deleted object {state.obj_id}."
    except SammaskError as exc:
        msg = error_line(exc)
    objs = state.session.objects
    state.obj_id = objs[0] if objs else 1
    image, legend, timeline = _views(state, int(frame_idx))
    return _choices(state), image, legend, timeline, msg


def _propagate(state: TabState | None, frame_idx: float, direction: str) -> Any:
    if state is None or state.session is None:
        yield gr.update(), gr.update(), "Open a video first."
        return
    s, f = state.session, int(frame_idx)
    way = DIRECTIONS[direction]
    counts = [0, 0]

    def progress(done: int, total: int) -> None:
        counts[:] = [done, total]

    try:
        it = s.propagate_prompts(way, progress=progress)
        last = None
        for idx, _ in it:
            last = idx
            if counts[0] % STREAM_EVERY == 0:
                yield (
                    overlay(state, idx),
                    timeline_html(state, f),
                    f"Propagating ({direction}): {counts[0]}/{counts[1]} frames, now frame {idx}.",
                )
    except SammaskError as exc:
        yield overlay(state, f), timeline_html(state, f), error_line(exc)
        return
    done, total = counts
    if done < total:
        msg = f"Cancelled: propagated {done} of {total} frames ({direction}); they are kept."
    else:
        msg = f"Propagated {direction} from the prompted frames: {done} frames."
    shown = f if last is None or done == total else last
    yield overlay(state, shown), timeline_html(state, f), msg


def _import(state: TabState | None, frame_idx: float, into: str, path: str | None) -> tuple[Any, ...]:
    if not path:
        return gr.update(), gr.update(), gr.update(), gr.update(), ""
    if state is None or state.session is None:
        return gr.update(), gr.update(), gr.update(), gr.update(), "Open a video first."
    f = int(frame_idx)
    src = Path(path)
    unpacked = None
    try:
        if upload_format(src) == "zip":  # a zipped masks folder, unpacked as the service does
            unpacked = Path(tempfile.mkdtemp(dir=state.workdir, prefix="import-"))
            src = stage_masks_upload(src, unpacked / "masks", max_bytes=MASKS_ZIP_MAX_BYTES, limit_name="the page's import limit")
        got = state.session.import_masks(src, f if IMPORT_INTO[into] == "frame" else None)
    except SammaskError as exc:
        return (_choices(state), *_views(state, f), error_line(exc))
    finally:
        if unpacked is not None:
            shutil.rmtree(unpacked, ignore_errors=True)
    ids = sorted({o for objs in got.values() for o in objs})
    state.obj_id = ids[0]
    if IMPORT_INTO[into] == "frame":
        what = f"the masks of frame {f}"
    else:
        frames = sorted(got)
        what = f"the masks of every frame the file holds ({len(frames)} frames, {frames[0]}..{frames[-1]})"
    return (_choices(state), *_views(state, f), f"Imported {what} for objects {ids} (mask prompts).")


def _cancel(state: TabState | None) -> None:
    if state is not None and state.session is not None:
        state.session.cancel()


def _undo(state: TabState | None, frame_idx: float) -> tuple[Any, ...]:
    if state is None or state.session is None:
        return gr.update(), None, "", gr.update(), "Open a video first."
    what = state.session.undo(state.obj_id)
    image, legend, timeline = _views(state, int(frame_idx))
    return (_choices(state), image, legend, timeline, f"Undid {what}." if what else f"Nothing to undo for object {state.obj_id}.")


def _reset(state: TabState | None, frame_idx: float) -> tuple[Any, ...]:
    if state is None or state.session is None:
        return gr.update(), None, "", gr.update(), "Open a video first."
    state.session.reset()
    state.obj_id, state.corner = 1, None
    image, legend, timeline = _views(state, int(frame_idx))
    return _choices(state), image, legend, timeline, "Reset: all prompts and masks removed."


def _export(state: TabState | None, fmt: str) -> tuple[Any, str]:
    if state is None or state.session is None:
        return None, "Open a video first."
    if not state.session.has_masks():
        return None, "Nothing to export: no object has a mask yet. Click an object first."
    from sammask.export import DEFAULT_NAMES

    out = Path(tempfile.mkdtemp(dir=state.workdir)) / DEFAULT_NAMES[fmt]
    try:
        gate(RunSpec(command="ui", video=state.session.frames.path, exports=out.parent, export_names=(out.name,)))
        path = state.session.export(out, fmt)
    except SammaskError as exc:
        return None, error_line(exc)
    if path.is_dir():
        path = Path(shutil.make_archive(str(path), "zip", root_dir=path))
    return str(path), f"Exported {fmt}: {path.name}."


def _redact(state: TabState | None, effect: str, progress=gr.Progress()) -> tuple[Any, str]:  # noqa: B008 - Gradio injects its progress tracker through this default
    if state is None or state.session is None:
        return None, "Open a video first."
    if not state.session.has_masks():
        return None, "Nothing to redact: no object has a mask yet. Click an object first."
    from sammask.annotate.redact import redact_masks
    from sammask.settings import RedactSettings

    settings = RedactSettings()
    settings = replace(settings, masking=replace(settings.masking, effect=Effect(effect)))
    out = Path(tempfile.mkdtemp(dir=state.workdir)) / f"{state.session.frames.path.stem}-redacted.mp4"
    try:
        gate(RunSpec(command="ui", video=state.session.frames.path, output=out, source=Source.MASKS, settings=settings))
        report = redact_masks(
            state.session.frames.path, state.session.mask_source(), out, settings, progress=lambda x: progress(x, desc="redact")
        )
    except SammaskError as exc:
        return None, error_line(exc)
    objects = f"{report.tracks} object{'' if report.tracks == 1 else 's'}"
    return str(out), (f"Redacted {report.frames} frames, {objects} ({report.fallback_total} box fallbacks): {out.name}.")


@dataclass(frozen=True)
class FramePanel:
    """The Video tab's upload, status line and frame view (frame, step buttons, slider, stroke
    listener, timeline, shortcut list)."""

    upload: gr.File
    status: gr.Textbox
    image: gr.Image
    prev_btn: gr.Button
    slider: gr.Slider
    next_btn: gr.Button
    stroke: gr.HTML
    timeline: gr.HTML


@dataclass(frozen=True)
class ObjectControls:
    """What a click adds, the brush radius, the object list and its buttons."""

    mode: gr.Radio
    brush: gr.Slider
    objects: gr.Dropdown
    legend: gr.HTML
    new_btn: gr.Button
    del_btn: gr.Button


@dataclass(frozen=True)
class PropagationControls:
    """Propagation direction, Propagate / Cancel, Undo / Reset."""

    direction: gr.Radio
    prop_btn: gr.Button
    cancel_btn: gr.Button
    undo_btn: gr.Button
    reset_btn: gr.Button


@dataclass(frozen=True)
class FileControls:
    """Mask import, mask export and "redact with these masks"."""

    into: gr.Radio
    imported: gr.File
    fmt: gr.Dropdown
    export_btn: gr.Button
    export_file: gr.File
    effect: gr.Dropdown
    redact_btn: gr.Button
    redacted: gr.File


def _frame_view() -> tuple[gr.Image, gr.Button, gr.Slider, gr.Button, gr.HTML, gr.HTML]:
    """The frame image, the step buttons and slider, the stroke listener, the timeline and the
    shortcut list (call inside the frame column)."""
    image = gr.Image(label="Frame (click to prompt)", interactive=False, type="numpy", format="jpeg", elem_id="sammask-frame")
    with gr.Row():
        prev_btn = gr.Button("◀", elem_id="sammask-prev", scale=0)
        slider = gr.Slider(0, 1, value=0, step=1, label="Frame", elem_id="sammask-slider")
        next_btn = gr.Button("▶", elem_id="sammask-next", scale=0)
    stroke = gr.HTML(
        "In brush / eraser mode, click to paint a disc or drag to paint a stroke (one undo step each).",
        js_on_load=STROKE_JS,
        elem_id="sammask-stroke",
    )
    timeline = gr.HTML(timeline_html(TabState(session=None), 0), js_on_load=TIMELINE_JS, elem_id="sammask-timeline-box")
    gr.Markdown(
        "**Keyboard shortcuts** (when no text field has focus): " + " · ".join(f"`{k}` {a}" for k, a in SHORTCUTS),
        elem_id="sammask-shortcuts",
    )
    return image, prev_btn, slider, next_btn, stroke, timeline


def _object_controls() -> ObjectControls:
    """Build :class:`ObjectControls` (call inside the controls column)."""
    mode = gr.Radio(MODES, value=MODES[0], label="Click adds", elem_id="sammask-mode")
    brush = gr.Slider(2, 60, value=12, step=1, label="Brush / eraser radius (px)", elem_id="sammask-brush")
    objects = gr.Dropdown(["1"], value="1", label="Object", elem_id="sammask-object")
    legend = gr.HTML(objects_html(TabState(session=None)))
    with gr.Row():
        new_btn = gr.Button("New object", elem_id="sammask-new")
        del_btn = gr.Button("Delete object", elem_id="sammask-delete")
    return ObjectControls(mode, brush, objects, legend, new_btn, del_btn)


def _propagation_controls() -> PropagationControls:
    """Build :class:`PropagationControls` (call inside the controls column)."""
    direction = gr.Radio(list(DIRECTIONS), value="whole video", label="Propagate from the prompted frames", elem_id="sammask-direction")
    with gr.Row():
        prop_btn = gr.Button("Propagate", variant="primary", elem_id="sammask-propagate")
        cancel_btn = gr.Button("Cancel", elem_id="sammask-cancel")
    with gr.Row():
        undo_btn = gr.Button("Undo", elem_id="sammask-undo")
        reset_btn = gr.Button("Reset", elem_id="sammask-reset")
    return PropagationControls(direction, prop_btn, cancel_btn, undo_btn, reset_btn)


def _file_controls() -> FileControls:
    """Build :class:`FileControls` (call inside the controls column)."""
    into = gr.Radio(list(IMPORT_INTO), value=next(iter(IMPORT_INTO)), label="Import masks into", elem_id="sammask-import-into")
    imported = gr.File(
        label="Import masks: COCO .json, MOTS .txt, zipped PNG id maps or zipped --save-masks folder",
        type="filepath",
        file_types=[".json", ".txt", ".zip"],
        elem_id="sammask-import",
    )
    fmt = gr.Dropdown(FORMATS, value="coco", label="Export format", elem_id="sammask-format")
    export_btn = gr.Button("Export masks", elem_id="sammask-export")
    export_file = gr.File(label="Export", interactive=False, elem_id="sammask-export-file")
    effect = gr.Dropdown(
        [e.value for e in Effect], value=MaskingOptions().effect.value, label="Redaction effect", info=OPTIONS["effect"].help_text
    )
    redact_btn = gr.Button("Redact with these masks", variant="stop", elem_id="sammask-redact")
    redacted = gr.File(label="Redacted video", interactive=False, elem_id="sammask-redacted")
    return FileControls(into, imported, fmt, export_btn, export_file, effect, redact_btn, redacted)


def _wire_navigation(
    app: gr.Blocks, state: gr.State, frame: FramePanel, objs: ObjectControls, *, backend: str, options: dict[str, Any], video: Path | None
) -> None:
    """Opening a video (upload, or ``video`` on page load), the shortcuts, the slider, the step
    buttons and timeline clicks."""

    def open_video(st: TabState | None, path: str | None) -> tuple[Any, ...]:
        return _open(st, path, backend, options)

    open_outputs = [state, frame.slider, frame.image, objs.objects, objs.legend, frame.timeline, frame.status]
    frame.upload.change(open_video, [state, frame.upload], open_outputs)
    if video is not None:
        app.load(lambda st: open_video(st, str(video)), [state], open_outputs)
    app.load(None, None, None, js=SHORTCUTS_JS)
    frame.slider.change(_show, [state, frame.slider], [frame.image, frame.timeline], show_progress="hidden")
    frame.prev_btn.click(lambda st, f: _step(st, f, -1), [state, frame.slider], [frame.slider], show_progress="hidden")
    frame.next_btn.click(lambda st, f: _step(st, f, 1), [state, frame.slider], [frame.slider], show_progress="hidden")
    frame.timeline.click(_jump, [state], [frame.slider], show_progress="hidden")


def _wire_prompts(state: gr.State, frame: FramePanel, objs: ObjectControls) -> None:
    """Clicks and strokes on the frame, and the object list (select, new, delete)."""
    views = [frame.image, objs.legend, frame.timeline, frame.status]
    frame.image.select(_click, [state, frame.slider, objs.mode, objs.brush], views)
    frame.stroke.click(_stroke, [state, frame.slider, objs.mode, objs.brush], views)
    objs.objects.change(_select, [state, objs.objects], [objs.legend, frame.status])
    objs.new_btn.click(_new, [state], [objs.objects, objs.legend, frame.status])
    objs.del_btn.click(_delete, [state, frame.slider], [objs.objects, *views])


def _wire_propagation(state: gr.State, frame: FramePanel, objs: ObjectControls, prop: PropagationControls) -> None:
    """Propagate (streamed), Cancel, Undo and Reset."""
    views = [objs.objects, frame.image, objs.legend, frame.timeline, frame.status]
    prop.prop_btn.click(
        _propagate, [state, frame.slider, prop.direction], [frame.image, frame.timeline, frame.status], show_progress="hidden"
    )
    prop.cancel_btn.click(_cancel, [state], None, queue=False)
    prop.undo_btn.click(_undo, [state, frame.slider], views)
    prop.reset_btn.click(_reset, [state, frame.slider], views)


def _wire_files(state: gr.State, frame: FramePanel, objs: ObjectControls, files: FileControls) -> None:
    """Mask import, export and redaction."""
    files.imported.upload(
        _import, [state, frame.slider, files.into, files.imported], [objs.objects, frame.image, objs.legend, frame.timeline, frame.status]
    )
    files.export_btn.click(_export, [state, files.fmt], [files.export_file, frame.status])
    files.redact_btn.click(_redact, [state, files.effect], [files.redacted, frame.status])


def build_video_tab(app: gr.Blocks, *, backend: str, backend_options: dict[str, Any], video: Path | None = None) -> None:
    """Add the Video tab's components and events (call inside ``with gr.Tab(...)``).

    Args:
        app: the enclosing Blocks (for the page-load events).
        backend: annotation backend for opened videos (``classical`` or ``sam2``).
        backend_options: keyword options of the backend.
        video: a video to open in every new browser tab (else the user uploads one).
    """
    state = gr.State(None, delete_callback=discard)  # called when the browser tab's session ends
    with gr.Row():
        upload = gr.File(label="Video", file_types=["video"], type="filepath", elem_id="sammask-upload")
        status = gr.Textbox(label="Status", interactive=False, elem_id="sammask-status", lines=2)
    with gr.Row():
        with gr.Column(scale=3):
            frame = FramePanel(upload, status, *_frame_view())
            with gr.Accordion("Models installed here", open=False):
                gr.Markdown(models_markdown(backend=backend), elem_id="sammask-models")
        with gr.Column(scale=1):
            objs = _object_controls()
            prop = _propagation_controls()
            files = _file_controls()
            add_matte_controls(state, status)  # the background / matte export and its events (sammask.ui.matte_tab)
    _wire_navigation(app, state, frame, objs, backend=backend, options=dict(backend_options), video=video)
    _wire_prompts(state, frame, objs)
    _wire_propagation(state, frame, objs, prop)
    _wire_files(state, frame, objs, files)
