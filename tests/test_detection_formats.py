"""Formats for detections with classes and scores: the original export (top-level list),
supervision's CSV / JSON sinks and sv.Detections, Tracks.from_arrays, MOT16/17 gt class columns,
and the JSON ``class`` key."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from sammask.errors import TracksFormatError
from sammask.tracks import Detection, DetectionType, Tracks, detect_format, read_tracks, write_tracks
from sammask.tracks.supervision import from_supervision


def test_original_export_top_level_list_per_frame_and_flat(tmp_path: Path) -> None:
    per_frame = [
        {
            "frame_idx": 0,
            "detections": [
                {"track_id": 1, "bbox": [10, 20, 50, 80], "type": 1, "object": 1},
                {"track_id": 2, "bbox": [60, 20, 90, 80], "type": 3, "object": 2},
            ],
        },
        {"frame_idx": 3, "detections": [{"track_id": 1, "bbox": [12, 20, 52, 80], "type": 2}]},
    ]
    p = tmp_path / "export.json"
    p.write_text(json.dumps(per_frame))
    t = read_tracks(p)
    assert sorted(t.by_frame) == [0, 3] and len(t) == 3
    d2 = t.on_frame(0)[1]
    assert d2.type == DetectionType.MANUAL_BOX and not d2.selected and d2.bbox == (60.0, 20.0, 90.0, 80.0)
    flat = [dict(d, frame_idx=f["frame_idx"]) for f in per_frame for d in f["detections"]]
    p.write_text(json.dumps(flat))
    assert [(d.frame_idx, d.track_id, d.type) for d in read_tracks(p)] == [(d.frame_idx, d.track_id, d.type) for d in t]
    p.write_text(json.dumps([{"track_id": 1, "bbox": [10, 20, 50, 80]}]))  # flat item without its frame
    with pytest.raises(TracksFormatError, match="frame_idx"):
        read_tracks(p)


def _sv_detections(shift: float) -> sv.Detections:
    return sv.Detections(
        xyxy=np.array([[1 + shift, 2, 30 + shift, 40.5], [5, 5, 9, 9]], np.float32),
        confidence=np.array([0.9, 0.4]),
        class_id=np.array([0, 2]),
        tracker_id=np.array([3, 4]),
        data={"class_name": np.array(["person", "car"])},
    )


@pytest.mark.parametrize("sink", [sv.CSVSink, sv.JSONSink])
def test_supervision_sinks_are_read(tmp_path: Path, sink: type) -> None:
    path = tmp_path / ("dets.csv" if sink is sv.CSVSink else "dets.json")
    with sink(str(path)) as s:  # the files as supervision itself writes them
        for i in range(3):
            s.append(_sv_detections(2.0 * i), custom_data={"frame_index": i})
    assert detect_format(path) == "supervision"
    t = read_tracks(path)
    assert len(t) == 6 and sorted(t.by_frame) == [0, 1, 2]
    d = t.on_frame(2)[0]
    assert d.track_id == 3 and d.class_name == "person" and d.score == pytest.approx(0.9)
    assert d.bbox == pytest.approx((5.0, 2.0, 34.0, 40.5))


def test_supervision_csv_errors(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text("x_min,y_min,x_max,y_max,class_id,confidence,tracker_id\n1,2,3,4,0,0.5,1\n")
    with pytest.raises(TracksFormatError, match="frame_index"):
        read_tracks(p)
    p.write_text("x_min,y_min,x_max,y_max,class_id,confidence,tracker_id,frame_index\n1,2,3,4,0,0.5,,0\n1,2,3,4,0,0.5,2,1\n")
    with pytest.raises(TracksFormatError, match=r"data row 1.*tracker_id.*run a tracker"):
        read_tracks(p)
    lenient = read_tracks(p, lenient=True)
    assert len(lenient) == 1 and lenient.dropped == {"bad_track_id": 1}


def test_from_supervision_and_from_arrays() -> None:
    t = from_supervision([(0, _sv_detections(0)), (1, sv.Detections.empty()), (2, _sv_detections(1))])
    assert len(t) == 4 and t.on_frame(2)[1].class_name == "car"
    with pytest.raises(TracksFormatError, match="tracker_id"):
        from_supervision([(0, sv.Detections(xyxy=np.array([[0, 0, 4, 4]], np.float32)))])
    # numpy scalars and arrays are accepted
    t = Tracks.from_arrays(
        np.array([0, 0, 1]),
        np.array([5, 6, 5], np.int64),
        np.array([[0, 0, 10, 10], [1, 1, 5, 5], [2, 0, 12, 10]], np.float32),
        scores=np.float32([0.5, 0.6, 0.7]),
        class_names=["face", None, "face"],
    )
    assert [(d.frame_idx, d.track_id) for d in t] == [(0, 5), (0, 6), (1, 5)]
    assert isinstance(t.on_frame(1)[0].bbox[0], float) and t.on_frame(0)[1].class_name is None
    bad = [
        {"frame_idx": [0], "track_id": [1], "xyxy": [[0, 0, 1]]},  # shape
        {"frame_idx": [0.5], "track_id": [1], "xyxy": [[0, 0, 1, 1]]},  # non-integer frame
        {"frame_idx": [0], "track_id": [-1], "xyxy": [[0, 0, 1, 1]]},  # negative id
        {"frame_idx": [0], "track_id": [1], "xyxy": [[0, 0, np.nan, 1]]},  # not finite
        {"frame_idx": [0], "track_id": [1], "xyxy": [[5, 0, 1, 1]]},  # inverted
        {"frame_idx": [0], "track_id": [1], "xyxy": [[0, 0, 1, 1]], "scores": [2.0]},  # score
        {"frame_idx": [0, 0], "track_id": [1, 1], "xyxy": [[0, 0, 1, 1]] * 2},  # duplicate
    ]
    for kw in bad:
        with pytest.raises(TracksFormatError):
            Tracks.from_arrays(**kw)


def test_mot17_gt_class_and_consider_columns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = tmp_path / "gt.txt"
    p.write_text("1,1,10,20,30,40,1,1,0.8\n1,2,50,20,30,40,0,7,1.0\n2,1,12,20,30,40,1,3,0.25\n")
    with caplog.at_level(logging.WARNING):
        t = read_tracks(p)
    assert [d.class_name for d in t] == ["pedestrian", "static_person", "car"]
    assert len(t) == 3 and all(d.score == 1.0 for d in t)  # consider 0 kept (privacy first), flag is no score
    assert "consider flag 0" in caplog.text
    p.write_text("1,1,10,20,30,40,0.7,-1,-1,-1\n")  # results layout: column 7 is the confidence
    d = read_tracks(p).on_frame(0)[0]
    assert d.score == pytest.approx(0.7) and d.class_name is None


def test_json_class_round_trip(tmp_path: Path) -> None:
    t = Tracks.from_detections([Detection(0, 1, (0, 0, 4, 4), score=0.25, class_name="face"), Detection(1, 2, (0, 0, 4, 4))])
    p = tmp_path / "t.json"
    write_tracks(t, p)
    back = read_tracks(p)
    assert [(d.class_name, d.score) for d in back] == [("face", 0.25), (None, 1.0)]
    doc = json.loads(p.read_text())
    doc["frames"][0]["detections"][0]["class"] = 3
    p.write_text(json.dumps(doc))
    with pytest.raises(TracksFormatError, match="class"):
        read_tracks(p)
