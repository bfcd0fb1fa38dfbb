"""SAM 2 strategy ``image``: every frame segmented on its own from its box prompts.

Per frame: the image encoder runs once (``SAM2Base.forward_image`` + the feature preparation of
``SAM2ImagePredictor.set_image``, written against the ``SAM2Base`` API so no torchvision is
needed), then the prompt encoder + mask decoder run ONCE for all boxes of the frame (batched,
``multimask_output=False``, as ``SAM2ImagePredictor.predict`` with a (N, 4) box array). Frames
without prompts skip the model. No state is kept across frames except, with
``use_previous_mask``, each track's last low-res mask logits used as a dense mask prompt.

Because frames are independent, the strategy works unchanged when fed every k-th frame only
(keyframe stride) and its memory is flat in video length.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sammask.errors import SegmentationError
from sammask.segmentation.base import FrameMasks, FramePrompts, TrackPrompt
from sammask.segmentation.sam2.crop import CropWindow, paste_masks, plan_crop
from sammask.segmentation.sam2.model import logits_to_mask, preprocess_frame
from sammask.segmentation.sam2.options import Sam2Options

if TYPE_CHECKING:
    import torch

    from sammask.segmentation.sam2.runtime import ImageEncoderRuntime

logger = logging.getLogger(__name__)

__all__ = ["DecodedMasks", "ImageFeatures", "ImageStrategy", "decode_boxes", "encode_image", "unique_prompts"]


@dataclass(frozen=True, slots=True)
class ImageFeatures:
    """Image-encoder output of one frame, ready for the SAM mask decoder.

    Attributes:
        image_embed: (1, C, S/16, S/16) float32, no-memory embedding already added.
        high_res_feats: [(1, C/8, S/4, S/4), (1, C/4, S/8, S/8)] float32 (decoder-projected).
        image_size: S, the model input side in pixels.
        height: H of the original frame in pixels.
        width: W of the original frame in pixels.
    """

    image_embed: torch.Tensor
    high_res_feats: list[torch.Tensor]
    image_size: int
    height: int
    width: int


@dataclass(frozen=True, slots=True)
class DecodedMasks:
    """Mask decoder output for N box prompts of one frame.

    Attributes:
        low_res_logits: (N, 1, S/4, S/4) float32 logits, clamped to [-32, 32].
        iou: (N,) float32 predicted IoU in [0, 1].
    """

    low_res_logits: torch.Tensor
    iou: torch.Tensor


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def encode_image(model: torch.nn.Module, image: np.ndarray, runtime: ImageEncoderRuntime | None = None) -> ImageFeatures:
    """Run SAM 2's image encoder on one frame (as ``SAM2ImagePredictor.set_image``).

    Args:
        model: a ``SAM2Base`` (e.g. from :func:`~sammask.segmentation.sam2.model.build_sam2_model`).
        image: (H, W, 3) uint8 RGB frame (or a crop of one).
        runtime: the image encoder to run (:mod:`~sammask.segmentation.sam2.runtime`); None ->
            ``model.forward_image`` (torch eager, fp32).

    Returns:
        :class:`ImageFeatures`.

    Raises:
        SegmentationError: if ``image`` is not (H, W, 3) uint8.
    """
    size = int(model.image_size)
    x = preprocess_frame(image, size, _model_device(model))[None]
    backbone_out = (runtime.forward_image if runtime is not None else model.forward_image)(x)
    _, vision_feats, _, feat_sizes = model._prepare_backbone_features(backbone_out)
    if model.directly_add_no_mem_embed:
        vision_feats[-1] = vision_feats[-1] + model.no_mem_embed
    # (HW, 1, C) -> (1, C, H, W), as set_image does (with the sizes measured, not hard-coded 1024).
    feats = [f.permute(1, 2, 0).reshape(1, -1, *hw) for f, hw in zip(vision_feats, feat_sizes)]
    return ImageFeatures(
        image_embed=feats[-1],
        high_res_feats=feats[:-1],
        image_size=size,
        height=image.shape[0],
        width=image.shape[1],
    )


def decode_boxes(
    model: torch.nn.Module,
    features: ImageFeatures,
    boxes: np.ndarray,
    mask_prompts: list[torch.Tensor | None] | None = None,
) -> DecodedMasks:
    """Prompt encoder + mask decoder for N boxes in ONE batched call (``multimask_output=False``).

    Boxes are scaled from frame pixels (W, H) to the model input (S, S) and encoded as the
    two corner points with labels 2 and 3, as ``SAM2ImagePredictor._predict`` does.

    Args:
        model: the ``SAM2Base`` that produced ``features``.
        features: :class:`ImageFeatures` of the frame.
        boxes: (N, 4) float xyxy boxes in frame pixels, N >= 1.
        mask_prompts: optional per-box dense mask prompt: (1, S/4, S/4) low-res logits (e.g. the
            track's previous :attr:`DecodedMasks.low_res_logits` row) or None for "no mask".

    Returns:
        :class:`DecodedMasks` with N rows, in the order of ``boxes``.
    """
    import torch

    dev = features.image_embed.device
    n = int(boxes.shape[0])
    scale = torch.tensor(
        [features.image_size / features.width, features.image_size / features.height] * 2,
        dtype=torch.float32,
        device=dev,
    )
    coords = (torch.as_tensor(np.asarray(boxes, dtype=np.float32), device=dev) * scale).reshape(n, 2, 2)
    labels = torch.tensor([[2, 3]], dtype=torch.int, device=dev).repeat(n, 1)
    pe = model.sam_prompt_encoder
    sparse, dense = pe(points=(coords, labels), boxes=None, masks=None)
    if mask_prompts is not None and any(m is not None for m in mask_prompts):
        rows = [i for i, m in enumerate(mask_prompts) if m is not None]
        masks_in = torch.stack([mask_prompts[i].to(dev, torch.float32) for i in rows])  # (k, 1, h, w)
        dense = dense.expand(n, -1, -1, -1).clone()
        dense[rows] = pe._embed_masks(masks_in).to(dense.dtype)  # bf16 under autocast
    low_res, iou, _, _ = model.sam_mask_decoder(
        image_embeddings=features.image_embed,
        image_pe=pe.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=False,
        repeat_image=n > 1,
        high_res_features=features.high_res_feats,
    )
    return DecodedMasks(low_res_logits=torch.clamp(low_res.float(), -32.0, 32.0), iou=iou[:, 0].float().clamp(0.0, 1.0))


class ImageStrategy:
    """SAM 2 per-frame box-prompted segmentation (strategy ``image``).

    The image encoder runs on ``settings.runtime`` / ``settings.precision`` (built here from the
    loaded model, see :func:`~sammask.segmentation.sam2.runtime.build_encoder_runtime`); the
    prompt encoder and mask decoder run in torch, batched over the frame's boxes (bf16 autocast
    when the precision is bf16). With ``settings.crop`` a frame whose boxes fit in a square
    inside the frame is encoded as that square (:func:`~sammask.segmentation.sam2.crop.plan_crop`)
    and the masks are pasted back in frame pixels; not combined with ``use_previous_mask``
    (the previous logits are in another crop's coordinates).

    Args:
        model: a ``SAM2Base`` / ``SAM2VideoPredictor`` (eval mode) whose ``image_size`` is the
            input side used.
        settings: :class:`~sammask.segmentation.sam2.options.Sam2Options` (``runtime``,
            ``precision``, ``crop``, ``export_cache``; the model carries device and input size).
        use_previous_mask: feed each track's low-res logits from the last frame it was prompted
            on as the dense mask prompt alongside its box (temporal stability; only tracks
            prompted on the previous prompted frame are remembered, so memory is bounded).
        on_frame: optional callback ``(frame_idx, n_prompts) -> None`` after each frame.
        runtime: an already built image-encoder runtime for ``model`` (shared between runs);
            None -> built from ``settings``.

    Raises:
        RuntimeUnavailableError: the runtime is not installed (the message names the extra).
        ConfigError: the runtime does not support the precision or the device.
        ModelLoadError: the runtime's export failed.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        settings: Sam2Options,
        *,
        use_previous_mask: bool = False,
        on_frame: Callable[[int, int], None] | None = None,
        runtime: ImageEncoderRuntime | None = None,
    ) -> None:
        from sammask.segmentation.sam2.runtime import build_encoder_runtime

        self.model = model
        self.settings = settings
        self.use_previous_mask = use_previous_mask
        self.on_frame = on_frame
        self.runtime = runtime if runtime is not None else build_encoder_runtime(model, settings)
        self.crop = settings.crop and not use_previous_mask
        self.crops = 0
        """Frames encoded as a crop since the last :meth:`segment` started."""
        self._previous: dict[int, torch.Tensor] = {}

    def reset(self) -> None:
        """Forget the previous masks (start of a new video)."""
        self._previous = {}

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Segment each frame from its box prompts.

        Args:
            frames: :class:`FramePrompts` in increasing ``frame_idx`` (any subset of frames).

        Yields:
            One :class:`FrameMasks` per input item: ``masks[track_id]`` is an (H, W) bool mask
            for every prompted track, ``scores[track_id]`` the predicted IoU in [0, 1]. Frames
            without prompts yield empty masks and do not run the model. SAM 2's object-presence
            score is ignored (as in ``SAM2ImagePredictor``): a prompted box always gets the
            decoder's mask, never an "object absent" empty answer.

        Raises:
            SegmentationError: if the model fails on a frame (message names the frame).
        """
        import torch

        self.reset()  # a new stream: previous masks of another stream must not leak in
        self.crops = 0
        for fp in frames:
            if not fp.prompts:
                yield FrameMasks(frame_idx=fp.frame_idx)
                if self.on_frame is not None:
                    self.on_frame(fp.frame_idx, 0)
                continue
            prompts = unique_prompts(fp.prompts, fp.frame_idx)
            try:
                with torch.inference_mode():
                    result = self._segment_frame(fp.image, prompts)
            except SegmentationError:
                raise
            except (RuntimeError, ValueError) as exc:
                raise SegmentationError(
                    f"SAM 2 (image strategy) failed on frame {fp.frame_idx} with {len(prompts)} box(es): {type(exc).__name__}: {exc}"
                ) from exc
            masks, scores = result
            yield FrameMasks(frame_idx=fp.frame_idx, masks=masks, scores=scores)
            if self.on_frame is not None:
                self.on_frame(fp.frame_idx, len(prompts))

    def _segment_frame(self, image: np.ndarray, prompts: list[TrackPrompt]) -> tuple[dict[int, np.ndarray | None], dict[int, float]]:
        height, width = image.shape[:2]
        boxes = np.array([p.bbox for p in prompts], dtype=np.float32).reshape(-1, 4)
        window: CropWindow | None = None
        if self.crop:
            window = plan_crop(boxes, height, width, int(self.model.image_size))
        if window is not None:
            self.crops += 1
            image = window.cut(image)
            boxes = boxes - np.array([window.x0, window.y0, window.x0, window.y0], dtype=np.float32)
        features = encode_image(self.model, image, self.runtime)
        mask_prompts = None
        if self.use_previous_mask:
            mask_prompts = [self._previous.get(p.track_id) for p in prompts]
        with self.runtime.decoder_context():
            out = decode_boxes(self.model, features, boxes, mask_prompts)
        if self.use_previous_mask:
            self._previous = {p.track_id: out.low_res_logits[i].float().clone() for i, p in enumerate(prompts)}
        full = logits_to_mask(out.low_res_logits[:, 0], features.height, features.width)  # (N, h, w)
        if window is not None:
            full = paste_masks(full, window, height, width)  # (N, H, W)
        ious = out.iou.float().cpu().numpy()
        masks: dict[int, np.ndarray | None] = {}
        scores: dict[int, float] = {}
        for i, p in enumerate(prompts):
            masks[p.track_id] = full[i]
            scores[p.track_id] = float(ious[i])
        return masks, scores


def unique_prompts(prompts: list[TrackPrompt], frame_idx: int) -> list[TrackPrompt]:
    """The frame's prompts with one per track (the first box of a track prompted twice; warns)."""
    seen: dict[int, TrackPrompt] = {}
    for p in prompts:
        if p.track_id in seen:
            logger.warning("frame %d: track %d prompted twice; using its first box", frame_idx, p.track_id)
            continue
        seen[p.track_id] = p
    return list(seen.values())
