"""``sammask matte``: keep objects and remove or replace the background.

Examples::

    sammask matte clip.mp4 --tracks tracks.json -o keyed.mov                  # ProRes 4444 + alpha
    sammask matte clip.mp4 --keep person -o call.mp4 --background blur          # blurred background
    sammask matte clip.mp4 --masks coco.json -o frames --matte-out matte.mp4    # RGBA PNGs + matte

Registered in ``sammask.cli`` (which turns errors into one line and an exit code). Flags shared
with ``redact`` come from the option table (:mod:`sammask.spec.options`); the matte-only ones
(``--background``, ``--keep``, ``--matte-out``, ``--feather`` as a centred ramp, ``--smooth``,
``--refine``) are defined here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from sammask.geometry import TracksSpace
from sammask.spec.options import opt


def matte_command(
    video: Annotated[Path, typer.Argument(help="Input video.", show_default=False, metavar="VIDEO")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help=".mov (ProRes 4444 + alpha), .webm (VP9 + alpha), a folder (no suffix: RGBA PNGs), or .mp4 with a replaced background.",
        ),
    ],
    tracks: Annotated[
        Path | None, typer.Option("--tracks", "-t", help="Keep the objects of this tracks file (MOT .txt / sammask .json).")
    ] = None,
    masks: Annotated[Path | None, typer.Option(help="Keep these annotated masks (COCO .json, MOTS .txt, PNG id maps).")] = None,
    masks_any_video: Annotated[bool, opt("masks_any_video").cli()] = False,
    keep: Annotated[str | None, typer.Option(help="person: keep people (MediaPipe selfie segmentation).")] = None,
    background: Annotated[str, typer.Option(help="transparent | blur | color:#RRGGBB | image:PATH | video:PATH.")] = "transparent",
    matte_out: Annotated[
        Path | None, typer.Option("--matte-out", help="Also write the grayscale matte video (H.264, frame-aligned).")
    ] = None,
    feather: Annotated[float, typer.Option(min=0.0, metavar="PX", help="Soft-edge width centred on the outline, pixels.")] = 4.0,
    smooth: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.99,
            help="Temporal smoothing: weight of the previous frame's alpha, 0 = off (0.3: a quarter less "
            "flicker at the same J on DAVIS; 0.6 halves it but lags fast motion).",
        ),
    ] = 0.0,
    segmenter: Annotated[
        str, opt("segmenter").cli(help="With --tracks: box | grabcut | sam2. [default: grabcut]", with_default=False)
    ] = "grabcut",
    refine: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="PX",
            help="Refine edges by trimap matting (pymatting) in a band of PX pixels "
            "each side of the outline, 0 = off; replaces --feather. Slow (0.3-4.6 s per 480p frame).",
        ),
    ] = 0,
    crf: Annotated[int | None, opt("crf").cli(help="x264 CRF (replaced background, matte video).")] = None,
    no_audio: Annotated[bool, opt("no_audio").cli()] = False,
    tracks_space: Annotated[TracksSpace, opt("tracks_space").cli()] = TracksSpace.DISPLAY,
    lenient: Annotated[bool, opt("lenient").cli()] = False,
    report: Annotated[Path | None, typer.Option(help="Write the run report (JSON) here.")] = None,
    overwrite: Annotated[bool, opt("overwrite").cli("-y")] = False,
) -> None:
    """Keep the objects of VIDEO (tracks, masks or people) and remove or replace the rest.

    \f
    Raises:
        ConfigError: bad flags (not exactly one of --tracks / --masks / --keep, transparent into .mp4).
        OutputPathError: an output that is an input, another output, or exists without -y.
        InputFileError, MediaError, TracksFormatError, ExportError, ModelLoadError: see
            :func:`sammask.matte.matte`.
    """
    from sammask.matte import MatteOptions, matte, parse_background
    from sammask.settings import RedactSettings

    settings = RedactSettings()
    encode = replace(settings.encode, copy_audio=not no_audio, crf=settings.encode.crf if crf is None else crf)
    settings = replace(settings, encode=encode, tracks_space=tracks_space, lenient=lenient)
    options = MatteOptions(background=parse_background(background), feather=feather, smooth=smooth, segmenter=segmenter, refine=refine)
    result = matte(
        video,
        output,
        tracks=tracks,
        masks=masks,
        masks_any_video=masks_any_video,
        keep=keep,
        options=options,
        matte_path=matte_out,
        settings=settings,
        overwrite=overwrite,
        report_path=report,
    )
    typer.echo(
        f"wrote {output} ({result.output_kind}, {result.frames} frames, kept: {result.keep}, "
        f"background: {result.background}, {result.fps:.1f} fps)" + (f" and {matte_out}" if matte_out else ""),
        err=True,
    )
