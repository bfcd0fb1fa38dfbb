"""Regression tests of issue 7's classes, each on a file the test builds (tests/videos.py).

The promise: exit 0 => every detection (on a decoded frame) is covered in the decoded output;
any failure => exit 2 (user) or 1 (bug), one line on stderr, nothing at the output path, no temp
file left, every input untouched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner
from service_helpers import wait_for
from videos import audio_packets, dark, decode, lie_about_frame_count, make_video

import sammask.pipeline as pipeline
from sammask.cli import app
from sammask.errors import MediaError, NothingMaskedError, OutputPathError, SegmentationError
from sammask.masking.options import Effect, MaskingOptions, MaskMode
from sammask.media.types import EncodeOptions
from sammask.pipeline import redact
from sammask.segmentation import FrameMasks, Segmenter
from sammask.settings import RedactSettings

FAST = ["--preset", "ultrafast", "--segmenter", "box", "--effect", "solid", "--dilate", "0", "-q"]
SOLID = RedactSettings(masking=MaskingOptions(effect=Effect.SOLID, dilate=0), segmenter="box", encode=EncodeOptions(preset="ultrafast"))


def cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_error_line(res) -> str:
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("sammask: error:"), res.output
    return lines[0]


def mot(path: Path, *rows: str) -> Path:
    path.write_text("".join(r + "\n" for r in rows))
    return path


def only(folder: Path, *names: str) -> None:
    """The folder holds exactly these names (no output, no temp file)."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    return make_video(tmp_path / "in.mp4", 12, (64, 48))


# --- class 2: frame counts from headers are not facts --------------------------------------


@pytest.mark.parametrize("lenient", [False, True])
def test_lying_header_count_never_drops_frames_that_exist(tmp_path: Path, monkeypatch, lenient: bool) -> None:
    src = make_video(tmp_path / "frag.mp4", 24, fragmented=True)
    real_probe = pipeline.probe
    monkeypatch.setattr(pipeline, "probe", lambda p: replace(real_probe(p), num_frames=5, num_frames_exact=True))
    tracks = mot(tmp_path / "t.txt", "21,1,10,10,20,20")  # frame_idx 20 exists (24 decoded)
    rep = redact(src, tracks, tmp_path / "o.mp4", replace(SOLID, lenient=lenient))
    assert rep.frames == 24 and rep.masked_track_frames == 1 and rep.dropped == {}
    assert dark(decode(tmp_path / "o.mp4")[20])[10:30, 10:30].all()


@pytest.mark.parametrize("flags", [[], ["--lenient"]])
def test_avi_whose_header_says_6_frames_of_12(tmp_path: Path, flags: list[str]) -> None:
    from sammask.media import probe

    src = lie_about_frame_count(make_video(tmp_path / "in.avi", 12), 6)
    assert (probe(src).num_frames, probe(src).num_frames_exact) == (6, True)  # the header lies
    tracks = mot(tmp_path / "t.txt", "11,1,10,10,20,20", "12,1,30,20,20,20")  # frame_idx 10 and 11
    res = cli("redact", src, "-t", tracks, "-o", tmp_path / "o.mp4", "--report", tmp_path / "r.json", *flags, *FAST)
    assert res.exit_code == 0, res.output
    out = decode(tmp_path / "o.mp4")
    assert len(out) == 12 and dark(out[10])[10:30, 10:30].all() and dark(out[11])[20:40, 30:50].all()
    assert json.loads((tmp_path / "r.json").read_text())["dropped"] == {}


def test_lenient_without_container_count_drops_past_end_after_decoding(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mkv", 8)
    tracks = mot(tmp_path / "t.txt", "2,1,10,10,20,20", "30,1,10,10,20,20")
    res = cli("redact", src, "-t", tracks, "-o", tmp_path / "o.mkv", "--lenient", "--report", tmp_path / "r.json", *FAST)
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "r.json").read_text())["dropped"] == {"past_end": 1}
    res = cli("redact", src, "-t", tracks, "-o", tmp_path / "o2.mkv", *FAST)
    assert res.exit_code == 2 and "decoded only 8 frames" in one_error_line(res)
    assert not (tmp_path / "o2.mkv").exists()


# --- class 3: --lenient never drops a maskable box ----------------------------------------


def test_lenient_duplicates_are_both_masked(tmp_path: Path, clip: Path) -> None:
    tracks = mot(tmp_path / "t.txt", "1,1,2,2,10,10", "1,1,40,20,10,10")
    res = cli("redact", clip, "-t", tracks, "-o", tmp_path / "o.mp4", "--lenient", "--report", tmp_path / "r.json", *FAST)
    assert res.exit_code == 0, res.output
    f0 = dark(decode(tmp_path / "o.mp4")[0])
    assert f0[2:12, 2:12].all() and f0[20:30, 40:50].all()
    assert json.loads((tmp_path / "r.json").read_text())["repaired"] == {"duplicate": 1}
    res = cli("redact", clip, "-t", tracks, "-o", tmp_path / "o2.mp4", *FAST)
    assert res.exit_code == 2 and "--lenient masks both" in one_error_line(res)


@pytest.mark.parametrize("flags", [[], ["--lenient"]])
def test_untracked_detector_rows_are_refused_in_both_modes(tmp_path: Path, clip: Path, flags: list[str]) -> None:
    tracks = mot(tmp_path / "det.txt", "1,1,2,2,10,10", "2,-1,20,20,10,10,0.9,-1,-1,-1")
    res = cli("redact", clip, "-t", tracks, "-o", tmp_path / "o.mp4", *flags, *FAST)
    assert res.exit_code == 2 and "untracked" in one_error_line(res)
    only(tmp_path, "in.mp4", "det.txt")


def test_self_intersecting_polygon_is_masked_by_its_box(tmp_path: Path, clip: Path) -> None:
    star = [[32 + 14 * np.cos(a), 24 + 14 * np.sin(a)] for a in np.arange(5) * 4 * np.pi / 5]
    doc = {
        "format": "sammask-tracks",
        "version": 1,
        "frames": [
            {
                "frame_idx": 3,
                "detections": [
                    {"track_id": 1, "type": 4, "polygon": star},
                    {"track_id": 2, "type": 4, "polygon": [[2, 2], [20, 20], [2, 20], [20, 2]]},
                ],
            }
        ],
    }
    tracks = tmp_path / "t.json"
    tracks.write_text(json.dumps(doc))
    rep = redact(clip, tracks, tmp_path / "o.mp4", SOLID)
    f3 = dark(decode(tmp_path / "o.mp4")[3])
    xs, ys = [p[0] for p in star], [p[1] for p in star]
    x0, y0, x1, y1 = int(min(xs)), int(min(ys)), int(np.ceil(max(xs))), int(np.ceil(max(ys)))
    assert f3[24, 32] and f3[y0:y1, x0:x1].all()  # the pentagram's centre and its whole box
    assert f3[2:20, 2:20].all()  # the bow-tie's box
    assert rep.repaired == {"polygon_as_box": 2}


# --- class 4: nothing masked is not success -------------------------------------------------


def test_all_rows_dropped_is_an_error(tmp_path: Path, clip: Path) -> None:
    tracks = mot(tmp_path / "t.txt", "1,1,500,500,10,10", "2,1,600,10,10,10")
    res = cli("redact", clip, "-t", tracks, "-o", tmp_path / "o.mp4", "--lenient", *FAST)
    assert res.exit_code == 2 and "dropped" in one_error_line(res)
    only(tmp_path, "in.mp4", "t.txt")


def test_mode_selecting_nothing_is_an_error(tmp_path: Path, clip: Path) -> None:
    tracks = mot(tmp_path / "t.txt", "1,1,5,5,10,10")
    res = cli("redact", clip, "-t", tracks, "-o", tmp_path / "o.mp4", "--mode", "unselected", *FAST)
    assert res.exit_code == 2 and "--mode unselected" in one_error_line(res)
    with pytest.raises(NothingMaskedError):
        redact(clip, tracks, tmp_path / "o.mp4", replace(SOLID, masking=MaskingOptions(mode=MaskMode.UNSELECTED)))
    only(tmp_path, "in.mp4", "t.txt")


def test_empty_tracks_file_is_a_reported_pass_through(tmp_path: Path, clip: Path) -> None:
    tracks = mot(tmp_path / "t.txt")
    res = cli("redact", clip, "-t", tracks, "-o", tmp_path / "o.mp4", "--report", tmp_path / "r.json", *FAST)
    assert res.exit_code == 0 and "pass-through" in res.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["masked_track_frames"] == 0 and rep["rows"] == 0 and rep["frames"] == 12
    assert not dark(decode(tmp_path / "o.mp4")[0]).any()


# --- class 5: decode errors always fail the run ---------------------------------------------


class WrappingSegmenter(Segmenter):
    """Turns any exception from the frame stream into a SegmentationError (a plausible bug)."""

    name = "wrapping"

    def __init__(self, swallow: bool = False) -> None:
        self.swallow = swallow

    def segment(self, frames):
        try:
            for fp in frames:
                yield FrameMasks(fp.frame_idx, {})
        except Exception as exc:  # simulating a careless segmenter
            if self.swallow:
                return
            raise SegmentationError(f"segmenter wrapped: {exc}") from exc


@pytest.mark.parametrize("swallow", [False, True])
def test_decode_error_fails_whatever_the_segmenter_does(tmp_path: Path, monkeypatch, swallow: bool) -> None:
    src = make_video(tmp_path / "in.mp4", 12)
    real_iter = pipeline.VideoReader.__iter__

    def failing(self):
        for frame in real_iter(self):
            if frame.frame_idx == 6:
                raise MediaError("simulated corrupt middle at frame 6")
            yield frame

    monkeypatch.setattr(pipeline.VideoReader, "__iter__", failing)
    tracks = mot(tmp_path / "t.txt", "1,1,5,5,10,10")
    with pytest.raises(MediaError, match="frame 6"):
        redact(src, tracks, tmp_path / "o.mp4", SOLID, segmenter=WrappingSegmenter(swallow))
    only(tmp_path, "in.mp4", "t.txt")


# --- class 6: files are never destroyed -----------------------------------------------------


def test_output_equal_to_an_input_is_refused(tmp_path: Path, clip: Path) -> None:
    tracks = mot(tmp_path / "t.txt", "1,1,5,5,10,10")
    os.link(clip, tmp_path / "hard.mp4")
    (tmp_path / "sym.mp4").symlink_to(clip)
    before = clip.read_bytes(), tracks.read_bytes()
    for out in (clip, tmp_path / "hard.mp4", tmp_path / "sym.mp4", tmp_path / "." / "in.mp4"):
        for extra in ([], ["-y"]):
            res = cli("redact", clip, "-t", tracks, "-o", out, *extra, *FAST)
            assert res.exit_code == 2 and "destroy" in one_error_line(res), (out, extra)
    for report in (clip, tracks):
        res = cli("redact", clip, "-t", tracks, "-o", tmp_path / "o.mp4", "--report", report, "-y", *FAST)
        assert res.exit_code == 2 and "--report" in one_error_line(res)
    res = cli("redact", clip, "-t", tracks, "-o", tmp_path / "o.mp4", "--report", tmp_path / "o.mp4", *FAST)
    assert res.exit_code == 2 and "same file" in one_error_line(res)
    (tmp_path / "m").mkdir()
    res = cli(
        "redact",
        clip,
        "-t",
        tracks,
        "-o",
        tmp_path / "o.mp4",
        "--report",
        tmp_path / "m" / "meta.json",
        "--save-masks",
        tmp_path / "m",
        *FAST,
    )
    assert res.exit_code == 2 and "--save-masks" in one_error_line(res)
    assert (clip.read_bytes(), tracks.read_bytes()) == before
    only(tmp_path, "in.mp4", "t.txt", "hard.mp4", "sym.mp4", "m")
    only(tmp_path / "m")


def test_existing_output_needs_overwrite(tmp_path: Path, clip: Path) -> None:
    tracks = mot(tmp_path / "t.txt", "1,1,5,5,10,10")
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    res = cli("redact", clip, "-t", tracks, "-o", out, *FAST)
    assert res.exit_code == 2 and "-y/--overwrite" in one_error_line(res) and out.read_bytes() == b"precious"
    res = cli("redact", clip, "-t", tracks, "-o", out, "-y", *FAST)
    assert res.exit_code == 0 and len(decode(out)) == 12


@pytest.mark.parametrize(
    "make_out, needle",
    [
        (lambda d: d / "missing" / "o.mp4", "does not exist"),
        (lambda d: d / "t.txt" / "o.mp4", "not a folder"),
        (lambda d: d / "o.txt", "not a single-file container"),
        (lambda d: d / ("x" * 252 + ".mp4"), "255-byte"),
    ],
)
def test_unusable_output_locations_fail_before_decoding(tmp_path: Path, clip: Path, monkeypatch, make_out, needle) -> None:
    tracks = mot(tmp_path / "t.txt", "1,1,5,5,10,10")
    monkeypatch.setattr(pipeline.VideoReader, "__iter__", lambda self: pytest.fail("decoding started"))
    res = cli("redact", clip, "-t", tracks, "-o", make_out(tmp_path), *FAST)
    assert res.exit_code == 2 and needle in one_error_line(res)
    only(tmp_path, "in.mp4", "t.txt")


def test_long_output_name_within_the_limit_works(tmp_path: Path, clip: Path) -> None:
    tracks = mot(tmp_path / "t.txt", "1,1,5,5,10,10")
    out = tmp_path / ("é" * 125 + ".mp4")  # 254 bytes: the temp name must be shortened
    rep = tmp_path / ("r" * 250 + ".json")
    res = cli("redact", clip, "-t", tracks, "-o", out, "--report", rep, *FAST)
    assert res.exit_code == 0, res.output
    only(tmp_path, "in.mp4", "t.txt", out.name, rep.name)


def test_audio_the_container_cannot_hold_is_refused_before_decoding(tmp_path: Path, monkeypatch) -> None:
    src = make_video(tmp_path / "in.mkv", 12, audio="pcm_u8")
    tracks = mot(tmp_path / "t.txt", "1,1,5,5,10,10")
    monkeypatch.setattr(pipeline.VideoReader, "__iter__", lambda self: pytest.fail("decoding started"))
    res = cli("redact", src, "-t", tracks, "-o", tmp_path / "o.mp4", *FAST)
    assert res.exit_code == 2 and "pcm_u8" in one_error_line(res) and ".mkv" in one_error_line(res)
    only(tmp_path, "in.mkv", "t.txt")


def test_report_failure_leaves_no_video(tmp_path: Path, clip: Path, monkeypatch) -> None:
    from sammask.errors import OutputWriteError

    def broken(path, text):
        raise OutputWriteError(f"cannot write {path}: disk full (simulated)")

    monkeypatch.setattr(pipeline, "write_text_atomic", broken)
    tracks = mot(tmp_path / "t.txt", "1,1,5,5,10,10")
    res = cli("redact", clip, "-t", tracks, "-o", tmp_path / "o.mp4", "--report", tmp_path / "r.json", *FAST)
    assert res.exit_code == 2 and "disk full" in one_error_line(res)
    only(tmp_path, "in.mp4", "t.txt")


def test_path_checks_are_one_library_function(tmp_path: Path, clip: Path) -> None:
    from sammask.spec.gate import check_output_paths

    check_output_paths(clip, tmp_path / "o.mkv", report_path=tmp_path / "r.json", save_masks=tmp_path / "m")
    with pytest.raises(OutputPathError, match="--save-masks"):
        check_output_paths(clip, tmp_path / "o.mp4", save_masks=clip)
    with pytest.raises(OutputPathError, match="already exists"):
        check_output_paths(tmp_path / "x.mp4", clip)


# --- class 7: signals -----------------------------------------------------------------------


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_signal_removes_temp_file_and_exits_128_plus_signal(tmp_path: Path, sig: int, code: int) -> None:
    src = make_video(tmp_path / "in.mp4", 1500, (320, 240))
    tracks = mot(tmp_path / "t.txt", *(f"{i},1,10,10,50,50" for i in range(1, 1500)))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # `python -m sammask`: the checkout this interpreter imports, not whatever `sammask` is on PATH
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sammask",
            "redact",
            str(src),
            "-t",
            str(tracks),
            "-o",
            str(out_dir / "o.mp4"),
            "--segmenter",
            "box",
            "--preset",
            "medium",
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def partial_file_written() -> bool:  # some frames encoded: a partial temp file with bytes in it
        return any(p.stat().st_size > 0 for p in out_dir.iterdir()) or proc.poll() is not None

    wait_for(partial_file_written, 120, 0.05, "a partial output file")
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert [ln for ln in err.splitlines() if ln.strip()] == [err.strip()] and "interrupted" in err
    assert list(out_dir.iterdir()) == []


# --- class 8: audio is copied whole ---------------------------------------------------------


def test_audio_after_the_last_video_frame_is_kept(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", 10, audio="aac", audio_seconds=3.0)  # 1 s video, 3 s audio
    tracks = mot(tmp_path / "t.txt", "1,1,5,5,10,10")
    redact(src, tracks, tmp_path / "o.mp4", SOLID)
    got, want = audio_packets(tmp_path / "o.mp4"), audio_packets(src)
    assert len(want) > 40 and got == want
