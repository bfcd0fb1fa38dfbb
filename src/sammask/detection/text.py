"""Detection by name: boxes for free-text phrases (``--detect "text:license plate,face"``).

An open-vocabulary detector from ``transformers`` (``AutoModelForZeroShotObjectDetection``):
OWLv2 (M. Minderer et al., "Scaling Open-Vocabulary Object Detection", NeurIPS 2023;
``google/owlv2-base-patch16-ensemble``, Apache-2.0), the default, or Grounding DINO (S. Liu et al.,
"Grounding DINO", ECCV 2024; ``IDEA-Research/grounding-dino-tiny``, Apache-2.0). Each box's class
name is the phrase it was found for, so per-class effects work
(``--class-effect "license plate=solid"``); boxes are then tracked and segmented like any other
detector's.

Why OWLv2 is the default (docs/benchmarks.md, "Detection by name"): it scores every box against
every phrase, so each box maps to exactly one asked phrase (Grounding DINO returns the sub-words
above a threshold, e.g. "plate" for "license plate", which must be mapped back); SAM 3's detector
(``Sam3Model``), the third candidate, needs torchvision, which the CPU torch here cannot load.

The model is a hub id (Hugging Face cache; offline = cache only) or a local folder written with
``save_pretrained`` (model + processor); a missing one is one
:class:`~sammask.errors.WeightsNotFoundError` naming the model, where it looked and the fix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from sammask.detection.base import (
    Detector,
    FrameDetections,
    check_image,
    valid_boxes,
)
from sammask.detection.pretrained import check_detector_options, load_pretrained_detector
from sammask.errors import ConfigError, ModelLoadError
from sammask.geometry import clip_boxes

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_TEXT_MODEL", "TextDetector", "TextDetectorOptions"]

DEFAULT_TEXT_MODEL = "google/owlv2-base-patch16-ensemble"
"""Open-vocabulary detector ``text:`` uses unless ``text=MODEL:`` names another."""


@dataclass(frozen=True, slots=True)
class TextDetectorOptions:
    """Options of :class:`TextDetector`.

    Attributes:
        phrases: the things to find, e.g. ``("license plate", "face")``; each is a class name.
        model: hub id or local folder of an OWLv2 / Grounding DINO checkpoint.
        min_score: score threshold in [0, 1].
        device: torch device.
        offline: never contact the hub (cache only); also when ``HF_HUB_OFFLINE=1``.

    Raises:
        ConfigError: no phrase, an empty or duplicate phrase, or a score outside [0, 1].
    """

    phrases: tuple[str, ...]
    model: str = DEFAULT_TEXT_MODEL
    min_score: float = 0.1
    device: str = "cpu"
    offline: bool = False

    def __post_init__(self) -> None:
        phrases = tuple(" ".join(p.split()) for p in self.phrases)
        object.__setattr__(self, "phrases", phrases)
        if not phrases or any(not p for p in phrases):
            raise ConfigError('text: needs one or more non-empty phrases, e.g. --detect "text:license plate,face"')
        if len(set(phrases)) != len(phrases):
            raise ConfigError(f"text: phrases must differ, got {', '.join(phrases)}")
        check_detector_options("text detector", self.model, self.min_score)


class TextDetector(Detector):
    """Open-vocabulary detector: boxes of the given phrases, class name = phrase.

    Args:
        options: :class:`TextDetectorOptions`.

    Raises:
        WeightsNotFoundError: the model is neither a local folder nor in the hub cache (offline),
            or could not be fetched; the message names the model, where it looked and the fix.
        ModelLoadError: transformers / torch are missing, the files do not load, or the model is
            not an OWLv2 / Grounding DINO detector.
    """

    name = "text"

    def __init__(self, options: TextDetectorOptions) -> None:
        self.options = options
        loaded = load_pretrained_detector(
            "text detector",
            options.model,
            processor_class="AutoProcessor",
            model_class="AutoModelForZeroShotObjectDetection",
            offline=options.offline,
            device=options.device,
            folder_hint='--detect "text=FOLDER:phrase,..."',
        )
        self._torch, self._processor, self._model = loaded.torch, loaded.processor, loaded.model
        model = options.model
        self._kind = self._model.config.model_type
        if self._kind not in ("owlv2", "owlvit", "grounding-dino"):
            raise ModelLoadError(f"text detector model {model} is a '{self._kind}' model; use an OWLv2 or Grounding DINO checkpoint")
        self.classes = options.phrases
        logger.info("text detector: %s (%s) for %s", model, self._kind, ", ".join(options.phrases))

    def detect(self, image: np.ndarray) -> FrameDetections:
        """Boxes of the phrases on one image, ``score >= min_score``, class name = phrase.

        Args:
            image: (H, W, 3) uint8 RGB.

        Raises:
            ConfigError: the image is not (H, W, 3) uint8.
        """
        check_image(image)
        torch = self._torch
        height, width = image.shape[:2]
        phrases = list(self.options.phrases)
        if self._kind == "grounding-dino":
            text = ". ".join(phrases) + "."
            inputs = self._processor(images=image, text=text, return_tensors="pt").to(self.options.device)
        else:
            inputs = self._processor(images=image, text=[phrases], padding=True, truncation=True, return_tensors="pt").to(
                self.options.device
            )
        with torch.inference_mode():
            outputs = self._model(**inputs)
        if self._kind == "grounding-dino":
            res = self._processor.post_process_grounded_object_detection(
                outputs,
                inputs["input_ids"],
                threshold=self.options.min_score,
                text_threshold=self.options.min_score,
                target_sizes=[(height, width)],
            )[0]
            names = [_phrase_of(str(lab), phrases) for lab in res["text_labels"]]
        else:
            side = max(height, width)  # OWLv2 pads to a square: boxes are relative to it
            res = self._processor.post_process_grounded_object_detection(
                outputs, threshold=self.options.min_score, target_sizes=[(side, side)], text_labels=[phrases]
            )[0]
            names = [phrases[int(i)] for i in res["labels"]]
        boxes = clip_boxes(res["boxes"].float().cpu().numpy(), width, height)
        scores = res["scores"].float().cpu().numpy().clip(0, 1)
        keep = valid_boxes(boxes)
        return FrameDetections(boxes[keep], scores[keep], tuple(n for n, k in zip(names, keep) if k))


def _phrase_of(label: str, phrases: list[str]) -> str:
    """The asked phrase a Grounding DINO label (sub-words of the prompt) stands for.

    The phrase containing the label, else the one sharing the most words, else the first phrase
    (a box is never dropped for its label: when in doubt, mask more).
    """
    label = " ".join(label.lower().replace(".", " ").split())
    for p in phrases:
        if label and label in p.lower():
            return p
    words = set(label.split())
    best = max(phrases, key=lambda p: len(words & set(p.lower().split())))
    return best
