"""SAM 2 model registry, architecture mirror, checkpoint loading and weight resolution."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from sam2_helpers import SMALL_INPUT, TINY, read_frames

from sammask.errors import ConfigError, ModelLoadError, SegmentationError, WeightsNotFoundError
from sammask.segmentation.sam2.checkpoints import MODELS, get_model_spec, resolve_checkpoint
from sammask.segmentation.sam2.image import decode_boxes, encode_image
from sammask.segmentation.sam2.model import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_sam2_model,
    instantiate_sam2,
    logits_to_mask,
    preprocess_frame,
    resolve_device,
)

SAM2_DIR = Path(importlib.util.find_spec("sam2").submodule_search_locations[0])


def _official_hf_table() -> dict[str, tuple[str, str]]:
    """``HF_MODEL_ID_TO_FILENAMES`` read from sam2/build_sam.py without importing it."""
    tree = ast.parse((SAM2_DIR / "build_sam.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "HF_MODEL_ID_TO_FILENAMES" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("HF_MODEL_ID_TO_FILENAMES not found in sam2/build_sam.py")


def _target_defaults(target: str) -> dict[str, object]:
    """Keyword defaults of a sam2 class (through its bases, for **kwargs-forwarding classes)."""
    module, _, name = target.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    defaults: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("sam2"):
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.default is not inspect.Parameter.empty:
                    defaults[p.name] = p.default
    return defaults


def _norm(v):
    return tuple(_norm(x) for x in v) if isinstance(v, list | tuple) else v


def _compare(node: dict, cfg, where: str) -> int:
    """Every YAML value equals our field; every field absent from the YAML equals the class
    default. Returns the number of values compared."""
    assert dataclasses.is_dataclass(cfg), where
    n = 0
    names = {f.name for f in dataclasses.fields(cfg)}
    for key, val in node.items():
        if key == "_target_":
            continue
        assert key in names, f"{where}.{key} in the YAML but not in {type(cfg).__name__}"
        ours = getattr(cfg, key)
        if isinstance(val, dict):
            n += _compare(val, ours, f"{where}.{key}")
        else:
            assert _norm(ours) == _norm(val), f"{where}.{key}: ours {ours!r}, published {val!r}"
            n += 1
    if "_target_" in node:
        defaults = _target_defaults(node["_target_"])
        for name in names - set(node) - {"image_size"}:
            value = getattr(cfg, name)
            if dataclasses.is_dataclass(value):
                continue
            assert name in defaults, f"{where}.{name}: not an argument of {node['_target_']}"
            assert _norm(value) == _norm(defaults[name]), f"{where}.{name}: ours {value!r}, default {defaults[name]!r}"
            n += 1
    return n


def test_registry_lists_the_8_published_models_with_official_files_and_hub_ids():
    table = _official_hf_table()
    assert len(MODELS) == 8
    assert {(s.hf_repo_id, s.yaml_config, s.checkpoint_filename) for s in MODELS.values()} == {
        (repo, cfg, ckpt) for repo, (cfg, ckpt) in table.items()
    }
    for name, spec in MODELS.items():
        assert spec.checkpoint_filename == f"{name}.pt"
        assert spec.url.startswith("https://dl.fbaipublicfiles.com/segment_anything_2/")
        assert spec.url.endswith("/" + spec.checkpoint_filename)
    assert get_model_spec("sam2.1_hiera_b+").name == "sam2.1_hiera_base_plus"
    assert get_model_spec("sam2_hiera_tiny.pt").name == "sam2_hiera_tiny"
    with pytest.raises(ConfigError, match=r"sam2.1_hiera_large"):
        get_model_spec("sam3_hiera_huge")


@pytest.mark.parametrize("name", list(MODELS))
def test_architecture_config_equals_published_yaml(name):
    from omegaconf import OmegaConf

    spec = MODELS[name]
    published = OmegaConf.to_container(OmegaConf.load(SAM2_DIR / spec.yaml_config))["model"]
    assert published["_target_"] == "sam2.modeling.sam2_base.SAM2Base"
    n = _compare(published, spec.config, name)
    assert n >= 75  # the whole tree was walked (YAML leaves + class defaults)
    trunk = spec.config.image_encoder.trunk
    assert spec.config.image_encoder.neck.backbone_channel_list == trunk.channel_list


@pytest.mark.parametrize("name", ["sam2.1_hiera_tiny", "sam2_hiera_small"])
def test_built_modules_match_hydra_instantiation_of_the_yaml(name):
    """Our direct build has exactly the parameters of sam2's own hydra build of the YAML."""
    from hydra import compose
    from hydra.utils import instantiate

    import sam2  # noqa: F401 - the import initialises hydra's config module, as build_sam does

    spec = MODELS[name]
    official = instantiate(compose(config_name=spec.yaml_config).model, _recursive_=True)
    ours = instantiate_sam2(dataclasses.replace(spec.config, image_size=SMALL_INPUT))
    a = {k: tuple(v.shape) for k, v in official.state_dict().items()}
    b = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    assert a == b
    # the post-processing of build_sam2_video_predictor(apply_postprocessing=True)
    assert ours.sam_mask_decoder.dynamic_multimask_via_stability is True
    assert ours.binarize_mask_from_pts_for_mem_enc is True and ours.fill_hole_area == 8
    assert ours.image_size == SMALL_INPUT and ours.sam_prompt_encoder.image_embedding_size == (SMALL_INPUT // 16,) * 2


def test_checkpoint_roundtrip_gives_equal_weights_and_identical_outputs(tiny_model, tiny_checkpoint, shared_data):
    loaded = build_sam2_model(TINY, checkpoint=tiny_checkpoint, image_size=SMALL_INPUT)
    assert not loaded.training and loaded.image_size == SMALL_INPUT
    sa, sb = tiny_model.state_dict(), loaded.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    frame = read_frames(shared_data / "davis2017-lowres" / "dogs-jump" / "video.mp4", 1)[0]
    boxes = np.array([[150.0, 40.0, 300.0, 200.0], [10.0, 100.0, 120.0, 230.0]], dtype=np.float32)
    with torch.inference_mode():
        out_a = decode_boxes(tiny_model, encode_image(tiny_model, frame), boxes)
        out_b = decode_boxes(loaded, encode_image(loaded, frame), boxes)
    assert torch.equal(out_a.low_res_logits, out_b.low_res_logits)
    assert torch.equal(out_a.iou, out_b.iou)
    # one changed decoder weight changes the output: the comparison above is not vacuous
    with torch.no_grad():
        loaded.sam_mask_decoder.output_upscaling[0].weight.mul_(1.5)
    with torch.inference_mode():
        out_c = decode_boxes(loaded, encode_image(loaded, frame), boxes)
    assert not torch.equal(out_a.low_res_logits, out_c.low_res_logits)


def test_checkpoint_of_another_model_size_is_rejected_with_the_fix(tiny_checkpoint):
    with pytest.raises(ModelLoadError) as info:
        build_sam2_model("sam2.1_hiera_small", checkpoint=tiny_checkpoint, image_size=SMALL_INPUT)
    msg = str(info.value)
    assert str(tiny_checkpoint) in msg
    assert "does not match sam2.1_hiera_small" in msg
    assert "missing keys" in msg and "image_encoder.trunk.blocks." in msg
    assert "--model" in msg and "sam2.1_hiera_tiny" in msg  # suggested from the file name


def test_checkpoint_of_the_other_generation_is_rejected(tiny_checkpoint):
    with pytest.raises(ModelLoadError, match=r"does not match sam2_hiera_tiny.*unexpected keys"):
        build_sam2_model("sam2_hiera_tiny", checkpoint=tiny_checkpoint, image_size=SMALL_INPUT)


def test_unreadable_or_wrong_format_checkpoints_raise_model_load_error(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a torch file")
    with pytest.raises(ModelLoadError, match="could not be read as a PyTorch file"):
        build_sam2_model(TINY, checkpoint=garbage, image_size=SMALL_INPUT)
    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": {}}, plain)
    with pytest.raises(ModelLoadError, match=r"official SAM 2 format .*state_dict"):
        build_sam2_model(TINY, checkpoint=plain, image_size=SMALL_INPUT)


def test_missing_explicit_checkpoint_raises_weights_not_found_naming_path_and_fix(tmp_path):
    path = tmp_path / "model" / "sam2.1_hiera_base_plus.pt"
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_checkpoint("sam2.1_hiera_base_plus", path, offline=True)
    msg = str(info.value)
    for part in (
        "sam2.1_hiera_base_plus",
        str(path),
        "does not exist",
        "https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_base_plus.pt",
        "--model-path",
        "model_path",
        "--segmenter grabcut",
    ):
        assert part in msg, part
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ModelLoadError)


def test_no_checkpoint_and_no_hub_client_raises_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import -> ImportError
    with pytest.raises(WeightsNotFoundError) as info:
        build_sam2_model(TINY, checkpoint=None, image_size=SMALL_INPUT, offline=True)
    msg = str(info.value)
    for part in (
        "sam2.1_hiera_tiny",
        "huggingface_hub",
        "facebook/sam2.1-hiera-tiny",
        "092824/sam2.1_hiera_tiny.pt",
        "--model-path",
        "--segmenter grabcut",
    ):
        assert part in msg, part


def _fake_hub(monkeypatch, tmp_path, result=None):
    calls = []

    def hf_hub_download(*, repo_id, filename, local_files_only):
        calls.append((repo_id, filename, local_files_only))
        if result is None:
            raise FileNotFoundError("Cannot find the requested files in the disk cache")
        return str(result)

    hub = types.ModuleType("huggingface_hub")
    hub.hf_hub_download = hf_hub_download
    hub.constants = types.SimpleNamespace(HF_HUB_CACHE=str(tmp_path / "hf-cache"))
    monkeypatch.setitem(sys.modules, "huggingface_hub", hub)
    return calls


def test_offline_hub_cache_miss_names_hub_id_cache_dir_and_fixes(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    calls = _fake_hub(monkeypatch, tmp_path)
    with pytest.raises(WeightsNotFoundError) as info:
        resolve_checkpoint("sam2_hiera_large", None, offline=True)
    assert calls == [("facebook/sam2-hiera-large", "sam2_hiera_large.pt", True)]
    msg = str(info.value)
    for part in (
        "sam2_hiera_large",
        "facebook/sam2-hiera-large",
        str(tmp_path / "hf-cache"),
        "offline",
        "072824/sam2_hiera_large.pt",
        "--model-path",
        "run once online",
        "--segmenter grabcut",
    ):
        assert part in msg, part
    # HF_HUB_OFFLINE forces cache-only lookups even when offline=False
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError):
        resolve_checkpoint("sam2_hiera_large", None, offline=False)
    assert calls[-1][2] is True
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(WeightsNotFoundError, match="online"):
        resolve_checkpoint("sam2_hiera_large", None, offline=False)
    assert calls[-1][2] is False


def test_hub_cache_hit_is_returned_and_loaded(monkeypatch, tmp_path, tiny_checkpoint):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    calls = _fake_hub(monkeypatch, tmp_path, result=tiny_checkpoint)
    assert resolve_checkpoint(TINY, None, offline=True) == tiny_checkpoint
    model = build_sam2_model(TINY, checkpoint=None, image_size=SMALL_INPUT, offline=True)
    assert calls[-1] == ("facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny.pt", True)
    assert model.image_size == SMALL_INPUT


def test_unavailable_accelerators_raise_config_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"CUDA is not available.*--device cpu"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="MPS is not available"):
        resolve_device("mps")
    with pytest.raises(ConfigError, match="CUDA"):
        build_sam2_model(TINY, checkpoint=None, image_size=SMALL_INPUT, device="cuda:0", random_init=True)
    with pytest.raises(ConfigError, match="cpu, cuda or mps"):
        resolve_device("tpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="multiple of 16"):
        build_sam2_model(TINY, checkpoint=None, image_size=250, random_init=True)


def test_preprocess_frame_resizes_and_normalises_like_sam2():
    frame = np.zeros((90, 160, 3), dtype=np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 255, 128, 0
    x = preprocess_frame(frame, 64, "cpu")
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32
    for c, v in enumerate((255, 128, 0)):
        expected = (v / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert torch.allclose(x[c], torch.full((64, 64), expected), atol=1e-5)
    # left half black / right half white stays left/right after the (aspect-changing) resize
    split = np.zeros((90, 160, 3), dtype=np.uint8)
    split[:, 80:] = 255
    y = preprocess_frame(split, 64, "cpu")
    assert (y[:, :, :30] < 0).all() and (y[:, :, 34:] > 0).all()
    with pytest.raises(SegmentationError, match=r"\(H, W, 3\) uint8"):
        preprocess_frame(frame.astype(np.float32), 64, "cpu")


def test_logits_to_mask_upsamples_and_thresholds_at_zero():
    logits = torch.full((2, 1, 8, 8), -5.0)
    logits[0, 0, :4, :4] = 5.0  # top-left quadrant
    logits[1, 0, :, 4:] = 5.0  # right half
    m = logits_to_mask(logits, 48, 64)
    assert m.shape == (2, 1, 48, 64) and m.dtype == np.bool_
    # away from the 1-2 pixel bilinear transition band around the edges
    assert m[0, 0, :22, :30].all() and not m[0, 0, 26:, :].any() and not m[0, 0, :, 34:].any()
    assert m[1, 0, :, 34:].all() and not m[1, 0, :, :30].any()
    assert abs(int(m[1].sum()) - 48 * 32) <= 48


def test_importing_sam2_modules_has_no_side_effects():
    code = (
        "import sys\n"
        "import sammask.segmentation.sam2, sammask.segmentation.sam2.model, "
        "sammask.segmentation.sam2.image, sammask.segmentation.sam2.segmenter, "
        "sammask.segmentation.sam2.checkpoints\n"
        "heavy = [m for m in ('torch', 'sam2', 'hydra', 'cv2') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
