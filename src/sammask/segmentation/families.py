"""The SAM model families behind ``--model``: which name is which family, where its weights are,
how it loads (offline by cache), and what is installed here.

Families (:data:`FAMILIES`):

- ``sam2``: the 8 published SAM 2 / SAM 2.1 ``.pt`` checkpoints through Meta's official ``sam2``
  package (:mod:`sammask.segmentation.sam2`; every runtime, every strategy).
- ``sam2-hf``: SAM 2 in ``transformers`` format (``Sam2Model``; a folder or hub repo with
  ``config.json`` of ``model_type: sam2``).
- ``edgetam``: EdgeTAM (``EdgeTamModel``: SAM 2's decoder with a RepViT-M1 image encoder from
  ``timm`` and a compressed memory), hub ``yonigozlan/EdgeTAM-hf``.
- ``sam3``: the promptable (box) part of SAM 3 (``Sam3TrackerModel``), hub ``facebook/sam3``.
- ``samhq``: SAM-HQ (``SamHQModel``: SAM with a high-quality output token; sharper boundaries),
  hub ``syscv-community/sam-hq-vit-{base,large,huge}``.

``--model`` takes a published SAM 2 name (``sam2.1_hiera_tiny``...), a family short name
(``edgetam``, ``sam3``, ``samhq_vit_base``...), a hub repo id (``org/name``) or a local folder
holding a ``transformers`` ``config.json`` + weights; ``--model-path`` may name such a folder or an
official ``.pt`` file. A hub id is looked up in the Hugging Face cache only when offline
(``--offline`` or ``HF_HUB_OFFLINE=1``); every failure is one :class:`~sammask.errors.WeightsNotFoundError`
naming the model, where it looked and the fix.

Sources: ``transformers`` 5.25 ``models/{sam2,edgetam,sam3_tracker,sam_hq}`` (class names, config
``model_type`` values, checkpoint ids in their ``auto_docstring``). Nothing here imports torch or
transformers at import time.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sammask.errors import (
    ConfigError,
    ModelLoadError,
    RuntimeUnavailableError,
    WeightsNotFoundError,
)
from sammask.offline import hf_hub_offline, hub_cache_dir
from sammask.segmentation.sam2.checkpoints import MODELS, get_model_spec

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

__all__ = [
    "FAMILIES",
    "NAMED_MODELS",
    "ModelAvailability",
    "ModelFamily",
    "ModelSource",
    "family_of_model",
    "installed_models",
    "load_hf_model",
    "missing_requirement",
    "model_strategies",
    "quiet_transformers",
    "resolve_model_source",
]

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@dataclass(frozen=True, slots=True)
class ModelFamily:
    """One SAM family.

    Attributes:
        name: family key (``sam2``, ``sam2-hf``, ``edgetam``, ``sam3``, ``samhq``).
        model_class: ``transformers`` class for box-prompted images ("" for the official package).
        model_types: ``config.json`` ``model_type`` values that mean this family (the video
            checkpoints too: their image-model subset loads into :attr:`model_class`, e.g. every
            weight of a ``Sam2VideoModel`` folder that ``Sam2Model`` has).
        requires: Python modules it needs besides torch / transformers (e.g. ``timm``).
        resize: ``square`` (SAM 2 style: resize to S x S, aspect not kept) or ``longest`` (SAM 1
            style: longest side to S, pad bottom/right to S x S).
        mean: per-channel RGB mean on [0, 1] pixels.
        std: per-channel RGB standard deviation.
        install: how to get ``requires`` (said in errors).
        video_class: ``transformers`` class for the ``video`` strategy ("" = the family has no
            video model here; the official ``sam2`` family runs its own).
        video_types: ``config.json`` ``model_type`` values whose weights hold the video (memory)
            modules :attr:`video_class` needs.
    """

    name: str
    model_class: str
    model_types: tuple[str, ...]
    requires: tuple[str, ...] = ()
    resize: str = "square"
    mean: tuple[float, float, float] = IMAGENET[0]
    std: tuple[float, float, float] = IMAGENET[1]
    install: str = ""
    video_class: str = ""
    video_types: tuple[str, ...] = ()


FAMILIES: dict[str, ModelFamily] = {
    f.name: f
    for f in (
        ModelFamily("sam2", "", ()),
        ModelFamily("sam2-hf", "Sam2Model", ("sam2", "sam2_video"), video_class="Sam2VideoModel", video_types=("sam2_video",)),
        ModelFamily(
            "edgetam",
            "EdgeTamModel",
            ("edgetam", "edgetam_video"),
            requires=("timm", "torchvision"),
            install="pip install timm torchvision (a torchvision build matching the installed torch: "
            "the CPU torch needs the +cpu torchvision wheel)",
            video_class="EdgeTamVideoModel",
            video_types=("edgetam_video",),
        ),
        ModelFamily(
            "sam3",
            "Sam3TrackerModel",
            ("sam3_tracker", "sam3", "sam3_tracker_video", "sam3_video"),
            mean=HALF[0],
            std=HALF[1],
            video_class="Sam3TrackerVideoModel",
            video_types=("sam3_tracker_video", "sam3_video"),
        ),
        ModelFamily("samhq", "SamHQModel", ("sam_hq",), resize="longest"),
    )
}
"""``family name -> ModelFamily``."""

NAMED_MODELS: dict[str, tuple[str, str]] = {
    "edgetam": ("edgetam", "yonigozlan/EdgeTAM-hf"),
    "sam3": ("sam3", "facebook/sam3"),
    "samhq_vit_base": ("samhq", "syscv-community/sam-hq-vit-base"),
    "samhq_vit_large": ("samhq", "syscv-community/sam-hq-vit-large"),
    "samhq_vit_huge": ("samhq", "syscv-community/sam-hq-vit-huge"),
}
"""Short names of the ``transformers`` families: ``name -> (family, hub repo id)``."""


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where a ``--model`` / ``--model-path`` pair points.

    Attributes:
        name: the model as the user named it (for messages).
        family: a key of :data:`FAMILIES`; None = a hub id whose family is read from its
            ``config.json`` once found.
        folder: local ``transformers`` folder, or None.
        repo_id: Hugging Face hub repo id, or None.
        checkpoint: official SAM 2 ``.pt`` file (family ``sam2``), or None.
    """

    name: str
    family: str | None
    folder: Path | None = None
    repo_id: str | None = None
    checkpoint: Path | None = None


def _family_from_config(folder: Path, name: str) -> str:
    cfg_path = folder / "config.json"
    try:
        model_type = json.loads(cfg_path.read_text(encoding="utf-8")).get("model_type")
    except FileNotFoundError:
        raise WeightsNotFoundError(
            f"model {name}: {folder} has no config.json, so it is not a transformers model folder; "
            f"pass a folder saved with save_pretrained (config.json + model.safetensors), an official "
            f"SAM 2 .pt file with --model-path, or one of {', '.join([*MODELS, *NAMED_MODELS])}"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model {name}: cannot read {cfg_path}: {exc}; re-save the model folder") from exc
    for fam in FAMILIES.values():
        if model_type in fam.model_types:
            return fam.name
    raise ConfigError(
        f"model {name}: {cfg_path} has model_type '{model_type}', which is no SAM family sammask "
        f"runs; choose a folder of one of: "
        + ", ".join(f"{f.name} ({'/'.join(f.model_types)})" for f in FAMILIES.values() if f.model_types)
    )


def resolve_model_source(model: str, checkpoint: Path | None = None) -> ModelSource:
    """Say which family and which weights ``--model`` / ``--model-path`` mean (no loading).

    Args:
        model: published SAM 2 name, short name of :data:`NAMED_MODELS`, hub repo id
            (``org/name``) or local folder.
        checkpoint: ``--model-path``: an official ``.pt`` file (SAM 2) or a ``transformers``
            folder; None -> from ``model``.

    Returns:
        :class:`ModelSource`.

    Raises:
        ConfigError: if ``model`` is none of the above.
        WeightsNotFoundError: a folder without ``config.json``.
    """
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if path.is_dir():
            return ModelSource(model, _family_from_config(path, str(path)), folder=path)
        return ModelSource(model, "sam2", checkpoint=path)  # a .pt file (missing: resolve_checkpoint says so)
    key = model.strip()
    if key in NAMED_MODELS:
        fam, repo = NAMED_MODELS[key]
        return ModelSource(key, fam, repo_id=repo)
    try:
        get_model_spec(key)
        return ModelSource(key, "sam2")
    except ConfigError:
        pass
    path = Path(key).expanduser()
    if path.is_dir():
        return ModelSource(key, _family_from_config(path, key), folder=path)
    if key.count("/") == 1 and not path.exists() and not key.startswith((".", "/", "~")):
        return ModelSource(key, None, repo_id=key)
    raise ConfigError(
        f"unknown model '{model}': choose one of {', '.join([*MODELS, *NAMED_MODELS])}, a Hugging Face "
        f"repo id (org/name) or a local transformers folder (config.json + weights)"
    )


def family_of_model(model: Any) -> str:
    """Family key of an already built model (official ``SAM2Base`` or a ``transformers`` model).

    Raises:
        ConfigError: if the model belongs to no family here.
    """
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type is None:
        return "sam2"
    for fam in FAMILIES.values():
        if model_type in fam.model_types:
            return fam.name
    raise ConfigError(f"a {type(model).__name__} (model_type '{model_type}') is no SAM family sammask runs")


def missing_requirement(family: str) -> str | None:
    """The first Python module ``family`` needs that does not import here, else None."""
    for mod in FAMILIES[family].requires:
        try:
            importlib.import_module(mod)
        except Exception:  # noqa: BLE001 - a broken install (e.g. a CUDA torchvision on CPU torch) counts as missing
            return mod
    return None


def _require(family: str, name: str) -> None:
    missing = missing_requirement(family)
    if missing is not None:
        raise RuntimeUnavailableError(
            f"model {name} (family {family}) needs the Python module '{missing}', which does not import "
            f"here; {FAMILIES[family].install}; meanwhile use --model sam2.1_hiera_tiny or --segmenter grabcut"
        )


def _find_folder(source: ModelSource, offline: bool) -> Path:
    if source.folder is not None:
        return source.folder
    assert source.repo_id is not None
    local_only = offline or hf_hub_offline()
    cache = hub_cache_dir()
    fix = (
        f"run once online without --offline to fill the Hugging Face cache ({cache}), or download "
        f"{source.repo_id} elsewhere (huggingface-cli download {source.repo_id} --local-dir DIR) and pass "
        f"--model DIR; meanwhile use --segmenter grabcut (no model weights needed)"
    )
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise WeightsNotFoundError(
            f"weights for model {source.name} not found: the Hugging Face hub client (huggingface_hub) is not "
            f"installed, so the cache for {source.repo_id} could not be searched; {fix}"
        ) from None
    try:
        found = snapshot_download(
            source.repo_id, local_files_only=local_only, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"]
        )
    except Exception as exc:
        how = "offline, cache only" if local_only else "online"
        detail = str(exc).splitlines()[0] if str(exc) else "no detail"
        raise WeightsNotFoundError(
            f"weights for model {source.name} not found: looked for Hugging Face hub repo {source.repo_id} in "
            f"cache {cache} ({how}: {type(exc).__name__}: {detail}); {fix}"
        ) from exc
    return Path(found)


def load_hf_model(source: ModelSource, *, device: str = "cpu", offline: bool = False, video: bool = False) -> tuple[torch.nn.Module, str]:
    """Load a ``transformers`` SAM-family model (eval mode) for box prompts.

    Args:
        source: from :func:`resolve_model_source`, family other than ``sam2``.
        device: ``cpu``, ``cuda[:N]`` or ``mps``.
        offline: cache only (also when ``HF_HUB_OFFLINE=1``).
        video: load the family's video model (:attr:`ModelFamily.video_class`, memory modules
            included) for the ``video`` strategy instead of the image model.

    Returns:
        ``(model, family)``: the family's :attr:`ModelFamily.model_class` (or, with ``video``,
        :attr:`ModelFamily.video_class`) instance and its key.

    Raises:
        WeightsNotFoundError: nothing at the folder / in the cache (the message names the model,
            where it looked and the fix).
        RuntimeUnavailableError: a module the family needs (e.g. ``timm`` for EdgeTAM) is missing.
        ModelLoadError: the weights do not load into the family's class.
        ConfigError: ``video`` for a family without a video model, or for an image-only checkpoint
            (no memory weights).
    """
    from sammask.offline import disable_telemetry
    from sammask.segmentation.sam2.model import resolve_device

    disable_telemetry()  # before transformers / huggingface_hub load: no usage telemetry in library use either
    if source.family is not None and source.family != "sam2":
        _require(source.family, source.name)
    folder = _find_folder(source, offline)
    family = _family_from_config(folder, source.name)
    if family == "sam2":
        raise ConfigError(f"model {source.name} is an official SAM 2 checkpoint; pass it as --model-path FILE.pt")
    _require(family, source.name)
    fam = FAMILIES[family]
    class_name = fam.model_class
    if video:
        if not fam.video_class:
            raise ConfigError(f"model {source.name}: the {family} family has no video model; use --strategy image with this model")
        model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
        if model_type not in fam.video_types:
            raise ConfigError(
                f"model {source.name}: {folder} is an image checkpoint (model_type '{model_type}'), without the memory "
                f"weights --strategy video needs; use --strategy image, or a {'/'.join(fam.video_types)} checkpoint"
            )
        class_name = fam.video_class
    dev = resolve_device(device)
    try:
        import transformers

        cls = getattr(transformers, class_name)
        with quiet_transformers():
            model = cls.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"model {source.name}: {folder} does not load as {class_name} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}); re-download it "
            f"or save it with {class_name}.save_pretrained"
        ) from exc
    logger.info("model %s: %s from %s", source.name, class_name, folder)
    return model.to(dev).eval(), family


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No ``transformers`` progress bars on stderr while loading (the CLI's stderr is one line on
    failure); the previous setting is restored."""
    from transformers.utils import logging as hf_logging

    was_disabled = not hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not was_disabled:
            hf_logging.enable_progress_bar()


@dataclass(frozen=True, slots=True)
class ModelAvailability:
    """One ``--model`` choice and whether it runs here without a download.

    Attributes:
        name: the ``--model`` value.
        family: its :data:`FAMILIES` key.
        available: True when its modules import and its weights are in the local cache.
        reason: why not (empty when available).
        source: hub repo id the weights come from.
    """

    name: str
    family: str
    available: bool
    reason: str
    source: str


def model_strategies(family: str) -> tuple[str, ...]:
    """The ``--strategy`` values a family runs: ``sam2`` all three, a ``transformers`` family
    ``image`` and, when it has a video model (:attr:`ModelFamily.video_class`), ``video``."""
    if family == "sam2":
        return ("image", "video", "baseline")
    return ("image", "video") if FAMILIES[family].video_class else ("image",)


def _cached(repo_id: str, filename: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo_id, filename)
    return isinstance(found, str)


def installed_models() -> list[ModelAvailability]:
    """Every named ``--model`` choice and whether it can run here offline (cheap: no weights load).

    For the annotator's and the service's model lists. A model is available when the modules its
    family needs import and its weights are in the Hugging Face cache (``.pt`` for ``sam2``,
    ``config.json`` for the ``transformers`` families).

    Returns:
        One :class:`ModelAvailability` per published SAM 2 model and per :data:`NAMED_MODELS`
        entry, in that order.
    """
    out: list[ModelAvailability] = []
    sam2_ok = importlib.util.find_spec("sam2") is not None
    for spec in MODELS.values():
        cached = _cached(spec.hf_repo_id, spec.checkpoint_filename)
        reason = (
            ""
            if sam2_ok and cached
            else ("the sam2 package is not installed" if not sam2_ok else f"{spec.checkpoint_filename} not in the Hugging Face cache")
        )
        out.append(ModelAvailability(spec.name, "sam2", not reason, reason, spec.hf_repo_id))
    for name, (family, repo) in NAMED_MODELS.items():
        missing = missing_requirement(family)
        if missing is not None:
            reason = f"Python module '{missing}' does not import"
        elif not _cached(repo, "config.json"):
            reason = f"{repo} not in the Hugging Face cache"
        else:
            reason = ""
        out.append(ModelAvailability(name, family, not reason, reason, repo))
    return out
