"""SAM 2 image backend on the tiny random-init model (plumbing: shapes, scores, prompts, the
"everything" filters and crops). Random weights: masks are meaningless as segmentations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sam2_helpers import tiny_model  # noqa: F401 - a pytest fixture, used by name

from sammask.errors import ConfigError
from sammask.image import Prompt, segment, segment_everything
from sammask.image.sam2 import EverythingOptions, Sam2ImageBackend, nms


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    img = (rng.random((96, 144, 3)) * 60).astype(np.uint8)
    img[20:70, 40:100] = (200, 60, 40)
    return img


@pytest.fixture
def encoder_calls(tiny_model, monkeypatch):  # noqa: F811 - the imported tiny_model fixture, by argument name
    calls = []
    original = tiny_model.forward_image

    def counting(x):
        calls.append(tuple(x.shape))
        return original(x)

    monkeypatch.setattr(tiny_model, "forward_image", counting)
    return calls


def test_prompts_give_scored_candidates_at_image_size(tiny_model, image, encoder_calls):  # noqa: F811 - the imported tiny_model fixture, by argument name
    backend = Sam2ImageBackend(tiny_model)
    three = segment(image, backend, Prompt(points=[(60, 40)], labels=[1]), multimask=True)
    assert len(three) == 3
    assert [c.score for c in three] == sorted((c.score for c in three), reverse=True)
    for c in three:
        assert c.mask.shape == (96, 144) and c.mask.dtype == np.bool_ and 0.0 <= c.score <= 1.0
    assert len(encoder_calls) == 1
    # more prompts on the same image: no new encoder run; each prompt kind reaches the decoder
    one = backend.predict(Prompt(points=[(60, 40)], labels=[1]), multimask=False)
    boxed = backend.predict(Prompt(box=(40, 20, 100, 70), points=[(45, 25)], labels=[0]), multimask=False)
    masked = backend.predict(Prompt(box=(40, 20, 100, 70), mask=np.zeros((96, 144), bool)), multimask=False)
    assert len(one) == len(boxed) == len(masked) == 1 and len(encoder_calls) == 1
    assert not np.array_equal(one[0].mask, boxed[0].mask) or one[0].score != boxed[0].score
    assert masked[0].score != boxed[0].score
    with pytest.raises(ConfigError, match="outside"):
        backend.predict(Prompt(box=(200, 200, 300, 300)))
    with pytest.raises(ConfigError, match="mask prompt is"):
        backend.predict(Prompt(box=(40, 20, 100, 70), mask=np.zeros((5, 5), bool)))


def test_everything_fields_and_filters(tiny_model, image, encoder_calls):  # noqa: F811 - the imported tiny_model fixture, by argument name
    backend = Sam2ImageBackend(tiny_model)
    # random weights give logits near 0: a small stability offset spreads the stability scores
    base = {"points_per_side": 2, "stability_score_offset": 0.005}
    loose = EverythingOptions(pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0, **base)
    masks = segment_everything(image, backend, loose)
    assert len(masks) == 12  # 4 points x 3 masks, nothing filtered
    for m in masks:
        assert m.mask.shape == (96, 144) and m.area == int(m.mask.sum()) > 0
        ys, xs = np.nonzero(m.mask)
        assert m.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert 0 <= m.predicted_iou <= 1 and 0 <= m.stability <= 1
        assert m.crop_box == (0, 0, 144, 96) and m.point is not None
    assert [m.area for m in masks] == sorted((m.area for m in masks), reverse=True)
    # each filter bites
    thr = sorted(m.stability for m in masks)[len(masks) // 2]
    stable = segment_everything(
        image, backend, EverythingOptions(pred_iou_thresh=0.0, stability_score_thresh=thr, box_nms_thresh=1.0, **base)
    )
    assert stable and all(m.stability >= thr for m in stable) and len(stable) < len(masks)
    iou_thr = sorted(m.predicted_iou for m in masks)[len(masks) // 2]
    confident = segment_everything(
        image, backend, EverythingOptions(pred_iou_thresh=iou_thr, stability_score_thresh=0.0, box_nms_thresh=1.0, **base)
    )
    assert confident and all(m.predicted_iou > iou_thr for m in confident) and len(confident) < len(masks)
    dedup = segment_everything(
        image, backend, EverythingOptions(pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=0.5, **base)
    )
    assert 1 <= len(dedup) < len(masks)
    assert len(encoder_calls) == 1  # one photo, one encoder run (features reused)
    with pytest.raises(ConfigError, match="EverythingOptions"):
        backend.everything(image, object())


def test_everything_crop_layers_encode_every_tile(tiny_model, image, encoder_calls, monkeypatch):  # noqa: F811 - the imported tiny_model fixture, by argument name
    from sam2.utils.amg import generate_crop_boxes

    # every tile is encoded at the model's input size; to keep the test fast the encoder's
    # output for the first tile is reused for the others (the crop plumbing is what is tested)
    counting = tiny_model.forward_image
    first = []

    def reuse(x):
        if not first:
            first.append(counting(x))
        else:
            encoder_calls.append(tuple(x.shape))
        return first[0]

    monkeypatch.setattr(tiny_model, "forward_image", reuse)
    backend = Sam2ImageBackend(tiny_model)
    opts = EverythingOptions(points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0, crop_n_layers=1)
    masks = segment_everything(image, backend, opts)
    crops, _ = generate_crop_boxes((96, 144), 1, opts.crop_overlap_ratio)
    assert len(crops) == 5 and len(encoder_calls) == 5
    assert {m.crop_box for m in masks} <= {tuple(c) for c in crops}
    assert all(m.mask.shape == (96, 144) for m in masks)


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], float)
    assert sorted(nms(boxes, np.array([0.5, 0.9, 0.1]), 0.7).tolist()) == [1, 2]
    assert sorted(nms(boxes, np.array([0.5, 0.9, 0.1]), 0.95).tolist()) == [0, 1, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).size == 0


def test_label_folder_with_the_sam2_backend(tiny_model, image, tmp_path):  # noqa: F811 - the imported tiny_model fixture, by argument name
    """The data-engine loop on SAM 2: each detector box becomes the decoder's single mask."""
    from PIL import Image
    from pycocotools.coco import COCO

    from sammask.detection.base import FrameDetections
    from sammask.image.label import label_folder

    Image.fromarray(image).save(tmp_path / "a.png")
    backend = Sam2ImageBackend(tiny_model)
    box = (40.0, 20.0, 100.0, 70.0)

    def detect(rgb):
        return FrameDetections(np.array([box], np.float32), np.array([0.8], np.float32), ("thing",))

    rep = label_folder([tmp_path / "a.png"], tmp_path / "ds", detect=detect, backend=backend, format="coco")
    assert (rep.labelled, rep.objects) == (1, 1)
    expected = segment(image, backend, Prompt(box=box), multimask=False)[0].mask
    coco = COCO(str(tmp_path / "ds" / "annotations.json"))
    [ann] = coco.loadAnns(coco.getAnnIds())
    assert np.array_equal(coco.annToMask(ann).astype(bool), expected)
    assert json.loads((tmp_path / "ds" / ".sammask-label" / "settings.json").read_text())["settings"]["backend"] == "sam2"
