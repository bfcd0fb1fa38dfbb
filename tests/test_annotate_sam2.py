"""SAM 2 annotation backend with the published tiny architecture and random weights (fast, small
input): the plumbing (lazy frames, prompts, propagation both ways, bounded state, undo replay),
not mask quality (random weights give meaningless masks)."""

from __future__ import annotations

import numpy as np
import pytest

from sam2_helpers import build_random_model
from sammask.annotate import Session
from sammask.annotate.backends.sam2 import Sam2Backend
from sammask.errors import WeightsNotFoundError
from sammask.media import trim_video

N = 8


# sam2's optional CUDA hole filling is not built here; sam2 warns and skips it.
pytestmark = pytest.mark.filterwarnings("ignore:.*post-processing.*", "ignore:.*_C.*")


@pytest.fixture(scope="module")
def clip(davis_seq, tmp_path_factory):
    out = tmp_path_factory.mktemp("clip") / "girls.mp4"
    trim_video(davis_seq("schoolgirls") / "video.mp4", out, N)
    return out


@pytest.fixture(scope="module")
def predictor():
    return build_random_model(image_size=64)


def test_sam2_session_prompts_propagates_and_stays_bounded(clip, predictor):
    backend = Sam2Backend(predictor=predictor)
    with Session.open(clip, backend) as s:
        m = s.add_points(3, 1, [[150, 120]], [1])
        assert m.shape == (240, 432) and m.dtype == bool
        assert backend.state["images"].n == N and len(backend.state["images"]._cache) <= 2  # lazy frames
        s.add_box(3, 2, (200, 60, 300, 200))
        backend.mem_span = backend.ptr_span = 2  # a short window, to see the pruning work
        frames = []
        for f, masks in s.propagate("both"):
            frames.append(f)
            assert set(masks) == {1, 2} and all(v.shape == (240, 432) for v in masks.values())
            assert backend.retained_outputs() <= 2 * (2 + 1)  # 2 objects x (window + current)
        assert frames == [3, 4, 5, 6, 7, 2, 1, 0]
        assert all(set(s.mask(f)) == {1, 2} for f in range(N))
        # a correction on frame 5 re-propagates frames 5.. only
        before = {f: s.mask(f, 1).copy() for f in range(N)}
        s.add_points(5, 1, [[100, 100]], [0])
        assert [f for f, _ in s.propagate("forward")] == [5, 6, 7]
        for f in range(5):
            np.testing.assert_array_equal(s.mask(f, 1), before[f])
        # undo: the backend's memory is rebuilt from the remaining prompts before the next step
        s.undo()
        s.remove_object(2)
        s.add_points(0, 1, [[140, 110]], [1])
        assert sorted(backend.state["obj_id_to_idx"]) == [1]
        assert [f for f, _ in s.propagate("forward", max_frames=2)] == [0, 1, 2]


def test_sam2_backend_without_weights_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(WeightsNotFoundError, match=r"sam2.1_hiera_tiny"):
        Sam2Backend(model="sam2.1_hiera_tiny", offline=True)
