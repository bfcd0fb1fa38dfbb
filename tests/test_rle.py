"""sammask.export.rle: the one mask codec is lossless and refuses malformed input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from sammask.errors import EvalError
from sammask.export.rle import mask_to_rle, rle_to_mask


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 40))))
def test_round_trip_is_lossless_and_json_ready(mask: np.ndarray) -> None:
    rle = json.loads(json.dumps(mask_to_rle(mask)))
    back = rle_to_mask(rle)
    assert back.dtype == np.bool_ and back.shape == mask.shape and np.array_equal(back, mask)


@pytest.mark.parametrize("bad", [{}, {"size": [2, 2]}, {"size": [2], "counts": "x"}, {"size": "ab", "counts": 5}])
def test_malformed_rle_is_refused(bad: dict) -> None:
    with pytest.raises(EvalError, match="malformed RLE"):
        rle_to_mask(bad)


def test_a_mask_must_be_2d() -> None:
    with pytest.raises(EvalError, match=r"\(H, W\)"):
        mask_to_rle(np.zeros((2, 2, 2), bool))
