"""Strategy ``video`` for the ``transformers`` SAM families that have a video model: SAM 2 in
``transformers`` format (``Sam2VideoModel``), SAM 3's tracker (``Sam3TrackerVideoModel``) and
EdgeTAM (``EdgeTamVideoModel``; needs timm + torchvision).

The same rules as the official-SAM 2 ``video`` strategy (:class:`~sammask.segmentation.sam2.video.VideoStrategy`),
on ``transformers``' inference session instead of ``SAM2VideoPredictor``'s state:

- Streaming, forward only, nothing read ahead: the session holds only the current frame
  (``processed_frames``) and its backbone features (``cache``, size 1).
- A track (``obj_idx`` = ``track_id``) is box-prompted on the first frame where it appears and
  after every gap (an initial conditioning frame: box alone, no memory); in between it is
  propagated one frame from the memory bank. A propagated mask that drifted from the detector box
  (:func:`~sammask.segmentation.sam2.video.drifted`) is replaced by a fresh box prompt and the
  track's propagated memories are dropped.
- Memories are encoded as ``Sam2VideoModel.forward`` does (``_batch_encode_memories``): prompted
  masks binarised, propagated ones through the sigmoid, in two batches so that each gets SAM 2's
  own rule (``forward`` binarises a mixed batch whole).
- Bounded memory: per track, propagated outputs older than the attention window (``num_maskmem - 1``
  frames for spatial memory, ``max_object_pointers_in_encoder - 1`` for object pointers) are
  dropped or reduced to their pointer, the :data:`~sammask.segmentation.sam2.video.MAX_COND_FRAMES`
  most recent prompts are kept, ``high_res_masks`` (S x S float per object, kept by
  ``transformers`` until memory encoding) are released once encoded, and tracks absent for longer
  than the window are removed.

A track gets a mask only on frames where it has a prompt. Masks are the low-res logits upsampled
to the frame and thresholded at 0 (:func:`~sammask.segmentation.sam2.model.logits_to_mask`, as the
official strategy), scores the object-presence probability (sigmoid of ``object_score_logits``).

The image encoder runs on the model (torch fp32) or, for any other runtime / precision, on
:class:`~sammask.segmentation.hf_image.HFEncoderRuntime` whose output primes the session's feature
cache (the positional encodings, constant for a given input size, come from one torch pass on the
first frame).

Sources: ``transformers`` 5.25 ``models/sam2_video/modeling_sam2_video.py``
(``Sam2VideoInferenceSession``, ``Sam2VideoModel.forward`` / ``_run_single_frame_inference`` /
``_batch_encode_memories``), ``processing_sam2_video.py`` (a box is the two points labelled 2 and
3, in input-size pixels); both pinned by ``tests/test_hf_video.py``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from sammask.errors import SegmentationError
from sammask.segmentation.base import FrameMasks, FramePrompts
from sammask.segmentation.hf_image import HFEncoderRuntime, model_input_size
from sammask.segmentation.sam2.model import logits_to_mask, preprocess_frame
from sammask.segmentation.sam2.video import (
    MAX_COND_FRAMES,
    RetainedState,
    StreamingVideoStrategy,
    tensor_bytes_of,
    drifted,
)
from sammask.geometry import BBox

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

__all__ = ["HFVideoStrategy", "inference_session_class"]


def inference_session_class(model: Any) -> type:
    """The ``*InferenceSession`` class of a ``transformers`` SAM video model's own module
    (``Sam2VideoInferenceSession``, ``Sam3TrackerVideoInferenceSession``, ...).

    Raises:
        SegmentationError: the module has none (a ``transformers`` layout this code does not know).
    """
    mod = importlib.import_module(type(model).__module__)
    found = [getattr(mod, n) for n in dir(mod) if n.endswith("VideoInferenceSession") and isinstance(getattr(mod, n), type)]
    if len(found) != 1:
        raise SegmentationError(
            f"{type(model).__name__}: its module {mod.__name__} has {len(found)} *VideoInferenceSession classes, "
            f"expected 1; this transformers version's video API is not supported, use --strategy image"
        )
    return found[0]


def _score(out: dict[str, Any]) -> float:
    logits = out.get("object_score_logits")
    if logits is None:
        return 1.0
    return float(logits.reshape(-1)[0].float().sigmoid())


class HFVideoStrategy(StreamingVideoStrategy):
    """Streaming propagation of all tracks with a ``transformers`` SAM video model, bounded memory.

    Args:
        model: a ``Sam2VideoModel`` / ``Sam3TrackerVideoModel`` / ``EdgeTamVideoModel`` in eval mode
            (from :func:`~sammask.segmentation.families.load_hf_model` with ``video=True``).
        family: its family key (``sam2-hf``, ``sam3``, ``edgetam``).
        reprompt_iou: re-prompt a track when its propagated mask's box has IoU below this with the
            detector box (:func:`~sammask.segmentation.sam2.video.drifted`).
        encoder: image-encoder runtime; None (or torch fp32) -> the model's own forward.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        family: str,
        *,
        reprompt_iou: float = 0.5,
        encoder: HFEncoderRuntime | None = None,
    ) -> None:
        from sammask.segmentation.families import FAMILIES

        self.model: Any = model  # transformers' private video API (untyped)
        self.family = family
        self.label = family
        self.reprompt_iou = reprompt_iou
        self.encoder = None if encoder is None or (encoder.name == "torch" and encoder.precision == "fp32") else encoder
        self.image_size = model_input_size(model, family)
        self.mean, self.std = FAMILIES[family].mean, FAMILIES[family].std
        self.session_class = inference_session_class(model)
        cfg: Any = model.config  # a transformers config (untyped attributes)
        num_maskmem = int(cfg.num_maskmem)
        # transformers reads spatial memories at offsets 1 .. num_maskmem - 1 (stride 1) and object
        # pointers at offsets 1 .. max_object_pointers_in_encoder - 1 (streaming).
        self.mem_span = max(num_maskmem - 1, 0)
        self.ptr_span = max(int(cfg.max_object_pointers_in_encoder) - 1, 0)
        self.evict_after = max(self.mem_span, self.ptr_span, 1)
        self.max_cond_frames = MAX_COND_FRAMES
        self.session: Any = None
        self.reprompt_count = 0
        self._pos_embeds: list[torch.Tensor] | None = None
        self._step = 0
        self._size: tuple[int, int] | None = None
        self._last_step: dict[int, int] = {}

    # -- public -----------------------------------------------------------------------------

    def retained(self) -> RetainedState:
        """Count what the inference session holds now (all zeros before the first frame)."""
        st = self.session
        if st is None:
            return RetainedState(0, 0, 0, 0, 0, 0, 0, 0, 0)
        cond = non_cond = ptr_only = 0
        for od in st.output_dict_per_obj.values():
            cond += len(od["cond_frame_outputs"])
            for out in od["non_cond_frame_outputs"].values():
                if out.get("maskmem_features") is None:
                    ptr_only += 1
                else:
                    non_cond += 1
        inputs = sum(len(v) for d in (st.point_inputs_per_obj, st.mask_inputs_per_obj) for v in d.values())
        state = {"frames": st.processed_frames or {}, "cache": st.cache._vision_features, "out": st.output_dict_per_obj}
        return RetainedState(
            frames=len(st.processed_frames or {}),
            cached_features=len(st.cache._vision_features),
            objects=len(st.output_dict_per_obj),
            cond_outputs=cond,
            non_cond_outputs=non_cond,
            pointer_only_outputs=ptr_only,
            inputs=inputs,
            frames_tracked=sum(len(v) for v in st.frames_tracked_per_obj.values()),
            tensor_bytes=tensor_bytes_of(state),
        )

    # -- internals --------------------------------------------------------------------------

    def _release(self) -> None:
        self.session = None

    def _reset(self) -> None:
        self.session = None
        self._step = 0
        self._size = None
        self._last_step = {}

    def _new_session(self, h: int, w: int) -> Any:
        dev = next(self.model.parameters()).device
        return self.session_class(
            video_height=h,
            video_width=w,
            inference_device=dev,
            inference_state_device=dev,
            video_storage_device=dev,
            dtype=next(self.model.parameters()).dtype,
            max_vision_features_cache_size=1,
        )

    def _load_frame(self, step: int, image: np.ndarray) -> None:
        """Hold only this frame (and, with a runtime encoder, its features in the cache)."""
        st = self.session
        dev = next(self.model.parameters()).device
        pixel = preprocess_frame(image, self.image_size, dev, self.mean, self.std)
        st.processed_frames = {step: pixel}
        st.cache.clear_all()
        if self.encoder is None:
            return
        if self._pos_embeds is None:  # constant for the input size: one torch pass
            self._pos_embeds = list(self.model.get_image_features(pixel[None], return_dict=True).fpn_position_encoding)
        maps = [t.float() for t in self.encoder.embeddings(pixel[None])]
        # get_image_embeddings = get_image_features' maps, (HW, 1, C) -> (1, C, H, W), the last
        # plus no_memory_embedding: undo both.
        feats = [m.flatten(2).permute(2, 0, 1) for m in maps]
        feats[-1] = feats[-1] - self.model.no_memory_embedding
        st.cache.cache_vision_features(step, {"vision_feats": feats, "vision_pos_embeds": self._pos_embeds})

    def _ensure_track(self, tid: int) -> None:
        st = self.session
        if tid not in st.output_dict_per_obj:
            st.output_dict_per_obj[tid] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
            st.point_inputs_per_obj[tid] = {}
            st.mask_inputs_per_obj[tid] = {}
            st.frames_tracked_per_obj[tid] = {}

    def _run(self, step: int, tid: int, point_inputs: dict[str, Any] | None) -> dict[str, Any]:
        return self.model._run_single_frame_inference(
            inference_session=self.session,
            frame_idx=step,
            obj_idx=tid,
            batch_size=1,
            is_init_cond_frame=point_inputs is not None,
            point_inputs=point_inputs,
            mask_inputs=None,
            reverse=False,
            streaming=True,
        )

    def _box_inputs(self, bbox: BBox) -> dict[str, Any]:
        """A box as ``Sam2VideoProcessor`` feeds it: corners in input-size pixels, labels 2 and 3."""
        import torch

        assert self._size is not None  # set by process() before any prompt
        h, w = self._size
        s = self.image_size
        x1, y1, x2, y2 = bbox
        dev = next(self.model.parameters()).device
        coords = torch.tensor([[[[x1 * s / w, y1 * s / h], [x2 * s / w, y2 * s / h]]]], dtype=torch.float32, device=dev)
        labels = torch.tensor([[[2, 3]]], dtype=torch.int32, device=dev)
        return {"point_coords": coords, "point_labels": labels}

    def _prompt(self, step: int, tid: int, bbox: BBox) -> dict[str, Any]:
        out = self._run(step, tid, self._box_inputs(bbox))
        self.session.store_output(tid, step, output_value=out, is_conditioning_frame=True)
        return out

    def _process(self, fp: FramePrompts, step: int, boxes: dict[int, BBox]) -> FrameMasks:
        assert self._size is not None  # set by process()
        h, w = self._size
        if self.session is None:
            self.session = self._new_session(h, w)
        st = self.session
        self._evict_absent(step)
        result = FrameMasks(frame_idx=fp.frame_idx)
        if not boxes:  # nothing to segment: release the previous frame
            st.processed_frames = {}
            st.cache.clear_all()
            return result
        self._load_frame(step, fp.image)

        outs: dict[int, dict[str, Any]] = {}
        prompted: list[int] = []
        propagated: list[int] = []
        masks: dict[int, np.ndarray | None] = {}
        for tid, bbox in boxes.items():
            self._ensure_track(tid)
            if self._last_step.get(tid) == step - 1:
                out = self._run(step, tid, None)
                mask = logits_to_mask(out["pred_masks"], h, w).reshape(h, w)
                if drifted(mask, bbox, self.reprompt_iou):
                    logger.debug("frame %d: track %d drifted; re-prompting from its box", fp.frame_idx, tid)
                    self.reprompt_count += 1
                    st.output_dict_per_obj[tid]["non_cond_frame_outputs"].clear()
                    outs[tid] = self._prompt(step, tid, bbox)
                    prompted.append(tid)
                else:
                    st.store_output(tid, step, output_value=out, is_conditioning_frame=False)
                    outs[tid] = out
                    masks[tid] = mask
                    propagated.append(tid)
            else:
                outs[tid] = self._prompt(step, tid, bbox)
                prompted.append(tid)

        if self.model.num_maskmem > 0:
            for group, from_prompt in ((prompted, True), (propagated, False)):
                if group:
                    self.model._batch_encode_memories(
                        inference_session=st,
                        frame_idx=step,
                        objects_needing_memory_encoding=group,
                        high_res_masks_for_memory=[outs[t]["high_res_masks"] for t in group],
                        object_score_logits_for_memory=[outs[t]["object_score_logits"] for t in group],
                        is_mask_from_pts_per_obj=[from_prompt] * len(group),
                    )
        for tid in boxes:
            out = outs[tid]
            kept = masks.get(tid)
            if kept is None:
                kept = logits_to_mask(out["pred_masks"], h, w).reshape(h, w)
            result.masks[tid] = kept if kept.any() else None
            result.scores[tid] = _score(out)
            self._last_step[tid] = step
        self._prune(step)
        return result

    def _evict_absent(self, step: int) -> None:
        """Remove tracks not seen for more than the attention window (their memories are stale)."""
        st = self.session
        for tid in [t for t, last in self._last_step.items() if step - last > self.evict_after]:
            for d in (st.output_dict_per_obj, st.point_inputs_per_obj, st.mask_inputs_per_obj, st.frames_tracked_per_obj):
                d.pop(tid, None)
            del self._last_step[tid]

    def _prune(self, step: int) -> None:
        """Drop what the model will never read again (see the module docstring)."""
        next_step = step + 1
        oldest_mem = next_step - self.mem_span
        oldest_ptr = next_step - self.ptr_span
        for od in self.session.output_dict_per_obj.values():
            non_cond = od["non_cond_frame_outputs"]
            for t in list(non_cond):
                out = non_cond[t]
                if t < oldest_ptr and t < oldest_mem:
                    del non_cond[t]
                elif t < oldest_mem and out.get("maskmem_features") is not None:
                    non_cond[t] = {"object_pointer": out["object_pointer"], "object_score_logits": out["object_score_logits"]}
                else:
                    out.pop("high_res_masks", None)
            cond = od["cond_frame_outputs"]
            for t in sorted(cond)[: max(len(cond) - self.max_cond_frames, 0)]:
                del cond[t]
            for out in cond.values():
                out.pop("high_res_masks", None)
