"""``sammask serve``: run the job service with uvicorn (see docs/service.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

TOKEN_ENV = "SAMMASK_TOKEN"


def serve_command(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder for jobs.sqlite and the job files.")],
    host: Annotated[
        str, typer.Option(help="Interface to listen on (127.0.0.1: this machine only; any other needs a token).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Concurrent worker processes (one job each).")] = 1,
    token: Annotated[str | None, typer.Option(help=f"Bearer token of the admin client, >= 16 characters (or ${TOKEN_ENV}).")] = None,
    tokens_file: Annotated[
        Path | None, typer.Option(help="File of named clients, one 'NAME TOKEN [admin]' per line; each sees only its jobs.")
    ] = None,
    max_upload_mb: Annotated[int, typer.Option(min=1, help="Largest request body, MiB (413 above).")] = 2048,
    max_unpack_mb: Annotated[int, typer.Option(min=1, help="Most a masks zip may unpack to, MiB (422 above).")] = 4096,
    allow_root: Annotated[Path | None, typer.Option(help="Folder under which jobs may name server-side videos (video_path).")] = None,
    queue_size: Annotated[int, typer.Option(min=1, help="Most jobs waiting, uploads in progress included (503 above).")] = 100,
    retention_hours: Annotated[float, typer.Option(min=0, help="Delete finished jobs after this many hours (0: keep).")] = 24.0,
    max_connections: Annotated[int, typer.Option(min=1, help="Most open HTTP connections (more are closed at once).")] = 200,
) -> None:
    """Serve the HTTP job API and the jobs page (FastAPI + uvicorn; OpenAPI at /docs)."""
    import uvicorn

    from sammask.errors import ConfigError, InputFileError
    from sammask.service.app import ServiceConfig, create_app
    from sammask.service.auth import is_loopback
    from sammask.service.http import ConnectionLimits, uvicorn_config

    if allow_root is not None and not allow_root.is_dir():
        raise InputFileError(f"--allow-root {allow_root} is not a folder")
    token = token or os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host) and token is None and tokens_file is None:
        raise ConfigError(
            f"--host {host} is reachable from other machines: give --token (or ${TOKEN_ENV}) or --tokens-file, or listen on 127.0.0.1"
        )
    config = ServiceConfig(
        data_dir=data_dir,
        workers=workers,
        token=token,
        tokens_file=tokens_file,
        max_upload_mb=max_upload_mb,
        max_unpack_mb=max_unpack_mb,
        allow_root=allow_root,
        queue_size=queue_size,
        retention_hours=retention_hours or None,
    )
    app = create_app(config)
    limits = ConnectionLimits(max_connections=max_connections)
    uvicorn.Server(
        uvicorn_config(app, host, port, limits, log_level="info", access_log=False, proxy_headers=True, timeout_graceful_shutdown=5)
    ).run()
