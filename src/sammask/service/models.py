"""Pydantic models of the HTTP API (they make the OpenAPI schema at ``/docs``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from sammask.batch.options import JobSettings
from sammask.service.store import JobRecord, JobState


class JobView(BaseModel):
    """A job as the API shows it."""

    id: str = Field(description="32 hex digits.")
    state: JobState
    progress: float = Field(ge=0.0, le=1.0, description="Fraction of frames done.")
    eta_s: float | None = Field(None, description="Estimated seconds left while running.")
    error: str | None = Field(None, description="Why the job failed.")
    report: dict[str, Any] | None = Field(None, description="Run report of a done job (frames, fallbacks, ...).")
    filename: str = Field(description="Display name of the input video.")
    settings: JobSettings
    created: float = Field(description="UNIX time, seconds.")
    started: float | None = None
    finished: float | None = None
    attempts: int = Field(description="Worker starts (more than 1 after a crash: resumed).")
    replayed_frames: int = Field(description="Frames the last attempt took from the checkpoint instead of segmenting.")

    @classmethod
    def of(cls, rec: JobRecord) -> JobView:
        """The view of a store record."""
        return cls(
            id=rec.id,
            state=rec.state,
            progress=min(max(rec.progress, 0.0), 1.0),
            eta_s=rec.eta_s,
            error=rec.error,
            report=rec.report,
            filename=rec.filename,
            settings=JobSettings.model_validate(rec.settings),
            created=rec.created,
            started=rec.started,
            finished=rec.finished,
            attempts=rec.attempts,
            replayed_frames=rec.replayed,
        )


class JobList(BaseModel):
    """``GET /v1/jobs``."""

    jobs: list[JobView]


class Health(BaseModel):
    """``GET /healthz``."""

    status: str = "ok"
    queued: int
    running: int
    workers: int


class ModelInfo(BaseModel):
    """One ``--model`` choice (:class:`~sammask.segmentation.families.ModelAvailability`)."""

    name: str = Field(description="The value of settings.model (e.g. sam2.1_hiera_tiny, samhq_vit_base).")
    family: str = Field(description="sam2 (official package), sam2-hf, edgetam, sam3 or samhq.")
    available: bool = Field(description="Its Python modules import and its weights are in this server's cache.")
    reason: str = Field(description="Why not available (empty when available).")
    source: str = Field(description="Hugging Face hub repo id the weights come from.")
    strategies: list[str] = Field(description="Segmentation strategies it runs (image, video, baseline).")


class ModelList(BaseModel):
    """``GET /v1/models``."""

    models: list[ModelInfo]
