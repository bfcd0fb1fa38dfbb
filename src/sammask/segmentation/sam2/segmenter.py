"""The ``sam2`` segmenter: builds (or takes) a SAM 2 model and dispatches to a strategy.

Strategies (``Sam2Options.strategy``):

- ``image``: :class:`~sammask.segmentation.sam2.image.ImageStrategy`, per-frame box prompts.
- ``video``: ``sammask.segmentation.sam2.video.VideoStrategy``, propagation with bounded memory.
- ``baseline``: ``sammask.segmentation.sam2.video.BaselineStrategy``, the original plan
  (chunked propagation from each track's first box).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from sammask.errors import ConfigError
from sammask.segmentation.base import FrameMasks, FramePrompts, Segmenter
from sammask.segmentation.sam2.options import Sam2Options

if TYPE_CHECKING:
    import torch

    from sammask.segmentation.sam2.runtime import ImageEncoderRuntime

logger = logging.getLogger(__name__)

__all__ = ["Sam2Segmenter", "build_strategy"]


def build_strategy(model: torch.nn.Module, settings: Sam2Options, runtime: ImageEncoderRuntime | None = None) -> Any:
    """Instantiate the strategy object named by ``settings.strategy`` (lazy imports).

    Every strategy's image encoder runs on ``settings.runtime`` / ``settings.precision``
    (:func:`~sammask.segmentation.sam2.runtime.build_encoder_runtime`). ``image`` calls it
    directly (and alone uses ``settings.crop``); ``video`` and ``baseline`` get a shallow copy of
    the model whose ``forward_image`` is the runtime's (:func:`~sammask.segmentation.sam2.runtime.with_encoder`),
    so sam2's own predictor code runs unchanged around it. Memory attention, memory encoder,
    prompt encoder and mask decoder stay torch fp32 in those two (they live inside
    ``SAM2VideoPredictor``'s per-frame step, which cannot be swapped without forking it), and
    crops are not used there (SAM 2's memory bank is in frame coordinates).

    Raises:
        ConfigError: if the strategy is unknown, or the runtime does not support the precision /
            device (``RuntimeUnavailableError`` when it is not installed).
        ModelLoadError: if the runtime's export fails.
    """
    from sammask.segmentation.sam2.runtime import build_encoder_runtime, with_encoder

    if settings.strategy not in ("image", "video", "baseline"):
        raise ConfigError(f"unknown SAM 2 strategy '{settings.strategy}': choose image, video or baseline")
    if runtime is None:
        runtime = build_encoder_runtime(model, settings)
    if settings.strategy == "image":
        from sammask.segmentation.sam2.image import ImageStrategy

        return ImageStrategy(model, settings, use_previous_mask=settings.use_previous_mask, runtime=runtime)
    if not (runtime.name == "torch" and runtime.precision == "fp32"):
        model = with_encoder(model, runtime)
    if settings.strategy == "video":
        from sammask.segmentation.sam2.video import VideoStrategy

        return VideoStrategy(model, settings)
    from sammask.segmentation.sam2.video import BaselineStrategy

    return BaselineStrategy(model, settings)


class Sam2Segmenter(Segmenter):
    """SAM 2 segmenter front (registry name ``sam2``).

    Args:
        settings: :class:`~sammask.segmentation.sam2.options.Sam2Options` (model, checkpoint, device, strategy,
            input_size, ...).
        model: an already built SAM 2 model (e.g. shared between runs, or random-init in
            tests); None -> :func:`~sammask.segmentation.sam2.model.build_sam2_model` from
            ``settings``. A given model keeps its own ``image_size``.
        runtime: an image-encoder runtime already built for ``model`` (shared between runs, so
            that an export or compilation is not redone); None -> built from ``settings``.

    Raises:
        ConfigError: unknown model / strategy, device not available.
        WeightsNotFoundError: no weights found for ``settings.model``.
        ModelLoadError: sam2 missing, the checkpoint does not match the model, or the
            runtime's export failed.
        RuntimeUnavailableError: the runtime is not installed (checked before loading weights).
    """

    name: ClassVar[str] = "sam2"

    def __init__(
        self,
        settings: Sam2Options,
        model: torch.nn.Module | None = None,
        runtime: ImageEncoderRuntime | None = None,
    ) -> None:
        from sammask.segmentation.families import family_of_model, resolve_model_source
        from sammask.segmentation.sam2.runtime import resolve_runtime

        source = resolve_model_source(settings.model, settings.checkpoint) if model is None else None
        family = source.family if source is not None else family_of_model(model)
        if family != "sam2":  # a transformers family (None: a hub id, family read from its config)
            self._init_hf(settings, model, source)
            return
        resolve_runtime(settings, settings.device)  # a missing runtime fails before the weights load
        if model is None:
            from sammask.segmentation.sam2.model import build_sam2_model

            model = build_sam2_model(
                settings.model,
                checkpoint=settings.checkpoint,
                image_size=settings.input_size,
                device=settings.device,
                offline=settings.offline,
            )
        elif int(getattr(model, "image_size", settings.input_size)) != settings.input_size:
            logger.warning(
                "SAM 2 model given with image_size %s; settings.input_size %d is ignored",
                getattr(model, "image_size", None),
                settings.input_size,
            )
        self.settings = settings
        self.model: torch.nn.Module | None = model
        self.strategy: Any = build_strategy(model, settings, runtime)

    def _init_hf(self, settings: Sam2Options, model: torch.nn.Module | None, source: Any) -> None:
        """Build a transformers family (EdgeTAM, SAM 3, SAM-HQ, SAM 2 in HF format): ``image`` strategy
        (:class:`~sammask.segmentation.hf_image.HFImageStrategy`) or, for the families with a video
        model, ``video`` (:class:`~sammask.segmentation.hf_video.HFVideoStrategy`); image encoder on
        torch / OpenVINO / ONNX (``auto`` = OpenVINO when installed, as SAM 2)."""
        from sammask.segmentation.families import FAMILIES, family_of_model, load_hf_model
        from sammask.segmentation.hf_image import HFEncoderRuntime, HFImageStrategy

        name = settings.model if source is None else source.name
        known = source.family if source is not None else family_of_model(model)
        if settings.strategy == "baseline" or (settings.strategy == "video" and known is not None and not FAMILIES[known].video_class):
            has_video = ", ".join(f.name for f in FAMILIES.values() if f.video_class)
            raise ConfigError(
                f"model {name}: strategy '{settings.strategy}' is built only for the official SAM 2 checkpoints"
                + (f" and the families with a video model ({has_video})" if settings.strategy == "video" else "")
                + "; use --strategy image with this model"
            )
        runtime = settings.runtime
        if runtime == "auto":  # as SAM 2: OpenVINO when installed and on the CPU, else torch
            from sammask.segmentation.sam2.runtime import _importable

            runtime = "openvino" if settings.device.split(":")[0] == "cpu" and _importable("openvino") else "torch"
        if runtime == "compile":
            raise ConfigError(
                f"model {name}: runtime 'compile' is built only for the official SAM 2 checkpoints; "
                f"use --runtime torch, openvino or onnx with this model"
            )
        from sammask.segmentation.hf_image import HF_SUPPORTED

        if settings.precision not in HF_SUPPORTED.get(runtime, ()):  # before the weights load
            raise ConfigError(
                f"model {name}: the transformers families' image encoder runs on "
                + ", ".join(f"{r} ({'/'.join(p)})" for r, p in HF_SUPPORTED.items())
                + f", not {runtime} {settings.precision}"
            )
        if runtime != "torch":
            from sammask.segmentation.sam2.runtime import _require

            _require(runtime)
        video = settings.strategy == "video"
        if model is None:
            model, family = load_hf_model(source, device=settings.device, offline=settings.offline, video=video)
        else:
            family = family_of_model(model)
        self.settings = settings
        self.model = model
        if video:
            from sammask.segmentation.hf_video import HFVideoStrategy

            if not hasattr(model, "memory_encoder"):
                raise ConfigError(
                    f"model {name}: a {type(model).__name__} has no memory modules; --strategy video needs the "
                    f"family's video model ({FAMILIES[family].video_class or 'none'})"
                )
            encoder = HFEncoderRuntime(model, family, runtime, settings.precision, settings.export_cache)
            self.strategy = HFVideoStrategy(model, family, reprompt_iou=settings.reprompt_iou, encoder=encoder)
        else:
            self.strategy = HFImageStrategy(
                model,
                family,
                crop=settings.crop,
                precision=settings.precision,
                runtime=runtime,
                export_cache=settings.export_cache,
            )
        if self.strategy.image_size != settings.input_size:
            logger.info(
                "model %s runs at its own input size %d (settings.input_size %d applies to official SAM 2 only)",
                name,
                self.strategy.image_size,
                settings.input_size,
            )

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Segment a stream of frames with the configured strategy (see :class:`Segmenter`).

        Raises:
            SegmentationError: if the model fails (the pipeline then masks boxes).
        """
        if self.strategy is None:
            raise ConfigError("Sam2Segmenter used after close(); build a new one")
        return self.strategy.segment(frames)

    def close(self) -> None:
        """Drop the model and strategy (frees their memory once no one else holds them)."""
        close = getattr(self.strategy, "close", None)
        if callable(close):
            close()
        self.strategy = None
        self.model = None
