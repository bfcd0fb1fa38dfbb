"""Metrics (leak, collateral, DAVIS J/F), ground-truth loading, matching and the applied-mask export."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from sammask.errors import EvalError, InputFileError
from sammask.eval.groundtruth import GroundTruthSequence, object_bboxes, read_mot_boxes
from sammask.eval.matching import match_tracks
from sammask.geometry import box_iou
from sammask.eval.metrics import (
    boundary_map,
    boundary_score,
    boundary_tolerance,
    boxes_mask,
    combine,
    disk,
    evaluate_frame,
    f_measure,
    jaccard,
    summarize,
)
from sammask.export.applied import AppliedMaskWriter, read_applied_masks, read_applied_meta


def square(shape: tuple[int, int], r0: int, c0: int, side: int) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[r0 : r0 + side, c0 : c0 + side] = True
    return m


# --- independent reference for the DAVIS boundary measure: plain loops over the definitions ----


def ref_boundary(seg: np.ndarray) -> np.ndarray:
    """seg2bmap by its definition: a pixel differs from its E, S or SE neighbour (edges per DAVIS)."""
    h, w = seg.shape
    out = np.zeros_like(seg)
    for i in range(h):
        for j in range(w):
            v = seg[i, j]
            if i == h - 1 and j == w - 1:
                continue
            if i == h - 1:
                out[i, j] = v != seg[i, j + 1]
            elif j == w - 1:
                out[i, j] = v != seg[i + 1, j]
            else:
                out[i, j] = v != seg[i, j + 1] or v != seg[i + 1, j] or v != seg[i + 1, j + 1]
    return out


def ref_f(gt: np.ndarray, pred: np.ndarray, tol: int) -> float:
    """F from boundary pixels matched within Euclidean distance ``tol`` (brute force)."""
    gb = np.argwhere(ref_boundary(gt))
    pb = np.argwhere(ref_boundary(pred))

    def matched(a: np.ndarray, b: np.ndarray) -> int:
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return int((d2.min(axis=1) <= tol * tol).sum())

    p = matched(pb, gb) / len(pb)
    r = matched(gb, pb) / len(gb)
    return 2 * p * r / (p + r) if p + r else 0.0


def test_square_boundary_has_80_pixels_as_seg2bmap_defines() -> None:
    a = square((64, 64), 10, 10, 20)
    b = boundary_map(a)
    # inside: last column + last row (20 + 20 - 1); outside: row above (21) + column left (20)
    assert int(b.sum()) == 39 + 41
    assert np.array_equal(b, ref_boundary(a))
    assert b[9, 9] and b[29, 29] and b[9, 29] and b[29, 10] and not b[10, 10] and not b[30, 30]


def test_disk_matches_euclidean_definition() -> None:
    k = disk(3)
    assert k.shape == (7, 7)
    assert k.sum() == 29  # lattice points with x^2 + y^2 <= 9
    assert k[3, 0] == 1 and k[0, 0] == 0 and k[1, 1] == 1  # (2,2): 8 <= 9


@pytest.mark.parametrize("d", [1, 3, 5])
def test_jaccard_of_offset_squares(d: int) -> None:
    a = square((64, 64), 10, 10, 20)
    b = square((64, 64), 10, 10 + d, 20)
    inter = 20 * (20 - d)
    assert jaccard(a, b) == inter / (800 - inter)
    assert jaccard(a, a) == 1.0


@pytest.mark.parametrize(("d", "tol"), [(3, 3), (3, 5), (3, 2), (5, 2), (6, 1)])
def test_f_of_offset_squares_against_reference(d: int, tol: int) -> None:
    a = square((64, 64), 10, 10, 20)
    b = square((64, 64), 12, 10 + d, 20)  # also 2 rows down: a diagonal shift of length sqrt(d^2+4)
    expected = ref_f(a, b, tol)
    assert f_measure(a, b, bound_th=tol) == pytest.approx(expected, abs=1e-12)
    if d * d + 4 <= tol * tol:
        assert expected == 1.0


def test_f_is_one_when_the_shift_is_within_tolerance_and_below_one_otherwise() -> None:
    a = square((64, 64), 10, 10, 20)
    b = square((64, 64), 10, 13, 20)  # pure horizontal shift by 3
    assert boundary_score(a, b, bound_th=3) == boundary_score(a, b, bound_th=4)
    s = boundary_score(a, b, bound_th=3)
    assert (s.precision, s.recall, s.f) == (1.0, 1.0, 1.0)
    s2 = boundary_score(a, b, bound_th=2)
    assert s2.f < 1.0
    assert s2.f == pytest.approx(ref_f(a, b, 2), abs=1e-12)
    assert s2.precision == pytest.approx(s2.recall)  # symmetric configuration


def test_f_and_j_empty_conventions_and_davis_tolerance() -> None:
    e = np.zeros((48, 64), bool)
    a = square((48, 64), 5, 5, 10)
    assert jaccard(e, e) == 1.0 and f_measure(e, e) == 1.0
    assert f_measure(a, e) == 0.0 and f_measure(e, a) == 0.0
    assert boundary_score(a, e).precision == 1.0 and boundary_score(e, a).recall == 1.0
    assert jaccard(a, e) == 0.0
    assert boundary_tolerance((480, 854)) == 8  # ceil(0.008 * 979.6)
    assert boundary_tolerance((240, 432)) == 4  # ceil(0.008 * 494.2)
    with pytest.raises(EvalError, match="same shape"):
        jaccard(a, np.zeros((10, 10), bool))


def _frame(leak_obj2: int) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """60x80 frame: object 1 = 10x10 square (100 px), object 2 = 5x10 (50 px)."""
    ids = np.zeros((60, 80), np.uint8)
    ids[10:20, 10:20] = 1
    ids[40:45, 50:60] = 2
    t1 = ids == 1
    t2 = ids == 2
    t2[40, 50 : 50 + leak_obj2] = False  # the track's mask misses leak_obj2 pixels of object 2
    applied = t1 | t2
    applied[0, 0:30] = True  # 30 px of collateral
    return ids, applied, {7: t1, 9: t2}


def test_leak_collateral_and_frame_lists_exact() -> None:
    box = np.zeros((60, 80), bool)
    box[8:22, 8:22] = True  # 196 px, 96 of them background
    box[38:47, 48:62] = True  # 126 px, 76 background
    rows = []
    for frame_idx, leak in enumerate([0, 2, 3, 1]):
        ids, applied, tracks = _frame(leak)
        rows.append(evaluate_frame(frame_idx, ids, applied, tracks, {1: 7, 2: 9}, box))
    f1 = rows[1]
    assert (f1.gt_pixels, f1.leaked_pixels, f1.collateral_pixels) == (150, 2, 30)
    assert f1.background_pixels == 60 * 80 - 150 and f1.box_collateral_pixels == 96 + 76
    assert f1.leak == 2 / 50  # worst object: object 2
    assert f1.objects[0].j == 1.0 and f1.objects[1].j == 48 / 50
    m = summarize("toy", rows)
    assert m.leaked_pixels == 6 and m.gt_pixels == 600
    assert m.leak == 6 / 600
    assert m.frames_over == {0.01: (1, 2, 3), 0.05: (2,)}  # frame leaks 0%, 4%, 6%, 2%
    assert [o.leak for o in m.objects] == [0.0, 6 / 200]
    assert m.collateral == 120 / (4 * (4800 - 150))
    assert m.collateral_vs_box == 120 / (4 * 172)
    assert m.j == pytest.approx((1.0 + np.mean([1, 48 / 50, 47 / 50, 49 / 50])) / 2)
    assert m.jf == (m.j + m.f) / 2
    o = combine([m, m])
    assert o.leak == m.leak and o.frames_over == {0.01: 6, 0.05: 2} and o.frames == 8


def test_frame_leak_thresholds_are_strict() -> None:
    # object 2 has 50 px: 1 px = 2% (> 1%), 2 px = 4% (<= 5%), 3 px = 6% (> 5%)
    box = np.ones((60, 80), bool)
    leaks = {}
    for n in (0, 1, 2, 3):
        ids, applied, tracks = _frame(n)
        leaks[n] = evaluate_frame(0, ids, applied, tracks, {1: 7, 2: 9}, box).leak
    assert leaks == {0: 0.0, 1: 0.02, 2: 0.04, 3: 0.06}
    # exactly at a threshold is not over it: 100 px object, 1 px (1%) and 5 px (5%) leaked
    ids = np.zeros((20, 20), np.uint8)
    ids[5:15, 5:15] = 1
    rows = []
    for frame_idx, n in enumerate((1, 5, 6)):
        applied = ids > 0
        applied[5, 5 : 5 + n] = False
        rows.append(evaluate_frame(frame_idx, ids, applied, {1: applied}, {1: 1}, applied))
    assert summarize("s", rows).frames_over == {0.01: (1, 2), 0.05: (2,)}


def test_evaluate_frame_rejects_unknown_ids_and_size_mismatch() -> None:
    ids, applied, tracks = _frame(0)
    box = np.zeros_like(applied)
    with pytest.raises(EvalError, match=r"GT object ids \[2\]"):
        evaluate_frame(3, ids, applied, tracks, {1: 7}, box)
    with pytest.raises(EvalError, match="frame 3: applied mask has shape"):
        evaluate_frame(3, ids, applied[:, :-1], tracks, {1: 7, 2: 9}, box)


def test_unmatched_object_counts_as_leak_with_zero_j() -> None:
    ids, applied, tracks = _frame(0)
    fr = evaluate_frame(0, ids, applied, {7: tracks[7]}, {1: 7, 2: None}, applied)
    assert fr.objects[1].track_id is None and fr.objects[1].j == 0.0 and fr.objects[1].f == 0.0
    assert fr.objects[1].leaked_pixels == 0  # still covered by `applied` here


def test_boxes_mask_is_generous_and_dilates() -> None:
    m = boxes_mask([(10, 10, 20, 20)], (40, 40))
    assert m.sum() == 100 and m[10, 10] and m[19, 19] and not m[20, 20]
    assert boxes_mask([(10.2, 10, 20.5, 20)], (40, 40)).sum() == 110
    d = boxes_mask([(10, 10, 20, 20)], (40, 40), dilate=2)
    assert d[8, 12] and d[12, 8] and not d[7, 12] and d.sum() > 100


# --- export round trip --------------------------------------------------------------------


def test_applied_mask_export_round_trip_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    h, w = 37, 53
    frames = []
    for i in (0, 1, 5, 6):
        big = np.zeros((h, w), bool)
        big[:2] = True
        tracks = {3: rng.random((h, w)) > 0.5, 1000: big, 2: np.ones((h, w), bool)}
        if i == 5:
            tracks = {}
        applied = rng.random((h, w)) > 0.3
        frames.append((i, tracks, applied))
    with AppliedMaskWriter(tmp_path / "m", w, h, write_png=True) as writer:
        for i, tracks, applied in frames:
            writer.write(i, tracks, applied)
    meta = read_applied_meta(tmp_path / "m")
    assert (meta.width, meta.height, meta.frames, meta.complete) == (w, h, 4, True)
    back = list(read_applied_masks(tmp_path / "m"))
    assert [b.frame_idx for b in back] == [0, 1, 5, 6]
    for (_i, tracks, applied), b in zip(frames, back):
        assert b.applied.dtype == bool and np.array_equal(b.applied, applied)
        assert sorted(b.tracks) == sorted(tracks)
        for t in tracks:
            assert np.array_equal(b.tracks[t], tracks[t])
    png = cv2.imread(str(tmp_path / "m" / "ids" / "00000.png"), cv2.IMREAD_UNCHANGED)
    assert png.shape == (h, w) and png.dtype == np.uint8
    # overlap rule: the larger id wins; ids > 255 are written as 255
    assert np.all(png[:2] == 255)
    t3 = frames[0][1][3]
    assert np.all(png[2:][t3[2:]] == 3) and np.all(png[2:][~t3[2:]] == 2)


def test_export_rejects_bad_writes_and_flags_incomplete_runs(tmp_path: Path) -> None:
    writer = AppliedMaskWriter(tmp_path / "x", 8, 4)
    writer.write(0, {1: np.ones((4, 8), bool)}, np.ones((4, 8), bool))
    with pytest.raises(EvalError, match="must increase"):
        writer.write(0, {}, np.zeros((4, 8), bool))
    with pytest.raises(EvalError, match=r"track 1 mask of frame 1 has shape \(8, 4\)"):
        writer.write(1, {1: np.ones((8, 4), bool)}, np.zeros((4, 8), bool))
    reader = read_applied_masks(tmp_path / "x")  # writer not closed: the run "crashed"
    first = next(reader)
    assert first.frame_idx == 0 and first.tracks[1].all()
    with pytest.raises(EvalError, match="incomplete"):
        next(reader)
    writer.close()
    assert len(list(read_applied_masks(tmp_path / "x"))) == 1
    with pytest.raises(EvalError, match="already exists"):
        AppliedMaskWriter(tmp_path / "x", 8, 4)
    with pytest.raises(InputFileError, match=r"meta.json not found"):
        list(read_applied_masks(tmp_path / "nothing"))
    # a run that fails inside the with block leaves an incomplete export
    with pytest.raises(RuntimeError):
        with AppliedMaskWriter(tmp_path / "y", 8, 4) as w:
            w.write(0, {}, np.zeros((4, 8), bool))
            raise RuntimeError("encoder died")
    assert not read_applied_meta(tmp_path / "y").complete
    with pytest.raises(EvalError, match="incomplete"):
        list(read_applied_masks(tmp_path / "y"))


# --- ground truth and matching on real data ------------------------------------------------


def _copy_seq(src: Path, dst: Path, frames: int) -> Path:
    (dst / "masks").mkdir(parents=True)
    for i in range(frames):
        shutil.copy(src / "masks" / f"{i:05d}.png", dst / "masks" / f"{i:05d}.png")
    lines = [ln for ln in (src / "gt.txt").read_text().splitlines() if int(ln.split(",")[0]) <= frames]
    (dst / "gt.txt").write_text("\n".join(lines) + "\n")
    shutil.copy(src / "video.mp4", dst / "video.mp4")
    return dst


def test_groundtruth_reads_real_sequence_lazily(davis_seq) -> None:
    seq = GroundTruthSequence(davis_seq("dogs-jump"))
    assert seq.num_frames == 66 and seq.shape == (240, 432) and seq.object_ids == (1, 2, 3)
    seq.check_video()
    f0 = seq.frame(0)
    assert f0.ids.dtype == np.uint8 and set(f0.boxes) <= {1, 2, 3}
    # gt.txt boxes are the tight mask boxes (x2 = left + width)
    assert object_bboxes(f0.ids) == f0.boxes
    boxes = read_mot_boxes(seq.tracks_path)
    assert min(boxes) == 0 and max(boxes) == 65


def test_groundtruth_errors(davis_seq, tmp_path: Path) -> None:
    seq_dir = _copy_seq(davis_seq("dogs-jump"), tmp_path / "s", 6)
    (seq_dir / "masks" / "00003.png").unlink()
    seq = GroundTruthSequence(seq_dir)
    with pytest.raises(EvalError, match="frame 3 is missing"):
        seq.frame(3)
    small = np.zeros((120, 216), np.uint8)
    cv2.imwrite(str(seq_dir / "masks" / "00002.png"), small)
    with pytest.raises(EvalError, match="size 216x120 differs from frame 0"):
        seq.frame(2)
    bad = cv2.imread(str(seq_dir / "masks" / "00001.png"), cv2.IMREAD_UNCHANGED)
    bad[0:5, 0:5] = 9
    cv2.imwrite(str(seq_dir / "masks" / "00001.png"), bad)
    with pytest.raises(EvalError, match=r"mask ids \[9\] are unknown"):
        seq.frame(1)
    # masks smaller than the video
    other = tmp_path / "t"
    (other / "masks").mkdir(parents=True)
    cv2.imwrite(str(other / "masks" / "00000.png"), small)
    shutil.copy(seq_dir / "gt.txt", other / "gt.txt")
    shutil.copy(seq_dir / "video.mp4", other / "video.mp4")
    with pytest.raises(EvalError, match="video is 432x240 but masks are 216x120"):
        GroundTruthSequence(other).check_video()
    with pytest.raises(InputFileError, match=r"missing gt.txt"):
        (seq_dir / "gt.txt").unlink()
        GroundTruthSequence(seq_dir)


def test_matching_recovers_permuted_track_ids(davis_seq) -> None:
    seq = GroundTruthSequence(davis_seq("schoolgirls"))
    gt_boxes = {i: object_bboxes(seq.mask(i)) for i in range(0, seq.num_frames, 4)}
    perm = {1: 40, 2: 17, 3: 5, 4: 71, 5: 23, 6: 8, 7: 62}
    tracks = {f: {perm[o]: b for o, b in d.items()} for f, d in seq.boxes.items()}
    m = match_tracks(tracks, gt_boxes)
    assert m.obj_to_track == perm
    assert m.unmatched_tracks == () and m.unmatched_objects == ()
    # drop one track and add a spurious one far from everything: both are reported
    for d in tracks.values():
        d.pop(perm[4], None)
        d[999] = (0.0, 0.0, 3.0, 3.0)
    m2 = match_tracks(tracks, gt_boxes)
    assert m2.unmatched_objects == (4,) and m2.unmatched_tracks == (999,)
    assert dict(m2.obj_to_track.items()) == {o: t for o, t in perm.items() if o != 4}
    assert box_iou((0, 0, 2, 2), (1, 0, 3, 2)) == 2 / 6
    assert math.isclose(m.scores[(perm[1], 1)], 1.0)
