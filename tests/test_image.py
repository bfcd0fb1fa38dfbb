"""Image room (issue 17): classical backend end to end on test-built images and DAVIS frames,
EXIF orientation, inputs (16-bit, RGBA, globs), the CLI with the path gate, COCO / YOLO-seg / PNG
outputs decoded back, RGBA alpha == mask, resumable labelling. SAM 2 plumbing: tests/test_image_sam2.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from sammask.cli import app
from sammask.detection.base import FrameDetections
from sammask.errors import ConfigError, InputFileError
from sammask.eval.metrics import jaccard
from sammask.geometry import mask_bbox
from sammask.image import (
    ClassicalBackend,
    FelzenszwalbOptions,
    Prompt,
    cutout,
    expand_inputs,
    load_image,
    segment,
    segment_everything,
)
from sammask.image import load as load_mod
from sammask.image.label import label_folder

runner = CliRunner()


def _cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def _scene(h: int = 160, w: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A red ellipse on green-ish noisy background: (image, object mask)."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (40, 140, 60)
    img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    obj = ((xx - w * 0.55) / (w * 0.18)) ** 2 + ((yy - h * 0.5) / (h * 0.3)) ** 2 <= 1
    img[obj] = np.clip(np.array([200, 40, 40]) + rng.normal(0, 12, (int(obj.sum()), 3)), 0, 255).astype(np.uint8)
    return img, obj


# --- classical backend --------------------------------------------------------------------------


def test_classical_box_and_click_find_the_object_on_a_built_image():
    img, obj = _scene()
    backend = ClassicalBackend()
    box = mask_bbox(obj)
    [best] = segment(img, backend, Prompt(box=box), multimask=False)
    assert best.mask.shape == obj.shape and best.mask.dtype == np.bool_
    assert jaccard(obj, best.mask) > 0.9
    assert 0.0 <= best.score <= 1.0
    cands = segment(img, backend, Prompt(points=[(0.55 * 240, 80)], labels=[1]), multimask=True)
    assert 1 <= len(cands) <= 3 and [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
    assert jaccard(obj, cands[0].mask) > 0.8
    # a background click next to the object keeps that pixel out
    with_bg = segment(img, backend, Prompt(box=box, points=[(box[0] + 2, box[1] + 2)], labels=[0]), multimask=False)[0]
    assert not with_bg.mask[int(box[1]) + 2, int(box[0]) + 2]


def test_classical_box_on_davis_frame(davis_seq):
    """hike frame 0 (854x480): the GrabCut box cut is far better than the box (J measured 0.93)."""
    import av

    seq = davis_seq("hike")
    with av.open(str(seq / "video.mp4")) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    gt = np.asarray(Image.open(seq / "masks" / "00000.png")) > 0
    [cand] = segment(frame, ClassicalBackend(), Prompt(box=mask_bbox(gt)), multimask=False)
    assert jaccard(gt, cand.mask) > 0.85
    # everything: regions tile the frame (each pixel in at most one region), sorted by area
    masks = segment_everything(frame, ClassicalBackend(), FelzenszwalbOptions())
    assert len(masks) >= 5
    stack = np.stack([m.mask for m in masks])
    assert stack.sum(0).max() == 1
    assert [m.area for m in masks] == sorted((m.area for m in masks), reverse=True)
    assert all(m.area == int(m.mask.sum()) and m.bbox == mask_bbox(m.mask) and m.predicted_iou is None for m in masks)
    assert min(m.area for m in masks) >= 0.002 * frame.shape[0] * frame.shape[1]


def test_classical_everything_downscales_large_images_and_maps_back():
    img, obj = _scene(900, 1600)
    masks = segment_everything(img, ClassicalBackend(), FelzenszwalbOptions(max_side=320))
    assert all(m.mask.shape == (900, 1600) for m in masks)
    best = max(jaccard(obj, m.mask) for m in masks)
    assert best > 0.9


def test_prompt_validation():
    with pytest.raises(ConfigError, match="box or at least one foreground point"):
        Prompt(points=[(1, 1)], labels=[0])
    with pytest.raises(ConfigError, match="one label per point"):
        Prompt(points=[(1, 1), (2, 2)], labels=[1])
    with pytest.raises(ConfigError, match="x2 > x1"):
        Prompt(box=(5, 5, 2, 9))
    img, _ = _scene()
    with pytest.raises(ConfigError, match="outside the 240x160 image"):
        segment(img, ClassicalBackend(), Prompt(points=[(300, 10)], labels=[1]))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 4))
def test_cutout_alpha_is_the_union_of_the_masks(seed, n):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (12, 17, 3), dtype=np.uint8)
    masks = [rng.random((12, 17)) < 0.3 for _ in range(n)]
    rgba = cutout(img, masks)
    union = np.logical_or.reduce(masks)
    assert rgba.shape == (12, 17, 4) and rgba.dtype == np.uint8
    assert np.array_equal(rgba[..., 3], union.astype(np.uint8) * 255)
    assert np.array_equal(rgba[..., :3], img)
    bg = np.zeros_like(img)
    rgb = cutout(img, masks, background=bg)
    assert np.array_equal(rgb[union], img[union]) and not rgb[~union].any()


# --- inputs ---------------------------------------------------------------------------------------


def _exif_rotated_jpeg(path: Path, upright: np.ndarray, orientation: int = 6) -> None:
    """Store ``upright`` so that a viewer applying EXIF ``orientation`` shows it upright.

    Orientation 6 = the viewer rotates the stored pixels 90 degrees clockwise; so store them
    rotated 90 degrees counter-clockwise."""
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, quality=98, exif=exif.tobytes())


def test_exif_rotated_jpeg_box_in_upright_coordinates_masks_the_right_pixels(tmp_path):
    img, obj = _scene(160, 240)
    src = tmp_path / "phone.jpg"
    _exif_rotated_jpeg(src, img)
    assert Image.open(src).size == (160, 240)  # stored portrait, shown landscape
    loaded = load_image(src)
    assert loaded.orientation == 6 and loaded.rgb.shape == (160, 240, 3)
    red = (loaded.rgb[..., 0].astype(int) - loaded.rgb[..., 1]) > 60  # the object, as the viewer shows it
    assert jaccard(obj, red) > 0.95
    box = mask_bbox(obj)
    out = tmp_path / "mask.png"
    r = _cli("image", "segment", src, "--box", ",".join(f"{v:g}" for v in box), "-o", out)
    assert r.exit_code == 0, r.output
    mask = np.asarray(Image.open(out)) > 0
    assert mask.shape == obj.shape
    assert jaccard(obj, mask) > 0.9
    x1, y1, x2, y2 = (int(v) for v in box)
    outside = np.ones_like(mask)
    outside[y1:y2, x1:x2] = False
    assert not mask[outside].any()


def test_16bit_grey_rgba_palette_webp_tiff_inputs(tmp_path):
    ramp = (np.arange(64, dtype=np.uint16) * 1040).reshape(8, 8)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    li = load_image(tmp_path / "g16.png")
    assert li.bit_depth == 16 and li.rgb.dtype == np.uint8
    assert np.array_equal(li.rgb[..., 0], np.round(ramp.astype(float) * 255 / 65535).astype(np.uint8))
    import cv2

    rgb16 = np.arange(4 * 5 * 3, dtype=np.uint16).reshape(4, 5, 3) * 1000
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16[:, :, ::-1])
    l16 = load_image(tmp_path / "rgb16.png")
    assert l16.bit_depth == 16 and np.array_equal(l16.rgb, (rgb16 >> 8).astype(np.uint8))
    rgba = np.zeros((6, 9, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[2:4, 3:6, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "a.png")
    la = load_image(tmp_path / "a.png")
    assert la.alpha is not None and np.array_equal(la.alpha, rgba[..., 3]) and la.rgb.shape == (6, 9, 3)
    img, _ = _scene(40, 60)
    Image.fromarray(img).save(tmp_path / "x.webp", lossless=True)
    Image.fromarray(img).save(tmp_path / "x.tiff")
    assert np.array_equal(load_image(tmp_path / "x.webp").rgb, img)
    assert np.array_equal(load_image(tmp_path / "x.tiff").rgb, img)


def test_inputs_folders_globs_and_errors(tmp_path, monkeypatch):
    img, _ = _scene(20, 30)
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.jpg", "d/a.png", "d/sub/c.JPG", "d/notes.txt"):
        p = tmp_path / name
        p.write_text("x") if p.suffix == ".txt" else Image.fromarray(img).save(p)
    got = expand_inputs([tmp_path / "d"])
    assert [p.relative_to(tmp_path).as_posix() for p in got] == ["d/a.png", "d/b.jpg", "d/sub/c.JPG"]
    assert expand_inputs([str(tmp_path / "d" / "*.jpg"), tmp_path / "d" / "b.jpg"]) == [tmp_path / "d" / "b.jpg"]
    with pytest.raises(InputFileError, match="no image matches"):
        expand_inputs([str(tmp_path / "*.gif")])
    with pytest.raises(InputFileError, match="not found"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(InputFileError, match="not an image"):
        load_image(tmp_path / "d" / "notes.txt")
    monkeypatch.setattr(load_mod, "MAX_PIXELS", 500)
    with pytest.raises(InputFileError, match=r"30x20 = 0 megapixels, over the 0 megapixel limit"):
        load_image(tmp_path / "d" / "a.png")


# --- CLI -------------------------------------------------------------------------------------------


def test_cli_cutout_alpha_equals_the_segment_mask_and_gate(tmp_path):
    img, obj = _scene()
    src = tmp_path / "in.png"
    Image.fromarray(img).save(src)
    box = ",".join(f"{v:g}" for v in mask_bbox(obj))
    assert _cli("image", "segment", src, "--box", box, "-o", tmp_path / "m.png").exit_code == 0
    r = _cli("image", "cutout", src, "--box", box, "-o", tmp_path / "c.png")
    assert r.exit_code == 0, r.output
    mask = np.asarray(Image.open(tmp_path / "m.png"))
    rgba = np.asarray(Image.open(tmp_path / "c.png"))
    assert rgba.shape == (160, 240, 4)
    assert np.array_equal(rgba[..., 3], mask) and set(np.unique(mask)) <= {0, 255}
    assert np.array_equal(rgba[..., :3], img)
    r = _cli("image", "cutout", src, "--box", box, "--background", "color:0000ff", "-o", tmp_path / "blue.png")
    assert r.exit_code == 0, r.output
    blue = np.asarray(Image.open(tmp_path / "blue.png"))
    assert (blue[mask == 0] == (0, 0, 255)).all() and np.array_equal(blue[mask > 0], img[mask > 0])
    # the gate: an existing output needs -y and stays untouched; the input is never an output
    before = (tmp_path / "c.png").read_bytes()
    r = _cli("image", "cutout", src, "--box", box, "-o", tmp_path / "c.png")
    assert r.exit_code == 2 and "already exists" in r.output and (tmp_path / "c.png").read_bytes() == before
    r = _cli("image", "segment", src, "--box", box, "-o", src)
    assert r.exit_code == 2 and "input image" in r.output
    assert np.array_equal(np.asarray(Image.open(src)), img)
    assert _cli("image", "cutout", src, "--box", box, "-o", tmp_path / "c.png", "-y").exit_code == 0
    r = _cli("image", "segment", src, "--point", "1,2,7", "-o", tmp_path / "z.png")
    assert r.exit_code == 2 and "--point takes" in r.output and not (tmp_path / "z.png").exists()
    r = _cli("image", "segment", src, "--point", "10,10", "--multimask", "-o", tmp_path / "mm.png")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "mm.0.png").exists() and not (tmp_path / "mm.png").exists()


def test_cli_everything_coco_loads_with_pycocotools_and_decodes_to_the_masks(tmp_path):
    from pycocotools.coco import COCO

    img, _ = _scene(120, 180)
    src = tmp_path / "in.png"
    Image.fromarray(img).save(src)
    r = _cli("image", "everything", src, "-o", tmp_path / "ev")
    assert r.exit_code == 0, r.output
    expected = segment_everything(img, ClassicalBackend())
    coco = COCO(str(tmp_path / "ev" / "masks.coco.json"))
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[1]))
    assert len(anns) == len(expected) >= 2
    for ann, m in zip(anns, expected):
        assert np.array_equal(coco.annToMask(ann).astype(bool), m.mask)
        assert ann["area"] == m.area
    overlay = np.asarray(Image.open(tmp_path / "ev" / "overlay.png"))
    assert overlay.shape == (120, 180, 3)
    r = _cli("image", "everything", src, "-o", tmp_path / "ev2", "--points-per-side", "8")
    assert r.exit_code == 2 and "--backend sam2" in r.output and not (tmp_path / "ev2").exists()


# --- labelling ----------------------------------------------------------------------------------


class _BoxDetector:
    """Test detector: the bbox of the red object of :func:`_scene` images, class ``blob``."""

    def __init__(self):
        self.calls = 0

    def __call__(self, rgb):
        self.calls += 1
        red = (rgb[..., 0] > 150) & (rgb[..., 1] < 100)
        box = mask_bbox(red)
        return FrameDetections(np.array([box], np.float32), np.array([0.9], np.float32), ("blob",))


def _folder(tmp_path: Path, n: int = 3) -> tuple[list[Path], list[np.ndarray]]:
    (tmp_path / "imgs").mkdir()
    paths, objs = [], []
    for i in range(n):
        img, obj = _scene(100 + 10 * i, 150, seed=i)
        p = tmp_path / "imgs" / f"im{i}.png"
        Image.fromarray(img).save(p)
        paths.append(p)
        objs.append(obj)
    return paths, objs


def test_label_coco_yolo_png_decode_to_the_masks(tmp_path):
    from pycocotools.coco import COCO

    from sammask.export.yolo import rasterize_polygons

    paths, objs = _folder(tmp_path)
    backend = ClassicalBackend()
    masks = [segment(load_image(p).rgb, backend, Prompt(box=mask_bbox(o)), multimask=False)[0].mask for p, o in zip(paths, objs)]
    for fmt in ("coco", "yolo-seg", "png"):
        rep = label_folder(paths, tmp_path / fmt, detect=_BoxDetector(), backend=backend, format=fmt)
        assert rep.labelled == 3 and rep.objects == 3 and rep.images_per_second > 0
        assert json.loads((tmp_path / fmt / "classes.json").read_text()) == ["blob"]
        assert np.asarray(Image.open(tmp_path / fmt / "contact_sheet.png")).ndim == 3
    coco = COCO(str(tmp_path / "coco" / "annotations.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["blob"]
    for image_id, (p, m) in enumerate(zip(paths, masks), 1):
        assert coco.loadImgs(image_id)[0]["file_name"] == p.name
        [ann] = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        assert np.array_equal(coco.annToMask(ann).astype(bool), m)
        assert jaccard(objs[image_id - 1], m) > 0.9
    for i, m in enumerate(masks):
        h, w = m.shape
        lines = (tmp_path / "yolo-seg" / "labels" / f"im{i}.txt").read_text().splitlines()
        assert lines
        polys = []
        for line in lines:
            vals = line.split()
            assert vals[0] == "0" and len(vals) % 2 == 1
            xy = np.array(vals[1:], float).reshape(-1, 2)
            assert (xy >= 0).all() and (xy <= 1).all()
            polys.append(xy * [w, h])
        assert jaccard(m, rasterize_polygons(polys, (h, w))) > 0.95
        assert Image.open(tmp_path / "yolo-seg" / "images" / f"im{i}.jpg").size == (w, h)
        ids = np.asarray(Image.open(tmp_path / "png" / "masks" / f"im{i}.png"))
        assert np.array_equal(ids == 1, m) and set(np.unique(ids)) <= {0, 1}
    assert 'names:\n  0: "blob"' in (tmp_path / "yolo-seg" / "data.yaml").read_text()


def test_label_resumes_with_the_same_settings_and_relabels_with_others(tmp_path):
    paths, _ = _folder(tmp_path)
    det = _BoxDetector()
    backend = ClassicalBackend()
    out = tmp_path / "ds"
    with pytest.raises(ConfigError, match="no sammask label state"):
        label_folder(paths, out, detect=det, backend=backend, resume=True)
    first = label_folder(paths[:2], out, detect=det, backend=backend, settings={"detect": "blob"})
    assert (first.labelled, det.calls) == (2, 2)
    seen = []
    again = label_folder(
        paths,
        out,
        detect=det,
        backend=backend,
        settings={"detect": "blob"},
        resume=True,
        progress=lambda done, total, rate: seen.append((done, total)),
    )
    assert (again.labelled, again.skipped, det.calls) == (1, 2, 3)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    other = label_folder(paths, out, detect=det, backend=backend, settings={"detect": "blob", "min_score": 0.7}, resume=True)
    assert (other.labelled, other.skipped) == (3, 0) and other.digest != again.digest
    # a touched source image is labelled again
    Image.open(paths[0]).save(paths[0])
    import os

    os.utime(paths[0], ns=(1, 1))
    last = label_folder(paths, out, detect=det, backend=backend, settings={"detect": "blob", "min_score": 0.7}, resume=True)
    assert (last.labelled, last.skipped) == (1, 2)


def test_cli_label_gate_and_resume(tmp_path):
    _folder(tmp_path, 2)
    out = tmp_path / "ds"
    r = _cli("label", tmp_path / "imgs", "--detect", "faces", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    assert "2 labelled" in r.output and (out / "annotations.json").exists()
    r = _cli("label", tmp_path / "imgs", "--detect", "faces", "-o", out, "-q")
    assert r.exit_code == 2 and "already exists" in r.output
    r = _cli("label", tmp_path / "imgs", "--detect", "faces", "-o", out, "-q", "--resume")
    assert r.exit_code == 0 and "2 skipped" in r.output
    r = _cli("label", tmp_path / "imgs", "--detect", "faces", "-o", tmp_path / "imgs" / "ds", "-q")
    assert r.exit_code == 2 and "inside" in r.output


def test_cli_sam2_without_weights_is_one_line_naming_the_offline_backend(tmp_path):
    img, _ = _scene(20, 30)
    Image.fromarray(img).save(tmp_path / "in.png")
    r = _cli(
        "image",
        "segment",
        tmp_path / "in.png",
        "--point",
        "5,5",
        "--backend",
        "sam2",
        "--model-path",
        tmp_path / "missing.pt",
        "-o",
        tmp_path / "m.png",
    )
    assert r.exit_code == 2 and "--backend classical" in r.output and not (tmp_path / "m.png").exists()
    r = _cli("image", "segment", tmp_path / "in.png", "--point", "5,5", "--model", "x", "-o", tmp_path / "m.png")
    assert r.exit_code == 2 and "are for --backend sam2" in r.output


def test_cli_cutout_detect_faces_keeps_every_detected_face(davis_seq, tmp_path):
    """bmx-bumps frame 0 has the rider's face: the cut-out keeps a mask inside each face box."""
    import av

    from sammask.detection.faces import CenterFaceDetector

    with av.open(str(davis_seq("bmx-bumps") / "video.mp4")) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    src = tmp_path / "bmx.png"
    Image.fromarray(frame).save(src)
    with CenterFaceDetector() as det:
        boxes = det.detect(frame).xyxy
    assert len(boxes) >= 1
    r = _cli("image", "cutout", src, "--detect", "faces", "-o", tmp_path / "faces.png")
    assert r.exit_code == 0, r.output
    alpha = np.asarray(Image.open(tmp_path / "faces.png"))[..., 3] > 0
    inside = np.zeros_like(alpha)
    for x1, y1, x2, y2 in boxes:
        from sammask.geometry import box_mask

        box = box_mask((float(x1), float(y1), float(x2), float(y2)), alpha.shape)
        assert alpha[box].mean() > 0.1  # each face box has its mask
        inside |= box
    assert not alpha[~inside].any()  # nothing outside the detections
