"""Strategy ``video`` for the ``transformers`` SAM families (issue 19): SAM 2 in transformers
format (``Sam2VideoModel``) and SAM 3's tracker (``Sam3TrackerVideoModel``), on tiny random-init
video configs saved as local folders (nothing downloaded).

Random weights give meaningless masks: these tests check that our streaming loop computes what
transformers' own streaming ``forward`` computes, that masks sit where the prompts are, that the
session stays bounded, the privacy promise on the decoded output, and the errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from sam2_helpers import checked_run_options, first_frames_tracks, redact_sam2_argv
from hf_sam_helpers import save_tiny_model, save_tiny_video_model
from typer.testing import CliRunner

from sammask.cli import app
from sammask.errors import ConfigError
from sammask.export.applied import read_applied_masks
from sammask.segmentation import hf_video
from sammask.segmentation.base import FramePrompts, TrackPrompt
from sammask.segmentation.families import load_hf_model, resolve_model_source
from sammask.segmentation.hf_image import HFEncoderRuntime
from sammask.segmentation.hf_video import HFVideoStrategy
from sammask.segmentation.sam2.model import logits_to_mask, preprocess_frame
from sammask.segmentation.sam2.options import Sam2Options
from sammask.segmentation.sam2.segmenter import Sam2Segmenter
from sammask.tracks import read_mot

DARK = 40
"""Max channel value of a solid black fill after H.264 (as tests/test_sam2_e2e.py)."""


@pytest.fixture(scope="module")
def video_folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf-sam-video")
    return {fam: save_tiny_video_model(fam, root / fam) for fam in ("sam2-hf", "sam3")}


def _frames(n: int, h: int = 96, w: int = 128, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("family", ["sam2-hf", "sam3"])
def test_streaming_equals_transformers_own_forward(family: str, video_folders: dict[str, Path], monkeypatch) -> None:
    """One track, box on frame 0, propagated over 4 frames: every mask equals the one
    transformers' streaming ``model(inference_session, frame=...)`` gives for the same box (fed as
    ``Sam2VideoProcessor`` feeds a box: two corners in input pixels, labels 2 and 3), so boxes land
    where the prompt is and the memory bank is read as the model's own loop reads it."""
    import torch

    monkeypatch.setattr(hf_video, "drifted", lambda mask, bbox, iou: False)  # random weights drift; pin propagation
    model, fam = load_hf_model(resolve_model_source(str(video_folders[family])), video=True)
    assert fam == family and type(model).__name__.endswith("VideoModel")
    frames, box = _frames(4), (20.0, 10.0, 90.0, 80.0)
    ours = list(HFVideoStrategy(model, family).segment(FramePrompts(i, f, [TrackPrompt(3, box)]) for i, f in enumerate(frames)))

    strat = HFVideoStrategy(model, family)  # for its session class, input size and normalisation
    s, (h, w) = strat.image_size, frames[0].shape[:2]
    sess = strat.session_class(
        video_height=h,
        video_width=w,
        inference_device="cpu",
        inference_state_device="cpu",
        video_storage_device="cpu",
        dtype=torch.float32,
        max_vision_features_cache_size=1,
    )
    idx = sess.obj_id_to_idx(3)
    corners = torch.tensor([[[[box[0] * s / w, box[1] * s / h], [box[2] * s / w, box[3] * s / h]]]])
    sess.add_point_inputs(idx, 0, {"point_coords": corners, "point_labels": torch.tensor([[[2, 3]]], dtype=torch.int32)})
    sess.obj_with_new_inputs = [3]
    with torch.inference_mode():
        for i, f in enumerate(frames):
            out = model(sess, frame=preprocess_frame(f, s, "cpu", strat.mean, strat.std))
            ref = logits_to_mask(out.pred_masks, h, w).reshape(h, w)
            got = ours[i].masks[3]
            assert np.array_equal(got if got is not None else np.zeros((h, w), bool), ref), f"frame {i}"
            assert ours[i].scores[3] == pytest.approx(float(out.object_score_logits.reshape(-1)[0].sigmoid()), abs=1e-6)


def test_session_stays_bounded_and_absent_tracks_are_evicted(tmp_path: Path, monkeypatch) -> None:
    """num_maskmem 3, 4 object pointers: per track at most 2 propagated outputs with spatial memory,
    1 pointer-only output, 3 prompts; one frame held; a track absent for longer than the window
    (3 frames) leaves the session; no S x S high-res logits kept."""
    monkeypatch.setattr(hf_video, "drifted", lambda mask, bbox, iou: False)
    folder = save_tiny_video_model("sam2-hf", tmp_path / "m", num_maskmem=3, max_object_pointers_in_encoder=4)
    model, _ = load_hf_model(resolve_model_source(str(folder)), video=True)
    strat = HFVideoStrategy(model, "sam2-hf")
    assert (strat.mem_span, strat.ptr_span, strat.evict_after) == (2, 3, 3)
    frames = _frames(12, seed=1)

    def prompts(i: int) -> list[TrackPrompt]:
        out = [TrackPrompt(1, (10.0, 10.0, 60.0, 70.0))]
        if i < 3 or i in (5, 6):  # track 2: frames 0-2, gap, 5-6 (re-prompted), then gone
            out.append(TrackPrompt(2, (60.0, 20.0, 120.0, 90.0)))
        return out

    seen = []
    for i, f in enumerate(frames):
        fm = strat.process(FramePrompts(i, f, prompts(i)))
        assert set(fm.masks) == {p.track_id for p in prompts(i)}
        r = strat.retained()
        seen.append(r)
        assert r.frames == 1 and r.cached_features == 1
        for od in strat.session.output_dict_per_obj.values():
            assert len(od["cond_frame_outputs"]) <= 3
            spatial = [t for t, o in od["non_cond_frame_outputs"].items() if o.get("maskmem_features") is not None]
            assert len(spatial) <= 2 and len(od["non_cond_frame_outputs"]) <= 3
            for o in [*od["cond_frame_outputs"].values(), *od["non_cond_frame_outputs"].values()]:
                assert "high_res_masks" not in o
    assert set(strat.session.output_dict_per_obj) == {1}  # track 2 last seen on frame 6, evicted at 10
    assert seen[-1].tensor_bytes == seen[-2].tensor_bytes  # flat once the window is full
    assert seen[5].cond_outputs == 3  # track 1's first prompt + track 2's two prompts


@pytest.mark.parametrize("family, runtime", [("sam2-hf", "torch"), ("sam3", "onnx")])
def test_redact_video_strategy_end_to_end(family: str, runtime: str, davis_seq, video_folders: dict[str, Path], tmp_path: Path) -> None:
    """``redact --strategy video --model FOLDER`` on 3 frames of dogs-jump (3 tracks): exit 0, every
    applied pixel filled in the decoded output, every detection covered by at least the 10 % floor
    of its box (the fail-secure rule), the masks record the run."""
    seq = davis_seq("dogs-jump")  # 432x240, 3 instances
    tracks = first_frames_tracks(seq, 3, tmp_path / "gt.txt")
    out, report = tmp_path / "o.mp4", tmp_path / "r.json"
    res = CliRunner().invoke(
        app,
        redact_sam2_argv(
            seq / "video.mp4",
            tracks,
            out,
            "--model",
            str(video_folders[family]),
            "--strategy",
            "video",
            "--runtime",
            runtime,
            "--precision",
            "fp32",
            *checked_run_options(report, tmp_path / "masks"),
        ),
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(report.read_text())
    assert rep["segmenter_error"] is None and rep["tracks"] == 3 and rep["segmented"] == len(tracks.read_text().splitlines()) == 9
    gt = read_mot(tracks)
    with av.open(str(out)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    checked = 0
    for af in read_applied_masks(tmp_path / "masks"):
        i, applied = af.frame_idx, af.applied
        assert (decoded[i].max(axis=2)[applied] <= DARK).all(), f"frame {i}: an applied pixel is not filled"
        for d in gt.on_frame(i):
            x1, y1, x2, y2 = (int(np.floor(d.bbox[0])), int(np.floor(d.bbox[1])), int(np.ceil(d.bbox[2])), int(np.ceil(d.bbox[3])))
            assert applied[y1:y2, x1:x2].mean() >= 0.10, f"frame {i} track {d.track_id}: below the floor"
            checked += 1
    assert checked == 9


def test_runtime_encoder_primes_the_session_as_torch_would(video_folders: dict[str, Path], tmp_path: Path) -> None:
    """With the image encoder on ONNX (fp32), the masks over 3 frames differ from torch's on <= 0.1 %
    of pixels (the features differ by float rounding only)."""
    model, _ = load_hf_model(resolve_model_source(str(video_folders["sam2-hf"])), video=True)
    frames = _frames(3, seed=2)
    feed = [FramePrompts(i, f, [TrackPrompt(1, (15.0, 12.0, 100.0, 85.0))]) for i, f in enumerate(frames)]
    ref = list(HFVideoStrategy(model, "sam2-hf").segment(feed))
    enc = HFEncoderRuntime(model, "sam2-hf", "onnx", "fp32", tmp_path)
    strat = HFVideoStrategy(model, "sam2-hf", encoder=enc)
    assert strat.encoder is enc
    got = list(strat.segment(feed))
    for a, b in zip(ref, got):
        ma = a.masks[1] if a.masks[1] is not None else np.zeros((96, 128), bool)
        mb = b.masks[1] if b.masks[1] is not None else np.zeros((96, 128), bool)
        assert (ma != mb).mean() <= 1e-3


def test_video_strategy_errors_name_the_model_and_the_fix(tmp_path: Path) -> None:
    image_only = save_tiny_model("sam2-hf", tmp_path / "image-only")
    with pytest.raises(ConfigError, match=r"image checkpoint \(model_type 'sam2'\).*--strategy image"):
        Sam2Segmenter(Sam2Options(model=str(image_only), strategy="video", runtime="torch", precision="fp32"))
    samhq = save_tiny_model("samhq", tmp_path / "samhq")
    with pytest.raises(ConfigError, match=r"strategy 'video'.*sam2-hf, edgetam, sam3.*--strategy image"):
        Sam2Segmenter(Sam2Options(model=str(samhq), strategy="video", runtime="torch", precision="fp32"))
    with pytest.raises(ConfigError, match=r"strategy 'baseline' is built only for the official"):
        Sam2Segmenter(Sam2Options(model=str(samhq), strategy="baseline", runtime="torch", precision="fp32"))
