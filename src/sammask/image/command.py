"""``sammask image segment|everything|cutout`` and ``sammask label`` (typer).

Registered in ``sammask.cli`` with one line each (``cli`` wraps every command so that errors
become one ``sammask: error:`` line and exit 2, internal errors exit 1). Every command checks
its outputs with :func:`sammask.spec.gate.check_paths` before decoding anything, takes
``-y/--overwrite``, and writes through :mod:`sammask.io` (atomic).

Examples::

    sammask image segment photo.jpg --box 120,40,380,460 -o mask.png
    sammask image segment photo.jpg --point 250,300 --point 40,40,0 --multimask -o cand.png
    sammask image everything photo.jpg -o everything/
    sammask image cutout photo.jpg --box 120,40,380,460 -o cutout.png
    sammask label photos/ --detect person -o dataset/ --format yolo-seg
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from sammask.errors import ConfigError
from sammask.geometry import as_bbox

MULTIMASK_FILES = 3
"""``--multimask`` writes at most this many candidates: ``STEM.0.png`` (best) .. ``STEM.2.png``."""

_Backend = Annotated[str, typer.Option("--backend", help="classical (GrabCut / Felzenszwalb, no weights) | sam2.")]
_Model = Annotated[str | None, typer.Option("--model", help="sam2: model name. [default: sam2.1_hiera_tiny]")]
_ModelPath = Annotated[Path | None, typer.Option("--model-path", help="sam2: local checkpoint (.pt).")]
_Device = Annotated[str | None, typer.Option("--device", help="sam2: cpu | cuda | mps. [default: cpu]")]
_Offline = Annotated[bool, typer.Option("--offline", help="sam2: never try the Hugging Face hub.")]
_Overwrite = Annotated[bool, typer.Option("--overwrite", "-y", help="Replace existing outputs.")]
_Box = Annotated[str | None, typer.Option("--box", help="x1,y1,x2,y2 pixels of the upright image.")]
_Points = Annotated[
    list[str] | None,
    typer.Option("--point", help="x,y[,1|0] pixels of the upright image; 1 = object (default), 0 = background. Repeatable."),
]


def make_backend(
    backend: str, model: str | None = None, model_path: Path | None = None, device: str | None = None, offline: bool = False
) -> Any:
    """The image backend a ``--backend`` option names.

    Raises:
        ConfigError: unknown backend, or sam2 options given to the classical backend.
        WeightsNotFoundError, ModelLoadError: SAM 2 weights missing or wrong.
    """
    if backend == "classical":
        if model is not None or model_path is not None or device is not None or offline:
            raise ConfigError("--model, --model-path, --device and --offline are for --backend sam2")
        from sammask.image.classical import ClassicalBackend

        return ClassicalBackend()
    if backend == "sam2":
        from sammask.image.sam2 import Sam2ImageBackend

        from sammask.errors import WeightsNotFoundError

        try:
            return Sam2ImageBackend.from_name(model or "sam2.1_hiera_tiny", checkpoint=model_path, device=device or "cpu", offline=offline)
        except WeightsNotFoundError as exc:  # the shared message names the video flag
            raise WeightsNotFoundError(str(exc).replace("--segmenter grabcut", "--backend classical")) from exc
    raise ConfigError(f"--backend must be classical or sam2, got '{backend}'")


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x1,y1,x2,y2"`` -> floats.

    Raises:
        ConfigError: not four numbers.
    """
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != 4:
        raise ConfigError(f"--box takes x1,y1,x2,y2 pixels, got '{text}'")
    return as_bbox(vals)


def parse_point(text: str) -> tuple[float, float, int]:
    """``"x,y"`` or ``"x,y,1"`` / ``"x,y,0"`` -> ``(x, y, label)``.

    Raises:
        ConfigError: otherwise.
    """
    parts = text.split(",")
    try:
        if len(parts) in (2, 3):
            x, y = float(parts[0]), float(parts[1])
            label = int(parts[2]) if len(parts) == 3 else 1
            if label in (0, 1):
                return x, y, label
    except ValueError:
        pass
    raise ConfigError(f"--point takes x,y or x,y,1 (object) / x,y,0 (background) pixels, got '{text}'")


def make_prompt(box: str | None, points: list[str] | None) -> Any:
    """A :class:`~sammask.image.types.Prompt` from ``--box`` / ``--point`` values.

    Raises:
        ConfigError: neither given, or a malformed value.
    """
    from sammask.image.types import Prompt

    if box is None and not points:
        raise ConfigError("give --box x1,y1,x2,y2 and/or --point x,y (repeatable)")
    parsed = [parse_point(p) for p in points or []]
    return Prompt(
        points=np.array([p[:2] for p in parsed], np.float32).reshape(-1, 2),
        labels=np.array([p[2] for p in parsed], np.int32),
        box=parse_box(box) if box else None,
    )


def _gate(inputs: list[tuple[str, Path]], outputs: list[Any], overwrite: bool) -> None:
    from sammask.spec.gate import InputRef, check_paths

    check_paths([InputRef(flag, path) for flag, path in inputs], outputs, overwrite=overwrite)


def _png_output(output: Path) -> None:
    if output.suffix.lower() != ".png":
        raise ConfigError(f"-o {output}: masks and cut-outs are written as PNG; use a .png name")


def segment_command(
    image: Annotated[Path, typer.Argument(help="Input image (JPEG, PNG, WebP, TIFF).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output PNG: the mask (0/255), or the RGBA cut-out with --cutout.")],
    box: _Box = None,
    point: _Points = None,
    multimask: Annotated[
        bool, typer.Option("--multimask", help=f"Write up to {MULTIMASK_FILES} candidates as STEM.0.png (best) .. STEM.2.png.")
    ] = False,
    cutout: Annotated[bool, typer.Option("--cutout", help="Write the RGBA cut-out (alpha = mask) instead of the mask.")] = False,
    backend: _Backend = "classical",
    model: _Model = None,
    model_path: _ModelPath = None,
    device: _Device = None,
    offline: _Offline = False,
    overwrite: _Overwrite = False,
) -> None:
    """Segment one object of IMAGE from a box and/or clicks (upright coordinates) into a PNG."""
    from sammask.image.api import cutout as make_cutout
    from sammask.image.api import segment
    from sammask.image.load import encode_png, load_image
    from sammask.io import write_bytes_atomic
    from sammask.spec.gate import OutputRef

    _png_output(output)
    prompt = make_prompt(box, point)
    paths = [output.with_name(f"{output.stem}.{i}.png") for i in range(MULTIMASK_FILES)] if multimask else [output]
    _gate([("the input image", image)], [OutputRef("-o", p) for p in paths], overwrite)
    img = load_image(image)
    be = make_backend(backend, model, model_path, device, offline)
    candidates = segment(img.rgb, be, prompt, multimask=multimask)
    for path, cand in zip(paths, candidates):
        data = make_cutout(img.rgb, [cand.mask]) if cutout else cand.mask
        write_bytes_atomic(path, encode_png(data))
        typer.echo(f"wrote {path}: {int(cand.mask.sum())} mask pixels, score {cand.score:.3f}", err=True)


def _everything_options(
    backend: Any,
    points_per_side: int | None,
    pred_iou_thresh: float | None,
    stability_thresh: float | None,
    crop_layers: int | None,
    min_area: float | None,
) -> Any:
    sam_flags = {
        "points_per_side": points_per_side,
        "pred_iou_thresh": pred_iou_thresh,
        "stability_score_thresh": stability_thresh,
        "crop_n_layers": crop_layers,
    }
    given = {k: v for k, v in sam_flags.items() if v is not None}
    if backend.name == "sam2":
        from sammask.image.sam2 import EverythingOptions

        if min_area is not None:
            raise ConfigError("--min-area is for --backend classical (sam2: --points-per-side, --pred-iou-thresh, ...)")
        d = EverythingOptions()
        return replace(
            d,
            points_per_side=d.points_per_side if points_per_side is None else points_per_side,
            pred_iou_thresh=d.pred_iou_thresh if pred_iou_thresh is None else pred_iou_thresh,
            stability_score_thresh=d.stability_score_thresh if stability_thresh is None else stability_thresh,
            crop_n_layers=d.crop_n_layers if crop_layers is None else crop_layers,
        )
    from sammask.image.classical import FelzenszwalbOptions

    if given:
        raise ConfigError("--points-per-side, --pred-iou-thresh, --stability-thresh and --crop-layers are for --backend sam2")
    return FelzenszwalbOptions() if min_area is None else FelzenszwalbOptions(min_area=min_area)


def everything_coco(masks: list[Any], file_name: str, width: int, height: int) -> dict[str, Any]:
    """COCO instances document of "everything" masks (one image, category 1 ``object``): RLE
    ``segmentation``, ``bbox`` xywh, ``area``, and SAM's ``predicted_iou``, ``stability_score``,
    ``point_coords``, ``crop_box`` (xywh) where known (as ``SAM2AutomaticMaskGenerator`` records)."""
    from sammask.export.rle import mask_to_rle

    anns = []
    for i, m in enumerate(masks, 1):
        x1, y1, x2, y2 = m.bbox
        ann: dict[str, Any] = {
            "id": i,
            "image_id": 1,
            "category_id": 1,
            "segmentation": mask_to_rle(m.mask),
            "area": int(m.area),
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "iscrowd": 0,
        }
        if m.predicted_iou is not None:
            ann["predicted_iou"] = m.predicted_iou
        if m.stability is not None:
            ann["stability_score"] = m.stability
        if m.point is not None:
            ann["point_coords"] = [list(m.point)]
        if m.crop_box is not None:
            cx0, cy0, cx1, cy1 = m.crop_box
            ann["crop_box"] = [cx0, cy0, cx1 - cx0, cy1 - cy0]
        anns.append(ann)
    return {
        "info": {"description": "sammask image everything (upright image coordinates)"},
        "licenses": [],
        "categories": [{"id": 1, "name": "object", "supercategory": "object"}],
        "images": [{"id": 1, "file_name": file_name, "width": width, "height": height}],
        "annotations": anns,
    }


def overlay(image: np.ndarray, masks: list[np.ndarray]) -> np.ndarray:
    """(H, W, 3) uint8: each mask tinted 50 % in its own colour (largest first), outlines white."""
    import cv2

    rng = np.random.default_rng(0)
    out = image.copy()
    for m in masks:
        col = rng.integers(40, 256, 3).astype(np.uint16)
        out[m] = ((out[m].astype(np.uint16) + col) // 2).astype(np.uint8)
    for m in masks:
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    return out


EVERYTHING_NAMES = ("masks.coco.json", "overlay.png")
"""What ``sammask image everything`` writes in its output folder."""


def everything_command(
    image: Annotated[Path, typer.Argument(help="Input image.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (created): masks.coco.json + overlay.png.")],
    points_per_side: Annotated[int | None, typer.Option("--points-per-side", help="sam2: grid points per side. [default: 32]")] = None,
    pred_iou_thresh: Annotated[float | None, typer.Option("--pred-iou-thresh", help="sam2: predicted-IoU filter. [default: 0.8]")] = None,
    stability_thresh: Annotated[float | None, typer.Option("--stability-thresh", help="sam2: stability filter. [default: 0.95]")] = None,
    crop_layers: Annotated[
        int | None, typer.Option("--crop-layers", help="sam2: crop layers (tiles for large images). [default: 0]")
    ] = None,
    min_area: Annotated[
        float | None, typer.Option("--min-area", help="classical: smallest region, fraction of the image. [default: 0.002]")
    ] = None,
    backend: _Backend = "classical",
    model: _Model = None,
    model_path: _ModelPath = None,
    device: _Device = None,
    offline: _Offline = False,
    overwrite: _Overwrite = False,
) -> None:
    """Segment everything in IMAGE: COCO RLE JSON of all masks and an overlay PNG in a folder."""
    from sammask.image.api import segment_everything
    from sammask.image.load import encode_png, load_image
    from sammask.io import write_bytes_atomic, write_text_atomic
    from sammask.spec.gate import OutputRef

    _gate([("the input image", image)], [OutputRef("-o", output, "folder", EVERYTHING_NAMES)], overwrite)
    img = load_image(image)
    be = make_backend(backend, model, model_path, device, offline)
    options = _everything_options(be, points_per_side, pred_iou_thresh, stability_thresh, crop_layers, min_area)
    masks = segment_everything(img.rgb, be, options)
    output.mkdir(parents=True, exist_ok=True)
    doc = everything_coco(masks, image.name, img.width, img.height)
    write_text_atomic(output / "masks.coco.json", json.dumps(doc, separators=(",", ":")) + "\n")
    write_bytes_atomic(output / "overlay.png", encode_png(overlay(img.rgb, [m.mask for m in masks])))
    typer.echo(f"wrote {output}: {len(masks)} masks ({be.name})", err=True)


def _detect_fn(spec: str, min_score: float | None, offline: bool) -> tuple[Callable[[np.ndarray], Any], list[Any]]:
    """``image -> FrameDetections`` for a ``--detect`` spec (all detectors, concatenated and filtered)."""
    from sammask.detection.base import FrameDetections
    from sammask.detection.video import DEFAULT_HUB_MODEL
    from sammask.detection.faces import FaceDetectorOptions
    from sammask.detection.hub import HubDetectorOptions
    from sammask.detection.registry import build_detectors, parse_spec

    parsed = parse_spec(spec, DEFAULT_HUB_MODEL)
    face_opts, hub_opts = FaceDetectorOptions(), HubDetectorOptions(offline=offline)
    if min_score is not None:
        face_opts, hub_opts = replace(face_opts, min_score=min_score), replace(hub_opts, min_score=min_score)
    detectors = build_detectors(parsed, face_options=face_opts, hub_options=hub_opts)

    def detect(rgb: np.ndarray) -> Any:
        dets = FrameDetections.concat(d.detect(rgb) for d in detectors)
        return dets.filter(min_score=min_score or 0.0, classes=parsed.classes)

    return detect, detectors


def _background(spec: str, rgb: np.ndarray) -> np.ndarray | None:
    """``--background`` -> None (transparent) or an (H, W, 3) uint8 replacement."""
    from sammask.image.load import load_image

    h, w = rgb.shape[:2]
    if spec == "transparent":
        return None
    if spec == "blur":
        from sammask.masking.effects import blur, frame_object_size_px

        return blur(rgb, object_size=frame_object_size_px(rgb.shape), strength=3)
    if spec.startswith("color:"):
        text = spec[6:].lstrip("#")
        try:
            if len(text) != 6:
                raise ValueError
            col = [int(text[i : i + 2], 16) for i in (0, 2, 4)]
        except ValueError:
            raise ConfigError(f"--background color:RRGGBB (hex), got '{spec}'") from None
        return np.broadcast_to(np.array(col, np.uint8), (h, w, 3)).copy()
    if spec.startswith("image:"):
        import cv2

        bg = load_image(Path(spec[6:])).rgb
        return cv2.resize(bg, (w, h), interpolation=cv2.INTER_AREA) if bg.shape[:2] != (h, w) else bg
    raise ConfigError(f"--background must be transparent, blur, color:RRGGBB or image:PATH, got '{spec}'")


def cutout_command(
    image: Annotated[Path, typer.Argument(help="Input image.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output PNG (RGBA when the background is transparent).")],
    box: _Box = None,
    point: _Points = None,
    detect: Annotated[
        str | None, typer.Option("--detect", help="Cut out every detection: faces, person, car, hub:ID (comma separated).")
    ] = None,
    min_score: Annotated[float | None, typer.Option("--min-score", help="--detect: score threshold.")] = None,
    background: Annotated[str, typer.Option("--background", help="transparent | blur | color:RRGGBB | image:PATH.")] = "transparent",
    backend: _Backend = "classical",
    model: _Model = None,
    model_path: _ModelPath = None,
    device: _Device = None,
    offline: _Offline = False,
    overwrite: _Overwrite = False,
) -> None:
    """Cut an object (or every detection) out of IMAGE: RGBA PNG, or a replaced background."""
    from sammask.image.api import cutout, segment
    from sammask.image.load import encode_png, load_image
    from sammask.image.types import Prompt
    from sammask.io import write_bytes_atomic
    from sammask.spec.gate import OutputRef

    _png_output(output)
    if detect is not None and (box is not None or point):
        raise ConfigError("give either --detect or --box / --point, not both")
    prompt = make_prompt(box, point) if detect is None else None
    if detect is None and min_score is not None:
        raise ConfigError("--min-score is for --detect")
    inputs = [("the input image", image)]
    if background.startswith("image:"):
        inputs.append(("--background", Path(background[6:])))
    _gate(inputs, [OutputRef("-o", output)], overwrite)
    img = load_image(image)
    bg = _background(background, img.rgb)
    be = make_backend(backend, model, model_path, device, offline)
    if prompt is not None:
        masks = [segment(img.rgb, be, prompt, multimask=False)[0].mask]
    elif detect is not None:  # always, without a prompt
        fn, detectors = _detect_fn(detect, min_score, offline)
        try:
            dets = fn(img.rgb)
        finally:
            for d in detectors:
                d.close()
        if not len(dets):
            raise ConfigError(f"--detect {detect} found nothing in {image}; nothing to cut out")
        be.set_image(img.rgb)
        masks = [be.predict(Prompt(box=as_bbox(b)), multimask=False)[0].mask for b in dets.xyxy]
    result = cutout(img.rgb, masks, background=bg)
    write_bytes_atomic(output, encode_png(result))
    typer.echo(f"wrote {output}: {len(masks)} object(s), {int(np.logical_or.reduce(masks).sum())} pixels kept", err=True)


def label_command(
    images: Annotated[list[str], typer.Argument(help="Images, folders (recursive) or globs.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset folder (created).")],
    detect: Annotated[str, typer.Option("--detect", help="What to label: faces, person, car, hub:ID (comma separated).")],
    format: Annotated[str, typer.Option("--format", "-f", help="coco | yolo-seg | png.")] = "coco",
    min_score: Annotated[float | None, typer.Option("--min-score", help="Detection score threshold.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a dataset: skip images labelled with the same settings.")] = False,
    backend: _Backend = "classical",
    model: _Model = None,
    model_path: _ModelPath = None,
    device: _Device = None,
    offline: _Offline = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    overwrite: _Overwrite = False,
) -> None:
    """Label IMAGES: detect, turn every box into a mask, write a dataset and a contact sheet."""
    from sammask.image.label import label_folder, output_names
    from sammask.image.load import expand_inputs
    from sammask.spec.gate import OutputRef

    names = output_names(format)
    files = expand_inputs(images)
    if resume and overwrite:
        raise ConfigError("--resume continues a dataset, -y/--overwrite replaces it: give one")
    inputs = [("an input image", f) for f in files] + [(f"input {i}", Path(i)) for i in images if Path(i).is_dir()]
    # resuming our own dataset rewrites its summary files: that is what --resume asks for
    _gate(inputs, [OutputRef("-o", output, "folder", names)], overwrite or resume)
    settings = {"detect": detect, "min_score": min_score, "model": model, "model_path": str(model_path) if model_path else None}
    from sammask.detection.video import DEFAULT_HUB_MODEL
    from sammask.detection.registry import parse_spec

    parse_spec(detect, DEFAULT_HUB_MODEL)  # a bad spec fails before any work
    be = make_backend(backend, model, model_path, device, offline)
    detectors: list[Any] = []
    built: list[Callable[[np.ndarray], Any]] = []

    def fn(rgb: np.ndarray) -> Any:  # detectors are loaded on the first image to label (not when resuming a done set)
        if not built:
            f, ds = _detect_fn(detect, min_score, offline)
            detectors.extend(ds)
            built.append(f)
        return built[0](rgb)

    try:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("label"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            disable=quiet,
            transient=False,
            console=__import__("rich.console").console.Console(stderr=True),
        ) as bar:
            task = bar.add_task("label", total=len(files), rate="")

            def progress(done: int, total: int, rate: float) -> None:
                bar.update(task, completed=done, rate=f"{rate:.2f} images/s")

            report = label_folder(files, output, detect=fn, backend=be, format=format, settings=settings, resume=resume, progress=progress)
    finally:
        for d in detectors:
            d.close()
    typer.echo(
        f"wrote {output}: {report.images} images ({report.labelled} labelled, {report.skipped} skipped as already "
        f"labelled), {report.objects} objects, {report.images_per_second:.2f} images/s; review {output / 'contact_sheet.png'}",
        err=True,
    )


def build_image_app(wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> typer.Typer:
    """The ``sammask image`` sub-app; ``wrap`` is the CLI's error boundary applied to each command."""
    sub = typer.Typer(
        help="Still images: segment an object, segment everything, cut out.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    sub.command("segment")(wrap(segment_command))
    sub.command("everything")(wrap(everything_command))
    sub.command("cutout")(wrap(cutout_command))
    return sub
