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
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.24 ships its own copy of click
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - older typer on top of click
    from click import exceptions as _click_errors

from sammask import __version__
from sammask.annotate.command import annotate_command
from sammask.batch.command import batch_command
from sammask.eval.command import eval_command
from sammask.errors import ConfigError, Interrupted, SammaskError
from sammask.geometry import TracksSpace
from sammask.masking.options import Effect, MaskMode
from sammask.pipeline import redact
from sammask.service.command import serve_command
from sammask.settings import RedactSettings, load_ini, model_from_checkpoint
from sammask.ui.command import ui_command

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1


class _OneLineErrors(TyperGroup):
    """Usage errors (bad option values, missing or unknown options) as one ``sammask: error:`` line.

    Typer draws them in a multi-line box by default; scripts and log scrapers want one line, the
    flag's command-line name and exit code 2, like every other user error.
    """

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _click_errors.NoArgsIsHelpError as exc:  # bare `sammask` / `sammask redact`: the help
            exc.show()
            sys.exit(exc.exit_code)
        except _click_errors.ClickException as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) is not None else ""
            message = " ".join(exc.format_message().split())
            typer.echo(f"sammask: error: {message}{hint}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except _click_errors.Abort:
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
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Mask people and objects in video along their silhouettes (SAM 2), not their boxes."""


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
    "strength": "--strength", "dilate": "--dilate", "feather": "--feather", "stride": "--stride",
    "crf": "--crf", "preset": "--preset", "device": "--device", "strategy": "--strategy",
    "input_size": "--input-size", "chunk_size": "--chunk-size", "tracks_space": "--tracks-space",
    "runtime": "--runtime", "precision": "--precision",
}
_LEADING_NAME = re.compile(r"^([a-z_]+)( must )")


def _flag_error(exc: ConfigError) -> ConfigError:
    """A settings error raised while applying flags, with the attribute named as its flag."""
    m = _LEADING_NAME.match(str(exc))
    if m and m.group(1) in _FLAGS:
        return ConfigError(_FLAGS[m.group(1)] + str(exc)[len(m.group(1)):])
    return exc


@app.command("redact")
def redact_command(
    input: Annotated[Path, typer.Argument(help="Input video.", show_default=False, metavar="INPUT")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output video (.mp4, .mov, .mkv).")],
    tracks: Annotated[
        Path | None, typer.Option("--tracks", "-t", help="Tracks file: MOT .txt or sammask .json. Without it (and without --masks): detect (--detect).")
    ] = None,
    masks: Annotated[
        Path | None,
        typer.Option(help="Annotated masks instead of --tracks (COCO .json, MOTS .txt, PNG id maps, --save-masks folder)."),
    ] = None,
    detect: Annotated[
        str | None, typer.Option(help="Without --tracks: what to detect, e.g. faces | faces,person | hub:ID. [default: faces]")
    ] = None,
    min_score: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Detection score threshold. [default: faces 0.2]")] = None,
    max_gap: Annotated[int | None, typer.Option(min=0, help="Mask a track through detector misses up to this many frames. [default: 10]")] = None,
    scale: Annotated[str | None, typer.Option(help="Face inference size WxH (deface's --scale). [default: full frame]")] = None,
    classes: Annotated[
        str | None, typer.Option(help="With --tracks: mask only these classes, e.g. face,car (detections without a class are kept).")
    ] = None,
    preview: Annotated[
        int | None, typer.Option(min=1, help="Only write OUTPUT.preview.png: N frames (input | boxes | output), then stop.")
    ] = None,
    mode: Annotated[MaskMode | None, typer.Option(help="What to mask. [default: selected]")] = None,
    effect: Annotated[Effect | None, typer.Option(help="How to mask. [default: blur]")] = None,
    strength: Annotated[int | None, typer.Option(min=1, max=5, help="Effect level 1-5. [default: 3]")] = None,
    class_effect: Annotated[
        list[str] | None,
        typer.Option("--class-effect", metavar="CLASS=EFFECT[:STRENGTH]",
                     help="Mask one class differently, e.g. face=blur:5, car=solid (repeat the option; overrides "
                     "the config's [class.NAME]). Where masks overlap the strongest effect wins: solid > mosaic > blur."),
    ] = None,
    segmenter: Annotated[str | None, typer.Option(help="box | grabcut | sam2. [default: grabcut]")] = None,
    stride: Annotated[int | None, typer.Option(min=1, help="Segment every k-th frame, carry masks between. [default: 1]")] = None,
    dilate: Annotated[
        int | None,
        typer.Option(min=0, metavar="PX", help="Safety margin around masks, pixels (capped at the frame diagonal). "
                     "[default: 8 px per 480 px of the frame's shorter side, at least 8: 8 at 480p, 18 at 1080p]"),
    ] = None,
    feather: Annotated[int | None, typer.Option(min=0, metavar="PX", help="Soft edge outside the mask, pixels. [default: 0]")] = None,
    crf: Annotated[int | None, typer.Option(min=0, max=51, help="x264 CRF. [default: 18]")] = None,
    preset: Annotated[str | None, typer.Option(help="x264 preset. [default: medium]")] = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Drop audio instead of copying it.")] = False,
    model: Annotated[str | None, typer.Option(help="SAM 2 model name. [default: sam2.1_hiera_tiny]")] = None,
    model_path: Annotated[Path | None, typer.Option(help="Local SAM 2 checkpoint (.pt). [default: the Hugging Face cache]")] = None,
    device: Annotated[str | None, typer.Option(help="cpu | cuda | mps. [default: cpu]")] = None,
    strategy: Annotated[str | None, typer.Option(help="SAM 2 strategy: image | video | baseline. [default: image]")] = None,
    input_size: Annotated[int | None, typer.Option(help="SAM 2 input size, pixels (1024 native). [default: 1024]")] = None,
    chunk_size: Annotated[int | None, typer.Option(help="Frames per chunk (baseline strategy). [default: 300]")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Never try the Hugging Face hub.")] = False,
    runtime: Annotated[
        str | None, typer.Option(help="SAM 2 image-encoder runtime: auto | torch | compile | onnx | openvino. [default: auto]")
    ] = None,
    precision: Annotated[str | None, typer.Option(help="SAM 2 image-encoder precision: fp32 | bf16 | int8. [default: bf16]")] = None,
    crop: Annotated[
        bool | None, typer.Option("--crop/--no-crop", help="SAM 2 image strategy: encode a square around the boxes when it fits. [default: crop]")
    ] = None,
    use_previous_mask: Annotated[
        bool, typer.Option("--use-previous-mask", help="SAM 2 image strategy: also prompt with the previous mask.")
    ] = False,
    config: Annotated[
        Path | None, typer.Option(help="INI file with a [sam2] section (the original config.ini); flags override it.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the run report (JSON) here.")] = None,
    save_masks: Annotated[Path | None, typer.Option(help="Write the applied masks to this folder (new or empty).")] = None,
    tracks_space: Annotated[
        TracksSpace | None,
        typer.Option(help="Coordinates of the tracks on a rotated clip: display (upright, as OpenCV and ffmpeg "
                     "decode it) or stored (as decoded without rotation). [default: display]"),
    ] = None,
    lenient: Annotated[bool, typer.Option("--lenient", help="Drop invalid detections (counted) instead of failing.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", "-y", help="Replace an existing output / report.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs and tracebacks.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Mask the tracked objects of INPUT along their outlines and write OUTPUT."""
    _setup_logging(verbose, quiet)
    try:
        settings = load_ini(config) if config is not None else RedactSettings()
        if model_path is not None and model is None:
            model = model_from_checkpoint(model_path)  # sam2.1_hiera_small.pt -> sam2.1_hiera_small
        try:
            settings = replace(
                _override(settings, segmenter=segmenter, stride=stride, lenient=lenient or None, tracks_space=tracks_space),
                masking=_override(settings.masking, mode=mode, effect=effect, strength=strength, dilate=dilate, feather=feather),
                encode=_override(settings.encode, crf=crf, preset=preset, copy_audio=False if no_audio else None),
                sam2=_override(
                    settings.sam2, model=model, checkpoint=model_path, device=device, strategy=strategy,
                    input_size=input_size, chunk_size=chunk_size, offline=offline or None,
                    use_previous_mask=use_previous_mask or None, runtime=runtime, precision=precision, crop=crop,
                ),
            )
        except ConfigError as exc:
            raise _flag_error(exc) from None
        if class_effect:
            from sammask.masking.options import parse_class_effect

            per_class = dict(settings.masking.class_effects)
            per_class.update(parse_class_effect(item) for item in class_effect)
            settings = replace(settings, masking=replace(settings.masking, class_effects=tuple(per_class.items())))
        if tracks is not None and masks is not None:
            raise ConfigError("give exactly one of --tracks FILE or --masks FILE, not both (neither: built-in detection)")
        detection = None
        if masks is not None:
            if any(v is not None for v in (detect, min_score, max_gap, scale, classes, preview)):
                raise ConfigError("--detect, --min-score, --max-gap, --scale, --classes and --preview do not apply with --masks")
            from sammask.annotate.redact import redact_masks

            def run(**kw: Any) -> Any:
                return redact_masks(input, masks, output, settings, **kw)
        else:
            if tracks is None:
                from sammask.detection.command import faces_only, make_detection
                from sammask.detection.faces import parse_scale

                if classes is not None:
                    raise ConfigError("without --tracks, choose what to detect with --detect (e.g. --detect faces,person)")
                if tracks_space is not None:
                    raise ConfigError("--tracks-space applies with --tracks only (built-in detection sees the upright frames)")
                spec = detect or "faces"
                if segmenter is None and faces_only(spec):
                    settings = replace(settings, segmenter="box")  # a face is masked by its (enlarged) box, as deface does
                detection = make_detection(
                    spec, min_score=min_score, max_gap=max_gap, scale=parse_scale(scale) if scale else None, offline=offline
                )
            elif detect is not None or scale is not None or max_gap is not None:
                raise ConfigError("--detect, --scale and --max-gap apply without --tracks (built-in detection) only")
            elif classes is not None or min_score is not None:
                from sammask.tracks import read_tracks
                from sammask.tracks.filters import filter_tracks, parse_classes

                tracks, removed = filter_tracks(
                    read_tracks(tracks, lenient=settings.lenient), min_score=min_score, classes=parse_classes(classes)
                )
                logging.getLogger(__name__).info("--classes/--min-score removed %d detection(s)", removed)
            if preview is not None:
                try:
                    sheet = _write_preview(input, output, preview, settings, tracks, detection)
                finally:
                    if detection is not None:
                        detection.close()
                typer.echo(f"wrote {sheet} ({preview} frames); no video written (--preview)", err=True)
                return

            def run(**kw: Any) -> Any:
                return redact(input, tracks, output, settings, detection=detection, **kw)

        try:
            with _frame_progress("redact", input, quiet) as progress:
                result = run(
                    save_masks=save_masks, report_path=report, progress=progress, overwrite=overwrite,
                )
        finally:
            if detection is not None:
                detection.close()
    except KeyboardInterrupt as exc:  # SIGINT / SIGTERM / SIGHUP: exit 128 + signal, nothing written
        code = exc.exit_code if isinstance(exc, Interrupted) else 130
        typer.echo(f"sammask: error: {exc or 'interrupted'}; no output written", err=True)
        raise typer.Exit(code) from None
    except Exception as exc:  # noqa: BLE001 - the CLI boundary turns every failure into one line
        raise _fail(exc, verbose) from None
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
    if result.pass_through:  # said even with -q: nothing was masked
        typer.echo(f"sammask: no detections in {tracks or masks or 'the detector output'}: {output} is the input unmasked (pass-through)", err=True)


def _write_preview(input: Path, output: Path, n: int, settings: RedactSettings, tracks: Any, detection: Any) -> Path:
    from sammask.preview import write_preview
    from sammask.tracks import Tracks, read_tracks

    if tracks is not None and not isinstance(tracks, Tracks):
        tracks = read_tracks(tracks, lenient=settings.lenient)
    return write_preview(input, output.with_name(output.name + ".preview.png"), n, settings.masking,
                         tracks=tracks, detection=detection)


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
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), _Fps(), TimeElapsedColumn(),
        TextColumn("ETA"), TimeRemainingColumn(), transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda f: bar.update(task, completed=round(f * total))


@app.command("detect")
def detect_command(
    input: Annotated[Path, typer.Argument(help="Input video.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Tracks file to write: .json (sammask, keeps class) or .txt (MOT).")],
    detector: Annotated[str, typer.Option("--detector", "--detect", help="faces | faces,person,car | hub:ID_OR_FOLDER.")] = "faces",
    min_score: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Detection score threshold. [default: faces 0.2]")] = None,
    max_gap: Annotated[int | None, typer.Option(min=0, help="Fill detector misses of a track up to this many frames. [default: 10]")] = None,
    scale: Annotated[str | None, typer.Option(help="Face inference size WxH (deface's --scale). [default: full frame]")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Never try the Hugging Face hub.")] = False,
    tracks_space: Annotated[
        TracksSpace,
        typer.Option(help="Coordinates to write on a rotated clip: display (upright, as OpenCV and ffmpeg decode it; "
                     "what redact --tracks expects by default) or stored (as decoded without rotation)."),
    ] = TracksSpace.DISPLAY,
    report: Annotated[Path | None, typer.Option(help="Write detection statistics (JSON) here.")] = None,
    preview: Annotated[
        int | None, typer.Option(min=1, help="Only write OUTPUT.preview.png: N frames (input | boxes | masked), then stop.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs and tracebacks.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Detect and track objects in INPUT and write their tracks (for review, or --tracks later)."""
    _setup_logging(verbose, quiet)
    try:
        from sammask.detection.command import detect_video, make_detection
        from sammask.detection.faces import parse_scale
        from sammask.tracks import write_tracks

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
        write_tracks(tracks, output)
        stats = detection.stats
        if report is not None:
            import json
            from dataclasses import asdict

            data = asdict(stats)
            data["seconds"] = round(stats.seconds, 3)
            data["coasted_total"] = stats.coasted_total
            data["tracks_space"] = tracks_space.value
            report.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
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


for _name, _command in (("eval", eval_command), ("serve", serve_command), ("batch", batch_command),
                        ("annotate", annotate_command), ("ui", ui_command)):
    app.command(_name, help=user_help(_command))(_entry(_command))


def main() -> None:  # pragma: no cover - console entry point
    """Console entry point."""
    app()
