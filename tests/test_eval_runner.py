"""End-to-end evaluation: config specs, run_eval with the real pipeline, oracle study, contact sheets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sammask.errors import ConfigError, EvalError
from sammask.eval.groundtruth import GroundTruthSequence
from sammask.eval.oracle import oracle_markdown, oracle_sequence
from sammask.eval.runner import RANDOM_NOTE, _decode_frames, parse_config, run_eval
from sammask.media import trim_video
from sammask.masking.options import MaskMode


def test_parse_config_specs() -> None:
    c = parse_config("grabcut:dilate=8")
    assert c.settings.segmenter == "grabcut" and c.settings.masking.dilate == 8
    assert c.settings.masking.mode == MaskMode.SELECTED and not c.random_weights
    s = parse_config("sam2:strategy=video,stride=4,input_size=512", random_weights=True)
    assert s.settings.segmenter == "sam2" and s.settings.stride == 4
    assert (s.settings.sam2.strategy, s.settings.sam2.input_size) == ("video", 512)
    assert s.random_weights and s.note == RANDOM_NOTE
    assert not parse_config("box", random_weights=True).random_weights  # only sam2 has weights
    with pytest.raises(ConfigError, match="unknown segmenter 'boxx'"):
        parse_config("boxx")
    with pytest.raises(ConfigError, match="unknown key 'strategy'"):
        parse_config("grabcut:strategy=image")
    with pytest.raises(ConfigError, match="dilate must be a number"):
        parse_config("box:dilate=wide")
    with pytest.raises(ConfigError, match="dilate must be >= 0"):
        parse_config("box:dilate=-1")
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_config("box:dilate")


def test_trim_video_is_lossless(davis_seq, tmp_path: Path) -> None:
    src = davis_seq("dogs-jump") / "video.mp4"
    assert trim_video(src, tmp_path / "t.mp4", 4) == 4
    a = _decode_frames(src, {0, 3})
    b = _decode_frames(tmp_path / "t.mp4", {0, 1, 2, 3, 4})
    assert sorted(b) == [0, 1, 2, 3]
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[3], b[3])


def test_run_eval_box_end_to_end(davis_seq, tmp_path: Path) -> None:
    seq = davis_seq("dogs-jump")
    table = run_eval(["box:dilate=2"], [seq], tmp_path / "out", frames_limit=6)
    (run,) = table.runs
    m = run.metrics
    assert m.frames == 6 and m.name == "dogs-jump"
    # box masking covers every GT pixel (gt.txt boxes are the tight mask boxes) ...
    assert m.leaked_pixels == 0 and m.frames_over == {0.01: (), 0.05: ()}
    # ... and its collateral is, by definition, exactly the box baseline's
    assert m.collateral_pixels == m.box_collateral_pixels > 0 and m.collateral_vs_box == 1.0
    assert run.matching.obj_to_track == {1: 1, 2: 2, 3: 3}
    assert 0 < m.j < 1 and 0 < m.f < 1  # boxes are not silhouettes
    assert run.seconds > 0
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| `box:dilate=2` | 1 | 6 | 0.000 |" in summary
    assert "dogs-jump" in (tmp_path / "out" / "sequences.md").read_text()
    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    assert rows[0]["collateral_vs_box"] == 1.0 and rows[0]["frames_over"] == {"0.01": [], "0.05": []}
    sheet = tmp_path / "out" / "contact" / "dogs-jump.png"
    assert sheet.is_file() and sheet.stat().st_size < 300_000


def test_run_eval_rejects_missing_ground_truth_frame(davis_seq, tmp_path: Path) -> None:
    import shutil

    src = davis_seq("dogs-jump")
    dst = tmp_path / "seq"
    shutil.copytree(src, dst)
    (dst / "masks" / "00002.png").unlink()
    with pytest.raises(EvalError, match="frame 2 is missing"):
        run_eval(["box"], [dst], tmp_path / "out", frames_limit=4, contact_sheets=False)


def test_oracle_every_frame_is_perfect_and_stride_leaks(davis_seq) -> None:
    seq = GroundTruthSequence(davis_seq("dogs-jump"))
    k1 = oracle_sequence(seq, 1, (0, 4), frames_limit=10)
    assert k1[0].leak == 0.0 and k1[0].collateral == 0.0 and k1[0].j == 1.0 and k1[0].f == 1.0
    assert k1[4].leak == 0.0 and k1[4].collateral > 0 and k1[4].j < 1.0
    k4 = oracle_sequence(seq, 4, (0, 8), frames_limit=10)
    # carried masks drift: leak appears without dilation; dilation buys it back at a collateral cost
    assert k4[0].leak > 0 and k4[0].j < 1.0
    assert k4[8].leak < k4[0].leak and k4[8].collateral > k4[0].collateral
    from sammask.eval.metrics import combine
    from sammask.eval.oracle import OracleRow

    text = oracle_markdown([OracleRow(4, 0, combine([k4[0]]))])
    assert text.splitlines()[2].startswith("| 4 | 0 | ")


def test_run_eval_sam2_random_weights_goes_through_the_pipeline(davis_seq, tmp_path: Path) -> None:
    table = run_eval(
        ["sam2:strategy=image,input_size=128"],
        [davis_seq("dogs-jump")],
        tmp_path / "out",
        frames_limit=2,
        random_weights=True,
        contact_sheets=False,
    )
    (run,) = table.runs
    assert run.config.random_weights and run.metrics.frames == 2
    assert run.segment_seconds > 0  # the model really ran
    assert run.matching.obj_to_track == {1: 1, 2: 2, 3: 3}
    assert RANDOM_NOTE in (tmp_path / "out" / "summary.md").read_text()


def test_eval_leak_is_the_unmasked_share_of_gt_pixels(davis_seq, tmp_path: Path) -> None:
    """The leak figure is recomputed here from the run's applied masks and the GT ids."""
    from sammask.eval.runner import evaluate_sequence
    from sammask.export.applied import read_applied_masks

    seq = GroundTruthSequence(davis_seq("dogs-jump"))
    config = parse_config("sam2:strategy=image,input_size=128", random_weights=True)
    work = tmp_path / "w"
    work.mkdir()
    result, _ = evaluate_sequence(config, seq, work, frames_limit=2)
    leaked = total = 0
    for af in read_applied_masks(work / "masks"):
        obj = seq.mask(af.frame_idx) > 0
        leaked += int((obj & ~af.applied).sum())
        total += int(obj.sum())
    assert total > 1000 and result.metrics.gt_pixels == total
    assert result.metrics.leaked_pixels == leaked and result.metrics.leak == pytest.approx(leaked / total)
