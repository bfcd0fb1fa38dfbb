"""Built-in detection: CenterFace on real weights, ByteTrack ids, privacy coasting, filters,
the hub detector with a tiny random-init RT-DETR, and `redact` without a tracks file."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from sammask.cli import app
from sammask.detection import DetectAndTrack, FrameDetections, TrackingOptions
from sammask.detection.base import Detector
from sammask.detection.faces import CenterFaceDetector, FaceDetectorOptions, parse_scale
from sammask.detection.tracking import ByteTrackAdapter, Coaster, TrackedBox
from sammask.errors import ConfigError, DetectionError, WeightsNotFoundError
from sammask.media.trim import trim_video
from sammask.tracks import Detection, DetectionType, Tracks, read_tracks
from sammask.tracks.filters import filter_tracks, parse_classes

runner = CliRunner()


def first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


@pytest.fixture(scope="module")
def faces() -> CenterFaceDetector:
    return CenterFaceDetector()


@pytest.fixture(scope="module")
def pedestrians(shared_data: Path) -> Path:
    return shared_data / "videos" / "pedestrians-1080p.mp4"


# --- faces detector on the real CenterFace weights -----------------------------------------


def test_centerface_finds_faces_on_a_real_frame(faces: CenterFaceDetector, pedestrians: Path) -> None:
    image = first_frame(pedestrians)
    found = faces.detect(image)
    # measured today: 10 faces on frame 0 of pedestrians-1080p at full resolution, scores 0.2..0.87
    assert len(found) >= 8
    assert set(found.class_names) == {"face"}
    assert (found.scores >= 0.2).all() and (found.scores <= 1).all()
    assert (found.xyxy[:, :2] >= 0).all() and (found.xyxy[:, 2] <= 1920).all() and (found.xyxy[:, 3] <= 1080).all()
    # a face crop cut from the frame (the most confident face, 3x its box) alone -> a face there
    x1, y1, x2, y2 = found.xyxy[int(np.argmax(found.scores))]
    w, h = x2 - x1, y2 - y1
    cx1, cy1 = int(max(x1 - w, 0)), int(max(y1 - h, 0))
    crop = np.ascontiguousarray(image[cy1 : int(y2 + h), cx1 : int(x2 + w)])
    in_crop = faces.detect(crop)
    assert len(in_crop) >= 1
    centre = np.array([(x1 + x2) / 2 - cx1, (y1 + y2) / 2 - cy1])
    centres = (in_crop.xyxy[:, :2] + in_crop.xyxy[:, 2:]) / 2
    assert np.min(np.abs(centres - centre).max(axis=1)) < max(w, h) * 0.25


def test_centerface_no_face_in_flat_image_and_bad_input(faces: CenterFaceDetector) -> None:
    assert len(faces.detect(np.full((360, 640, 3), 127, np.uint8))) == 0
    with pytest.raises(DetectionError, match=r"\(H, W, 3\) uint8"):
        faces.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(DetectionError, match=r"\(H, W, 3\) uint8"):
        faces.detect(np.zeros((10, 10, 3), np.float32))


def test_centerface_scale_and_missing_model(faces: CenterFaceDetector, pedestrians: Path, tmp_path: Path) -> None:
    small = CenterFaceDetector(FaceDetectorOptions(scale=(960, 540)))
    found = small.detect(first_frame(pedestrians))
    assert len(found) >= 5  # measured today: 8 faces at 960x540
    assert (found.xyxy[:, 2] <= 1920).all()  # boxes come back in frame pixels
    assert parse_scale("640x360") == (640, 360)
    with pytest.raises(ConfigError):
        parse_scale("640")
    with pytest.raises(WeightsNotFoundError, match="not found"):
        CenterFaceDetector(FaceDetectorOptions(model_path=tmp_path / "none.onnx"))


# --- FrameDetections and filters -------------------------------------------------------------


def test_detections_validate_and_filter() -> None:
    d = FrameDetections(np.array([[0, 0, 10, 10], [5, 5, 20, 30]]), np.array([0.9, 0.3]), ("face", "person"))
    assert len(d.filter(min_score=0.5)) == 1
    assert d.filter(classes=["person"]).class_names == ("person",)
    assert len(FrameDetections.concat([d, FrameDetections.empty()])) == 2
    with pytest.raises(DetectionError):
        FrameDetections(np.array([[0, 0, 10, 10]]), np.array([0.5, 0.5]), ("face",))
    with pytest.raises(DetectionError):
        FrameDetections(np.array([[10, 0, 5, 10]]), np.array([0.5]), ("face",))
    with pytest.raises(DetectionError):
        FrameDetections(np.array([[0, 0, 5, 10]]), np.array([1.5]), ("face",))


def test_filter_tracks_by_class_and_score() -> None:
    dets = [
        Detection(0, 1, (0, 0, 10, 10), score=0.9, class_name="face"),
        Detection(0, 2, (0, 0, 10, 10), score=0.1, class_name="face"),
        Detection(0, 3, (0, 0, 10, 10), score=0.9, class_name="car"),
        Detection(0, 4, (0, 0, 10, 10), score=0.9),  # no class: kept (privacy first)
        Detection(0, 5, (0, 0, 10, 10), type=DetectionType.MANUAL_BOX, score=0.0, class_name="car"),  # drawn: kept
    ]
    kept, removed = filter_tracks(Tracks.from_detections(dets), min_score=0.5, classes=parse_classes("face, person"))
    assert sorted(d.track_id for d in kept) == [1, 4, 5] and removed == 2
    with pytest.raises(ConfigError):
        parse_classes("face,,car")


# --- tracking and coasting ---------------------------------------------------------------


def moving_boxes(n: int) -> list[FrameDetections]:
    """Two boxes moving right by 6 px/frame, 200 px apart, scores 0.9."""
    out = []
    for i in range(n):
        xyxy = np.array([[10 + 6 * i, 50, 60 + 6 * i, 110], [10 + 6 * i, 250, 60 + 6 * i, 310]], np.float32)
        out.append(FrameDetections(xyxy, np.array([0.9, 0.8]), ("face", "face")))
    return out


def test_bytetrack_ids_stable_on_moving_boxes() -> None:
    tracker = ByteTrackAdapter(TrackingOptions(max_gap=5))
    per_frame = [tracker.update(d) for d in moving_boxes(40)]
    ids = [{round(b.bbox[1]): b.track_id for b in frame} for frame in per_frame]
    assert all(len(f) == 2 for f in per_frame)
    assert {f[50] for f in ids} == {ids[0][50]} and {f[250] for f in ids} == {ids[0][250]}
    assert ids[0][50] != ids[0][250] and tracker.untracked == 0


class _Frame:
    def __init__(self, i: int) -> None:
        self.frame_idx = i
        self.image = np.zeros((400, 400, 3), np.uint8)


class _ScriptedDetector(Detector):
    """Returns pre-made detections frame by frame (to drive the stream deterministically)."""

    name = "scripted"
    classes = ("face",)

    def __init__(self, script: list[FrameDetections]) -> None:
        self.script = list(script)

    def detect(self, image: np.ndarray) -> FrameDetections:
        return self.script.pop(0) if self.script else FrameDetections.empty()


def test_coasting_fills_a_dropped_frame_and_margins() -> None:
    script = moving_boxes(20)
    for i in (8, 12, 13):  # the detector misses the upper box on frames 8, 12 and 13
        script[i] = FrameDetections(script[i].xyxy[1:], script[i].scores[1:], ("face",))
    stream = DetectAndTrack([_ScriptedDetector(script)], TrackingOptions(max_gap=3, margin=2))
    out = list(stream.run(_Frame(i) for i in range(24)))
    assert [f.frame_idx for f, _ in out] == list(range(24))  # every frame once, in order
    upper = {f.frame_idx: d for f, dets in out for d in dets if d.bbox[1] < 200}
    assert len({d.track_id for d in upper.values()}) == 1  # one id through the gaps
    # frame 8: interpolated between frames 7 and 9; frames 12-13 likewise
    for i in (8, 12, 13):
        assert upper[i].bbox[0] == pytest.approx(10 + 6 * i, abs=1e-3)
    # held for 2 frames after the last detection (frame 19), nothing before frame 0
    assert sorted(upper) == list(range(22))
    assert upper[21].bbox == upper[19].bbox
    assert stream.stats.coasted == {"gap": 3, "lead": 0, "trail": 4}  # trail: 2 frames x 2 tracks
    assert stream.stats.tracks == 2


def test_gap_longer_than_max_gap_is_not_interpolated() -> None:
    coaster: Coaster[_Frame] = Coaster(TrackingOptions(max_gap=2, margin=1))
    box = lambda x: TrackedBox(7, (x, 0.0, x + 10, 10.0), 0.9, "face")
    seen: dict[int, list[TrackedBox]] = {}
    for i in range(12):
        boxes = [box(float(i))] if i in (0, 1, 2, 8, 9) else []
        for item, got, _ in coaster.push(_Frame(i), boxes):
            seen[item.frame_idx] = got
    for item, got, _ in coaster.flush():
        seen[item.frame_idx] = got
    masked = sorted(i for i, got in seen.items() if got)
    # detections 0-2 and 8-9; margin 1 -> trail 3, lead 7, trail 10; frames 4-6 stay empty
    assert masked == [0, 1, 2, 3, 7, 8, 9, 10]
    assert coaster.coasted == {"gap": 0, "lead": 1, "trail": 2}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=30), st.integers(0, 4), st.integers(0, 3))
def test_coaster_keeps_every_detection_and_every_frame(hits: list[bool], max_gap: int, margin: int) -> None:
    """Property: coasting only adds boxes; every frame comes out once, in order, with bounded delay."""
    coaster: Coaster[_Frame] = Coaster(TrackingOptions(max_gap=max_gap, margin=margin))
    out = []
    for i, hit in enumerate(hits):
        ready = coaster.push(_Frame(i), [TrackedBox(0, (i, 0.0, i + 5.0, 5.0), 0.9, "face")] if hit else [])
        assert all(item.frame_idx >= i - coaster.options.delay for item, _, _ in ready)
        out.extend(ready)
    out.extend(coaster.flush())
    assert [item.frame_idx for item, _, _ in out] == list(range(len(hits)))
    for (_item, boxes, kinds), hit in zip(out, hits):
        if hit:
            assert len(boxes) == 1 and 0 not in kinds
        else:
            assert len(boxes) == len(kinds)


# --- hub detector (tiny random-init RT-DETR, saved and loaded like a real one) --------------


@pytest.fixture(scope="module")
def tiny_rtdetr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessor, RTDetrResNetConfig

    cfg = RTDetrConfig(
        backbone_config=RTDetrResNetConfig(
            embedding_size=8,
            hidden_sizes=[8, 8, 16, 16],
            depths=[1, 1, 1, 1],
            layer_type="basic",
            out_features=["stage2", "stage3", "stage4"],
        ),
        encoder_hidden_dim=16,
        encoder_in_channels=[8, 16, 16],
        feat_strides=[8, 16, 32],
        encoder_ffn_dim=32,
        encoder_attention_heads=2,
        encoder_layers=1,
        d_model=16,
        decoder_ffn_dim=32,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_in_channels=[16, 16, 16],
        num_queries=20,
        decoder_n_points=2,
        num_labels=2,
        id2label={0: "person", 1: "car"},
        label2id={"person": 0, "car": 1},
    )
    folder = tmp_path_factory.mktemp("rtdetr")
    RTDetrForObjectDetection(cfg).save_pretrained(folder)
    RTDetrImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder


def test_hub_detector_contract_with_random_weights(tiny_rtdetr: Path) -> None:
    from sammask.detection.hub import HubDetector, HubDetectorOptions

    det = HubDetector(HubDetectorOptions(model=str(tiny_rtdetr), min_score=0.0))
    assert det.classes == ("person", "car")
    found = det.detect(np.zeros((90, 160, 3), np.uint8))
    assert len(found) == 20  # every query (threshold 0); values are meaningless (random weights)
    assert set(found.class_names) <= {"person", "car"}
    assert (found.xyxy[:, 2] <= 160).all() and (found.xyxy[:, 3] <= 90).all()


@pytest.mark.models  # imports transformers and torch
def test_hub_detector_offline_error_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sammask.detection.hub import HubDetector, HubDetectorOptions

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsNotFoundError, match=r"not found.*offline.*save_pretrained"):
        HubDetector(HubDetectorOptions(model="PekingU/rtdetr_r18vd_coco_o365", offline=True))
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        HubDetector(HubDetectorOptions(model=str(tmp_path / "nope")))


# --- end to end: redact a raw video without a tracks file ---------------------------------


@pytest.fixture(scope="module")
def pedestrians_short(pedestrians: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip = tmp_path_factory.mktemp("ped") / "ped8.mp4"
    assert trim_video(pedestrians, clip, 8) == 8
    return clip


def test_detect_then_redact_without_tracks_masks_every_face(pedestrians_short: Path, tmp_path: Path) -> None:
    tracks_path, out, report = tmp_path / "faces.json", tmp_path / "out.mp4", tmp_path / "r.json"
    res = runner.invoke(app, ["detect", str(pedestrians_short), "-o", str(tracks_path), "--quiet"])
    assert res.exit_code == 0, res.output
    tracks = read_tracks(tracks_path)
    assert {d.class_name for d in tracks} == {"face"} and len(tracks.by_frame) == 8
    res = runner.invoke(
        app,
        [
            "redact",
            str(pedestrians_short),
            "-o",
            str(out),
            "--effect",
            "solid",
            "--crf",
            "8",
            "--preset",
            "ultrafast",
            "--report",
            str(report),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(report.read_text())
    assert rep["segmenter"] == "box" and rep["detection"]["detectors"] == ["faces"]
    assert rep["detections"] == len(tracks) and "detect" in rep["stage_seconds"]
    with av.open(str(out)) as c, av.open(str(pedestrians_short)) as ci:
        pairs = list(zip(c.decode(video=0), ci.decode(video=0)))
    assert len(pairs) == 8
    for i, (fo, fi) in enumerate(pairs):
        img, src = fo.to_ndarray(format="rgb24").astype(int), fi.to_ndarray(format="rgb24").astype(int)
        covered = np.zeros(img.shape[:2], bool)
        for d in tracks.on_frame(i):  # the promise on the decoded output: every face pixel filled
            x1, y1, x2, y2 = (int(np.floor(d.bbox[0])), int(np.floor(d.bbox[1])), int(np.ceil(d.bbox[2])), int(np.ceil(d.bbox[3])))
            assert np.abs(img[y1:y2, x1:x2]).max() <= 16, (i, d.track_id)
            covered[max(y1 - 40, 0) : y2 + 40, max(x1 - 40, 0) : x2 + 40] = True
        assert np.abs(img[~covered] - src[~covered]).mean() < 3  # the rest is left as it was


def test_redact_without_tracks_rejects_tracks_only_flags(pedestrians_short: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["redact", str(pedestrians_short), "-o", str(tmp_path / "o.mp4"), "--classes", "face", "-q"])
    assert res.exit_code == 2 and "--detect" in res.output
    assert not (tmp_path / "o.mp4").exists()


def test_preview_writes_a_sheet_and_no_video(pedestrians_short: Path, tmp_path: Path) -> None:
    import cv2

    out = tmp_path / "o.mp4"
    res = runner.invoke(app, ["redact", str(pedestrians_short), "-o", str(out), "--preview", "2", "--effect", "solid"])
    assert res.exit_code == 0, res.output
    assert not out.exists()
    sheet = cv2.imread(str(tmp_path / "o.mp4.preview.png"))
    panel_h = round(1080 * 420 / 1920)
    assert sheet.shape == (2 * (panel_h + 20), 3 * 420, 3)
    # the output panel differs from the input panel where faces were found (solid fill)
    row = sheet[20 : 20 + panel_h]
    assert (np.abs(row[:, 840:].astype(int) - row[:, :420].astype(int)).max(axis=2) > 60).mean() > 0.005
    res = runner.invoke(app, ["detect", str(pedestrians_short), "-o", str(tmp_path / "t.txt"), "--preview", "1"])
    assert res.exit_code == 0 and (tmp_path / "t.txt.preview.png").exists() and not (tmp_path / "t.txt").exists()


def test_detect_writes_mot_and_reports(pedestrians_short: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "detect",
            str(pedestrians_short),
            "-o",
            str(tmp_path / "t.txt"),
            "--scale",
            "960x540",
            "--max-gap",
            "2",
            "--report",
            str(tmp_path / "s.json"),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    stats = json.loads((tmp_path / "s.json").read_text())
    tracks = read_tracks(tmp_path / "t.txt")
    assert stats["frames"] == 8 and len(tracks) == stats["detections"] + stats["coasted_total"]
    res = runner.invoke(app, ["detect", str(pedestrians_short), "-o", str(tmp_path / "x.json"), "--detector", "faces,,", "-q"])
    assert res.exit_code == 2 and "comma-separated" in res.output and not (tmp_path / "x.json").exists()


def test_detect_spec_parsing_and_unknown_class() -> None:
    from sammask.detection.registry import parse_spec

    spec = parse_spec("faces,person,car", "org/model")
    assert spec.faces and spec.hub_model == "org/model" and spec.classes == ("face", "person", "car")
    assert parse_spec("hub:./local", "org/model").classes is None  # a hub model alone: all its classes
    assert parse_spec("faces", "org/model").hub_model is None
    with pytest.raises(ConfigError):
        parse_spec("hub:", "org/model")
    with pytest.raises(ConfigError, match="not reported"):
        DetectAndTrack([_ScriptedDetector([])], classes=["person"])


# --- rotated clips: the detectors see the upright frames ------------------------------------


@pytest.fixture(scope="module")
def sideways_face_clip(faces: CenterFaceDetector, pedestrians: Path, tmp_path_factory: pytest.TempPathFactory):
    """A phone-style clip: an upright face crop of a shared frame, stored rotated with a
    90-degree display matrix. Returns (clip, upright crop, the face box on the crop, transform)."""
    from videos import make_video

    from sammask.geometry import DisplayTransform

    image = first_frame(pedestrians)
    found = faces.detect(image)
    x1, y1, x2, y2 = found.xyxy[int(np.argmax(found.scores))]
    w, h = x2 - x1, y2 - y1
    cx1, cy1 = int(max(x1 - 1.5 * w, 0)), int(max(y1 - 1.5 * h, 0))
    crop = image[cy1 : int(y2 + 1.5 * h), cx1 : int(x2 + 1.5 * w)]
    upright = np.ascontiguousarray(crop[: crop.shape[0] // 2 * 2, : crop.shape[1] // 2 * 2])
    on_crop = faces.detect(upright)
    assert len(on_crop) >= 1
    face = tuple(float(v) for v in on_crop.xyxy[int(np.argmax(on_crop.scores))])
    # display rotation 90 (counter-clockwise): stored frames are the upright crop turned the other way
    t = DisplayTransform(0, -1, 1, 0, width=upright.shape[0], height=upright.shape[1])
    stored = next(
        s
        for s in (np.ascontiguousarray(np.rot90(upright, k)) for k in range(4))
        if s.shape[:2] == (t.height, t.width) and np.array_equal(t.image_to_display(s), upright)
    )
    clip = make_video(tmp_path_factory.mktemp("rot") / "phone.mp4", 4, (t.width, t.height), image=stored, rotation=90)
    return clip, upright, face, t


def test_rotated_clip_faces_are_detected_upright_and_masked(sideways_face_clip, faces: CenterFaceDetector, tmp_path: Path) -> None:
    from sammask.media import probe
    from sammask.geometry import display_transform

    clip, upright, face, t = sideways_face_clip
    info = probe(clip)
    assert display_transform(info.display_matrix, info.width, info.height) == t
    # `detect` writes display-space tracks (as any tracker reading the clip upright would)
    res = runner.invoke(app, ["detect", str(clip), "-o", str(tmp_path / "d.json"), "--report", str(tmp_path / "s.json"), "-q"])
    assert res.exit_code == 0, res.output
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["tracks_space"] == "display" and stats["upright"] == "rotate 90 counter-clockwise"
    display_tracks = read_tracks(tmp_path / "d.json")
    centre = np.array([(face[0] + face[2]) / 2, (face[1] + face[3]) / 2])
    for i in range(4):
        boxes = [d.bbox for d in display_tracks.on_frame(i)]
        assert boxes, i
        near = min(np.abs(np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]) - centre).max() for b in boxes)
        assert near < (face[2] - face[0]) * 0.25, (i, boxes, face)  # where the face is on the upright frame
        assert all(b[2] <= upright.shape[1] and b[3] <= upright.shape[0] for b in boxes)
    res = runner.invoke(app, ["detect", str(clip), "-o", str(tmp_path / "s.txt"), "--tracks-space", "stored", "-q"])
    assert res.exit_code == 0, res.output
    stored_tracks = read_tracks(tmp_path / "s.txt")
    for a, b in zip(display_tracks, stored_tracks):
        assert np.allclose(t.box_to_stored(a.bbox), b.bbox, atol=1e-2)
    # `redact` without tracks masks the face on the decoded (stored) output frames, every pixel
    out, report = tmp_path / "out.mp4", tmp_path / "r.json"
    res = runner.invoke(
        app,
        ["redact", str(clip), "-o", str(out), "--effect", "solid", "--crf", "8", "--preset", "ultrafast", "--report", str(report), "-q"],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads(report.read_text())
    assert rep["tracks_space"] == "display" and rep["tracks_transform"] == "rotate 90 counter-clockwise"
    assert rep["detection"]["upright"] == "rotate 90 counter-clockwise"
    sx1, sy1, sx2, sy2 = t.box_to_stored(face)
    frames = 0
    with av.open(str(out)) as c:
        for f in c.decode(video=0):
            img = f.to_ndarray(format="rgb24").astype(int)
            assert img.shape[:2] == (t.height, t.width)
            assert np.abs(img[int(sy1) : int(np.ceil(sy2)), int(sx1) : int(np.ceil(sx2))]).max() <= 16
            frames += 1
    assert frames == 4
    res = runner.invoke(app, ["redact", str(clip), "-o", str(tmp_path / "x.mp4"), "--tracks-space", "stored", "-q"])
    assert res.exit_code == 2 and "tracks_space (--tracks-space) applies with a tracks file only" in res.output
