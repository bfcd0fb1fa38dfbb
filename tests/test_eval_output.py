"""Scoring the decoded output (``sammask eval --score output``) on real DAVIS runs.

Every assertion is on frames decoded from a video the pipeline (or the test) wrote: the output
leak agrees with the mask-based leak on every GT pixel off the codec edge band, an output whose
fill was removed from an object is scored as leaking on every pixel of it, and the effect check
passes on real blur / mosaic / solid runs and fails, on the tampered frame only, when the effect
is undone for one object.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sammask.errors import ConfigError
from sammask.eval.groundtruth import GroundTruthSequence
from sammask.eval.output import (
    CODEC_TOLERANCE,
    Score,
    check_effect_frame,
    classify_output,
    color_distance,
    edge_band,
    effect_mismatch,
    inside_tolerance,
    output_leak_frame,
    replay_effect,
)
from sammask.eval.runner import RunResult, evaluate_sequence, parse_config
from sammask.export.applied import read_applied_masks
from sammask.masking.options import Effect, MaskingOptions
from sammask.media.reader import VideoReader
from sammask.settings import RedactSettings
from sammask.tracks.mot import read_mot

FRAMES = 6
TAMPERED = 3
SOLID_BASE = RedactSettings(masking=MaskingOptions(effect=Effect.SOLID))


def _run(davis_seq, work: Path, spec: str, name: str = "dogs-jump") -> tuple[GroundTruthSequence, RunResult]:
    seq = GroundTruthSequence(davis_seq(name))
    work.mkdir()
    result, _ = evaluate_sequence(parse_config(spec, base=SOLID_BASE), seq, work, frames_limit=FRAMES, score=Score.OUTPUT)
    return seq, result


def _frames(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [f.image for f in reader]


def _rewrite(src: Path, dst: Path, edit: Callable[[int, np.ndarray], np.ndarray]) -> None:
    """Decode ``src``, edit frames, encode with the pipeline's writer (default x264 settings)."""
    from sammask.media.writer import VideoWriter

    with VideoReader(src) as reader, VideoWriter(dst, reader.info) as writer:
        for f in reader:
            writer.write(edit(f.frame_idx, f.image.copy()), f.pts)


def test_parse_config_effect_key() -> None:
    assert parse_config("box:effect=mosaic").settings.masking.effect is Effect.MOSAIC
    assert parse_config("grabcut", base=SOLID_BASE).settings.masking.effect is Effect.SOLID
    assert parse_config("grabcut:effect=blur", base=SOLID_BASE).settings.masking.effect is Effect.BLUR
    with pytest.raises(ConfigError, match="effect must be blur, mosaic or solid"):
        parse_config("box:effect=pixelate")


def test_output_leak_agrees_with_mask_leak_off_the_codec_edge(davis_seq, tmp_path: Path) -> None:
    """No dilation, so GrabCut leaks: both scorers must name the same GT pixels off the edge band."""
    seq, result = _run(davis_seq, tmp_path / "w", "grabcut:dilate=0")
    out = result.output
    assert out is not None and out.leak is not None and out.effect == "solid"
    work = tmp_path / "w"
    fill = out.leak.fill
    mask_leaked = out_leaked = edge_leaked = undecidable = 0
    for inp, outp, af in zip(_frames(work / "input.mp4"), _frames(work / "output.mp4"), read_applied_masks(work / "masks"), strict=True):
        fg = seq.frame(af.frame_idx).ids > 0
        filled, ambiguous = classify_output(inp, outp, fill)
        decidable = fg & ~(filled & ambiguous)
        undecidable += int(np.count_nonzero(fg & filled & ambiguous))
        edge = edge_band(af.applied)
        # off the codec edge band the decoded output is filled exactly where the applied mask says
        assert np.array_equal(decidable & ~filled & ~edge, decidable & ~af.applied & ~edge)
        mask_leaked += int(np.count_nonzero(fg & ~af.applied))
        out_leaked += int(np.count_nonzero(fg & ~filled))
        edge_leaked += int(np.count_nonzero(fg & ~filled & edge))
    assert mask_leaked == result.metrics.leaked_pixels > 0
    assert (out.leak.leaked_pixels, out.leak.edge_leaked_pixels, out.leak.undecidable_pixels) == (out_leaked, edge_leaked, undecidable)
    assert undecidable <= 1e-3 * out.leak.gt_pixels  # the picked fill is far from (almost) every GT pixel
    # codec bleed only adds leak, at the edge: the output leak is the mask leak plus edge pixels
    assert mask_leaked <= out_leaked <= mask_leaked + edge_leaked


def test_output_leak_of_a_default_run_is_zero_on_every_gt_pixel(davis_seq, tmp_path: Path) -> None:
    seq, result = _run(davis_seq, tmp_path / "w", "grabcut")
    out = result.output
    assert out is not None and out.leak is not None and out.check.passed
    assert result.metrics.leaked_pixels == 0 and out.leak.leaked_pixels == 0
    assert out.leak.covered_pixels + out.leak.undecidable_pixels == out.leak.gt_pixels == result.metrics.gt_pixels > 0
    work = tmp_path / "w"
    for i, (inp, outp) in enumerate(zip(_frames(work / "input.mp4"), _frames(work / "output.mp4"), strict=True)):
        fg = seq.frame(i).ids > 0
        filled, _ = classify_output(inp, outp, out.leak.fill)
        assert filled[fg].all(), f"frame {i}: {np.count_nonzero(fg & ~filled)} GT pixels are not the fill"


def test_output_leak_fails_where_the_fill_was_removed(davis_seq, tmp_path: Path) -> None:
    seq, result = _run(davis_seq, tmp_path / "w", "grabcut")
    assert result.output is not None and result.output.leak is not None
    fill = result.output.leak.fill
    work = tmp_path / "w"
    inputs = _frames(work / "input.mp4")
    obj = seq.frame(TAMPERED).ids == 1
    assert np.count_nonzero(obj) > 500

    def unfill(i: int, image: np.ndarray) -> np.ndarray:
        if i == TAMPERED:
            image[obj] = inputs[i][obj]  # object 1 shown as it is in the input
        return image

    _rewrite(work / "output.mp4", tmp_path / "tampered.mp4", unfill)
    for i, outp in enumerate(_frames(tmp_path / "tampered.mp4")):
        ids = seq.frame(i).ids
        fr = output_leak_frame(i, ids, inputs[i], outp, fill)
        if i != TAMPERED:
            assert fr.leaked_pixels == 0
            continue
        filled, _ = classify_output(inputs[i], outp, fill)
        # every pixel of the un-filled object off its codec edge band is scored as leaked; in the
        # band the codec mixes the fill ring around it into the object's own colours
        band = edge_band(obj)
        core = obj & ~band
        assert not filled[core].any()
        assert fr.leaked_pixels >= np.count_nonzero(core) and fr.worst >= np.count_nonzero(core) / np.count_nonzero(obj)
        assert np.count_nonzero(filled & obj) <= 0.02 * np.count_nonzero(obj)
        assert filled[(ids > 0) & ~obj & ~band].all()  # and the other objects stay covered


@pytest.mark.parametrize("effect", ["blur", "mosaic", "solid"])
def test_effect_check_passes_on_a_real_run_and_fails_on_the_tampered_frame(davis_seq, tmp_path: Path, effect: str) -> None:
    seq, result = _run(davis_seq, tmp_path / "w", f"grabcut:effect={effect}")
    check = result.output.check if result.output is not None else None
    assert check is not None and check.passed and check.failed_frames == ()
    assert check.inside_pixels > 0 and check.outside_pixels > 0
    assert check.max_inside <= inside_tolerance(effect) and check.max_outside <= CODEC_TOLERANCE
    work = tmp_path / "w"
    inputs = _frames(work / "input.mp4")
    applied = list(read_applied_masks(work / "masks"))
    tracks = read_mot(seq.tracks_path)
    options = result.config.settings.masking
    if effect == "solid":  # the run used the picked fill
        options = MaskingOptions(effect=Effect.SOLID, color=result.output.leak.fill)  # type: ignore[union-attr]  # this run writes an output, so leak is set
    target = applied[TAMPERED].tracks[1]  # track 1's final (dilated) mask on the tampered frame

    def undo(i: int, image: np.ndarray) -> np.ndarray:
        if i == TAMPERED:
            image[target] = inputs[i][target]  # the effect undone for one object
        return image

    _rewrite(work / "output.mp4", tmp_path / "tampered.mp4", undo)
    failed = []
    for i, outp in enumerate(_frames(tmp_path / "tampered.mp4")):
        af = applied[i]
        boxes = {d.track_id: d.bbox for d in tracks.by_frame[i]}
        replayed = replay_effect(inputs[i], af.tracks, boxes, options)
        bad, _, _ = effect_mismatch(outp, replayed, af.applied, effect)
        fr = check_effect_frame(i, outp, replayed, af.applied, effect)
        assert fr.inside_mismatched + fr.outside_mismatched == np.count_nonzero(bad)
        if fr.failed_frames:
            failed.append(i)
            # mismatches only where the effect was undone (or within the codec band of that new edge)
            assert not (bad & ~(target | edge_band(target))).any()
            # every undone pixel the effect had visibly changed (by more than both tolerances) is caught
            visible = target & ~edge_band(target) & ~edge_band(af.applied)
            visible &= color_distance(inputs[i], replayed) > inside_tolerance(effect) + CODEC_TOLERANCE
            assert bad[visible].all() and np.count_nonzero(bad & target) > 0
            if effect == "solid":  # a fill differs from every input pixel: all of the core is visible
                assert np.count_nonzero(visible) >= 0.9 * np.count_nonzero(target & ~edge_band(target))
            assert fr.outside_mismatched == 0
    assert failed == [TAMPERED]


def test_cli_eval_score_output_writes_both_leaks(davis_seq, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sammask.cli import app

    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        [
            "eval",
            str(davis_seq("dogs-jump")),
            "-c",
            "box",
            "-c",
            "box:effect=mosaic",
            "--score",
            "output",
            "--frames-limit",
            "3",
            "--no-contact-sheets",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    summary = (out / "summary.md").read_text()
    assert "| leak % | output leak % | undecidable % | edge leak % |" in summary.splitlines()[0]
    assert "| `box` | 1 | 3 | 0.000 | 0.000 | 0.000 | 0.000 |" in summary
    assert "solid pass" in summary and "mosaic pass" in summary
    rows = {r["config"]: r for r in json.loads((out / "results.json").read_text())}
    assert rows["box"]["output"]["leak"]["leaked_pixels"] == 0 and rows["box"]["output"]["check"]["passed"]
    assert rows["box:effect=mosaic"]["output"]["leak"] is None and rows["box:effect=mosaic"]["output"]["effect"] == "mosaic"
