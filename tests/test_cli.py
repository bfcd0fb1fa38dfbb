"""CLI tests (typer's CliRunner): the main job on real clips, config mapping and every bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from sammask.cli import app

runner = CliRunner()
FAST = ["--preset", "ultrafast", "--quiet"]


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def packets(path: Path, kind: str) -> list[tuple[int | None, bytes]]:
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        if not streams:
            return []
        return [(p.pts, bytes(p)) for p in c.demux(streams[0]) if p.size]


@pytest.fixture(scope="module")
def rollerblade(davis_seq) -> Path:
    return davis_seq("rollerblade")


def test_redact_davis_with_mot_tracks(rollerblade: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    res = run(
        "redact",
        rollerblade / "video.mp4",
        "--tracks",
        rollerblade / "gt.txt",
        "-o",
        out,
        "--segmenter",
        "box",
        "--report",
        tmp_path / "r.json",
        *FAST,
    )
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames"] == 35 and report["segmenter"] == "box"
    assert set(report["stage_seconds"]) == {"decode", "segment", "compose", "encode"}
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in c.decode(video=0)) == 35


def test_audio_is_stream_copied(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "videos" / "pingpong-720p.mp4"
    tracks = Path(__file__).resolve().parents[1] / "samples" / "pingpong.tracks.json"
    out = tmp_path / "pp.mp4"
    res = run("redact", src, "--tracks", tracks, "-o", out, "--segmenter", "box", *FAST)
    assert res.exit_code == 0, res.output
    a_in, a_out = packets(src, "audio"), packets(out, "audio")
    assert a_out and [p[1] for p in a_out] == [p[1] for p in a_in]
    with av.open(str(out)) as c, av.open(str(src)) as ci:
        assert c.streams.audio[0].codec_context.name == ci.streams.audio[0].codec_context.name
        assert c.streams.video[0].frames == ci.streams.video[0].frames == 230
    res = run("redact", src, "--tracks", tracks, "-o", tmp_path / "mute.mp4", "--segmenter", "box", "--no-audio", *FAST)
    assert res.exit_code == 0 and packets(tmp_path / "mute.mp4", "audio") == []


def test_config_ini_maps_original_keys_and_flags_override(rollerblade: Path, tmp_path: Path) -> None:
    ini = tmp_path / "config.ini"
    ini.write_text(
        "[sam2]\ncrop_size = 384\nforward_frames = 15\nsegmentation_masking = no\n"
        "chunk_size = 300\nmodel_path = model/sam2.1_hiera_base_plus.pt\ndevice = cpu\n"
        "masking_range = 1\ntool = mosaic\nlevel = 5\n"
    )
    r1 = tmp_path / "r1.json"
    res = run(
        "redact", rollerblade / "video.mp4", "-t", rollerblade / "gt.txt", "-o", tmp_path / "a.mp4", "--config", ini, "--report", r1, *FAST
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(r1.read_text())
    assert rep["segmenter"] == "box" and rep["mode"] == "background"
    r2 = tmp_path / "r2.json"
    res = run(
        "redact",
        rollerblade / "video.mp4",
        "-t",
        rollerblade / "gt.txt",
        "-o",
        tmp_path / "b.mp4",
        "--config",
        ini,
        "--mode",
        "selected",
        "--report",
        r2,
        *FAST,
    )
    assert res.exit_code == 0 and json.loads(r2.read_text())["mode"] == "selected"


@pytest.fixture()
def bad_inputs(rollerblade: Path, tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    video, gt = rollerblade / "video.mp4", rollerblade / "gt.txt"
    text_video = tmp_path / "notavideo.mp4"
    text_video.write_text("hello, I am not a video\n")
    truncated = tmp_path / "truncated.mp4"
    data = video.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    lines = gt.read_text().splitlines()
    malformed = tmp_path / "malformed.txt"
    malformed.write_text("\n".join(lines[:3] + ["4,1,abc,10,20,30,1,-1,-1,-1"]) + "\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("\n".join(lines[:3] + ["4,1,2000,2000,50,50,1,-1,-1,-1"]) + "\n")
    past_end = tmp_path / "past_end.txt"
    past_end.write_text("\n".join(lines[:3] + ["500,1,10,10,50,50,1,-1,-1,-1"]) + "\n")
    negative = tmp_path / "negative.txt"
    negative.write_text("\n".join(lines[:3] + ["4,1,10,10,-50,50,1,-1,-1,-1"]) + "\n")
    return {
        "missing video": (tmp_path / "nope.mp4", gt),
        "missing tracks": (video, tmp_path / "nope.txt"),
        "text as video": (text_video, gt),
        "truncated video": (truncated, gt),
        "malformed tracks": (video, malformed),
        "box outside frame": (video, outside),
        "frame past end": (video, past_end),
        "negative size": (video, negative),
    }


@pytest.mark.parametrize(
    "case, needle",
    [
        ("missing video", "nope.mp4"),
        ("missing tracks", "nope.txt"),
        ("text as video", "notavideo.mp4"),
        ("truncated video", "truncated.mp4"),
        ("malformed tracks", "line 4"),
        ("box outside frame", "outside"),
        ("frame past end", "frame"),
        ("negative size", "line 4"),
    ],
)
def test_bad_input_one_line_nonzero_no_output(bad_inputs, case: str, needle: str, tmp_path: Path) -> None:
    video, tracks = bad_inputs[case]
    out = tmp_path / "out" / "o.mp4"
    out.parent.mkdir()
    res = run("redact", video, "--tracks", tracks, "-o", out, "--segmenter", "box", *FAST)
    assert res.exit_code == 2, (case, res.output)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("sammask: error:"), res.output
    assert needle in lines[0], (case, lines[0])
    assert not out.exists() and list(out.parent.iterdir()) == [], f"{case}: output left behind"


def test_lenient_drops_and_counts(bad_inputs, tmp_path: Path) -> None:
    video, tracks = bad_inputs["box outside frame"]
    out, rep = tmp_path / "o.mp4", tmp_path / "r.json"
    res = run("redact", video, "-t", tracks, "-o", out, "--segmenter", "box", "--lenient", "--report", rep, *FAST)
    assert res.exit_code == 0, res.output
    assert sum(json.loads(rep.read_text())["dropped"].values()) == 1 and out.exists()


def test_existing_output_untouched_on_failure(bad_inputs, tmp_path: Path) -> None:
    video, tracks = bad_inputs["frame past end"]
    out = tmp_path / "keep.mp4"
    shutil.copy(bad_inputs["missing tracks"][0], out)
    before = out.read_bytes()
    res = run("redact", video, "-t", tracks, "-o", out, "--segmenter", "box", "-y", *FAST)
    assert res.exit_code == 2 and "frame" in res.output and out.read_bytes() == before


def test_unknown_segmenter_and_verbose_traceback(rollerblade: Path, tmp_path: Path) -> None:
    res = run("redact", rollerblade / "video.mp4", "-t", rollerblade / "gt.txt", "-o", tmp_path / "o.mp4", "--segmenter", "magic", *FAST)
    assert res.exit_code == 2 and "unknown segmenter 'magic'" in res.output
    res = run(
        "redact",
        rollerblade / "video.mp4",
        "-t",
        rollerblade / "gt.txt",
        "-o",
        tmp_path / "o.mp4",
        "--segmenter",
        "magic",
        "--verbose",
        "--preset",
        "ultrafast",
    )
    assert res.exit_code == 2 and "Traceback" in res.output
