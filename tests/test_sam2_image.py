"""SAM 2 strategy ``image`` and the Sam2Segmenter front, on real DAVIS frames with GT boxes.

Random weights: the masks are meaningless as segmentations, so the tests check the contract
(shapes, dtypes, one answer per frame, every prompted track answered), the batching, the encoder
being skipped, and that the prompts really drive the output.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sam2_helpers import EXACT, SMALL_INPUT, read_frames, read_gt_boxes

from sammask.errors import SegmentationError
from sammask.segmentation import build_segmenter
from sammask.segmentation.base import FrameMasks, FramePrompts, TrackPrompt
from sammask.segmentation.sam2.image import ImageStrategy, decode_boxes, encode_image
from sammask.segmentation.sam2.segmenter import Sam2Segmenter
from sammask.settings import Sam2Settings

N_FRAMES = 3


@pytest.fixture(scope="module")
def schoolgirls(davis_seq):
    """First frames of davis2017-lowres/schoolgirls (432x240, 7 instances) and their GT boxes."""
    seq = davis_seq("schoolgirls")
    frames = read_frames(seq / "video.mp4", N_FRAMES)
    gt = read_gt_boxes(seq / "gt.txt")
    return frames, gt


def _prompts(frames, gt, skip=()):
    out = []
    for i, image in enumerate(frames):
        boxes = {} if i in skip else gt.get(i, {})
        out.append(FramePrompts(i, image, [TrackPrompt(t, b) for t, b in sorted(boxes.items())]))
    return out


@pytest.fixture
def encoder_calls(tiny_model, monkeypatch):
    calls = []
    original = tiny_model.forward_image

    def counting(x):
        calls.append(tuple(x.shape))
        return original(x)

    monkeypatch.setattr(tiny_model, "forward_image", counting)
    return calls


def test_one_mask_per_prompted_track_per_frame_and_no_encoder_without_prompts(tiny_model, schoolgirls, encoder_calls):
    frames, gt = schoolgirls
    assert len(frames) == N_FRAMES and frames[0].shape == (240, 432, 3)
    items = _prompts(frames, gt, skip={1})
    strategy = ImageStrategy(tiny_model, Sam2Settings(input_size=SMALL_INPUT, **EXACT))
    out = list(strategy.segment(iter(items)))
    assert [fm.frame_idx for fm in out] == list(range(N_FRAMES))
    assert all(isinstance(fm, FrameMasks) for fm in out)
    assert out[1].masks == {} and out[1].scores == {}
    # the encoder ran once per prompted frame, at the model's input size, never for frame 1
    assert encoder_calls == [(1, 3, SMALL_INPUT, SMALL_INPUT)] * (N_FRAMES - 1)
    for item, fm in zip(items, out):
        expected = {p.track_id for p in item.prompts}
        assert set(fm.masks) == expected and set(fm.scores) == expected
        for tid in expected:
            mask = fm.masks[tid]
            assert isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (240, 432)
            assert 0.0 <= fm.scores[tid] <= 1.0
    assert len(gt[0]) == 7 and set(out[0].masks) == set(gt[0])
    # the box drives the mask: different tracks on one frame do not all get the same mask
    masks0 = [out[0].masks[t] for t in sorted(gt[0])]
    assert any(not np.array_equal(masks0[0], m) for m in masks0[1:])


def test_batched_decoder_equals_one_box_at_a_time(tiny_model, schoolgirls, encoder_calls):
    frames, gt = schoolgirls
    tids = sorted(gt[0])
    boxes = np.array([gt[0][t] for t in tids], dtype=np.float32)
    with torch.inference_mode():
        feats = encode_image(tiny_model, frames[0])
        batched = decode_boxes(tiny_model, feats, boxes)
        singles = [decode_boxes(tiny_model, feats, boxes[i : i + 1]) for i in range(len(tids))]
    assert len(encoder_calls) == 1
    assert batched.low_res_logits.shape == (7, 1, SMALL_INPUT // 4, SMALL_INPUT // 4)
    one_by_one = torch.cat([s.low_res_logits for s in singles])
    assert torch.allclose(batched.low_res_logits, one_by_one, atol=1e-4)
    assert torch.allclose(batched.iou, torch.cat([s.iou for s in singles]), atol=1e-5)
    assert torch.equal(batched.low_res_logits > 0, one_by_one > 0)
    # and the strategy's full-resolution masks are those of the batched call
    fm = next(ImageStrategy(tiny_model, Sam2Settings(input_size=SMALL_INPUT, **EXACT)).segment(_prompts(frames[:1], gt)))
    from sammask.segmentation.sam2.model import logits_to_mask

    for i, t in enumerate(tids):
        assert np.array_equal(fm.masks[t], logits_to_mask(one_by_one[i, 0], 240, 432))


def test_works_on_every_kth_frame_and_is_deterministic(tiny_model, schoolgirls):
    frames, gt = schoolgirls
    items = _prompts(frames, gt)
    strategy = ImageStrategy(tiny_model, Sam2Settings(input_size=SMALL_INPUT, **EXACT))
    every = list(strategy.segment(items))
    strided = list(strategy.segment(items[::2]))  # frames 0 and 2 only
    assert [fm.frame_idx for fm in strided] == [0, 2]
    for fm in strided:
        ref = every[fm.frame_idx]
        assert fm.masks.keys() == ref.masks.keys()
        assert all(np.array_equal(fm.masks[t], ref.masks[t]) for t in fm.masks)


def test_previous_mask_prompt_changes_later_frames_only(tiny_model, schoolgirls):
    frames, gt = schoolgirls
    items = _prompts(frames[:2], gt)
    plain = list(ImageStrategy(tiny_model, Sam2Settings(input_size=SMALL_INPUT, **EXACT)).segment(items))
    prev = list(ImageStrategy(tiny_model, Sam2Settings(input_size=SMALL_INPUT, **EXACT), use_previous_mask=True).segment(items))
    # frame 0: no previous mask yet -> identical
    assert all(np.array_equal(plain[0].masks[t], prev[0].masks[t]) for t in gt[0])
    # frame 1: each track's frame-0 logits are fed as the dense prompt -> the output changes
    changed = [t for t in gt[1] if plain[1].scores[t] != prev[1].scores[t]]
    assert changed == sorted(gt[1])


def test_duplicate_track_prompt_uses_first_box(tiny_model, schoolgirls):
    frames, gt = schoolgirls
    b1, b2 = gt[0][1], gt[0][2]
    item = FramePrompts(0, frames[0], [TrackPrompt(1, b1), TrackPrompt(1, b2)])
    ref = FramePrompts(0, frames[0], [TrackPrompt(1, b1)])
    strategy = ImageStrategy(tiny_model, Sam2Settings(input_size=SMALL_INPUT, **EXACT))
    got, want = next(strategy.segment([item])), next(strategy.segment([ref]))
    assert list(got.masks) == [1] and np.array_equal(got.masks[1], want.masks[1])


def test_bad_frame_raises_segmentation_error_naming_the_frame(tiny_model):
    strategy = ImageStrategy(tiny_model, Sam2Settings(input_size=SMALL_INPUT, **EXACT))
    bad = FramePrompts(5, np.zeros((20, 30), dtype=np.uint8), [TrackPrompt(1, (1.0, 1.0, 10.0, 10.0))])
    with pytest.raises(SegmentationError, match=r"\(H, W, 3\) uint8"):
        next(strategy.segment([bad]))


def test_sam2_segmenter_builds_from_settings_and_dispatches(tiny_model, tiny_checkpoint, schoolgirls):
    frames, gt = schoolgirls
    settings = Sam2Settings(checkpoint=tiny_checkpoint, input_size=SMALL_INPUT, strategy="image", offline=True, **EXACT)
    with build_segmenter("sam2", settings=settings) as seg:  # the registry path: loads the file
        assert isinstance(seg, Sam2Segmenter) and isinstance(seg.strategy, ImageStrategy)
        assert seg.model.image_size == SMALL_INPUT
        got = list(seg.segment(_prompts(frames[:1], gt)))
    want = list(ImageStrategy(tiny_model, settings).segment(_prompts(frames[:1], gt)))
    assert got[0].masks.keys() == want[0].masks.keys()
    assert all(np.array_equal(got[0].masks[t], want[0].masks[t]) for t in want[0].masks)
    assert seg.model is None  # closed by the context manager

    from sammask.segmentation.sam2 import video

    for strategy, cls_name in (("video", "VideoStrategy"), ("baseline", "BaselineStrategy")):
        s = Sam2Segmenter(Sam2Settings(input_size=SMALL_INPUT, strategy=strategy, **EXACT), model=tiny_model)
        assert type(s.strategy) is getattr(video, cls_name)
        s.close()
