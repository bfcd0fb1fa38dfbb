"""Inference runtimes for SAM 2's image encoder: torch eager, torch.compile, ONNX Runtime, OpenVINO.

Every runtime is built at start-up from the *loaded* model (so a real checkpoint's weights are
what gets exported) and answers :meth:`ImageEncoderRuntime.forward_image` exactly like
``SAM2Base.forward_image``: a dict with ``backbone_fpn`` (3 levels, the two high-resolution ones
already projected by the mask decoder's ``conv_s0`` / ``conv_s1``), ``vision_pos_enc`` and
``vision_features``. The image strategy calls it directly; the video strategy hands it to sam2's
own predictor as the instance's ``forward_image`` (see :func:`with_encoder`).

The exported graph is the image encoder plus those two 1x1 convolutions, at batch 1 and one input
side S (Hiera's window padding is fixed at export, so each input size is its own file). The
position encodings depend only on the feature shapes and are computed once in torch.

=============  ===============  ==========================================================
runtime        precisions       notes (docs/benchmarks.md has the measured figures)
=============  ===============  ==========================================================
``torch``      fp32, bf16       eager; bf16 = ``torch.autocast("cpu", bfloat16)``
``compile``    fp32, bf16       ``torch.compile`` with inductor freezing (compiles on the
                                first frame of each run; inductor keeps its own disk cache)
``onnx``       fp32, int8       ``torch.onnx.export`` + ONNX Runtime; int8 = dynamic QInt8
                                quantization of the exported file (``sammask[onnx]``)
``openvino``   fp32, bf16       ``openvino.convert_model`` from the torch module; bf16 = the
                                CPU plugin's default precision (bf16 only where the CPU has
                                it, else fp32); fp32 = ``INFERENCE_PRECISION_HINT=f32``
                                (``sammask[openvino]``)
=============  ===============  ==========================================================

OpenVINO int8 (post-training quantization) is not offered: it needs calibration frames, gained
~15 % over bf16 in our measurement, and its error can only be judged on trained weights.

Exports are cached under ``Sam2Options.export_cache`` in a folder named by runtime, input size,
artifact and a key hashing the exported weights (the checkpoint's values), the input size, and
the versions of torch, sam2 and the runtime: a new checkpoint or version exports again, the same
one reuses the file. Writes are atomic (a temporary folder renamed into place).

torch and the runtimes are imported inside functions: importing this module does no work.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sammask.errors import ConfigError, ModelLoadError, RuntimeUnavailableError
from sammask.segmentation.sam2.options import Sam2Options

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

__all__ = [
    "SUPPORTED",
    "ImageEncoderRuntime",
    "build_encoder_runtime",
    "default_export_cache",
    "export_key",
    "resolve_runtime",
    "with_encoder",
]

SUPPORTED: dict[str, tuple[str, ...]] = {
    "torch": ("fp32", "bf16"),
    "compile": ("fp32", "bf16"),
    "onnx": ("fp32", "int8"),
    "openvino": ("fp32", "bf16"),
}
"""Precisions each runtime supports."""

_EXTRA = {"onnx": ("onnxruntime", "onnx"), "openvino": ("openvino", "openvino")}
_CACHE_FORMAT = 1


def default_export_cache() -> Path:
    """``$SAMMASK_EXPORT_CACHE`` if set, else ``$XDG_CACHE_HOME/sammask/exports``
    (``~/.cache/sammask/exports`` when unset)."""
    if os.environ.get("SAMMASK_EXPORT_CACHE"):
        return Path(os.environ["SAMMASK_EXPORT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sammask" / "exports"


def _importable(module: str) -> bool:
    import importlib

    from sammask.offline import disable_telemetry

    disable_telemetry()  # `import openvino` starts its conversion telemetry

    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _require(runtime: str) -> Any:
    """Import and return the runtime's main module, or raise naming the extra to install."""
    import importlib

    from sammask.offline import disable_telemetry

    disable_telemetry()  # before the import: `import openvino` starts its conversion telemetry
    module, extra = _EXTRA[runtime]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RuntimeUnavailableError(
            f"SAM 2 runtime '{runtime}' needs the {module} package, which is not installed ({exc}); "
            f"install it with `pip install sammask[{extra}]`, or use --runtime torch"
        ) from exc


def resolve_runtime(options: Sam2Options, device: str = "cpu") -> tuple[str, str]:
    """The (runtime, precision) a run uses.

    ``auto`` is ``openvino`` when that extra is installed and the device is the CPU, else
    ``torch`` (the fastest available on this machine kind, docs/benchmarks.md).

    Raises:
        RuntimeUnavailableError: the runtime asked for is not installed (names the extra).
        ConfigError: the runtime does not support the precision, or needs the CPU.
    """
    on_cpu = str(device).split(":")[0] == "cpu"
    runtime = options.runtime
    if runtime == "auto":
        runtime = "openvino" if on_cpu and _importable("openvino") else "torch"
    if runtime not in SUPPORTED:
        raise ConfigError(f"unknown SAM 2 runtime '{runtime}': choose one of auto, {', '.join(SUPPORTED)}")
    if options.precision not in SUPPORTED[runtime]:
        raise ConfigError(
            f"SAM 2 runtime '{runtime}' supports precision {' or '.join(SUPPORTED[runtime])}, not "
            f"'{options.precision}'; pick one of those or another runtime ("
            + ", ".join(f"{r}: {'/'.join(p)}" for r, p in SUPPORTED.items())
            + ")"
        )
    if runtime in _EXTRA:
        _require(runtime)
        if not on_cpu:
            raise ConfigError(f"SAM 2 runtime '{runtime}' runs on the CPU only; use --runtime torch with --device {device}")
    return runtime, options.precision


def _encoder_graph(model: Any) -> torch.nn.Module:
    """The exported part: image encoder + the mask decoder's high-res projections, batch 1.

    forward: (1, 3, S, S) float32 normalised image -> (fpn0 (1, C/8, S/4, S/4),
    fpn1 (1, C/4, S/8, S/8), fpn2 (1, C, S/16, S/16)) float32, as ``SAM2Base.forward_image``'s
    ``backbone_fpn``.
    """
    import torch

    class EncoderGraph(torch.nn.Module):
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.image_encoder = m.image_encoder
            self.high_res = bool(m.use_high_res_features_in_sam)
            if self.high_res:
                self.conv_s0 = m.sam_mask_decoder.conv_s0
                self.conv_s1 = m.sam_mask_decoder.conv_s1

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            fpn = list(self.image_encoder(x)["backbone_fpn"])
            if self.high_res:
                fpn[0] = self.conv_s0(fpn[0])
                fpn[1] = self.conv_s1(fpn[1])
            return tuple(fpn)

    return EncoderGraph(model).eval()


def export_key(model: Any, runtime: str, artifact: str, image_size: int) -> str:
    """Hex key of an export: the exported weights' values, input size, artifact and versions.

    Args:
        model: the loaded ``SAM2Base``.
        runtime: ``onnx`` or ``openvino``.
        artifact: what the file holds (``fp32`` or ``int8``).
        image_size: S in pixels.
    """
    import sam2
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(_encoder_graph(model).state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(name.encode())
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(memoryview(t.view(torch.uint8).numpy() if t.dtype == torch.bfloat16 else t.numpy()))
    versions = {"torch": torch.__version__, "sam2": getattr(sam2, "__version__", "?"), "format": _CACHE_FORMAT}
    if runtime == "onnx":
        versions["onnxruntime"] = _require("onnx").__version__
    else:
        versions["openvino"] = _require(runtime).get_version()
    h.update(json.dumps({"runtime": runtime, "artifact": artifact, "size": image_size, **versions}, sort_keys=True).encode())
    return h.hexdigest()


def _export_name(model: Any, runtime: str, artifact: str, size: int) -> str:
    """Cache folder name of an export: ``{runtime}-{size}-{artifact}-{key prefix}``."""
    return f"{runtime}-{size}-{artifact}-{export_key(model, runtime, artifact, size)[:24]}"


def _cached_export(root: Path, name: str, filename: str, export: Callable[[Path], None]) -> tuple[Path, bool]:
    """Path of ``root/name/filename``, exporting it with ``export(tmp_folder)`` when absent.

    Returns:
        (path, cache_hit).

    Raises:
        ModelLoadError: if the export fails or the cache folder is not writable.
    """
    final = root / name
    if (final / filename).is_file():
        return final / filename, True
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    except OSError as exc:
        raise ModelLoadError(f"export cache {root} is not writable ({exc}); pass another export cache folder") from exc
    try:
        export(tmp)
        if not (tmp / filename).is_file():
            raise ModelLoadError(f"export of {name} wrote no {filename}")
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / filename).is_file():  # not another process winning the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final / filename, False


class ImageEncoderRuntime:
    """SAM 2 image encoder on one runtime; use :func:`build_encoder_runtime`.

    Attributes:
        name: runtime name (``torch``, ``compile``, ``onnx``, ``openvino``).
        precision: ``fp32``, ``bf16`` or ``int8``.
        image_size: S, the input side in pixels.
        export_path: the exported file, None for torch-based runtimes.
        cache_hit: whether ``export_path`` came from the cache (None for torch-based runtimes).
    """

    name: ClassVar[str] = "torch"

    def __init__(self, model: Any, precision: str) -> None:
        self.precision = precision
        self.image_size = int(model.image_size)
        self.export_path: Path | None = None
        self.cache_hit: bool | None = None
        self._pos_enc = model.image_encoder.neck.position_encoding
        self._pos: list[torch.Tensor] | None = None

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(1, 3, S, S) float32 -> the three ``backbone_fpn`` levels, float32."""
        raise NotImplementedError

    def forward_image(self, x: torch.Tensor) -> dict[str, Any]:
        """Drop-in for ``SAM2Base.forward_image`` (batch 1).

        Args:
            x: (1, 3, S, S) float32 image, normalised as
                :func:`~sammask.segmentation.sam2.model.preprocess_frame`.

        Returns:
            ``{"vision_features": (1, C, S/16, S/16), "vision_pos_enc": [3 x (1, 256, h, w)],
            "backbone_fpn": [(1, C/8, S/4, S/4), (1, C/4, S/8, S/8), (1, C, S/16, S/16)]}``,
            float32.

        Raises:
            SegmentationError-compatible ``RuntimeError``/``ValueError`` from the runtime.
        """
        if tuple(x.shape) != (1, 3, self.image_size, self.image_size):
            raise ValueError(f"{self.name} image encoder takes (1, 3, {self.image_size}, {self.image_size}), got {tuple(x.shape)}")
        fpn = [f.float() for f in self.run(x.float())]
        if self._pos is None:
            self._pos = [self._pos_enc(f).to(f.dtype) for f in fpn]
        return {"vision_features": fpn[-1], "vision_pos_enc": list(self._pos), "backbone_fpn": fpn}

    def decoder_context(self) -> contextlib.AbstractContextManager[Any]:
        """Context to run the (torch) prompt encoder + mask decoder in: bf16 autocast for bf16."""
        import torch

        if self.precision == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()


class _TorchEncoder(ImageEncoderRuntime):
    name = "torch"

    def __init__(self, model: Any, precision: str) -> None:
        super().__init__(model, precision)
        self._model = model
        self._device = next(model.parameters()).device

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        import torch

        if self.precision == "bf16":
            return torch.autocast(self._device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def decoder_context(self) -> contextlib.AbstractContextManager[Any]:
        return self._autocast()

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with self._autocast():
            return tuple(self._model.forward_image(x)["backbone_fpn"])


class _CompiledEncoder(_TorchEncoder):
    name = "compile"

    def __init__(self, model: Any, precision: str) -> None:
        super().__init__(model, precision)
        import torch

        self._compiled = torch.compile(_encoder_graph(model), dynamic=False)

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        import torch
        import torch._inductor.config as inductor_config

        with inductor_config.patch(freezing=True), torch.no_grad(), self._autocast():
            return self._compiled(x)


def _threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


class _OnnxEncoder(ImageEncoderRuntime):
    name = "onnx"

    def __init__(self, model: Any, precision: str, cache: Path) -> None:
        super().__init__(model, precision)
        import torch

        ort = _require("onnx")
        graph, size = _encoder_graph(model).to("cpu"), self.image_size

        def export_fp32(folder: Path) -> None:
            x = torch.zeros(1, 3, size, size)
            logger.info("exporting the SAM 2 image encoder at %d px to ONNX (%s)", size, folder)
            with torch.no_grad():
                torch.onnx.export(
                    graph,
                    (x,),
                    str(folder / "encoder.onnx"),
                    input_names=["image"],
                    output_names=["fpn0", "fpn1", "fpn2"],
                    dynamo=False,
                    opset_version=17,
                )

        path, hit = _cached_export(cache, _export_name(model, "onnx", "fp32", size), "encoder.onnx", export_fp32)
        if precision == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            src = path

            def export_int8(folder: Path) -> None:
                logger.info("quantizing the ONNX image encoder to dynamic int8 (%s)", folder)
                quantize_dynamic(str(src), str(folder / "encoder.onnx"), weight_type=QuantType.QInt8)

            path, hit = _cached_export(cache, _export_name(model, "onnx", "int8", size), "encoder.onnx", export_int8)
        so = ort.SessionOptions()
        so.intra_op_num_threads = _threads()
        so.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.export_path, self.cache_hit = path, hit

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        import torch

        outs = self._session.run(None, {"image": x.detach().cpu().numpy()})
        return tuple(torch.from_numpy(o) for o in outs)


class _OpenVinoEncoder(ImageEncoderRuntime):
    name = "openvino"

    def __init__(self, model: Any, precision: str, cache: Path) -> None:
        super().__init__(model, precision)
        import torch

        ov = _require("openvino")
        graph, size = _encoder_graph(model).to("cpu"), self.image_size

        def export(folder: Path) -> None:
            logger.info("converting the SAM 2 image encoder at %d px to OpenVINO (%s)", size, folder)
            with torch.no_grad():
                converted = ov.convert_model(graph, example_input=torch.zeros(1, 3, size, size))
            ov.save_model(converted, str(folder / "encoder.xml"), compress_to_fp16=False)

        path, hit = _cached_export(cache, _export_name(model, "openvino", "fp32", size), "encoder.xml", export)
        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": _threads(), "PERFORMANCE_HINT": "LATENCY"}
        if precision == "fp32":
            config["INFERENCE_PRECISION_HINT"] = "f32"
        self._compiled = ov.Core().compile_model(str(path), "CPU", config)
        self._request = self._compiled.create_infer_request()
        self.export_path, self.cache_hit = path, hit

    def run(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        import torch

        self._request.infer({0: x.detach().cpu().numpy()})
        return tuple(torch.from_numpy(self._request.get_output_tensor(i).data.copy()) for i in range(3))


def build_encoder_runtime(model: Any, options: Sam2Options) -> ImageEncoderRuntime:
    """Build the image-encoder runtime ``options`` ask for from the loaded ``model``.

    Args:
        model: a loaded ``SAM2Base`` in eval mode (its ``image_size`` is the export's input side).
        options: :class:`~sammask.segmentation.sam2.options.Sam2Options` (``runtime``,
            ``precision``, ``export_cache``).

    Returns:
        The runtime; ONNX / OpenVINO ones have exported (or reused) their file.

    Raises:
        RuntimeUnavailableError: the runtime is not installed (the message names the extra).
        ConfigError: unsupported precision for the runtime, or a CPU-only runtime on GPU.
        ModelLoadError: the export failed or the cache folder is not writable.
    """
    device = str(next(model.parameters()).device)
    runtime, precision = resolve_runtime(options, device)
    cache = Path(options.export_cache) if options.export_cache is not None else default_export_cache()
    try:
        if runtime == "torch":
            rt: ImageEncoderRuntime = _TorchEncoder(model, precision)
        elif runtime == "compile":
            rt = _CompiledEncoder(model, precision)
        elif runtime == "onnx":
            rt = _OnnxEncoder(model, precision, cache)
        else:
            rt = _OpenVinoEncoder(model, precision, cache)
    except (ConfigError, ModelLoadError):
        raise
    except Exception as exc:  # exporters raise many types; the message keeps it
        raise ModelLoadError(
            f"building the SAM 2 image encoder on runtime '{runtime}' ({precision}, {model.image_size} px) "
            f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; use --runtime torch"
        ) from exc
    logger.info(
        "SAM 2 image encoder: runtime %s, %s, %d px%s",
        runtime,
        precision,
        rt.image_size,
        "" if rt.export_path is None else f", {'cached' if rt.cache_hit else 'exported'} {rt.export_path}",
    )
    return rt


def with_encoder(model: Any, runtime: ImageEncoderRuntime) -> Any:
    """A shallow copy of ``model`` whose ``forward_image`` is ``runtime.forward_image``.

    The copy shares every module and weight with ``model`` (nothing is duplicated and ``model``
    itself is untouched); sam2's predictors call ``self.forward_image`` for every frame, so the
    copy runs its image encoder on ``runtime`` without forking the predictor's code.
    """
    import copy

    proxy = copy.copy(model)
    object.__setattr__(proxy, "forward_image", runtime.forward_image)
    return proxy
