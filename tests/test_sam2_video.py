"""SAM 2 ``video`` and ``baseline`` strategies on real DAVIS frames with a random-init model.

The model is the published sam2.1_hiera_tiny architecture at input 128 with random weights: its
masks are meaningless, so tests that check *decisions* (re-prompting, gaps, memory pruning)
replace SAM 2's propagated masks with controlled ones (:func:`control_propagation`) while still
running the real network; tests that check *numbers* compare our streaming state against stock
``SAM2VideoPredictor.propagate_in_video`` on the same frames.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import torch

from sammask.errors import SegmentationError
from sammask.segmentation.base import FrameMasks, FramePrompts, TrackPrompt
from sammask.segmentation.sam2.model import build_sam2_model, logits_to_mask
from sammask.geometry import box_iou, mask_bbox
from sammask.tracks import read_mot
from sammask.segmentation.sam2.video import (
    FRAME_OUTPUT_KEYS,
    INFERENCE_STATE_KEYS,
    MAX_COND_FRAMES,
    BaselineStrategy,
    VideoStrategy,
    new_inference_state,
)
from sammask.settings import Sam2Settings
from sam2_helpers import EXACT

SIZE = 128  # model input side: published architecture, small input -> fast
LOW = SIZE // 4  # SAM 2 low-res mask side

# Boxes aligned to the low-res grid of a 432x240 frame (13.5 x 7.5 px cells), so a controlled
# low-res mask reproduces them almost exactly at frame resolution.
BOX_A = (27.0, 30.0, 189.0, 150.0)
BOX_B = (243.0, 90.0, 405.0, 210.0)


@pytest.fixture(autouse=True)
def _quiet_fill_holes():
    # sam2's optional CUDA hole filling is not built here; sam2 warns and skips it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*post-processing.*")
        warnings.filterwarnings("ignore", message=".*_C.*")
        yield


@pytest.fixture(scope="module")
def model():
    import torch

    torch.manual_seed(0)  # random weights, but the same ones every run
    return build_sam2_model("sam2.1_hiera_tiny", checkpoint=None, image_size=SIZE, random_init=True)


@pytest.fixture(scope="module")
def dogs(davis_seq) -> tuple[list[np.ndarray], dict[int, list[TrackPrompt]]]:
    """dogs-jump (432x240, 3 instances): the first 24 RGB frames and gt.txt boxes (0-based)."""
    import av

    seq: Path = davis_seq("dogs-jump")
    with av.open(str(seq / "video.mp4")) as c:
        frames = []
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            if len(frames) == 24:
                break
    gt = read_mot(seq / "gt.txt")
    boxes = {f: [TrackPrompt(d.track_id, d.bbox) for d in dets] for f, dets in gt.by_frame.items()}
    assert frames[0].shape == (240, 432, 3)
    return frames, boxes


def settings(**kw) -> Sam2Settings:
    return Sam2Settings(input_size=SIZE, strategy="video", **{**EXACT, **kw})


def box_logits(bbox, height: int, width: int) -> torch.Tensor:
    """(1, 1, LOW, LOW) logits: +10 on the low-res cells of ``bbox`` (None -> all -10)."""
    x = torch.full((1, 1, LOW, LOW), -10.0)
    if bbox is not None:
        c0, c1 = round(bbox[0] * LOW / width), round(bbox[2] * LOW / width)
        r0, r1 = round(bbox[1] * LOW / height), round(bbox[3] * LOW / height)
        x[..., r0:r1, c0:c1] = 10.0
    return x


def control_propagation(monkeypatch, model, target: Callable[[int, int], object]) -> None:
    """Replace the masks SAM 2 *propagates* (memory-conditioned, no prompt) by controlled ones.

    ``target(sam2_frame_idx, track_id)`` gives the box the mask should cover (None: empty mask).
    Box-prompted frames keep the real network output.
    """
    orig = model._run_single_frame_inference

    def wrapped(**kw):
        out, gpu = orig(**kw)
        if kw["point_inputs"] is None and kw["mask_inputs"] is None and not kw["is_init_cond_frame"]:
            st = kw["inference_state"]
            obj_idx = next(i for i, od in st["output_dict_per_obj"].items() if od is kw["output_dict"])
            tid = st["obj_idx_to_id"][obj_idx]
            logits = box_logits(target(kw["frame_idx"], tid), st["video_height"], st["video_width"])
            out["pred_masks"] = logits
            gpu = logits
        return out, gpu

    monkeypatch.setattr(model, "_run_single_frame_inference", wrapped)


def count_prompts(monkeypatch, model) -> list[tuple[dict, int, int]]:
    """Record ``(state, frame_idx, obj_id)`` of every ``add_new_points_or_box`` call (the state
    object is kept alive so that distinct states stay distinct)."""
    calls: list[tuple[dict, int, int]] = []
    orig = model.add_new_points_or_box

    def wrapped(inference_state, frame_idx, obj_id, **kw):
        calls.append((inference_state, frame_idx, obj_id))
        return orig(inference_state, frame_idx=frame_idx, obj_id=obj_id, **kw)

    monkeypatch.setattr(model, "add_new_points_or_box", wrapped)
    return calls


def stream(frames, boxes_of: Callable[[int], dict[int, tuple]], idx) -> Iterator[FramePrompts]:
    for i in idx:
        yield FramePrompts(i, frames[i % len(frames)], [TrackPrompt(t, b) for t, b in boxes_of(i).items()])


def check_outputs(out: list[FrameMasks], fed: list[FramePrompts]) -> None:
    """One FrameMasks per input frame, in order; masks exactly for the prompted tracks."""
    assert [o.frame_idx for o in out] == [f.frame_idx for f in fed]
    for o, f in zip(out, fed):
        assert set(o.masks) == {p.track_id for p in f.prompts}
        for m in o.masks.values():
            assert m is None or (m.dtype == bool and m.shape == f.image.shape[:2] and m.any())


# -- SAM 2 internals we rely on (fail loudly if the sam2 version changes them) ----------------


def test_sam2_internals_are_the_ones_we_build_on(model, dogs, tmp_path, monkeypatch):
    from PIL import Image
    from sam2.sam2_video_predictor import SAM2VideoPredictor

    frames, _ = dogs
    for i in range(2):
        Image.fromarray(frames[i]).save(tmp_path / f"{i:05d}.jpg")
    stock = model.init_state(str(tmp_path))
    assert set(stock) == INFERENCE_STATE_KEYS
    ours = new_inference_state(model, images={}, num_frames=2, video_height=240, video_width=432)
    assert set(ours) == set(stock)
    for key in ("point_inputs_per_obj", "output_dict_per_obj", "frames_tracked_per_obj", "cached_features"):
        assert type(ours[key]) is type(stock[key]), key

    def params(fn):
        return list(inspect.signature(fn).parameters)

    assert params(SAM2VideoPredictor._run_single_frame_inference) == [
        "self",
        "inference_state",
        "output_dict",
        "frame_idx",
        "batch_size",
        "is_init_cond_frame",
        "point_inputs",
        "mask_inputs",
        "reverse",
        "run_mem_encoder",
        "prev_sam_mask_logits",
    ]
    assert params(SAM2VideoPredictor.add_new_points_or_box)[:4] == ["self", "inference_state", "frame_idx", "obj_id"]
    assert "box" in params(SAM2VideoPredictor.add_new_points_or_box)
    assert params(SAM2VideoPredictor.propagate_in_video_preflight) == ["self", "inference_state"]
    assert params(SAM2VideoPredictor.remove_object) == ["self", "inference_state", "obj_id", "strict", "need_output"]
    assert params(SAM2VideoPredictor._get_image_feature) == ["self", "inference_state", "frame_idx", "batch_size"]
    # Memory-window attributes used to prune (published values for sam2.1 tiny).
    assert (model.num_maskmem, model.memory_temporal_stride_for_eval) == (7, 1)
    assert (model.use_obj_ptrs_in_encoder, model.max_obj_ptrs_in_encoder) == (True, 16)
    assert model.max_cond_frames_in_attn == -1 and model.image_size == SIZE

    # Output layout: per object, {cond, non_cond} -> frame -> compact output dict.
    control_propagation(monkeypatch, model, lambda t, tid: BOX_A)
    s = VideoStrategy(model, settings())
    it = s.segment(stream(frames, lambda i: {7: BOX_A}, range(2)))
    next(it), next(it)
    od = s.state["output_dict_per_obj"][0]
    assert set(od) == {"cond_frame_outputs", "non_cond_frame_outputs"}
    assert list(od["cond_frame_outputs"]) == [0] and list(od["non_cond_frame_outputs"]) == [1]
    for out in (od["cond_frame_outputs"][0], od["non_cond_frame_outputs"][1]):
        assert set(out) == FRAME_OUTPUT_KEYS
        assert out["pred_masks"].shape == (1, 1, LOW, LOW)
        assert out["maskmem_features"] is not None
    assert s.state["obj_ids"] == [7] and list(s.state["images"]) == [1]


# -- numbers: streaming equals stock propagation ------------------------------------------


def test_streaming_equals_stock_propagate_in_video(model, dogs, monkeypatch):
    """10 frames, 2 tracks, memory windows shrunk to 3 spatial / 4 pointer frames so that pruning
    is active from frame 4: same logits as stock SAM 2 (which keeps everything)."""
    frames, gt = dogs
    n = 10
    monkeypatch.setattr(model, "num_maskmem", 4)
    monkeypatch.setattr(model, "max_obj_ptrs_in_encoder", 5)
    first = {p.track_id: p.bbox for p in gt[0] if p.track_id in (1, 3)}
    logits: dict[str, dict[tuple[int, int], torch.Tensor]] = {"ours": {}, "stock": {}}
    run = ["ours"]
    orig = model._run_single_frame_inference

    def record(**kw):
        out, gpu = orig(**kw)
        st = kw["inference_state"]
        obj_idx = next(i for i, od in st["output_dict_per_obj"].items() if od is kw["output_dict"])
        logits[run[0]][(kw["frame_idx"], st["obj_idx_to_id"][obj_idx])] = out["pred_masks"].clone()
        return out, gpu

    monkeypatch.setattr(model, "_run_single_frame_inference", record)

    s = VideoStrategy(model, settings())
    assert (s.mem_span, s.ptr_span) == (3, 4)
    monkeypatch.setattr(s, "needs_reprompt", lambda mask, bbox: False)  # stock has no drift rule
    ours = list(s.segment(stream(frames, lambda i: first, range(n))))

    run[0] = "stock"
    from sammask.segmentation.sam2.model import preprocess_frame

    images = torch.stack([preprocess_frame(f, SIZE, "cpu") for f in frames[:n]])
    st = new_inference_state(model, images=images, num_frames=n, video_height=240, video_width=432)
    for tid, bbox in first.items():
        model.add_new_points_or_box(st, frame_idx=0, obj_id=tid, box=np.asarray(bbox, np.float32))
    stock_masks = {}
    for t, obj_ids, video_res in model.propagate_in_video(st):
        for k, tid in enumerate(obj_ids):
            stock_masks[(t, tid)] = (video_res[k, 0] > 0).numpy()

    assert set(logits["ours"]) == set(logits["stock"]) == {(t, tid) for t in range(n) for tid in first}
    for key, x in logits["stock"].items():
        torch.testing.assert_close(logits["ours"][key], x, rtol=1e-4, atol=1e-4, msg=f"frame, track {key}")
    for o in ours:
        for tid in first:
            expect = stock_masks[(o.frame_idx, tid)]
            got = o.masks[tid]
            assert np.array_equal(got if got is not None else np.zeros_like(expect), expect)
    assert s.state is None  # segment() releases the state when the stream ends


# -- decisions: prompts, gaps, drift, keyframes ----------------------------------------------


def test_one_output_per_frame_only_prompted_tracks_and_gap_reprompt(model, dogs, monkeypatch):
    frames, _ = dogs
    calls = count_prompts(monkeypatch, model)
    control_propagation(monkeypatch, model, lambda t, tid: BOX_A if tid == 1 else BOX_B)

    def boxes(i):
        b = {1: BOX_A}
        if i not in (4, 5, 6) and i >= 2:  # track 2 starts on frame 2, gap on 4-6
            b[2] = BOX_B
        return b

    fed = list(stream(frames, boxes, range(10)))
    s = VideoStrategy(model, settings())
    out = list(s.segment(iter(fed)))
    check_outputs(out, fed)
    assert [(f, tid) for _, f, tid in calls] == [(0, 1), (2, 2), (7, 2)]
    assert s.reprompt_count == 0
    for o in out[1:]:  # propagated (controlled) masks are returned at frame resolution
        assert box_iou(mask_bbox(o.masks[1]), BOX_A) > 0.9
    assert 2 not in out[5].masks and box_iou(mask_bbox(out[8].masks[2]), BOX_B) > 0.9


def test_drift_reprompts_from_the_box(model, dogs, monkeypatch):
    """Empty mask on frame 3 (track 1), mask on the wrong object on frame 5 (track 2),
    a slightly shifted mask on frame 7 (track 1, IoU > 0.5: kept)."""
    frames, _ = dogs
    calls = count_prompts(monkeypatch, model)
    shifted_a = (BOX_A[0] + 27.0, BOX_A[1], BOX_A[2] + 27.0, BOX_A[3])
    assert 0.5 < box_iou(shifted_a, BOX_A) < 0.9

    def target(t, tid):
        if (t, tid) == (3, 1):
            return None
        if (t, tid) == (5, 2):
            return BOX_A
        if (t, tid) == (7, 1):
            return shifted_a
        return BOX_A if tid == 1 else BOX_B

    control_propagation(monkeypatch, model, target)
    fed = list(stream(frames, lambda i: {1: BOX_A, 2: BOX_B}, range(8)))
    s = VideoStrategy(model, settings())
    got = []
    for fm in s.segment(iter(fed)):
        got.append(fm)
        step = fm.frame_idx
        if step in (3, 5):  # the re-prompted frame is a fresh conditioning frame, no drifted memory
            tid = 1 if step == 3 else 2
            od = s.state["output_dict_per_obj"][s.state["obj_id_to_idx"][tid]]
            assert step in od["cond_frame_outputs"] and not od["non_cond_frame_outputs"]
    check_outputs(got, fed)
    assert sorted((f, tid) for _, f, tid in calls) == [(0, 1), (0, 2), (3, 1), (5, 2)]
    assert s.reprompt_count == 2
    assert box_iou(mask_bbox(got[7].masks[1]), shifted_a) > 0.9  # kept, not re-prompted

    # reprompt_iou is the threshold: at 0.9 the shifted mask is re-prompted too.
    calls.clear()
    s = VideoStrategy(model, settings(reprompt_iou=0.9))
    list(s.segment(stream(frames, lambda i: {1: BOX_A}, range(8))))
    assert [(f, tid) for _, f, tid in calls] == [(0, 1), (3, 1), (7, 1)]


def test_keyframes_only_are_consecutive_for_sam2(model, dogs, monkeypatch):
    """Fed every 3rd frame (as the keyframe wrapper does): no gap re-prompts, one state."""
    frames, _ = dogs
    calls = count_prompts(monkeypatch, model)
    control_propagation(monkeypatch, model, lambda t, tid: BOX_A)
    fed = list(stream(frames, lambda i: {4: BOX_A}, range(0, 24, 3)))
    s = VideoStrategy(model, settings())
    out = list(s.segment(iter(fed)))
    check_outputs(out, fed)
    assert [(f, tid) for _, f, tid in calls] == [(0, 4)]
    # Frame 0 is the box-prompted frame (random-weight output: may be empty -> None, which the
    # pipeline masks with the box); every later keyframe is propagated and has the controlled mask.
    assert 4 in out[0].masks and all(o.masks[4] is not None for o in out[1:])


def test_video_reads_no_frame_ahead_baseline_one_chunk(model, dogs):
    frames, _ = dogs
    consumed = []

    def counted():
        for fp in stream(frames, lambda i: {1: BOX_A}, range(12)):
            consumed.append(fp.frame_idx)
            yield fp

    it = VideoStrategy(model, settings()).segment(counted())
    assert next(it).frame_idx == 0 and consumed == [0]
    assert next(it).frame_idx == 1 and consumed == [0, 1]
    it.close()
    consumed.clear()
    it = BaselineStrategy(model, settings(chunk_size=3)).segment(counted())
    assert next(it).frame_idx == 0 and consumed == [0, 1, 2]
    it.close()


# -- memory bound ----------------------------------------------------------------------------


def test_state_is_bounded_independent_of_length(model, dogs, monkeypatch):
    """24 frames, memory windows shrunk to 3 spatial / 4 pointer frames (the published 6 / 15
    only take longer to fill), a forced drift every 3 frames, a track that leaves after frame 2:
    what the state holds at frame 23 equals what it held at frame 11."""
    frames, _ = dogs
    monkeypatch.setattr(model, "num_maskmem", 4)
    monkeypatch.setattr(model, "max_obj_ptrs_in_encoder", 5)
    control_propagation(monkeypatch, model, lambda t, tid: None if t % 3 == 0 else (BOX_A if tid == 1 else BOX_B))
    boxes = lambda i: {1: BOX_A, **({9: BOX_B} if i <= 2 else {})}
    s = VideoStrategy(model, settings())
    assert (s.mem_span, s.ptr_span, s.evict_after) == (3, 4, 4)
    snap = {}
    for fm in s.segment(stream(frames, boxes, range(24))):
        r = s.retained()
        assert r.frames == 1 and r.cached_features <= 1 and r.frames_tracked <= r.objects
        assert r.cond_outputs <= MAX_COND_FRAMES * r.objects
        assert r.non_cond_outputs <= s.mem_span * r.objects
        assert r.pointer_only_outputs <= (s.ptr_span - s.mem_span) * r.objects
        assert r.inputs == r.cond_outputs
        if fm.frame_idx in (11, 23):
            snap[fm.frame_idx] = r
    assert s.reprompt_count == 7  # frames 3, 6, ..., 21
    assert snap[11].objects == snap[23].objects == 1  # track 9 was evicted
    assert snap[11] == snap[23]
    assert snap[23].cond_outputs == MAX_COND_FRAMES and snap[23].tensor_bytes > 0


# -- baseline --------------------------------------------------------------------------------


def test_baseline_chunks_reprompt_alive_tracks_on_chunk_start(model, dogs, monkeypatch):
    frames, gt = dogs
    calls = count_prompts(monkeypatch, model)
    held = []
    orig = model.propagate_in_video

    def spy(state, *a, **kw):
        if not held or held[-1][0] is not state:
            held.append((state, int(state["images"].shape[0])))
        yield from orig(state, *a, **kw)

    monkeypatch.setattr(model, "propagate_in_video", spy)

    def boxes(i):
        b = {p.track_id: p.bbox for p in gt[i] if p.track_id == 1}
        if i >= 10:  # track 5 appears mid-chunk
            b[5] = BOX_B
        return b

    fed = list(stream(frames, boxes, range(16)))
    out = list(BaselineStrategy(model, settings(chunk_size=6)).segment(iter(fed)))
    check_outputs(out, fed)
    chunks = [id(c) for c, _, _ in calls]
    assert len(set(chunks)) == 3  # one predictor state per chunk
    assert [(f, tid) for _, f, tid in calls] == [(0, 1), (0, 1), (4, 5), (0, 1), (0, 5)]
    assert [n for _, n in held] == [6, 6, 4]  # all frames of a chunk are held (the baseline's memory behaviour)


def test_errors_are_segmentation_errors(model, dogs):
    frames, _ = dogs
    small = frames[1][:120]
    with pytest.raises(SegmentationError, match="differs"):
        list(
            VideoStrategy(model, settings()).segment(
                iter([FramePrompts(0, frames[0], [TrackPrompt(1, BOX_A)]), FramePrompts(1, small, [])])
            )
        )
    with pytest.raises(SegmentationError, match="uint8"):
        list(BaselineStrategy(model, settings()).segment(iter([FramePrompts(0, frames[0].astype(np.float32))])))


def test_mask_bbox_and_iou():
    m = np.zeros((10, 20), bool)
    assert mask_bbox(m) is None
    m[2:5, 3:9] = True
    assert mask_bbox(m) == (3.0, 2.0, 9.0, 5.0)
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    assert logits_to_mask(box_logits(BOX_A, 240, 432), 240, 432).shape == (1, 1, 240, 432)
