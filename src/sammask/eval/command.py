"""``sammask eval``: the typer command behind quality measurement (registered in ``sammask.cli``).

Example::

    sammask eval ../shared/data/davis2016/* --config box --config grabcut:dilate=8 -o docs/quality
    sammask eval ../shared/data/davis2016/* --oracle -o docs/quality
    sammask eval ../shared/data/davis2016/* --config grabcut --score output -o out

Errors are raised as :class:`sammask.errors.SammaskError` subclasses; the CLI prints them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from sammask.eval.output import Score
from sammask.spec.options import opt

logger = logging.getLogger(__name__)


def eval_command(
    sequences: Annotated[
        list[Path],
        typer.Argument(help="Ground-truth sequence folders (video.mp4, masks/00000.png, gt.txt), e.g. ../shared/data/davis2016/*."),
    ],
    config: Annotated[
        list[str] | None,
        typer.Option(
            "--config",
            "-c",
            help="Configuration spec, repeatable: box | grabcut:dilate=8 | sam2:strategy=image,stride=4,input_size=512.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the tables and contact sheets.")] = Path("eval-out"),
    frames_limit: Annotated[
        int | None, typer.Option("--frames-limit", min=1, help="Evaluate only the first N frames of each sequence.")
    ] = None,
    random_weights: Annotated[
        bool,
        typer.Option("--random-weights", help="Run SAM 2 configs with a random-init model (timing only: quality meaningless)."),
    ] = False,
    contact_sheets: Annotated[bool, typer.Option("--contact-sheets/--no-contact-sheets", help="Write contact/<seq>.png.")] = True,
    sheet_frames: Annotated[int, typer.Option("--sheet-frames", min=1, help="Frames per config on a contact sheet.")] = 3,
    score: Annotated[
        Score,
        typer.Option(
            "--score",
            help="mask: score the exported applied masks; output: also decode the written video, check the effect "
            "there and, for solid fill (the default effect then), count the leak from the output's fill pixels.",
            case_sensitive=False,
        ),
    ] = Score.MASK,
    oracle: Annotated[
        bool, typer.Option("--oracle", help="Also run the oracle-keyframe study (GT masks carried between keyframes) -> oracle.md.")
    ] = False,
    overwrite: Annotated[bool, opt("overwrite").cli("-y")] = False,
) -> None:
    """Measure leak, collateral and J&F of redaction configurations on ground-truth sequences.

    Writes ``summary.md``, ``sequences.md``, ``results.json`` and ``contact/<seq>.png`` to
    ``--out`` (and ``oracle.md`` with ``--oracle``), each atomically; the outputs are checked
    first (not inside a sequence folder, existing ones need ``-y``). ``--score output`` adds the
    columns measured on the decoded output video.

    Notes:
        The output check is :func:`sammask.spec.run.gate`; the decoded-output columns come from
        :mod:`sammask.eval.output`.

    Raises:
        ConfigError: a bad ``--config`` spec or no configuration.
        InputFileError, EvalError: missing or inconsistent ground truth.
        MediaError, ModelLoadError: pipeline failures.
    """
    from sammask.errors import ConfigError
    from sammask.eval.runner import run_eval
    from sammask.io import write_text_atomic
    from sammask.spec.gate import InputRef
    from sammask.spec.run import RunSpec, gate

    if not config and not oracle:
        raise ConfigError("give at least one --config SPEC (e.g. --config box) or --oracle")
    names = (("summary.md", "sequences.md", "results.json") if config else ()) + (("oracle.md",) if oracle else ())
    names += tuple(f"contact/{Path(s).name}.png" for s in sequences) if config and contact_sheets else ()
    gate(
        RunSpec(
            command="eval",
            exports=out,
            export_names=names,
            overwrite=overwrite,
            extra_inputs=tuple(InputRef("the sequence folder", Path(s)) for s in sequences),
        )
    )
    if config:
        table = run_eval(
            config,
            sequences,
            out,
            frames_limit=frames_limit,
            random_weights=random_weights,
            contact_sheets=contact_sheets,
            sheet_frames=sheet_frames,
            progress=typer.echo,
            score=score,
        )
        typer.echo(table.summary_markdown())
    if oracle:
        from sammask.eval.oracle import oracle_markdown, run_oracle

        out.mkdir(parents=True, exist_ok=True)
        text = oracle_markdown(run_oracle(sequences, frames_limit=frames_limit, progress=typer.echo))
        write_text_atomic(out / "oracle.md", text)
        typer.echo(text)
    typer.echo(f"wrote {out}")
