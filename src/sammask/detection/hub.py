"""Object detector (persons, vehicles, any COCO class) from Hugging Face ``transformers``.

Any ``AutoModelForObjectDetection`` checkpoint works; the intended ones are RT-DETR
(W. Lv et al., "DETRs Beat YOLOs on Real-time Object Detection", CVPR 2024; e.g.
``PekingU/rtdetr_r18vd_coco_o365``, Apache-2.0) and D-FINE (Y. Peng et al., "D-FINE: Redefine
Regression Task in DETRs as Fine-grained Distribution Refinement", ICLR 2025; e.g.
``ustc-community/dfine-nano-coco``, Apache-2.0). The model is given by hub id (fetched once into
the Hugging Face cache when online) or by a local folder written with ``save_pretrained``.
Offline (``offline=True`` or ``HF_HUB_OFFLINE=1``) only the cache is read, and a missing model
is one :class:`~sammask.errors.WeightsNotFoundError` naming the model, where it looked, and the
fix, as for SAM 2.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from sammask.detection.base import Detector, FrameDetections, check_image, valid_boxes
from sammask.detection.pretrained import check_detector_options, load_pretrained_detector
from sammask.geometry import clip_boxes

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HubDetectorOptions:
    """Options of :class:`HubDetector`.

    Attributes:
        model: Hugging Face model id (``PekingU/rtdetr_r18vd_coco_o365``) or a local folder with
            ``config.json``, the weights and ``preprocessor_config.json``.
        min_score: score threshold in [0, 1] for the post-processor.
        device: torch device (``cpu``, ``cuda``, ``mps``).
        offline: never contact the hub (cache only); also when ``HF_HUB_OFFLINE=1``.
    """

    model: str = "PekingU/rtdetr_r18vd_coco_o365"
    min_score: float = 0.5
    device: str = "cpu"
    offline: bool = False

    def __post_init__(self) -> None:
        check_detector_options("hub detector", self.model, self.min_score)


class HubDetector(Detector):
    """A transformers object detector (RT-DETR, D-FINE, ...) by hub id or local folder.

    Args:
        options: :class:`HubDetectorOptions`.

    Raises:
        WeightsNotFoundError: the model is neither a local folder nor in the hub cache (offline),
            or could not be fetched; the message names the model, the cache and the fix.
        ModelLoadError: transformers / torch are missing, or the files do not load.
    """

    name = "hub"

    def __init__(self, options: HubDetectorOptions | None = None) -> None:
        self.options = options or HubDetectorOptions()
        loaded = load_pretrained_detector(
            "hub detector",
            self.options.model,
            processor_class="AutoImageProcessor",
            model_class="AutoModelForObjectDetection",
            offline=self.options.offline,
            device=self.options.device,
            folder_hint="--detect hub:FOLDER",
        )
        self._torch, self._processor, self._model = loaded.torch, loaded.processor, loaded.model
        id2label = self._model.config.id2label
        self._labels = {int(k): str(v) for k, v in id2label.items()}
        self.classes = tuple(self._labels[k] for k in sorted(self._labels))
        logger.info("hub detector: %s (%d classes) on %s", self.options.model, len(self.classes), self.options.device)

    def detect(self, image: np.ndarray) -> FrameDetections:
        """Objects on one image, all classes the model knows, ``score >= min_score``.

        Args:
            image: (H, W, 3) uint8 RGB.

        Raises:
            ConfigError: the image is not (H, W, 3) uint8.
        """
        check_image(image)
        torch = self._torch
        height, width = image.shape[:2]
        inputs = self._processor(images=image, return_tensors="pt").to(self.options.device)
        with torch.inference_mode():
            outputs = self._model(**inputs)
        result = self._processor.post_process_object_detection(outputs, threshold=self.options.min_score, target_sizes=[(height, width)])[0]
        boxes = clip_boxes(result["boxes"].float().cpu().numpy(), width, height)
        scores = result["scores"].float().cpu().numpy().clip(0, 1)
        labels = result["labels"].cpu().numpy().astype(int)
        keep = valid_boxes(boxes)
        names = tuple(self._labels.get(int(lab), str(int(lab))) for lab in labels[keep])
        return FrameDetections(boxes[keep], scores[keep], names)
