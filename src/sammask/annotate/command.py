"""``sammask annotate``: run an annotation session from a prompts file and export the masks.

Example::

    sammask annotate clip.mp4 --prompts prompts.json -o out/ --format coco --format png

Registered in ``sammask.cli`` (which turns errors into one line and an exit code).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def annotate_command(
    video: Annotated[Path, typer.Argument(help="Input video.", show_default=False)],
    prompts: Annotated[Path, typer.Option("--prompts", "-p", help="Prompts JSON (frame_idx, obj_id, points/labels or box).")],
    out: Annotated[Path, typer.Option("--output", "-o", help="Output folder (created).")],
    format: Annotated[
        list[str] | None, typer.Option("--format", "-f", help="coco | png | yolo | mots | tracks (repeatable). [default: coco]")
    ] = None,
    backend: Annotated[str, typer.Option(help="classical (no weights) | sam2.")] = "classical",
    model: Annotated[str | None, typer.Option(help="sam2: model name, e.g. sam2.1_hiera_tiny.")] = None,
    model_path: Annotated[Path | None, typer.Option(help="sam2: local checkpoint (.pt).")] = None,
    device: Annotated[str | None, typer.Option(help="sam2: cpu | cuda | mps.")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="sam2: never try the Hugging Face hub.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Annotate VIDEO from a prompts file (propagating every object) and export the masks to OUT.

    Raises:
        ConfigError: unknown format/backend, malformed prompts.
        InputFileError, MediaError: unreadable video or prompts.
        ExportError: an output already exists.
        ModelLoadError, WeightsNotFoundError: sam2 without weights.
    """
    from sammask.annotate.prompts import read_prompts, run_prompts
    from sammask.annotate.session import Session
    from sammask.errors import ConfigError
    from sammask.export import DEFAULT_NAMES, FORMATS

    formats = format or ["coco"]
    for f in formats:
        if f not in FORMATS:
            raise ConfigError(f"unknown export format '{f}': choose one of {', '.join(FORMATS)}")
    records = read_prompts(prompts)
    options: dict[str, object] = {}
    if backend == "sam2":
        options = {k: v for k, v in {"model": model, "checkpoint": model_path, "device": device,
                                     "offline": offline or None}.items() if v is not None}
    elif any(v is not None for v in (model, model_path, device)) or offline:
        raise ConfigError("--model, --model-path, --device and --offline are for --backend sam2")
    with Session.open(video, backend, **options) as session:
        out.mkdir(parents=True, exist_ok=True)
        last = [-1]

        def progress(done: int, total: int) -> None:
            pct = 100 * done // max(total, 1)
            if not quiet and pct // 10 != last[0]:
                last[0] = pct // 10
                typer.echo(f"propagate {done}/{total}", err=True)

        run_prompts(session, records, progress)
        written = [session.export(out / DEFAULT_NAMES[f], f) for f in formats]
        typer.echo(
            f"annotated {video}: {len(session.objects)} objects, {session.num_frames} frames, "
            f"{session.backend.name}; wrote {', '.join(str(p) for p in written)}",
            err=True,
        )
