"""``sammask batch``: redact many videos (process pool or Ray), per-video failures in a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sammask.geometry import TracksSpace
from sammask.masking.options import Effect, MaskMode


def batch_command(
    inputs: Annotated[list[str], typer.Argument(help="Videos, folders (searched recursively) or globs.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")],
    tracks_dir: Annotated[Path | None, typer.Option(help="Folder of <name>.json / <name>.txt tracks (default: beside each video).")] = None,
    detect: Annotated[
        str | None, typer.Option(help="Detect instead of tracks files, every video: faces | faces,person | hub:ID.")
    ] = None,
    min_score: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Detection score threshold (with tracks: filter). [default: faces 0.2]")] = None,
    max_gap: Annotated[int | None, typer.Option(
        min=0, help="With --detect: mask a track through detector misses up to this many frames. [default: 10]")] = None,
    scale: Annotated[str | None, typer.Option(help="With --detect: face inference size WxH. [default: full frame]")] = None,
    classes: Annotated[str | None, typer.Option(help="With tracks: mask only these classes, e.g. face,car.")] = None,
    tracks_space: Annotated[
        TracksSpace | None, typer.Option(help="Coordinates of the tracks on rotated clips: display or stored. [default: display]")
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Videos at once (process pool; with --ray, local Ray CPUs).")] = 1,
    ray: Annotated[str | None, typer.Option("--ray", help="Run videos as Ray tasks: 'auto' or a cluster address.")] = None,
    mode: Annotated[MaskMode | None, typer.Option(help="What to mask. [default: selected]")] = None,
    effect: Annotated[Effect | None, typer.Option(help="How to mask. [default: blur]")] = None,
    strength: Annotated[int | None, typer.Option(min=1, max=5, help="Effect level 1-5. [default: 3]")] = None,
    segmenter: Annotated[str | None, typer.Option(help="box | grabcut | sam2. [default: grabcut]")] = None,
    stride: Annotated[int | None, typer.Option(min=1, help="Segment every k-th frame. [default: 1]")] = None,
    dilate: Annotated[int | None, typer.Option(min=0, help="Safety margin around masks, pixels. [default: 8]")] = None,
    crf: Annotated[int | None, typer.Option(min=0, max=51, help="x264 CRF. [default: 18]")] = None,
    preset: Annotated[str | None, typer.Option(help="x264 preset. [default: medium]")] = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Drop audio instead of copying it.")] = False,
    lenient: Annotated[bool, typer.Option("--lenient", help="Drop invalid detections (counted) instead of failing.")] = False,
    save_masks: Annotated[bool, typer.Option("--save-masks", help="Also write OUT/<name>.masks/.")] = False,
    config: Annotated[Path | None, typer.Option(help="INI file with a [sam2] section (original config.ini).")] = None,
) -> None:
    """Redact every video of INPUTS into OUTPUT; skip finished ones; summary in OUTPUT/batch-summary.json.

    Exit 0 when every video was written (or skipped), 2 when any failed.
    """
    from rich.console import Console
    from rich.table import Table

    from pydantic import ValidationError

    from sammask.batch.options import JobSettings, Source
    from sammask.batch.runner import SUMMARY_FILE, plan_batch, run_batch
    from sammask.errors import ConfigError
    from sammask.settings import RedactSettings, load_ini

    base = load_ini(config) if config is not None else RedactSettings()
    source = Source.DETECT if detect is not None else Source.TRACKS
    try:
        options = JobSettings(mode=mode, effect=effect, strength=strength, segmenter=segmenter, stride=stride,
                              dilate=dilate, crf=crf, preset=preset, no_audio=no_audio, lenient=lenient,
                              detect=detect, min_score=min_score, max_gap=max_gap, scale=scale, classes=classes,
                              tracks_space=tracks_space)
    except ValidationError as exc:
        raise ConfigError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
    options.check_source(source)
    settings = options.to_redact_settings(base, source=source)
    items = plan_batch(inputs, tracks_dir, detect=detect is not None)
    console = Console(stderr=True)

    def done(result) -> None:
        state = "ok" if result.ok else f"FAILED: {result.error}"
        console.print(f"{Path(result.input).name} -> {Path(result.output).name}: {state}", markup=False, highlight=False)

    summary = run_batch(items, output, settings, jobs=jobs, ray_address=ray, save_masks=save_masks, on_result=done,
                        detect=options.detect_options() if detect is not None else None,
                        tracks_filter=options.tracks_filter())
    table = Table(title=f"batch: {len(items)} videos, {summary.backend}, {summary.seconds:.1f} s")
    for col in ("video", "status", "frames", "fps", "fallbacks", "error"):
        table.add_column(col)
    results = {Path(r.output).stem: r for r in summary.results}
    for item in items:
        r = results.get(item.name)
        if r is None:
            table.add_row(item.name, "skipped", "", "", "", "output exists")
        elif r.ok:
            rep = r.report or {}
            table.add_row(item.name, "done", str(rep.get("frames")), str(rep.get("fps")), str(rep.get("fallback_total")), "")
        else:
            table.add_row(item.name, "failed", "", "", "", r.error or "")
    console.print(table)
    console.print(f"summary: {output / SUMMARY_FILE}", markup=False, highlight=False)
    if summary.failed:
        raise typer.Exit(2)
