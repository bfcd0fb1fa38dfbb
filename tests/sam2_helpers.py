"""Shared SAM 2 test helpers: tiny random-init published-architecture models and checkpoints.

Random weights do not depend on the input size, so the published architecture at a small input
(``SMALL_INPUT`` pixels) is how SAM 2 tests stay fast. The
fixtures are registered for every test module by ``pytest_plugins`` in conftest.py (pytest puts tests/ on
sys.path), or call the functions directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from videos import redact_argv

SMALL_INPUT = 128
"""Model input side (pixels) used by tests: 8x8 tokens at the top level instead of 64x64."""

TINY = "sam2.1_hiera_tiny"

EXACT = {"runtime": "torch", "precision": "fp32", "crop": False}
"""Sam2Options keywords for sam2's own code path (torch eager fp32, whole frame): tests that compare
against sam2's predictors or pin exact outputs use these; the runtimes have their own tests."""


def redact_sam2_argv(video: Path | str, tracks: Path | str, out: Path | str, *options: str) -> list[str]:
    """``sammask redact`` arguments with the SAM 2 segmenter:
    ``redact VIDEO -t TRACKS -o OUT --segmenter sam2 *options``."""
    return redact_argv(video, tracks, out, "--segmenter", "sam2", *options)


def first_frames_tracks(seq: Path, frames: int, out: Path) -> Path:
    """Write the rows of a DAVIS sequence's ``gt.txt`` (MOTChallenge, 1-based frames) on frames
    1..``frames`` to ``out``; returns ``out``."""
    rows = [ln for ln in (seq / "gt.txt").read_text().splitlines() if ln.strip() and int(ln.split(",")[0]) <= frames]
    out.write_text("\n".join(rows) + "\n")
    return out


def checked_run_options(report: Path, masks: Path) -> list[str]:
    """``redact`` options of a run whose output the test checks pixel by pixel: a solid fill
    (every masked pixel becomes the fill colour), a fast x264 preset, a 4 px dilation, the JSON
    report at ``report``, the applied masks saved under ``masks``, no progress output."""
    return ["--effect", "solid", "--preset", "ultrafast", "--dilate", "4", "--report", str(report), "--quiet", "--save-masks", str(masks)]


def build_random_model(name: str = TINY, image_size: int = SMALL_INPUT, seed: int = 0):
    """Random-init published architecture ``name`` at ``image_size`` (eval, CPU), seeded."""
    import torch

    from sammask.segmentation.sam2.model import build_sam2_model

    torch.manual_seed(seed)
    return build_sam2_model(name, checkpoint=None, image_size=image_size, random_init=True)


def save_official_checkpoint(model, path: Path) -> Path:
    """Save ``model`` as an official-format SAM 2 checkpoint ``{"model": state_dict}``."""
    import torch

    torch.save({"model": model.state_dict()}, path)
    return path


def read_frames(video: Path, n: int) -> list[np.ndarray]:
    """First ``n`` frames of ``video`` as (H, W, 3) uint8 RGB arrays (PyAV)."""
    import av

    frames = []
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == n:
                break
    return frames


def read_gt_boxes(gt_txt: Path) -> dict[int, dict[int, tuple[float, float, float, float]]]:
    """MOTChallenge ``gt.txt`` -> ``frame_idx (0-based) -> track_id -> xyxy float pixels``."""
    from sammask.tracks import read_mot

    return {f: {d.track_id: d.bbox for d in dets} for f, dets in read_mot(gt_txt).by_frame.items()}


@pytest.fixture(scope="session")
def tiny_model():
    """Session-wide random-init ``sam2.1_hiera_tiny`` at :data:`SMALL_INPUT` (do not mutate)."""
    return build_random_model()


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_model, tmp_path_factory) -> Path:
    """:func:`tiny_model` saved as an official-format checkpoint file."""
    return save_official_checkpoint(tiny_model, tmp_path_factory.mktemp("sam2ckpt") / "sam2.1_hiera_tiny.pt")
