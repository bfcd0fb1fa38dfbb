"""``sammask batch``: redact many videos (process pool or Ray), per-video failures in a summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sammask.geometry import TracksSpace
from sammask.masking.options import Effect, MaskMode
from sammask.spec.options import opt

if TYPE_CHECKING:
    from rich.console import Console

    from sammask.batch.options import JobSettings, Source
    from sammask.batch.runner import BatchItem, BatchSummary
    from sammask.settings import RedactSettings


def batch_command(
    inputs: Annotated[list[str], typer.Argument(help="Videos, folders (searched recursively) or globs.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")],
    tracks_dir: Annotated[Path | None, typer.Option(help="Folder of <name>.json / <name>.txt tracks (default: beside each video).")] = None,
    masks: Annotated[
        bool,
        typer.Option(
            "--masks",
            help="Apply stored masks instead of tracks, every video: <stem>.masks/ "
            "(a --save-masks export or PNG id maps), <stem>.masks.json (COCO) or "
            "<stem>.masks.txt (MOTS) beside it.",
        ),
    ] = False,
    masks_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of <name>.masks/, <name>.masks.json or <name>.masks.txt "
            "(implies --masks; a batch's --save-masks output folder is one)."
        ),
    ] = None,
    masks_any_video: Annotated[bool, opt("masks_any_video").cli()] = False,
    detect: Annotated[
        str | None,
        opt("detect").cli(help="Detect instead of tracks files, every video: faces | faces,person | hub:ID.", with_default=False),
    ] = None,
    min_score: Annotated[float | None, opt("min_score").cli()] = None,
    max_gap: Annotated[int | None, opt("max_gap").cli()] = None,
    scale: Annotated[str | None, opt("scale").cli()] = None,
    classes: Annotated[str | None, opt("classes").cli()] = None,
    tracks_space: Annotated[TracksSpace | None, opt("tracks_space").cli()] = None,
    jobs: Annotated[int, opt("jobs").cli()] = 1,
    ray: Annotated[str | None, typer.Option("--ray", help="Run videos as Ray tasks: 'auto' or a cluster address.")] = None,
    mode: Annotated[MaskMode | None, opt("mode").cli()] = None,
    effect: Annotated[Effect | None, opt("effect").cli()] = None,
    strength: Annotated[int | None, opt("strength").cli()] = None,
    segmenter: Annotated[str | None, opt("segmenter").cli()] = None,
    stride: Annotated[int | None, opt("stride").cli()] = None,
    dilate: Annotated[int | None, opt("dilate").cli()] = None,
    feather: Annotated[int | None, opt("feather").cli()] = None,
    crf: Annotated[int | None, opt("crf").cli()] = None,
    preset: Annotated[str | None, opt("preset").cli()] = None,
    no_audio: Annotated[bool, opt("no_audio").cli()] = False,
    lenient: Annotated[bool, opt("lenient").cli()] = False,
    save_masks: Annotated[bool, typer.Option("--save-masks", help="Also write OUT/<name>.masks/.")] = False,
    config: Annotated[Path | None, typer.Option(help="INI file with a [sam2] section (original config.ini).")] = None,
    overwrite: Annotated[bool, opt("overwrite").cli("-y")] = False,
) -> None:
    """Redact every video of INPUTS into OUTPUT; skip finished ones; summary in OUTPUT/batch-summary.json.

    Exit 0 when every video was written (or skipped), 2 when any failed. An existing output that
    this batch did not write (no record in OUTPUT/.checkpoints/) is refused before any work
    unless -y; finished videos are skipped, and redone when their inputs or settings changed.
    """
    from rich.console import Console

    from sammask.batch.options import Source
    from sammask.batch.runner import SUMMARY_FILE, plan_batch, run_batch
    from sammask.settings import RedactSettings, load_ini

    base = load_ini(config) if config is not None else RedactSettings()
    masks = masks or masks_dir is not None
    source = Source.DETECT if detect is not None else Source.MASKS if masks else Source.TRACKS
    options = _job_settings(
        mode=mode,
        effect=effect,
        strength=strength,
        segmenter=segmenter,
        stride=stride,
        dilate=dilate,
        feather=feather,
        crf=crf,
        preset=preset,
        no_audio=no_audio,
        lenient=lenient,
        detect=detect,
        min_score=min_score,
        max_gap=max_gap,
        scale=scale,
        classes=classes,
        tracks_space=tracks_space,
        masks_any_video=masks_any_video,
    )
    items = plan_batch(inputs, tracks_dir, detect=detect is not None, masks=masks, masks_dir=masks_dir)
    _gate_batch(
        items,
        inputs,
        output,
        options=options,
        source=source,
        base=base,
        config=config,
        tracks_dir=tracks_dir,
        masks_dir=masks_dir,
        save_masks=save_masks,
        overwrite=overwrite,
    )
    settings = options.to_redact_settings(base, source=source)
    console = Console(stderr=True)

    def done(result) -> None:
        state = "ok" if result.ok else f"FAILED: {result.error}"
        console.print(f"{Path(result.input).name} -> {Path(result.output).name}: {state}", markup=False, highlight=False)

    summary = run_batch(
        items,
        output,
        settings,
        jobs=jobs,
        ray_address=ray,
        save_masks=save_masks,
        on_result=done,
        detect=options.detect_options() if detect is not None else None,
        tracks_filter=options.tracks_filter(),
        overwrite=overwrite,
        masks=masks,
        masks_any_video=masks_any_video,
    )
    _print_summary(console, items, summary)
    console.print(f"summary: {output / SUMMARY_FILE}", markup=False, highlight=False)
    if summary.failed:
        raise typer.Exit(2)


def _job_settings(**fields: Any) -> JobSettings:
    """The run options as :class:`~sammask.batch.options.JobSettings`.

    Raises:
        ConfigError: a value pydantic refuses (the validators' messages, joined).
    """
    from pydantic import ValidationError

    from sammask.batch.options import JobSettings
    from sammask.errors import ConfigError

    try:
        return JobSettings(**fields)
    except ValidationError as exc:
        raise ConfigError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None


def _gate_batch(
    items: Sequence[BatchItem],
    inputs: Sequence[str],
    output: Path,
    *,
    options: JobSettings,
    source: Source,
    base: RedactSettings,
    config: Path | None,
    tracks_dir: Path | None,
    masks_dir: Path | None,
    save_masks: bool,
    overwrite: bool,
) -> None:
    """One gate for the whole batch, before any video is decoded: no output (video, report,
    masks folder, summary, checkpoints) may be or alias an input video, tracks file, input
    folder or the config. Outputs the batch wrote before (a .done record) are its resume state
    (skipped, or redone when stale); any other existing output is refused unless ``overwrite``.

    Raises:
        OutputPathError: as :func:`sammask.spec.gate.check_paths`.
    """
    from sammask.batch.runner import CHECKPOINT_DIR, SUMMARY_FILE, batch_outputs, foreign_outputs
    from sammask.spec.gate import InputRef, OutputRef, check_paths
    from sammask.spec.run import gate

    names = [n for i in items for n in batch_outputs(i, save_masks)]
    read = [InputRef("the input video", i.input) for i in items]
    read += [InputRef("the tracks file", i.tracks) for i in items if i.tracks is not None]
    read += [InputRef("the stored masks", i.masks) for i in items if i.masks is not None]
    read += [InputRef("the input folder", Path(a)) for a in inputs if Path(a).is_dir()]
    if tracks_dir is not None:
        read.append(InputRef("--tracks-dir", tracks_dir))
    if masks_dir is not None:
        read.append(InputRef("--masks-dir", masks_dir))
    gate(
        options.run_spec(
            source,
            base,
            command="batch",
            config=config,
            extra_inputs=tuple(read),
            overwrite=True,
            extra_outputs=(OutputRef("-o", output, "folder", (*names, SUMMARY_FILE, CHECKPOINT_DIR)),),
        )
    )
    if not overwrite:
        check_paths([], [OutputRef("-o", output, "folder", tuple(foreign_outputs(items, output, save_masks=save_masks)))], overwrite=False)


def _print_summary(console: Console, items: Sequence[BatchItem], summary: BatchSummary) -> None:
    """One table row per video: done (frames, fps, fallbacks), failed (the error) or skipped."""
    from rich.table import Table

    table = Table(title=f"batch: {len(items)} videos, {summary.backend}, {summary.seconds:.1f} s")
    for col in ("video", "status", "frames", "fps", "fallbacks", "error"):
        table.add_column(col)
    results = {Path(r.output).stem: r for r in summary.results}
    for item in items:
        r = results.get(item.name)
        if r is None:
            table.add_row(item.name, "skipped", "", "", "", "done before with the same inputs and settings")
        elif r.ok:
            rep = r.report or {}
            table.add_row(item.name, "done", str(rep.get("frames")), str(rep.get("fps")), str(rep.get("fallback_total")), "")
        else:
            table.add_row(item.name, "failed", "", "", "", r.error or "")
    console.print(table)
