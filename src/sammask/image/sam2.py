"""SAM 2 image backend: prompted masks (points, box, mask; 1 or 3 candidates) and "everything".

Same models, names and checkpoint loading as the video room
(:func:`~sammask.segmentation.sam2.model.build_sam2_model`). The official
``SAM2ImagePredictor`` and ``SAM2AutomaticMaskGenerator`` import torchvision, which sammask does
not install (docs/design.md: it pins another torch); so, as the video room's ``image`` strategy
does, this module runs their steps against the ``SAM2Base`` API:

- :meth:`Sam2ImageBackend.set_image` = ``SAM2ImagePredictor.set_image``
  (:func:`~sammask.segmentation.sam2.image.encode_image`);
- :meth:`Sam2ImageBackend.predict` = ``SAM2ImagePredictor.predict`` (box corners as points with
  labels 2 / 3 before the clicks, mask prompt as low-res logits, ``multimask_output``; the
  decoder's dynamic single-mask fallback via stability applies without multimask);
- :meth:`Sam2ImageBackend.everything` = ``SAM2AutomaticMaskGenerator.generate`` with the
  official helpers of ``sam2.utils.amg`` (point grids, crop boxes, stability score, crop-edge
  filter, small-region removal) and box NMS by ``cv2.dnn.NMSBoxes`` in place of torchvision's
  ``batched_nms``.

torch and sam2 are imported inside functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sammask.errors import ConfigError, SegmentationError
from sammask.geometry import mask_bbox
from sammask.image.backend import ImageBackend, check_rgb
from sammask.image.types import Candidate, ImageMask, Prompt

if TYPE_CHECKING:
    import torch

    from sammask.segmentation.sam2.image import ImageFeatures

__all__ = ["EverythingOptions", "Sam2ImageBackend"]

MASK_PROMPT_LOGIT = 10.0
"""A bool mask prompt becomes low-res logits of +10 inside / -10 outside (sigmoid ~ 1 / 0)."""


@dataclass(frozen=True, slots=True)
class EverythingOptions:
    """Options of SAM 2 "segment everything" (names and defaults of ``SAM2AutomaticMaskGenerator``,
    except ``points_per_batch``).

    Attributes:
        points_per_side: grid of ``n x n`` single-point prompts per crop. Default 32.
        points_per_batch: prompts decoded together. Default 16 (official 64): each prompt keeps
            3 full-crop float masks until filtered, 64 at 1080p take ~1.6 GB.
        pred_iou_thresh: keep masks whose predicted IoU is above this. Default 0.8.
        stability_score_thresh: keep masks whose stability score is at least this. Default 0.95.
        stability_score_offset: logit offset of the stability score. Default 1.0.
        box_nms_thresh: box-IoU above which a lower-scored mask of the same crop is dropped.
            Default 0.7.
        crop_n_layers: extra layers of crops (layer i: ``(2 ** i) ** 2`` overlapping tiles, each
            encoded at full model resolution): the tiling for large images. Default 0.
        crop_nms_thresh: box-IoU NMS between crops (smaller crops preferred). Default 0.7.
        crop_overlap_ratio: overlap of the first crop layer's tiles. Default 512 / 1500.
        crop_n_points_downscale_factor: layer i uses ``points_per_side / factor ** i``. Default 1.
        min_mask_region_area: remove holes and islands smaller than this many pixels (then NMS
            again). Default 0 (off).

    Raises:
        ConfigError: an option out of range.
    """

    points_per_side: int = 32
    points_per_batch: int = 16
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    min_mask_region_area: int = 0

    def __post_init__(self) -> None:
        if int(self.points_per_side) < 1:
            raise ConfigError(f"points_per_side must be >= 1, got {self.points_per_side}")
        if int(self.points_per_batch) < 1:
            raise ConfigError(f"points_per_batch must be >= 1, got {self.points_per_batch}")
        for name in ("pred_iou_thresh", "stability_score_thresh", "box_nms_thresh", "crop_nms_thresh"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 <= v <= 1):
                raise ConfigError(f"{name} must be in [0, 1], got {v}")
        if not (math.isfinite(self.stability_score_offset) and self.stability_score_offset >= 0):
            raise ConfigError(f"stability_score_offset must be >= 0, got {self.stability_score_offset}")
        if not 0 <= int(self.crop_n_layers) <= 4:
            raise ConfigError(f"crop_n_layers must be in 0..4, got {self.crop_n_layers}")
        if not 0 <= self.crop_overlap_ratio < 1:
            raise ConfigError(f"crop_overlap_ratio must be in [0, 1), got {self.crop_overlap_ratio}")
        if int(self.crop_n_points_downscale_factor) < 1:
            raise ConfigError(f"crop_n_points_downscale_factor must be >= 1, got {self.crop_n_points_downscale_factor}")
        if int(self.min_mask_region_area) < 0:
            raise ConfigError(f"min_mask_region_area must be >= 0, got {self.min_mask_region_area}")


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression (``cv2.dnn.NMSBoxes``).

    Args:
        boxes: (N, 4) float xyxy pixels.
        scores: (N,) float, higher first.
        iou_threshold: a box overlapping a kept, higher-scored box with IoU above this is dropped.

    Returns:
        (K,) int64 indices, highest score first.
    """
    import cv2

    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    b = np.asarray(boxes, np.float64)
    xywh = np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1).tolist()
    s = np.asarray(scores, np.float64)
    s = s - s.min() + 1.0  # NMSBoxes keeps scores > its threshold (0): shift, order unchanged
    keep = cv2.dnn.NMSBoxes(xywh, s.tolist(), 0.0, float(iou_threshold))
    return np.asarray(keep, np.int64).reshape(-1)


class Sam2ImageBackend(ImageBackend):
    """SAM 2 on still images (module docstring).

    Args:
        model: a ``SAM2Base`` in eval mode (e.g. from :meth:`from_name`, or a random-init model
            in tests).
        runtime: image-encoder runtime (:mod:`sammask.segmentation.sam2.runtime`); None -> torch
            eager fp32.
    """

    name = "sam2"

    def __init__(self, model: Any, *, runtime: Any | None = None) -> None:
        super().__init__()
        self.model = model
        self.runtime = runtime
        self._features: ImageFeatures | None = None
        self._cache: tuple[str, ImageFeatures] | None = None

    @classmethod
    def from_name(
        cls,
        model: str = "sam2.1_hiera_tiny",
        *,
        checkpoint: Path | None = None,
        device: str = "cpu",
        image_size: int = 1024,
        offline: bool = False,
    ) -> Sam2ImageBackend:
        """Build a published SAM 2 model the way the video room does and wrap it.

        Raises:
            ConfigError: unknown model, bad size or device.
            WeightsNotFoundError: no weights (the message says where to get them).
            ModelLoadError: sam2 missing, or a checkpoint that does not match.
        """
        from sammask.segmentation.sam2.model import build_sam2_model

        return cls(build_sam2_model(model, checkpoint=checkpoint, image_size=image_size, device=device, offline=offline))

    # -- prompts -------------------------------------------------------------------------------

    def set_image(self, image: np.ndarray) -> None:
        """Run the image encoder once on ``image`` ((H, W, 3) uint8 RGB)."""
        import torch

        super().set_image(image)
        try:
            with torch.inference_mode():
                self._features = self._encode(image)
        except (RuntimeError, ValueError) as exc:
            self._features = None
            raise SegmentationError(f"SAM 2 image encoder failed on a {image.shape} image: {exc}") from exc

    def _encode(self, image: np.ndarray) -> ImageFeatures:
        """Image-encoder features of ``image``; the last image's are reused when the pixels are
        the same (SHA-1 of shape + bytes), e.g. "everything" after prompts on one photo."""
        import hashlib

        from sammask.segmentation.sam2.image import encode_image

        key = hashlib.sha1(repr(image.shape).encode() + np.ascontiguousarray(image).tobytes()).hexdigest()
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        features = encode_image(self.model, image, self.runtime)
        self._cache = (key, features)
        return features

    def _decode(
        self, features: ImageFeatures, points: np.ndarray, labels: np.ndarray, mask_logits: torch.Tensor | None, multimask: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, K, 2) pixel points + (N, K) labels -> ((N, M, S/4, S/4) logits, (N, M) predicted IoU)."""
        import torch

        dev = features.image_embed.device
        n = int(points.shape[0])
        scale = torch.tensor([features.image_size / features.width, features.image_size / features.height], dtype=torch.float32, device=dev)
        coords = torch.as_tensor(np.asarray(points, np.float32), device=dev) * scale
        labs = torch.as_tensor(np.asarray(labels, np.int32), device=dev)
        pe = self.model.sam_prompt_encoder
        sparse, dense = pe(points=(coords, labs), boxes=None, masks=mask_logits)
        low_res, iou, _, _ = self.model.sam_mask_decoder(
            image_embeddings=features.image_embed,
            image_pe=pe.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            repeat_image=n > 1,
            high_res_features=features.high_res_feats,
        )
        return low_res.float(), iou.float()

    def predict(self, prompt: Prompt, *, multimask: bool = True) -> list[Candidate]:
        """See :meth:`ImageBackend.predict`: 3 candidates with ``multimask``, else 1; score =
        SAM's predicted IoU clipped to [0, 1]."""
        import torch
        import torch.nn.functional as F

        from sammask.segmentation.sam2.model import logits_to_mask

        image = self.image
        feats = self._features
        if feats is None:
            raise ConfigError("no image set: call set_image(image) first")
        h, w = image.shape[:2]
        prompt.check_inside(h, w)
        pts = [np.asarray(prompt.points, np.float32).reshape(-1, 2)]
        labs = [np.asarray(prompt.labels, np.int32).reshape(-1)]
        if prompt.box is not None:
            pts.insert(0, np.asarray(prompt.box, np.float32).reshape(2, 2))
            labs.insert(0, np.array([2, 3], np.int32))
        points = np.concatenate(pts)[None]
        labels = np.concatenate(labs)[None]
        try:
            with torch.inference_mode():
                mask_logits = None
                if prompt.mask is not None:
                    side = feats.image_size // 4
                    m = torch.as_tensor(prompt.mask, dtype=torch.float32)[None, None]
                    m = F.interpolate(m, size=(side, side), mode="bilinear", align_corners=False)
                    mask_logits = ((m > 0.5).float() * 2 - 1) * MASK_PROMPT_LOGIT
                low_res, iou = self._decode(feats, points, labels, mask_logits, multimask)
                masks = logits_to_mask(low_res[0], h, w)  # (M, H, W)
        except (RuntimeError, ValueError) as exc:
            raise SegmentationError(f"SAM 2 mask decoder failed: {type(exc).__name__}: {exc}") from exc
        scores = iou[0].clamp(0, 1).cpu().numpy()
        out = [Candidate(mask=masks[i], score=float(scores[i])) for i in range(len(scores))]
        return sorted(out, key=lambda c: -c.score)

    # -- everything ----------------------------------------------------------------------------

    def everything(self, image: np.ndarray, options: EverythingOptions | None = None) -> list[ImageMask]:
        """``SAM2AutomaticMaskGenerator.generate`` (module docstring): per crop, a point grid
        decoded with 3 masks per point, filtered by predicted IoU and stability, masks touching
        a crop edge that is not an image edge dropped, box NMS per crop, then across crops
        (smaller crops preferred), then optional small-region removal.

        Raises:
            ConfigError: ``options`` not :class:`EverythingOptions`, or a bad image.
            SegmentationError: the model failed.
        """
        import torch

        options = options if options is not None else EverythingOptions()
        if not isinstance(options, EverythingOptions):
            raise ConfigError(f"the sam2 backend takes EverythingOptions, got {type(options).__name__}")
        image = check_rgb(image)
        try:
            with torch.inference_mode():
                return self._everything(image, options)
        except (RuntimeError, ValueError) as exc:
            raise SegmentationError(f"SAM 2 'everything' failed: {type(exc).__name__}: {exc}") from exc

    def _everything(self, image: np.ndarray, o: EverythingOptions) -> list[ImageMask]:
        from sam2.utils.amg import build_all_layer_point_grids, generate_crop_boxes

        h, w = image.shape[:2]
        crop_boxes, layer_idxs = generate_crop_boxes((h, w), int(o.crop_n_layers), float(o.crop_overlap_ratio))
        grids = build_all_layer_point_grids(int(o.points_per_side), int(o.crop_n_layers), int(o.crop_n_points_downscale_factor))
        kept: list[_Kept] = []
        for crop_box, layer in zip(crop_boxes, layer_idxs):
            kept += self._crop_masks(image, o, tuple(crop_box), grids[layer])
        if len(crop_boxes) > 1 and kept:
            areas = np.array([(c[5][2] - c[5][0]) * (c[5][3] - c[5][1]) for c in kept], np.float64)
            keep_idx = nms(np.stack([c[1] for c in kept]), 1.0 / areas, o.crop_nms_thresh)
            kept = [kept[int(k)] for k in keep_idx]
        from sammask.export.rle import rle_to_mask

        masks_out = [rle_to_mask(c[0]) for c in kept]
        if o.min_mask_region_area > 0 and kept:
            kept, masks_out = _remove_small_regions(kept, masks_out, o)
        out = []
        for c, mask in zip(kept, masks_out):
            bbox = mask_bbox(mask)
            if bbox is None:
                continue
            out.append(ImageMask(mask=mask, bbox=bbox, area=int(mask.sum()), predicted_iou=c[2], stability=c[3], point=c[4], crop_box=c[5]))
        return sorted(out, key=lambda im: -im.area)

    def _crop_masks(self, image: np.ndarray, o: EverythingOptions, crop_box: tuple[int, ...], grid: np.ndarray) -> list[_Kept]:
        """One crop of "everything": its point grid decoded in batches, then box NMS within the
        crop; the kept masks in full-image coordinates."""
        from sammask.export.rle import mask_to_rle

        h, w = image.shape[:2]
        x0, y0, x1, y1 = crop_box
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])
        ch, cw = crop.shape[:2]
        feats = self._encode(crop)
        points = grid * np.array([[cw, ch]], np.float64)
        found: list[_Found] = []
        for start in range(0, len(points), int(o.points_per_batch)):
            batch = points[start : start + int(o.points_per_batch)]
            found += self._point_batch_masks(feats, batch, o, crop_box, (h, w))
        if not found:
            return []
        kept: list[_Kept] = []
        keep_idx = nms(np.stack([f[1] for f in found]), np.array([f[2] for f in found]), o.box_nms_thresh)
        for k in keep_idx:
            mask_c, box, iou_v, stab_v, pt = found[int(k)]
            full = np.zeros((h, w), bool)
            full[y0:y1, x0:x1] = mask_c
            box = box + np.array([x0, y0, x0, y0], np.float64)
            kept.append((mask_to_rle(full), box, iou_v, stab_v, pt, (x0, y0, x1, y1)))
        return kept

    def _point_batch_masks(
        self, feats: Any, batch: np.ndarray, o: EverythingOptions, crop_box: tuple[int, ...], shape: tuple[int, int]
    ) -> list[_Found]:
        """Decode a batch of grid points (3 masks each) on a crop's features; keep the masks that
        pass the predicted-IoU and stability thresholds and do not touch a crop edge that is not
        an image edge (crop coordinates, the point in image coordinates)."""
        import torch
        import torch.nn.functional as F
        from sam2.utils.amg import batched_mask_to_box, calculate_stability_score, is_box_near_crop_edge

        h, w = shape
        x0, y0, x1, y1 = crop_box
        ch, cw = y1 - y0, x1 - x0
        low_res, iou = self._decode(feats, batch[:, None, :], np.ones((len(batch), 1), np.int32), None, True)
        m = low_res.shape[1]
        logits = F.interpolate(low_res.flatten(0, 1)[:, None], size=(ch, cw), mode="bilinear", align_corners=False)[:, 0]
        ious = iou.flatten(0, 1)
        pts = np.repeat(batch, m, axis=0)
        keep = ious > o.pred_iou_thresh if o.pred_iou_thresh > 0 else torch.ones_like(ious, dtype=torch.bool)
        stab = calculate_stability_score(logits, 0.0, float(o.stability_score_offset))
        if o.stability_score_thresh > 0:
            keep &= stab >= o.stability_score_thresh
        idx = torch.nonzero(keep).flatten()
        if len(idx) == 0:
            return []
        masks = logits[idx] > 0
        boxes = batched_mask_to_box(masks)
        near = is_box_near_crop_edge(boxes, list(crop_box), [0, 0, w, h])
        found: list[_Found] = []
        for j in torch.nonzero(~near).flatten().tolist():
            i = int(idx[j])
            found.append(
                (
                    masks[j].cpu().numpy(),
                    boxes[j].cpu().numpy().astype(np.float64),
                    float(ious[i]),
                    float(stab[i]),
                    (float(pts[i, 0]) + x0, float(pts[i, 1]) + y0),
                )
            )
        return found


_Found = tuple[np.ndarray, np.ndarray, float, float, tuple[float, float]]
"""A crop's mask: (crop mask, box xyxy in the crop (amg, inclusive), predicted IoU, stability, point)."""

_Kept = tuple[dict, np.ndarray, float, float, tuple[float, float], tuple[int, int, int, int]]
"""A kept mask: (RLE of the full-image mask, box xyxy (amg, inclusive), predicted IoU, stability,
point, crop box)."""


def _remove_small_regions(kept: list[_Kept], masks: list[np.ndarray], o: EverythingOptions) -> tuple[list[_Kept], list[np.ndarray]]:
    """sam2's small-region post-processing: holes and islands under ``min_mask_region_area``
    removed from each mask, then box NMS preferring the masks it left unchanged."""
    import torch
    from sam2.utils.amg import batched_mask_to_box, remove_small_regions

    masks = list(masks)
    unchanged = []
    for i, region in enumerate(masks):
        region, c1 = remove_small_regions(region, int(o.min_mask_region_area), mode="holes")
        region, c2 = remove_small_regions(region, int(o.min_mask_region_area), mode="islands")
        masks[i] = region
        unchanged.append(float(not (c1 or c2)))
    boxes = batched_mask_to_box(torch.as_tensor(np.stack(masks))).numpy().astype(np.float64)
    keep_idx = nms(boxes, np.array(unchanged), o.box_nms_thresh)
    return [kept[int(k)] for k in keep_idx], [masks[int(k)] for k in keep_idx]
