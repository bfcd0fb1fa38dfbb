"""``sammask matte``: keep objects and remove or replace the background.

Examples::

    sammask matte clip.mp4 --tracks tracks.json -o keyed.mov                  # ProRes 4444 + alpha
    sammask matte clip.mp4 --keep person -o call.mp4 --background blur          # blurred background
    sammask matte clip.mp4 --masks coco.json -o frames --matte-out matte.mp4    # RGBA PNGs + matte

Registered in ``sammask.cli`` (which turns errors into one line and an exit code).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from sammask.geometry import TracksSpace


def matte_command(
    video: Annotated[Path, typer.Argument(help="Input video.", show_default=False, metavar="VIDEO")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help=".mov (ProRes 4444 + alpha), .webm (VP9 + alpha), a folder "
                           "(no suffix: RGBA PNGs), or .mp4 with a replaced background.")
    ],
    tracks: Annotated[Path | None, typer.Option("--tracks", "-t", help="Keep the objects of this tracks file (MOT .txt / sammask .json).")] = None,
    masks: Annotated[Path | None, typer.Option(help="Keep these annotated masks (COCO .json, MOTS .txt, PNG id maps).")] = None,
    keep: Annotated[str | None, typer.Option(help="person: keep people (MediaPipe selfie segmentation).")] = None,
    background: Annotated[
        str, typer.Option(help="transparent | blur | color:#RRGGBB | image:PATH | video:PATH.")
    ] = "transparent",
    matte_out: Annotated[Path | None, typer.Option("--matte-out", help="Also write the grayscale matte video (H.264, frame-aligned).")] = None,
    feather: Annotated[float, typer.Option(min=0.0, metavar="PX", help="Soft-edge width centred on the outline, pixels.")] = 4.0,
    smooth: Annotated[float, typer.Option(min=0.0, max=0.99, help="Temporal smoothing: weight of the previous frame's alpha, 0 = off (0.3: a quarter less "
                  "flicker at the same J on DAVIS; 0.6 halves it but lags fast motion).")] = 0.0,
    segmenter: Annotated[str, typer.Option(help="With --tracks: box | grabcut | sam2.")] = "grabcut",
    refine: Annotated[
        int, typer.Option(min=0, metavar="PX", help="Refine edges by trimap matting (pymatting) in a band of PX pixels "
                          "each side of the outline, 0 = off; replaces --feather. Slow (0.3-4.6 s per 480p frame).")
    ] = 0,
    crf: Annotated[int | None, typer.Option(min=0, max=51, help="x264 CRF (replaced background, matte video). [default: 18]")] = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Drop audio instead of copying it.")] = False,
    tracks_space: Annotated[
        TracksSpace, typer.Option(help="With --tracks on a rotated clip: display (upright) or stored coordinates.")
    ] = TracksSpace.DISPLAY,
    lenient: Annotated[bool, typer.Option("--lenient", help="Drop invalid detections (counted) instead of failing.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write the run report (JSON) here.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", "-y", help="Replace existing outputs.")] = False,
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
    encode = replace(settings.encode, copy_audio=not no_audio, **({"crf": crf} if crf is not None else {}))
    settings = replace(settings, encode=encode, tracks_space=tracks_space, lenient=lenient)
    options = MatteOptions(background=parse_background(background), feather=feather, smooth=smooth, segmenter=segmenter,
                           refine=refine)
    result = matte(video, output, tracks=tracks, masks=masks, keep=keep, options=options, matte_path=matte_out,
                   settings=settings, overwrite=overwrite, report_path=report)
    typer.echo(
        f"wrote {output} ({result.output_kind}, {result.frames} frames, kept: {result.keep}, "
        f"background: {result.background}, {result.fps:.1f} fps)" + (f" and {matte_out}" if matte_out else ""),
        err=True,
    )
