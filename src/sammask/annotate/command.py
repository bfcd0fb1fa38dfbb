"""``sammask annotate``: run an annotation session from a prompts file and export the masks.

Example::

    sammask annotate clip.mp4 --prompts prompts.json -o out/ --format coco --format png

Registered in ``sammask.cli`` (which turns errors into one line and an exit code).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from sammask.spec.options import opt
from sammask.spec.run import RunSpec, gate


def annotate_command(
    video: Annotated[Path, typer.Argument(help="Input video.", show_default=False)],
    prompts: Annotated[Path, typer.Option("--prompts", "-p", help="Prompts JSON (frame_idx, obj_id, points/labels or box).")],
    out: Annotated[Path, typer.Option("--output", "-o", help="Output folder (created; its parent must exist).")],
    format: Annotated[
        list[str] | None, typer.Option("--format", "-f", help="coco | png | yolo | mots | tracks (repeatable). [default: coco]")
    ] = None,
    backend: Annotated[str, typer.Option(help="classical (no weights) | sam2.")] = "classical",
    model: Annotated[str | None, opt("model").cli(help="sam2: model name, e.g. sam2.1_hiera_tiny.")] = None,
    model_path: Annotated[Path | None, opt("model_path").cli(help="sam2: local checkpoint (.pt).")] = None,
    device: Annotated[str | None, opt("device").cli(help="sam2: cpu | cuda | mps.")] = None,
    offline: Annotated[bool, opt("offline").cli(help="sam2: never try the Hugging Face hub.")] = False,
    overwrite: Annotated[bool, opt("overwrite").cli("-y")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Annotate VIDEO from a prompts file (propagating every object) and export the masks to OUT.

    The outputs are checked before any work: ``OUT`` and the entries the formats write in it may
    not be or alias the video, the prompts or the checkpoint, and existing entries need ``-y``.
    Every export is written into a temporary folder beside ``OUT`` and moved into place only when
    all of them succeeded, so a failure leaves neither a partial export nor an empty ``OUT``.

    Notes:
        The output check is :func:`sammask.spec.run.gate`.

    Raises:
        ConfigError: unknown format/backend, malformed prompts.
        InputFileError, MediaError: unreadable video or prompts.
        OutputPathError: an output that is or aliases an input, or exists without ``-y``.
        ModelLoadError, WeightsNotFoundError: sam2 without weights.
    """
    from sammask.annotate.prompts import read_prompts, run_prompts
    from sammask.annotate.session import Session
    from sammask.errors import ConfigError
    from sammask.export import DEFAULT_NAMES, FORMATS

    formats = list(dict.fromkeys(format or ["coco"]))
    for f in formats:
        if f not in FORMATS:
            raise ConfigError(f"unknown export format '{f}': choose one of {', '.join(FORMATS)}")
    options: dict[str, Any] = {}
    if backend == "sam2":
        options = {
            k: v
            for k, v in {"model": model, "checkpoint": model_path, "device": device, "offline": offline or None}.items()
            if v is not None
        }
    elif any(v is not None for v in (model, model_path, device)) or offline:
        raise ConfigError("--model, --model-path, --device and --offline are for --backend sam2")
    names = tuple(DEFAULT_NAMES[f] for f in formats)
    gate(
        RunSpec(
            command="annotate", video=video, prompts=prompts, model_path=model_path, exports=out, export_names=names, overwrite=overwrite
        )
    )
    records = read_prompts(prompts)
    with Session.open(video, backend, **options) as session:
        last = [-1]

        def progress(done: int, total: int) -> None:
            pct = 100 * done // max(total, 1)
            if not quiet and pct // 10 != last[0]:
                last[0] = pct // 10
                typer.echo(f"propagate {done}/{total}", err=True)

        run_prompts(session, records, progress)

        def writer(fmt: str) -> Callable[[Path], object]:
            return lambda path: session.export(path, fmt)

        written = export_atomically(out, {name: writer(f) for f, name in zip(formats, names)})
        typer.echo(
            f"annotated {video}: {len(session.objects)} objects, {session.num_frames} frames, "
            f"{session.backend.name}; wrote {', '.join(str(p) for p in written)}",
            err=True,
        )


def export_atomically(out: Path, writers: dict[str, Callable[[Path], object]]) -> list[Path]:
    """Write each entry of ``writers`` inside ``out``, all or nothing.

    Every writer is called with a path in a fresh temporary folder (inside ``out`` when it exists,
    else beside it); when all succeeded, each entry replaces ``out/NAME`` (an existing entry is
    removed first), or the temporary folder is renamed to ``out``. On any failure the temporary folder is removed and ``out`` is left as
    it was (not created when it did not exist).

    Args:
        out: the output folder (its parent must exist).
        writers: entry name -> function writing that entry at the path it is given.

    Returns:
        The written paths, ``out/NAME``, in order.

    Raises:
        OutputWriteError: the temporary folder or the move failed (the message names the path).
        Whatever a writer raises.
    """
    import os
    import shutil

    from sammask.errors import OutputWriteError
    from sammask.io import temp_sibling

    existed = out.is_dir()
    # an existing folder holds its own temporary (its parent may not be writable; ``-o .`` works);
    # a new one gets a temporary sibling that is renamed into place
    tmp = temp_sibling(out / ".export" if existed else Path(os.path.abspath(out)), ".tmp")
    try:
        tmp.mkdir()
    except OSError as exc:
        raise OutputWriteError(f"cannot create a folder beside {out} ({exc.strerror}); choose another -o") from None
    try:
        for name, write in writers.items():
            write(tmp / name)
        if not existed:
            os.rename(tmp, out)
        else:
            for name in writers:
                dest = out / name
                if dest.is_dir() and not dest.is_symlink():
                    shutil.rmtree(dest)
                os.replace(tmp / name, dest)
    except OSError as exc:
        raise OutputWriteError(f"cannot write the export in {out} ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out / name for name in writers]
