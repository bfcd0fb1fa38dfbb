"""The job service: FastAPI app over the SQLite job store and the worker-process scheduler.

Routes (OpenAPI at ``/docs``; all ``/v1`` routes need ``Authorization: Bearer <token>`` when the
server has tokens, see :mod:`sammask.service.auth`):

- ``POST /v1/jobs`` multipart: ``video`` (file) or ``video_path`` (under ``--allow-root``),
  ``tracks`` (file) or ``masks`` (a zipped masks folder, a COCO .json or a MOTS .txt) or neither (built-in detection,
  ``settings.detect``), ``settings`` (JSON of :class:`~sammask.batch.options.JobSettings`);
  header ``Idempotency-Key`` -> ``201`` job (``200`` with the same job on a retry).
- ``GET /v1/jobs``, ``GET /v1/jobs/{id}``, ``GET /v1/jobs/{id}/events`` (server-sent events),
  ``GET /v1/jobs/{id}/result`` | ``/report`` | ``/masks``, ``DELETE /v1/jobs/{id}``
  (:mod:`sammask.service.routes`).
- ``GET /v1/models``: every ``settings.model`` choice and whether it runs here offline.
- ``GET /healthz``; ``GET /`` the jobs page.

Every request first passes the cross-site check (:func:`~sammask.service.auth.cross_site_reason`);
the token is checked from the headers before a body is read, and a refused request's connection
is closed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from sammask.service.auth import Tokens, cross_site_reason
from sammask.service.models import Health
from sammask.service.routes import ServiceState, router
from sammask.service.scheduler import Scheduler
from sammask.service.store import JobState, JobStore
from sammask.service.uploads import Admission

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Options of ``sammask serve``.

    Attributes:
        data_dir: folder for ``jobs.sqlite`` and the job folders (created).
        workers: concurrent worker processes.
        token: bearer token of the client ``admin`` (sees every job), or None.
        tokens_file: file of named clients (``NAME TOKEN [admin]`` per line), or None. Without
            ``token`` and ``tokens_file`` there is no authentication (loopback use only).
        max_upload_mb: largest request body accepted, MiB (larger -> 413, checked while streaming).
        max_unpack_mb: most a ``masks`` zip may unpack to, MiB (larger -> 422 at submission).
        allow_root: folder under which ``video_path`` may name server-side files, or None
            (``video_path`` refused).
        queue_size: most jobs waiting, submissions being received included; more -> 503 with
            ``Retry-After``.
        retention_hours: finished jobs (and their files) are deleted after this; None keeps
            them until ``DELETE``.
    """

    data_dir: Path
    workers: int = 1
    token: str | None = None
    tokens_file: Path | None = None
    max_upload_mb: int = 2048
    max_unpack_mb: int = 4096
    allow_root: Path | None = None
    queue_size: int = 100
    retention_hours: float | None = 24.0


def create_app(config: ServiceConfig) -> FastAPI:
    """Build the FastAPI app (the scheduler starts with the app's lifespan).

    Args:
        config: :class:`ServiceConfig`.

    Returns:
        The ASGI app; serve it with :func:`sammask.service.command.serve_app` (uvicorn with
        the connection limits) or any ASGI server.

    Raises:
        ConfigError, InputFileError: a bad token or tokens file.
    """
    tokens = Tokens.build(config.token, config.tokens_file)
    data_dir = Path(config.data_dir).resolve()
    store = JobStore(data_dir)
    for sub in ("jobs", "incoming"):
        (data_dir / sub).mkdir(exist_ok=True)
    retention_s = None if config.retention_hours is None else config.retention_hours * 3600.0
    scheduler = Scheduler(store, data_dir, config.workers, retention_s, max_unpack_bytes=config.max_unpack_mb << 20)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()

    from sammask.offline import disable_telemetry

    disable_telemetry()  # the jobs may import OpenVINO / transformers: no usage telemetry
    app = FastAPI(
        title="sammask",
        version="1",
        summary="Silhouette redaction jobs: upload a video and its tracks, download the masked video.",
        lifespan=lifespan,
    )
    app.state.svc = ServiceState(
        store=store,
        scheduler=scheduler,
        tokens=tokens,
        admission=Admission(store, config.queue_size),
        data_dir=data_dir,
        allow_root=None if config.allow_root is None else Path(config.allow_root).resolve(),
        max_upload_bytes=config.max_upload_mb << 20,
        max_unpack_bytes=config.max_unpack_mb << 20,
        workers=config.workers,
        queue_size=config.queue_size,
    )

    @app.middleware("http")
    async def refuse_cross_site(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        reason = cross_site_reason(request.method, request.headers, tokens_required=tokens.required)
        if reason is not None:
            return JSONResponse({"detail": reason}, status_code=403, headers={"Connection": "close"})
        return await call_next(request)

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> Health:
        """Liveness and queue depth (no auth)."""
        return Health(queued=store.count(JobState.QUEUED), running=store.count(JobState.RUNNING), workers=config.workers)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(
            resources.files("sammask.service").joinpath("static/index.html").read_text("utf-8"), headers={"X-Frame-Options": "DENY"}
        )

    app.include_router(router)
    return app
