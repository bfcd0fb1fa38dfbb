"""The job service: FastAPI app over the SQLite job store and the worker-process scheduler.

Routes (OpenAPI at ``/docs``; all ``/v1`` routes need ``Authorization: Bearer <token>`` when the
server has a token):

- ``POST /v1/jobs`` multipart: ``video`` (file) or ``video_path`` (under ``--allow-root``),
  ``tracks`` (file) or ``masks`` (zipped applied-mask export) or neither (built-in detection,
  ``settings.detect``), ``settings`` (JSON of :class:`~sammask.batch.options.JobSettings`);
  header ``Idempotency-Key`` -> ``201`` job (``200`` with the same job on a retry).
- ``GET /v1/jobs``, ``GET /v1/jobs/{id}``, ``GET /v1/jobs/{id}/events`` (server-sent events),
  ``GET /v1/jobs/{id}/result`` | ``/report`` | ``/masks``, ``DELETE /v1/jobs/{id}``.
- ``GET /healthz``; ``GET /`` the jobs page.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import Depends, FastAPI, File, Form, Header, HTTPException, Path as PathParam, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from sammask.batch.options import JobSettings, Source
from sammask.spec.run import gate
from sammask.errors import ConfigError, SammaskError
from sammask.service.layout import JOB_ID, JobFiles, display_name
from sammask.service.models import Health, JobList, JobView
from sammask.service.scheduler import Scheduler
from sammask.service.store import JobState, JobStore

logger = logging.getLogger(__name__)

JobId = Annotated[str, PathParam(pattern=JOB_ID.pattern, description="Job id (32 hex digits).")]

EVENT_POLL_S = 0.25
EVENT_KEEPALIVE_S = 15.0
COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Options of ``sammask serve``.

    Attributes:
        data_dir: folder for ``jobs.sqlite`` and the job folders (created).
        workers: concurrent worker processes.
        token: bearer token required on ``/v1`` routes, or None (no auth: loopback use only).
        max_upload_mb: largest request body accepted, MiB (larger -> 413).
        allow_root: folder under which ``video_path`` may name server-side files, or None
            (``video_path`` refused).
        queue_size: most jobs waiting; more -> 503 with ``Retry-After``.
        retention_hours: finished jobs (and their files) are deleted after this; None keeps
            them until ``DELETE``.
    """

    data_dir: Path
    workers: int = 1
    token: str | None = None
    max_upload_mb: int = 2048
    allow_root: Path | None = None
    queue_size: int = 100
    retention_hours: float | None = 24.0


def _copy(src: BinaryIO, dest: Path) -> int:
    """Copy an upload to ``dest`` and fsync it; returns the byte count."""
    size = 0
    with dest.open("wb") as out:
        while chunk := src.read(COPY_CHUNK):
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size


def _resolve_under(root: Path | None, video_path: str) -> Path:
    """``video_path`` resolved (symlinks followed), required to stay under ``root``."""
    if root is None:
        raise HTTPException(403, "video_path is disabled on this server (start it with --allow-root DIR)")
    base = root.resolve()
    candidate = Path(video_path)
    resolved = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if not resolved.is_relative_to(base):
        raise HTTPException(403, "video_path must stay under the server's --allow-root folder")
    if not resolved.is_file():
        raise HTTPException(404, "video_path does not name a file under the server's --allow-root folder")
    return resolved


def _validation_message(exc: ValidationError) -> str:
    """One line per bad settings field: ``field: what is wrong (got VALUE)``."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(x) for x in err["loc"]) or "settings"
        got = f" (got {err['input']!r})" if err["type"] not in ("extra_forbidden", "value_error") else ""
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}{got}")
    return "; ".join(parts)


def _check_hub_ids(spec: str) -> None:
    """A job's ``hub:`` detector must be a model id, not a server-side folder (clients name no paths).

    Raises:
        ConfigError: a ``hub:`` item that looks like a path.
    """
    for item in spec.split(","):
        target = item.strip().removeprefix("hub:") if item.strip().startswith("hub:") else None
        if target is not None and (target.startswith(("/", ".", "~")) or "\\" in target or ".." in target):
            raise ConfigError(f"detect: '{item.strip()}' names a folder; a job may name a Hugging Face model id "
                              "(in the server's cache) only")


def create_app(config: ServiceConfig) -> FastAPI:
    """Build the FastAPI app (the scheduler starts with the app's lifespan).

    Args:
        config: :class:`ServiceConfig`.

    Returns:
        The ASGI app; serve it with uvicorn.
    """
    data_dir = Path(config.data_dir).resolve()
    store = JobStore(data_dir)
    for sub in ("jobs", "incoming"):
        (data_dir / sub).mkdir(exist_ok=True)
    retention_s = None if config.retention_hours is None else config.retention_hours * 3600.0
    scheduler = Scheduler(store, data_dir, config.workers, retention_s)

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
        max_body_size=config.max_upload_mb * (1 << 20),
    )
    app.state.store, app.state.scheduler, app.state.config = store, scheduler, config

    def auth(authorization: Annotated[str | None, Header()] = None) -> None:
        if config.token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), config.token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    def job_or_404(job_id: str):
        rec = store.get(job_id)
        if rec is None:
            raise HTTPException(404, f"no job {job_id}")
        return rec

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> Health:
        """Liveness and queue depth (no auth)."""
        return Health(queued=store.count(JobState.QUEUED), running=store.count(JobState.RUNNING),
                      workers=config.workers)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(resources.files("sammask.service").joinpath("static/index.html").read_text("utf-8"))

    @app.post("/v1/jobs", status_code=201, response_model=JobView, dependencies=[Depends(auth)], tags=["jobs"],
              responses={200: {"model": JobView, "description": "Same Idempotency-Key: the existing job."},
                         401: {}, 403: {}, 413: {}, 422: {}, 503: {}})
    def create_job(
        video: Annotated[UploadFile | None, File(description="The video (any container FFmpeg reads).")] = None,
        tracks: Annotated[UploadFile | None, File(description="Tracks: MOT .txt or sammask .json.")] = None,
        masks: Annotated[UploadFile | None, File(
            description="Instead of tracks: masks to apply, a zipped applied-mask export (docs/masks-format.md).")] = None,
        video_path: Annotated[str | None, Form(description="A server-side video under --allow-root.")] = None,
        settings: Annotated[str | None, Form(description="JSON object of JobSettings.")] = None,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
    ) -> Any:
        """Submit a redaction job."""
        if idempotency_key is not None and (existing := store.by_key(idempotency_key)) is not None:
            return JSONResponse(JobView.of(existing).model_dump(mode="json"), status_code=200)
        if tracks is not None and masks is not None:
            raise HTTPException(422, "send at most one of 'tracks' (MOT .txt or sammask .json) and 'masks' "
                                     "(zipped applied-mask export); with neither, objects are detected (settings.detect)")
        source = Source.TRACKS if tracks is not None else Source.MASKS if masks is not None else Source.DETECT
        try:
            options = JobSettings.model_validate_json(settings) if settings else JobSettings()
            gate(options.run_spec(source))  # the one gate: sources, bounds, segmenter options, model
            if source is Source.DETECT and options.detect is not None:
                _check_hub_ids(options.detect)
        except ValidationError as exc:
            raise HTTPException(422, f"invalid settings: {_validation_message(exc)}") from None
        except SammaskError as exc:
            raise HTTPException(422, f"invalid settings: {exc}") from None
        if (video is None) == (video_path is None):
            raise HTTPException(422, "send exactly one of 'video' (file) and 'video_path'")
        if store.count(JobState.QUEUED) >= config.queue_size:
            raise HTTPException(503, f"queue full ({config.queue_size} jobs waiting); retry later",
                                headers={"Retry-After": "10"})
        job_id = uuid.uuid4().hex
        incoming = data_dir / "incoming" / job_id
        files = JobFiles.of(data_dir, job_id)
        try:
            (incoming / "input").mkdir(parents=True)
            if video is not None:
                if _copy(video.file, incoming / "input" / "video") == 0:
                    raise HTTPException(422, "the uploaded video is empty")
                source, name = files.video, display_name(video.filename)
            else:
                source = _resolve_under(config.allow_root, video_path or "")
                name = display_name(source.name)
            upload, stored = (tracks, "tracks") if tracks is not None else (masks, "masks.zip")
            if upload is not None and _copy(upload.file, incoming / "input" / stored) == 0:
                raise HTTPException(422, f"the uploaded {stored} file is empty")
            files.root.parent.mkdir(parents=True, exist_ok=True)
            incoming.rename(files.root)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        rec, created = store.create(job_id=job_id, settings=options.model_dump(mode="json", exclude_defaults=True),
                                    video_path=str(source), filename=name, idempotency_key=idempotency_key)
        if not created:
            files.remove()
            return JSONResponse(JobView.of(rec).model_dump(mode="json"), status_code=200)
        scheduler.wake()
        return JobView.of(rec)

    @app.get("/v1/jobs", response_model=JobList, dependencies=[Depends(auth)], tags=["jobs"])
    def list_jobs(state: JobState | None = None, limit: int = 100) -> JobList:
        """Jobs, newest first."""
        return JobList(jobs=[JobView.of(r) for r in store.list(state=state, limit=max(1, min(limit, 1000)))])

    @app.get("/v1/jobs/{job_id}", response_model=JobView, dependencies=[Depends(auth)], tags=["jobs"])
    def get_job(job_id: JobId) -> JobView:
        """One job: state, progress 0..1, eta_s, error, report."""
        return JobView.of(job_or_404(job_id))

    @app.get("/v1/jobs/{job_id}/events", dependencies=[Depends(auth)], tags=["jobs"],
             response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "`event: job` with a JobView as `data`, on every change; "
                                             "the stream ends after a terminal state."}})
    async def job_events(job_id: JobId, request: Request) -> StreamingResponse:
        """Progress as server-sent events."""
        job_or_404(job_id)

        async def stream() -> AsyncIterator[str]:
            last: tuple[Any, ...] | None = None
            quiet = 0.0
            while not await request.is_disconnected():
                rec = await asyncio.to_thread(store.get, job_id)
                if rec is None:
                    yield "event: deleted\ndata: {}\n\n"
                    return
                key = (rec.state, round(rec.progress, 3), rec.attempts)
                if key != last:
                    last, quiet = key, 0.0
                    yield f"event: job\ndata: {JobView.of(rec).model_dump_json()}\n\n"
                elif quiet >= EVENT_KEEPALIVE_S:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                if rec.state.terminal:
                    return
                await asyncio.sleep(EVENT_POLL_S)
                quiet += EVENT_POLL_S

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def done_file(job_id: str, pick: str) -> Path:
        rec = job_or_404(job_id)
        if rec.state is not JobState.DONE:
            raise HTTPException(409, f"job {job_id} is {rec.state.value}, not done")
        path: Path = getattr(JobFiles.of(data_dir, job_id), pick)
        if not path.is_file():
            raise HTTPException(404, f"job {job_id} has no {pick.replace('_', ' ')}")
        return path

    @app.get("/v1/jobs/{job_id}/result", dependencies=[Depends(auth)], tags=["jobs"], response_class=FileResponse,
             responses={200: {"content": {"video/mp4": {}}}, 409: {}})
    def job_result(job_id: JobId) -> FileResponse:
        """The redacted video of a done job."""
        path = done_file(job_id, "output")
        stem = job_or_404(job_id).filename.rsplit(".", 1)[0]
        return FileResponse(path, media_type="video/mp4", filename=f"{stem}-redacted.mp4")

    @app.get("/v1/jobs/{job_id}/report", dependencies=[Depends(auth)], tags=["jobs"])
    def job_report(job_id: JobId) -> dict[str, Any]:
        """The run report of a done job (JSON)."""
        return json.loads(done_file(job_id, "report").read_text(encoding="utf-8"))

    @app.get("/v1/jobs/{job_id}/masks", dependencies=[Depends(auth)], tags=["jobs"], response_class=FileResponse,
             responses={200: {"content": {"application/zip": {}}}, 404: {}, 409: {}})
    def job_masks(job_id: JobId) -> FileResponse:
        """The applied masks (docs/masks-format.md) as a zip, for jobs submitted with ``save_masks``."""
        return FileResponse(done_file(job_id, "masks_zip"), media_type="application/zip", filename=f"{job_id}-masks.zip")

    @app.delete("/v1/jobs/{job_id}", dependencies=[Depends(auth)], tags=["jobs"], response_model=JobView,
                responses={204: {"description": "A finished job and its files were deleted."}})
    def delete_job(job_id: JobId) -> Any:
        """Cancel a queued or running job (its worker is killed, its files removed), or delete a finished one."""
        before = store.cancel(job_id)
        if before is None:
            raise HTTPException(404, f"no job {job_id}")
        files = JobFiles.of(data_dir, job_id)
        if not before.terminal:
            scheduler.kill(job_id)
            files.remove()
            return JobView.of(job_or_404(job_id))
        files.remove()
        store.delete(job_id)
        return Response(status_code=204)

    return app
