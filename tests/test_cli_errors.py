"""Every user error exits 2 with one line ``sammask: error: ...`` naming the flag (class 9).

Each case builds its inputs: a small clip, a one-box MOT file, broken config / tracks files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner
from videos import make_video

from sammask import __version__
from sammask.cli import app
from sammask.settings import load_ini

runner = CliRunner()
FAST = ["--preset", "ultrafast", "--quiet", "--segmenter", "box"]


@pytest.fixture()
def job(tmp_path: Path) -> tuple[Path, Path]:
    video = make_video(tmp_path / "in.mp4", 2)
    tracks = tmp_path / "t.txt"
    tracks.write_text("1,1,10,10,8,8,1,-1,-1,-1\n2,1,10,10,8,8,1,-1,-1,-1\n")
    return video, tracks


def _run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def _one_error_line(res, *needles: str) -> str:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1, res.output
    assert lines[0].startswith("sammask: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "args,flag",
    [
        (["--strength", "7"], "'--strength'"),
        (["--mode", "everything"], "'--mode'"),
        (["--effect", "sparkle"], "'--effect'"),
        (["--dilate", "-1"], "'--dilate'"),
        (["--crf", "x"], "'--crf'"),
        (["--tracks-space", "sideways"], "'--tracks-space'"),
        (["--no-such-flag"], "--no-such-flag"),
        (["--input-size", "17"], "--input-size must be a multiple of 16"),
        (["--preset", "warp"], "--preset must be one of"),
    ],
)
def test_bad_option_values_are_one_line_naming_the_flag(job, tmp_path: Path, args: list[str], flag: str) -> None:
    video, tracks = job
    out = tmp_path / "out.mp4"
    _one_error_line(_run("redact", video, "-t", tracks, "-o", out, *FAST, *args), flag)
    assert not out.exists()


def test_missing_required_option_is_one_line(job) -> None:
    video, tracks = job
    _one_error_line(_run("redact", video, "-t", tracks), "'--output'")


@pytest.mark.parametrize("name,needle", [("out.txt", "-o"), ("out.webm", "libx264"), ("out", "-o")])
def test_output_suffix_checked_before_decoding(job, tmp_path: Path, name: str, needle: str) -> None:
    video, tracks = job
    _one_error_line(_run("redact", video, "-t", tracks, "-o", tmp_path / name, *FAST), needle, name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "t.txt"]  # nothing written


def test_unwritable_or_missing_folder(job, tmp_path: Path) -> None:
    video, tracks = job
    _one_error_line(_run("redact", video, "-t", tracks, "-o", tmp_path / "nope" / "o.mp4", *FAST), "-o", "does not exist")
    _one_error_line(_run("redact", video, "-t", tracks, "-o", tracks / "o.mp4", *FAST), "-o", "is not a folder")
    _one_error_line(
        _run("redact", video, "-t", tracks, "-o", tmp_path / "o.mp4", "--report", tmp_path / "no" / "r.json", *FAST), "--report"
    )
    if Path("/proc/self").is_dir():  # a folder nobody (not even root) can create files in
        _one_error_line(_run("redact", video, "-t", tracks, "-o", "/proc/o.mp4", *FAST), "-o", "cannot create files in folder /proc")
    assert not (tmp_path / "o.mp4").exists()


def test_over_long_output_name(job, tmp_path: Path) -> None:
    video, tracks = job
    longest = "a" * 251 + ".mp4"  # 255 bytes: allowed (the temporary name is shortened to fit)
    res = _run("redact", video, "-t", tracks, "-o", tmp_path / longest, *FAST)
    assert res.exit_code == 0, res.output
    assert (tmp_path / longest).is_file() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    _one_error_line(_run("redact", video, "-t", tracks, "-o", tmp_path / ("b" * 252 + ".mp4"), *FAST), "-o", "256 bytes")
    _one_error_line(
        _run("redact", video, "-t", tracks, "-o", tmp_path / "o.mp4", "--report", tmp_path / ("r" * 300), *FAST), "--report", "300 bytes"
    )


def test_existing_save_masks_file_is_refused_untouched(job, tmp_path: Path) -> None:
    video, tracks = job
    target = tmp_path / "masks"
    target.write_bytes(b"keep me")
    _one_error_line(_run("redact", video, "-t", tracks, "-o", tmp_path / "o.mp4", "--save-masks", target, *FAST), "--save-masks")
    assert target.read_bytes() == b"keep me" and not (tmp_path / "o.mp4").exists()


def test_config_percent_non_utf8_and_bad_values(job, tmp_path: Path) -> None:
    video, tracks = job
    ini = tmp_path / "config.ini"
    ini.write_text("[sam2]\nsegmentation_masking = no\nmodel_path = weights/100%/sam2.1_hiera_small.pt\n")
    s = load_ini(ini)  # '%' is literal (no interpolation)
    assert s.sam2.checkpoint == tmp_path / "weights" / "100%" / "sam2.1_hiera_small.pt" and s.segmenter == "box"
    res = _run("redact", video, "-t", tracks, "-o", tmp_path / "a.mp4", "--config", ini, *FAST)
    assert res.exit_code == 0, res.output
    ini.write_text("[sam2]\ntool = 100%\n")
    _one_error_line(
        _run("redact", video, "-t", tracks, "-o", tmp_path / "b.mp4", "--config", ini, *FAST),
        "config.ini",
        "tool must be one of blur, mosaic, solid",
    )
    ini.write_bytes(b"[sam2]\ntool = \xff\xfeblur\n")
    _one_error_line(_run("redact", video, "-t", tracks, "-o", tmp_path / "c.mp4", "--config", ini, *FAST), "not UTF-8", "0xff")
    ini.write_text("[sam2]\ninput_size = 17\n")  # a value from the file is named by its key, not a flag
    _one_error_line(_run("redact", video, "-t", tracks, "-o", tmp_path / "d.mp4", "--config", ini, *FAST), "[sam2] input_size must be")
    ini.write_text("[sam2]\ndilate = " + "9" * 5000 + "\n")
    line = _one_error_line(
        _run("redact", video, "-t", tracks, "-o", tmp_path / "e.mp4", "--config", ini, *FAST), "dilate must be an integer"
    )
    assert len(line) < 300


def test_unknown_config_key_warns_with_the_closest_key(job, tmp_path: Path) -> None:
    video, tracks = job
    ini = tmp_path / "config.ini"
    ini.write_text("[sam2]\ncrop_size = 384\nforward_frames = 15\ndilat = 3\n")
    res = _run("redact", video, "-t", tracks, "-o", tmp_path / "o.mp4", "--config", ini, "--preset", "ultrafast", "--segmenter", "box")
    assert res.exit_code == 0, res.output
    assert "unknown key 'dilat' is ignored; did you mean 'dilate'?" in res.output
    assert "crop_size" not in res.output and "forward_frames" not in res.output  # the original's own keys


def test_huge_json_integer_is_a_tracks_error(job, tmp_path: Path) -> None:
    video, _ = job
    tracks = tmp_path / "t.json"
    tracks.write_text(
        '{"format": "sammask-tracks", "version": 1, "frames": [{"frame_idx": 0, "detections": '
        '[{"track_id": ' + "7" * 5000 + ', "bbox": [1, 1, 9, 9]}]}]}'
    )
    _one_error_line(_run("redact", video, "-t", tracks, "-o", tmp_path / "o.mp4", *FAST), "t.json", "4300 digits")


def test_dilate_is_capped_at_the_frame_diagonal(job, tmp_path: Path) -> None:
    video, tracks = job
    report = tmp_path / "r.json"
    res = _run("redact", video, "-t", tracks, "-o", tmp_path / "o.mp4", "--dilate", "100000", "--report", report, *FAST)
    assert res.exit_code == 0, res.output
    assert json.loads(report.read_text())["dilate_px"] == math.ceil(math.hypot(64, 48)) == 80


def test_help_shows_defaults_and_literal_brackets_and_version() -> None:
    res = runner.invoke(app, ["redact", "--help"])
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert "[sam2]" in text
    for default in (
        "[default: selected]",
        "[default: blur]",
        "[default: 3]",
        "[default: grabcut (faces-only detection: box)]",
        "[default: 18]",
        "[default: medium]",
        "[default: display]",
        "[default: auto: 8 px per 480 px of the shorter side",
    ):
        assert default in text, default
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"sammask {__version__}"


def test_huge_mot_numbers_are_one_short_line(job, tmp_path: Path) -> None:
    video, _ = job
    for row, field in (
        ("1," + "9" * 5000 + ",1,1,5,5", "'id'"),
        ("1,1e5000,1,1,5,5", "'id'"),
        ("1,1," + "9" * 5000 + ",1,5,5", "'bb_left'"),
    ):
        tracks = tmp_path / "t.txt"
        tracks.write_text(row + ",1,-1,-1,-1\n")
        line = _one_error_line(_run("redact", video, "-t", tracks, "-o", tmp_path / "o.mp4", *FAST), "line 1", field)
        assert len(line) < 300


def test_abort_while_parsing_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An end of input while click builds the context (its Abort) is one line and exit 2, not an
    internal error (the handler once named an attribute typer's click copy does not have)."""
    import typer

    from sammask.cli import _OneLineErrors

    def eof(value: str) -> str:
        raise EOFError

    probe = typer.Typer(cls=_OneLineErrors)

    @probe.command()
    def go(name: str = typer.Option("x", callback=eof)) -> None:  # pragma: no cover - never runs
        pass

    @probe.command()
    def other() -> None:  # pragma: no cover - a second command keeps `go` a subcommand
        pass

    with pytest.raises(SystemExit) as exit_info:
        typer.main.get_command(probe).main(["go"], prog_name="sammask")
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "sammask: error: aborted"
