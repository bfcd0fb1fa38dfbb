"""Issue 14, class 5: tracks files with duplicate keys or huge numbers are refused in one line.

Duplicate JSON keys (``"frames"`` twice: last-one-wins would pass every object through) are
refused naming the key; a 401-digit integer in ``bbox``, ``score``, ``polygon`` or an index exits
2 with one short line (it was an internal error). Hypothesis: any duplicated key anywhere in a
tracks document is refused; any integer in a box is read or refused, never an internal error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner
from videos import make_video

from sammask.cli import app
from sammask.errors import TracksFormatError
from sammask.io import DuplicateKeyError, loads_json
from sammask.tracks.jsonfmt import read_json
from sammask.tracks.supervision import read_supervision

runner = CliRunner()
HUGE = "9" * 401
DET = '{"track_id": 1, "bbox": [10, 10, 30, 30]}'


def _doc(frames: str) -> str:
    return '{"format": "sammask-tracks", "version": 1, "frames": ' + frames + "}"


def _one_line(res, *needles: str) -> str:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("sammask: error: "), res.output
    assert len(lines[0]) < 300, lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "text,key",
    [
        # "frames" twice: the real list, then [] (last one wins = nothing masked)
        ('{"format": "sammask-tracks", "version": 1, "frames": [{"frame_idx": 0, "detections": [' + DET + ']}], "frames": []}', "frames"),
        (_doc('[{"frame_idx": 0, "detections": [{"track_id": 1, "bbox": [10, 10, 30, 30], "bbox": [0, 0, 1, 1]}]}]'), "bbox"),
        (_doc('[{"frame_idx": 0, "frame_idx": 1, "detections": []}]'), "frame_idx"),
    ],
)
def test_duplicate_key_is_refused_naming_it(tmp_path: Path, text: str, key: str) -> None:
    video = make_video(tmp_path / "in.mp4", 2)
    tracks = tmp_path / "t.json"
    tracks.write_text(text)
    res = runner.invoke(app, ["redact", str(video), "-t", str(tracks), "-o", str(tmp_path / "o.mp4"), "--quiet", "--segmenter", "box"])
    _one_line(res, f"duplicate key '{key}'", "t.json")
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize(
    "det",
    [
        '{"track_id": 1, "bbox": [10, 10, ' + HUGE + ", 30]}",
        '{"track_id": 1, "bbox": [10, 10, 30, 30], "score": ' + HUGE + "}",
        '{"track_id": 1, "bbox": [10, 10, 30, 30], "score": -' + HUGE + "}",
        '{"track_id": 1, "type": 4, "polygon": [[1, 1], [' + HUGE + ", 2], [3, 9]]}",
        '{"track_id": ' + HUGE + ', "bbox": [10, 10, 30, 30]}',
        '{"track_id": 1, "bbox": [10, 10, 30, 30], "type": ' + HUGE + "}",
        '{"track_id": 1, "bbox": [10, 10, 30, 30], "object": ' + HUGE + ".5}",
    ],
)
def test_huge_integer_exits_2_in_one_short_line(tmp_path: Path, det: str) -> None:
    video = make_video(tmp_path / "in.mp4", 2)
    tracks = tmp_path / "t.json"
    tracks.write_text(_doc('[{"frame_idx": 0, "detections": [' + det + "]}]"))
    res = runner.invoke(app, ["redact", str(video), "-t", str(tracks), "-o", str(tmp_path / "o.mp4"), "--quiet", "--segmenter", "box"])
    _one_line(res, "t.json")
    assert not (tmp_path / "o.mp4").exists()


def test_huge_frame_index_and_supervision_duplicates(tmp_path: Path) -> None:
    p = tmp_path / "t.json"
    p.write_text(_doc('[{"frame_idx": ' + HUGE + ', "detections": [' + DET + "]}]"))
    with pytest.raises(TracksFormatError, match="frame_idx"):
        read_json(p)
    s = tmp_path / "s.json"
    s.write_text(
        '[{"frame_index": 0, "frame_index": 5, "x_min": 1, "y_min": 1, "x_max": 5, "y_max": 5, '
        '"class_id": 0, "confidence": 1, "tracker_id": 1}]'
    )
    with pytest.raises(TracksFormatError, match="duplicate key 'frame_index'"):
        read_supervision(s)
    s.write_text(
        '[{"frame_index": 0, "x_min": ' + HUGE + ', "y_min": 1, "x_max": 5, "y_max": 5, "class_id": 0, "confidence": 1, "tracker_id": 1}]'
    )
    with pytest.raises(TracksFormatError) as info:
        read_supervision(s)
    assert len(str(info.value)) < 300


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6), _json, min_size=1, max_size=5), st.data())
def test_any_repeated_key_is_refused_and_unique_keys_parse_as_json_does(doc: dict, data) -> None:
    text = json.dumps(doc)
    assert loads_json(text) == json.loads(text)
    key = data.draw(st.sampled_from(sorted(doc)))
    dup = text[:-1] + ", " + json.dumps(key) + ": " + json.dumps(data.draw(_json)) + "}"
    with pytest.raises(DuplicateKeyError) as info:
        loads_json(dup)
    assert info.value.key == key


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(min_value=-(10**450), max_value=10**450) | st.floats(allow_nan=False), min_size=4, max_size=4),
    st.integers(min_value=-(10**450), max_value=10**450) | st.floats(),
)
def test_any_number_in_a_box_or_score_is_read_or_refused_never_an_internal_error(tmp_path_factory, box, score) -> None:
    p = tmp_path_factory.mktemp("t") / "t.json"
    det = {"track_id": 1, "bbox": box, "score": score}
    p.write_text(_doc(json.dumps([{"frame_idx": 0, "detections": [det]}])))
    try:
        tracks = read_json(p)
    except TracksFormatError as exc:
        assert len(str(exc)) - len(str(p)) < 300, str(exc)  # a short line, whatever the number
        return
    (d,) = tracks.on_frame(0)
    assert all(isinstance(c, float) and abs(c) < float("inf") for c in d.bbox)
    assert 0.0 <= d.score <= 1.0
