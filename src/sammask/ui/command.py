"""``sammask ui``: serve the annotator web UI (Gradio) on this machine.

Example::

    sammask ui                      # http://127.0.0.1:7860, upload a video in the page
    sammask ui clip.mp4 --port 8080 --backend sam2 --model-path sam2.1_hiera_tiny.pt
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def ui_command(
    video: Annotated[Path | None, typer.Argument(help="Video to open in the page (else upload one).")] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 7860,
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 exposes it to the network).")] = "127.0.0.1",
    backend: Annotated[str, typer.Option(help="classical (no weights) | sam2.")] = "classical",
    model: Annotated[str | None, typer.Option(help="sam2: model name.")] = None,
    model_path: Annotated[Path | None, typer.Option(help="sam2: local checkpoint (.pt).")] = None,
    device: Annotated[str | None, typer.Option(help="sam2: cpu | cuda | mps.")] = None,
) -> None:
    """Serve the annotator: click objects, propagate, correct, export, redact.

    Raises:
        ConfigError: unknown backend.
        ModelLoadError: the UI extra (gradio) is not installed.
    """
    from sammask.annotate.session import BACKENDS
    from sammask.errors import ConfigError, ModelLoadError

    if backend not in BACKENDS:
        raise ConfigError(f"unknown annotation backend '{backend}': choose one of {', '.join(BACKENDS)}")
    try:
        from sammask.ui.app import build_app
    except ImportError as exc:
        raise ModelLoadError(f"the web UI needs gradio ({exc}); install sammask[ui]") from exc
    options = {k: v for k, v in {"model": model, "checkpoint": model_path, "device": device}.items() if v is not None}
    typer.echo(f"sammask ui on http://{host}:{port} (backend {backend}); Ctrl-C stops it", err=True)
    build_app(backend=backend, backend_options=options, video=video).launch(server_name=host, server_port=port, show_error=True, quiet=True)
