"""The ``/v1`` routes of the job service (a FastAPI router; :func:`sammask.service.app.create_app` mounts it).

Every route depends on :func:`caller` (the bearer token, checked from the headers before any
body is read). A client sees only its own jobs (an admin sees all): another client's job answers
404, as an unknown one does.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from sammask.export.packed import KINDS
from sammask.service.masks_upload import check_masks_upload
from sammask.batch.options import JobSettings, Source
from sammask.errors import ConfigError, SammaskError
from sammask.service.auth import Principal, Tokens
from sammask.service.layout import JOB_ID, JobFiles, display_name
from sammask.service.models import JobList, JobView, ModelInfo, ModelList
from sammask.service.scheduler import Scheduler
from sammask.service.store import JobRecord, JobState, JobStore
from sammask.service.uploads import (
    Admission,
    RequestRefused,
    check_text,
    link_or_copy,
    open_under,
    receive_form,
)
from sammask.spec.run import gate

JobId = Annotated[str, PathParam(pattern=JOB_ID.pattern, description="Job id (32 hex digits).")]

EVENT_POLL_S = 0.25
EVENT_KEEPALIVE_S = 15.0
MAX_KEY_CHARS = 200
CLOSE = {"Connection": "close"}
"""Sent with every answer given before the request body was read: the connection cannot carry another request."""


@dataclass(frozen=True, slots=True)
class ServiceState:
    """What the routes share (``app.state.svc``).

    Attributes:
        store, scheduler, tokens, admission: the service's parts.
        data_dir: resolved data folder.
        allow_root: resolved ``--allow-root``, or None.
        max_upload_bytes, max_unpack_bytes: request body and masks-zip limits, bytes.
        workers, queue_size: as configured.
    """

    store: JobStore
    scheduler: Scheduler
    tokens: Tokens
    admission: Admission
    data_dir: Path
    allow_root: Path | None
    max_upload_bytes: int
    max_unpack_bytes: int
    workers: int
    queue_size: int


def state(request: Request) -> ServiceState:
    """The :class:`ServiceState` of the app serving ``request``."""
    return request.app.state.svc


def caller(request: Request) -> Principal:
    """The authenticated client; 401 (and the connection closed, its body unread) otherwise."""
    who = state(request).tokens.authenticate(request.headers.get("authorization"))
    if who is None:
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer", **CLOSE})
    return who


Svc = Annotated[ServiceState, Depends(state)]
Caller = Annotated[Principal, Depends(caller)]
router = APIRouter(prefix="/v1", tags=["jobs"], dependencies=[Depends(caller)])


def _job(svc: ServiceState, who: Principal, job_id: str) -> JobRecord:
    rec = svc.store.get(job_id)
    if rec is None or not who.owns(rec.owner):
        raise HTTPException(404, f"no job {job_id}")
    return rec


def _validation_message(exc: ValidationError) -> str:
    """One line per bad settings field: ``field: what is wrong (got VALUE)``."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(x) for x in err["loc"]) or "settings"
        got = f" (got {err['input']!r})" if err["type"] not in ("extra_forbidden", "value_error") else ""
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}{got}"[:300])
    return "; ".join(parts)


def _check_hub_ids(spec: str) -> None:
    """A job's ``hub:`` / ``text=`` detector must be a model id, not a server-side folder (clients name no paths).

    Raises:
        ConfigError: a ``hub:`` or ``text=MODEL:`` item that looks like a path.
    """
    for item in spec.split(","):
        item = item.strip()
        target = None
        if item.startswith("hub:"):
            target = item.removeprefix("hub:")
        elif item.startswith("text="):
            target = item.removeprefix("text=").partition(":")[0]
        if target is not None and (target.startswith(("/", ".", "~")) or "\\" in target or ".." in target):
            raise ConfigError(f"detect: '{item}' names a folder; a job may name a Hugging Face model id (in the server's cache) only")


def _strings(value: Any, where: str) -> None:
    """Every string in a parsed settings object checked by :func:`check_text` (422 naming its field)."""
    if isinstance(value, str):
        check_text(where, value)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_text(f"{where} key", str(k))
            _strings(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _strings(v, f"{where}.{i}")


def _settings(text: str | None, source: Source) -> JobSettings:
    try:
        if text:
            _strings(json.loads(text), "settings")
        options = JobSettings.model_validate_json(text) if text else JobSettings()
        gate(options.run_spec(source))  # the one gate: sources, bounds, segmenter options, model
        if source is Source.DETECT and options.detect is not None:
            _check_hub_ids(options.detect)
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise RequestRefused(422, f"invalid settings: {_validation_message(exc)}") from None
        if isinstance(exc, SammaskError):
            raise RequestRefused(422, f"invalid settings: {exc}") from None
        raise RequestRefused(422, f"settings: not a JSON object ({exc})") from None
    except SammaskError as exc:
        raise RequestRefused(422, f"invalid settings: {exc}") from None
    return options


def _idempotency_key(request: Request, who: Principal) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable() or not key.isascii():
        raise RequestRefused(422, f"Idempotency-Key: give 1 to {MAX_KEY_CHARS} printable ASCII characters")
    return f"{who.name}/{key}"


async def _accept(
    request: Request, svc: ServiceState, who: Principal, key: str | None, job_id: str, incoming: Path
) -> JSONResponse | JobView:
    """Receive the body into ``incoming``, check it, move it to the job folder and store the job."""
    inputs = incoming / "input"
    inputs.mkdir(parents=True)
    form = await receive_form(request, inputs, svc.max_upload_bytes)
    if "tracks" in form.files and "masks" in form.files:
        raise RequestRefused(
            422,
            "send at most one of 'tracks' (MOT .txt or sammask .json) and 'masks' "
            f"({KINDS}); with neither, objects are detected (settings.detect)",
        )
    source = Source.TRACKS if "tracks" in form.files else Source.MASKS if "masks" in form.files else Source.DETECT
    options = _settings(form.fields.get("settings"), source)
    if ("video" in form.files) == ("video_path" in form.fields):
        raise RequestRefused(422, "send exactly one of 'video' (file) and 'video_path'")
    for part, size in form.sizes.items():
        if size == 0:
            raise RequestRefused(422, f"{part}: the uploaded file is empty")
    if "masks" in form.files:
        try:
            await asyncio.to_thread(check_masks_upload, form.files["masks"], svc.max_unpack_bytes)
        except SammaskError as exc:
            raise RequestRefused(422, f"masks: {exc}") from None
    if "video" in form.files:
        name = display_name(form.filenames["video"])
    else:
        if svc.allow_root is None:
            raise RequestRefused(403, "video_path is disabled on this server (start it with --allow-root DIR)")
        fd = open_under(svc.allow_root, form.fields["video_path"])
        try:
            await asyncio.to_thread(link_or_copy, fd, inputs / "video")
        finally:
            os.close(fd)
        name = display_name(form.fields["video_path"])
    files = JobFiles.of(svc.data_dir, job_id)
    files.root.parent.mkdir(parents=True, exist_ok=True)
    incoming.rename(files.root)
    rec, created = svc.store.create(
        job_id=job_id,
        settings=options.model_dump(mode="json", exclude_defaults=True),
        video_path="input/video",
        filename=name,
        idempotency_key=key,
        owner=who.name,
    )
    if not created:
        files.remove()
        return JSONResponse(JobView.of(rec).model_dump(mode="json"), status_code=200)
    svc.scheduler.wake()
    return JobView.of(rec)


@router.post(
    "/jobs",
    status_code=201,
    response_model=JobView,
    responses={
        200: {"model": JobView, "description": "Same Idempotency-Key: the existing job."},
        401: {},
        403: {},
        413: {},
        422: {},
        503: {},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "video": {"type": "string", "format": "binary", "description": "The video (any container FFmpeg reads)."},
                            "video_path": {
                                "type": "string",
                                "description": "Instead of video: a server-side video below --allow-root (relative).",
                            },
                            "tracks": {"type": "string", "format": "binary", "description": "Tracks: MOT .txt or sammask .json."},
                            "masks": {
                                "type": "string",
                                "format": "binary",
                                "description": f"Instead of tracks: {KINDS} (docs/service.md).",
                            },
                            "settings": {"type": "string", "description": "JSON object of JobSettings."},
                        },
                    }
                }
            },
        }
    },
)
async def create_job(request: Request, svc: Svc, who: Caller) -> Any:
    """Submit a redaction job (the body is read only after the token and a queue slot are granted)."""
    try:
        key = _idempotency_key(request, who)
        if key is not None and (existing := svc.store.by_key(key)) is not None:
            return JSONResponse(JobView.of(existing).model_dump(mode="json"), status_code=200, headers=CLOSE)
        if not svc.admission.reserve():
            raise RequestRefused(503, f"queue full ({svc.queue_size} jobs waiting); retry later")
        job_id = uuid.uuid4().hex
        incoming = svc.data_dir / "incoming" / job_id
        try:
            return await _accept(request, svc, who, key, job_id, incoming)
        finally:
            svc.admission.release()
            await asyncio.to_thread(shutil.rmtree, incoming, True)
    except RequestRefused as exc:
        headers = {"Retry-After": "10", **CLOSE} if exc.status == 503 else CLOSE
        raise HTTPException(exc.status, exc.detail, headers=headers) from None


@router.get("/jobs", response_model=JobList)
def list_jobs(svc: Svc, who: Caller, state: JobState | None = None, limit: int = 100) -> JobList:
    """The caller's jobs (an admin: every job), newest first."""
    recs = svc.store.list(state=state, limit=max(1, min(limit, 1000)), owner=None if who.admin else who.name)
    return JobList(jobs=[JobView.of(r) for r in recs])


@router.get("/models", response_model=ModelList, tags=["models"])
def list_models() -> ModelList:
    """Every ``settings.model`` choice and whether this server can run it offline (modules
    importable, weights in its Hugging Face cache); nothing is loaded or downloaded."""
    from sammask.segmentation.families import installed_models, model_strategies

    return ModelList(
        models=[
            ModelInfo(
                name=m.name,
                family=m.family,
                available=m.available,
                reason=m.reason,
                source=m.source,
                strategies=list(model_strategies(m.family)),
            )
            for m in installed_models()
        ]
    )


@router.get("/jobs/{job_id}", response_model=JobView)
def get_job(job_id: JobId, svc: Svc, who: Caller) -> JobView:
    """One job: state, progress 0..1, eta_s, error, report."""
    return JobView.of(_job(svc, who, job_id))


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`event: job` with a JobView as `data`, on every change; the stream ends after a terminal state.",
        }
    },
)
async def job_events(job_id: JobId, request: Request, svc: Svc, who: Caller) -> StreamingResponse:
    """Progress as server-sent events."""
    _job(svc, who, job_id)

    async def stream() -> AsyncIterator[str]:
        last: tuple[Any, ...] | None = None
        quiet = 0.0
        while not await request.is_disconnected():
            rec = await asyncio.to_thread(svc.store.get, job_id)
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

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _done_file(svc: ServiceState, who: Principal, job_id: str, pick: str) -> tuple[JobRecord, Path]:
    rec = _job(svc, who, job_id)
    if rec.state is not JobState.DONE:
        raise HTTPException(409, f"job {job_id} is {rec.state.value}, not done")
    path: Path = getattr(JobFiles.of(svc.data_dir, job_id), pick)
    if not path.is_file():
        raise HTTPException(404, f"job {job_id} has no {pick.replace('_', ' ')}")
    return rec, path


@router.get("/jobs/{job_id}/result", response_class=FileResponse, responses={200: {"content": {"video/mp4": {}}}, 409: {}})
def job_result(job_id: JobId, svc: Svc, who: Caller) -> FileResponse:
    """The redacted video of a done job."""
    rec, path = _done_file(svc, who, job_id, "output")
    return FileResponse(path, media_type="video/mp4", filename=f"{rec.filename.rsplit('.', 1)[0]}-redacted.mp4")


@router.get("/jobs/{job_id}/report")
def job_report(job_id: JobId, svc: Svc, who: Caller) -> dict[str, Any]:
    """The run report of a done job (JSON; paths relative to the job)."""
    return json.loads(_done_file(svc, who, job_id, "report")[1].read_text(encoding="utf-8"))


@router.get("/jobs/{job_id}/masks", response_class=FileResponse, responses={200: {"content": {"application/zip": {}}}, 404: {}, 409: {}})
def job_masks(job_id: JobId, svc: Svc, who: Caller) -> FileResponse:
    """The applied masks (docs/masks-format.md) as a zip, for jobs submitted with ``save_masks``."""
    return FileResponse(_done_file(svc, who, job_id, "masks_zip")[1], media_type="application/zip", filename=f"{job_id}-masks.zip")


@router.delete("/jobs/{job_id}", response_model=JobView, responses={204: {"description": "A finished job and its files were deleted."}})
def delete_job(job_id: JobId, svc: Svc, who: Caller) -> Any:
    """Cancel a queued or running job (its worker is killed, its files removed), or delete a finished one."""
    _job(svc, who, job_id)
    before = svc.store.cancel(job_id)
    if before is None:
        raise HTTPException(404, f"no job {job_id}")
    files = JobFiles.of(svc.data_dir, job_id)
    if not before.terminal:
        svc.scheduler.kill(job_id)
        files.remove()
        return JobView.of(_job(svc, who, job_id))
    files.remove()
    svc.store.delete(job_id)
    return Response(status_code=204)
