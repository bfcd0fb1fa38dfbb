"""eval.matching: the assignment is the optimal one (against brute force over every permutation)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings, strategies as st

from sammask.eval.matching import match_tracks


def _boxes(iou_like: list[list[float]]) -> tuple[dict, dict]:
    """Tracks and objects on separate frames whose pairwise mean IoU is the given matrix (approx.)."""
    tracks: dict[int, dict[int, tuple[float, float, float, float]]] = {}
    objects: dict[int, dict[int, tuple[float, float, float, float]]] = {}
    frame = 0
    for t, row in enumerate(iou_like):
        for o, v in enumerate(row):
            # one frame per pair: box (0,0,100,100) vs (0,0,100,100*v) has IoU v
            tracks[frame] = {t: (0.0, 0.0, 100.0, 100.0)}
            objects[frame] = {o: (0.0, 0.0, 100.0, max(100.0 * v, 1e-3))}
            frame += 1
    return tracks, objects


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda n: st.integers(1, 4).flatmap(
            lambda m: st.lists(st.lists(st.floats(0.0, 1.0), min_size=m, max_size=m), min_size=n, max_size=n)
        )
    )
)
def test_match_total_equals_brute_force_optimum(matrix: list[list[float]]) -> None:
    tracks, objects = _boxes(matrix)
    m = match_tracks(tracks, objects, min_iou=0.5)
    score = {k: v for k, v in m.scores.items() if v >= 0.5}
    got = sum(score[(t, o)] for o, t in m.obj_to_track.items())
    n, k = len(matrix), len(matrix[0])
    best = 0.0
    for perm in itertools.permutations(range(max(n, k)), min(n, k)):
        pairs = zip(range(n), perm) if n <= k else zip(perm, range(k))
        best = max(best, sum(score.get(p, 0.0) for p in pairs))
    assert abs(got - best) < 1e-9
    assert all(score.get((t, o), 0.0) >= 0.5 for o, t in m.obj_to_track.items())  # nothing below min_iou
