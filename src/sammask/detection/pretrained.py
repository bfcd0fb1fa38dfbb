"""Loading a ``transformers`` detector by hub id or local folder: the one preamble that the hub
detector (:mod:`sammask.detection.hub`) and the text detector (:mod:`sammask.detection.text`)
share.

The model is a Hugging Face hub id (fetched once into the cache when online; offline, with
``offline=True`` or ``HF_HUB_OFFLINE=1``, only the cache is read) or a folder written with
``save_pretrained`` (model + processor). Every failure is one error that names the model, where
it looked and the fix: :class:`~sammask.errors.WeightsNotFoundError` when the files are not
there, :class:`~sammask.errors.ModelLoadError` when they do not load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sammask.errors import ConfigError, ModelLoadError, WeightsNotFoundError

logger = logging.getLogger(__name__)

__all__ = ["PretrainedDetector", "check_detector_options", "load_pretrained_detector"]


def check_detector_options(what: str, model: str, min_score: float) -> None:
    """Check the options every ``transformers`` detector has.

    Args:
        what: the detector's name in messages (``"hub detector"``, ``"text detector"``).
        model: hub id or local folder.
        min_score: score threshold.

    Raises:
        ConfigError: ``model`` is empty or ``min_score`` is outside [0, 1].
    """
    if not model:
        raise ConfigError(f"{what} needs a model id or a local folder")
    if not 0.0 <= min_score <= 1.0:
        raise ConfigError(f"{what} min_score must be in [0, 1], got {min_score}")


@dataclass(frozen=True, slots=True)
class PretrainedDetector:
    """A loaded detector: the ``torch`` module, the processor and the model (in eval mode, on
    its device)."""

    torch: Any
    processor: Any
    model: Any


def load_pretrained_detector(
    what: str,
    model: str,
    *,
    processor_class: str,
    model_class: str,
    offline: bool,
    device: str,
    folder_hint: str,
) -> PretrainedDetector:
    """Import torch + transformers and load a processor and a model from a hub id or a folder.

    Args:
        what: the detector's name in messages (``"hub detector"``, ``"text detector"``).
        model: hub id (``PekingU/rtdetr_r18vd_coco_o365``) or local folder (``config.json``,
            weights, processor files); a value starting with ``.``, ``/`` or ``~`` is a folder.
        processor_class: ``transformers`` auto class of the processor (``AutoImageProcessor``).
        model_class: ``transformers`` auto class of the model (``AutoModelForObjectDetection``).
        offline: cache only (also when ``HF_HUB_OFFLINE=1``).
        device: torch device.
        folder_hint: how the user passes a folder (``--detect hub:FOLDER``), for the fix.

    Returns:
        :class:`PretrainedDetector` with the model in eval mode on ``device``.

    Raises:
        WeightsNotFoundError: a folder without ``config.json``, or a hub id neither in the cache
            (offline) nor fetchable; the message names the model, the cache and the fix.
        ModelLoadError: torch or transformers is missing, or the files do not load.
    """
    from sammask.offline import disable_telemetry, hf_hub_offline, hub_cache_dir

    disable_telemetry()  # Hugging Face telemetry: read at import of huggingface_hub
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ModelLoadError(f"the {what} needs transformers and torch ({exc.name} is missing): pip install 'sammask[models]'") from None
    from sammask.segmentation.families import quiet_transformers

    local = Path(model).expanduser()
    is_local = local.exists() or model.startswith((".", "/", "~"))
    offline = offline or hf_hub_offline()
    fix = f"run once online to fill the Hugging Face cache, or save the model and its processor with save_pretrained() and pass the folder ({folder_hint})"
    if is_local and not (local / "config.json").is_file():
        missing = "does not exist" if not local.exists() else "has no config.json"
        raise WeightsNotFoundError(f"{what} model folder {local} {missing}; {fix}")
    source = str(local) if is_local else model
    try:
        with quiet_transformers():
            processor = getattr(transformers, processor_class).from_pretrained(source, local_files_only=offline or is_local)
            loaded = getattr(transformers, model_class).from_pretrained(source, local_files_only=offline or is_local)
    except OSError as exc:  # transformers' "not found / cannot connect" errors
        where = (
            f"folder {local}"
            if is_local
            else f"Hugging Face hub repo {model} (cache {hub_cache_dir()}, {'offline' if offline else 'online'})"
        )
        raise WeightsNotFoundError(f"{what} model {model} not found: looked in {where} ({_first_sentence(exc)}); {fix}") from exc
    except Exception as exc:  # any load failure becomes one actionable error
        raise ModelLoadError(f"cannot load {what} model {model}: {type(exc).__name__}: {exc}") from exc
    loaded.eval().to(device)
    return PretrainedDetector(torch=torch, processor=processor, model=loaded)


def _first_sentence(exc: BaseException) -> str:
    """The first sentence of an exception's first line (transformers' messages run long)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(". ")[0]
