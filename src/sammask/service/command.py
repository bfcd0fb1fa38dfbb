"""``sammask serve``: run the job service with uvicorn (see docs/service.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

TOKEN_ENV = "SAMMASK_TOKEN"


def serve_command(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder for jobs.sqlite and the job files.")],
    host: Annotated[str, typer.Option(help="Interface to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Concurrent worker processes (one job each).")] = 1,
    token: Annotated[str | None, typer.Option(help=f"Bearer token required on /v1 (or ${TOKEN_ENV}).")] = None,
    max_upload_mb: Annotated[int, typer.Option(min=1, help="Largest request body, MiB (413 above).")] = 2048,
    allow_root: Annotated[Path | None, typer.Option(help="Folder under which jobs may name server-side videos (video_path).")] = None,
    queue_size: Annotated[int, typer.Option(min=1, help="Most jobs waiting (503 above).")] = 100,
    retention_hours: Annotated[float, typer.Option(min=0, help="Delete finished jobs after this many hours (0: keep).")] = 24.0,
) -> None:
    """Serve the HTTP job API and the jobs page (FastAPI + uvicorn; OpenAPI at /docs)."""
    import uvicorn

    from sammask.service.app import ServiceConfig, create_app

    if allow_root is not None and not allow_root.is_dir():
        from sammask.errors import InputFileError

        raise InputFileError(f"--allow-root {allow_root} is not a folder")
    config = ServiceConfig(
        data_dir=data_dir, workers=workers, token=token or os.environ.get(TOKEN_ENV) or None,
        max_upload_mb=max_upload_mb, allow_root=allow_root, queue_size=queue_size,
        retention_hours=retention_hours or None,
    )
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", access_log=False,
                proxy_headers=True, timeout_graceful_shutdown=5)
