"""The annotator's web UI (Gradio), built from one module per tab.

:func:`build_app` makes the page: a title, then a ``gr.Tabs`` with one ``gr.Tab`` per tab
builder (``sammask.ui.tabs.*``: each adds its own components, state and events). One
:class:`~sammask.annotate.Session` per browser tab (held in the tab's ``gr.State``). Shared
helpers (colours, overlay, timeline, error lines) live in :mod:`sammask.ui.common`.

Importing this module imports gradio; ``sammask.ui.command`` imports it only when run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from sammask.ui.common import PALETTE, TabState, colour, overlay  # noqa: F401  (public re-exports)
from sammask.ui.image_tab import build_image_tab
from sammask.ui.tabs.video import build_video_tab


def build_app(*, backend: str = "classical", backend_options: dict[str, Any] | None = None, video: Path | None = None) -> gr.Blocks:
    """Build the Gradio app (not launched).

    Args:
        backend: annotation backend for opened videos (``classical`` or ``sam2``).
        backend_options: keyword options of the backend.
        video: a video to open in every new browser tab (else the user uploads one).

    Returns:
        The ``gr.Blocks`` app; ``app.launch(server_name="127.0.0.1", ...)`` serves it.
    """
    from sammask.offline import disable_telemetry

    disable_telemetry()  # Gradio analytics and version check (read at each use), Hugging Face
    with gr.Blocks(title="sammask annotator") as app:
        gr.Markdown("## sammask annotator\nOpen a video, click an object, propagate, correct, export.")
        with gr.Tabs():
            with gr.Tab("Video", id="video", elem_id="sammask-tab-video"):
                build_video_tab(app, backend=backend, backend_options=dict(backend_options or {}), video=video)
            build_image_tab(backend=backend, backend_options=backend_options)  # its own gr.Tab
    return app
