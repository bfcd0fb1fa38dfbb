"""Issue 14, class 5: mask files are checked against the video they are applied to.

A COCO RLE whose ``size`` is not the frame's is refused; every mask export records the video it
was made on (size, frames, SHA-256 of the file) and ``redact --masks`` refuses another video (or
no record) unless ``--masks-any-video``; hypothesis properties for the RLE codec and size check.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from typer.testing import CliRunner
from videos import decode, make_video

from sammask.cli import app
from sammask.errors import ExportError
from sammask.export import read_masks, write_masks
from sammask.export.applied import read_applied_meta
from sammask.export.rle import mask_to_rle, rle_to_mask
from sammask.export.coco import read_coco
from sammask.media import video_identity

runner = CliRunner()
W, H = 32, 24
FAST = ["--preset", "ultrafast", "--quiet", "--effect", "solid", "--dilate", "0"]


def _box(frames: int) -> list[tuple[int, dict[int, np.ndarray]]]:
    m = np.zeros((H, W), bool)
    m[4:14, 6:20] = True
    return [(i, {1: m}) for i in range(frames)]


def _run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def _one_line(res, *needles: str) -> str:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("sammask: error: "), res.output
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_masks_of_a_40_frame_video_are_refused_on_a_60_frame_video(tmp_path: Path) -> None:
    short = make_video(tmp_path / "short.mp4", 40, (W, H))
    long = make_video(tmp_path / "long.mp4", 60, (W, H), value=200)
    made = video_identity(short, width=W, height=H, frames=40)
    for fmt, name in (("coco", "m.json"), ("png", "ids")):
        masks = write_masks(_box(40), tmp_path / name, fmt, width=W, height=H, video=made)
        assert read_masks(masks).video == made
        out = tmp_path / f"o-{fmt}.mp4"
        _one_line(_run("redact", long, "--masks", masks, "-o", out, *FAST), "short.mp4", "40 vs 60 frames", "--masks-any-video")
        assert not out.exists()
        # the same masks on their own video: accepted
        assert _run("redact", short, "--masks", masks, "-o", out, *FAST).exit_code == 0
        out.unlink()
        # said explicitly: applied (frames 40..59 carry no mask, as the user accepted)
        res = _run("redact", long, "--masks", masks, "-o", out, *FAST, "--masks-any-video")
        assert res.exit_code == 0, res.output
        assert len(decode(out)) == 60


def test_masks_without_a_record_need_the_flag_and_save_masks_records_its_input(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 3, (W, H))
    bare = write_masks(_box(3), tmp_path / "m.json", "coco", width=W, height=H)  # no video recorded
    _one_line(_run("redact", clip, "--masks", bare, "-o", tmp_path / "o.mp4", *FAST), "do not record which video", "--masks-any-video")
    assert _run("redact", clip, "--masks", bare, "-o", tmp_path / "o.mp4", *FAST, "--masks-any-video").exit_code == 0
    res = _run("redact", clip, "--masks", bare, "-o", tmp_path / "o2.mp4", *FAST, "--masks-any-video", "--save-masks", tmp_path / "applied")
    assert res.exit_code == 0, res.output
    meta = read_applied_meta(tmp_path / "applied")
    assert meta.video == video_identity(clip, width=W, height=H, frames=3)
    # a saved-masks folder is accepted on its own video without the flag, refused on another
    assert _run("redact", clip, "--masks", tmp_path / "applied", "-o", tmp_path / "o3.mp4", *FAST).exit_code == 0
    other = make_video(tmp_path / "other.mp4", 3, (W, H), value=200)
    _one_line(_run("redact", other, "--masks", tmp_path / "applied", "-o", tmp_path / "o4.mp4", *FAST), "in.mp4")
    _one_line(
        _run("redact", clip, "-t", bare, "-o", tmp_path / "o5.mp4", *FAST, "--masks-any-video"),
        "--masks-any-video applies only with --masks",
    )


def _coco_with_size(path: Path, size: list) -> Path:
    rle = mask_to_rle(np.ones((H, W), bool))
    doc = {
        "images": [{"id": 1, "width": W, "height": H, "frame_idx": 0}],
        "annotations": [{"id": 1, "image_id": 1, "track_id": 1, "segmentation": {"size": size, "counts": rle["counts"]}}],
    }
    path.write_text(json.dumps(doc))
    return path


def test_coco_rle_of_another_size_is_refused(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "in.mp4", 2, (W, H))
    bad = _coco_with_size(tmp_path / "wh.json", [W, H])  # [W, H] for an H x W video
    _one_line(_run("redact", clip, "--masks", bad, "-o", tmp_path / "o.mp4", *FAST, "--masks-any-video"), "RLE size [32, 24]", "[24, 32]")
    assert not (tmp_path / "o.mp4").exists()
    dup = tmp_path / "dup.json"
    dup.write_text('{"images": [], "annotations": [], "images": []}')
    _one_line(_run("redact", clip, "--masks", dup, "-o", tmp_path / "o.mp4", *FAST, "--masks-any-video"), "duplicate key 'images'")


@settings(max_examples=100, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_rle_round_trip(mask: np.ndarray) -> None:
    assert np.array_equal(rle_to_mask(mask_to_rle(mask)), mask)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 40) | st.text(max_size=2) | st.none(), min_size=0, max_size=3))
def test_coco_rle_size_is_accepted_only_when_it_is_the_frame_size(tmp_path_factory, size) -> None:
    path = _coco_with_size(tmp_path_factory.mktemp("c") / "m.json", size)
    if size == [H, W]:
        (frame,) = list(read_coco(path).read())
        assert frame.masks[1].shape == (H, W) and frame.masks[1].all()
    else:
        with pytest.raises(ExportError, match="RLE size"):
            read_coco(path)
