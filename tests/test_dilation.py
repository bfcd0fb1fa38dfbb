"""Resolution-aware default dilation (class 10): 8 px per 480 px of the shorter side, at least 8 px,
checked on decoded output."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner
from videos import make_video, redact_argv

from sammask.cli import app
from sammask.masking.options import MaskingOptions, auto_dilate_px, max_dilate_px

runner = CliRunner()


@pytest.mark.parametrize(
    "w,h,px",
    [
        (854, 480, 8),
        (640, 480, 8),
        (432, 240, 8),
        (1280, 720, 12),
        (1920, 1080, 18),
        (1080, 1920, 18),
        (3840, 2160, 36),
        (64, 48, 8),
        (1200, 600, 10),
    ],
)
def test_auto_dilation_follows_the_shorter_side(w: int, h: int, px: int) -> None:
    assert auto_dilate_px(h, w) == px
    assert MaskingOptions().dilate_px(h, w) == px


def test_explicit_dilation_overrides_and_is_capped() -> None:
    assert MaskingOptions(dilate=3).dilate_px(1080, 1920) == 3
    assert MaskingOptions(dilate=0).dilate_px(1080, 1920) == 0
    assert MaskingOptions(dilate=10**9).dilate_px(1080, 1920) == max_dilate_px(1080, 1920) == 2203
    assert MaskingOptions().dilate_px(2, 2) == 3  # the 8 px floor, capped at a tiny frame's diagonal


def _dark_run_through_centre(path: Path, side: int) -> int:
    with av.open(str(path)) as c:
        img = next(c.decode(video=0)).to_ndarray(format="rgb24")
    row = img[side // 2, :, 1]
    return int((row < 110).sum())


@pytest.mark.parametrize("side,dilate_args,px", [(240, [], 8), (720, [], 12), (960, [], 16), (720, ["--dilate", "3"], 3)])
def test_default_margin_scales_with_resolution_in_decoded_output(tmp_path: Path, side: int, dilate_args, px: int) -> None:
    video = make_video(tmp_path / "in.mp4", 2, (side, side))
    c = side // 2
    tracks = tmp_path / "t.txt"
    tracks.write_text("".join(f"{i},1,{c - 10},{c - 10},20,20,1,-1,-1,-1\n" for i in (1, 2)))
    out, report = tmp_path / "out.mp4", tmp_path / "r.json"
    res = runner.invoke(
        app,
        redact_argv(
            video,
            tracks,
            out,
            "--segmenter",
            "box",
            "--effect",
            "solid",
            "--preset",
            "ultrafast",
            "--quiet",
            "--report",
            str(report),
            *dilate_args,
        ),
    )
    assert res.exit_code == 0, res.output
    assert json.loads(report.read_text())["dilate_px"] == px
    # The 20 px box grown by px on both sides (the disk kernel reaches exactly px along an axis).
    assert abs(_dark_run_through_centre(out, side) - (20 + 2 * px)) <= 1
