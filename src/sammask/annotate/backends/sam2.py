"""SAM 2 / 2.1 backend: the official video predictor with clicks and boxes, lazy frames.

Model loading is the segmenter's (:func:`sammask.segmentation.sam2.model.build_sam2_model`:
published configs, official checkpoints, hub ids, offline mode, errors naming the fix). The
inference state is the one ``SAM2VideoPredictor.init_state`` builds
(:func:`sammask.segmentation.sam2.video.new_inference_state`), except that frames are not loaded
up front: ``images`` is a lazy view that decodes and preprocesses a frame when SAM 2 asks for it
(SAM 2 caches the image features of the last frame it encoded, so more clicks on the same frame
cost no encoder pass).

- :meth:`Sam2Backend.predict`: ``add_new_points_or_box`` with all the frame's clicks and box
  (``clear_old_points=True``): SAM 2 refines from its previous mask on that frame.
- :meth:`Sam2Backend.propagate`: ``propagate_in_video`` from the start frame in one direction,
  advanced one frame per requested frame (so the session can stop or cancel at any frame).
  Memory stays bounded like the ``video`` strategy's: behind the current frame, propagated
  outputs older than SAM 2's attention window (``num_maskmem`` spatial memories,
  ``max_obj_ptrs_in_encoder`` object pointers; spans from
  :class:`~sammask.segmentation.sam2.video.VideoStrategy`) are dropped; prompted
  (conditioning) frames are kept.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sammask.annotate.backends.base import AnnotateBackend, FrameGetter
from sammask.annotate.types import ObjectPrompt
from sammask.errors import SegmentationError

logger = logging.getLogger(__name__)


class _LazyImages:
    """``frame_idx -> (3, S, S) float32`` SAM 2 input, decoded and preprocessed on demand.

    Keeps the ``keep`` most recent tensors (12 MiB each at S = 1024).
    """

    def __init__(self, frames: FrameGetter, num_frames: int, image_size: int, device: Any, keep: int = 2) -> None:
        self.frames, self.n, self.size, self.device, self.keep = frames, num_frames, image_size, device, keep
        self._cache: OrderedDict[int, Any] = OrderedDict()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: int) -> Any:
        from sammask.segmentation.sam2.model import preprocess_frame

        idx = int(idx)
        if idx not in self._cache:
            self._cache[idx] = preprocess_frame(np.ascontiguousarray(self.frames(idx)), self.size, self.device)
            while len(self._cache) > self.keep:
                self._cache.popitem(last=False)
        return self._cache[idx]


class Sam2Backend(AnnotateBackend):
    """SAM 2 video predictor backend (module docstring).

    Args:
        model: SAM 2 model name (``sam2.1_hiera_tiny`` ... ``sam2_hiera_large``).
        checkpoint: local official ``.pt``; None -> Hugging Face hub cache.
        device: ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps``.
        input_size: model input side in pixels (1024 published).
        offline: never contact the hub.
        random_init: random weights (tests and harness checks only: masks are meaningless).
        predictor: an already built ``SAM2VideoPredictor`` (then the options above are unused).

    Raises:
        ConfigError, WeightsNotFoundError, ModelLoadError: from ``build_sam2_model``.
    """

    name: ClassVar[str] = "sam2"
    stateful: ClassVar[bool] = True

    def __init__(
        self,
        *,
        model: str = "sam2.1_hiera_tiny",
        checkpoint: Path | None = None,
        device: str = "cpu",
        input_size: int = 1024,
        offline: bool = False,
        random_init: bool = False,
        predictor: Any = None,
    ) -> None:
        if predictor is None:
            from sammask.segmentation.sam2.model import build_sam2_model

            predictor = build_sam2_model(
                model,
                checkpoint=checkpoint,
                image_size=input_size,
                device=device,
                random_init=random_init,
                offline=offline,
            )
        self.predictor = predictor
        self.state: dict[str, Any] | None = None
        from sammask.segmentation.sam2.video import VideoStrategy
        from sammask.settings import Sam2Settings

        spans = VideoStrategy(predictor, Sam2Settings(input_size=int(predictor.image_size)))
        self.mem_span, self.ptr_span = spans.mem_span, spans.ptr_span

    @property
    def _bound_state(self) -> dict[str, Any]:
        """The inference state :meth:`bind` built.

        Raises:
            SegmentationError: the backend is not bound to a video (or was reset).
        """
        if self.state is None:
            raise SegmentationError("the SAM 2 annotation backend is not bound to a video; open a session first")
        return self.state

    def bind(self, frames: FrameGetter, num_frames: int, shape: tuple[int, int]) -> None:
        """Build the inference state over the lazily decoded video."""
        from sammask.segmentation.sam2.video import new_inference_state

        super().bind(frames, num_frames, shape)
        images = _LazyImages(frames, num_frames, int(self.predictor.image_size), self.predictor.device)
        self.state = new_inference_state(self.predictor, images=images, num_frames=num_frames, video_height=shape[0], video_width=shape[1])

    def predict(self, frame_idx: int, obj_id: int, prompt: ObjectPrompt, current: np.ndarray | None) -> np.ndarray:
        """SAM 2's mask for all of the object's prompts on the frame (``current`` is unused:
        SAM 2 refines from its own previous logits on the frame).

        Raises:
            SegmentationError: if SAM 2 fails.
        """
        try:
            if prompt.mask is not None and len(prompt.points) == 0:
                _, obj_ids, masks = self.predictor.add_new_mask(
                    self.state, frame_idx=int(frame_idx), obj_id=int(obj_id), mask=np.asarray(prompt.mask, bool)
                )
                i = list(obj_ids).index(int(obj_id))
                return (masks[i, 0] > 0).cpu().numpy()
            _, obj_ids, masks = self.predictor.add_new_points_or_box(
                self.state,
                frame_idx=int(frame_idx),
                obj_id=int(obj_id),
                points=prompt.points.astype(np.float32) if len(prompt.points) else None,
                labels=prompt.labels.astype(np.int32) if len(prompt.labels) else None,
                box=np.asarray(prompt.box, np.float32) if prompt.box is not None else None,
                clear_old_points=True,
            )
        except Exception as exc:  # any SAM 2 failure is a segmentation error
            raise SegmentationError(f"SAM 2 failed on frame {frame_idx} for object {obj_id}: {exc}") from exc
        i = list(obj_ids).index(int(obj_id))
        return (masks[i, 0] > 0).cpu().numpy()

    def propagate(
        self,
        start: int,
        frame_indices: Iterable[int],
        start_masks: Mapping[int, np.ndarray],
        anchors: Callable[[int], dict[int, np.ndarray]],
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """``propagate_in_video`` from ``start``, one frame per requested index (prompted frames
        are SAM 2's conditioning frames: it keeps their masks itself, ``anchors`` is unused).

        Raises:
            SegmentationError: if SAM 2 fails.
        """
        it = iter(frame_indices)
        first = next(it, None)
        if first is None:
            return
        reverse = first < start
        wanted = {int(o) for o in start_masks if int(o) in self._bound_state["obj_id_to_idx"]}
        gen = self.predictor.propagate_in_video(self.state, start_frame_idx=start, max_frame_num_to_track=self.num_frames, reverse=reverse)
        try:
            self._next(gen)  # the start frame itself
            self._float_memories()
            idx: int | None = first
            while idx is not None:
                got, obj_ids, masks = self._next(gen)
                self._float_memories()
                if got != idx:
                    raise SegmentationError(f"SAM 2 propagated frame {got}, expected {idx}")
                out = {int(o): (masks[i, 0] > 0).cpu().numpy() for i, o in enumerate(obj_ids) if int(o) in wanted}
                self._prune(idx, reverse)
                yield idx, out
                idx = next(it, None)
        finally:
            gen.close()

    @staticmethod
    def _next(gen: Iterator[Any]) -> Any:
        try:
            return next(gen)
        except StopIteration:
            raise SegmentationError("SAM 2 propagation ended early") from None
        except SegmentationError:
            raise
        except Exception as exc:
            raise SegmentationError(f"SAM 2 propagation failed: {exc}") from exc

    def _float_memories(self) -> None:
        """On CPU, store SAM 2's spatial memories as float32 (sam2 1.1.0 keeps them in bfloat16).

        Without autocast (CPU), a frame whose memory holds spatial features but no object pointer
        (e.g. an object prompted after tracking started, or propagated towards its prompt) feeds
        bfloat16 features into float32 layers and fails ("mat1 and mat2 must have the same
        dtype"); with a pointer, ``torch.cat`` promotes them anyway. float32 costs twice the
        memory of the attention window, which stays bounded.
        """
        import torch

        if self.predictor.device.type != "cpu":
            return
        for od in self._bound_state["output_dict_per_obj"].values():
            for outputs in (od["cond_frame_outputs"], od["non_cond_frame_outputs"]):
                for out in outputs.values():
                    feats = out.get("maskmem_features")
                    if feats is not None and feats.dtype == torch.bfloat16:
                        out["maskmem_features"] = feats.float()

    def _prune(self, frame_idx: int, reverse: bool) -> None:
        """Drop propagated outputs behind ``frame_idx`` beyond SAM 2's attention window.

        Whole outputs are dropped (not reduced to their object pointer as the streaming
        ``video`` strategy does): a later re-propagation from an earlier frame reads spatial
        memories from frames behind it, and SAM 2 skips a missing frame but fails on one
        without features.
        """
        sign = 1 if reverse else -1  # "behind" = larger indices when going backwards
        window = max(self.mem_span, self.ptr_span)
        for od in self._bound_state["output_dict_per_obj"].values():
            non_cond = od["non_cond_frame_outputs"]
            for t in [t for t in non_cond if (t - frame_idx) * sign > window]:
                del non_cond[t]

    def retained_outputs(self) -> int:
        """Propagated outputs with spatial memory held now, summed over objects (memory checks)."""
        return sum(
            1
            for od in self._bound_state["output_dict_per_obj"].values()
            for out in od["non_cond_frame_outputs"].values()
            if out.get("maskmem_features") is not None
        )

    def forget(self, obj_id: int) -> None:
        """Remove the object from SAM 2's state."""
        if int(obj_id) in self._bound_state["obj_id_to_idx"]:
            self.predictor.remove_object(self.state, int(obj_id), strict=False, need_output=False)

    def reset(self) -> None:
        """SAM 2 ``reset_state``: forget every object and memory."""
        if self.state is not None:
            self.predictor.reset_state(self.state)

    def close(self) -> None:
        """Drop the state and the model reference."""
        self.state = None
