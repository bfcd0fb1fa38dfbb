"""Soft mattes from binary masks, temporal smoothing, compositing and the flicker measure."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sammask.errors import EvalError, MediaError

__all__ = ["TemporalSmoother", "composite", "feather_alpha", "flicker", "refine_alpha", "to_uint8", "trimap"]


def feather_alpha(mask: np.ndarray, feather: float) -> np.ndarray:
    """A soft matte from a binary mask, by the mask's signed distance field.

    ``alpha = clip(0.5 + s / feather, 0, 1)`` where ``s`` is the signed distance in pixels from the
    pixel's centre to the outline (``+`` inside: distance to the nearest outside pixel minus 0.5;
    ``-`` outside: minus the distance to the nearest inside pixel, plus 0.5). The ramp is
    ``feather`` pixels wide, centred on the outline; every pixel inside the mask has alpha > 0.5
    and every pixel outside < 0.5, so ``alpha > 0.5`` gives the mask back exactly.

    Args:
        mask: (H, W) bool.
        feather: ramp width in pixels (>= 0; 0 gives 0.0 / 1.0).

    Returns:
        (H, W) float32 alpha in [0, 1].

    Raises:
        MediaError: ``mask`` is not 2-D.
    """
    import cv2

    if mask.ndim != 2:
        raise MediaError(f"a mask must be (H, W), got shape {mask.shape}")
    m = np.ascontiguousarray(mask, dtype=bool)
    if feather <= 0 or m.all() or not m.any():
        return m.astype(np.float32)
    u8 = m.view(np.uint8)
    # 5x5 chamfer distance (within 0.13 px of the exact one, as masking.compose uses)
    inside = cv2.distanceTransform(u8, cv2.DIST_L2, 5)  # to the nearest outside pixel
    outside = cv2.distanceTransform(1 - u8, cv2.DIST_L2, 5)  # to the nearest inside pixel
    signed = np.where(m, inside - 0.5, 0.5 - outside)
    return np.clip(0.5 + signed / np.float32(feather), 0.0, 1.0).astype(np.float32, copy=False)


class TemporalSmoother:
    """Exponential moving average of the matte over frames: ``a_t = (1 - w) * x_t + w * a_{t-1}``.

    Args:
        weight: ``w`` in [0, 1): the previous alpha's weight (0 passes mattes through).
    """

    def __init__(self, weight: float) -> None:
        self.weight = float(weight)
        self._prev: np.ndarray | None = None

    def __call__(self, alpha: np.ndarray) -> np.ndarray:
        """Smooth one (H, W) float32 alpha (frames in order); returns a new (H, W) float32."""
        if self.weight <= 0 or self._prev is None or self._prev.shape != alpha.shape:
            out = alpha
        else:
            out = (1.0 - self.weight) * alpha + self.weight * self._prev
        self._prev = out.astype(np.float32, copy=False)
        return self._prev


def to_uint8(alpha: np.ndarray) -> np.ndarray:
    """(H, W) float alpha in [0, 1] -> (H, W) uint8 0..255 (rounded)."""
    return np.rint(np.clip(alpha, 0.0, 1.0) * 255.0).astype(np.uint8)


def composite(foreground: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha * foreground + (1 - alpha) * background``, rounded to uint8.

    Pixels with alpha 1 are the foreground's exactly, pixels with alpha 0 the background's.

    Args:
        foreground: (H, W, 3) uint8 RGB.
        background: (H, W, 3) uint8 RGB.
        alpha: (H, W) float32 in [0, 1].

    Returns:
        (H, W, 3) uint8 RGB.
    """
    import cv2

    a = np.ascontiguousarray(alpha, dtype=np.float32)
    return cv2.blendLinear(np.ascontiguousarray(foreground), np.ascontiguousarray(background), a, 1.0 - a)


def flicker(alphas: Iterable[np.ndarray], ground_truth: Iterable[np.ndarray]) -> float:
    """Temporal flicker of a matte: the mean absolute change of alpha between consecutive frames,
    over the pixels whose ground truth does not change between them.

    Args:
        alphas: (H, W) float alphas in [0, 1], one per frame, in order.
        ground_truth: (H, W) bool ground-truth masks, aligned with ``alphas``.

    Returns:
        Mean |alpha_t - alpha_{t-1}| in alpha units (0..1) over all such pixels of all
        consecutive pairs; 0.0 for fewer than two frames.

    Raises:
        EvalError: shapes differ, or the two sequences have different lengths.
    """
    total, count = 0.0, 0
    prev_a = prev_g = None
    pairs = zip(alphas, ground_truth, strict=True)
    while True:
        try:
            a, g = next(pairs)
        except StopIteration:
            break
        except ValueError:
            raise EvalError("alphas and ground truth hold different numbers of frames") from None
        if a.shape != g.shape:
            raise EvalError(f"alpha {a.shape} and ground truth {g.shape} differ in shape")
        if prev_a is not None:
            same = prev_g == g
            total += float(np.abs(a.astype(np.float32) - prev_a)[same].sum())
            count += int(np.count_nonzero(same))
        prev_a, prev_g = a.astype(np.float32), g.astype(bool)
    return total / count if count else 0.0


def trimap(mask: np.ndarray, band: int) -> np.ndarray:
    """A trimap from a binary mask: 1.0 where the mask eroded by ``band`` px holds, 0.0 outside the
    mask dilated by ``band`` px, 0.5 (unknown) in the band between.

    Args:
        mask: (H, W) bool.
        band: half-width of the unknown band, pixels (>= 1).

    Returns:
        (H, W) float64 in {0, 0.5, 1} (pymatting's trimap convention).
    """
    import cv2

    u8 = np.ascontiguousarray(mask, dtype=np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    out = np.full(mask.shape, 0.5)
    out[cv2.erode(u8, k).astype(bool)] = 1.0
    out[~cv2.dilate(u8, k).astype(bool)] = 0.0
    return out


def refine_alpha(image: np.ndarray, mask: np.ndarray, band: int = 6) -> np.ndarray:
    """Trimap matting of a binary mask with pymatting's closed-form matting (Levin et al. 2008,
    ``pymatting.estimate_alpha_cf``): the alpha in a ``band``-px band around the outline is solved
    from the image's colours, so hair and limbs the mask cut or padded get soft, correct edges.

    The solve runs on the mask's bounding box grown by ``3 * band`` pixels (the rest is 0).

    Args:
        image: (H, W, 3) uint8 RGB frame.
        mask: (H, W) bool mask of what to keep.
        band: half-width of the trimap's unknown band, pixels.

    Returns:
        (H, W) float32 alpha in [0, 1].

    Raises:
        ConfigError: pymatting is not installed (``pip install 'sammask[matte]'``).
    """
    from sammask.errors import ConfigError

    try:
        from pymatting import estimate_alpha_cf
    except ImportError:
        raise ConfigError("--refine needs pymatting: pip install 'sammask[matte]' (or pymatting)") from None
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    out = np.zeros((h, w), np.float32)
    if len(ys) == 0:
        return out
    m = 3 * band
    y0, y1 = max(int(ys.min()) - m, 0), min(int(ys.max()) + m + 1, h)
    x0, x1 = max(int(xs.min()) - m, 0), min(int(xs.max()) + m + 1, w)
    tri = trimap(mask[y0:y1, x0:x1], band)
    if not (tri == 0.5).any():
        out[y0:y1, x0:x1] = tri
        return out
    alpha = estimate_alpha_cf(image[y0:y1, x0:x1].astype(np.float64) / 255.0, tri)
    out[y0:y1, x0:x1] = np.clip(alpha, 0.0, 1.0)
    return out
