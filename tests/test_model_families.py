"""The SAM families behind ``--model`` (issue 19): SAM 2 in transformers format, SAM 3's tracker,
SAM-HQ and EdgeTAM, on tiny random-init configs saved as local folders (nothing downloaded).

Random weights give meaningless masks: these tests check resolution, loading, placement of crop
masks in the frame, the privacy promise on the decoded output, and the errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from hf_sam_helpers import save_tiny_model
from sam2_helpers import checked_run_options, first_frames_tracks, redact_sam2_argv
from typer.testing import CliRunner

from sammask.cli import app
from sammask.errors import ConfigError, RuntimeUnavailableError, WeightsNotFoundError
from sammask.export.applied import read_applied_masks
from sammask.segmentation.base import FramePrompts, TrackPrompt
from sammask.segmentation.families import (
    NAMED_MODELS,
    installed_models,
    load_hf_model,
    missing_requirement,
    resolve_model_source,
)
from sammask.segmentation.hf_image import (
    BoxPromptModel,
    HFEncoderRuntime,
    segment_boxes,
)
from sammask.segmentation.sam2.crop import plan_crop
from sammask.segmentation.sam2.options import Sam2Options
from sammask.segmentation.sam2.segmenter import Sam2Segmenter
from sammask.tracks import read_mot

EDGETAM_SKIP = pytest.mark.skipif(missing_requirement("edgetam") is not None, reason="EdgeTAM needs timm + a working torchvision")
"""EdgeTAM builds its RepViT encoder with ``timm``, which imports ``torchvision``: the project's CPU
torch 2.13.0 has no torchvision that loads, so its tests run only in a venv that has both
(docs/benchmarks.md: torch 2.14.1 + torchvision 0.29.1)."""

HF_FAMILIES = ["sam2-hf", "sam3", "samhq", pytest.param("edgetam", marks=EDGETAM_SKIP)]


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


DARK = 40
"""Max channel value of a solid black fill after H.264 (as tests/test_sam2_e2e.py)."""


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf-sam")
    families = ["sam2-hf", "sam3", "samhq"] + (["edgetam"] if missing_requirement("edgetam") is None else [])
    return {fam: save_tiny_model(fam, root / fam) for fam in families}


@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch) -> Path:
    """Point the Hugging Face cache at an empty folder, offline."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_model_names_resolve_to_families(tiny_folders: dict[str, Path], tmp_path: Path) -> None:
    assert resolve_model_source("sam2.1_hiera_tiny").family == "sam2"
    assert resolve_model_source("x", tmp_path / "sam2.1_hiera_small.pt").family == "sam2"  # a .pt path
    src = resolve_model_source("edgetam")
    assert (src.family, src.repo_id) == ("edgetam", "yonigozlan/EdgeTAM-hf")
    assert resolve_model_source("samhq_vit_base").repo_id == "syscv-community/sam-hq-vit-base"
    assert resolve_model_source("someorg/some-sam") == resolve_model_source("someorg/some-sam")
    assert resolve_model_source("someorg/some-sam").family is None  # read from its config once found
    for fam, folder in tiny_folders.items():
        assert resolve_model_source(str(folder)).family == fam
        assert resolve_model_source("sam2.1_hiera_tiny", folder).family == fam  # --model-path FOLDER
    # A video checkpoint (what the hub repos hold) loads its image-model subset.
    import transformers as T
    from hf_sam_helpers import tiny_config

    c = tiny_config("sam2-hf")
    video = T.Sam2VideoModel(
        T.Sam2VideoConfig(
            vision_config=c.vision_config.to_dict(),
            prompt_encoder_config=c.prompt_encoder_config.to_dict(),
            mask_decoder_config=c.mask_decoder_config.to_dict(),
        )
    )
    video.save_pretrained(str(tmp_path / "video"))
    model, family = load_hf_model(resolve_model_source(str(tmp_path / "video")))
    assert family == "sam2-hf" and type(model).__name__ == "Sam2Model"
    assert all(torch_equal(v, video.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(ConfigError, match="unknown model 'nonsense'"):
        resolve_model_source("nonsense")
    (tmp_path / "cfgless").mkdir()
    with pytest.raises(WeightsNotFoundError, match=r"no config\.json"):
        resolve_model_source(str(tmp_path / "cfgless"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ConfigError, match="model_type 'bert'"):
        resolve_model_source(str(tmp_path / "other"))


@pytest.mark.parametrize("family", HF_FAMILIES)
def test_family_crop_masks_land_where_the_crop_was(family: str, tiny_folders: dict[str, Path]) -> None:
    """A frame encoded as a crop gives exactly the masks of that crop segmented alone, pasted at
    the crop's offset, and nothing outside it (placement relative to the prompt's crop)."""
    seg = Sam2Segmenter(Sam2Options(model=str(tiny_folders[family]), precision="fp32", runtime="torch"))
    assert seg.strategy.family == family
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    boxes = [(400.0, 150.0, 460.0, 230.0), (430.0, 120.0, 480.0, 200.0)]
    prompts = [TrackPrompt(7, boxes[0]), TrackPrompt(9, boxes[1])]
    (fm,) = list(seg.segment([FramePrompts(0, frame, prompts)]))
    assert seg.strategy.crops == 1
    window = plan_crop(np.array(boxes), 360, 640, seg.strategy.image_size)
    assert window is not None and window.x0 > 0
    shifted = np.array(boxes) - [window.x0, window.y0, window.x0, window.y0]
    import torch

    with torch.inference_mode():
        alone, iou = segment_boxes(seg.model, family, window.cut(frame), shifted)
    for i, tid in enumerate((7, 9)):
        m = fm.masks[tid]
        assert m.shape == (360, 640) and m.dtype == bool
        assert np.array_equal(window.cut(m), alone[i])
        outside = m.copy()
        outside[window.y0 : window.y0 + window.side, window.x0 : window.x0 + window.side] = False
        assert not outside.any()
        assert fm.scores[tid] == pytest.approx(float(iou[i]))
    # Without the crop the whole frame is encoded (a different, frame-size answer).
    seg_full = Sam2Segmenter(Sam2Options(model=str(tiny_folders[family]), precision="fp32", runtime="torch", crop=False))
    (full,) = list(seg_full.segment([FramePrompts(0, frame, prompts)]))
    assert seg_full.strategy.crops == 0 and full.masks[7].shape == (360, 640)


@pytest.mark.parametrize("family", HF_FAMILIES)
def test_redact_with_family_end_to_end(family: str, davis_seq, tiny_folders: dict[str, Path], tmp_path: Path) -> None:
    seq = davis_seq("dogs-jump")  # 432x240, 66 frames, 3 instances
    # Detections on the first 6 frames only (the model runs on those; the rest pass through).
    tracks = first_frames_tracks(seq, 6, tmp_path / "gt.txt")
    out, report = tmp_path / "o.mp4", tmp_path / "r.json"
    res = CliRunner().invoke(
        app,
        redact_sam2_argv(
            seq / "video.mp4",
            tracks,
            out,
            "--model",
            str(tiny_folders[family]),
            "--strategy",
            "image",
            "--runtime",
            "openvino" if family == "samhq" else "torch",
            *checked_run_options(report, tmp_path / "masks"),
        ),
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(report.read_text())
    gt = read_mot(tracks)
    assert rep["segmenter_error"] is None and rep["tracks"] == 3
    assert rep["segmented"] == len(tracks.read_text().splitlines()) == 18
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    for af in read_applied_masks(tmp_path / "masks"):
        i, applied = af.frame_idx, af.applied
        assert (frames[i].max(axis=2)[applied] <= DARK).all(), f"frame {i}: an applied pixel is not filled"
        for d in gt.on_frame(i):
            x1, y1, x2, y2 = (int(np.floor(d.bbox[0])), int(np.floor(d.bbox[1])), int(np.ceil(d.bbox[2])), int(np.ceil(d.bbox[3])))
            assert applied[y1:y2, x1:x2].mean() >= 0.10, f"frame {i} track {d.track_id}: below the floor"


def test_family_strategy_and_runtime_limits_are_one_error(davis_seq, tiny_folders: dict[str, Path], tmp_path: Path) -> None:
    seq = davis_seq("dogs-jump")
    for extra, needle in (
        (["--strategy", "video"], "strategy 'video'"),
        (["--runtime", "compile"], "runtime 'compile'"),
        (["--runtime", "onnx", "--precision", "int8"], "not onnx int8"),
    ):
        out = tmp_path / "o.mp4"
        res = CliRunner().invoke(
            app,
            redact_sam2_argv(seq / "video.mp4", seq / "gt.txt", out, "--model", str(tiny_folders["samhq"]), "--quiet", *extra),
        )
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 2 and len(lines) == 1 and needle in lines[0], res.output
        assert not out.exists()


@pytest.mark.parametrize("name", ["samhq_vit_base", "sam3", "someorg/some-sam"])
def test_missing_weights_is_one_error_naming_model_place_and_fix(name: str, empty_hub_cache: Path, davis_seq, tmp_path: Path) -> None:
    seq = davis_seq("dogs-jump")
    out = tmp_path / "o.mp4"
    res = CliRunner().invoke(
        app,
        redact_sam2_argv(seq / "video.mp4", seq / "gt.txt", out, "--model", name, "--offline", "--quiet"),
    )
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    repo = NAMED_MODELS[name][1] if name in NAMED_MODELS else name
    assert len(lines) == 1 and lines[0].startswith("sammask: error:"), res.output
    assert name in lines[0] and repo in lines[0] and str(empty_hub_cache) in lines[0]
    assert "--model DIR" in lines[0] and "grabcut" in lines[0]
    assert not out.exists()


def test_edgetam_needs_timm_said_before_any_weights(empty_hub_cache: Path) -> None:
    if missing_requirement("edgetam") is None:
        pytest.skip("timm and torchvision import here: the EdgeTAM model test below runs instead")
    with pytest.raises(RuntimeUnavailableError, match=r"edgetam.*'(timm|torchvision)'.*pip install timm"):
        load_hf_model(resolve_model_source("edgetam"))


@pytest.mark.skipif(missing_requirement("edgetam") is not None, reason="EdgeTAM needs timm + a working torchvision")
def test_edgetam_repvit_tiny_segments(tmp_path: Path) -> None:
    folder = save_tiny_model("edgetam", tmp_path / "edgetam")
    assert json.loads((folder / "config.json").read_text())["vision_config"]["backbone_config"]["architecture"] == "repvit_m1"
    seg = Sam2Segmenter(Sam2Options(model=str(folder), precision="fp32", runtime="openvino"))
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    (fm,) = list(seg.segment([FramePrompts(0, frame, [TrackPrompt(1, (20.0, 30.0, 120.0, 200.0))])]))
    assert fm.masks[1].shape == (240, 320)


def test_installed_models_lists_every_choice_with_a_reason(empty_hub_cache: Path) -> None:
    listed = {m.name: m for m in installed_models()}
    assert {"sam2.1_hiera_tiny", *NAMED_MODELS} <= set(listed)
    assert not listed["samhq_vit_base"].available and "not in the Hugging Face cache" in listed["samhq_vit_base"].reason
    if missing_requirement("edgetam") is not None:
        assert "does not import" in listed["edgetam"].reason
    # A cached config.json (hub cache layout) makes a family model available.
    repo = empty_hub_cache / "models--syscv-community--sam-hq-vit-base"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    listed = {m.name: m for m in installed_models()}
    assert listed["samhq_vit_base"].available and listed["samhq_vit_base"].reason == ""


def test_box_prompt_model_for_the_image_tools(tiny_folders: dict[str, Path]) -> None:
    """SAM-HQ (or any family) loaded by name for single images: one mask per box, frame-sized."""
    bpm = BoxPromptModel(str(tiny_folders["samhq"]), crop=False)
    image = np.random.default_rng(1).integers(0, 255, (100, 150, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 60, 80], [70, 20, 140, 90]], dtype=np.float32)
    masks, scores = bpm.segment(image, boxes)
    import torch

    with torch.inference_mode():
        direct, iou = segment_boxes(bpm._segmenter.model, "samhq", image, boxes)
    assert masks.shape == (2, 100, 150) and masks.dtype == bool and np.array_equal(masks, direct)
    np.testing.assert_allclose(scores, iou, atol=1e-6)
    bpm.close()


@pytest.mark.parametrize(
    "runtime, family",
    [
        ("onnx", "sam2-hf"),
        ("openvino", "sam3"),
        ("onnx", "samhq"),
        pytest.param("openvino", "edgetam", marks=EDGETAM_SKIP),
        pytest.param("onnx", "edgetam", marks=EDGETAM_SKIP),
    ],
)
def test_runtime_export_equals_the_family_torch_forward(family: str, runtime: str, tiny_folders: dict[str, Path], tmp_path: Path) -> None:
    """fp32 exports of the image encoder answer as transformers' torch forward: every embedding
    within 1e-4 absolute (measured today: <= 2e-7 on these tiny models, OpenVINO and ONNX, SAM 2-HF,
    SAM 3 and SAM-HQ; EdgeTAM 2.6e-10 on both, 0 mask pixels differing, in the torch 2.14.1 +
    torchvision 0.29.1 side venv of docs/benchmarks.md), and the masks differ on <= 0.1 % of pixels. (SAM-HQ's OpenVINO path also
    runs end to end in test_redact_with_family_end_to_end.)"""
    import torch

    model, _ = load_hf_model(resolve_model_source(str(tiny_folders[family])))
    enc = HFEncoderRuntime(model, family, runtime, "fp32", tmp_path)
    assert enc.export_path is not None and enc.export_path.is_file() and enc.cache_hit is False
    x = torch.randn(1, 3, enc.image_size, enc.image_size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ref = model.get_image_embeddings(x)
        got = enc.embeddings(x)
    flat = lambda e: [e[0], *e[1]] if family == "samhq" else list(e)
    assert len(flat(got)) == len(flat(ref))
    for g, r in zip(flat(got), flat(ref)):
        assert g.shape == r.shape and float((g - r).abs().max()) <= 1e-4
    image = np.random.default_rng(2).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    boxes = np.array([[20, 30, 150, 180], [160, 10, 290, 120]], dtype=np.float32)
    with torch.inference_mode():
        m_ref, _ = segment_boxes(model, family, image, boxes)
        m_got, _ = segment_boxes(model, family, image, boxes, enc)
    assert (m_ref != m_got).mean() <= 1e-3
    again = HFEncoderRuntime(model, family, runtime, "fp32", tmp_path)
    assert again.cache_hit is True and again.export_path == enc.export_path
