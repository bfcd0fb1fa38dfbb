"""Detection by name (``--detect "text:license plate,face"``, issue 19): spec parsing, the
open-vocabulary detector on a tiny OWLv2 built here (nothing downloaded), class names = phrases,
the missing-weights error, and ``redact`` with a per-class effect on a phrase.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hf_sam_helpers import save_tiny_owlv2
from typer.testing import CliRunner

from sammask.cli import app
from sammask.detection.video import faces_only
from sammask.detection.registry import parse_spec
from sammask.detection.text import DEFAULT_TEXT_MODEL, TextDetector, TextDetectorOptions
from sammask.errors import ConfigError, WeightsNotFoundError

PHRASES = ("license plate", "face")


@pytest.fixture(scope="module")
def owl(tmp_path_factory) -> Path:
    return save_tiny_owlv2(tmp_path_factory.mktemp("owl") / "owlv2")


def test_text_spec_takes_the_rest_of_the_spec_as_phrases() -> None:
    s = parse_spec("text:license plate,face", "hub-default")
    assert s.text_phrases == PHRASES and s.text_model is None and not s.faces and s.hub_model is None
    assert s.classes == PHRASES
    s = parse_spec("faces,text:license  plate, logo", "hub-default")
    assert s.faces and s.text_phrases == ("license plate", "logo") and s.classes == ("face", "license plate", "logo")
    s = parse_spec("person,text=/models/gdino:sign", "hub-default")
    assert s.hub_classes == ("person",) and s.text_model == "/models/gdino" and s.text_phrases == ("sign",)
    assert not faces_only("faces,text:plate") and faces_only("faces")
    for bad in ("text:", "text=:face", "text=abc", "text:plate,,face"):
        with pytest.raises(ConfigError):
            parse_spec(bad, "hub-default")
    with pytest.raises(ConfigError, match="differ"):
        TextDetectorOptions(phrases=("face", "face "))


def test_owlv2_boxes_carry_their_phrase_and_land_on_the_padded_grid(owl: Path) -> None:
    det = TextDetector(TextDetectorOptions(phrases=PHRASES, model=str(owl), min_score=0.5))
    assert det.classes == PHRASES
    image = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    found = det.detect(image)
    # The tiny model answers one box per 16-px patch of its 64-px input: the cell boxes of OWLv2's
    # own box bias (4 x 4 grid). OWLv2 pads the image to a 200 x 200 square, so the boxes scale by
    # 200 on both axes and those of the padding rows (y >= 120) are clipped away or cut at 120.
    import torch

    cx, cy, w, h = torch.sigmoid(det._model.box_bias).double().numpy().T
    expected = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) * 200
    expected[:, 0::2] = expected[:, 0::2].clip(0, 200)
    expected[:, 1::2] = expected[:, 1::2].clip(0, 120)
    expected = expected[(expected[:, 2] > expected[:, 0]) & (expected[:, 3] > expected[:, 1])]
    assert 0 < len(found) == len(expected) < 16 and set(found.class_names) <= set(PHRASES)
    order = lambda b: b[np.lexsort((b[:, 0], b[:, 1]))]
    np.testing.assert_allclose(order(found.xyxy.astype(np.float64)), order(expected), atol=0.05)
    assert (found.scores >= 0.5).all()


def test_missing_text_model_is_one_error_naming_model_and_cache(tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(WeightsNotFoundError) as err:
        TextDetector(TextDetectorOptions(phrases=PHRASES, offline=True))
    msg = str(err.value)
    assert DEFAULT_TEXT_MODEL in msg and str(tmp_path) in msg and "text=FOLDER" in msg
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        TextDetector(TextDetectorOptions(phrases=PHRASES, model=str(tmp_path / "nope")))


def test_redact_by_phrase_with_a_per_class_effect(owl: Path, tmp_path: Path) -> None:
    from videos import make_video

    clip = make_video(tmp_path / "in.mp4", 6, (128, 96))
    out, report, tracks = tmp_path / "o.mp4", tmp_path / "r.json", tmp_path / "t.json"
    spec = f"text={owl}:license plate,face"
    res = CliRunner().invoke(
        app,
        [
            "redact",
            str(clip),
            "-o",
            str(out),
            "--detect",
            spec,
            "--class-effect",
            "license plate=solid",
            "--class-effect",
            "face=mosaic",
            "--segmenter",
            "box",
            "--preset",
            "ultrafast",
            "--report",
            str(report),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(report.read_text())
    per_class = rep["class_effects"]
    assert set(per_class) == set(PHRASES), per_class
    assert rep["masked_track_frames"] > 0
    assert sum(u["masked_track_frames"] for u in per_class.values()) == rep["masked_track_frames"]
    res = CliRunner().invoke(app, ["detect", str(clip), "-o", str(tracks), "--detect", spec, "--quiet"])
    assert res.exit_code == 0, res.output
    frames = json.loads(tracks.read_text())["frames"]
    assert {d["class"] for f in frames for d in f["detections"]} <= set(PHRASES)
