"""Masking effects (Gaussian blur, mosaic, solid fill) whose strength scales with object size.

Every effect works on an image *region* (an ROI crop, (h, w, 3) uint8 RGB) and returns a new
array of the same shape; the caller (:func:`sammask.masking.compose.compose`) copies the result
onto the mask pixels. Strength is a level 1..5, and the blur sigma / mosaic cell are set from the
*object size* ``s`` in pixels, so that a 20-pixel face is as unrecognisable as a 400-pixel one:

- object size: ``s = sqrt(w * h)`` of the detection box (geometric-mean side, robust to aspect
  ratio; :func:`object_size_px`). For the whole frame (background mode) ``s = sqrt(W * H) / 4``:
  the frame is treated like an object a quarter of its size (:func:`frame_object_size_px`).
- mosaic: ``cell = max(4, ceil(s / n))`` pixels with ``n = 6, 5, 4, 3, 2`` cells across the object
  at levels 1..5 (:data:`MOSAIC_CELLS_ACROSS`): at level 1 a 20-px face becomes 5 x 5 flat cells,
  at level 5 about 2 x 2.
- blur: ``sigma = max(3, f * s)`` pixels with ``f = 0.10, 0.13, 0.17, 0.22, 0.30`` at levels 1..5
  (:data:`BLUR_SIGMA_FRACTION`); at level 1 a 20-px face gets sigma 3 px (the floor), which
  leaves about 20 / (2.5 * 3) ~ 3 resolvable features across it. Large sigmas are computed on a
  downscaled copy (block-averaged by ``floor(sigma / 3)``), blurred, and scaled back bilinearly:
  the same low-pass at a fraction of the cost (measured from the 10-90 % width of a blurred
  step edge, the effective sigma is within 2 % of the target for sigma 3..80 px).

References: pixelation and blur strength vs. recognisability, McPherson, Shokri and Shmatikov,
"Defeating Image Obfuscation with Deep Learning" (2016): weak fixed-size mosaics/blurs are
reversible by recognisers, hence the size-relative and floored parameters here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from sammask.errors import ConfigError, ImageArrayError
from sammask.masking.options import Effect
from sammask.tracks.types import BBox

__all__ = [
    "BLUR_SIGMA_FRACTION",
    "MIN_BLUR_SIGMA_PX",
    "MIN_MOSAIC_CELL_PX",
    "MOSAIC_CELLS_ACROSS",
    "apply_effect",
    "blur",
    "blur_sigma_px",
    "effect_margin_px",
    "frame_object_size_px",
    "mosaic",
    "mosaic_cell_px",
    "object_size_px",
    "solid",
]

MOSAIC_CELLS_ACROSS: tuple[int, ...] = (6, 5, 4, 3, 2)
"""Mosaic cells across the object (``s / cell``) at strength levels 1..5."""

MIN_MOSAIC_CELL_PX = 4
"""Smallest mosaic cell in pixels (a tiny object still gets coarse cells)."""

BLUR_SIGMA_FRACTION: tuple[float, ...] = (0.10, 0.13, 0.17, 0.22, 0.30)
"""Gaussian sigma as a fraction of the object size at strength levels 1..5."""

MIN_BLUR_SIGMA_PX = 3.0
"""Smallest Gaussian sigma in pixels."""

BACKGROUND_SIZE_FRACTION = 0.25
"""Background mode: the whole frame is blurred/pixelated as an object of ``sqrt(W*H) * 0.25``."""


def _check_strength(strength: int) -> int:
    if not 1 <= int(strength) <= 5:
        raise ConfigError(f"strength must be 1..5, got {strength}")
    return int(strength)


def object_size_px(bbox: BBox) -> float:
    """Object size used to scale effects: ``sqrt(width * height)`` of the box, in pixels (>= 1).

    Args:
        bbox: ``(x1, y1, x2, y2)`` float pixels.
    """
    w = max(float(bbox[2]) - float(bbox[0]), 1.0)
    h = max(float(bbox[3]) - float(bbox[1]), 1.0)
    return math.sqrt(w * h)


def frame_object_size_px(shape: Sequence[int]) -> float:
    """Object size for effects on the whole frame: ``sqrt(H * W) * 0.25`` pixels (>= 1).

    At 1280x720 this is 240 px, i.e. a level-1 mosaic of 40-px cells and a level-1 blur of
    sigma 24 px: anything up to a nearby face in the background is unrecognisable.

    Args:
        shape: ``(H, W, ...)`` of the frame.
    """
    return max(math.sqrt(float(shape[0]) * float(shape[1])) * BACKGROUND_SIZE_FRACTION, 1.0)


def mosaic_cell_px(object_size: float, strength: int) -> int:
    """Mosaic cell side in pixels: ``max(4, ceil(object_size / n))``, ``n = 6, 5, 4, 3, 2`` at 1..5.

    Args:
        object_size: pixels (see :func:`object_size_px`).
        strength: 1..5.

    Raises:
        ConfigError: if ``strength`` is outside 1..5.
    """
    n = MOSAIC_CELLS_ACROSS[_check_strength(strength) - 1]
    return max(MIN_MOSAIC_CELL_PX, math.ceil(float(object_size) / n))


def blur_sigma_px(object_size: float, strength: int) -> float:
    """Gaussian sigma in pixels: ``max(3, f * object_size)``, ``f = 0.10 .. 0.30`` at 1..5.

    Args:
        object_size: pixels (see :func:`object_size_px`).
        strength: 1..5.

    Raises:
        ConfigError: if ``strength`` is outside 1..5.
    """
    f = BLUR_SIGMA_FRACTION[_check_strength(strength) - 1]
    return max(MIN_BLUR_SIGMA_PX, f * float(object_size))


def effect_margin_px(effect: Effect, object_size: float, strength: int) -> int:
    """How many pixels around the target an effect reads (the ROI margin), in pixels.

    Blur reads ``ceil(3 sigma)`` around each pixel; mosaic and solid read nothing outside the ROI.

    Raises:
        ConfigError: if ``strength`` is outside 1..5.
    """
    if Effect(effect) is Effect.BLUR:
        return math.ceil(3.0 * blur_sigma_px(object_size, strength))
    _check_strength(strength)
    return 0


def _check_region(region: np.ndarray) -> None:
    if not isinstance(region, np.ndarray) or region.dtype != np.uint8 or region.ndim != 3 or region.shape[2] != 3:
        raise ImageArrayError(
            f"region must be an (h, w, 3) uint8 RGB array, got {getattr(region, 'dtype', type(region))} {getattr(region, 'shape', '')}"
        )


def _gaussian(region: np.ndarray, sigma: float, crop: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Gaussian blur of ``region``, returning only ``crop = (x0, y0, x1, y1)`` (default: all)."""
    import cv2

    h, w = region.shape[:2]
    cx0, cy0, cx1, cy1 = crop if crop is not None else (0, 0, w, h)
    factor = int(sigma // 3.0)
    if factor < 2 or min(h, w) < 2 * factor:
        out = cv2.GaussianBlur(region, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
        return out if crop is None else out[cy0:cy1, cx0:cx1]
    # Large sigma: average whole factor x factor blocks (the integer-factor INTER_AREA path; a
    # remainder of < factor pixels at the right / bottom edge is left out and replaced by the
    # nearest block, well inside the 3-sigma margin callers add), blur the small image with the
    # rest of sigma (the block average already low-passes with std ~ factor / sqrt(12)), and
    # interpolate back bilinearly, only over the requested crop.
    sw, sh = w // factor, h // factor
    small = cv2.resize(region[: sh * factor, : sw * factor], (sw, sh), interpolation=cv2.INTER_AREA)
    rest = math.sqrt(max(sigma * sigma - factor * factor / 12.0, 1.0)) / factor
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=rest, sigmaY=rest, borderType=cv2.BORDER_REFLECT_101)
    # Upsample only the blocks under the crop, with one extra block on each side so the
    # bilinear interpolation at the crop's edge sees its true neighbours (edge-replicated
    # blocks stand in beyond the image). Sub-image pixel x is region pixel (bx0 - 1) * factor + x.
    small = cv2.copyMakeBorder(small, 1, 2, 1, 2, cv2.BORDER_REPLICATE)
    bx0, by0 = cx0 // factor, cy0 // factor
    bx1, by1 = -(-cx1 // factor), -(-cy1 // factor)
    part = small[by0 : by1 + 2, bx0 : bx1 + 2]
    big = cv2.resize(part, (part.shape[1] * factor, part.shape[0] * factor), interpolation=cv2.INTER_LINEAR)
    ox, oy = (bx0 - 1) * factor, (by0 - 1) * factor
    out = big[cy0 - oy : cy1 - oy, cx0 - ox : cx1 - ox]
    return np.ascontiguousarray(out) if crop is None else out


def blur(
    region: np.ndarray,
    *,
    object_size: float,
    strength: int,
    crop: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Gaussian blur of a region with sigma from :func:`blur_sigma_px`.

    For exact results near the object's edge the region should extend
    :func:`effect_margin_px` pixels beyond the pixels to mask (borders are reflected).

    Args:
        region: (h, w, 3) uint8 RGB (not modified).
        object_size: pixels (see :func:`object_size_px`).
        strength: 1..5.
        crop: ``(x0, y0, x1, y1)`` pixels inside the region: compute and return only that part
            (the blur still reads the whole region). None: the whole region.

    Returns:
        New (h, w, 3) uint8 array (or the crop's (y1-y0, x1-x0, 3)).

    Raises:
        ImageArrayError: on a region that is not (h, w, 3) uint8.
        ConfigError: on a strength outside 1..5.
    """
    _check_region(region)
    sigma = blur_sigma_px(object_size, strength)
    if region.shape[0] == 0 or region.shape[1] == 0:
        return region.copy()
    if crop is not None:
        x0, y0, x1, y1 = crop
        if not (0 <= x0 < x1 <= region.shape[1] and 0 <= y0 < y1 <= region.shape[0]):
            raise ImageArrayError(f"crop {crop} is not a non-empty part of the {region.shape[1]}x{region.shape[0]} region")
    return _gaussian(region, sigma, crop)


def mosaic(region: np.ndarray, *, object_size: float, strength: int) -> np.ndarray:
    """Pixelate a region into square cells of :func:`mosaic_cell_px` pixels.

    Cells are anchored at the region's top-left pixel; each cell becomes the mean colour of its
    pixels (``cv2.resize`` with ``INTER_AREA`` down, ``INTER_NEAREST`` back up). The last row /
    column of cells may be cut by the region's edge; such a partial cell is the mean of the
    pixels it has.

    Args:
        region: (h, w, 3) uint8 RGB (not modified).
        object_size: pixels (see :func:`object_size_px`).
        strength: 1..5.

    Returns:
        New (h, w, 3) uint8 array.

    Raises:
        ImageArrayError: on a region that is not (h, w, 3) uint8.
        ConfigError: on a strength outside 1..5.
    """
    import cv2

    _check_region(region)
    cell = mosaic_cell_px(object_size, strength)
    h, w = region.shape[:2]
    if h == 0 or w == 0:
        return region.copy()
    nxf, nyf = w // cell, h // cell  # whole cells
    nx, ny = math.ceil(w / cell), math.ceil(h / cell)
    xf, yf = nxf * cell, nyf * cell
    small = np.empty((ny, nx, 3), dtype=np.uint8)
    # Each cell's mean, with integer-factor INTER_AREA (exact box means, OpenCV's fast path) on
    # the whole cells and on the partial cells of the right / bottom edge separately.
    if nxf and nyf:
        small[:nyf, :nxf] = cv2.resize(region[:yf, :xf], (nxf, nyf), interpolation=cv2.INTER_AREA)
    if nx > nxf and nyf:
        small[:nyf, nxf:] = cv2.resize(region[:yf, xf:], (1, nyf), interpolation=cv2.INTER_AREA).reshape(nyf, 1, 3)
    if ny > nyf and nxf:
        small[nyf:, :nxf] = cv2.resize(region[yf:, :xf], (nxf, 1), interpolation=cv2.INTER_AREA).reshape(1, nxf, 3)
    if nx > nxf and ny > nyf:
        small[nyf:, nxf:] = cv2.resize(region[yf:, xf:], (1, 1), interpolation=cv2.INTER_AREA).reshape(1, 1, 3)
    big = cv2.resize(small, (nx * cell, ny * cell), interpolation=cv2.INTER_NEAREST)
    if big.shape[0] != h or big.shape[1] != w:
        big = np.ascontiguousarray(big[:h, :w])
    return big


def solid(region: np.ndarray, *, color: tuple[int, int, int]) -> np.ndarray:
    """A region filled with one RGB colour.

    Args:
        region: (h, w, 3) uint8 RGB (only its shape is used).
        color: ``(r, g, b)`` 0..255.

    Returns:
        New (h, w, 3) uint8 array, every pixel equal to ``color``.

    Raises:
        ImageArrayError: on a region that is not (h, w, 3) uint8.
        ConfigError: on a colour outside 0..255.
    """
    _check_region(region)
    if len(color) != 3 or not all(0 <= int(c) <= 255 for c in color):
        raise ConfigError(f"color must be three values 0..255, got {color}")
    h, w = region.shape[:2]
    row = np.tile(np.asarray(color, dtype=np.uint8), w)  # one (w * 3,) row: fast broadcast below
    out = np.empty((h, w * 3), dtype=np.uint8)
    out[...] = row
    return out.reshape(h, w, 3)


_Crop = tuple[int, int, int, int]
_EffectFn = Callable[[np.ndarray, float, int, tuple[int, int, int], "_Crop | None"], np.ndarray]


def _sliced(out: np.ndarray, crop: _Crop | None) -> np.ndarray:
    return out if crop is None else out[crop[1] : crop[3], crop[0] : crop[2]]


_EFFECTS: dict[Effect, _EffectFn] = {
    Effect.BLUR: lambda r, s, k, c, crop: blur(r, object_size=s, strength=k, crop=crop),
    Effect.MOSAIC: lambda r, s, k, c, crop: _sliced(mosaic(r, object_size=s, strength=k), crop),
    Effect.SOLID: lambda r, s, k, c, crop: _sliced(solid(r, color=c), crop),
}


def apply_effect(
    region: np.ndarray,
    effect: Effect,
    *,
    object_size: float,
    strength: int,
    color: tuple[int, int, int] = (0, 0, 0),
    crop: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Apply one :class:`~sammask.masking.options.Effect` to a region.

    Args:
        region: (h, w, 3) uint8 RGB (not modified).
        effect: which effect.
        object_size: pixels (see :func:`object_size_px`).
        strength: 1..5.
        color: ``(r, g, b)`` for ``SOLID``.
        crop: ``(x0, y0, x1, y1)`` pixels inside the region: return only that part (the effect
            still reads the whole region; blur then computes only the crop). None: all of it.

    Returns:
        (h, w, 3) uint8 array, or the crop's (y1-y0, x1-x0, 3); new memory or a view of new
        memory, never of ``region``.

    Raises:
        ImageArrayError: on a region that is not (h, w, 3) uint8.
        ConfigError: on an unknown effect, a strength outside 1..5 or a bad colour.
    """
    try:
        fn = _EFFECTS[Effect(effect)]
    except (KeyError, ValueError):
        raise ConfigError(f"unknown effect {effect!r}; use one of {', '.join(e.value for e in Effect)}") from None
    return fn(region, object_size, strength, color, crop)
