"""Settings: the original system's config.ini ([sam2] keys) mapped onto RedactSettings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sammask.cli import app
from sammask.errors import ConfigError, InputFileError
from sammask.masking.options import Effect, MaskMode
from sammask.settings import RedactSettings, Sam2Settings, load_ini, model_from_checkpoint

ORIGINAL = """[sam2]
crop_size = 384
forward_frames = 15
model_path = model/sam2.1_hiera_base_plus.pt
device = cpu
segmentation_masking = yes
chunk_size = 300
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.ini"
    p.write_text(text)
    return p


def test_original_config_selects_sam2_with_the_model_of_its_checkpoint(tmp_path: Path) -> None:
    s = load_ini(write(tmp_path, ORIGINAL))
    assert s.segmenter == "sam2"
    assert s.sam2.model == "sam2.1_hiera_base_plus"
    assert s.sam2.checkpoint == tmp_path / "model" / "sam2.1_hiera_base_plus.pt"
    assert s.sam2.chunk_size == 300 and s.sam2.device == "cpu"


def test_segmentation_masking_no_is_the_box_and_yes_without_model_is_grabcut(tmp_path: Path) -> None:
    assert load_ini(write(tmp_path, ORIGINAL.replace("= yes", "= no"))).segmenter == "box"
    assert load_ini(write(tmp_path, "[sam2]\nsegmentation_masking = yes\n")).segmenter == "grabcut"
    text = "[sam2]\nsegmentation_masking = yes\nsegmenter = grabcut\nmodel_path = /m/sam2_hiera_small.pt\n"
    s = load_ini(write(tmp_path, text))
    assert s.segmenter == "grabcut" and s.sam2.model == "sam2_hiera_small"


@pytest.mark.parametrize("value, mode", [("1", MaskMode.BACKGROUND), ("2", MaskMode.SELECTED), ("3", MaskMode.UNSELECTED)])
def test_masking_range_maps_the_original_numbers(tmp_path: Path, value: str, mode: MaskMode) -> None:
    s = load_ini(write(tmp_path, f"[sam2]\nmasking_range = {value}\ntool = mosaic\nlevel = 5\ndilate = 9\n"))
    assert s.masking.mode is mode and s.masking.effect is Effect.MOSAIC
    assert s.masking.strength == 5 and s.masking.dilate == 9


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[sam2]\nsegmentation_masking = maybe\n", "segmentation_masking must be yes or no"),
        ("[sam2]\nmasking_range = 7\n", "masking_range must be 1, 2 or 3"),
        ("[sam2]\nchunk_size = lots\n", "chunk_size must be an integer"),
        ("[sam2]\nlevel = 9\n", "strength must be 1..5"),
        ("[sam2]\ntool = smudge\n", "smudge"),
        ("[sam2]\ndevice = tpu\n", "device must be cpu, cuda or mps"),
        ("[other]\nx = 1\n", "no [sam2] section"),
        ("not an ini file\n", "not a valid INI file"),
    ],
)
def test_bad_values_raise_config_error_naming_the_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_ini(write(tmp_path, text))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="config file not found"):
        load_ini(tmp_path / "nope.ini")


def test_model_from_checkpoint_only_for_official_names() -> None:
    assert model_from_checkpoint(Path("x/sam2.1_hiera_tiny.pt")) == "sam2.1_hiera_tiny"
    assert model_from_checkpoint(Path("sam2_hiera_large.pt")) == "sam2_hiera_large"
    assert model_from_checkpoint(Path("my-finetune.pt")) is None


def test_settings_validate_ranges() -> None:
    with pytest.raises(ConfigError, match="stride"):
        RedactSettings(stride=0)
    with pytest.raises(ConfigError, match="input_size"):
        Sam2Settings(input_size=100)
    with pytest.raises(ConfigError, match="strategy"):
        Sam2Settings(strategy="magic")


def test_original_config_without_the_weights_is_one_clear_error(davis_seq, tmp_path: Path) -> None:
    """A user's unchanged config.ini on a machine without the checkpoint: one line that names the
    file and the offline fallback; no output file."""
    seq = davis_seq("rollerblade")
    ini = write(tmp_path, ORIGINAL)
    out = tmp_path / "o.mp4"
    res = CliRunner().invoke(
        app, ["redact", str(seq / "video.mp4"), "-t", str(seq / "gt.txt"), "-o", str(out), "--config", str(ini), "--quiet"]
    )
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "sam2.1_hiera_base_plus.pt" in lines[0] and "grabcut" in lines[0]
    assert not out.exists()
