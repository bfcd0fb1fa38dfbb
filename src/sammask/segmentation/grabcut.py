"""GrabCut segmenter: a model-free silhouette from each box (OpenCV ``cv2.grabCut``).

GrabCut (Rother, Kolmogorov, Blake, "GrabCut: interactive foreground extraction using iterated
graph cuts", SIGGRAPH 2004) fits colour GMMs to the foreground (inside the box) and background
(around it) and cuts the box ROI with a graph cut. Each track's ROI is the box grown by a margin
and downscaled for speed; the result is upscaled and clipped to the box. When the same track had
a mask on the previous frame it can seed the cut (the previous mask moved by the box motion).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from sammask.errors import ConfigError
from sammask.segmentation.base import FrameMasks, FramePrompts, Segmenter
from sammask.geometry import box_mask, box_pixel_bounds
from sammask.segmentation.keyframe import carry_mask
from sammask.tracks.types import BBox

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Previous:
    """A track's mask and box on the previous input frame."""

    frame_idx: int
    mask: np.ndarray
    bbox: BBox


class GrabCutSegmenter(Segmenter):
    """Segment each box prompt with OpenCV GrabCut, independently per track and frame.

    For each prompt: the ROI is the box grown by ``margin`` times its width/height on each side
    (clipped to the frame), downscaled (``cv2.INTER_AREA``) so that its longer side is at most
    ``max_side`` pixels. GrabCut is initialised from the box (the box as probable foreground and the rest of
    the ROI as definite background, i.e. what ``GC_INIT_WITH_RECT`` sets up, done through the mask
    so that a box filling the whole ROI can still give the background model its border) or, with ``use_previous`` and a mask of the same track on the
    previous input frame, from that mask carried by the box motion
    (:func:`sammask.segmentation.keyframe.carry_mask`): probable foreground where it is set,
    probable background elsewhere in the box, definite background outside the box
    (``GC_INIT_WITH_MASK``).

    Recall (privacy first: a leaked object pixel is worse than a background pixel masked for
    nothing): with ``fg_margin`` set (default 0), every box pixel whose colour log-likelihood
    under GrabCut's foreground GMM is at least that under its background GMM minus
    ``fg_margin`` (natural log) is added to the cut's foreground. With 1 iteration the
    foreground GMM is fitted to the whole box and the background GMM to the ROI outside it, so
    this keeps every box pixel that does not look like the surrounding background: thin limbs
    and parts the graph cut smooths away are kept. The result is upscaled to the ROI (bilinear,
    kept where >= 0.5) and clipped to the box pixels. Closing, hole filling, a lower upscale
    threshold, a fill-history check and a growth of the foreground were measured as recall
    options and gave no gain (docs/quality/grabcut-tuning.md); they were removed. The random generator is re-seeded (``cv2.setRNGSeed(seed)``) before every
    cut, so output is deterministic and independent of the other tracks.

    Fail-secure: a track whose cut raises ``cv2.error``, or whose foreground covers less than
    ``min_fill`` of its box, gets ``None`` (the pipeline masks its box and counts it); a debug
    line is logged. Boxes smaller than ``min_box`` pixels on a side get their box mask (too small
    to cut). Reads no frame ahead.

    Leak vs collateral (``scripts/bench_grabcut.py``, docs/quality/grabcut-tuning.md): on all 17
    DAVIS sequences (every 5th frame, GT boxes, the pipeline's 10 % fail-secure and 4 px
    dilation) the default leaks 0.34 % of object pixels (17 of 244 frames over 1 %, 1 over 5 %)
    at 78 % of box masking's collateral; the graph cut alone (``fg_margin=None``) leaked 10.5 %
    (130 frames over 5 %) at 29 %. About 34 ms CPU per track-frame at 720p (cut alone: 24 ms).

    Measured on all 15 DAVIS 2016 sequences (first 20 frames, GT boxes, 2 iterations): mean IoU
    with GT 0.654 seeded from the box, 0.601 seeded from the previous mask (errors accumulate:
    the cut drifts), box alone 0.406; so ``use_previous`` defaults to False.

    Args:
        iterations: GrabCut iterations per cut (>= 1). Default 1 (measured on 6 DAVIS 2016
            sequences, 15 frames each: 1 iteration is both faster and more accurate than 2 or 3).
        max_side: longest side in pixels of the downscaled ROI (>= 16). Default 160.
        margin: ROI growth around the box as a fraction of box width/height (>= 0). Default 0.1.
        use_previous: seed from the track's previous-frame mask when there is one. Default False.
        min_fill: minimum fraction of the box pixels the foreground must cover, else ``None``
            (in [0, 1)). Default 0.02.
        min_box: boxes narrower or shorter than this many pixels get their box mask. Default 4.
        seed: OpenCV RNG seed set before every cut. Default 0.
        fg_margin: add box pixels with log p_fg >= log p_bg - ``fg_margin`` (GrabCut's colour
            GMMs, natural log); ``None`` keeps the graph cut only. Default 0.0 (see above).

    Raises:
        ConfigError: if an option is out of range.
    """

    name = "grabcut"

    def __init__(
        self,
        *,
        iterations: int = 1,
        max_side: int = 160,
        margin: float = 0.1,
        use_previous: bool = False,
        min_fill: float = 0.02,
        min_box: int = 4,
        seed: int = 0,
        fg_margin: float | None = 0.0,
    ) -> None:
        if int(iterations) < 1:
            raise ConfigError(f"grabcut iterations must be >= 1, got {iterations}")
        if int(max_side) < 16:
            raise ConfigError(f"grabcut max_side must be >= 16 pixels, got {max_side}")
        if not math.isfinite(margin) or margin < 0:
            raise ConfigError(f"grabcut margin must be a finite fraction >= 0, got {margin}")
        if not 0 <= min_fill < 1:
            raise ConfigError(f"grabcut min_fill must be in [0, 1), got {min_fill}")
        if int(min_box) < 1:
            raise ConfigError(f"grabcut min_box must be >= 1 pixel, got {min_box}")
        if fg_margin is not None and not math.isfinite(fg_margin):
            raise ConfigError(f"grabcut fg_margin must be a finite log-likelihood margin or None, got {fg_margin}")
        self.fg_margin = None if fg_margin is None else float(fg_margin)
        self.iterations = int(iterations)
        self.max_side = int(max_side)
        self.margin = float(margin)
        self.use_previous = bool(use_previous)
        self.min_fill = float(min_fill)
        self.min_box = int(min_box)
        self.seed = int(seed)

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        """Yield one :class:`FrameMasks` per input frame, in order.

        Args:
            frames: :class:`FramePrompts` with (H, W, 3) uint8 RGB images.

        Yields:
            :class:`FrameMasks` with, for every prompt, an (H, W) bool mask inside the box or
            ``None`` when the cut failed (see the class docstring).
        """
        previous: dict[int, _Previous] = {}
        last_idx: int | None = None
        for fp in frames:
            out = FrameMasks(frame_idx=fp.frame_idx)
            current: dict[int, _Previous] = {}
            for prompt in fp.prompts:
                prev = previous.get(prompt.track_id) if self.use_previous else None
                if prev is not None and prev.frame_idx != last_idx:
                    prev = None
                mask = self.segment_box(fp.image, prompt.bbox, prev, fp.frame_idx, prompt.track_id)
                out.masks[prompt.track_id] = mask
                if mask is not None:
                    current[prompt.track_id] = _Previous(fp.frame_idx, mask, prompt.bbox)
            previous = current
            last_idx = fp.frame_idx
            yield out

    def segment_box(
        self,
        image: np.ndarray,
        bbox: BBox,
        previous: _Previous | None = None,
        frame_idx: int = -1,
        track_id: int = -1,
    ) -> np.ndarray | None:
        """Cut one box on one frame.

        Args:
            image: (H, W, 3) uint8 RGB frame (not modified).
            bbox: ``(x1, y1, x2, y2)`` float pixels.
            previous: the track's mask and box on the previous frame, to seed the cut, or None.
            frame_idx: for log messages only.
            track_id: for log messages only.

        Returns:
            (H, W) bool mask inside the box pixels, or ``None`` when the cut failed (``cv2.error``)
            or its foreground is smaller than ``min_fill`` of the box.
        """
        import cv2

        h, w = image.shape[:2]
        c0, r0, c1, r1 = box_pixel_bounds(bbox, (h, w))
        if c1 <= c0 or r1 <= r0:
            return np.zeros((h, w), dtype=bool)  # the box is outside the frame: nothing visible
        bw, bh = c1 - c0, r1 - r0
        if bw < self.min_box or bh < self.min_box:
            return box_mask(bbox, (h, w))
        win = _Window.around((c0, r0, c1, r1), (h, w), self.margin, self.max_side)
        roi = np.ascontiguousarray(image[win.ry0 : win.ry1, win.rx0 : win.rx1])
        small = roi if (win.sw, win.sh) == (win.rw, win.rh) else cv2.resize(roi, (win.sw, win.sh), interpolation=cv2.INTER_AREA)
        gc_mask = _seed_labels(win, bbox, previous, (h, w))
        bgd_model = np.zeros((1, 65), dtype=np.float64)
        fgd_model = np.zeros((1, 65), dtype=np.float64)
        try:
            cv2.setRNGSeed(self.seed)
            cv2.grabCut(  # rect (0, 0, 0, 0): unused with GC_INIT_WITH_MASK (None, which it typed as, converts to it)
                small, gc_mask, (0, 0, 0, 0), bgd_model, fgd_model, self.iterations, cv2.GC_INIT_WITH_MASK
            )
        except cv2.error as exc:
            logger.debug(
                "grabcut failed on frame %d track %d (box %s): %s; no mask (the box will be masked)",
                frame_idx,
                track_id,
                bbox,
                exc,
            )
            return None
        fg = (gc_mask == cv2.GC_FGD) | (gc_mask == cv2.GC_PR_FGD)
        if self.fg_margin is not None:
            # recall: also keep box pixels whose colour is almost as likely under the foreground
            # colour model as under the background one
            inbox = np.zeros((win.sh, win.sw), dtype=bool)
            inbox[win.by0 : win.by1, win.bx0 : win.bx1] = True
            ratio = _gmm_log_likelihood(small, fgd_model) - _gmm_log_likelihood(small, bgd_model)
            fg |= inbox & (ratio >= -self.fg_margin)
        mask = win.to_frame(fg, (h, w)) & box_mask(bbox, (h, w))
        area = int(mask.sum())
        if area < self.min_fill * bw * bh or area == 0:
            logger.debug(
                "grabcut foreground on frame %d track %d covers %d of %d box pixels (< min_fill %.3f); no mask (the box will be masked)",
                frame_idx,
                track_id,
                area,
                bw * bh,
                self.min_fill,
            )
            return None
        return mask


@dataclass(frozen=True, slots=True)
class _Window:
    """The region GrabCut runs on: the box's pixels plus a margin (``rx0..rx1``, ``ry0..ry1``
    in the frame), scaled to ``sw x sh`` (longer side at most ``max_side``), and the box inside
    the scaled region (``bx0..bx1``, ``by0..by1``, at least one pixel)."""

    rx0: int
    ry0: int
    rx1: int
    ry1: int
    sw: int
    sh: int
    bx0: int
    by0: int
    bx1: int
    by1: int

    @property
    def rw(self) -> int:
        return self.rx1 - self.rx0

    @property
    def rh(self) -> int:
        return self.ry1 - self.ry0

    @classmethod
    def around(cls, bounds: tuple[int, int, int, int], hw: tuple[int, int], margin: float, max_side: int) -> _Window:
        """The window around box pixel ``bounds`` ``(c0, r0, c1, r1)`` on an ``hw`` frame."""
        c0, r0, c1, r1 = bounds
        h, w = hw
        mx, my = math.ceil(margin * (c1 - c0)), math.ceil(margin * (r1 - r0))
        rx0, ry0 = max(c0 - mx, 0), max(r0 - my, 0)
        rx1, ry1 = min(c1 + mx, w), min(r1 + my, h)
        rw, rh = rx1 - rx0, ry1 - ry0
        scale = min(1.0, max_side / max(rw, rh))
        sw, sh = max(round(rw * scale), 1), max(round(rh * scale), 1)
        fx, fy = sw / rw, sh / rh
        bx0 = min(int(math.floor((c0 - rx0) * fx)), sw - 1)
        by0 = min(int(math.floor((r0 - ry0) * fy)), sh - 1)
        bx1 = max(min(int(math.ceil((c1 - rx0) * fx)), sw), bx0 + 1)
        by1 = max(min(int(math.ceil((r1 - ry0) * fy)), sh), by0 + 1)
        return cls(rx0, ry0, rx1, ry1, sw, sh, bx0, by0, bx1, by1)

    def to_frame(self, fg: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        """A (sh, sw) bool foreground as an (H, W) frame mask (bilinear upscale, kept where >= 0.5)."""
        import cv2

        up: np.ndarray = fg.astype(np.uint8) * 255
        if (self.sw, self.sh) != (self.rw, self.rh):
            up = cv2.resize(up, (self.rw, self.rh), interpolation=cv2.INTER_LINEAR)
        mask = np.zeros(hw, dtype=bool)
        mask[self.ry0 : self.ry1, self.rx0 : self.rx1] = up >= 128
        return mask


def _seed_labels(win: _Window, bbox: BBox, previous: _Previous | None, hw: tuple[int, int]) -> np.ndarray:
    """GrabCut's initial (sh, sw) labels: background outside the box; inside it the previous
    frame's mask carried onto this box (probable foreground / background) when that gives both,
    else all probable foreground. A box that fills the whole window gets the window border as
    probable background, so that the background model has samples."""
    import cv2

    gc_mask = np.full((win.sh, win.sw), cv2.GC_BGD, dtype=np.uint8)
    seeded = False
    if previous is not None:
        px0, py0, px1, py1 = previous.bbox
        if px1 > px0 and py1 > py0:
            moved = carry_mask(previous.mask, previous.bbox, bbox, hw)[win.ry0 : win.ry1, win.rx0 : win.rx1]
            moved_small = cv2.resize(moved.astype(np.uint8), (win.sw, win.sh), interpolation=cv2.INTER_NEAREST)
            inside = gc_mask[win.by0 : win.by1, win.bx0 : win.bx1]
            inside[:] = np.where(moved_small[win.by0 : win.by1, win.bx0 : win.bx1] > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
            seeded = bool((inside == cv2.GC_PR_FGD).any()) and bool((inside == cv2.GC_PR_BGD).any())
    if not seeded:
        gc_mask[win.by0 : win.by1, win.bx0 : win.bx1] = cv2.GC_PR_FGD
    if not (gc_mask[:, :] != cv2.GC_PR_FGD).any():
        gc_mask[0, :] = gc_mask[-1, :] = cv2.GC_PR_BGD
        gc_mask[:, 0] = gc_mask[:, -1] = cv2.GC_PR_BGD
    return gc_mask


def _gmm_log_likelihood(pixels: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Log density of every pixel under an OpenCV GrabCut colour GMM.

    ``model`` is the (1, 65) float64 array ``cv2.grabCut`` fills: 5 component weights, then
    5 x 3 means, then 5 x (3 x 3) covariances (row-major), as laid out in OpenCV's
    ``modules/imgproc/src/grabcut.cpp`` (class ``GMM``).

    Args:
        pixels: (h, w, 3) uint8 image (same channel order the model was fitted on).
        model: (1, 65) float64 GrabCut model.

    Returns:
        (h, w) float64 natural-log densities (colour units 0..255).
    """
    k = 5
    coefs = model.reshape(-1)
    weights = coefs[:k]
    means = coefs[k : 4 * k].reshape(k, 3)
    covs = coefs[4 * k :].reshape(k, 3, 3)
    x = pixels.reshape(-1, 3).astype(np.float64)
    out = np.full(x.shape[0], -np.inf)
    for c in range(k):
        if weights[c] <= 0:
            continue
        cov = covs[c]
        sign, logdet = np.linalg.slogdet(cov)
        if sign <= 0:
            continue
        d = x - means[c]
        maha = np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d)
        out = np.logaddexp(out, math.log(weights[c]) - 0.5 * (logdet + maha) - 1.5 * math.log(2 * math.pi))
    return out.reshape(pixels.shape[:2])
