"""The web UI's shared helpers that need no browser: brush strokes and unpacking an uploaded
zip of masks (sammask.ui.common; importing it does not import gradio)."""

from __future__ import annotations

import itertools
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sammask.errors import InputFileError
from sammask.export import read_masks
from sammask.ui.common import stroke_mask, unpack_masks_zip

H, W = 48, 64


def _segment_distance(shape: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """(H, W) float: each pixel centre's distance to the polyline through the pixels holding the points."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    p = np.stack([xx, yy], -1).astype(np.float64)
    q = np.floor(points)
    if len(q) == 1:
        return np.linalg.norm(p - q[0], axis=-1)
    best = np.full(shape, np.inf)
    for a, b in itertools.pairwise(q):
        d = b - a
        t = np.clip(((p - a) @ d) / max(float(d @ d), 1e-12), 0, 1)
        best = np.minimum(best, np.linalg.norm(p - (a + t[..., None] * d), axis=-1))
    return best


@settings(max_examples=60, deadline=None)
@given(
    pts=st.lists(st.tuples(st.floats(-20, W + 20), st.floats(-20, H + 20)), min_size=1, max_size=6),
    radius=st.integers(1, 9),
)
def test_stroke_mask_covers_the_brush_along_the_polyline_and_nothing_beyond(pts, radius):
    """Every pixel within ``radius - 1`` of the polyline is painted and none farther than
    ``radius + 1.5`` (OpenCV's rasterisation of thick lines lies between the two)."""
    points = np.asarray(pts, np.float64)
    m = stroke_mask((H, W), points, radius)
    d = _segment_distance((H, W), points)
    assert m.shape == (H, W) and m.dtype == bool
    assert m[d <= radius - 1].all()
    assert not m[d > radius + 1.5].any()


def test_stroke_mask_rejects_malformed_points():
    for bad in ([], [[1.0]], [[1.0, float("nan")]]):
        with pytest.raises(ValueError, match="stroke needs"):
            stroke_mask((H, W), bad, 3)


def _png_folder(tmp_path: Path) -> tuple[Path, dict[int, dict[int, np.ndarray]]]:
    from sammask.export import write_masks

    rng = np.random.default_rng(0)
    want = {}
    for f in range(3):
        m = np.zeros((H, W), bool)
        m[5:30, 10:40] = rng.random((25, 30)) < 0.6
        want[f] = {f + 1: m}
    folder = write_masks(iter(want.items()), tmp_path / "ids", "png", width=W, height=H)
    return folder, want


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("prefix", ["", "my masks/"])
def test_unpack_png_zip_at_top_or_in_one_folder(tmp_path, prefix):
    folder, want = _png_folder(tmp_path)
    members = {f"{prefix}{p.name}": p.read_bytes() for p in folder.iterdir()}
    members[f"{prefix}notes.txt"] = b"skipped"
    members["__MACOSX/._00000.png"] = b"resource fork"
    dest = tmp_path / "dest"
    dest.mkdir()
    unpack_masks_zip(_zip(tmp_path / "m.zip", members), dest)
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in folder.iterdir())
    got = {mf.frame_idx: mf.masks for mf in read_masks(dest).read()}
    for f, masks in want.items():
        for o, m in masks.items():
            np.testing.assert_array_equal(got[f][o], m)


def test_unpack_save_masks_zip(tmp_path):
    from sammask.export.applied import AppliedMaskWriter

    m = np.zeros((H, W), bool)
    m[3:9, 4:20] = True
    src = tmp_path / "saved"
    src.mkdir()
    w = AppliedMaskWriter(src, W, H, write_png=True)
    w.write(0, {7: m}, m)
    w.close()
    members = {str(p.relative_to(tmp_path)): p.read_bytes() for p in src.rglob("*") if p.is_file()}
    dest = tmp_path / "dest"
    dest.mkdir()
    unpack_masks_zip(_zip(tmp_path / "saved.zip", members), dest)
    assert sorted(p.name for p in dest.iterdir()) == ["masks.jsonl", "meta.json"]  # ids/ skipped
    (frame,) = list(read_masks(dest).read())
    np.testing.assert_array_equal(frame.masks[7], m)


def test_unpack_refuses_what_is_not_a_mask_zip(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (tmp_path / "plain.zip").write_bytes(b"not a zip at all")
    with pytest.raises(InputFileError, match=r"plain\.zip is not a readable zip"):
        unpack_masks_zip(tmp_path / "plain.zip", dest)
    with pytest.raises(InputFileError, match="neither PNG id maps"):
        unpack_masks_zip(_zip(tmp_path / "junk.zip", {"a.txt": b"x", "../../evil.png": b"x"}), dest)
    with pytest.raises(InputFileError, match="two id maps for frame 1"):
        unpack_masks_zip(_zip(tmp_path / "dup.zip", {"1.png": b"x", "00001.png": b"y"}), dest)
    with pytest.raises(InputFileError, match="more than 10 bytes"):
        unpack_masks_zip(_zip(tmp_path / "big.zip", {"00000.png": b"x" * 11}), dest, max_bytes=10)
    with pytest.raises(InputFileError, match="at most 2 are accepted"):
        unpack_masks_zip(_zip(tmp_path / "many.zip", {f"{i}.png": b"x" for i in range(3)}), dest, max_members=2)
    assert list(dest.iterdir()) == []  # every refusal came before the first write
