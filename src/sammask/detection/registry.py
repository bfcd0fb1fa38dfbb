"""Name -> detector registry, and ``--detect`` / ``--detector`` spec parsing.

A new detector is one new file plus one line in :data:`DETECTORS`. Classes are imported lazily.

Spec grammar (comma separated, each item one of):

- ``faces``: :class:`~sammask.detection.faces.CenterFaceDetector` (class ``face``);
- a COCO class name (``person``, ``car``, ...): the hub detector
  (:class:`~sammask.detection.hub.HubDetector`, default model) restricted to those classes;
- ``hub:ID_OR_PATH``: the hub detector with that Hugging Face id or local folder;
- ``text:PHRASE,PHRASE...``: the open-vocabulary detector
  (:class:`~sammask.detection.text.TextDetector`, default model OWLv2) for those phrases, each
  phrase a class name. ``text:`` takes the rest of the spec: ``faces,text:license plate,logo``
  is faces plus the phrases "license plate" and "logo". ``text=ID_OR_PATH:PHRASE,...`` names
  the model (an OWLv2 or Grounding DINO checkpoint).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sammask.detection.base import Detector
from sammask.errors import ConfigError

if TYPE_CHECKING:
    from sammask.detection.faces import FaceDetectorOptions
    from sammask.detection.hub import HubDetectorOptions

DETECTORS: dict[str, str] = {
    "faces": "sammask.detection.faces:CenterFaceDetector",
    "hub": "sammask.detection.hub:HubDetector",
    "text": "sammask.detection.text:TextDetector",
}


def _load(name: str) -> Callable[[Any], Detector]:
    """The detector class registered as ``name`` (imported now), called with its options."""
    module_name, _, class_name = DETECTORS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """A parsed ``--detect`` value.

    Attributes:
        faces: the faces detector is wanted.
        hub_model: hub id or local path of the object detector, None when not wanted.
        hub_classes: COCO class names asked for by name (None: all the model reports).
        text_phrases: phrases for the open-vocabulary detector (None: not wanted).
        text_model: its hub id or local folder (None: :data:`~sammask.detection.text.DEFAULT_TEXT_MODEL`).
    """

    faces: bool = False
    hub_model: str | None = None
    hub_classes: tuple[str, ...] | None = None
    text_phrases: tuple[str, ...] | None = None
    text_model: str | None = None

    @property
    def classes(self) -> tuple[str, ...] | None:
        """Class names to keep (None: everything the detectors report)."""
        if self.hub_model is not None and self.hub_classes is None:
            return None
        return (("face",) if self.faces else ()) + (self.hub_classes or ()) + (self.text_phrases or ())


def parse_spec(text: str, default_hub_model: str) -> DetectorSpec:
    """Parse ``faces``, ``faces,person,car``, ``hub:PekingU/rtdetr_r18vd``...

    Raises:
        ConfigError: an empty spec or an empty item.
    """
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise ConfigError(f"--detect takes comma-separated names (faces, person, car, hub:ID, text:PHRASE), got '{text}'")
    faces, hub_model, names = False, None, []
    text_phrases, text_model = None, None
    for n, item in enumerate(items):
        if item.startswith(("text:", "text=")):
            head, sep, first = item.partition(":")
            if not sep:
                raise ConfigError(f"text= needs ':' and phrases, e.g. text=google/owlv2-base-patch16:license plate; got '{item}'")
            text_model = head[5:] if head.startswith("text=") else None
            if text_model is not None and not text_model:
                raise ConfigError("text= needs a model id or folder before ':', e.g. text=IDEA-Research/grounding-dino-tiny:face")
            phrases = [" ".join(p.split()) for p in [first, *items[n + 1 :]]]
            if any(not p for p in phrases):
                raise ConfigError(f"text: needs non-empty phrases, e.g. --detect \"text:license plate,face\"; got '{text}'")
            text_phrases = tuple(dict.fromkeys(phrases))
            break
        if item in ("faces", "face"):
            faces = True
        elif item.startswith("hub:"):
            hub_model = item[4:]
            if not hub_model:
                raise ConfigError("hub: needs a Hugging Face model id or a local folder, e.g. hub:PekingU/rtdetr_r18vd")
        else:
            names.append(item)
    if names and hub_model is None:
        hub_model = default_hub_model
    return DetectorSpec(
        faces=faces,
        hub_model=hub_model,
        hub_classes=tuple(names) if names else None,
        text_phrases=text_phrases,
        text_model=text_model,
    )


def build_detectors(
    spec: DetectorSpec,
    *,
    face_options: FaceDetectorOptions | None = None,
    hub_options: HubDetectorOptions | None = None,
    text_min_score: float | None = None,
) -> list[Detector]:
    """Build the detectors a :class:`DetectorSpec` asks for.

    Args:
        spec: the parsed spec.
        face_options: :class:`~sammask.detection.faces.FaceDetectorOptions` (defaults if None).
        hub_options: :class:`~sammask.detection.hub.HubDetectorOptions` (defaults if None);
            its ``model`` is replaced by ``spec.hub_model``; its ``device`` and ``offline`` also
            apply to the text detector.
        text_min_score: score threshold of the text detector (None: its default, 0.1).

    Raises:
        ConfigError: the spec asks for nothing, or a class the hub model does not know.
        WeightsNotFoundError, ModelLoadError: a model could not be loaded.
    """
    out: list[Detector] = []
    try:
        if spec.faces:
            out.append(_load("faces")(face_options))
        if spec.hub_model is not None:
            from sammask.detection.hub import HubDetectorOptions

            opts = replace(hub_options or HubDetectorOptions(), model=spec.hub_model)
            det = _load("hub")(opts)
            missing = [c for c in spec.hub_classes or () if c not in det.classes]
            if missing:
                det.close()
                raise ConfigError(
                    f"class(es) {', '.join(missing)} unknown to {spec.hub_model}; it knows: "
                    f"{', '.join(det.classes[:20])}{' ...' if len(det.classes) > 20 else ''}"
                )
            out.append(det)
        if spec.text_phrases is not None:
            from sammask.detection.text import DEFAULT_TEXT_MODEL, TextDetectorOptions

            text_opts = TextDetectorOptions(phrases=spec.text_phrases, model=spec.text_model or DEFAULT_TEXT_MODEL)
            if hub_options is not None:
                text_opts = replace(text_opts, device=hub_options.device, offline=hub_options.offline)
            if text_min_score is not None:
                text_opts = replace(text_opts, min_score=text_min_score)
            out.append(_load("text")(text_opts))
    except BaseException:
        for d in out:
            d.close()
        raise
    if not out:
        raise ConfigError("no detector asked for: use --detect faces, a COCO class (person, car), hub:ID or text:PHRASE")
    return out
