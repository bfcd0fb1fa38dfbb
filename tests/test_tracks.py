"""Tracks input: MOT text and sammask JSON readers/writers, validation against the video."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from sammask.errors import ConfigError, InputFileError, OutputWriteError, TracksFormatError
from sammask.geometry import clip_polygon_to_frame, is_simple_polygon
from sammask.tracks import (
    Detection,
    DetectionType,
    Tracks,
    detect_format,
    read_json,
    read_mot,
    read_tracks,
    validate_tracks,
    write_json,
    write_mot,
    write_tracks,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "examples" / "tracks-example.json"


def _gt_rows(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", ndmin=2)


# --- real MOT ground truth -------------------------------------------------------------------


@pytest.mark.parametrize(("seq", "n_ids"), [("bus", 1), ("schoolgirls", 7)])
def test_read_real_gt(davis_seq, seq: str, n_ids: int) -> None:
    folder = davis_seq(seq)
    gt = folder / "gt.txt"
    lines = [ln for ln in gt.read_text().splitlines() if ln.strip()]
    rows = _gt_rows(gt)
    tracks = read_mot(gt)

    assert len(tracks) == len(lines) == len(rows)
    assert tracks.source == str(gt)
    assert tracks.dropped == {} and tracks.clipped == 0
    assert len(tracks.track_ids) == n_ids
    # 0-based frames: the last detection frame is the last mask frame of the sequence
    n_masks = len(list((folder / "masks").glob("*.png")))
    assert min(tracks.by_frame) == int(rows[:, 0].min()) - 1 == 0
    assert tracks.last_frame_idx == n_masks - 1
    got = {(d.frame_idx, d.track_id): d for d in tracks}
    assert len(got) == len(rows)
    for frame, tid, left, top, w, h in rows[:, :6]:
        det = got[(int(frame) - 1, int(tid))]
        assert det.bbox == (left, top, left + w, top + h)
        assert det.type is DetectionType.AUTO and det.selected and det.score == 1.0
        assert det.polygon is None


def test_real_gt_validates_against_its_video(davis_seq) -> None:
    # schoolgirls is 432x240 (davis2017-lowres) and has one mask per frame
    folder = davis_seq("schoolgirls")
    tracks = read_mot(folder / "gt.txt")
    n = len(list((folder / "masks").glob("*.png")))
    out = validate_tracks(tracks, 432, 240, n)
    assert len(out) == len(tracks) and out.dropped == {}
    # GT boxes are tight around the masks, so a box may touch but never leave the frame
    for d in out:
        assert 0 <= d.bbox[0] < d.bbox[2] <= 432 and 0 <= d.bbox[1] < d.bbox[3] <= 240


def test_mot_json_round_trip(davis_seq, tmp_path: Path) -> None:
    tracks = read_mot(davis_seq("schoolgirls") / "gt.txt")
    write_json(tracks, tmp_path / "t.json")
    back = read_tracks(tmp_path / "t.json")
    assert list(back) == list(tracks)
    assert back.by_frame == tracks.by_frame
    # and back to MOT: integer pixel boxes survive exactly
    write_mot(back, tmp_path / "t.txt")
    again = read_tracks(tmp_path / "t.txt")
    assert list(again) == list(tracks)
    assert np.array_equal(_gt_rows(tmp_path / "t.txt")[:, :6], _sorted_rows(davis_seq("schoolgirls") / "gt.txt"))


def _sorted_rows(gt: Path) -> np.ndarray:
    rows = _gt_rows(gt)[:, :6]
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def test_json_round_trip_all_fields(tmp_path: Path) -> None:
    dets = [
        Detection(0, 1, (1.25, 2.5, 10.125, 20.0), DetectionType.AUTO, True, 0.3),
        Detection(0, 2, (5.0, 5.0, 6.0, 7.0), DetectionType.USER_PICKED, False, 1.0),
        Detection(3, 7, (0.1, 0.2, 0.30000000000000004, 0.4), DetectionType.MANUAL_BOX, True, 0.0),
        Detection(3, 9, (1.0, 1.0, 9.0, 9.0), DetectionType.POLYGON, False, 0.5, ((1.0, 1.0), (9.0, 2.0), (5.0, 9.0))),
    ]
    tracks = Tracks.from_detections(dets)
    write_tracks(tracks, tmp_path / "a.json")
    back = read_json(tmp_path / "a.json")
    assert list(back) == dets
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["format"] == "sammask-tracks" and doc["version"] == 1
    assert [d["object"] for f in doc["frames"] for d in f["detections"]] == [1, 2, 1, 2]


def test_mot_variants(tmp_path: Path) -> None:
    p = tmp_path / "w.txt"
    p.write_text(
        "# a comment\n"
        "\n"
        "1 3 10 20 30 40 -1 -1 -1 -1 7 8\n"  # whitespace, extra columns
        "2,3,11.5,20,30,40,0.25\n"  # 7 columns, a score
        "2, 4, 0, 0, 5, 5,\n"  # spaces after commas, trailing comma, no conf
        "  3\t4\t1\t1\t2\t2\t7.5\n"  # tabs; score > 1 clamped
    )
    t = read_mot(p)
    assert [(d.frame_idx, d.track_id, d.bbox, d.score) for d in t] == [
        (0, 3, (10.0, 20.0, 40.0, 60.0), 1.0),
        (1, 3, (11.5, 20.0, 41.5, 60.0), 0.25),
        (1, 4, (0.0, 0.0, 5.0, 5.0), 1.0),
        (2, 4, (1.0, 1.0, 3.0, 3.0), 1.0),
    ]


def test_write_mot_refuses_what_it_cannot_store(tmp_path: Path) -> None:
    t = Tracks.from_detections([Detection(0, 1, (0, 0, 2, 2), DetectionType.MANUAL_BOX)])
    with pytest.raises(TracksFormatError, match="lossy"):
        write_mot(t, tmp_path / "x.txt")
    assert not (tmp_path / "x.txt").exists()
    write_mot(t, tmp_path / "x.txt", lossy=True)
    assert (tmp_path / "x.txt").read_text() == "1,1,0,0,2,2,1,-1,-1,-1\n"


# --- malformed input: message names file, place and field -----------------------------------

MOT_OK = "1,1,10,10,20,20,1,-1,-1,-1\n"
MOT_BAD = [
    ("columns", "1,1,10,10,20\n", "line 2", "columns"),
    ("non_numeric", "2,1,ten,10,20,20,1,-1,-1,-1\n", "line 2", "bb_left"),
    ("nan", "2,1,10,nan,20,20,1,-1,-1,-1\n", "line 2", "bb_top"),
    ("inf", "2,1,10,10,inf,20,1,-1,-1,-1\n", "line 2", "bb_width"),
    ("neg_width", "2,1,10,10,-3,20,1,-1,-1,-1\n", "line 2", "bb_width"),
    ("neg_height", "2,1,10,10,3,-20,1,-1,-1,-1\n", "line 2", "bb_height"),
    ("zero_size", "2,1,10,10,0,20,1,-1,-1,-1\n", "line 2", "bb_width"),
    ("frame0", "0,1,10,10,20,20,1,-1,-1,-1\n", "line 2", "frame"),
    ("frame_float", "1.5,1,10,10,20,20,1,-1,-1,-1\n", "line 2", "frame"),
    ("neg_id", "2,-1,10,10,20,20,1,-1,-1,-1\n", "line 2", "id"),
    ("duplicate", "1,1,30,30,5,5,1,-1,-1,-1\n", "line 2", "id"),
    ("nan_conf", "2,1,10,10,20,20,nan,-1,-1,-1\n", "line 2", "conf"),
]


@pytest.mark.parametrize(("name", "row", "where", "field"), MOT_BAD, ids=[c[0] for c in MOT_BAD])
def test_mot_bad_input(tmp_path: Path, name: str, row: str, where: str, field: str) -> None:
    p = tmp_path / f"bad_{name}.txt"
    p.write_text(MOT_OK + row)
    with pytest.raises(TracksFormatError) as ei:
        read_tracks(p)
    msg = str(ei.value)
    assert p.name in msg and where in msg and f"field '{field}'" in msg, msg
    assert ei.value.location == where and ei.value.field == field and ei.value.path == str(p)


def _json_doc(*dets: dict, frame_idx: object = 0) -> str:
    return json.dumps(
        {
            "format": "sammask-tracks",
            "version": 1,
            "frames": [
                {"frame_idx": 0, "detections": [{"track_id": 1, "bbox": [0, 0, 5, 5]}]},
                {"frame_idx": frame_idx, "detections": list(dets)},
            ],
        }
    )


def _det(**kw: object) -> dict:
    d: dict = {"track_id": 2, "bbox": [10, 10, 20, 20], "type": 1}
    d.update(kw)
    return {k: v for k, v in d.items() if v is not ...}


JSON_BAD = [
    ("bbox_string", _json_doc(_det(bbox="10,10,20,20"), frame_idx=4), "frame_idx 4", "bbox"),
    ("bbox_len", _json_doc(_det(bbox=[1, 2, 3])), "detections[0]", "bbox"),
    ("track_id_str", _json_doc(_det(track_id="2")), "detections[0]", "track_id"),
    ("track_id_neg", _json_doc(_det(track_id=-4)), "detections[0]", "track_id"),
    ("track_id_missing", _json_doc(_det(track_id=...)), "detections[0]", "track_id"),
    ("nan", _json_doc(_det(bbox=[10, float("nan"), 20, 20])), "detections[0]", "bbox"),
    ("inf", _json_doc(_det(bbox=[10, 10, float("inf"), 20])), "detections[0]", "bbox"),
    ("neg_size", _json_doc(_det(bbox=[20, 10, 10, 20])), "detections[0]", "bbox"),
    ("zero_size", _json_doc(_det(bbox=[10, 10, 10, 20])), "detections[0]", "bbox"),
    ("unknown_type", _json_doc(_det(type=7)), "detections[0]", "type"),
    ("type_str", _json_doc(_det(type="auto")), "detections[0]", "type"),
    ("polygon_missing", _json_doc(_det(type=4)), "detections[0]", "polygon"),
    ("polygon_short", _json_doc(_det(type=4, polygon=[[0, 0], [1, 1]])), "detections[0]", "polygon"),
    ("object_str", _json_doc(_det(object="2")), "detections[0]", "object"),
    ("score_range", _json_doc(_det(score=1.5)), "detections[0]", "score"),
    ("frame_neg", _json_doc(_det(), frame_idx=-1), "frames[1]", "frame_idx"),
    ("frame_str", _json_doc(_det(), frame_idx="3"), "frames[1]", "frame_idx"),
    ("duplicate", _json_doc(_det(track_id=1), _det(track_id=1), frame_idx=6), "frames[1] (frame_idx 6), detections[1]", "track_id"),
    ("detection_not_object", _json_doc([1, 2]), "detections[0]", None),
]


@pytest.mark.parametrize(("name", "text", "where", "field"), JSON_BAD, ids=[c[0] for c in JSON_BAD])
def test_json_bad_input(tmp_path: Path, name: str, text: str, where: str, field: str | None) -> None:
    p = tmp_path / f"bad_{name}.json"
    p.write_text(text)
    with pytest.raises(TracksFormatError) as ei:
        read_tracks(p)
    msg = str(ei.value)
    assert p.name in msg and where in msg, msg
    assert "frame" in ei.value.location
    if field is not None:
        assert f"field '{field}'" in msg and ei.value.field == field, msg


def test_json_flat_list_and_frame_mismatch(tmp_path: Path) -> None:
    p = tmp_path / "flat.json"
    p.write_text(
        json.dumps(
            {
                "format": "sammask-tracks",
                "version": 1,
                "detections": [
                    {"frame_idx": 2, "track_id": 1, "bbox": [0, 0, 4, 4], "object": 2},
                    {"frame_idx": 0, "track_id": 1, "bbox": [1, 1, 4, 4], "type": 3, "object": None},
                ],
            }
        )
    )
    t = read_json(p)
    assert [(d.frame_idx, d.type, d.selected) for d in t] == [(0, DetectionType.MANUAL_BOX, True), (2, DetectionType.AUTO, False)]

    p.write_text(
        json.dumps(
            {
                "format": "sammask-tracks",
                "version": 1,
                "detections": [{"frame_idx": 2, "track_id": 1, "bbox": [0, 0, 4, 4]}, {"track_id": 1, "bbox": [0, 0, 4, 4]}],
            }
        )
    )
    with pytest.raises(TracksFormatError, match=r"detections\[1\].*field 'frame_idx'"):
        read_json(p)

    p.write_text(_json_doc(_det(frame_idx=3), frame_idx=5))
    with pytest.raises(TracksFormatError, match=r"frame_idx 5\), detections\[0\], field 'frame_idx'"):
        read_json(p)


def test_json_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    p = tmp_path / "syntax.json"
    p.write_text('{\n  "format": "sammask-tracks",\n  "version": 1\n  "frames": []\n}\n')
    for lenient in (False, True):  # a broken file is never "lenient"
        with pytest.raises(TracksFormatError) as ei:
            read_json(p, lenient=lenient)
        assert "syntax.json" in str(ei.value) and ei.value.location == "line 4 column 3"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ("tracks", None),  # a top-level list is the original export (tests/test_detection_formats.py)
        ({"version": 1, "frames": []}, "format"),
        ({"format": "sammask-tracks", "version": "1", "frames": []}, "version"),
        ({"format": "sammask-tracks", "version": 2, "frames": []}, "version"),
        ({"format": "sammask-tracks", "version": 1}, "frames"),
        ({"format": "sammask-tracks", "version": 1, "frames": [], "detections": []}, "frames"),
        ({"format": "sammask-tracks", "version": 1, "frames": {}}, "frames"),
    ],
)
def test_json_bad_top_level(tmp_path: Path, doc: object, field: str | None) -> None:
    p = tmp_path / "top.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(TracksFormatError) as ei:
        read_json(p, lenient=True)
    assert "top.json" in str(ei.value) and ei.value.field == field


def test_json_unknown_keys_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = tmp_path / "future.json"
    p.write_text(
        json.dumps(
            {
                "format": "sammask-tracks",
                "version": 1,
                "camera": "A",
                "frames": [{"frame_idx": 0, "note": 1, "detections": [_det(color="red"), _det(track_id=3, color="blue")]}],
            }
        )
    )
    with caplog.at_level(logging.WARNING, logger="sammask.tracks"):
        t = read_json(p)
    assert len(t) == 2
    text = caplog.text
    assert "'camera' x1" in text and "'note' x1" in text and "'color' x2" in text


# --- lenient reading -------------------------------------------------------------------------


def test_mot_lenient_drops_only_what_cannot_be_placed(tmp_path: Path) -> None:
    p = tmp_path / "mixed.txt"
    bad = [row for name, row, _, _ in MOT_BAD if name != "neg_id"]
    p.write_text(MOT_OK + "".join(bad) + "3,2,1,1,4,4\n")
    t = read_mot(p, lenient=True)
    # kept: the duplicate (both masked), the zero-size box (grown to 1 px), the row with a NaN conf
    assert [(d.frame_idx, d.track_id) for d in t] == [(0, 1), (0, 1), (1, 1), (1, 1), (2, 2)]
    assert [d.bbox for d in t.on_frame(1)] == [(10.0, 10.0, 11.0, 30.0), (10.0, 10.0, 30.0, 30.0)]
    assert t.dropped == {"column_count": 1, "not_a_number": 1, "not_finite": 2, "negative_size": 2, "bad_frame": 2}
    assert t.repaired == {"zero_size_padded": 1, "bad_score": 1}
    assert t.rows == 1 + len(bad) + 1
    assert sum(t.dropped.values()) + len(t) == t.rows


@pytest.mark.parametrize("row", ["2,-1,10,10,20,20,1,-1,-1,-1", "2,1.5,10,10,20,20", "2,x,10,10,20,20"])
def test_mot_rows_without_a_track_id_are_refused_even_lenient(tmp_path: Path, row: str) -> None:
    p = tmp_path / "det.txt"
    p.write_text(MOT_OK + row + "\n")
    for lenient in (False, True):
        with pytest.raises(TracksFormatError, match=r"line 2.*field 'id'"):
            read_mot(p, lenient=lenient)


def test_mot_ids_are_exact_integers(tmp_path: Path) -> None:
    p = tmp_path / "big.txt"
    p.write_text(f"1,{2**53},1,1,4,4\n1,{2**53 + 1},1,1,4,4\n2,7.0,1,1,4,4\n")
    t = read_mot(p)
    assert [d.track_id for d in t] == [2**53, 2**53 + 1, 7]


def test_json_lenient_drops_only_what_cannot_be_placed(tmp_path: Path) -> None:
    p = tmp_path / "mixed.json"
    p.write_text(
        json.dumps(
            {
                "format": "sammask-tracks",
                "version": 1,
                "frames": [
                    {
                        "frame_idx": 0,
                        "detections": [
                            _det(track_id=1),
                            _det(track_id=1),
                            _det(track_id=2, type=9),
                            _det(track_id=3, type=4),
                            _det(track_id=4, bbox=[5, 5, 1, 9]),
                            _det(track_id=5, score=None, object=2),
                            _det(track_id=6, score=3.0),
                            _det(track_id=7, bbox=[10, 10, 10, 20]),
                        ],
                    },
                    {"frame_idx": -2, "detections": [_det(), _det(track_id=8)]},
                    {"frame_idx": 1, "detections": "nope"},
                ],
            }
        )
    )
    t = read_json(p, lenient=True)
    got = [(d.frame_idx, d.track_id, d.selected, int(d.type)) for d in t]
    assert got == [(0, 1, True, 1), (0, 1, True, 1), (0, 2, True, 3), (0, 3, True, 3), (0, 5, False, 1), (0, 6, True, 1), (0, 7, True, 1)]
    assert t.on_frame(0)[5].score == 1.0 and t.on_frame(0)[6].bbox == (10.0, 10.0, 11.0, 20.0)
    assert t.dropped == {"negative_size": 1, "bad_frame": 2, "not_a_number": 1}
    assert t.repaired == {"bad_type_as_box": 1, "polygon_as_box": 1, "bad_score": 1, "zero_size_padded": 1}
    for bad in (_det(track_id=-1), _det(track_id=...)):
        q = tmp_path / "noid.json"
        q.write_text(_json_doc(bad))
        with pytest.raises(TracksFormatError, match="track_id"):
            read_json(q, lenient=True)


def test_validate_masks_degenerate_polygons_as_boxes_and_keeps_duplicates() -> None:
    bowtie = ((10.0, 10.0), (30.0, 30.0), (30.0, 10.0), (10.0, 30.0))  # signed area 0
    line = ((40.0, 5.0), (50.0, 15.0), (60.0, 25.0))  # collinear
    star = tuple((50 + 20 * np.cos(a), 30 + 20 * np.sin(a)) for a in np.arange(5) * 4 * np.pi / 5)
    t = _tracks(
        Detection(0, 1, (10.0, 10.0, 30.0, 30.0), DetectionType.POLYGON, polygon=bowtie),
        Detection(0, 2, (40.0, 5.0, 60.0, 25.0), DetectionType.POLYGON, polygon=line),
        Detection(0, 3, (30.0, 10.0, 70.0, 50.0), DetectionType.POLYGON, polygon=star),
        Detection(1, 4, (1.0, 1.0, 5.0, 5.0)),
        Detection(1, 4, (20.0, 20.0, 30.0, 28.0)),
        Detection(1, 4, (50.0, 50.0, 60.0, 59.0), DetectionType.MANUAL_BOX),
    )
    out = validate_tracks(t, 100, 60, None)
    f0 = out.on_frame(0)
    assert [d.type for d in f0] == [DetectionType.MANUAL_BOX] * 3
    assert f0[0].bbox == (10.0, 10.0, 30.0, 30.0) and f0[1].bbox == (40.0, 5.0, 60.0, 25.0)
    xs, ys = [p[0] for p in star], [p[1] for p in star]
    assert f0[2].bbox == (min(xs), min(ys), max(xs), max(ys))  # the pentagram's centre is covered
    f1 = out.on_frame(1)
    assert [(d.type, d.bbox) for d in f1] == [
        (DetectionType.AUTO, (1.0, 1.0, 5.0, 5.0)),
        (DetectionType.AUTO, (20.0, 20.0, 30.0, 28.0)),
        (DetectionType.MANUAL_BOX, (50.0, 50.0, 60.0, 59.0)),
    ]
    assert out.repaired == {"polygon_as_box": 3, "duplicate": 2} and out.dropped == {}


def test_is_simple_polygon() -> None:
    assert is_simple_polygon(((0, 0), (10, 0), (10, 10), (0, 10)))
    assert is_simple_polygon(((2, -4), (4, -4), (4, 6), (6, 6), (6, -4), (8, -4), (8, 8), (2, 8)))
    assert not is_simple_polygon(((0, 0), (10, 10), (10, 0), (0, 10)))
    assert not is_simple_polygon(((0, 0), (5, 5), (10, 10)))
    assert not is_simple_polygon(((0, 0), (0, 0), (10, 10), (0, 10)))


# --- read_tracks dispatch --------------------------------------------------------------------


def test_read_tracks_dispatch_and_missing(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"nothere.txt"):
        read_tracks(tmp_path / "nothere.txt")
    with pytest.raises(InputFileError):
        read_tracks(tmp_path)
    with pytest.raises(ConfigError):
        read_tracks(EXAMPLE, format="xml")  # type: ignore[arg-type]  # an unknown format on purpose
    other = tmp_path / "tracks.dat"
    other.write_text(MOT_OK)
    assert detect_format(other) == "mot" and len(read_tracks(other)) == 1
    other.write_text(EXAMPLE.read_text())
    assert detect_format(other) == "json" and len(read_tracks(other)) == len(read_json(EXAMPLE))
    # an explicit format wins over the suffix
    wrong = tmp_path / "tracks.txt"
    wrong.write_text(EXAMPLE.read_text())
    assert len(read_tracks(wrong, format="json")) == 12
    with pytest.raises(TracksFormatError, match="line 1"):
        read_tracks(wrong)
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(TracksFormatError, match="UTF-8"):
        read_tracks(binary)


# --- validation against the video ------------------------------------------------------------


def _tracks(*dets: Detection) -> Tracks:
    return Tracks.from_detections(dets, source="vid.txt")


def test_validate_clips_boxes_and_polygons() -> None:
    tri = ((-10.0, 10.0), (30.0, 10.0), (30.0, 50.0))  # partly left of x = 0
    t = _tracks(
        Detection(0, 1, (-5.0, -2.5, 50.0, 40.0)),
        Detection(0, 2, (10.0, 10.0, 20.0, 20.0)),
        Detection(1, 3, (90.0, 50.0, 130.0, 75.0), DetectionType.MANUAL_BOX),
        Detection(1, 4, (-10.0, 10.0, 30.0, 50.0), DetectionType.POLYGON, polygon=tri),
    )
    out = validate_tracks(t, 100, 60, 2)
    got = {d.track_id: d for d in out}
    assert got[1].bbox == (0.0, 0.0, 50.0, 40.0)
    assert got[2].bbox == (10.0, 10.0, 20.0, 20.0)
    assert got[3].bbox == (90.0, 50.0, 100.0, 60.0) and got[3].type is DetectionType.MANUAL_BOX
    assert got[4].bbox == (0.0, 10.0, 30.0, 50.0)
    poly = np.array(got[4].polygon)
    assert poly[:, 0].min() == 0.0 and poly[:, 1].max() == 50.0
    # clipped triangle = original (800) minus the part left of x = 0 (triangle 10 x 10 / 2)
    x, y = poly[:, 0], poly[:, 1]
    area = abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2
    assert area == pytest.approx(800.0 - 50.0)
    assert out.clipped == 3 and out.dropped == {} and out.source == "vid.txt"
    assert t.by_frame[0][0].bbox == (-5.0, -2.5, 50.0, 40.0)  # input untouched


def test_clip_polygon_concave_and_outside() -> None:
    # a U shape whose two arms stick out of the top: the clipped region keeps the same pixels
    u = ((2, -4), (4, -4), (4, 6), (6, 6), (6, -4), (8, -4), (8, 8), (2, 8))
    clipped = clip_polygon_to_frame(u, 10, 10)
    assert clipped is not None
    x, y = np.array(clipped).T
    area = abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2
    assert area == pytest.approx(6 * 8 - 2 * 6)  # 6x8 block minus the 2x6 notch
    assert clip_polygon_to_frame(((20, 20), (30, 20), (25, 30)), 10, 10) is None


@pytest.mark.parametrize(
    ("det", "reason", "field"),
    [
        (Detection(1, 5, (200.0, 10.0, 260.0, 30.0)), "outside_frame", "bbox"),
        (Detection(1, 5, (-30.0, -20.0, 0.0, 0.0)), "outside_frame", "bbox"),
        (
            Detection(1, 5, (0.0, 0.0, 1.0, 1.0), DetectionType.POLYGON, polygon=((120.0, 0.0), (130.0, 0.0), (125.0, 9.0))),
            "outside_frame",
            "polygon",
        ),
        (Detection(7, 5, (10.0, 10.0, 20.0, 20.0)), "past_end", "frame_idx"),
    ],
)
def test_validate_errors_and_lenient(det: Detection, reason: str, field: str) -> None:
    good = Detection(0, 1, (1.0, 1.0, 5.0, 5.0))
    t = _tracks(good, det)
    with pytest.raises(TracksFormatError) as ei:
        validate_tracks(t, 100, 60, 5)
    msg = str(ei.value)
    assert "vid.txt" in msg and f"frame_idx {det.frame_idx}" in msg and f"field '{field}'" in msg
    out = validate_tracks(t, 100, 60, 5, lenient=True)
    assert list(out) == [good] and out.dropped == {reason: 1}


def test_validate_lenient_counts_accumulate() -> None:
    t = _tracks(
        Detection(0, 1, (1.0, 1.0, 5.0, 5.0)),
        Detection(0, 2, (500.0, 1.0, 505.0, 5.0)),
        Detection(1, 2, (500.0, 1.0, 505.0, 5.0)),
        Detection(1, 3, (-1.0, 1.0, 5.0, 5.0)),
        Detection(9, 1, (1.0, 1.0, 5.0, 5.0)),
        Detection(10, 1, (1.0, 1.0, 5.0, 5.0)),
    )
    t.dropped = {"zero_size": 4}  # counts from a lenient reader are kept
    with pytest.raises(TracksFormatError, match=r"3 more invalid"):
        validate_tracks(t, 100, 60, 9)
    out = validate_tracks(t, 100, 60, 9, lenient=True)
    assert out.dropped == {"zero_size": 4, "outside_frame": 2, "past_end": 2}
    assert out.clipped == 1 and len(out) == 2
    # unknown frame count: no past-end check
    assert len(validate_tracks(t, 100, 60, None, lenient=True)) == 4


# --- the documented example ------------------------------------------------------------------


def test_docs_example_reads_and_validates() -> None:
    t = read_tracks(EXAMPLE)
    assert len(t) == 12 and sorted(t.by_frame) == [0, 1, 2]
    by = {(d.frame_idx, d.track_id): d for d in t}
    assert by[(0, 1)].type is DetectionType.AUTO and by[(0, 1)].score == 0.91
    assert by[(0, 2)].type is DetectionType.USER_PICKED
    assert not by[(0, 5)].selected and by[(0, 1)].selected and by[(2, 1)].selected
    assert by[(0, 7)].type is DetectionType.MANUAL_BOX and by[(0, 7)].score == 1.0
    assert by[(1, 9)].type is DetectionType.POLYGON and by[(1, 9)].bbox == (250.0, 10.0, 350.0, 90.0)
    out = validate_tracks(t, 640, 360, 3)
    assert out.clipped == 1 and out.dropped == {}
    assert {(d.frame_idx, d.track_id): d for d in out}[(2, 5)].bbox == (590.0, 80.0, 640.0, 310.0)
    # the example printed in docs/tracks-format.md is the same file
    doc = (REPO / "docs" / "tracks-format.md").read_text()
    assert EXAMPLE.read_text().strip() in doc


def test_writers_atomic_and_errors(tmp_path: Path) -> None:
    t = Tracks.from_detections([Detection(0, 1, (0.0, 0.0, 2.0, 2.0))])
    write_json(t, tmp_path / "a.json")
    write_mot(t, tmp_path / "a.txt")
    write_json(t, tmp_path / "a.json")  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.txt"]  # no temp files left
    plain = tmp_path / "plain"
    plain.write_text("")
    # same permissions as an ordinarily created file (not mkstemp's 0600)
    assert (tmp_path / "a.json").stat().st_mode == plain.stat().st_mode
    with pytest.raises(OutputWriteError, match="does not exist"):
        write_json(t, tmp_path / "missing" / "a.json")
    (tmp_path / "d.json").mkdir()
    with pytest.raises(OutputWriteError, match="cannot write"):
        write_json(t, tmp_path / "d.json")


def test_json_integral_floats_accepted(tmp_path: Path) -> None:
    p = tmp_path / "f.json"
    p.write_text(
        json.dumps(
            {
                "format": "sammask-tracks",
                "version": 1,
                "frames": [{"frame_idx": 2.0, "detections": [_det(track_id=3.0, type=3.0, object=2.0)]}],
            }
        )
    )
    (d,) = read_json(p)
    assert (d.frame_idx, d.track_id, d.type, d.selected) == (2, 3, DetectionType.MANUAL_BOX, False)
