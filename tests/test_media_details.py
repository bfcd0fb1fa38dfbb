"""Issue 14, class 9: media details kept or reported, on clips the tests build.

Non-square pixels (SAR 4:3) and interlacing (top field first) survive ``redact`` (probed on the
output and its decoded frames); duplicate timestamps are blamed on the input, not the output;
a second video stream of the input is reported (warning in the run report), not dropped silently.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from typer.testing import CliRunner
from videos import make_video

from sammask.cli import app
from sammask.media import probe

runner = CliRunner()
W, H = 64, 48
FAST = ["--preset", "ultrafast", "--segmenter", "box", "--effect", "solid"]


def _tracks(path: Path, frames: int) -> Path:
    path.write_text("".join(f"{i + 1},1,10,10,20,16,1,-1,-1,-1\n" for i in range(frames)))
    return path


def _encode(
    path: Path, frames: int, *, sar=None, interlaced: bool = False, second_stream: bool = False, dup_pts_at: int | None = None
) -> Path:
    with av.open(str(path), "w") as c:
        opts = {"preset": "ultrafast", "bf": "0"}
        if interlaced:
            opts["x264-params"] = "interlaced=1:tff=1"
        s = c.add_stream("libx264", rate=10, options=opts)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        if sar is not None:
            s.codec_context.sample_aspect_ratio = sar
        if interlaced:
            s.codec_context.field_order = 2  # AV_FIELD_TT
        other = None
        if second_stream:
            other = c.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
            other.width, other.height, other.pix_fmt = 32, 24, "yuv420p"
        packets = []
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(np.full((H, W, 3), 200, np.uint8), format="rgb24")
            f.pts = i
            packets += s.encode(f)
            if other is not None:
                g = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 90, np.uint8), format="rgb24")
                g.pts = i
                c.mux(other.encode(g))
        packets += s.encode(None)
        for j, p in enumerate(packets):
            if dup_pts_at is not None and j == dup_pts_at:
                p.pts = packets[j + 1].pts  # decode order stays increasing, two frames share a pts
            c.mux(p)
        if other is not None:
            c.mux(other.encode(None))
    return path


def test_sar_and_interlacing_survive_in_the_output(tmp_path: Path) -> None:
    src = _encode(tmp_path / "in.mkv", 4, sar=Fraction(4, 3), interlaced=True)
    info = probe(src)
    assert info.sample_aspect_ratio == Fraction(4, 3) and info.field_order == 2  # the clip is what it claims
    out = tmp_path / "out.mkv"
    res = runner.invoke(app, ["redact", str(src), "-t", str(_tracks(tmp_path / "t.txt", 4)), "-o", str(out), "--quiet", *FAST])
    assert res.exit_code == 0, res.output
    got = probe(out)
    assert got.sample_aspect_ratio == Fraction(4, 3)
    assert got.field_order == 2
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 4 and all(f.interlaced_frame for f in frames)
    # a progressive, square-pixel clip stays so (nothing invented)
    plain = make_video(tmp_path / "p.mp4", 2, (W, H))
    res = runner.invoke(
        app, ["redact", str(plain), "-t", str(_tracks(tmp_path / "t2.txt", 2)), "-o", str(tmp_path / "p-out.mp4"), "--quiet", *FAST]
    )
    assert res.exit_code == 0, res.output
    p = probe(tmp_path / "p-out.mp4")
    assert p.sample_aspect_ratio is None and p.field_order in (0, 1)


def test_duplicate_timestamps_are_blamed_on_the_input(tmp_path: Path) -> None:
    src = _encode(tmp_path / "dup.mp4", 4, dup_pts_at=1)
    with av.open(str(src)) as c:
        pts = [f.pts for f in c.decode(video=0)]
    assert len(set(pts)) < len(pts)  # the clip does repeat a timestamp
    out = tmp_path / "out.mp4"
    res = runner.invoke(app, ["redact", str(src), "-t", str(_tracks(tmp_path / "t.txt", 4)), "-o", str(out), "--quiet", *FAST])
    assert res.exit_code == 2, res.output
    line = res.output.strip().splitlines()[-1]
    assert "dup.mp4" in line and "input has duplicate or backwards timestamps" in line, line
    assert "out.mp4" not in line
    assert not out.exists()


def test_second_video_stream_is_reported(tmp_path: Path) -> None:
    src = _encode(tmp_path / "two.mkv", 3, second_stream=True)
    out, report = tmp_path / "out.mkv", tmp_path / "r.json"
    res = runner.invoke(
        app, ["redact", str(src), "-t", str(_tracks(tmp_path / "t.txt", 3)), "-o", str(out), "--report", str(report), *FAST]
    )
    assert res.exit_code == 0, res.output
    assert "video stream 1 (h264 32x24) of the input is not in the output" in res.output
    assert json.loads(report.read_text())["warnings"] == [
        "video stream 1 (h264 32x24) of the input is not in the output (only the first video stream is masked)"
    ]
    with av.open(str(out)) as c:
        assert len(c.streams.video) == 1
