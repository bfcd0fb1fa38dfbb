"""Registry of the 8 published SAM 2 / SAM 2.1 models and resolution of their weights.

Each model's architecture is a typed mirror of its published hydra YAML file in the official
``sam2`` package (``sam2/configs/sam2/sam2_hiera_{t,s,b+,l}.yaml`` and
``sam2/configs/sam2.1/sam2.1_hiera_{t,s,b+,l}.yaml``, facebookresearch/sam2 @ 2b90b9f). The
dataclass and field names follow the YAML keys one to one (a test walks the YAML files and
compares every value), so the model is built by instantiating the sam2 classes directly, without
hydra. Checkpoint file names, Hugging Face hub ids (``sam2/build_sam.py``
``HF_MODEL_ID_TO_FILENAMES``) and download URLs (``checkpoints/download_ckpts.sh``) are the
official ones.

Nothing here imports torch or sam2.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sammask.errors import ConfigError, WeightsNotFoundError
from sammask.offline import hf_hub_offline, hub_cache_dir

logger = logging.getLogger(__name__)

__all__ = [
    "MODELS",
    "CXBlockConfig",
    "FpnNeckConfig",
    "FuserConfig",
    "HieraConfig",
    "ImageEncoderConfig",
    "MaskDownSamplerConfig",
    "MemoryAttentionConfig",
    "MemoryAttentionLayerConfig",
    "MemoryEncoderConfig",
    "PositionEncodingConfig",
    "PostprocessingConfig",
    "RoPEAttentionConfig",
    "Sam2ModelConfig",
    "Sam2ModelSpec",
    "get_model_spec",
    "model_names",
    "resolve_checkpoint",
]


# --- architecture (mirrors of the published YAML nodes; defaults = the published values) -------


@dataclass(frozen=True, slots=True)
class PositionEncodingConfig:
    """``sam2.modeling.position_encoding.PositionEmbeddingSine`` arguments.

    Attributes:
        num_pos_feats: channels of the encoding (256 for the FPN neck, 64 for the memory encoder).
        normalize: normalise coordinates to [0, 2*pi].
        scale: coordinate scale (None -> 2*pi).
        temperature: frequency base.
    """

    num_pos_feats: int
    normalize: bool = True
    scale: float | None = None
    temperature: int = 10000


@dataclass(frozen=True, slots=True)
class HieraConfig:
    """``sam2.modeling.backbones.hieradet.Hiera`` (image encoder trunk) arguments.

    Attributes:
        embed_dim: channels of stage 1 (doubles per stage).
        num_heads: attention heads of stage 1 (doubles per stage).
        stages: blocks per stage (4 stages).
        global_att_blocks: indices of blocks with global (not windowed) attention.
        window_pos_embed_bkg_spatial_size: (h, w) of the background positional embedding
            (interpolated to the input size, so any input size works).
        window_spec: attention window side per stage, in tokens.
    """

    embed_dim: int
    num_heads: int
    stages: tuple[int, ...]
    global_att_blocks: tuple[int, ...]
    window_pos_embed_bkg_spatial_size: tuple[int, int] = (14, 14)
    window_spec: tuple[int, ...] = (8, 4, 14, 7)

    @property
    def channel_list(self) -> tuple[int, ...]:
        """Output channels per stage, deepest first (what the neck expects)."""
        return tuple(self.embed_dim * 2**i for i in reversed(range(len(self.stages))))


@dataclass(frozen=True, slots=True)
class FpnNeckConfig:
    """``sam2.modeling.backbones.image_encoder.FpnNeck`` arguments."""

    backbone_channel_list: tuple[int, ...]
    position_encoding: PositionEncodingConfig = field(default_factory=lambda: PositionEncodingConfig(256))
    d_model: int = 256
    fpn_top_down_levels: tuple[int, ...] = (2, 3)
    fpn_interp_model: str = "nearest"


@dataclass(frozen=True, slots=True)
class ImageEncoderConfig:
    """``sam2.modeling.backbones.image_encoder.ImageEncoder`` arguments (trunk + neck)."""

    trunk: HieraConfig
    neck: FpnNeckConfig
    scalp: int = 1


@dataclass(frozen=True, slots=True)
class RoPEAttentionConfig:
    """``sam2.modeling.sam.transformer.RoPEAttention`` arguments.

    Attributes:
        feat_sizes: (w, h) of the stride-16 feature map at the published 1024 input, in tokens
            (the builder scales it to the chosen input size).
        kv_in_dim: channels of keys/values (64 = memory channels for cross-attention), None ->
            ``embedding_dim``.
    """

    rope_theta: float = 10000.0
    feat_sizes: tuple[int, int] = (64, 64)
    embedding_dim: int = 256
    num_heads: int = 1
    downsample_rate: int = 1
    dropout: float = 0.1
    rope_k_repeat: bool = False
    kv_in_dim: int | None = None


@dataclass(frozen=True, slots=True)
class MemoryAttentionLayerConfig:
    """``sam2.modeling.memory_attention.MemoryAttentionLayer`` arguments."""

    self_attention: RoPEAttentionConfig = field(default_factory=RoPEAttentionConfig)
    cross_attention: RoPEAttentionConfig = field(default_factory=lambda: RoPEAttentionConfig(rope_k_repeat=True, kv_in_dim=64))
    activation: str = "relu"
    dim_feedforward: int = 2048
    dropout: float = 0.1
    pos_enc_at_attn: bool = False
    d_model: int = 256
    pos_enc_at_cross_attn_keys: bool = True
    pos_enc_at_cross_attn_queries: bool = False


@dataclass(frozen=True, slots=True)
class MemoryAttentionConfig:
    """``sam2.modeling.memory_attention.MemoryAttention`` arguments."""

    layer: MemoryAttentionLayerConfig = field(default_factory=MemoryAttentionLayerConfig)
    d_model: int = 256
    pos_enc_at_input: bool = True
    num_layers: int = 4


@dataclass(frozen=True, slots=True)
class MaskDownSamplerConfig:
    """``sam2.modeling.memory_encoder.MaskDownSampler`` arguments."""

    kernel_size: int = 3
    stride: int = 2
    padding: int = 1


@dataclass(frozen=True, slots=True)
class CXBlockConfig:
    """``sam2.modeling.memory_encoder.CXBlock`` (ConvNeXt block) arguments."""

    dim: int = 256
    kernel_size: int = 7
    padding: int = 3
    layer_scale_init_value: float = 1e-6
    use_dwconv: bool = True


@dataclass(frozen=True, slots=True)
class FuserConfig:
    """``sam2.modeling.memory_encoder.Fuser`` arguments."""

    layer: CXBlockConfig = field(default_factory=CXBlockConfig)
    num_layers: int = 2


@dataclass(frozen=True, slots=True)
class MemoryEncoderConfig:
    """``sam2.modeling.memory_encoder.MemoryEncoder`` arguments."""

    out_dim: int = 64
    position_encoding: PositionEncodingConfig = field(default_factory=lambda: PositionEncodingConfig(64))
    mask_downsampler: MaskDownSamplerConfig = field(default_factory=MaskDownSamplerConfig)
    fuser: FuserConfig = field(default_factory=FuserConfig)


@dataclass(frozen=True, slots=True)
class Sam2ModelConfig:
    """``sam2.modeling.sam2_base.SAM2Base`` arguments: the ``model:`` node of a published YAML.

    Field names are the YAML keys. ``image_size`` is the input side in pixels (1024 published;
    the builder may replace it). The SAM 2.1 files differ from SAM 2 only in
    ``no_obj_embed_spatial``, ``proj_tpos_enc_in_obj_ptrs``, ``use_signed_tpos_enc_to_obj_ptrs``
    and ``add_tpos_enc_to_obj_ptrs``.
    """

    image_encoder: ImageEncoderConfig
    memory_attention: MemoryAttentionConfig = field(default_factory=MemoryAttentionConfig)
    memory_encoder: MemoryEncoderConfig = field(default_factory=MemoryEncoderConfig)
    num_maskmem: int = 7
    image_size: int = 1024
    sigmoid_scale_for_mem_enc: float = 20.0
    sigmoid_bias_for_mem_enc: float = -10.0
    use_mask_input_as_output_without_sam: bool = True
    directly_add_no_mem_embed: bool = True
    no_obj_embed_spatial: bool = True
    use_high_res_features_in_sam: bool = True
    multimask_output_in_sam: bool = True
    iou_prediction_use_sigmoid: bool = True
    use_obj_ptrs_in_encoder: bool = True
    add_tpos_enc_to_obj_ptrs: bool = True
    proj_tpos_enc_in_obj_ptrs: bool = True
    use_signed_tpos_enc_to_obj_ptrs: bool = True
    only_obj_ptrs_in_the_past_for_eval: bool = True
    pred_obj_scores: bool = True
    pred_obj_scores_mlp: bool = True
    fixed_no_obj_ptr: bool = True
    multimask_output_for_tracking: bool = True
    use_multimask_token_for_obj_ptr: bool = True
    multimask_min_pt_num: int = 0
    multimask_max_pt_num: int = 1
    use_mlp_for_obj_ptr_proj: bool = True
    compile_image_encoder: bool = False


@dataclass(frozen=True, slots=True)
class PostprocessingConfig:
    """The inference overrides ``sam2.build_sam.build_sam2_video_predictor`` adds to every model
    (``apply_postprocessing=True``); they are not in the YAML files.

    Attributes:
        dynamic_multimask_via_stability: fall back to the best of 3 masks when the single mask is
            unstable (mask decoder, single-mask output).
        dynamic_multimask_stability_delta: logit offset of the stability score.
        dynamic_multimask_stability_thresh: stability below which the fallback is used.
        binarize_mask_from_pts_for_mem_enc: binarise prompted masks before the memory encoder.
        fill_hole_area: fill background holes up to this many low-res pixels (needs the sam2 CUDA
            extension; without it sam2 warns and skips the step).
    """

    dynamic_multimask_via_stability: bool = True
    dynamic_multimask_stability_delta: float = 0.05
    dynamic_multimask_stability_thresh: float = 0.98
    binarize_mask_from_pts_for_mem_enc: bool = True
    fill_hole_area: int = 8


# --- the registry ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sam2ModelSpec:
    """One published SAM 2 model.

    Attributes:
        name: our name, the checkpoint stem, e.g. ``sam2.1_hiera_tiny``.
        checkpoint_filename: official file name, e.g. ``sam2.1_hiera_tiny.pt``.
        hf_repo_id: Hugging Face hub repository holding that file, e.g.
            ``facebook/sam2.1-hiera-tiny``.
        url: official download URL of the checkpoint.
        yaml_config: path of the published config inside the ``sam2`` package.
        config: the architecture (:class:`Sam2ModelConfig`).
    """

    name: str
    checkpoint_filename: str
    hf_repo_id: str
    url: str
    yaml_config: str
    config: Sam2ModelConfig


_SIZES: dict[str, tuple[str, HieraConfig]] = {
    "tiny": ("t", HieraConfig(96, 1, (1, 2, 7, 2), (5, 7, 9), window_pos_embed_bkg_spatial_size=(7, 7))),
    "small": ("s", HieraConfig(96, 1, (1, 2, 11, 2), (7, 10, 13), window_pos_embed_bkg_spatial_size=(7, 7))),
    "base_plus": ("b+", HieraConfig(112, 2, (2, 3, 16, 3), (12, 16, 20))),
    "large": (
        "l",
        HieraConfig(144, 2, (2, 6, 36, 4), (23, 33, 43), window_pos_embed_bkg_spatial_size=(7, 7), window_spec=(8, 4, 16, 8)),
    ),
}
_URL_DIR = {"sam2": "072824", "sam2.1": "092824"}


def _make_spec(version: str, size: str) -> Sam2ModelSpec:
    short, trunk = _SIZES[size]
    name = f"{version}_hiera_{size}"
    v21 = version == "sam2.1"
    config = Sam2ModelConfig(
        image_encoder=ImageEncoderConfig(trunk=trunk, neck=FpnNeckConfig(backbone_channel_list=trunk.channel_list)),
        no_obj_embed_spatial=v21,
        add_tpos_enc_to_obj_ptrs=v21,
        proj_tpos_enc_in_obj_ptrs=v21,
        use_signed_tpos_enc_to_obj_ptrs=v21,
    )
    return Sam2ModelSpec(
        name=name,
        checkpoint_filename=f"{name}.pt",
        hf_repo_id=f"facebook/{version}-hiera-{size.replace('_', '-')}",
        url=f"https://dl.fbaipublicfiles.com/segment_anything_2/{_URL_DIR[version]}/{name}.pt",
        yaml_config=f"configs/{version}/{version}_hiera_{short}.yaml",
        config=config,
    )


MODELS: dict[str, Sam2ModelSpec] = {spec.name: spec for spec in (_make_spec(v, s) for v in ("sam2", "sam2.1") for s in _SIZES)}
"""``name -> spec`` for the 8 published models (sam2 and sam2.1 x tiny/small/base_plus/large)."""


def model_names() -> list[str]:
    """Names of the published models, e.g. ``["sam2_hiera_tiny", ..., "sam2.1_hiera_large"]``."""
    return list(MODELS)


def get_model_spec(name: str) -> Sam2ModelSpec:
    """Return the spec of a published model.

    Args:
        name: e.g. ``sam2.1_hiera_tiny``; ``sam2.1_hiera_t`` / ``sam2.1_hiera_b+`` (YAML
            stems) and a trailing ``.pt`` are accepted too.

    Raises:
        ConfigError: if ``name`` is not one of the 8 published models.
    """
    key = name.strip()
    key = key.removesuffix(".pt")
    if key not in MODELS:
        for spec in MODELS.values():
            if key == Path(spec.yaml_config).stem:
                return spec
        raise ConfigError(f"unknown SAM 2 model '{name}': choose one of {', '.join(MODELS)}")
    return MODELS[key]


# --- weight resolution ------------------------------------------------------------------------


def resolve_checkpoint(name: str, checkpoint: Path | None, *, offline: bool) -> Path:
    """Find the official ``.pt`` weights of a published model.

    An explicit ``checkpoint`` must be an existing file. Without one, the Hugging Face hub cache
    is used through ``huggingface_hub.hf_hub_download(spec.hf_repo_id, spec.checkpoint_filename,
    local_files_only=offline or HF_HUB_OFFLINE)`` (downloads when online and not cached). When
    ``huggingface_hub`` is not installed the hub counts as unavailable.

    Args:
        name: published model name (see :func:`get_model_spec`).
        checkpoint: local checkpoint file, or None.
        offline: never contact the hub (cache only).

    Returns:
        Path of an existing checkpoint file.

    Raises:
        ConfigError: if ``name`` is unknown.
        WeightsNotFoundError: if no weights are found; the message names the model, where it
            looked (path, or hub id + cache dir), how to get the file and the offline segmenter
            to use meanwhile.
    """
    spec = get_model_spec(name)
    fix = f"download {spec.checkpoint_filename} from {spec.url} and pass --model-path FILE (config key model_path)"
    meanwhile = "meanwhile use --segmenter grabcut (no model weights needed)"
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if path.is_file():
            return path
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise WeightsNotFoundError(f"SAM 2 weights for {spec.name} not found: {path} {what}; {fix}; {meanwhile}")
    local_only = offline or hf_hub_offline()
    from sammask.offline import disable_telemetry

    disable_telemetry()  # Hugging Face telemetry: read at import of huggingface_hub
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise WeightsNotFoundError(
            f"SAM 2 weights for {spec.name} not found: no --model-path given and the Hugging Face "
            f"hub client (huggingface_hub) is not installed, so the cache for {spec.hf_repo_id} "
            f"could not be searched; {fix}; {meanwhile}"
        ) from None
    cache_dir = hub_cache_dir()
    try:
        found = hf_hub_download(repo_id=spec.hf_repo_id, filename=spec.checkpoint_filename, local_files_only=local_only)
    except Exception as exc:  # every hub failure becomes one actionable error
        how = "offline, cache only" if local_only else "online"
        raise WeightsNotFoundError(
            f"SAM 2 weights for {spec.name} not found: looked for {spec.checkpoint_filename} of "
            f"Hugging Face hub repo {spec.hf_repo_id} in cache {cache_dir} ({how}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}); "
            f"{fix}, or run once online to fill the Hugging Face cache; {meanwhile}"
        ) from exc
    logger.info("SAM 2 weights for %s: %s (Hugging Face cache)", spec.name, found)
    return Path(found)
