"""The offline classical backend: GrabCut for prompts, Felzenszwalb for "everything" (a baseline).

No weights, no network: OpenCV's ``cv2.grabCut`` (Rother, Kolmogorov, Blake, "GrabCut", SIGGRAPH
2004) cuts an object from a box and/or clicks; scikit-image's
``skimage.segmentation.felzenszwalb`` (Felzenszwalb & Huttenlocher, "Efficient graph-based image
segmentation", IJCV 2004) splits the image into regions for "segment everything". Both are
**baselines**: they know colour and edges, not objects (figures in docs/image.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sammask.errors import ConfigError, SegmentationError
from sammask.geometry import BBox, box_mask, box_pixel_bounds, mask_bbox
from sammask.image.backend import ImageBackend, check_rgb
from sammask.image.types import Candidate, ImageMask, Prompt

__all__ = ["ClassicalBackend", "FelzenszwalbOptions"]

_CLICK_SCALES = (0.5, 0.75, 1.0)
"""Window side (fraction of the image's shorter side) around the clicks of a point-only prompt:
one candidate each with ``multimask``; the middle one alone otherwise."""


@dataclass(frozen=True, slots=True)
class FelzenszwalbOptions:
    """Options of the classical "everything" baseline (``skimage.segmentation.felzenszwalb``).

    Attributes:
        scale: larger -> larger regions (skimage's ``scale``). Default 300.
        sigma: Gaussian pre-smoothing in pixels of the working image. Default 0.8.
        min_area: regions smaller than this fraction of the image are merged into a neighbour
            (skimage's ``min_size``) and then dropped. Default 0.002 (0.2 %).
        max_side: the image is downscaled so that its longer side is at most this many pixels
            before segmenting (regions are mapped back to full resolution). Default 640.

    Raises:
        ConfigError: an option out of range.
    """

    scale: float = 300.0
    sigma: float = 0.8
    min_area: float = 0.002
    max_side: int = 640

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"scale must be > 0, got {self.scale}")
        if not (math.isfinite(self.sigma) and self.sigma >= 0):
            raise ConfigError(f"sigma must be >= 0, got {self.sigma}")
        if not 0 <= self.min_area < 1:
            raise ConfigError(f"min_area must be a fraction in [0, 1), got {self.min_area}")
        if int(self.max_side) < 32:
            raise ConfigError(f"max_side must be >= 32 pixels, got {self.max_side}")


def boundary_contrast(image: np.ndarray, mask: np.ndarray) -> float:
    """Score of a classical mask in [0, 1]: how strongly its outline follows image edges.

    The mean Sobel gradient magnitude (grey, 0..255 scale) on the mask's boundary pixels,
    divided by 64 and clipped to 1. An outline along strong edges scores near 1, one through flat
    colour near 0. Empty masks and masks without a boundary inside the image score 0.

    Args:
        image: (H, W, 3) uint8 RGB.
        mask: (H, W) bool.
    """
    import cv2

    m = mask.astype(np.uint8)
    edge = (m - cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)).astype(bool)
    if not edge.any():
        return 0.0
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mag = cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)) / 4.0
    return float(min(1.0, mag[edge].mean() / 64.0))


class ClassicalBackend(ImageBackend):
    """GrabCut on prompts, Felzenszwalb regions for "everything"; offline, no weights.

    Prompted cut (:meth:`predict`): the working window is the box grown by ``margin`` on each
    side (box prompts), or a square around the clicks whose side is a fraction of the image's
    shorter side (point-only prompts, :data:`_CLICK_SCALES`). The window is downscaled to at
    most ``max_side`` pixels and cut with ``cv2.grabCut`` (``GC_INIT_WITH_MASK``, ``iterations``),
    initialised as: outside the box definite background; inside the box probable foreground
    (or, with a mask prompt, probable foreground on the mask and probable background elsewhere);
    without a box, probable background with the window border definite background; a disk of
    ``click_radius`` x window side around each foreground click definite foreground and around
    each background click definite background. With clicks, only the connected parts of the
    cut that contain a foreground click are kept. The cut is upscaled (bilinear, >= 0.5) and
    clipped to the box. Score: :func:`boundary_contrast`. ``cv2.setRNGSeed(seed)`` before each
    cut makes results deterministic.

    Args:
        iterations: GrabCut iterations (>= 1). Default 3.
        max_side: longest side of the downscaled window in pixels (>= 32). Default 320.
        margin: window growth around a box, fraction of its size (>= 0). Default 0.1.
        click_radius: seed disk radius around a click, fraction of the window side. Default 0.02.
        seed: OpenCV RNG seed. Default 0.

    Raises:
        ConfigError: an option out of range.
    """

    name = "classical"

    def __init__(
        self,
        *,
        iterations: int = 3,
        max_side: int = 320,
        margin: float = 0.1,
        click_radius: float = 0.02,
        click_prior: float = 0.25,
        min_fill: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if int(iterations) < 1:
            raise ConfigError(f"iterations must be >= 1, got {iterations}")
        if int(max_side) < 32:
            raise ConfigError(f"max_side must be >= 32 pixels, got {max_side}")
        if not (math.isfinite(margin) and margin >= 0):
            raise ConfigError(f"margin must be >= 0, got {margin}")
        if not (math.isfinite(click_radius) and 0 < click_radius < 0.5):
            raise ConfigError(f"click_radius must be in (0, 0.5), got {click_radius}")
        self.iterations = int(iterations)
        self.max_side = int(max_side)
        self.margin = float(margin)
        self.click_radius = float(click_radius)
        self.click_prior = float(click_prior)
        if not 0 <= min_fill < 1:
            raise ConfigError(f"min_fill must be in [0, 1), got {min_fill}")
        if not (math.isfinite(click_prior) and 0 < click_prior <= 0.5):
            raise ConfigError(f"click_prior must be in (0, 0.5], got {click_prior}")
        self.min_fill = float(min_fill)
        self.seed = int(seed)

    # -- prompts -------------------------------------------------------------------------------

    def predict(self, prompt: Prompt, *, multimask: bool = True) -> list[Candidate]:
        """See :meth:`ImageBackend.predict`. One cut per candidate: box prompts give one
        candidate (GrabCut has no ambiguity levels to offer); point-only prompts give one per
        window scale of :data:`_CLICK_SCALES` with ``multimask`` (else the middle scale)."""
        image = self.image
        h, w = image.shape[:2]
        prompt.check_inside(h, w)
        if prompt.box is not None:
            windows = [self._box_window(prompt.box, h, w)]
        else:
            scales = _CLICK_SCALES if multimask else (_CLICK_SCALES[1],)
            windows = [self._click_window(prompt.points[prompt.labels == 1], s, h, w) for s in scales]
        out = []
        for win in windows:
            mask = self._cut(image, prompt, win)
            out.append(Candidate(mask=mask, score=boundary_contrast(image, mask)))
        # identical candidates (a window already covering the image) are kept once
        unique: list[Candidate] = []
        for c in out:
            if not any(np.array_equal(c.mask, u.mask) for u in unique):
                unique.append(c)
        return sorted(unique, key=lambda c: -c.score)

    def _box_window(self, box: BBox, h: int, w: int) -> tuple[int, int, int, int]:
        c0, r0, c1, r1 = box_pixel_bounds(box, (h, w))
        mx, my = math.ceil(self.margin * (c1 - c0)), math.ceil(self.margin * (r1 - r0))
        return max(c0 - mx, 0), max(r0 - my, 0), min(c1 + mx, w), min(r1 + my, h)

    @staticmethod
    def _click_window(points: np.ndarray, scale: float, h: int, w: int) -> tuple[int, int, int, int]:
        side = max(8, round(scale * min(h, w)))
        x0, y0 = points.min(axis=0)
        x1, y1 = points.max(axis=0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half_w = max(side / 2, (x1 - x0) / 2 + side / 8)
        half_h = max(side / 2, (y1 - y0) / 2 + side / 8)
        return (
            max(int(cx - half_w), 0),
            max(int(cy - half_h), 0),
            min(int(math.ceil(cx + half_w)), w),
            min(int(math.ceil(cy + half_h)), h),
        )

    def _cut(self, image: np.ndarray, prompt: Prompt, win: tuple[int, int, int, int]) -> np.ndarray:
        """One GrabCut of ``prompt`` on the window ``win`` = ``(x0, y0, x1, y1)`` of ``image``:
        (H, W) bool mask of the whole image (never empty: the box or the click prior on collapse)."""
        roi = _Roi.of(image, win, self.max_side)
        small = roi.crop(image)
        gc = _prompt_gc(roi, prompt)
        prior_disk, seeds = self._click_seeds(gc, roi, prompt)
        fg = self._grabcut(small, gc, win)
        fg = _keep_clicked(fg, seeds, prompt.box is not None)
        box_small = roi.box_small(prompt.box) if prompt.box is not None else None
        if box_small is not None:
            clip = np.zeros_like(fg)
            bx0, by0, bx1, by1 = box_small
            clip[by0:by1, bx0:bx1] = 1
            fg &= clip
        return self._full_mask(roi, fg, prompt, prior_disk)

    def _click_seeds(self, gc: np.ndarray, roi: _Roi, prompt: Prompt) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Draw the clicks into ``gc`` (in place): a probable-foreground prior disc per positive
        click when nothing else says where the object is, and a sure disc per click. Returns the
        prior discs (sh, sw) uint8 and the positive clicks' working pixels."""
        import cv2

        prior_disk = np.zeros((roi.sh, roi.sw), np.uint8)
        if prompt.box is None and prompt.mask is None:
            prior = max(1, round(self.click_prior * min(roi.sw, roi.sh)))
            for (px, py), lab in zip(prompt.points, prompt.labels):
                if lab == 1:
                    cx, cy = roi.to_small(px, py)
                    cv2.circle(gc, (cx, cy), prior, int(cv2.GC_PR_FGD), -1)
                    cv2.circle(prior_disk, (cx, cy), prior, 1, -1)
        radius = max(1, round(self.click_radius * max(roi.sw, roi.sh)))
        seeds = []
        for (px, py), lab in zip(prompt.points, prompt.labels):
            cx, cy = roi.to_small(px, py)
            cv2.circle(gc, (cx, cy), radius, int(cv2.GC_FGD if lab == 1 else cv2.GC_BGD), -1)
            if lab == 1:
                seeds.append((cx, cy))
        if not ((gc == cv2.GC_BGD) | (gc == cv2.GC_PR_BGD)).any():
            gc[0, 0] = cv2.GC_PR_BGD
        return prior_disk, seeds

    def _grabcut(self, small: np.ndarray, gc: np.ndarray, win: tuple[int, int, int, int]) -> np.ndarray:
        """Run GrabCut (seeded) on the working image with the label map ``gc`` (updated in place);
        (sh, sw) uint8 1 = foreground.

        Raises:
            SegmentationError: OpenCV's GrabCut failed.
        """
        import cv2

        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        try:
            cv2.setRNGSeed(self.seed)
            cv2.grabCut(small, gc, (0, 0, 0, 0), bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)  # rect unused with a mask
        except cv2.error as exc:
            raise SegmentationError(f"GrabCut failed on window {win}: {exc}") from exc
        return ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.uint8)

    def _full_mask(self, roi: _Roi, fg: np.ndarray, prompt: Prompt, prior_disk: np.ndarray) -> np.ndarray:
        """The working-size foreground ``fg`` back in the full image, (H, W) bool: clipped to the
        box (the box itself if the cut filled under ``min_fill`` of it), or the click prior discs
        if the cut came back empty."""
        import cv2

        x0, y0, x1, y1 = roi.win
        fg = fg * 255
        if (roi.sw, roi.sh) != (roi.rw, roi.rh):
            fg = cv2.resize(fg, (roi.rw, roi.rh), interpolation=cv2.INTER_LINEAR)
        mask = np.zeros((roi.h, roi.w), bool)
        mask[y0:y1, x0:x1] = fg >= 128
        if prompt.box is not None:
            bm = box_mask(prompt.box, (roi.h, roi.w))
            mask &= bm
            if mask.sum() < self.min_fill * bm.sum():
                return bm  # the cut collapsed: the box (mask more, never nothing)
        elif not mask.any():
            mask[y0:y1, x0:x1] = cv2.resize(prior_disk, (roi.rw, roi.rh), interpolation=cv2.INTER_NEAREST) > 0
        return mask

    # -- everything ----------------------------------------------------------------------------

    def everything(self, image: np.ndarray, options: FelzenszwalbOptions | None = None) -> list[ImageMask]:
        """Felzenszwalb regions as masks (a baseline: regions of similar colour, not objects).

        The image is downscaled to ``options.max_side`` (``cv2.INTER_AREA``), segmented with
        ``felzenszwalb(scale, sigma, min_size = min_area x working pixels)``, and the label map is
        scaled back by nearest neighbour, so the masks tile the image exactly (every pixel in one
        region). Regions under ``min_area`` of the image are dropped.

        Raises:
            ConfigError: ``options`` is not :class:`FelzenszwalbOptions`, or a bad image.
            SegmentationError: scikit-image is missing (the message names the extra).
        """
        import cv2

        options = options if options is not None else FelzenszwalbOptions()
        if not isinstance(options, FelzenszwalbOptions):
            raise ConfigError(f"the classical backend takes FelzenszwalbOptions, got {type(options).__name__}")
        image = check_rgb(image)
        try:
            from skimage.segmentation import felzenszwalb
        except ImportError as exc:
            raise SegmentationError(
                f"scikit-image is not installed ({exc}); install sammask[image] for the classical 'everything'"
            ) from exc
        h, w = image.shape[:2]
        s = min(1.0, options.max_side / max(h, w))
        sw, sh = max(round(w * s), 1), max(round(h * s), 1)
        small = image if (sw, sh) == (w, h) else cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        min_size = max(1, round(options.min_area * sw * sh))
        labels = felzenszwalb(small, scale=options.scale, sigma=options.sigma, min_size=min_size)
        if (sw, sh) != (w, h):
            rows = np.minimum((np.arange(h) + 0.5) * sh / h, sh - 1).astype(np.intp)
            cols = np.minimum((np.arange(w) + 0.5) * sw / w, sw - 1).astype(np.intp)
            labels = labels[rows][:, cols]
        counts = np.bincount(labels.reshape(-1))
        min_pixels = options.min_area * h * w
        out = []
        for lab in np.argsort(-counts, kind="stable"):
            if counts[lab] == 0 or counts[lab] < min_pixels:
                continue
            m = labels == lab
            bbox = mask_bbox(m)
            if bbox is not None:  # always: the label has counts[lab] > 0 pixels
                out.append(ImageMask(mask=m, bbox=bbox, area=int(counts[lab]), crop_box=(0, 0, w, h)))
        return out


@dataclass(frozen=True)
class _Roi:
    """A GrabCut window ``win`` = ``(x0, y0, x1, y1)`` of an (h, w) image, worked on at
    (sh, sw) pixels (``fx``, ``fy``: working pixels per image pixel)."""

    win: tuple[int, int, int, int]
    h: int
    w: int
    sw: int
    sh: int

    @property
    def rw(self) -> int:
        return self.win[2] - self.win[0]

    @property
    def rh(self) -> int:
        return self.win[3] - self.win[1]

    @property
    def fx(self) -> float:
        return self.sw / self.rw

    @property
    def fy(self) -> float:
        return self.sh / self.rh

    @classmethod
    def of(cls, image: np.ndarray, win: tuple[int, int, int, int], max_side: int) -> _Roi:
        """The window's working size: its longer side at most ``max_side``.

        Raises:
            SegmentationError: the window is under 2 pixels wide or high.
        """
        h, w = image.shape[:2]
        x0, y0, x1, y1 = win
        rw, rh = x1 - x0, y1 - y0
        if rw < 2 or rh < 2:
            raise SegmentationError(f"prompt window {win} is too small to cut")
        scale = min(1.0, max_side / max(rw, rh))
        return cls(win, h, w, max(round(rw * scale), 2), max(round(rh * scale), 2))

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The window of ``image`` at working size (``cv2.INTER_AREA``)."""
        import cv2

        x0, y0, x1, y1 = self.win
        roi = np.ascontiguousarray(image[y0:y1, x0:x1])
        if (self.sw, self.sh) == (self.rw, self.rh):
            return roi
        return cv2.resize(roi, (self.sw, self.sh), interpolation=cv2.INTER_AREA)

    def crop_mask(self, mask: np.ndarray) -> np.ndarray:
        """The window of a (H, W) bool mask at working size (nearest), uint8."""
        import cv2

        x0, y0, x1, y1 = self.win
        return cv2.resize(mask[y0:y1, x0:x1].astype(np.uint8), (self.sw, self.sh), interpolation=cv2.INTER_NEAREST)

    def to_small(self, px: float, py: float) -> tuple[int, int]:
        """Image pixel ``(px, py)`` -> working pixel, clamped into the window."""
        cx = min(max(int((px - self.win[0]) * self.fx), 0), self.sw - 1)
        cy = min(max(int((py - self.win[1]) * self.fy), 0), self.sh - 1)
        return cx, cy

    def box_small(self, box: BBox) -> tuple[int, int, int, int]:
        """``box`` (xyxy image pixels) in working pixels, at least one pixel wide and high."""
        x0, y0 = self.win[:2]
        bc0, br0, bc1, br1 = box_pixel_bounds(box, (self.h, self.w))
        bx0 = min(int(math.floor((bc0 - x0) * self.fx)), self.sw - 1)
        by0 = min(int(math.floor((br0 - y0) * self.fy)), self.sh - 1)
        bx1 = max(min(int(math.ceil((bc1 - x0) * self.fx)), self.sw), bx0 + 1)
        by1 = max(min(int(math.ceil((br1 - y0) * self.fy)), self.sh), by0 + 1)
        return bx0, by0, bx1, by1


def _prompt_gc(roi: _Roi, prompt: Prompt) -> np.ndarray:
    """GrabCut's initial (sh, sw) uint8 label map from the box and mask prompts (clicks come
    after): with a box, sure background outside it and probable foreground inside (or the mask
    prompt's pixels); without, probable background, the mask prompt's pixels probable foreground
    and sure background on the window borders that lie inside the image."""
    import cv2

    gc = np.full((roi.sh, roi.sw), cv2.GC_PR_BGD, np.uint8)
    if prompt.box is not None:
        bx0, by0, bx1, by1 = roi.box_small(prompt.box)
        gc[:] = cv2.GC_BGD
        if prompt.mask is not None:
            m = roi.crop_mask(prompt.mask)
            gc[by0:by1, bx0:bx1] = np.where(m[by0:by1, bx0:bx1] > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
        else:
            gc[by0:by1, bx0:bx1] = cv2.GC_PR_FGD
        if not (gc != cv2.GC_PR_FGD).any() or not (gc == cv2.GC_BGD).any():
            gc[0, :] = gc[-1, :] = np.where(gc[0, :] == cv2.GC_BGD, cv2.GC_BGD, cv2.GC_PR_BGD)
            gc[:, 0] = gc[:, -1] = np.where(gc[:, 0] == cv2.GC_BGD, cv2.GC_BGD, cv2.GC_PR_BGD)
        return gc
    if prompt.mask is not None:
        gc[roi.crop_mask(prompt.mask) > 0] = cv2.GC_PR_FGD
    x0, y0, x1, y1 = roi.win
    border_bg = [
        (x0 > 0, (slice(None), slice(0, 1))),
        (x1 < roi.w, (slice(None), slice(-1, None))),
        (y0 > 0, (slice(0, 1), slice(None))),
        (y1 < roi.h, (slice(-1, None), slice(None))),
    ]
    for inside, sl in border_bg:
        if inside:
            gc[sl] = cv2.GC_BGD
    return gc


def _keep_clicked(fg: np.ndarray, seeds: list[tuple[int, int]], has_box: bool) -> np.ndarray:
    """Keep the 8-connected components of ``fg`` (uint8) that hold a positive click (``seeds``,
    working pixels); none kept: empty, except with a box, where ``fg`` stays as it is."""
    import cv2

    if not seeds:
        return fg
    _, labels = cv2.connectedComponents(fg, connectivity=8)
    keep = {int(labels[cy, cx]) for cx, cy in seeds} - {0}
    if not has_box or keep:
        return np.isin(labels, list(keep)).astype(np.uint8) if keep else np.zeros_like(fg)
    return fg
