"""Mask rules: boxes and polygons as masks, dilation, clipping and the fail-secure rule.

Pixel convention (used by every function here): pixel ``(row i, column j)`` is the unit square
``[j, j + 1) x [i, i + 1)`` in image coordinates, so its centre is ``(j + 0.5, i + 0.5)``. Boxes
are ``(x1, y1, x2, y2)`` float pixels (xyxy) in those coordinates, polygons ``((x, y), ...)``.
Masks are (H, W) ``bool`` arrays.

Privacy first: every rounding here is generous, i.e. a pixel that a box or polygon touches is
covered, and a segmenter mask that is missing, malformed or implausible is replaced by its box.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import Enum
import functools

import numpy as np

from sammask.errors import ConfigError, SegmentationError
from sammask.geometry import BBox, Bounds, box_mask, box_pixel_bounds, frame_hw, mask_bounds

log = logging.getLogger(__name__)

__all__ = [
    "FailSecureReason",
    "box_coverage",
    "clip_to_box",
    "dilate_mask",
    "secure_mask",
]


def _grow(bounds: Bounds, margin: int, h: int, w: int) -> Bounds:
    x0, y0, x1, y1 = bounds
    return max(x0 - margin, 0), max(y0 - margin, 0), min(x1 + margin, w), min(y1 + margin, h)


@functools.lru_cache(maxsize=64)
def disk_radius_sq(px: int) -> int:
    """Squared radius (pixels²) of the lattice disk that :func:`dilate_roi` dilates with.

    The largest ``dx² + dy²`` of OpenCV's ``MORPH_ELLIPSE`` structuring element of size
    ``2 px + 1`` (the kernel sammask used before dilation became a distance transform): the disk
    ``{(dx, dy): dx² + dy² <= disk_radius_sq(px)}`` contains that kernel, so the dilation is a
    superset of the former one, and reaches exactly ``px`` along the axes. Computed on one
    kernel's row extents once per radius (cached).
    """
    if px <= 0:
        return 0
    import cv2

    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    half = (k.sum(axis=1, dtype=np.int64) - 1) // 2  # row i spans dx in [-half, half] (symmetric rows)
    dy = np.arange(-px, px + 1, dtype=np.int64)
    on = half >= 0
    return int((half[on] ** 2 + dy[on] ** 2).max())


def dilate_roi(
    mask: np.ndarray,
    px: int,
    *,
    offset: tuple[int, int] = (0, 0),
    frame_hw: tuple[int, int] | None = None,
) -> tuple[Bounds, np.ndarray] | None:
    """Dilate a mask and return only its region of interest (for callers that work on ROIs).

    The mask may be a full frame (the default) or a region of interest placed at ``offset`` in a
    frame of size ``frame_hw``: memory then scales with the object, not with the frame.

    Args:
        mask: (h, w) bool; the whole frame, or an ROI when ``offset`` / ``frame_hw`` are given.
        px: radius in pixels (>= 0).
        offset: ``(x0, y0)`` pixel position of ``mask[0, 0]`` in the frame.
        frame_hw: ``(H, W)`` of the frame (default: ``mask.shape``).

    Returns:
        ``(bounds, sub)`` where ``sub`` is the (y1-y0, x1-x0) bool dilated mask inside
        ``bounds = (x0, y0, x1, y1)`` in frame pixels (the mask's bounding box grown by ``px``,
        clipped to the frame; every dilated pixel lies inside), or None for an empty mask.

    Raises:
        ConfigError: if ``px < 0``.
        SegmentationError: if the mask is not 2-D or does not fit in the frame at ``offset``.
    """
    import cv2

    if px < 0:
        raise ConfigError(f"dilation radius must be >= 0 pixels, got {px}")
    if mask.ndim != 2:
        raise SegmentationError(f"mask must be (H, W), got shape {mask.shape}")
    h, w = mask.shape if frame_hw is None else frame_hw
    ox, oy = int(offset[0]), int(offset[1])
    if ox < 0 or oy < 0 or ox + mask.shape[1] > w or oy + mask.shape[0] > h:
        raise SegmentationError(f"mask {mask.shape} at offset {offset} does not fit in a {h}x{w} frame")
    b = mask_bounds(mask)
    if b is None:
        return None
    gx0, gy0, gx1, gy1 = b[0] + ox, b[1] + oy, b[2] + ox, b[3] + oy
    x0, y0, x1, y1 = _grow((gx0, gy0, gx1, gy1), px, h, w)
    sub = np.zeros((y1 - y0, x1 - x0), np.uint8)
    sub[gy0 - y0 : gy1 - y0, gx0 - x0 : gx1 - x0] = mask[b[1] : b[3], b[0] : b[2]]
    if px > 0:
        # Exact Euclidean distance of every pixel to the mask (OpenCV's precise transform,
        # Felzenszwalb & Huttenlocher, linear in the ROI area whatever the radius), thresholded at
        # the disk radius. A slack of 1e-5 relative covers float32 rounding: it can only add
        # pixels (those with dx² + dy² = t² + 1 when t > ~220 px), never drop one of the disk.
        dist = cv2.distanceTransform((sub == 0).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        sub = dist <= np.float32(np.sqrt(disk_radius_sq(px)) * (1.0 + 1e-5))
        return (x0, y0, x1, y1), sub
    return (x0, y0, x1, y1), sub.view(bool)


def dilate_mask(mask: np.ndarray, px: int) -> np.ndarray:
    """Grow a mask by ``px`` pixels with a disk.

    The disk is the lattice disk of squared radius :func:`disk_radius_sq` (``px``), which holds
    OpenCV's ``MORPH_ELLIPSE`` kernel of size ``(2 px + 1)``: a single pixel dilated by ``r``
    covers every pixel within Euclidean distance ``r`` of it and nothing beyond ``r + 1``.
    Computed with an exact distance transform (``cv2.distanceTransform``, ``DIST_MASK_PRECISE``),
    so the cost grows with the region's area, not with the radius (issue 14, class 7: 980 px no
    longer costs minutes). Only the mask's bounding box grown by ``px`` is processed (fast for
    small objects in large frames).

    Args:
        mask: (H, W) bool.
        px: radius in pixels (>= 0); 0 returns a copy of the mask.

    Returns:
        New (H, W) bool mask.

    Raises:
        ConfigError: if ``px < 0``.
        SegmentationError: if the mask is not 2-D.
    """
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros(mask.shape, dtype=bool)
    roi = dilate_roi(mask, px)
    if roi is not None:
        (x0, y0, x1, y1), sub = roi
        out[y0:y1, x0:x1] = sub
    return out


def clip_to_box(mask: np.ndarray, bbox: BBox, margin_px: int) -> np.ndarray:
    """Zero a mask outside its box grown by a margin.

    Args:
        mask: (H, W) bool.
        bbox: ``(x1, y1, x2, y2)`` float pixels (generous rounding as in :func:`box_mask`).
        margin_px: pixels added on every side of the box (>= 0).

    Returns:
        New (H, W) bool mask, True only where ``mask`` is True and inside the grown box.

    Raises:
        ConfigError: if ``margin_px < 0``.
        TracksFormatError: on an invalid box.
    """
    if margin_px < 0:
        raise ConfigError(f"margin must be >= 0 pixels, got {margin_px}")
    h, w = mask.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in bbox)
    x0, y0, xe, ye = box_pixel_bounds((x1 - margin_px, y1 - margin_px, x2 + margin_px, y2 + margin_px), (h, w))
    out = np.zeros((h, w), dtype=bool)
    out[y0:ye, x0:xe] = mask[y0:ye, x0:xe]
    return out


class FailSecureReason(str, Enum):
    """Why :func:`secure_mask` replaced a segmenter mask with its box.

    - ``MISSING``: the segmenter gave no mask (None).
    - ``EMPTY``: the mask has no pixel set.
    - ``LOW_COVERAGE``: the mask covers less than ``min_coverage`` of its box.
    - ``ERROR``: the mask is malformed (not an (H, W) bool array of the frame's size).
    """

    MISSING = "missing"
    EMPTY = "empty"
    LOW_COVERAGE = "low_coverage"
    ERROR = "error"


def box_coverage(mask: np.ndarray, bbox: BBox) -> float:
    """Fraction of a box's pixels that a mask covers.

    ``coverage = (mask pixels inside the box) / (box pixels)``, with the box's pixels as in
    :func:`box_mask` (clipped to the frame).

    Args:
        mask: (H, W) bool.
        bbox: ``(x1, y1, x2, y2)`` float pixels.

    Returns:
        Coverage in [0, 1]; 1.0 when the box has no pixel inside the frame.

    Raises:
        TracksFormatError: on an invalid box.
    """
    x0, y0, x1, y1 = box_pixel_bounds(bbox, mask.shape)
    area = (x1 - x0) * (y1 - y0)
    if area == 0:
        return 1.0
    return float(np.count_nonzero(mask[y0:y1, x0:x1])) / area


def secure_mask(
    mask: np.ndarray | None,
    bbox: BBox,
    shape: Sequence[int],
    min_coverage: float,
) -> tuple[np.ndarray, FailSecureReason | None]:
    """Fail-secure rule: keep a plausible segmenter mask, else mask the whole box.

    A mask is replaced by :func:`box_mask` (``bbox``) when it is

    - ``None`` -> :attr:`FailSecureReason.MISSING`;
    - not an ndarray of dtype bool and shape ``shape[:2]`` -> :attr:`FailSecureReason.ERROR`
      (never raised: a malformed mask must not leave the object unmasked);
    - without any set pixel -> :attr:`FailSecureReason.EMPTY`;
    - covering less than ``min_coverage`` of its box (:func:`box_coverage`, a coverage exactly
      equal to the threshold is kept) -> :attr:`FailSecureReason.LOW_COVERAGE`.

    Threshold choice (default 0.10 in :class:`~sammask.masking.options.MaskingOptions`): a
    person's silhouette typically fills 40-70 % of its box (DAVIS ground truth in ../shared/data,
    every 10th frame, tight mask boxes: per-sequence medians 0.15-0.73, the lowest single value
    0.09 for a heavily occluded schoolgirl); below 10 % the mask has almost surely lost the object
    (a sliver, a background blob, a neighbouring object), so the box is the safe answer: a false
    fallback costs some collateral masking, never a leak. Each replacement is logged at DEBUG; the
    caller counts the reasons for the run report.

    Args:
        mask: (H, W) bool segmenter mask, or None.
        bbox: the detection's ``(x1, y1, x2, y2)`` float pixels.
        shape: ``(H, W, ...)`` of the frame (pixels).
        min_coverage: threshold in [0, 1].

    Returns:
        ``(mask, None)`` with the mask unchanged (same object) when it is kept, else
        ``(box mask, reason)`` with a new (H, W) bool box mask.

    Raises:
        ConfigError: if ``min_coverage`` is outside [0, 1].
        MediaError: if ``shape`` does not start with (H, W).
        TracksFormatError: on an invalid box (no mask can be made for it).
    """
    if not 0.0 <= min_coverage <= 1.0:
        raise ConfigError(f"min_coverage must be in [0, 1], got {min_coverage}")
    h, w = frame_hw(shape)
    reason: FailSecureReason | None = None
    if mask is None:
        reason = FailSecureReason.MISSING
    elif not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (h, w):
        log.debug(
            "malformed mask (%s, shape %s) for box %s: masking the box",
            getattr(mask, "dtype", type(mask).__name__),
            getattr(mask, "shape", None),
            bbox,
        )
        reason = FailSecureReason.ERROR
    elif not mask.any():
        reason = FailSecureReason.EMPTY
    elif box_coverage(mask, bbox) < min_coverage:
        reason = FailSecureReason.LOW_COVERAGE
    if reason is None and mask is not None:
        return mask, None
    reason = reason or FailSecureReason.ERROR
    log.debug("fail-secure %s for box %s: masking the box", reason.value, bbox)
    return box_mask(bbox, (h, w)), reason
