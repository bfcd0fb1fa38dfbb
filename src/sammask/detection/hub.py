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
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sammask.detection.base import Detector, FrameDetections, check_image, valid_boxes
from sammask.errors import ConfigError, ModelLoadError, WeightsNotFoundError
from sammask.geometry import clip_boxes

logger = logging.getLogger(__name__)

_TRUE = ("1", "true", "yes", "on")


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
        if not self.model:
            raise ConfigError("hub detector needs a model id or a local folder")
        if not 0.0 <= self.min_score <= 1.0:
            raise ConfigError(f"hub detector min_score must be in [0, 1], got {self.min_score}")


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
        from sammask.offline import disable_telemetry

        disable_telemetry()  # Hugging Face telemetry: read at import of huggingface_hub
        try:
            import torch
            from transformers import AutoImageProcessor, AutoModelForObjectDetection
        except ImportError as exc:
            raise ModelLoadError(
                f"the hub detector needs transformers and torch ({exc.name} is missing): pip install 'sammask[models]'"
            ) from None
        self._torch = torch
        model = self.options.model
        local = Path(model).expanduser()
        is_local = local.exists() or model.startswith((".", "/", "~"))
        offline = self.options.offline or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE
        fix = (
            "run once online to fill the Hugging Face cache, or save the model with "
            "save_pretrained() and pass its folder (--detect hub:FOLDER)"
        )
        if is_local and not (local / "config.json").is_file():
            what = "does not exist" if not local.exists() else "has no config.json"
            raise WeightsNotFoundError(f"detector model folder {local} {what}; {fix}")
        source = str(local) if is_local else model
        try:
            self._processor = AutoImageProcessor.from_pretrained(source, local_files_only=offline or is_local)
            self._model = AutoModelForObjectDetection.from_pretrained(source, local_files_only=offline or is_local)
        except OSError as exc:  # transformers' "not found / cannot connect" errors
            where = f"folder {local}" if is_local else f"Hugging Face hub repo {model} (cache {_hub_cache_dir()}, {'offline' if offline else 'online'})"
            raise WeightsNotFoundError(
                f"detector model {model} not found: looked in {where} ({_first_sentence(exc)}); {fix}"
            ) from exc
        except Exception as exc:  # any load failure becomes one actionable error
            raise ModelLoadError(f"cannot load detector model {model}: {type(exc).__name__}: {exc}") from exc
        self._model.eval().to(self.options.device)
        id2label = self._model.config.id2label
        self._labels = {int(k): str(v) for k, v in id2label.items()}
        self.classes = tuple(self._labels[k] for k in sorted(self._labels))
        logger.info("hub detector: %s (%d classes) on %s", model, len(self.classes), self.options.device)

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
        result = self._processor.post_process_object_detection(
            outputs, threshold=self.options.min_score, target_sizes=[(height, width)]
        )[0]
        boxes = clip_boxes(result["boxes"].float().cpu().numpy(), width, height)
        scores = result["scores"].float().cpu().numpy().clip(0, 1)
        labels = result["labels"].cpu().numpy().astype(int)
        keep = valid_boxes(boxes)
        names = tuple(self._labels.get(int(lab), str(int(lab))) for lab in labels[keep])
        return FrameDetections(boxes[keep], scores[keep], names)


def _first_sentence(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(". ")[0]


def _hub_cache_dir() -> str:
    try:
        from huggingface_hub import constants
    except ImportError:
        return os.environ.get("HF_HUB_CACHE", os.path.join("~", ".cache", "huggingface", "hub"))
    return str(constants.HF_HUB_CACHE)
