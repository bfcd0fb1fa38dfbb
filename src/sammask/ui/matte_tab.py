"""The annotator's background controls: after propagation, export the kept objects with a
transparent background (WebM VP9 with alpha, ProRes 4444 ``.mov``, zipped RGBA PNGs) or over a
replaced background (blur or a colour, H.264), with :func:`sammask.matte.matte` on the session's
masks. Registered in the annotator with one line (``add_matte_controls(state, status)``).

Importing this module does not import gradio (:func:`add_matte_controls` does).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from sammask.errors import SammaskError

BACKGROUNDS = ["transparent", "blur", "color:#00ff00", "color:#000000", "color:#ffffff"]
OUTPUTS = {"WebM (VP9 + alpha)": ".webm", "ProRes 4444 (.mov + alpha)": ".mov", "RGBA PNGs (zip)": "", "MP4 (H.264)": ".mp4"}


def matte_export(state: Any, background: str, output: str, feather: float, progress: Any = None) -> tuple[str | None, str]:
    """Run :func:`sammask.matte.matte` on the tab's session masks.

    Args:
        state: the tab's ``TabState`` (``session``, ``workdir``).
        background: a ``--background`` value (``transparent``, ``blur``, ``color:#RRGGBB``).
        output: a key of :data:`OUTPUTS`.
        feather: soft-edge width, pixels.
        progress: optional callback with the fraction done.

    Returns:
        (path of the file to download or None, status message). PNG folders come zipped.
        Audio is dropped for WebM (it holds only Opus / Vorbis) and copied otherwise.
    """
    if state is None or getattr(state, "session", None) is None:
        return None, "Open a video first."
    from dataclasses import replace

    from sammask.matte import MatteOptions, matte, parse_background
    from sammask.settings import RedactSettings

    session = state.session
    suffix = OUTPUTS[output]
    if background == "transparent" and suffix == ".mp4":
        return None, "Error: MP4 holds no alpha: choose WebM, ProRes or PNGs, or a background."
    settings = RedactSettings()
    if suffix == ".webm":
        settings = replace(settings, encode=replace(settings.encode, copy_audio=False))
    out = Path(tempfile.mkdtemp(dir=state.workdir)) / f"{session.frames.path.stem}-matte{suffix}"
    try:
        report = matte(
            session.frames.path,
            out,
            masks=session.mask_source(),
            options=MatteOptions(background=parse_background(background), feather=float(feather)),
            settings=settings,
            progress=progress,
        )
    except SammaskError as exc:
        return None, f"Error: {exc}"
    if out.is_dir():
        out = Path(shutil.make_archive(str(out), "zip", root_dir=out))
    return str(out), f"Background {report.background}: {report.frames} frames, {out.name}."


def add_matte_controls(state: Any, status: Any) -> None:
    """Add the background export controls to the current ``gr.Blocks`` layout and wire them.

    Args:
        state: the tab's ``gr.State`` (holding a ``TabState``).
        status: the status ``gr.Textbox`` the result message goes to.
    """
    import gradio as gr

    with gr.Accordion("Background: remove or replace", open=False):
        background = gr.Dropdown(
            BACKGROUNDS,
            value="transparent",
            allow_custom_value=True,
            label="Background (transparent, blur, color:#RRGGBB)",
            elem_id="sammask-matte-bg",
        )
        output = gr.Dropdown(list(OUTPUTS), value=next(iter(OUTPUTS)), label="Output", elem_id="sammask-matte-out")
        feather = gr.Slider(0, 16, value=4, step=1, label="Soft edge (px)", elem_id="sammask-matte-feather")
        button = gr.Button("Export with background", elem_id="sammask-matte")
        result = gr.File(label="Matte", interactive=False, elem_id="sammask-matte-file")

    def run(st: Any, bg: str, out: str, f: float, progress=gr.Progress()) -> tuple[Any, str]:  # noqa: B008 - Gradio injects the progress tracker through this default
        return matte_export(st, bg, out, f, progress=lambda x: progress(x, desc="matte"))

    button.click(run, [state, background, output, feather], [result, status])
