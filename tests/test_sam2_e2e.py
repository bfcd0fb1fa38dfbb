"""``sammask redact --segmenter sam2`` end to end, per strategy, on a real shared clip.

The model is the published sam2.1_hiera_tiny architecture with random weights, saved in the
official ``.pt`` format and loaded by path (``--model-path``) at a small input size so CI stays fast.
Random weights give meaningless masks, so these tests check the plumbing and the promise on the
decoded output: every pixel of the applied mask (``--save-masks``) is filled, nothing outside the
dilated boxes changed, and every box is masked at least to the fail-secure floor (its mask covers
>= ``min_coverage`` of the box, or the whole box was masked). GT coverage is a quality figure
(docs/quality), not something random weights can promise.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from sam2_helpers import SMALL_INPUT, TINY, checked_run_options, redact_sam2_argv
from typer.testing import CliRunner

from sammask.cli import app
from sammask.export.applied import read_applied_masks
from sammask.tracks import read_mot

DARK = 40
"""Max channel value of a solid black fill after H.264 at the test's settings."""


@pytest.mark.parametrize(
    "strategy, extra",
    [("image", []), ("image", ["--stride", "4", "--use-previous-mask"]), ("video", []), ("baseline", ["--chunk-size", "20"])],
)
def test_redact_sam2_strategy_end_to_end(davis_seq, tiny_checkpoint: Path, tmp_path: Path, strategy: str, extra: list[str]) -> None:
    seq = davis_seq("dogs-jump")  # 432x240, 66 frames, 3 instances
    out, report = tmp_path / "o.mp4", tmp_path / "r.json"
    res = CliRunner().invoke(
        app,
        redact_sam2_argv(
            seq / "video.mp4",
            seq / "gt.txt",
            out,
            "--model",
            TINY,
            "--model-path",
            str(tiny_checkpoint),
            "--strategy",
            strategy,
            "--input-size",
            str(SMALL_INPUT),
            *checked_run_options(report, tmp_path / "masks"),
            *extra,
        ),
    )
    assert res.exit_code == 0, res.output
    assert "%|" not in res.output and "propagate in video" not in res.output  # --quiet: no library progress bar
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
    applied_frames = list(read_applied_masks(tmp_path / "masks"))
    assert [af.frame_idx for af in applied_frames] == list(range(n_masks))
    for af in applied_frames:
        i, applied = af.frame_idx, af.applied
        inside = np.zeros(src[i].shape[:2], bool)
        for x1, y1, x2, y2 in (d.bbox for d in gt_tracks.on_frame(i)):
            inside[max(int(y1) - 4, 0) : int(y2) + 5, max(int(x1) - 4, 0) : int(x2) + 5] = True
        # Every applied pixel is black in the decoded output (solid fill, codec tolerance)...
        assert (frames[i].max(axis=2)[applied] <= DARK).all(), f"frame {i}: an applied pixel is not filled"
        # ...masks are clipped to their (dilated) boxes: nothing outside them is filled...
        changed = np.abs(src[i].astype(int) - frames[i].astype(int)).max(axis=2) > 60
        far = ~cv2.dilate(inside.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        assert changed[far].mean() < 0.001, f"frame {i}: pixels changed outside every box"
        # ...and every box is masked at least to the fail-secure floor (10 % of its pixels).
        for d in gt_tracks.on_frame(i):
            x1, y1, x2, y2 = (int(np.floor(d.bbox[0])), int(np.floor(d.bbox[1])), int(np.ceil(d.bbox[2])), int(np.ceil(d.bbox[3])))
            assert applied[y1:y2, x1:x2].mean() >= 0.10, f"frame {i} track {d.track_id}: below the floor"


def test_sam2_without_weights_offline_is_one_clear_error(davis_seq, tmp_path: Path) -> None:
    seq = davis_seq("dogs-jump")
    out = tmp_path / "o.mp4"
    res = CliRunner().invoke(
        app,
        redact_sam2_argv(seq / "video.mp4", seq / "gt.txt", out, "--model", TINY, "--offline", "--quiet"),
    )
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and TINY in lines[0] and "--model-path" in lines[0] and "grabcut" in lines[0]
    assert not out.exists()


def test_sam2_missing_checkpoint_path(davis_seq, tmp_path: Path) -> None:
    seq = davis_seq("dogs-jump")
    res = CliRunner().invoke(
        app,
        redact_sam2_argv(
            seq / "video.mp4",
            seq / "gt.txt",
            tmp_path / "o.mp4",
            "--model-path",
            str(tmp_path / "model" / "sam2.1_hiera_base_plus.pt"),
            "--quiet",
        ),
    )
    assert res.exit_code == 2 and "sam2.1_hiera_base_plus.pt" in res.output
