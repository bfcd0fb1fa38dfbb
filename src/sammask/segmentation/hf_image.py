"""Strategy ``image`` for the ``transformers`` SAM families (SAM 2 in HF format, EdgeTAM, SAM 3's
tracker, SAM-HQ): every frame segmented on its own from its box prompts.

Per frame: optional square crop around the boxes (:func:`~sammask.segmentation.sam2.crop.plan_crop`,
the same rule as the official-SAM 2 ``image`` strategy), the family's input transform done here
(``transformers``' SAM 2 / SAM 3 image processors need torchvision, which a CPU-only torch cannot
load), ONE image-encoder call (``model.get_image_embeddings``), ONE prompt-encoder + mask-decoder
call for all boxes (``multimask_output=False``), low-res logits -> frame-size masks, pasted back
into the frame when cropped.

Input transforms (``transformers`` 5.25 ``Sam2ImageProcessor`` / ``Sam3ImageProcessor`` /
``SamImageProcessor`` defaults):

- ``square`` (SAM 2, EdgeTAM, SAM 3): resize to S x S (aspect not kept), normalise; boxes scale
  by (S / W, S / H); the (S/4)^2 logits cover the whole image.
- ``longest`` (SAM-HQ): longest side to S, pad bottom/right to S x S, normalise; boxes scale by
  S / max(H, W); the logits cover the padded square, so they are upsampled to S, cut to the
  resized image and resized to the frame.

The image encoder (``model.get_image_embeddings``) runs on :class:`HFEncoderRuntime`: torch
(fp32 / bf16 autocast), OpenVINO (fp32 / bf16) or ONNX Runtime (fp32), exported from the loaded
model and cached as the SAM 2 runtimes are (:mod:`sammask.segmentation.sam2.runtime`); the
prompt encoder and mask decoder stay torch (bf16 autocast when the precision is bf16).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sammask.errors import ConfigError, ModelLoadError, SegmentationError
from sammask.segmentation.base import FrameMasks, FramePrompts, TrackPrompt
from sammask.segmentation.families import FAMILIES
from sammask.segmentation.sam2.crop import CropWindow, paste_masks, plan_crop
from sammask.segmentation.sam2.image import unique_prompts
from sammask.segmentation.sam2.model import logits_to_mask, preprocess_frame

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

__all__ = ["BoxPromptModel", "HFEncoderRuntime", "HFImageStrategy", "model_input_size", "segment_boxes"]

HF_SUPPORTED: dict[str, tuple[str, ...]] = {"torch": ("fp32", "bf16"), "openvino": ("fp32", "bf16"), "onnx": ("fp32",)}
"""Runtimes and precisions of the transformers families' image encoder."""


def model_input_size(model: torch.nn.Module, family: str) -> int:
    """S, the square input side in pixels a ``transformers`` SAM-family model was built for."""
    cfg = model.config
    if FAMILIES[family].resize == "longest":
        return int(cfg.vision_config.image_size)
    return int(cfg.prompt_encoder_config.image_size)


def _preprocess_longest(image: np.ndarray, size: int, mean, std, device) -> tuple[torch.Tensor, int, int]:
    import torch
    import torch.nn.functional as F

    h, w = image.shape[:2]
    scale = size / max(h, w)
    rh, rw = max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5))
    x = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float().div_(255.0)
    x = F.interpolate(x, size=(rh, rw), mode="bilinear", align_corners=False, antialias=True)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    x = (x - m) / s
    return F.pad(x, (0, size - rw, 0, size - rh)), rh, rw


def _encoder_graph(model: torch.nn.Module, family: str) -> torch.nn.Module:
    """``model.get_image_embeddings`` as a module returning a flat tuple of tensors (batch 1)."""
    import torch

    longest = FAMILIES[family].resize == "longest"

    class EncoderGraph(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.m.get_image_embeddings(x)
            if longest:  # SAM-HQ: (embeddings, [intermediate ViT embeddings])
                return (out[0], *out[1])
            return tuple(out)

    return EncoderGraph(model).eval()


class HFEncoderRuntime:
    """The image encoder of a ``transformers`` SAM-family model on one runtime.

    Args:
        model: the loaded model (eval, CPU for ``openvino`` / ``onnx``).
        family: its family key.
        runtime: ``torch``, ``openvino`` or ``onnx`` (:data:`HF_SUPPORTED`).
        precision: ``fp32`` or ``bf16`` (see :data:`HF_SUPPORTED`).
        cache: export cache folder (None: :func:`~sammask.segmentation.sam2.runtime.default_export_cache`).

    Raises:
        ConfigError: an unsupported runtime / precision pair.
        RuntimeUnavailableError: the runtime is not installed.
        ModelLoadError: the export failed.
    """

    def __init__(self, model: torch.nn.Module, family: str, runtime: str, precision: str, cache: Path | None = None) -> None:
        from sammask.segmentation.sam2 import runtime as rt

        if precision not in HF_SUPPORTED.get(runtime, ()):
            raise ConfigError(
                f"the {family} family's image encoder runs on "
                + ", ".join(f"{r} ({'/'.join(p)})" for r, p in HF_SUPPORTED.items())
                + f", not {runtime} {precision}"
            )
        self.model, self.family, self.name, self.precision = model, family, runtime, precision
        self.image_size = model_input_size(model, family)
        self.export_path = None
        self.cache_hit = None
        if runtime == "torch":
            return
        import torch

        mod = rt._require(runtime)
        graph, size = _encoder_graph(model, family).to("cpu"), self.image_size
        root = Path(cache) if cache is not None else rt.default_export_cache()
        name = f"{family}-{runtime}-{size}-{self._key(graph, runtime, size)[:24]}"
        try:
            if runtime == "openvino":

                def export(folder: Path) -> None:
                    logger.info("converting the %s image encoder at %d px to OpenVINO (%s)", family, size, folder)
                    with torch.no_grad():
                        converted = mod.convert_model(graph, example_input=torch.zeros(1, 3, size, size))
                    mod.save_model(converted, str(folder / "encoder.xml"), compress_to_fp16=False)

                self.export_path, self.cache_hit = rt._cached_export(root, name, "encoder.xml", export)
                config = {"INFERENCE_NUM_THREADS": rt._threads(), "PERFORMANCE_HINT": "LATENCY"}
                if precision == "fp32":
                    config["INFERENCE_PRECISION_HINT"] = "f32"
                self._request = mod.Core().compile_model(str(self.export_path), "CPU", config).create_infer_request()
            else:

                def export(folder: Path) -> None:
                    logger.info("exporting the %s image encoder at %d px to ONNX (%s)", family, size, folder)
                    with torch.no_grad():
                        torch.onnx.export(
                            graph,
                            (torch.zeros(1, 3, size, size),),
                            str(folder / "encoder.onnx"),
                            input_names=["image"],
                            dynamo=False,
                            opset_version=17,
                        )

                self.export_path, self.cache_hit = rt._cached_export(root, name, "encoder.onnx", export)
                so = mod.SessionOptions()
                so.intra_op_num_threads = rt._threads()
                so.inter_op_num_threads = 1
                self._session = mod.InferenceSession(str(self.export_path), so, providers=["CPUExecutionProvider"])
        except (ConfigError, ModelLoadError):
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"building the {family} image encoder on runtime '{runtime}' ({size} px) failed: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; use --runtime torch"
            ) from exc

    @staticmethod
    def _key(graph: torch.nn.Module, runtime: str, size: int) -> str:
        import hashlib
        import json

        import torch
        import transformers

        h = hashlib.sha256()
        for name, tensor in sorted(graph.state_dict().items()):
            t = tensor.detach().to("cpu").contiguous()
            h.update(name.encode())
            h.update(str((tuple(t.shape), str(t.dtype))).encode())
            h.update(memoryview(t.view(torch.uint8).numpy() if t.dtype == torch.bfloat16 else t.numpy()))
        versions = {"torch": torch.__version__, "transformers": transformers.__version__, "runtime": runtime, "size": size}
        h.update(json.dumps(versions, sort_keys=True).encode())
        return h.hexdigest()

    def embeddings(self, pixel_values: torch.Tensor) -> Any:
        """(1, 3, S, S) float32 -> what ``model.get_image_embeddings`` returns (float32 tensors)."""
        import torch

        if self.name == "torch":
            dev_type = pixel_values.device.type
            with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                out = self.model.get_image_embeddings(pixel_values)
            if FAMILIES[self.family].resize == "longest":
                return out[0].float(), [t.float() for t in out[1]]
            return [t.float() for t in out]
        x = pixel_values.detach().cpu().float().numpy()
        if self.name == "openvino":
            self._request.infer({0: x})
            n = len(self._request.model_outputs)
            flat = [torch.from_numpy(self._request.get_output_tensor(i).data.copy()) for i in range(n)]
        else:
            flat = [torch.from_numpy(o) for o in self._session.run(None, {"image": x})]
        if FAMILIES[self.family].resize == "longest":
            return flat[0], flat[1:]
        return flat


def segment_boxes(
    model: torch.nn.Module,
    family: str,
    image: np.ndarray,
    boxes: np.ndarray,
    encoder: HFEncoderRuntime | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Masks for N box prompts on one image (one encoder call, one batched decoder call).

    Args:
        model: a ``transformers`` model of ``family`` (eval mode).
        family: key of :data:`~sammask.segmentation.families.FAMILIES` other than ``sam2``.
        image: (H, W, 3) uint8 RGB image (a frame or a crop of one).
        boxes: (N, 4) float xyxy boxes in ``image`` pixels, N >= 1.
        encoder: the image-encoder runtime; None -> ``model.get_image_embeddings`` (torch).

    Returns:
        ``(masks, iou)``: (N, H, W) bool masks and (N,) float32 predicted IoU in [0, 1].

    Raises:
        SegmentationError: if ``image`` is not (H, W, 3) uint8.
    """
    import torch
    import torch.nn.functional as F

    fam = FAMILIES[family]
    size = model_input_size(model, family)
    dev = next(model.parameters()).device
    h, w = image.shape[:2]
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if fam.resize == "longest":
        if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8):
            raise SegmentationError(f"{family} expects frames as (H, W, 3) uint8 RGB arrays")
        pixel_values, rh, rw = _preprocess_longest(image, size, fam.mean, fam.std, dev)
        scaled = b * (size / max(h, w))
        embeddings, intermediate = (encoder.embeddings if encoder else model.get_image_embeddings)(pixel_values)
        out = model(
            image_embeddings=embeddings,
            intermediate_embeddings=intermediate,
            input_boxes=torch.from_numpy(scaled)[None].to(dev),
            multimask_output=False,
        )
        logits = out.pred_masks[0, :, 0].float()  # (N, s, s) over the padded square
        logits = F.interpolate(logits[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0]
        logits = logits[:, :rh, :rw]
    else:
        pixel_values = preprocess_frame(image, size, dev, fam.mean, fam.std)[None]
        scaled = b * np.array([size / w, size / h] * 2, dtype=np.float32)
        embeddings = (encoder.embeddings if encoder else model.get_image_embeddings)(pixel_values)
        out = model(image_embeddings=embeddings, input_boxes=torch.from_numpy(scaled)[None].to(dev), multimask_output=False)
        logits = out.pred_masks[0, :, 0].float()  # (N, S/4, S/4)
    masks = logits_to_mask(torch.clamp(logits, -32.0, 32.0), h, w)
    iou = out.iou_scores[0, :, 0].float().clamp(0.0, 1.0).cpu().numpy()
    return masks, iou


class HFImageStrategy:
    """Per-frame box-prompted segmentation with a ``transformers`` SAM-family model.

    Args:
        model: a model from :func:`~sammask.segmentation.families.load_hf_model` (eval mode).
        family: its family key.
        crop: encode a square crop around the frame's boxes when it fits in the frame.
        precision: ``fp32`` or ``bf16`` (bf16: the decoder under bf16 autocast, the encoder as
            the runtime does bf16).
        on_frame: optional callback ``(frame_idx, n_prompts) -> None`` after each frame.
        runtime: image-encoder runtime name (``torch``, ``openvino``, ``onnx``).
        export_cache: folder for exported encoders (None: the default export cache).

    Raises:
        ConfigError: an unsupported runtime / precision pair (:data:`HF_SUPPORTED`).
        RuntimeUnavailableError, ModelLoadError: the runtime is missing or its export failed.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        family: str,
        *,
        crop: bool = True,
        precision: str = "fp32",
        on_frame: Callable[[int, int], None] | None = None,
        runtime: str = "torch",
        export_cache: Path | None = None,
    ) -> None:
        self.encoder = HFEncoderRuntime(model, family, runtime, precision, export_cache)
        self.model = model
        self.family = family
        self.crop = crop
        self.precision = precision
        self.on_frame = on_frame
        self.image_size = model_input_size(model, family)
        self.crops = 0
        """Frames encoded as a crop since the last :meth:`segment` started."""

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Segment each frame from its box prompts (see :class:`~sammask.segmentation.base.Segmenter`).

        Yields:
            One :class:`FrameMasks` per input item: (H, W) bool ``masks[track_id]`` and predicted
            IoU ``scores[track_id]`` for every prompted track; frames without prompts skip the model.

        Raises:
            SegmentationError: if the model fails on a frame (message names the frame).
        """
        import torch

        self.crops = 0
        dev_type = next(self.model.parameters()).device.type
        for fp in frames:
            if not fp.prompts:
                yield FrameMasks(frame_idx=fp.frame_idx)
                if self.on_frame is not None:
                    self.on_frame(fp.frame_idx, 0)
                continue
            prompts = unique_prompts(fp.prompts, fp.frame_idx)
            try:
                with torch.inference_mode(), torch.autocast(dev_type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                    masks, scores = self._segment_frame(fp.image, prompts)
            except SegmentationError:
                raise
            except (RuntimeError, ValueError, TypeError) as exc:
                raise SegmentationError(
                    f"{self.family} (image strategy) failed on frame {fp.frame_idx} with {len(prompts)} box(es): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            yield FrameMasks(frame_idx=fp.frame_idx, masks=masks, scores=scores)
            if self.on_frame is not None:
                self.on_frame(fp.frame_idx, len(prompts))

    def _segment_frame(self, image: np.ndarray, prompts: list[TrackPrompt]) -> tuple[dict[int, np.ndarray | None], dict[int, float]]:
        height, width = image.shape[:2]
        boxes = np.array([p.bbox for p in prompts], dtype=np.float32).reshape(-1, 4)
        window: CropWindow | None = plan_crop(boxes, height, width, self.image_size) if self.crop else None
        if window is not None:
            self.crops += 1
            image = window.cut(image)
            boxes = boxes - np.array([window.x0, window.y0, window.x0, window.y0], dtype=np.float32)
        full, ious = segment_boxes(self.model, self.family, image, boxes, self.encoder)
        if window is not None:
            full = paste_masks(full, window, height, width)
        return (
            {p.track_id: full[i] for i, p in enumerate(prompts)},
            {p.track_id: float(ious[i]) for i, p in enumerate(prompts)},
        )


class BoxPromptModel:
    """A loaded SAM-family model answering box prompts on single images (for the image tools).

    Any ``--model`` value works: the official SAM 2 checkpoints are segmented through
    :class:`~sammask.segmentation.sam2.image.ImageStrategy`, the ``transformers`` families
    (SAM-HQ for sharper boundaries, EdgeTAM, SAM 3, SAM 2 in HF format) through
    :func:`segment_boxes`.

    Args:
        model: published SAM 2 name, family short name (``samhq_vit_base``...), hub id or folder.
        checkpoint: ``--model-path`` (an official ``.pt`` or a ``transformers`` folder), or None.
        device: ``cpu``, ``cuda[:N]`` or ``mps``.
        offline: Hugging Face cache only.
        crop: encode a square crop around the boxes when it fits in the image.
        precision: ``fp32`` (default here: image tools favour exact masks over speed) or ``bf16``.

    Raises:
        ConfigError, WeightsNotFoundError, RuntimeUnavailableError, ModelLoadError: as
        :class:`~sammask.segmentation.sam2.segmenter.Sam2Segmenter`.
    """

    def __init__(
        self,
        model: str,
        checkpoint: str | Path | None = None,
        *,
        device: str = "cpu",
        offline: bool = False,
        crop: bool = True,
        precision: str = "fp32",
    ) -> None:
        from sammask.segmentation.sam2.options import Sam2Options
        from sammask.segmentation.sam2.segmenter import Sam2Segmenter

        self._segmenter = Sam2Segmenter(
            Sam2Options(
                model=model,
                checkpoint=checkpoint,
                device=device,
                offline=offline,
                crop=crop,
                strategy="image",
                precision=precision,
            )
        )

    def segment(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Masks for N boxes on one image.

        Args:
            image: (H, W, 3) uint8 RGB.
            boxes: (N, 4) float xyxy pixel boxes, N >= 1.

        Returns:
            ``(masks, scores)``: (N, H, W) bool masks and (N,) float32 predicted IoU in [0, 1], in
            the order of ``boxes``.

        Raises:
            SegmentationError: the model failed.
        """
        b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        prompts = [TrackPrompt(i, tuple(float(v) for v in row)) for i, row in enumerate(b)]
        (fm,) = list(self._segmenter.segment([FramePrompts(0, image, prompts)]))
        masks = np.stack([fm.masks[i] for i in range(len(b))]) if len(b) else np.zeros((0, *image.shape[:2]), bool)
        return masks, np.array([fm.scores.get(i, 0.0) for i in range(len(b))], dtype=np.float32)

    def close(self) -> None:
        """Drop the model."""
        self._segmenter.close()
