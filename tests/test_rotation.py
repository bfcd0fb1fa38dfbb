"""Tracks on rotated and flipped clips: display (upright) coordinates by default, stored on request.

Every test builds its clip: a bright object on a dark stored frame, a display matrix (PyAV's
``set_display_rotation`` / ``set_display_matrix``), a box made the way a user's tracker makes it
(from OpenCV's auto-rotated frame, or from the upright frame FFmpeg defines for a flip), and
checks the promise on the decoded output with ``--effect solid``: every object pixel dark.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner
from videos import OBJECT, OBJECT_FRAME, make_object_clip, redact_argv

from sammask.cli import app
from sammask.errors import MediaError
from sammask.geometry import DisplayTransform, display_transform, stored_transform
from sammask.media import probe
from sammask.tracks import Detection, DetectionType, Tracks

runner = CliRunner()
W, H = OBJECT_FRAME
ONE = 1 << 16
OBJ = OBJECT  # rows 6..21, columns 60..83 of the stored frame
_make_clip = make_object_clip


def _opencv_box(path: Path) -> tuple[int, int, int, int]:
    """The object's box as a tracker reading the clip with OpenCV (auto-orientation on) finds it."""
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read()
    cap.release()
    assert ok
    ys, xs = np.nonzero(frame[..., 1] > 128)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _write_mot(path: Path, box: tuple[float, float, float, float], frames: int = 4) -> Path:
    x1, y1, x2, y2 = box
    path.write_text("".join(f"{i + 1},1,{x1},{y1},{x2 - x1},{y2 - y1},1,-1,-1,-1\n" for i in range(frames)))
    return path


def _redact(src: Path, tracks: Path, out: Path, *extra: str):
    return runner.invoke(
        app,
        redact_argv(
            src,
            tracks,
            out,
            "--segmenter",
            "box",
            "--effect",
            "solid",
            "--dilate",
            "0",
            "--preset",
            "ultrafast",
            "--quiet",
            *extra,
        ),
    )


def _max_object_value(out: Path, obj: np.ndarray) -> int:
    """Brightest object pixel over all decoded output frames (stored orientation, as written)."""
    worst = 0
    with av.open(str(out)) as c:
        for frame in c.decode(video=0):
            img = frame.to_ndarray(format="rgb24")
            assert img.shape[:2] == obj.shape
            worst = max(worst, int(img[obj].max()))
    return worst


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_opencv_display_box_masks_object_on_rotated_clip(tmp_path: Path, rotation: int) -> None:
    src = tmp_path / "rot.mp4"
    obj = _make_clip(src, rotation=rotation)
    box = _opencv_box(src)  # display coordinates, as OpenCV / ffmpeg hand them to a tracker
    if rotation != 180:
        assert (box[2] - box[0], box[3] - box[1]) == (OBJ[0].stop - OBJ[0].start, OBJ[1].stop - OBJ[1].start)
    tracks = _write_mot(tmp_path / "t.txt", box)
    out, report = tmp_path / "out.mp4", tmp_path / "r.json"
    res = _redact(src, tracks, out, "--report", str(report))
    assert res.exit_code == 0, res.output
    assert _max_object_value(out, obj) < 60  # every object pixel of every frame is solid-filled
    rep = json.loads(report.read_text())
    assert rep["tracks_space"] == "display"
    assert rep["tracks_transform"] == {90: "rotate 90 counter-clockwise", 180: "rotate 180", 270: "rotate 90 clockwise"}[rotation]
    assert probe(out).rotation == rotation  # the output keeps the display matrix


def test_stored_space_is_taken_as_is_and_display_box_in_stored_space_leaks(tmp_path: Path) -> None:
    src = tmp_path / "rot.mp4"
    obj = _make_clip(src, rotation=270)  # a phone portrait clip
    stored_box = (OBJ[1].start, OBJ[0].start, OBJ[1].stop, OBJ[0].stop)
    out = tmp_path / "s.mp4"
    res = _redact(src, _write_mot(tmp_path / "s.txt", stored_box), out, "--tracks-space", "stored")
    assert res.exit_code == 0, res.output
    assert _max_object_value(out, obj) < 60
    # The bug this guards against: an OpenCV-made box applied to the stored frame misses the object.
    out2 = tmp_path / "leak.mp4"
    res = _redact(src, _write_mot(tmp_path / "d.txt", _opencv_box(src)), out2, "--tracks-space", "stored")
    assert res.exit_code == 0, res.output
    assert _max_object_value(out2, obj) > 200


@pytest.mark.parametrize(
    "name,abcd",
    [("horizontal flip", (-1, 0, 0, 1)), ("vertical flip", (1, 0, 0, -1)), ("transpose", (0, 1, 1, 0)), ("anti-transpose", (0, -1, -1, 0))],
)
def test_flipped_clip_display_polygon_and_box(tmp_path: Path, name: str, abcd: tuple[int, int, int, int]) -> None:
    a, b, c, d = abcd
    src = tmp_path / "flip.mp4"
    obj = _make_clip(src, matrix=[a * ONE, b * ONE, 0, c * ONE, d * ONE, 0, 0, 0, 1 << 30])
    info = probe(src)
    t = display_transform(info.display_matrix, info.width, info.height)
    assert t.name == name
    # The upright frame FFmpeg's autorotate shows (transpose / hflip / vflip): the stored box mapped.
    x1, y1, x2, y2 = t.box_to_display((OBJ[1].start, OBJ[0].start, OBJ[1].stop, OBJ[0].stop))
    poly = [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]
    tracks = tmp_path / "t.json"
    tracks.write_text(
        json.dumps(
            {
                "format": "sammask-tracks",
                "version": 1,
                "frames": [{"frame_idx": i, "detections": [{"track_id": 1, "type": 4, "polygon": poly}]} for i in range(4)],
            }
        )
    )
    out = tmp_path / "out.mp4"
    res = _redact(src, tracks, out)
    assert res.exit_code == 0, res.output
    assert _max_object_value(out, obj) < 60


def test_free_angle_matrix_is_refused_in_display_space(tmp_path: Path) -> None:
    src = tmp_path / "r30.mp4"
    obj = _make_clip(src, rotation=30)
    tracks = _write_mot(tmp_path / "t.txt", (OBJ[1].start, OBJ[0].start, OBJ[1].stop, OBJ[0].stop))
    out = tmp_path / "out.mp4"
    res = _redact(src, tracks, out)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sammask: error:") and "--tracks-space stored" in lines[0]
    assert not out.exists()
    res = _redact(src, tracks, out, "--tracks-space", "stored")
    assert res.exit_code == 0, res.output
    assert _max_object_value(out, obj) < 60


def test_transform_round_trips_and_maps_pixels_onto_pixels() -> None:
    for key in [(1, 0, 0, 1), (0, 1, -1, 0), (-1, 0, 0, -1), (0, -1, 1, 0), (-1, 0, 0, 1), (1, 0, 0, -1), (0, 1, 1, 0), (0, -1, -1, 0)]:
        t = DisplayTransform(*key, width=W, height=H)
        dw, dh = t.display_size
        corners = t.points_to_display([(0, 0), (W, 0), (0, H), (W, H)])
        assert {x for x, _ in corners} == {0, dw} and {y for _, y in corners} == {0, dh}
        box = (60.0, 6.0, 84.0, 22.0)
        assert t.box_to_stored(t.box_to_display(box)) == box
    assert stored_transform("stored", [0, ONE, 0, -ONE, 0, 0, 0, 0, 1 << 30], W, H).is_identity
    assert display_transform(None, W, H).is_identity


def test_to_stored_keeps_every_count_of_the_tracks() -> None:
    det = Detection(0, 1, (60.0, 6.0, 84.0, 22.0))
    poly = Detection(0, 2, (0.0, 0.0, 10.0, 10.0), DetectionType.POLYGON, polygon=((0.0, 0.0), (10.0, 0.0), (0.0, 10.0)))
    tracks = Tracks.from_detections([det, poly], source="t.json")
    tracks.dropped, tracks.repaired, tracks.clipped, tracks.rows = {"outside_frame": 2}, {"duplicate": 1}, 3, 9
    t = DisplayTransform(0, 1, -1, 0, width=W, height=H)  # rotate 90 clockwise: display is H x W
    out = tracks.to_stored(t)
    assert (out.source, out.dropped, out.repaired, out.clipped, out.rows) == ("t.json", {"outside_frame": 2}, {"duplicate": 1}, 3, 9)
    a, b = out.on_frame(0)
    assert a.bbox == t.box_to_stored(det.bbox) and b.polygon == t.points_to_stored(poly.polygon)
    assert tracks.on_frame(0)[0].bbox == det.bbox  # the input is not changed


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_image_to_display_is_the_frame_opencv_shows(tmp_path: Path, rotation: int) -> None:
    src = tmp_path / "rot.mp4"
    _make_clip(src, rotation=rotation, frames=1)
    info = probe(src)
    t = display_transform(info.display_matrix, info.width, info.height)
    with av.open(str(src)) as c:
        stored = next(c.decode(video=0)).to_ndarray(format="rgb24")
    upright = t.image_to_display(stored)
    cap = cv2.VideoCapture(str(src))  # auto-orientation on: the frame a detector would see
    ok, frame = cap.read()
    cap.release()
    assert ok and upright.shape == frame.shape and upright.flags.c_contiguous
    assert np.array_equal(upright[..., 1] > 128, frame[..., 1] > 128)  # the same pixels, object included


def test_image_to_display_moves_each_pixel_where_points_to_display_puts_its_centre() -> None:
    rng = np.random.default_rng(1)
    stored = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    for key in [(1, 0, 0, 1), (0, 1, -1, 0), (-1, 0, 0, -1), (0, -1, 1, 0), (-1, 0, 0, 1), (1, 0, 0, -1), (0, 1, 1, 0), (0, -1, -1, 0)]:
        t = DisplayTransform(*key, width=W, height=H)
        upright = t.image_to_display(stored)
        assert (upright.shape[1], upright.shape[0]) == t.display_size
        ys, xs = np.mgrid[0:H, 0:W]
        centres = t.points_to_display(list(zip((xs + 0.5).ravel(), (ys + 0.5).ravel())))
        dx = np.array([int(np.floor(x)) for x, _ in centres]).reshape(H, W)
        dy = np.array([int(np.floor(y)) for _, y in centres]).reshape(H, W)
        assert np.array_equal(upright[dy, dx], stored), t.name
        # a box found on the upright frame maps back onto the same stored pixels
        box = (3.0, 5.0, 17.0, 11.0)
        x0, y0, x1, y1 = (int(v) for v in t.box_to_stored(box))
        up = np.zeros(upright.shape[:2], bool)
        up[5:11, 3:17] = True
        back = np.zeros((H, W), bool)
        back[y0:y1, x0:x1] = True
        assert np.array_equal(up[dy, dx], back), t.name
    with pytest.raises(MediaError, match="does not match"):
        DisplayTransform(0, 1, -1, 0, width=W, height=H).image_to_display(np.zeros((W, H, 3), np.uint8))


def test_to_display_inverts_to_stored() -> None:
    det = Detection(0, 1, (60.0, 6.0, 84.0, 22.0), class_name="face", score=0.5)
    tracks = Tracks.from_detections([det])
    for key in [(0, 1, -1, 0), (-1, 0, 0, -1), (0, -1, -1, 0)]:
        t = DisplayTransform(*key, width=W, height=H)
        assert tracks.to_display(t).to_stored(t).on_frame(0) == [det]
        assert tracks.to_display(t).on_frame(0)[0].bbox == t.box_to_display(det.bbox)
    assert tracks.to_display(DisplayTransform(width=W, height=H)) is tracks
