"""Build a published SAM 2 model from our typed config and load its official checkpoint.

The model is the official ``sam2.sam2_video_predictor.SAM2VideoPredictor`` (a ``SAM2Base``
subclass, usable per image and per video), built by instantiating the sam2 modules directly
from :class:`~sammask.segmentation.sam2.checkpoints.Sam2ModelConfig` (no hydra, no
torchvision), exactly as ``sam2.build_sam.build_sam2_video_predictor`` does from the YAML files
with ``apply_postprocessing=True``.

Also here, shared by every SAM 2 strategy: :func:`preprocess_frame` (SAM 2's input transform)
and :func:`logits_to_mask` (SAM 2's output post-processing). torch and sam2 are imported inside
the functions: importing this module does no work.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sammask.errors import ConfigError, ModelLoadError, SegmentationError
from sammask.segmentation.sam2.checkpoints import (
    MODELS,
    ImageEncoderConfig,
    MemoryAttentionConfig,
    MemoryEncoderConfig,
    PositionEncodingConfig,
    PostprocessingConfig,
    RoPEAttentionConfig,
    Sam2ModelConfig,
    get_model_spec,
    resolve_checkpoint,
)

if TYPE_CHECKING:
    import torch
    from sam2.sam2_video_predictor import SAM2VideoPredictor

logger = logging.getLogger(__name__)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "build_sam2_model",
    "instantiate_sam2",
    "load_sam2_checkpoint",
    "logits_to_mask",
    "preprocess_frame",
    "resolve_device",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Per-channel RGB mean SAM 2 normalises with (on [0, 1] pixels)."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel RGB standard deviation SAM 2 normalises with."""

_BACKBONE_STRIDE = 16


def resolve_device(device: str) -> torch.device:
    """Turn ``cpu`` / ``cuda`` / ``cuda:N`` / ``mps`` into a usable ``torch.device``.

    Raises:
        ConfigError: if the device kind is unknown, or cuda / mps is asked for but not available
            in this torch build / machine.
    """
    import torch

    kind = device.split(":")[0].strip().lower()
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device '{device}' asked for but CUDA is not available (torch {torch.__version__}, CPU build or no GPU); use --device cpu"
            )
        dev = torch.device(device)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device '{device}' asked for but only {torch.cuda.device_count()} CUDA device(s) exist; "
                f"use cuda:0..cuda:{torch.cuda.device_count() - 1} or --device cpu"
            )
        return dev
    if kind == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ConfigError(f"device '{device}' asked for but Apple MPS is not available here; use --device cpu")
        return torch.device("mps")
    raise ConfigError(f"device must be cpu, cuda or mps, got '{device}'")


def _rope(cfg: RoPEAttentionConfig, feat_side: int) -> Any:
    from sam2.modeling.sam.transformer import RoPEAttention

    return RoPEAttention(
        rope_theta=cfg.rope_theta,
        feat_sizes=(feat_side, feat_side),
        rope_k_repeat=cfg.rope_k_repeat,
        embedding_dim=cfg.embedding_dim,
        num_heads=cfg.num_heads,
        downsample_rate=cfg.downsample_rate,
        dropout=cfg.dropout,
        kv_in_dim=cfg.kv_in_dim,
    )


_SAM2_MODULES = (
    "sam2.modeling.backbones.hieradet",
    "sam2.modeling.backbones.image_encoder",
    "sam2.modeling.memory_attention",
    "sam2.modeling.memory_encoder",
    "sam2.modeling.position_encoding",
    "sam2.sam2_video_predictor",
)
"""The sam2 modules :func:`instantiate_sam2` builds from (checked importable before building)."""


def _position_encoding(p: PositionEncodingConfig) -> Any:
    from sam2.modeling.position_encoding import PositionEmbeddingSine

    return PositionEmbeddingSine(num_pos_feats=p.num_pos_feats, normalize=p.normalize, scale=p.scale, temperature=p.temperature)


def _image_encoder(ie: ImageEncoderConfig) -> Any:
    """sam2's ``ImageEncoder`` (Hiera trunk + FPN neck) for the config's ``image_encoder`` part."""
    from sam2.modeling.backbones.hieradet import Hiera
    from sam2.modeling.backbones.image_encoder import FpnNeck, ImageEncoder

    return ImageEncoder(
        scalp=ie.scalp,
        trunk=Hiera(
            embed_dim=ie.trunk.embed_dim,
            num_heads=ie.trunk.num_heads,
            stages=tuple(ie.trunk.stages),
            global_att_blocks=tuple(ie.trunk.global_att_blocks),
            window_pos_embed_bkg_spatial_size=tuple(ie.trunk.window_pos_embed_bkg_spatial_size),
            window_spec=tuple(ie.trunk.window_spec),
        ),
        neck=FpnNeck(
            position_encoding=_position_encoding(ie.neck.position_encoding),
            d_model=ie.neck.d_model,
            backbone_channel_list=list(ie.neck.backbone_channel_list),
            fpn_top_down_levels=list(ie.neck.fpn_top_down_levels),
            fpn_interp_model=ie.neck.fpn_interp_model,
        ),
    )


def _memory_attention(ma: MemoryAttentionConfig, feat_side: int) -> Any:
    """sam2's ``MemoryAttention`` for the config's ``memory_attention`` part (RoPE on a
    ``feat_side`` x ``feat_side`` token grid)."""
    from sam2.modeling.memory_attention import MemoryAttention, MemoryAttentionLayer

    lc = ma.layer
    return MemoryAttention(
        d_model=ma.d_model,
        pos_enc_at_input=ma.pos_enc_at_input,
        num_layers=ma.num_layers,
        layer=MemoryAttentionLayer(
            activation=lc.activation,
            cross_attention=_rope(lc.cross_attention, feat_side),
            d_model=lc.d_model,
            dim_feedforward=lc.dim_feedforward,
            dropout=lc.dropout,
            pos_enc_at_attn=lc.pos_enc_at_attn,
            pos_enc_at_cross_attn_keys=lc.pos_enc_at_cross_attn_keys,
            pos_enc_at_cross_attn_queries=lc.pos_enc_at_cross_attn_queries,
            self_attention=_rope(lc.self_attention, feat_side),
        ),
    )


def _memory_encoder(me: MemoryEncoderConfig) -> Any:
    """sam2's ``MemoryEncoder`` for the config's ``memory_encoder`` part."""
    from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler, MemoryEncoder

    cx = me.fuser.layer
    return MemoryEncoder(
        out_dim=me.out_dim,
        position_encoding=_position_encoding(me.position_encoding),
        mask_downsampler=MaskDownSampler(
            kernel_size=me.mask_downsampler.kernel_size,
            stride=me.mask_downsampler.stride,
            padding=me.mask_downsampler.padding,
        ),
        fuser=Fuser(
            layer=CXBlock(
                dim=cx.dim,
                kernel_size=cx.kernel_size,
                padding=cx.padding,
                layer_scale_init_value=cx.layer_scale_init_value,
                use_dwconv=cx.use_dwconv,
            ),
            num_layers=me.fuser.num_layers,
        ),
    )


def _silence_sam2_progress() -> None:
    """Turn off the tqdm bar ``SAM2VideoPredictor.propagate_in_video`` draws on stderr.

    sam2 1.1.0 calls ``tqdm(processing_order, desc="propagate in video")`` with no way to turn it
    off, so a ``--quiet`` run (and the annotator's server) printed a progress bar per chunk; our
    own progress goes through the pipeline's callback. The predictor module's ``tqdm`` name is
    bound to a disabled tqdm, once, when the first model is built (never at import).
    """
    import functools

    import sam2.sam2_video_predictor as predictor
    from tqdm import tqdm

    if not isinstance(predictor.tqdm, functools.partial):
        predictor.tqdm = functools.partial(tqdm, disable=True)  # a disabled tqdm, same call signature


def instantiate_sam2(config: Sam2ModelConfig, postprocessing: PostprocessingConfig | None = None) -> SAM2VideoPredictor:
    """Instantiate the sam2 modules described by ``config`` (random init, CPU, train mode).

    Equivalent to ``hydra.utils.instantiate(cfg.model)`` of the published YAML with
    ``_target_=SAM2VideoPredictor`` and the post-processing overrides of
    ``sam2.build_sam.build_sam2_video_predictor``. ``config.image_size`` sets the input side;
    the RoPE feature sizes follow it (``image_size / 16`` tokens).

    Raises:
        ModelLoadError: if sam2 is not installed or rejects the configuration.
    """
    try:
        for module in _SAM2_MODULES:
            importlib.import_module(module)
    except ImportError as exc:
        raise ModelLoadError(
            f"the official sam2 package is not importable ({exc}); install it with "
            "`SAM2_BUILD_CUDA=0 pip install --no-build-isolation --no-deps --require-hashes "
            "-r requirements/sam2.txt` plus hydra-core and iopath, or use --segmenter grabcut"
        ) from exc
    from sam2.sam2_video_predictor import SAM2VideoPredictor

    _silence_sam2_progress()
    post = postprocessing or PostprocessingConfig()
    c = config
    try:
        scalars = {
            f.name: getattr(c, f.name)
            for f in dataclasses.fields(c)
            if f.name not in ("image_encoder", "memory_attention", "memory_encoder")
        }
        return SAM2VideoPredictor(
            image_encoder=_image_encoder(c.image_encoder),
            memory_attention=_memory_attention(c.memory_attention, c.image_size // _BACKBONE_STRIDE),
            memory_encoder=_memory_encoder(c.memory_encoder),
            fill_hole_area=post.fill_hole_area,
            binarize_mask_from_pts_for_mem_enc=post.binarize_mask_from_pts_for_mem_enc,
            sam_mask_decoder_extra_args={
                "dynamic_multimask_via_stability": post.dynamic_multimask_via_stability,
                "dynamic_multimask_stability_delta": post.dynamic_multimask_stability_delta,
                "dynamic_multimask_stability_thresh": post.dynamic_multimask_stability_thresh,
            },
            **scalars,
        )
    except (AssertionError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"sam2 rejected the model configuration: {type(exc).__name__}: {exc}") from exc


def _guess_model(path: Path) -> str | None:
    stem = path.name.removesuffix(".pt")
    return stem if stem in MODELS else None


def load_sam2_checkpoint(model: torch.nn.Module, path: Path, name: str) -> None:
    """Load an official SAM 2 checkpoint (``{"model": state_dict}``) strictly into ``model``.

    Args:
        model: the model built for ``name``.
        path: the ``.pt`` file (``torch.load(..., weights_only=True)``).
        name: model name, for messages.

    Raises:
        ModelLoadError: if the file is not a torch checkpoint, has no ``"model"`` state dict, or
            its keys / shapes do not match ``name`` (the message names the file, the first
            missing / unexpected / mismatched keys and the fix).
    """
    import torch

    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors have many types
        raise ModelLoadError(
            f"checkpoint {path} could not be read as a PyTorch file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); pass an official SAM 2 .pt file"
        ) from exc
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        keys = list(ckpt)[:5] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelLoadError(
            f"checkpoint {path} is not in the official SAM 2 format {{'model': state_dict}} (found {keys}); pass an official SAM 2 .pt file"
        )
    state = ckpt["model"]
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        guess = _guess_model(path)
        hint = f" (the file name suggests --model {guess})" if guess and guess != name else ""
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys, e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys, e.g. {', '.join(unexpected[:3])}")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatches, e.g. {'; '.join(mismatched[:3])}")
        raise ModelLoadError(f"checkpoint {path} does not match {name}: {'; '.join(parts)}; pass --model matching the file{hint}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"checkpoint {path} could not be loaded into {name}: {exc}") from exc
    logger.info("loaded SAM 2 checkpoint %s into %s", path, name)


def build_sam2_model(
    name: str,
    *,
    checkpoint: Path | None,
    image_size: int = 1024,
    device: str = "cpu",
    random_init: bool = False,
    offline: bool = False,
) -> SAM2VideoPredictor:
    """Build a published SAM 2 model as a ``SAM2VideoPredictor`` in eval mode on ``device``.

    Args:
        name: one of the 8 published models, e.g. ``sam2.1_hiera_tiny``.
        checkpoint: official ``.pt`` file; None -> Hugging Face hub cache (see
            :func:`~sammask.segmentation.sam2.checkpoints.resolve_checkpoint`). Ignored when
            ``random_init``.
        image_size: input side in pixels (multiple of 16; 1024 published, smaller is faster).
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        random_init: skip weight loading (tests and benchmarks only: the masks are meaningless).
        offline: never contact the hub when looking for weights (also ``HF_HUB_OFFLINE=1``).

    Returns:
        The model; ``model.image_size == image_size``.

    Raises:
        ConfigError: unknown name, bad image_size, or device not available.
        WeightsNotFoundError: no weights found (see ``resolve_checkpoint``).
        ModelLoadError: sam2 missing, or the checkpoint unreadable / not matching ``name``.
    """
    spec = get_model_spec(name)
    if image_size < 64 or image_size % _BACKBONE_STRIDE:
        raise ConfigError(f"image_size must be a multiple of 16 and >= 64 pixels, got {image_size}")
    dev = resolve_device(device)
    path = None if random_init else resolve_checkpoint(spec.name, checkpoint, offline=offline)
    model = instantiate_sam2(dataclasses.replace(spec.config, image_size=image_size))
    if path is not None:
        load_sam2_checkpoint(model, path, spec.name)
    else:
        logger.warning("SAM 2 model %s built with RANDOM weights (tests/benchmarks only)", spec.name)
    return model.to(dev).eval()


def preprocess_frame(
    image: np.ndarray,
    image_size: int,
    device: torch.device | str,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> torch.Tensor:
    """SAM 2's input transform of one frame, without torchvision.

    Resize to ``image_size x image_size`` (bilinear, antialiased, aspect not kept: as
    ``SAM2Transforms`` ``Resize((S, S))`` on a tensor), scale to [0, 1], normalise with
    :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD`.

    Args:
        image: (H, W, 3) uint8 RGB frame.
        image_size: S, the model input side in pixels.
        device: where the result lives.
        mean: per-channel RGB mean on [0, 1] pixels (SAM 3: 0.5).
        std: per-channel RGB standard deviation (SAM 3: 0.5).

    Returns:
        (3, S, S) float32 tensor on ``device``.

    Raises:
        SegmentationError: if ``image`` is not an (H, W, 3) uint8 array.
    """
    import torch
    import torch.nn.functional as F

    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        desc = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise SegmentationError(f"SAM 2 expects frames as (H, W, 3) uint8 RGB arrays, got {desc}")
    x = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    x = x.permute(2, 0, 1).unsqueeze(0).to(torch.float32).div_(255.0)
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return ((x - m) / s)[0]


def logits_to_mask(mask_logits: torch.Tensor, height: int, width: int) -> np.ndarray:
    """SAM 2's mask post-processing: upsample low-res logits to the frame and threshold at 0.

    Bilinear, ``align_corners=False`` (as ``SAM2Transforms.postprocess_masks`` and the video
    predictor's ``_get_orig_video_res_output``).

    Args:
        mask_logits: (..., h, w) float logits (e.g. (N, 1, 256, 256) at input 1024).
        height: frame height H in pixels.
        width: frame width W in pixels.

    Returns:
        (..., H, W) bool numpy array (True = object).
    """
    import torch.nn.functional as F

    lead = mask_logits.shape[:-2]
    x = mask_logits.reshape(-1, 1, *mask_logits.shape[-2:]).float()
    up = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    return (up > 0).reshape(*lead, height, width).cpu().numpy()
