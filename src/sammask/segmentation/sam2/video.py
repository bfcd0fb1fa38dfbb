"""SAM 2 video strategies: ``video`` (streaming propagation, bounded memory) and ``baseline``.

Both strategies turn a stream of :class:`~sammask.segmentation.base.FramePrompts` (a frame and the
detector boxes of the tracks on it) into one :class:`~sammask.segmentation.base.FrameMasks` per
frame, using the official SAM 2 video predictor (``sam2.sam2_video_predictor.SAM2VideoPredictor``,
Ravi et al., "SAM 2: Segment Anything in Images and Videos", 2024) built by
:func:`sammask.segmentation.sam2.model.build_sam2_model`.

``VideoStrategy`` (``strategy = "video"``)
    One inference state for all tracks (SAM 2 ``obj_id`` = ``track_id``), fed forward one frame
    at a time as frames arrive (no read-ahead, no JPEG extraction, no ``init_state(video_path)``).
    A track is box-prompted on the first frame where it appears and after every gap; on the
    frames in between its mask is propagated from SAM 2's memory bank. A propagated mask that
    *drifts* from the detector box is replaced by a fresh box prompt (see
    :meth:`VideoStrategy.needs_reprompt`). The state only ever holds the current frame, the
    per-track memories SAM 2 can still attend to, a few recent prompts per track, and tracks seen
    recently, so memory stays flat however long the video.

    SAM 2 sees the fed frames as consecutive (its frame index is the position in the stream, not
    the video's ``frame_idx``), so the strategy also works when a keyframe wrapper feeds only
    every k-th frame: the memory bank then spans k times more video time.

``BaselineStrategy`` (``strategy = "baseline"``)
    The original system's plan, kept as the baseline to beat: chunks of ``chunk_size`` frames,
    one predictor state per chunk holding all of the chunk's frames, each track's first box in the
    chunk as its box prompt (tracks alive across a chunk boundary are re-prompted from their box
    on the chunk's first frame), then ``SAM2VideoPredictor.propagate_in_video`` over the chunk.
    The original wrote each chunk to JPEG files and called ``init_state`` on the folder; here the
    chunk's frames are fed as preprocessed tensors instead (no temp files, and no JPEG loss), with
    the same memory behaviour (every frame of the chunk held as a float32 tensor).

Both rely on SAM 2 internals (inference-state keys, ``_run_single_frame_inference``,
``propagate_in_video_preflight``, the ``output_dict_per_obj`` layout); ``tests/test_sam2_video.py``
pins them against the installed ``sam2`` (1.1.0) so that a version change fails loudly.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sammask.errors import SegmentationError
from sammask.segmentation.base import FrameMasks, FramePrompts
from sammask.segmentation.sam2.options import Sam2Options
from sammask.geometry import BBox, as_bbox, box_iou, mask_bbox

if TYPE_CHECKING:  # pragma: no cover - typing only
    pass

logger = logging.getLogger(__name__)

MAX_COND_FRAMES = 3
"""Prompted (conditioning) frames kept per track in :class:`VideoStrategy`: the most recent ones.

SAM 2 attends to every conditioning frame it holds (``max_cond_frames_in_attn = -1`` in the
published configs), so an unbounded list would grow memory and per-frame cost with each re-prompt.
"""

STREAMING_NUM_FRAMES = 2**31 - 1
"""``inference_state["num_frames"]`` of a streaming state: the video length is unknown, and SAM 2
only uses it to cap the object-pointer window (``min(num_frames, max_obj_ptrs_in_encoder)``) and
to stop reverse tracking, neither of which must shorten a forward stream."""

INFERENCE_STATE_KEYS = frozenset(
    {
        "images",
        "num_frames",
        "offload_video_to_cpu",
        "offload_state_to_cpu",
        "video_height",
        "video_width",
        "device",
        "storage_device",
        "point_inputs_per_obj",
        "mask_inputs_per_obj",
        "cached_features",
        "constants",
        "obj_id_to_idx",
        "obj_idx_to_id",
        "obj_ids",
        "output_dict_per_obj",
        "temp_output_dict_per_obj",
        "frames_tracked_per_obj",
    }
)
"""Keys of ``SAM2VideoPredictor.init_state`` (sam2 1.1.0) that :func:`new_inference_state` builds."""

FRAME_OUTPUT_KEYS = frozenset({"maskmem_features", "maskmem_pos_enc", "pred_masks", "obj_ptr", "object_score_logits"})
"""Keys of one per-object frame output in ``output_dict_per_obj[i][...][t]`` (sam2 1.1.0)."""


def new_inference_state(
    model: Any,
    *,
    images: Any,
    num_frames: int,
    video_height: int,
    video_width: int,
) -> dict[str, Any]:
    """Build a SAM 2 video inference state without loading a video.

    Mirrors ``SAM2VideoPredictor.init_state`` (sam2 1.1.0) key for key, except that the frames
    are supplied by the caller and the backbone is not warmed up on frame 0.

    Args:
        model: a ``SAM2VideoPredictor``.
        images: anything indexable by SAM 2 frame index giving a (3, S, S) float32 tensor
            normalised as :func:`~sammask.segmentation.sam2.model.preprocess_frame` does
            (S = ``model.image_size``): a (T, 3, S, S) tensor or a ``dict[int, Tensor]``.
        num_frames: video length in frames as SAM 2 sees it (:data:`STREAMING_NUM_FRAMES` when
            unknown).
        video_height: original frame height in pixels (masks are returned at this size).
        video_width: original frame width in pixels.

    Returns:
        The inference-state dict (keys :data:`INFERENCE_STATE_KEYS`).
    """
    device = model.device
    return {
        "images": images,
        "num_frames": num_frames,
        "offload_video_to_cpu": False,
        "offload_state_to_cpu": False,
        "video_height": video_height,
        "video_width": video_width,
        "device": device,
        "storage_device": device,
        "point_inputs_per_obj": {},
        "mask_inputs_per_obj": {},
        "cached_features": {},
        "constants": {},
        "obj_id_to_idx": OrderedDict(),
        "obj_idx_to_id": OrderedDict(),
        "obj_ids": [],
        "output_dict_per_obj": {},
        "temp_output_dict_per_obj": {},
        "frames_tracked_per_obj": {},
    }


def _unique_prompts(fp: FramePrompts) -> dict[int, BBox]:
    """``track_id -> bbox`` of a frame's prompts (first box wins if a track appears twice)."""
    boxes: dict[int, BBox] = {}
    for p in fp.prompts:
        if p.track_id in boxes:
            logger.warning("frame %d: track %d has more than one box; using the first", fp.frame_idx, p.track_id)
            continue
        boxes[p.track_id] = as_bbox(p.bbox)
    return boxes


def _frame_size(fp: FramePrompts) -> tuple[int, int]:
    img = fp.image
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise SegmentationError(f"frame {fp.frame_idx}: expected an (H, W, 3) uint8 RGB image, got shape {img.shape} dtype {img.dtype}")
    return int(img.shape[0]), int(img.shape[1])


def _score(out: dict[str, Any]) -> float:
    """SAM 2's object-presence probability (sigmoid of ``object_score_logits``), in [0, 1]."""
    logits = out.get("object_score_logits")
    if logits is None:
        return 1.0
    return float(logits.reshape(-1)[0].float().sigmoid())


def drifted(mask: np.ndarray | None, bbox: BBox, reprompt_iou: float) -> bool:
    """Whether a propagated mask has drifted from its track's detector box (the ``video``
    strategies' re-prompt rule, official SAM 2 and the ``transformers`` families alike).

    True when the mask is empty (the model lost the object although the detector sees it) or the
    IoU between the mask's tight box and the detector box is below ``reprompt_iou``.

    Why 0.5 by default: it is the usual box-matching threshold (PASCAL VOC, the MOT CLEAR
    metrics); a mask that follows its object has a tight box close to the detector's (IoU
    typically above 0.7, lower for thin or partly hidden parts), while a mask that jumped to
    a neighbour, shrank to a part or leaked into the background falls below it. Lower values
    re-prompt less (more temporal smoothness, more drift), higher values re-prompt more
    (closer to per-frame box prompting).

    Args:
        mask: (H, W) bool propagated mask, or None.
        bbox: detector box ``(x1, y1, x2, y2)`` float pixels on the same frame.
        reprompt_iou: the IoU floor in [0, 1].
    """
    mb = mask_bbox(mask) if mask is not None else None
    if mb is None:
        return True
    return box_iou(mb, bbox) < reprompt_iou


@dataclass(frozen=True, slots=True)
class RetainedState:
    """What a :class:`VideoStrategy` inference state holds right now (for memory checks).

    Attributes:
        frames: frames held in ``images`` (preprocessed (3, S, S) float32 tensors).
        cached_features: frames with cached backbone features.
        objects: tracks with per-object state.
        cond_outputs: conditioning (prompted) frame outputs, summed over tracks.
        non_cond_outputs: propagated frame outputs with their spatial memory, summed over tracks.
        pointer_only_outputs: older propagated outputs reduced to their object pointer, summed.
        inputs: stored point / mask prompts, summed over tracks.
        frames_tracked: ``frames_tracked_per_obj`` entries, summed over tracks.
        tensor_bytes: bytes of all distinct tensor storages reachable from the state.
    """

    frames: int
    cached_features: int
    objects: int
    cond_outputs: int
    non_cond_outputs: int
    pointer_only_outputs: int
    inputs: int
    frames_tracked: int
    tensor_bytes: int


def tensor_bytes_of(obj: Any) -> int:
    """Bytes of the distinct tensor storages reachable from nested dicts / lists / tuples."""
    import torch

    seen: set[int] = set()
    total = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, torch.Tensor):
            storage = o.untyped_storage()
            key = storage.data_ptr()
            if key not in seen:
                seen.add(key)
                total += storage.nbytes()
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
    return total


class StreamingVideoStrategy:
    """The frame stream both video strategies share (SAM 2's official predictor here, the
    ``transformers`` video models in :mod:`sammask.segmentation.hf_video`): one frame size per
    stream, a step counter, one box per track and frame, inference mode, and a model failure
    turned into a :class:`SegmentationError` naming the model and the frame.

    A subclass sets :attr:`label` and implements ``_reset`` (a fresh stream: ``_step = 0``,
    ``_size = None``, no model state), ``_release`` (drop the model state after the last frame) and
    ``_process(fp, step, boxes)`` (one frame).
    """

    label = "SAM 2"
    """The model's name in error messages."""

    _step: int
    _size: tuple[int, int] | None

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Segment a stream of frames (see :meth:`sammask.segmentation.base.Segmenter.segment`).

        Args:
            frames: :class:`FramePrompts` in increasing ``frame_idx`` order; all frames must have
                the same size. Consumed lazily, one at a time.

        Yields:
            One :class:`FrameMasks` per input frame, in order, with an (H, W) bool mask (or None
            when the model predicts no object) for every prompted track, and ``scores`` = the
            model's object-presence probability per track.

        Raises:
            SegmentationError: on a frame that is not (H, W, 3) uint8 or changes size mid-stream,
                or when the model fails on a frame (the message names it).
        """
        self._reset()
        for fp in frames:
            yield self.process(fp)
        self._release()

    def process(self, fp: FramePrompts) -> FrameMasks:
        """Process the next frame of the stream (the body of :meth:`segment`).

        Raises:
            SegmentationError: see :meth:`segment`.
        """
        import torch

        size = _frame_size(fp)
        if self._size is None:
            self._size = size
        elif size != self._size:
            raise SegmentationError(
                f"frame {fp.frame_idx}: size {size[1]}x{size[0]} differs from the stream's "
                f"{self._size[1]}x{self._size[0]}; a stream must keep one frame size"
            )
        step = self._step
        self._step += 1
        boxes = _unique_prompts(fp)
        try:
            with torch.inference_mode():
                return self._process(fp, step, boxes)
        except SegmentationError:
            raise
        except Exception as exc:
            raise SegmentationError(f"{self.label} video propagation failed on frame {fp.frame_idx}: {exc}") from exc

    def _reset(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def _process(self, fp: FramePrompts, step: int, boxes: dict[int, BBox]) -> FrameMasks:
        raise NotImplementedError


class VideoStrategy(StreamingVideoStrategy):
    """Streaming SAM 2 propagation of all tracks in one inference state, with bounded memory.

    Per frame (forward only, nothing read ahead):

    1. The frame is preprocessed into the state; the previous frame and its cached backbone
       features are released.
    2. A track that is new, or that was absent on the previous fed frame (a gap), is box-prompted
       (``add_new_points_or_box``): SAM 2 segments it from the box alone and the result becomes
       a conditioning memory.
    3. A track present on the previous fed frame is propagated one frame
       (``_run_single_frame_inference`` with the memory bank, as ``propagate_in_video`` does).
       If :meth:`needs_reprompt` says its mask drifted, its propagated memories are dropped and it
       is box-prompted on this frame instead.
    4. New prompts are encoded into memory (``propagate_in_video_preflight``) and the state is
       pruned: per track, propagated outputs outside SAM 2's attention window (the last
       ``num_maskmem - 1`` frames for spatial memory, ``max_obj_ptrs_in_encoder - 1`` for object
       pointers) are dropped or reduced to their pointer, only the :data:`MAX_COND_FRAMES` most
       recent prompts are kept, and tracks absent for longer than the window are removed
       (``remove_object``; they are box-prompted afresh if they come back).

    A track gets a mask only on frames where it has a prompt. Within those limits the masks equal
    those of ``SAM2VideoPredictor.propagate_in_video`` (the dropped outputs are ones SAM 2 never
    reads again).

    Args:
        model: a ``SAM2VideoPredictor`` (from :func:`~sammask.segmentation.sam2.model.build_sam2_model`)
            in eval mode; its ``image_size`` is the input size used.
        settings: :class:`~sammask.segmentation.sam2.options.Sam2Options`; ``reprompt_iou`` is used.
    """

    def __init__(self, model: Any, settings: Sam2Options) -> None:
        self.model = model
        self.settings = settings
        self.reprompt_iou = settings.reprompt_iou
        self.max_cond_frames = MAX_COND_FRAMES
        if settings.input_size != model.image_size:
            logger.warning(
                "settings.input_size=%d but the model was built for %d; using %d",
                settings.input_size,
                model.image_size,
                model.image_size,
            )
        stride = max(int(getattr(model, "memory_temporal_stride_for_eval", 1)), 1)
        num_maskmem = int(model.num_maskmem)
        # Oldest spatial memory SAM 2 reads when tracking frame f: f - 1 - (num_maskmem - 2) * stride
        # (see SAM2Base._prepare_memory_conditioned_features).
        self.mem_span = 1 + max(num_maskmem - 2, 0) * stride if num_maskmem > 1 else 0
        # Oldest object pointer: f - (max_obj_ptrs_in_encoder - 1).
        self.ptr_span = max(int(model.max_obj_ptrs_in_encoder) - 1, 0) if model.use_obj_ptrs_in_encoder else 0
        self.evict_after = max(self.mem_span, self.ptr_span, 1)
        self.state: dict[str, Any] | None = None
        self.reprompt_count = 0
        self._step = 0
        self._size: tuple[int, int] | None = None
        self._last_step: dict[int, int] = {}

    # -- public -----------------------------------------------------------------------------

    def needs_reprompt(self, mask: np.ndarray | None, bbox: BBox) -> bool:
        """Whether a propagated mask has drifted from its track's detector box: :func:`drifted`
        with this strategy's ``reprompt_iou``."""
        return drifted(mask, bbox, self.reprompt_iou)

    def retained(self) -> RetainedState:
        """Count what the inference state holds now (all zeros before the first frame)."""
        st = self.state
        if st is None:
            return RetainedState(0, 0, 0, 0, 0, 0, 0, 0, 0)
        cond = non_cond = ptr_only = inputs = tracked = 0
        for od in st["output_dict_per_obj"].values():
            cond += len(od["cond_frame_outputs"])
            for out in od["non_cond_frame_outputs"].values():
                if out["maskmem_features"] is None:
                    ptr_only += 1
                else:
                    non_cond += 1
        for d in (st["point_inputs_per_obj"], st["mask_inputs_per_obj"]):
            inputs += sum(len(v) for v in d.values())
        tracked = sum(len(v) for v in st["frames_tracked_per_obj"].values())
        return RetainedState(
            frames=len(st["images"]),
            cached_features=len(st["cached_features"]),
            objects=len(st["obj_ids"]),
            cond_outputs=cond,
            non_cond_outputs=non_cond,
            pointer_only_outputs=ptr_only,
            inputs=inputs,
            frames_tracked=tracked,
            tensor_bytes=tensor_bytes_of(st),
        )

    # -- internals --------------------------------------------------------------------------

    def _release(self) -> None:
        self.state = None

    def _reset(self) -> None:
        self.state = None
        self._step = 0
        self._size = None
        self._last_step = {}

    def _process(self, fp: FramePrompts, step: int, boxes: dict[int, BBox]) -> FrameMasks:
        from sammask.segmentation.sam2.model import logits_to_mask, preprocess_frame

        model = self.model
        h, w = self._size  # type: ignore[misc]  # set by open(); mypy cannot see it is not None here
        if self.state is None:
            self.state = new_inference_state(model, images={}, num_frames=STREAMING_NUM_FRAMES, video_height=h, video_width=w)
        st = self.state
        # Hold only the current frame; drop the previous frame's cached backbone features.
        st["cached_features"] = {}
        st["images"] = {step: preprocess_frame(fp.image, model.image_size, model.device)}
        self._evict_absent(step)
        result = FrameMasks(frame_idx=fp.frame_idx)
        if not boxes:
            return result

        prompted: list[int] = []
        propagated: dict[int, dict[str, Any]] = {}
        for tid, bbox in boxes.items():
            if self._last_step.get(tid) == step - 1:
                propagated[tid] = self._propagate_one(step, tid)
            else:
                self._prompt_box(step, tid, bbox)
                prompted.append(tid)

        masks: dict[int, np.ndarray | None] = {}
        for tid, out in propagated.items():
            obj_idx = st["obj_id_to_idx"][tid]
            mask = logits_to_mask(out["pred_masks"], h, w).reshape(h, w)
            if self.needs_reprompt(mask, boxes[tid]):
                logger.debug("frame %d: track %d drifted; re-prompting from its box", fp.frame_idx, tid)
                self.reprompt_count += 1
                # The propagated memories encode the drifted mask: forget them, and make this
                # frame a fresh conditioning frame prompted by the box alone.
                st["output_dict_per_obj"][obj_idx]["non_cond_frame_outputs"].clear()
                st["frames_tracked_per_obj"][obj_idx].pop(step, None)
                self._prompt_box(step, tid, boxes[tid])
                prompted.append(tid)
            else:
                st["output_dict_per_obj"][obj_idx]["non_cond_frame_outputs"][step] = out
                masks[tid] = mask
                result.scores[tid] = _score(out)

        if prompted:
            # Encode the prompted masks into memory and move them into output_dict_per_obj.
            model.propagate_in_video_preflight(st)
            for tid in prompted:
                obj_idx = st["obj_id_to_idx"][tid]
                out = st["output_dict_per_obj"][obj_idx]["cond_frame_outputs"][step]
                masks[tid] = logits_to_mask(out["pred_masks"], h, w).reshape(h, w)
                result.scores[tid] = _score(out)

        for tid in boxes:
            obj_idx = st["obj_id_to_idx"][tid]
            st["frames_tracked_per_obj"][obj_idx][step] = {"reverse": False}
            self._last_step[tid] = step
            got = masks.get(tid)
            result.masks[tid] = got if got is not None and got.any() else None
        self._prune(step)
        return result

    def _propagate_one(self, step: int, tid: int) -> dict[str, Any]:
        """Track ``tid`` (seen on the previous step) into ``step`` from its memories: sam2's
        single-frame inference, memory encoder run, not stored yet (the caller decides)."""
        st = self.state
        assert st is not None  # _process creates it first
        obj_idx = st["obj_id_to_idx"][tid]
        out, _ = self.model._run_single_frame_inference(
            inference_state=st,
            output_dict=st["output_dict_per_obj"][obj_idx],
            frame_idx=step,
            batch_size=1,
            is_init_cond_frame=False,
            point_inputs=None,
            mask_inputs=None,
            reverse=False,
            run_mem_encoder=True,
        )
        return out

    def _prompt_box(self, step: int, tid: int, bbox: BBox) -> None:
        self.model.add_new_points_or_box(self.state, frame_idx=step, obj_id=tid, box=np.asarray(bbox, dtype=np.float32))

    def _evict_absent(self, step: int) -> None:
        """Remove tracks not seen for more than the attention window (their memories are stale)."""
        stale = [tid for tid, last in self._last_step.items() if step - last > self.evict_after]
        for tid in stale:
            self.model.remove_object(self.state, tid, strict=True, need_output=False)
            del self._last_step[tid]

    def _prune(self, step: int) -> None:
        """Drop what SAM 2 will never read again (see the class docstring)."""
        st = self.state
        assert st is not None
        next_step = step + 1
        oldest_mem = next_step - self.mem_span
        oldest_ptr = next_step - self.ptr_span
        for obj_idx, od in st["output_dict_per_obj"].items():
            non_cond = od["non_cond_frame_outputs"]
            for t in list(non_cond):
                if t < oldest_ptr and t < oldest_mem:
                    del non_cond[t]
                elif t < oldest_mem and non_cond[t]["maskmem_features"] is not None:
                    out = non_cond[t]
                    non_cond[t] = {
                        "maskmem_features": None,
                        "maskmem_pos_enc": None,
                        "pred_masks": None,
                        "obj_ptr": out["obj_ptr"],
                        "object_score_logits": out["object_score_logits"],
                    }
            cond = od["cond_frame_outputs"]
            for t in sorted(cond)[: max(len(cond) - self.max_cond_frames, 0)]:
                del cond[t]
            for inputs in (st["point_inputs_per_obj"][obj_idx], st["mask_inputs_per_obj"][obj_idx]):
                for t in [t for t in inputs if t not in cond]:
                    del inputs[t]
            tracked = st["frames_tracked_per_obj"][obj_idx]
            for t in [t for t in tracked if t < step]:
                del tracked[t]


class BaselineStrategy:
    """The original plan: chunked SAM 2 propagation from each track's first box in the chunk.

    Reads ``chunk_size`` frames ahead, builds one inference state holding all of them (the
    original wrote them to JPEG and called ``init_state``; here they are fed as preprocessed
    tensors, same memory), box-prompts each track on its first frame in the chunk (so a track
    alive across a boundary is re-prompted from its box on the chunk's first frame: the original's
    "some discontinuity, but practical"), and runs ``propagate_in_video`` from the earliest
    prompt to the end of the chunk. There is no drift handling: that is what it is the baseline
    for. Holds ``chunk_size`` frames of 3 x S x S float32 (12 MiB each at S = 1024) plus SAM 2's
    per-object outputs for every frame of the chunk.

    Args:
        model: a ``SAM2VideoPredictor`` in eval mode (its ``image_size`` is the input size).
        settings: :class:`~sammask.segmentation.sam2.options.Sam2Options`; ``chunk_size`` (frames) is used.
    """

    def __init__(self, model: Any, settings: Sam2Options) -> None:
        self.model = model
        self.settings = settings
        self.chunk_size = settings.chunk_size
        self.prompt_count = 0

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Segment a stream of frames chunk by chunk.

        Args:
            frames: :class:`FramePrompts` in increasing ``frame_idx`` order, all the same size.

        Yields:
            One :class:`FrameMasks` per input frame, in order (a chunk's results are yielded once
            the whole chunk is read and propagated), with an (H, W) bool mask (or None when SAM 2
            predicts no object) for every prompted track on the frame.

        Raises:
            SegmentationError: on a frame that is not (H, W, 3) uint8, a size change, or a SAM 2
                failure.
        """
        chunk: list[FramePrompts] = []
        size: tuple[int, int] | None = None
        for fp in frames:
            s = _frame_size(fp)
            if size is None:
                size = s
            elif s != size:
                raise SegmentationError(
                    f"frame {fp.frame_idx}: size {s[1]}x{s[0]} differs from the stream's "
                    f"{size[1]}x{size[0]}; a stream must keep one frame size"
                )
            chunk.append(fp)
            if len(chunk) == self.chunk_size:
                yield from self._run_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._run_chunk(chunk)

    def _run_chunk(self, chunk: list[FramePrompts]) -> list[FrameMasks]:
        import torch

        try:
            with torch.inference_mode():
                return self._propagate_chunk(chunk)
        except SegmentationError:
            raise
        except Exception as exc:
            raise SegmentationError(
                f"SAM 2 baseline propagation failed on the chunk of frames {chunk[0].frame_idx}-{chunk[-1].frame_idx}: {exc}"
            ) from exc

    def _propagate_chunk(self, chunk: list[FramePrompts]) -> list[FrameMasks]:
        import torch

        from sammask.segmentation.sam2.model import preprocess_frame

        model = self.model
        h, w = chunk[0].image.shape[:2]
        results = [FrameMasks(frame_idx=fp.frame_idx) for fp in chunk]
        boxes = [_unique_prompts(fp) for fp in chunk]
        first: dict[int, tuple[int, BBox]] = {}
        for i, b in enumerate(boxes):
            for tid, bbox in b.items():
                first.setdefault(tid, (i, bbox))
        if not first:
            return results
        images = torch.stack([preprocess_frame(fp.image, model.image_size, model.device) for fp in chunk])
        state = new_inference_state(model, images=images, num_frames=len(chunk), video_height=h, video_width=w)
        # Tracks are added when the propagation reaches their first prompt (SAM 2 allows adding
        # objects after tracking started). Adding them all up front, as the original did, makes
        # sam2 1.1.0 run a track on frames *before* its prompt with only bf16 spatial memories
        # and no object pointer, which fails on CPU (bf16 / float matmul); those frames have no
        # box for the track, so no output is lost.
        starts = sorted({i for i, _ in first.values()})
        for k, s0 in enumerate(starts):
            for tid, (i, bbox) in first.items():
                if i == s0:
                    model.add_new_points_or_box(state, frame_idx=i, obj_id=tid, box=np.asarray(bbox, dtype=np.float32))
                    self.prompt_count += 1
            end = starts[k + 1] - 1 if k + 1 < len(starts) else len(chunk) - 1
            for i, obj_ids, _video_res_masks in model.propagate_in_video(state, start_frame_idx=s0, max_frame_num_to_track=end - s0):
                self._collect(state, i, obj_ids, boxes[i], results[i], h, w)
        for r, b in zip(results, boxes):
            for tid in b:
                r.masks.setdefault(tid, None)
        del state, images
        return results

    @staticmethod
    def _collect(state: dict[str, Any], i: int, obj_ids: list[int], wanted: dict[int, BBox], result: FrameMasks, h: int, w: int) -> None:
        """Store the masks of chunk frame ``i`` for the tracks prompted on it."""
        from sammask.segmentation.sam2.model import logits_to_mask

        for tid in obj_ids:
            if tid not in wanted:
                continue
            od = state["output_dict_per_obj"][state["obj_id_to_idx"][tid]]
            out = od["cond_frame_outputs"].get(i) or od["non_cond_frame_outputs"].get(i)
            if out is None:  # propagate_in_video stores every frame it yields
                raise SegmentationError(f"SAM 2 kept no output for track {tid} on chunk frame {i}")
            mask = logits_to_mask(out["pred_masks"], h, w).reshape(h, w)
            result.masks[tid] = mask if mask.any() else None
            result.scores[tid] = _score(out)
