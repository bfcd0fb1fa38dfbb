"""Tiny random-init ``transformers`` SAM-family models (SAM 2 in HF format, SAM 3 tracker, SAM-HQ,
EdgeTAM) saved as local folders, for tests. Nothing is downloaded: configs are built here.

Input side :data:`HF_INPUT` = 256 px keeps them fast; random weights give meaningless masks, so
tests check plumbing, placement and the privacy promise, never quality.
"""

from __future__ import annotations

from pathlib import Path

HF_INPUT = 256
"""Square model input side (pixels) of every tiny model here."""

_DECODER = {"hidden_size": 32, "num_hidden_layers": 2, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32}
_PROMPT = {"hidden_size": 32, "image_size": HF_INPUT}
_FEATS = [[HF_INPUT // 4] * 2, [HF_INPUT // 8] * 2, [HF_INPUT // 16] * 2]


def tiny_config(family: str):
    """A tiny ``transformers`` config of ``family`` (``sam2-hf``, ``sam3``, ``samhq``, ``edgetam``)."""
    import transformers as T

    if family == "sam2-hf":
        backbone = {
            "model_type": "sam2_hiera_det_model",
            "hidden_size": 16,
            "num_attention_heads": 1,
            "blocks_per_stage": [1, 1, 2, 1],
            "embed_dim_per_stage": [16, 32, 64, 128],
            "num_attention_heads_per_stage": [1, 1, 1, 1],
            "global_attention_blocks": [3],
            "window_size_per_stage": [4, 4, 4, 4],
            "image_size": [HF_INPUT, HF_INPUT],
            "window_positional_embedding_background_size": [4, 4],
        }
        vision = {
            "backbone_config": backbone,
            "backbone_channel_list": [128, 64, 32, 16],
            "backbone_feature_sizes": _FEATS,
            "fpn_hidden_size": 32,
        }
        return T.Sam2Config(vision_config=vision, prompt_encoder_config=_PROMPT, mask_decoder_config=_DECODER)
    if family == "sam3":
        size = 224  # SAM 3's ViT has 14-px patches: 16 x 16 tokens, FPN scales 4 / 2 / 1
        backbone = {
            "model_type": "sam3_vit_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": size,
            "patch_size": 14,
            "window_size": 4,
            "global_attn_indexes": [1],
            "pretrain_image_size": 56,
        }
        vision = {
            "model_type": "sam3_vision_model",
            "backbone_config": backbone,
            "fpn_hidden_size": 32,
            "backbone_feature_sizes": [[64, 64], [32, 32], [16, 16]],
        }
        return T.Sam3TrackerConfig(
            vision_config=vision, prompt_encoder_config={"hidden_size": 32, "image_size": size}, mask_decoder_config=_DECODER
        )
    if family == "samhq":
        vision = {
            "hidden_size": 32,
            "output_channels": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "global_attn_indexes": [1],
            "window_size": 4,
            "mlp_dim": 64,
            "image_size": HF_INPUT,
            "num_pos_feats": 16,
        }
        return T.SamHQConfig(vision_config=vision, prompt_encoder_config=_PROMPT, mask_decoder_config=dict(_DECODER, vit_dim=32))
    if family == "edgetam":
        # The default EdgeTamVisionConfig builds timm's resnet50 (transformers 5.25 misspells the key
        # 'archirecture'); the published model is RepViT-M1, named here explicitly. num_classes is
        # required: a timm_wrapper dict without it (or label_names) fails in transformers 5.25
        # (TimmWrapperConfig.from_dict passes num_labels=None: "'NoneType' object cannot be
        # interpreted as an integer"); saved configs always carry it (TimmWrapperConfig.to_dict).
        backbone = {
            "model_type": "timm_wrapper",
            "architecture": "repvit_m1",
            "num_classes": 0,
            "model_args": {"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]},
        }
        vision = {
            "backbone_config": backbone,
            "backbone_channel_list": [384, 192, 96, 48],
            "backbone_feature_sizes": _FEATS,
            "fpn_hidden_size": 32,
        }
        return T.EdgeTamConfig(vision_config=vision, prompt_encoder_config=_PROMPT, mask_decoder_config=_DECODER)
    raise ValueError(family)


def tiny_video_config(family: str, **overrides):
    """A tiny ``transformers`` video config (memory modules) of ``family`` (``sam2-hf``, ``sam3``).

    Its FPN / decoder width is 128, not 32: transformers' memory attention reads memories of
    64 channels (hard-coded ``kv_in_dim=64``) and splits object pointers into 64-channel chunks
    only when the hidden size is larger (every published config: 256); ``overrides`` go to the
    video config (e.g. ``num_maskmem``).
    """
    import transformers as T

    width = 128
    image = tiny_config(family)
    vision = image.vision_config.to_dict()
    vision["fpn_hidden_size"] = width
    size = image.prompt_encoder_config.image_size
    cls = {"sam2-hf": T.Sam2VideoConfig, "sam3": T.Sam3TrackerVideoConfig}[family]
    kw = {
        "image_size": size,
        "memory_attention_hidden_size": width,
        "memory_attention_num_layers": 1,
        "memory_attention_feed_forward_hidden_size": 64,
        "memory_attention_rope_feat_sizes": [size // 16 if family == "sam2-hf" else 16] * 2,
        "memory_encoder_hidden_size": width,
        "mask_downsampler_embed_dim": width,
        "memory_fuser_embed_dim": width,
        "memory_fuser_intermediate_dim": 64,
    }
    kw.update(overrides)
    return cls(
        vision_config=vision,
        prompt_encoder_config={"hidden_size": width, "image_size": size},
        mask_decoder_config=dict(_DECODER, hidden_size=width),
        **kw,
    )


def save_tiny_video_model(family: str, folder: Path, seed: int = 0, **overrides) -> Path:
    """Build the tiny random-init video model of ``family`` (seeded) and ``save_pretrained`` it."""
    import torch
    import transformers as T

    from sammask.segmentation.families import FAMILIES

    torch.manual_seed(seed)
    model = getattr(T, FAMILIES[family].video_class)(tiny_video_config(family, **overrides)).eval()
    model.save_pretrained(str(folder))
    return folder


def save_tiny_model(family: str, folder: Path, seed: int = 0) -> Path:
    """Build the tiny random-init ``family`` model (seeded) and ``save_pretrained`` it to ``folder``."""
    import torch
    import transformers as T

    from sammask.segmentation.families import FAMILIES

    torch.manual_seed(seed)
    model = getattr(T, FAMILIES[family].model_class)(tiny_config(family)).eval()
    model.save_pretrained(str(folder))
    return folder


def save_tiny_owlv2(folder: Path, image_size: int = 64) -> Path:
    """A tiny OWLv2 detector + processor (byte-level CLIP tokenizer, no merges) saved to ``folder``.

    Random OWLv2 weights score every box ~0, so the heads are set to answer something checkable:
    the box head's last layer is zeroed (each patch predicts the box of its own grid cell, from
    OWLv2's box bias) and the class head's shift is +8 and its scale 1 (every box scores ~1 for every phrase).
    """
    import torch
    import transformers as T
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    folder.mkdir(parents=True, exist_ok=True)
    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tok = T.CLIPTokenizer(vocab=vocab, merges=[])
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    cfg = T.Owlv2Config(
        text_config=dict(
            small,
            vocab_size=len(vocab),
            max_position_embeddings=16,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
        ),
        vision_config=dict(small, image_size=image_size, patch_size=16),
        projection_dim=32,
    )
    torch.manual_seed(0)
    model = T.Owlv2ForObjectDetection(cfg).eval()
    with torch.no_grad():
        model.box_head.dense2.weight.zero_()
        model.box_head.dense2.bias.zero_()
        model.class_head.logit_shift.weight.zero_()
        model.class_head.logit_shift.bias.fill_(8.0)
        model.class_head.logit_scale.weight.zero_()
        model.class_head.logit_scale.bias.zero_()  # scale elu(0) + 1 = 1
    model.save_pretrained(str(folder))
    size = {"height": image_size, "width": image_size}
    T.Owlv2Processor(image_processor=T.Owlv2ImageProcessorPil(size=size), tokenizer=tok).save_pretrained(str(folder))
    return folder
