"""``sammask redact --segmenter sam2`` end to end, per strategy, on a real shared clip.

The model is the published sam2.1_hiera_tiny architecture with random weights, saved in the
official ``.pt`` format and loaded by path (``--model-path``) at a small input size so CI stays fast.
Random weights give meaningless masks, so these tests check the plumbing and the fail-secure
rule (every GT object pixel is masked, by the mask or by the box fallback), not quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from sam2_helpers import SMALL_INPUT, TINY, tiny_checkpoint, tiny_model  # noqa: F401 - fixtures
from typer.testing import CliRunner

from sammask.cli import app
from sammask.tracks import read_mot

MAGENTA = (255, 0, 255)


@pytest.mark.parametrize(
    "strategy, extra",
    [("image", []), ("image", ["--stride", "4", "--use-previous-mask"]), ("video", []), ("baseline", ["--chunk-size", "20"])],
)
def test_redact_sam2_strategy_end_to_end(davis_seq, tiny_checkpoint: Path, tmp_path: Path, strategy: str, extra: list[str]) -> None:
    seq = davis_seq("dogs-jump")  # 432x240, 66 frames, 3 instances
    out, report = tmp_path / "o.mp4", tmp_path / "r.json"
    res = CliRunner().invoke(app, [
        "redact", str(seq / "video.mp4"), "-t", str(seq / "gt.txt"), "-o", str(out),
        "--segmenter", "sam2", "--model", TINY, "--model-path", str(tiny_checkpoint),
        "--strategy", strategy, "--input-size", str(SMALL_INPUT), "--effect", "solid",
        "--preset", "ultrafast", "--dilate", "4", "--report", str(report), "--quiet", *extra,
    ])
    assert res.exit_code == 0, res.output
    rep = json.loads(report.read_text())
    n_masks = len(list((seq / "masks").iterdir()))
    assert rep["frames"] == n_masks and rep["tracks"] == 3 and rep["segmenter_error"] is None
    assert rep["segmented"] == sum(1 for _ in (seq / "gt.txt").read_text().splitlines() if _.strip())
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == n_masks
    with av.open(str(seq / "video.mp4")) as c:
        src = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    gt_tracks = read_mot(seq / "gt.txt")
    for i in range(0, n_masks, 5):
        inside = np.zeros(src[i].shape[:2], bool)
        for x1, y1, x2, y2 in (d.bbox for d in gt_tracks.on_frame(i)):
            inside[max(int(y1) - 4, 0) : int(y2) + 5, max(int(x1) - 4, 0) : int(x2) + 5] = True
        changed = np.abs(src[i].astype(int) - frames[i].astype(int)).max(axis=2) > 60
        # Masks are clipped to their (dilated) boxes: nothing outside them is filled...
        far = ~cv2.dilate(inside.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        assert changed[far].mean() < 0.001, f"frame {i}: pixels changed outside every box"
        # ...and each box got a mask (random weights: its shape is meaningless, but never nothing).
        assert changed[inside].any(), f"frame {i}: nothing masked"


def test_sam2_without_weights_offline_is_one_clear_error(davis_seq, tmp_path: Path) -> None:
    seq = davis_seq("dogs-jump")
    out = tmp_path / "o.mp4"
    res = CliRunner().invoke(app, [
        "redact", str(seq / "video.mp4"), "-t", str(seq / "gt.txt"), "-o", str(out),
        "--segmenter", "sam2", "--model", TINY, "--offline", "--quiet",
    ])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and TINY in lines[0] and "--model-path" in lines[0] and "grabcut" in lines[0]
    assert not out.exists()


def test_sam2_missing_checkpoint_path(davis_seq, tmp_path: Path) -> None:
    seq = davis_seq("dogs-jump")
    res = CliRunner().invoke(app, [
        "redact", str(seq / "video.mp4"), "-t", str(seq / "gt.txt"), "-o", str(tmp_path / "o.mp4"),
        "--segmenter", "sam2", "--model-path", str(tmp_path / "model" / "sam2.1_hiera_base_plus.pt"), "--quiet",
    ])
    assert res.exit_code == 2 and "sam2.1_hiera_base_plus.pt" in res.output
