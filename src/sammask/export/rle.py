"""COCO run-length encoding of masks: the one codec every mask file of sammask uses.

The applied-mask export, the COCO and MOTS writers/readers, the annotator's stored masks and the
batch checkpoints all store an (H, W) bool mask as ``{"size": [H, W], "counts": str}``: the
compressed RLE of ``pycocotools.mask.encode`` on a Fortran-ordered uint8 array, ``counts``
decoded as UTF-8, so that the round trip is lossless and the value is JSON-ready.

Source: COCO RLE as defined by the COCO API (``pycocotools.mask``), https://cocodataset.org/#format-data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from sammask.errors import EvalError


def mask_to_rle(mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
    """COCO RLE of an (H, W) bool mask as a JSON-ready ``{"size": [H, W], "counts": str}``.

    Args:
        mask: (H, W) bool (any dtype whose non-zero values mean "in the mask").

    Returns:
        ``{"size": [H, W], "counts": str}``.

    Raises:
        EvalError: if ``mask`` is not 2-D.

    Examples:
        >>> import numpy as np
        >>> rle = mask_to_rle(np.eye(3, dtype=bool))
        >>> rle["size"], rle_to_mask(rle).sum()
        ([3, 3], np.int64(3))
    """
    from pycocotools import mask as mask_util

    if mask.ndim != 2:
        raise EvalError(f"a mask must be (H, W), got shape {mask.shape}")
    rle = mask_util.encode(np.asfortranarray(mask, dtype=np.uint8))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("utf-8")}


def rle_to_mask(rle: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
    """Inverse of :func:`mask_to_rle`: ``{"size": [H, W], "counts": str}`` -> (H, W) bool.

    Raises:
        EvalError: if the RLE is malformed.
    """
    from pycocotools import mask as mask_util

    try:
        coco = {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].encode("utf-8")}
        return mask_util.decode(coco).astype(bool)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise EvalError(f"malformed RLE mask ({exc}); expected {{'size': [H, W], 'counts': str}}") from None
