"""Export formats validated by their own readers, on DAVIS ground-truth masks (real shapes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sammask.errors import ConfigError, ExportError
from sammask.eval.groundtruth import GroundTruthSequence
from sammask.eval.metrics import jaccard
from sammask.export import exclusive_masks, read_masks, write_masks, z_order
from sammask.export.yolo import rasterize_polygons, read_yolo_labels
from sammask.tracks import DetectionType, read_tracks

FRAMES = 6


@pytest.fixture(scope="module")
def gt(davis_seq):
    """The first frames of schoolgirls (several overlapping-in-box people) as {obj_id: mask}."""
    seq = GroundTruthSequence(davis_seq("schoolgirls"))
    frames = []
    for f in range(FRAMES):
        ids = seq.mask(f)
        frames.append((f, {int(o): ids == o for o in np.unique(ids) if o}))
    h, w = seq.shape
    return frames, w, h, seq


def test_coco_is_read_by_pycocotools(gt, tmp_path):
    from pycocotools.coco import COCO

    frames, w, h, _ = gt
    path = write_masks(frames, tmp_path / "m.json", "coco", width=w, height=h)
    coco = COCO(str(path))
    assert len(coco.getImgIds()) == FRAMES
    n = 0
    for f, masks in frames:
        img = coco.imgs[f + 1]
        assert img["frame_idx"] == f and (img["height"], img["width"]) == (h, w)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[f + 1]))
        assert {a["track_id"] for a in anns} == set(masks)
        for a in anns:
            m = coco.annToMask(a).astype(bool)
            np.testing.assert_array_equal(m, masks[a["track_id"]])
            ys, xs = np.nonzero(m)
            assert a["area"] == m.sum()
            assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            n += 1
    assert n == sum(len(m) for _, m in frames)
    back = {fr.frame_idx: fr.masks for fr in read_masks(path).read()}
    for f, masks in frames:
        assert set(back[f]) == set(masks)
        for o in masks:
            np.testing.assert_array_equal(back[f][o], masks[o])


def test_png_ids_round_trip_uint16(gt, tmp_path):
    import cv2

    frames, w, h, _ = gt
    # ids above 255 must survive (uint16)
    renumbered = [(f, {o * 1000 + 7: m for o, m in masks.items()}) for f, masks in frames]
    path = write_masks(renumbered, tmp_path / "ids", "png", width=w, height=h)
    first = cv2.imread(str(path / "00000.png"), cv2.IMREAD_UNCHANGED)
    assert first.dtype == np.uint16 and first.shape == (h, w)
    src = read_masks(path)
    assert (src.format, src.width, src.height) == ("png", w, h)
    back = {fr.frame_idx: fr.masks for fr in src.read()}
    for f, masks in renumbered:
        # GT masks do not overlap: the round trip is exact
        assert set(back[f]) == set(masks)
        for o, m in masks.items():
            np.testing.assert_array_equal(back[f][o], m)


def test_yolo_polygons_rerasterise_to_the_mask(gt, tmp_path):
    frames, w, h, seq = gt
    from sammask.media import VideoReader

    with VideoReader(seq.video_path) as r:
        images = [f.image for _, f in zip(range(FRAMES), r)]
    path = write_masks(frames, tmp_path / "yolo", "yolo", width=w, height=h, frames=lambda i: images[i])
    assert (path / "data.yaml").read_text().startswith("path: .")
    assert sorted(p.name for p in (path / "images").iterdir()) == [f"{f:05d}.jpg" for f in range(FRAMES)]
    labels = dict(read_yolo_labels(path, w, h))
    for f, masks in frames:
        union = np.logical_or.reduce(list(masks.values()))
        got = rasterize_polygons(labels[f], (h, w))
        assert jaccard(union, got) >= 0.9
        for line in (path / "labels" / f"{f:05d}.txt").read_text().splitlines():
            vals = [float(v) for v in line.split()[1:]]
            assert line.startswith("0 ") and all(0 <= v <= 1 for v in vals)


def _overlapping(frames):
    """Masks that overlap: each GT object grown by 15 px."""
    import cv2

    k = np.ones((31, 31), np.uint8)
    return [(f, {o: cv2.dilate(m.astype(np.uint8), k).astype(bool) for o, m in masks.items()}) for f, masks in frames]


def test_mots_has_no_overlaps_and_round_trips(gt, tmp_path):
    from pycocotools import mask as mask_util

    frames, w, h, _ = gt
    grown = _overlapping(frames)
    path = write_masks(grown, tmp_path / "m.txt", "mots", width=w, height=h)
    lines = path.read_text().splitlines()
    by_frame: dict[int, list[dict]] = {}
    for line in lines:
        t, _obj, cls, hh, ww, counts = line.split(" ")
        assert (int(cls), int(hh), int(ww)) == (2, h, w)
        by_frame.setdefault(int(t), []).append({"size": [h, w], "counts": counts.encode()})
    assert sorted(by_frame) == list(range(1, FRAMES + 1))  # 1-based time_frame
    for rles in by_frame.values():
        # TrackEval's MOTS check: the pairwise intersection of a frame's masks is empty
        for i in range(len(rles)):
            for j in range(i + 1, len(rles)):
                inter = mask_util.merge([rles[i], rles[j]], intersect=True)
                assert mask_util.area(inter) == 0
    back = {fr.frame_idx: fr.masks for fr in read_masks(path).read()}
    for f, masks in grown:
        union = np.logical_or.reduce(list(masks.values()))
        np.testing.assert_array_equal(np.logical_or.reduce(list(back[f].values())), union)
        # z-order: the smallest object keeps all of its pixels
        small = z_order(masks)[-1]
        np.testing.assert_array_equal(back[f][small], masks[small])


def test_tracks_json_has_type2_boxes_from_masks(gt, tmp_path):
    frames, w, h, seq = gt
    path = write_masks(frames, tmp_path / "t.json", "tracks", width=w, height=h)
    tracks = read_tracks(path)
    assert len(tracks) == sum(len(m) for _, m in frames)
    for det in tracks:
        assert det.type == DetectionType.USER_PICKED and det.selected
        m = dict(frames)[det.frame_idx][det.track_id]
        ys, xs = np.nonzero(m)
        assert det.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert det.bbox == seq.boxes[det.frame_idx][det.track_id]


def test_writer_errors_leave_nothing(tmp_path):
    m = np.zeros((10, 12), bool)
    m[2:5, 3:7] = True
    with pytest.raises(ConfigError, match="unknown export format"):
        write_masks([], tmp_path / "x", "gif", width=12, height=10)
    with pytest.raises(ExportError, match="shape"):
        write_masks([(0, {1: m}), (1, {1: m[:5]})], tmp_path / "bad.json", "coco", width=12, height=10)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ExportError, match="increase"):
        write_masks([(1, {1: m}), (1, {1: m})], tmp_path / "ids", "png", width=12, height=10)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ExportError, match="frames"):
        write_masks([(0, {1: m})], tmp_path / "y", "yolo", width=12, height=10)
    (tmp_path / "exists.json").write_text("{}")
    with pytest.raises(ExportError, match="already exists"):
        write_masks([(0, {1: m})], tmp_path / "exists.json", "coco", width=12, height=10)
    assert json.loads((tmp_path / "exists.json").read_text()) == {}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 15), st.integers(0, 15), st.integers(1, 16), st.integers(1, 16)),
        min_size=1,
        max_size=6,
    )
)
def test_exclusive_masks_partition_the_union(rects):
    masks = {}
    for i, (x, y, bw, bh) in enumerate(rects, 1):
        m = np.zeros((16, 16), bool)
        m[y : y + bh, x : x + bw] = True
        if m.any():
            masks[i] = m
    out = exclusive_masks(masks)
    total = np.zeros((16, 16), int)
    for o, m in out.items():
        assert not (m & ~masks[o]).any()  # only own pixels
        total += m
    assert total.max() <= 1
    np.testing.assert_array_equal(total.astype(bool), np.logical_or.reduce(list(masks.values())))
    # the smallest mask is kept whole
    small = min(masks, key=lambda o: (masks[o].sum(), -o))
    np.testing.assert_array_equal(out[small], masks[small])
