"""Options of the SAM 2 segmenter (the segmentation room's own dataclass).

:class:`Sam2Options` is what every SAM 2 module reads; ``sammask.settings`` only composes it into
:class:`~sammask.settings.RedactSettings` (and maps the INI / CLI onto it). Nothing here imports
torch, sam2 or ``sammask.settings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sammask.errors import ConfigError

__all__ = ["PRECISIONS", "RUNTIMES", "SAM2_STRATEGIES", "Sam2Options"]

SAM2_STRATEGIES = ("image", "video", "baseline")
"""``image`` (per-frame box prompts), ``video`` (propagation), ``baseline`` (the original plan)."""

RUNTIMES = ("auto", "torch", "compile", "onnx", "openvino")
"""Image-encoder runtimes (see :mod:`sammask.segmentation.sam2.runtime`); ``auto`` = OpenVINO
when the ``sammask[openvino]`` extra is installed, else torch (measured, docs/benchmarks.md)."""

PRECISIONS = ("fp32", "bf16", "int8")
"""Image-encoder precisions; which runtime supports which: :data:`~sammask.segmentation.sam2.runtime.SUPPORTED`."""


@dataclass(frozen=True, slots=True)
class Sam2Options:
    """Options of the SAM 2 segmenter.

    Attributes:
        model: model name, e.g. ``sam2.1_hiera_tiny`` (see ``sammask.segmentation.sam2``).
        checkpoint: local ``.pt`` file (official format); None -> Hugging Face hub cache.
        device: ``cpu``, ``cuda`` or ``mps``.
        strategy: ``image`` (per-frame box prompts), ``video`` (propagation with bounded
            memory) or ``baseline`` (the original plan: chunked propagation from first boxes).
        input_size: model input side in pixels (1024 native; smaller is faster).
        chunk_size: frames per chunk for ``baseline`` (the original ``chunk_size``).
        reprompt_iou: ``video``: re-prompt a track from its box when the IoU of the mask's
            bbox with the detector box falls below this.
        offline: never try the hub (also when ``HF_HUB_OFFLINE=1``).
        use_previous_mask: ``image``: also prompt each track with its previous frame's mask
            logits (temporal stability; effect on quality needs real weights to judge).
        runtime: image-encoder runtime, one of :data:`RUNTIMES` (CPU only for all but
            ``torch``).
        precision: image-encoder precision, one of :data:`PRECISIONS` (``bf16`` also runs the
            mask decoder under bf16 autocast with the torch-based runtimes).
        crop: ``image``: encode a square crop around the frame's boxes instead of the whole
            frame when the crop fits in the frame (see :func:`~sammask.segmentation.sam2.crop.plan_crop`).
        export_cache: folder for exported encoders; None -> ``$SAMMASK_EXPORT_CACHE``, else
            ``$XDG_CACHE_HOME/sammask/exports`` (``~/.cache/sammask/exports``).

    Raises:
        ConfigError: on an unknown strategy / device / runtime / precision, or an out-of-range
            number.
    """

    model: str = "sam2.1_hiera_tiny"
    checkpoint: Path | None = None
    device: str = "cpu"
    strategy: str = "image"
    input_size: int = 1024
    chunk_size: int = 300
    reprompt_iou: float = 0.5
    offline: bool = False
    use_previous_mask: bool = False
    runtime: str = "auto"
    precision: str = "bf16"
    crop: bool = True
    export_cache: Path | None = None

    def __post_init__(self) -> None:
        if self.strategy not in SAM2_STRATEGIES:
            raise ConfigError(f"strategy must be one of {', '.join(SAM2_STRATEGIES)}, got '{self.strategy}'")
        if self.device.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise ConfigError(f"device must be cpu, cuda or mps, got '{self.device}'")
        if self.input_size < 64 or self.input_size % 16:
            raise ConfigError(f"input_size must be a multiple of 16 and >= 64, got {self.input_size}")
        if self.chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1 frame, got {self.chunk_size}")
        if not 0.0 <= self.reprompt_iou <= 1.0:
            raise ConfigError(f"reprompt_iou must be in [0, 1], got {self.reprompt_iou}")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, got '{self.runtime}'")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got '{self.precision}'")
