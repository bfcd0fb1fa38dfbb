"""Per-class effects: ``[class.NAME]`` in config.ini and ``--class-effect``; where masks of
different classes overlap the strongest effect wins (solid > mosaic > blur); checked on the
decoded output of clips and tracks the tests build."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner
from videos import make_video, redact_argv

from sammask.cli import app
from sammask.errors import ConfigError
from sammask.geometry import box_mask
from sammask.masking.compose import ObjectRegion, compose
from sammask.masking.effects import object_size_px
from sammask.masking.options import ClassEffect, Effect, MaskingOptions, MaskMode, parse_class_effect, parse_color
from sammask.settings import load_ini

runner = CliRunner()
W, H = 128, 96
# even coordinates, so that each box holds whole 2x2 chroma blocks of the yuv420p output
FACE = (16, 16, 64, 64)  # blur 5
CAR = (48, 40, 96, 80)  # solid red: overlaps FACE on x 48..63, y 40..63
PLAIN = (100, 8, 124, 32)  # no class: the global effect (solid black)
RED = (200, 40, 40)


def checkerboard() -> np.ndarray:
    """(H, W, 3) uint8 grey checkerboard of 2 px cells, 30 / 220: any blur or mosaic flattens it."""
    yy, xx = np.mgrid[0:H, 0:W]
    v = np.where(((yy // 2) + (xx // 2)) % 2 == 0, 30, 220).astype(np.uint8)
    return np.repeat(v[..., None], 3, axis=2)


def write_tracks(path: Path, frames: int) -> Path:
    dets = [
        {"track_id": 1, "bbox": list(FACE), "class": "face"},
        {"track_id": 2, "bbox": list(CAR), "class": "car"},
        {"track_id": 3, "bbox": list(PLAIN)},
    ]
    doc = {"format": "sammask-tracks", "version": 1, "frames": [{"frame_idx": i, "detections": dets} for i in range(frames)]}
    path.write_text(json.dumps(doc))
    return path


def region(box: tuple[int, int, int, int]) -> np.ndarray:
    return box_mask(box, (H, W))


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("classfx")
    src = make_video(folder / "board.mp4", 3, (W, H), image=checkerboard())
    return src, write_tracks(folder / "tracks.json", 3)


def redact_cli(src: Path, tracks: Path, out: Path, *extra: str):
    return runner.invoke(
        app,
        redact_argv(
            src,
            tracks,
            out,
            "--segmenter",
            "box",
            "--dilate",
            "0",
            "--crf",
            "0",
            "--preset",
            "ultrafast",
            "--quiet",
            *extra,
        ),
    )


def test_config_sections_mask_each_class_with_its_effect_on_the_decoded_output(clip: tuple[Path, Path], tmp_path: Path) -> None:
    src, tracks = clip
    ini = tmp_path / "config.ini"
    ini.write_text("[sam2]\neffect = solid\n\n[class.face]\neffect = blur\nstrength = 5\n\n[class.car]\ncolor = 200,40,40\n")
    out, report = tmp_path / "out.mp4", tmp_path / "run.json"
    res = redact_cli(src, tracks, out, "--config", str(ini), "--report", str(report))
    assert res.exit_code == 0, res.output
    face, car, plain = region(FACE), region(CAR), region(PLAIN)
    face_only = face & ~car
    grown = [(x1 - 2, y1 - 2, x2 + 2, y2 + 2) for x1, y1, x2, y2 in (FACE, CAR, PLAIN)]  # chroma bleeds 2 px
    untouched = ~np.logical_or.reduce([region(b) for b in grown])
    outs, ins = decoded(out), decoded(src)
    assert len(outs) == 3
    for img, inp in zip(outs, ins):
        # car (solid red, its colour from [class.car], its effect from [sam2]), overlap with the
        # blurred face included: the solid wins where the two masks overlap
        px = img[car]  # red (chroma subsampling shifts the box's edge rows by up to 16)
        assert np.abs(px - RED).max() <= 24
        assert (px[:, 0] - px[:, 1:].max(axis=1)).min() >= 110
        assert np.abs(img[plain]).max() <= 8  # no class: the global effect, solid black
        # face: blurred, every channel of every pixel near the board's mean grey (no 30 / 220 cell
        # survives; neither the red nor the black fill)
        px = img[face_only]
        assert np.abs(px - 125).max() <= 45, np.abs(px - 125).max()
        assert np.abs(inp[face_only] - 125).min() >= 60  # ... where the input had only 30 or 220
        assert np.abs(img[untouched] - inp[untouched]).max() <= 12  # the rest as it was
    rep = json.loads(report.read_text())
    assert rep["class_effects"] == {
        "face": {"effect": "blur", "strength": 5, "color": [0, 0, 0], "masked_track_frames": 3},
        "car": {"effect": "solid", "strength": 3, "color": [200, 40, 40], "masked_track_frames": 3},
    }


def test_cli_class_effect_overrides_the_config(clip: tuple[Path, Path], tmp_path: Path) -> None:
    src, tracks = clip
    ini = tmp_path / "config.ini"
    ini.write_text("[class.car]\neffect = blur\n")  # class sections alone: no [sam2] needed
    out, report = tmp_path / "out.mp4", tmp_path / "run.json"
    res = redact_cli(
        src,
        tracks,
        out,
        "--config",
        str(ini),
        "--effect",
        "blur",
        "--class-effect",
        "car=solid",
        "--class-effect",
        "face=solid:2",
        "--report",
        str(report),
    )
    assert res.exit_code == 0, res.output
    face, car = region(FACE), region(CAR)
    for img in decoded(out):
        assert np.abs(img[face | car]).max() <= 8  # both solid black now
    rep = json.loads(report.read_text())
    assert {k: (v["effect"], v["strength"]) for k, v in rep["class_effects"].items()} == {"car": ("solid", 3), "face": ("solid", 2)}


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--class-effect", "face=smudge"], "effect must be one of blur, mosaic, solid, got 'smudge'"),
        (["--class-effect", "face"], "--class-effect takes CLASS=EFFECT[:STRENGTH]"),
        (["--class-effect", "face=blur:9"], "--class-effect face: strength must be 1..5"),
    ],
)
def test_cli_class_effect_errors_are_one_line_exit_2(clip: tuple[Path, Path], tmp_path: Path, args: list[str], needle: str) -> None:
    src, tracks = clip
    out = tmp_path / "out.mp4"
    res = redact_cli(src, tracks, out, *args)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sammask: error:") and needle in lines[0], res.output
    assert not out.exists()


def test_config_class_key_typo_names_the_closest_key_on_the_cli(clip: tuple[Path, Path], tmp_path: Path) -> None:
    src, tracks = clip
    ini = tmp_path / "config.ini"
    ini.write_text("[sam2]\neffect = blur\n\n[class.face]\nstrenght = 5\n")
    res = redact_cli(src, tracks, tmp_path / "out.mp4", "--config", str(ini))
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "[class.face] unknown key 'strenght'; did you mean 'strength'?" in lines[0]
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[class.face]\ntool = smudge\n", "[class.face] tool must be one of blur, mosaic, solid, got 'smudge'"),
        ("[class.face]\nlevel = 7\n", "[class.face] strength must be 1..5, got 7"),
        ("[class.face]\ncolour = 1,2,3\n", "[class.face] unknown key 'colour'; did you mean 'color'?"),
        ("[class.face]\ncolor = 1,2\n", "[class.face] color must be R,G,B (0..255 each) or #RRGGBB, got '1,2'"),
        ("[class.face]\n", "[class.face] sets nothing"),
        ("[class.]\neffect = solid\n", "[class.] needs a class name"),
        ("[clas.face]\neffect = solid\n", "unknown section [clas.face]; did you mean [class.face]?"),
        ("[sam2]\ncolor = #12345\n", "[sam2] color must be R,G,B"),
    ],
)
def test_class_section_errors_name_the_section_and_key(tmp_path: Path, text: str, needle: str) -> None:
    ini = tmp_path / "config.ini"
    ini.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_ini(ini)


def test_config_parsing_inherits_unset_fields_from_the_global_effect(tmp_path: Path) -> None:
    ini = tmp_path / "config.ini"
    ini.write_text(
        "[sam2]\ntool = mosaic\nlevel = 4\ncolor = #102030\n\n[class.plate]\neffect = solid\n\n"
        "[class.person]\nstrength = 1\n\n[other]\nx = 1\n"
    )
    m = load_ini(ini).masking
    assert dict(m.class_effects) == {"plate": ClassEffect(Effect.SOLID), "person": ClassEffect(strength=1)}
    assert m.color == (16, 32, 48)
    plate, person, face, none = (m.effect_for(c) for c in ("plate", "person", "face", None))
    assert (plate.effect, plate.strength, plate.color) == (Effect.SOLID, 4, (16, 32, 48))
    assert (person.effect, person.strength) == (Effect.MOSAIC, 1)
    assert face == none == m.default_effect  # a class without a section: the global effect


def test_parsers_and_option_validation() -> None:
    assert parse_class_effect(" car = SOLID ") == ("car", ClassEffect(Effect.SOLID))
    assert parse_class_effect("face=blur:5") == ("face", ClassEffect(Effect.BLUR, 5))
    assert parse_color("#ff0080") == (255, 0, 128) and parse_color("1, 2, 3") == (1, 2, 3)
    for bad in ("=blur", "face=", "face=blur:", "face=blur:x"):
        with pytest.raises(ConfigError, match="CLASS=EFFECT"):
            parse_class_effect(bad)
    with pytest.raises(ConfigError, match="more than once"):
        MaskingOptions(class_effects=(("face", ClassEffect(Effect.SOLID)), ("face", ClassEffect(Effect.BLUR))))
    with pytest.raises(ConfigError, match="non-empty"):
        MaskingOptions(class_effects=(("", ClassEffect(Effect.SOLID)),))
    with pytest.raises(ConfigError, match="effect must be one of"):
        ClassEffect("smudge")  # type: ignore[arg-type]  # an unknown effect on purpose


def test_background_mode_keeps_its_semantics_with_class_effects() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    regions = [ObjectRegion(1, region(FACE), FACE, class_name="face")]
    plain = MaskingOptions(mode=MaskMode.BACKGROUND, effect=Effect.MOSAIC, dilate=0)
    per_class = MaskingOptions(
        mode=MaskMode.BACKGROUND, effect=Effect.MOSAIC, dilate=0, class_effects=(("face", ClassEffect(Effect.SOLID)),)
    )
    a, b = compose(image, regions, plain), compose(image, regions, per_class)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.applied, b.applied)
    assert np.array_equal(b.image[region(FACE)], image[region(FACE)])  # the face is kept as it was


_SPECS = [
    ClassEffect(Effect.BLUR, 1),
    ClassEffect(Effect.BLUR, 5),
    ClassEffect(Effect.MOSAIC, 2),
    ClassEffect(Effect.SOLID, color=(250, 10, 10)),
    ClassEffect(Effect.SOLID, color=(10, 250, 10)),
]
_box = st.tuples(st.integers(0, 50), st.integers(0, 40), st.integers(4, 40), st.integers(4, 40)).map(
    lambda t: (float(t[0]), float(t[1]), float(min(t[0] + t[2], 64)), float(min(t[1] + t[3], 48)))
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_box, st.integers(0, len(_SPECS))), min_size=1, max_size=5), st.integers(0, 3))
def test_overlaps_take_the_strongest_effect_and_nothing_is_left_unmasked(
    objects: list[tuple[tuple[float, float, float, float], int]], dilate: int
) -> None:
    """Property: every mask pixel is painted; where masks overlap, the pixel is exactly what the
    strongest object's effect alone (solid > mosaic > blur, then strength, then size) gives."""
    rng = np.random.default_rng(len(objects))
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    per_class = tuple((f"c{i}", spec) for i, spec in enumerate(_SPECS))
    options = MaskingOptions(effect=Effect.MOSAIC, strength=3, dilate=dilate, class_effects=per_class)
    # class index len(_SPECS): no class -> the global mosaic 3
    regions = [
        ObjectRegion(i, box_mask(b, image.shape), b, class_name=f"c{k}" if k < len(_SPECS) else None) for i, (b, k) in enumerate(objects)
    ]
    result = compose(image, regions, options)
    alone = [compose(image, [r], options) for r in regions]
    union = np.logical_or.reduce([a.applied for a in alone])
    assert np.array_equal(result.applied, union)
    keys = [(options.effect_for(r.class_name).rank, object_size_px(r.bbox), i) for i, r in enumerate(regions)]
    winner = np.full(image.shape[:2], -1)
    for i in sorted(range(len(regions)), key=lambda i: keys[i]):  # weakest first: the last one wins
        winner[alone[i].applied] = i
    for i, a in enumerate(alone):
        sel = winner == i
        assert np.array_equal(result.image[sel], a.image[sel])
    assert np.array_equal(result.image[~union], image[~union])
