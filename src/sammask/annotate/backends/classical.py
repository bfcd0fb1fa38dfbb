"""Offline classical backend: GrabCut from clicks/boxes/masks, optical flow + a frozen colour
model between frames. No weights.

Prompted frame (:meth:`ClassicalBackend.predict`): OpenCV GrabCut (Rother, Kolmogorov, Blake,
"GrabCut: interactive foreground extraction using iterated graph cuts", SIGGRAPH 2004) on a
region of interest, seeded by

- a mask prompt: taken as given (no cut);
- a box: probable foreground inside, definite background outside (a margin of the box around it);
  the session replaces an implausible result (< 10 % of the box) by the box;
- the object's current mask on the frame (a correction: clicks where the object has a mask):
  probable foreground where it is set and in a disc (``click_radius``) around each positive
  click outside it, probable background elsewhere in the region; the cut changes the mask only
  within ``correction_window`` of the frame's clicks (outside it the mask stays as it was), and
  the frame's last click decides the edit: a positive one only adds pixels, a negative one only
  removes;
- clicks only: probable foreground in a disc around the positive clicks (radius
  ``click_radius`` x the frame's shorter side), probable background in a window of
  ``click_window`` x the shorter side around them, definite background outside it;

and, always, the clicks as **hard labels**: a disc of ``hard_radius`` pixels around each
positive click is definite foreground, around each negative click definite background. The cut
is kept to the connected parts touching a positive click (or the box).

A box alone, or clicks on a frame where the object has no mask, are **told by motion** (``motion``):
DIS optical flow to the next frame (the previous one on the last frame), less the camera's
motion (a homography fitted by RANSAC outside the box), gives the pixels that move otherwise
than the camera (:func:`_independent_motion`). In a box where some but not all pixels move
(10-95 %), the static ones start as probable background instead of probable foreground, so the
colour models are learnt on what moves; a cut that then covers less than the fail-secure
minimum of the box (``MaskingOptions.min_coverage``) is dropped for the colour-only cut. With
clicks only, the moving region holding a positive click is probable foreground, and the
click window's pixels farther than 2.5 % of the frame's shorter side from it are definite
background. In a correction of an object that moves (at least half of its mask), the pixels
outside its mask that move as the camera does are definite background. An object that moves
as the background does (a parked car), and any prompt on a one-frame video, get the
colour-only cut. Measured on all 17 DAVIS sequences in docs/annotate.md.

Propagation (:meth:`ClassicalBackend.propagate`): for each next frame, dense optical flow from
the new frame to the previous one (OpenCV DIS, Kroeger et al., "Fast Optical Flow using Dense
Inverse Search", ECCV 2016, on grayscale; started from the previous step's flow, a
constant-velocity prior) warps the previous mask (backward warping with
``cv2.remap``; an empty warp keeps the previous mask); the warped mask is then re-estimated by
one graph cut with the object's colour models (GrabCut GMMs) learnt on the start frame and
frozen (``GC_EVAL_FREEZE_MODEL``; a prompted frame passed on the way re-learns them), in a band
around its outline (definite foreground inside the mask eroded by ``band``, except where the
flow fails a forward-backward check: there the object may have uncovered background, so only
probable foreground; definite background outside it dilated by ``band_out``), kept to the parts overlapping the warped mask, and used only
when its area stays within ``refine_area`` of the warped mask's (else the warped mask is used).
A **lost object is searched again**: when the mask's area falls below ``reseed`` x the object's
running area (start area, then 0.8 x itself + 0.2 x each frame's area while not lost), one
frozen-model cut runs in a window of twice its last known box size centred on the mask
(probable foreground in 1.2 x that box and on the mask, probable background in the rest of
the window, definite background outside); its parts overlapping the mask are added to the mask
when their area lies within [``reseed``, ``refine_area``] x the running area (else the mask
stays). **Motion bounds the cut** (``motion``): when at least half of an object's warped mask
moves otherwise than the camera (:func:`_independent_motion` on the frame's flow, the camera
fitted outside the warped mask's box), the band's pixels outside the mask that move as the
camera does are definite background, so a moving object's mask does not spread over a static
background of its colours. Measured on all 17 DAVIS sequences in docs/annotate.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from sammask.annotate.backends.base import AnnotateBackend, FrameGetter
from sammask.annotate.types import ObjectPrompt
from sammask.errors import ConfigError, SegmentationError
from sammask.geometry import box_pixel_bounds, mask_bounds
from sammask.masking.options import MaskingOptions
from sammask.masking.rules import box_coverage

if TYPE_CHECKING:
    import cv2

logger = logging.getLogger(__name__)

_MOTION_MAX_SIDE = 480
"""Longer side in pixels of the frames the prompted frame's motion is computed at."""
_MOTION_GRID = 8
"""Step in pixels (at that size) of the flow samples the camera motion is fitted to."""
_MOTION_FIT_PX = 1.0
"""RANSAC inlier threshold of that fit, pixels at that size."""
_MOTION_MIN_PX = 1.0
_MOTION_NOISE = 4.0
"""A pixel moves when its flow differs from the camera's by more than max(``_MOTION_MIN_PX``,
``_MOTION_NOISE`` x the median difference over the background), pixels at full size."""
_MOTION_BOX_FRACTION = (0.1, 0.95)
"""Motion seeds a box only when the moving part of the box is within this fraction of it."""
_MOTION_OBJECT_FRACTION = 0.5
"""In propagation, the static pixels around an object bound its cut only when at least this
fraction of its warped mask moves otherwise than the camera."""
_MOTION_NEAR = 0.025
"""With clicks only, the window's pixels farther than this fraction of the frame's shorter side
from the clicked moving region are definite background."""


def _disc(mask: np.ndarray, points: Iterable[Sequence[float] | np.ndarray], radius: int, value: int) -> None:
    import cv2

    for x, y in points:
        cv2.circle(mask, (int(x), int(y)), max(int(radius), 0), int(value), thickness=-1)


class ClassicalBackend(AnnotateBackend):
    """GrabCut seeded by prompts on the prompted frame, DIS optical flow + GrabCut between frames.

    Args:
        iterations: GrabCut iterations on a prompted frame (>= 1). Default 3.
        refine_iterations: GrabCut iterations refining a warped mask (0 = no refinement).
            Default 1.
        max_side: on a prompted frame, the region of interest is downscaled so that its longer
            side is at most this many pixels before cutting (>= 32). Default 320 (measured:
            docs/annotate.md).
        refine_max_side: the same for the cuts of propagation (refinement, re-seeding), >= 32.
            Default 480 (measured: docs/annotate.md).
        click_radius: with clicks only, the probable-foreground disc radius as a fraction of the
            frame's shorter side, in (0, 1]. Default 0.12.
        hard_radius: radius in pixels (full resolution) of the hard-label disc around each click
            (>= 0). Default 3.
        band: inner width of the refinement band around a warped outline, as a fraction of
            ``sqrt(mask area)``, in [0, 1]. Default 0.08.
        band_out: outer width of that band, same unit, in [0, 1]. Default 0.16 (measured:
            docs/annotate.md).
        context: the background colour model of the start frame is learnt in the mask's box
            grown by this fraction of its size on each side, >= 0. Default 0.5.
        refine_area: a refinement whose area differs from the warped mask's by more than this
            factor (either way) is discarded, > 1. Default 1.5.
        click_window: with clicks only, the half-size of the window around the clicks where
            the object is searched, as a fraction of the frame's shorter side; 0 = the whole
            frame. Default 0.35 (measured: docs/annotate.md).
        flow_preset: DIS preset, ``ultrafast`` | ``fast`` | ``medium``. Default ``medium``.
        seed: OpenCV RNG seed set before each cut (deterministic output). Default 0.
        correction_window: a correction (clicks where the object has a mask) changes the mask
            only within this radius of the frame's clicks, as a fraction of the frame's shorter
            side; elsewhere the mask stays as it was. 0 = no limit. Default 0.12 (measured:
            docs/annotate.md).
        reseed: a propagated mask whose area falls below this fraction of the object's running
            area is searched again around itself (module docstring), in [0, 1); 0 = never.
            Default 0.5 (measured: docs/annotate.md).
        motion: use the object's own motion (module docstring): a box or a first click is
            seeded by what moves otherwise than the camera, and in corrections and propagation
            the pixels around a moving object that move as the camera does are definite
            background.
            Default True (measured: docs/annotate.md).

    Raises:
        ConfigError: if an option is out of range.
    """

    name: ClassVar[str] = "classical"

    def __init__(
        self,
        *,
        iterations: int = 3,
        refine_iterations: int = 1,
        max_side: int = 320,
        refine_max_side: int = 480,
        click_radius: float = 0.12,
        hard_radius: int = 3,
        band: float = 0.08,
        band_out: float = 0.16,
        context: float = 0.5,
        refine_area: float = 1.5,
        click_window: float = 0.35,
        flow_preset: str = "medium",
        seed: int = 0,
        correction_window: float = 0.12,
        reseed: float = 0.5,
        motion: bool = True,
    ) -> None:
        if int(iterations) < 1:
            raise ConfigError(f"classical iterations must be >= 1, got {iterations}")
        if int(refine_iterations) < 0:
            raise ConfigError(f"classical refine_iterations must be >= 0, got {refine_iterations}")
        if int(max_side) < 32:
            raise ConfigError(f"classical max_side must be >= 32 pixels, got {max_side}")
        if int(refine_max_side) < 32:
            raise ConfigError(f"classical refine_max_side must be >= 32 pixels, got {refine_max_side}")
        if not 0 < click_radius <= 1:
            raise ConfigError(f"classical click_radius must be in (0, 1], got {click_radius}")
        if int(hard_radius) < 0:
            raise ConfigError(f"classical hard_radius must be >= 0 pixels, got {hard_radius}")
        if not 0 <= band <= 1:
            raise ConfigError(f"classical band must be in [0, 1], got {band}")
        if not 0 <= band_out <= 1:
            raise ConfigError(f"classical band_out must be in [0, 1], got {band_out}")
        if not context >= 0:
            raise ConfigError(f"classical context must be >= 0, got {context}")
        if not 0 <= click_window <= 1:
            raise ConfigError(f"classical click_window must be in [0, 1], got {click_window}")
        if not refine_area > 1:
            raise ConfigError(f"classical refine_area must be > 1, got {refine_area}")
        if not 0 <= correction_window <= 1:
            raise ConfigError(f"classical correction_window must be in [0, 1], got {correction_window}")
        if not 0 <= reseed < 1:
            raise ConfigError(f"classical reseed must be in [0, 1), got {reseed}")
        presets = {"ultrafast": 0, "fast": 1, "medium": 2}
        if flow_preset not in presets:
            raise ConfigError(f"classical flow_preset must be one of {', '.join(presets)}, got '{flow_preset}'")
        self.iterations = int(iterations)
        self.refine_iterations = int(refine_iterations)
        self.max_side = int(max_side)
        self.refine_max_side = int(refine_max_side)
        self.click_radius = float(click_radius)
        self.hard_radius = int(hard_radius)
        self.band = float(band)
        self.band_out = float(band_out)
        self.click_window = float(click_window)
        self.context = float(context)
        self._last_models: tuple[np.ndarray, np.ndarray] | None = None
        self.refine_area = float(refine_area)
        self.flow_preset = presets[flow_preset]
        self.seed = int(seed)
        self.correction_window = float(correction_window)
        self._flow: cv2.DISOpticalFlow | None = None
        self._forward_flow: cv2.DISOpticalFlow | None = None
        self.reseed = float(reseed)
        self.motion = bool(motion)
        self._prompt_flow: tuple[tuple[int, int], np.ndarray] | None = None

    # -- prompted frame ----------------------------------------------------------------------

    def predict(self, frame_idx: int, obj_id: int, prompt: ObjectPrompt, current: np.ndarray | None) -> np.ndarray:
        """GrabCut from the prompt (see the module docstring).

        Returns:
            (H, W) bool mask; contains every positive click's pixel and no negative click's
            (empty for negative clicks alone on a frame where the object has no mask).

        Raises:
            SegmentationError: if OpenCV's GrabCut fails.
        """
        import cv2

        pos, neg = prompt.positive, prompt.negative
        if prompt.mask is not None and len(pos) + len(neg) == 0:
            return np.array(prompt.mask, bool, copy=True)  # a mask prompt is taken as given
        image = self.get_frame(frame_idx)
        h, w = image.shape[:2]
        has_mask = current is not None and current.any()
        if prompt.box is None and not has_mask and len(pos) == 0:
            return np.zeros((h, w), bool)  # negative clicks only: nothing is the object
        keep_box: tuple[int, int, int, int] | None = None
        if prompt.box is not None:
            keep_box = box_pixel_bounds(prompt.box, (h, w))
            seed, roi = self._box_seed(keep_box, (h, w))
        elif current is not None and has_mask:
            seed, roi = self._correction_seed(prompt, current)
        else:
            seed, roi = self._clicks_seed(pos, (h, w))
        for pt, label in zip(prompt.points, prompt.labels):  # in click order: a later click wins
            _disc(seed, [pt], self.hard_radius, cv2.GC_FGD if label else cv2.GC_BGD)
        fresh = not has_mask or len(prompt.points) == 0  # a box alone, or clicks on a frame without a mask
        if self.motion and not fresh and current is not None:
            flow = self._frame_flow(frame_idx)
            static = None if flow is None else self._static_around(flow, current)
            if static is not None:  # a moving object: what stands still beside it is not the object
                seed[((seed == cv2.GC_PR_BGD) | (seed == cv2.GC_PR_FGD)) & static & ~current] = cv2.GC_BGD
        fg = None
        moved = self._motion_seed(frame_idx, seed, prompt, keep_box) if self.motion and fresh else None
        if moved is not None:
            fg = self._cut(image, moved, roi, self.iterations)
            if fg is not None and prompt.box is not None and box_coverage(fg, prompt.box) < MaskingOptions().min_coverage:
                fg = None  # an implausible cut (the session would replace it by the box): colour alone
        if fg is None:
            fg = self._cut(image, seed, roi, self.iterations)
        if fg is None:
            if prompt.box is not None and fresh:
                fg = seed == cv2.GC_PR_FGD  # the box (less its negative clicks): mask more
            elif current is not None:
                fg = current.copy()
            else:
                raise SegmentationError(f"GrabCut failed on frame {frame_idx} for object {obj_id}")
        fg = _keep_touching(fg, pos, keep_box, current)
        if not fresh and current is not None:
            if self.correction_window > 0:
                # a correction changes the mask near its clicks only: elsewhere the mask stays as it was
                window = np.zeros((h, w), np.uint8)
                _disc(window, prompt.points, round(self.correction_window * min(h, w)), 1)
                fg = np.where(window.astype(bool), fg, current)
            # the frame's last click decides the edit: a positive one only adds, a negative one only removes
            fg = fg | current if prompt.labels[-1] == 1 else fg & current
        # the clicks are hard labels whatever the cut did
        hard = np.full((h, w), 255, np.uint8)
        for pt, label in zip(prompt.points, prompt.labels):  # in click order: a later click wins
            _disc(hard, [pt], self.hard_radius, int(label))
        fg[hard == 1] = True
        fg[hard == 0] = False
        return fg

    def _box_seed(self, box: tuple[int, int, int, int], shape: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """GrabCut labels and region for a box (integer pixel bounds ``x0, y0, x1, y1``): probable
        foreground inside, definite background outside, the region the box grown by 15 % + 8 px."""
        import cv2

        h, w = shape
        x0, y0, x1, y1 = box
        mx, my = math.ceil(0.15 * (x1 - x0)) + 8, math.ceil(0.15 * (y1 - y0)) + 8
        seed = np.full((h, w), cv2.GC_BGD, np.uint8)
        seed[y0:y1, x0:x1] = cv2.GC_PR_FGD
        return seed, (max(x0 - mx, 0), max(y0 - my, 0), min(x1 + mx, w), min(y1 + my, h))

    def _correction_seed(self, prompt: ObjectPrompt, current: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """GrabCut labels and region for clicks on a frame where the object has the (H, W) bool
        mask ``current``: probable foreground on it and around positive clicks outside it,
        probable background in the rest of the region, definite background outside."""
        import cv2

        h, w = current.shape
        pos, neg = prompt.positive, prompt.negative
        b = mask_bounds(current)
        assert b is not None
        radius = round(self.click_radius * min(h, w))
        pts = np.concatenate([pos, neg]) if len(pos) + len(neg) else np.zeros((0, 2))
        xs = [b[0], b[2], *(pts[:, 0] - radius).tolist(), *(pts[:, 0] + radius).tolist()]
        ys = [b[1], b[3], *(pts[:, 1] - radius).tolist(), *(pts[:, 1] + radius).tolist()]
        bx0, bx1, by0, by1 = min(xs), max(xs), min(ys), max(ys)
        mx, my = math.ceil(0.25 * (bx1 - bx0)) + 8, math.ceil(0.25 * (by1 - by0)) + 8
        roi = (max(int(bx0) - mx, 0), max(int(by0) - my, 0), min(int(bx1) + mx, w), min(int(by1) + my, h))
        seed = np.full((h, w), cv2.GC_BGD, np.uint8)
        seed[roi[1] : roi[3], roi[0] : roi[2]] = cv2.GC_PR_BGD
        seed[current] = cv2.GC_PR_FGD
        # a positive click where the mask is not: the object is (also) there
        _disc(seed, [p for p in pos if not current[min(int(p[1]), h - 1), min(int(p[0]), w - 1)]], radius, cv2.GC_PR_FGD)
        return seed, roi

    def _clicks_seed(self, pos: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """GrabCut labels and region for clicks only (``pos``: (N, 2) positive ``(x, y)``, N >= 1):
        probable foreground in a disc around each, probable background in the click window,
        definite background outside it."""
        import cv2

        h, w = shape
        seed = np.full((h, w), cv2.GC_BGD, np.uint8)
        if self.click_window > 0:
            half = round(self.click_window * min(h, w))
            x0, y0 = int(pos[:, 0].min()) - half, int(pos[:, 1].min()) - half
            x1, y1 = int(pos[:, 0].max()) + half, int(pos[:, 1].max()) + half
            roi = (max(x0, 0), max(y0, 0), min(x1, w), min(y1, h))
        else:
            roi = (0, 0, w, h)
        seed[roi[1] : roi[3], roi[0] : roi[2]] = cv2.GC_PR_BGD
        _disc(seed, pos, round(self.click_radius * min(h, w)), cv2.GC_PR_FGD)
        return seed, roi

    def _motion_seed(
        self, frame_idx: int, seed: np.ndarray, prompt: ObjectPrompt, box: tuple[int, int, int, int] | None
    ) -> np.ndarray | None:
        """The GrabCut labels ``seed`` of a box or clicks-only prompt, told by motion (module
        docstring); ``box``: the box prompt's pixel bounds, None for clicks only. None when the
        video has one frame, the camera motion cannot be fitted, or motion says nothing about the
        prompt's object."""
        import cv2

        h, w = seed.shape
        moving = self._moving(frame_idx, box)
        if moving is None:
            return None
        out = seed.copy()
        if box is not None:
            x0, y0, x1, y1 = box
            if not _MOTION_BOX_FRACTION[0] <= float(moving[y0:y1, x0:x1].mean()) <= _MOTION_BOX_FRACTION[1]:
                return None  # all static (or all moving): motion tells nothing apart in the box
            out[(out == cv2.GC_PR_FGD) & ~moving] = cv2.GC_PR_BGD
            return out
        _, labels = cv2.connectedComponents(moving.astype(np.uint8), connectivity=8)
        clicked = {int(labels[min(int(y), h - 1), min(int(x), w - 1)]) for x, y in prompt.positive} - {0}
        if not clicked:
            return None  # the clicked object is static (or moves with the camera)
        part = np.isin(labels, sorted(clicked))
        k = 2 * round(_MOTION_NEAR * min(h, w)) + 1
        far = cv2.dilate(part.astype(np.uint8), np.ones((k, k), np.uint8)) == 0
        window = out == cv2.GC_PR_BGD
        out[window & part] = cv2.GC_PR_FGD
        out[window & far] = cv2.GC_BGD
        return out

    def _moving(self, frame_idx: int, box: tuple[int, int, int, int] | None) -> np.ndarray | None:
        """(H, W) bool: the pixels of ``frame_idx`` that move otherwise than the camera, from DIS
        optical flow to the next frame (the previous one on the last frame); see
        :func:`_independent_motion`. ``box``: pixel bounds kept out of the camera-motion fit.
        None on a one-frame video or when the fit fails."""
        flow = self._frame_flow(frame_idx)
        return None if flow is None else _independent_motion(flow, self.shape, box)

    def _frame_flow(self, frame_idx: int) -> np.ndarray | None:
        """(h, w, 2) float32 DIS flow from ``frame_idx`` to the next frame (the previous one on
        the last frame), on the frames downscaled to ``_MOTION_MAX_SIDE``; cached for the
        frame's other prompts. None on a one-frame video."""
        import cv2

        if self.num_frames < 2:
            return None
        other = frame_idx + 1 if frame_idx + 1 < self.num_frames else frame_idx - 1
        if self._prompt_flow is None or self._prompt_flow[0] != (frame_idx, other):
            h, w = self.shape
            scale = min(1.0, _MOTION_MAX_SIDE / max(h, w))
            grays = [
                cv2.cvtColor(
                    cv2.resize(np.ascontiguousarray(self.get_frame(i)), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA),
                    cv2.COLOR_RGB2GRAY,
                )
                for i in (frame_idx, other)
            ]
            flow = np.asarray(cv2.DISOpticalFlow.create(self.flow_preset).calc(grays[0], grays[1], None))  # type: ignore[call-overload]  # None = let OpenCV allocate the output; its stubs omit None
            self._prompt_flow = ((frame_idx, other), flow)
        return self._prompt_flow[1]

    def _cut(
        self,
        image: np.ndarray,
        seed: np.ndarray,
        roi: tuple[int, int, int, int],
        iterations: int,
        models: tuple[np.ndarray, np.ndarray] | None = None,
        max_side: int | None = None,
    ) -> np.ndarray | None:
        """GrabCut ``image`` in ``roi`` from the full-size ``seed`` label map; (H, W) bool or None.

        With ``models`` (background, foreground GMMs as GrabCut stores them, (1, 65) float64)
        one graph cut runs with those colour models frozen (``GC_EVAL_FREEZE_MODEL``); with
        ``iterations == 0`` the GMMs are only fitted to the seed and returned through
        ``self._last_models`` (the cut is None). ``max_side``: the longer side in pixels the
        region is cut at (default ``self.max_side``)."""
        import cv2

        h, w = image.shape[:2]
        rx0, ry0, rx1, ry1 = roi
        rw, rh = rx1 - rx0, ry1 - ry0
        if rw < 2 or rh < 2:
            return None
        scale = min(1.0, (max_side or self.max_side) / max(rw, rh))
        sw, sh = max(round(rw * scale), 2), max(round(rh * scale), 2)
        crop = np.ascontiguousarray(image[ry0:ry1, rx0:rx1])
        labels = seed[ry0:ry1, rx0:rx1]
        if (sw, sh) != (rw, rh):
            crop = cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
            labels = cv2.resize(labels, (sw, sh), interpolation=cv2.INTER_NEAREST)
        labels = np.ascontiguousarray(labels)
        fgs = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
        bgs = (labels == cv2.GC_BGD) | (labels == cv2.GC_PR_BGD)
        if not fgs.any() or not bgs.any():
            return None
        if models is not None:
            bgd, fgd = models[0].copy(), models[1].copy()
            mode = cv2.GC_EVAL_FREEZE_MODEL
        else:
            bgd = np.zeros((1, 65), np.float64)
            fgd = np.zeros((1, 65), np.float64)
            mode = cv2.GC_INIT_WITH_MASK
        try:
            cv2.setRNGSeed(self.seed)
            cv2.grabCut(crop, labels, (0, 0, 0, 0), bgd, fgd, max(iterations, 0) if models is None else 1, mode)  # rect unused with a mask
        except cv2.error as exc:
            logger.debug("grabcut failed: %s", exc)
            return None
        self._last_models = (bgd, fgd)
        if iterations == 0:
            return None
        small = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8) * 255
        if (sw, sh) != (rw, rh):
            small = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_LINEAR)
        out = np.zeros((h, w), bool)
        out[ry0:ry1, rx0:rx1] = small >= 128
        return out

    # -- propagation -------------------------------------------------------------------------

    def propagate(
        self,
        start: int,
        frame_indices: Iterable[int],
        start_masks: Mapping[int, np.ndarray],
        anchors: Callable[[int], dict[int, np.ndarray]],
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """Warp each mask frame to frame by DIS optical flow, refined by GrabCut (module docstring).

        Yields:
            ``(frame_idx, {obj_id: (H, W) bool})``; an object that left the frame gets an empty
            mask and stays empty.
        """
        import cv2

        prev_gray = cv2.cvtColor(np.ascontiguousarray(self.get_frame(start)), cv2.COLOR_RGB2GRAY)
        masks = {o: np.asarray(m, bool) for o, m in start_masks.items()}
        start_image = self.get_frame(start)
        models = {o: self._learn(start_image, m) for o, m in masks.items()}
        ref = {o: float(np.count_nonzero(m)) for o, m in masks.items()}
        size = {o: _box_size(m) for o, m in masks.items()}
        flow: np.ndarray | None = None
        for idx in frame_indices:
            image = self.get_frame(idx)
            gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
            flow = self._flow_between(gray, prev_gray, flow) if any(m.any() for m in masks.values()) else None
            sources: tuple[np.ndarray, np.ndarray] | None = None
            unsure: np.ndarray | None = None
            if flow is not None:
                sources = _source_maps(flow)
                unsure = self._inconsistent(gray, prev_gray, flow, sources)
            out: dict[int, np.ndarray] = {}
            for obj_id, prev in masks.items():
                if sources is None or not prev.any():
                    out[obj_id] = np.zeros_like(prev)
                    continue
                warped = _warp(prev, sources)
                if not warped.any():  # the flow moved it all out: keep the last mask rather than lose it
                    warped = prev.copy()
                if self.refine_iterations:
                    static = self._static_around(flow, warped) if self.motion and flow is not None else None
                    out[obj_id] = self._refine(image, warped, models.get(obj_id), unsure, static)
                else:
                    out[obj_id] = warped
                got = float(np.count_nonzero(out[obj_id]))
                model = models.get(obj_id)
                if self.reseed and model is not None and got < self.reseed * ref[obj_id]:
                    found = self._reseed(image, out[obj_id], size[obj_id], ref[obj_id], model)
                    if found is not None:
                        out[obj_id] = found
                        got = float(np.count_nonzero(found))
                if got >= self.reseed * ref[obj_id]:
                    ref[obj_id] = 0.8 * ref[obj_id] + 0.2 * got
                    size[obj_id] = _box_size(out[obj_id]) if got else size[obj_id]
            for obj_id, anchor in anchors(idx).items():
                if obj_id in out:
                    out[obj_id] = anchor
                    models[obj_id] = self._learn(image, anchor)
                    ref[obj_id] = float(np.count_nonzero(anchor))
                    size[obj_id] = _box_size(anchor)
            masks, prev_gray = out, gray
            yield idx, {o: m.copy() for o, m in out.items()}

    def _learn(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Colour GMMs (background, foreground) of an object on a frame where its mask is known:
        foreground = the mask, background = the rest of its box grown by ``context`` x its size."""
        import cv2

        b = mask_bounds(mask)
        if b is None or np.count_nonzero(mask) < 16:
            return None
        h, w = mask.shape
        x0, y0, x1, y1 = b
        mx, my = math.ceil(self.context * (x1 - x0)) + 8, math.ceil(self.context * (y1 - y0)) + 8
        roi = (max(x0 - mx, 0), max(y0 - my, 0), min(x1 + mx, w), min(y1 + my, h))
        seed = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
        seed[mask] = cv2.GC_PR_FGD
        self._last_models = None
        self._cut(image, seed, roi, 0)
        return self._last_models

    def _flow_between(self, gray: np.ndarray, prev_gray: np.ndarray, initial: np.ndarray | None = None) -> np.ndarray:
        """(H, W, 2) float32 flow from ``gray`` (new frame) to ``prev_gray``: where each pixel came
        from. ``initial``: the previous step's flow, (H, W, 2) float32, DIS's starting point
        (OpenCV's DIS refines a flow passed in of the frame's size): a constant-velocity prior,
        so that a fast motion its coarsest scale misses is found while it continues."""
        import cv2

        if self._flow is None:
            self._flow = cv2.DISOpticalFlow.create(self.flow_preset)
        start = initial.copy() if initial is not None and initial.shape[:2] == gray.shape else None
        return np.asarray(self._flow.calc(gray, prev_gray, start))  # type: ignore[arg-type]  # None = let OpenCV allocate the output; its stubs omit None

    def _inconsistent(
        self, gray: np.ndarray, prev_gray: np.ndarray, flow: np.ndarray, sources: tuple[np.ndarray, np.ndarray]
    ) -> np.ndarray:
        """(H, W) bool: pixels of the new frame whose flow fails the forward-backward check
        (in the manner of Sundaram, Brox and Keutzer, "Dense point trajectories by GPU-accelerated
        large displacement optical flow", ECCV 2010): the forward flow (``prev_gray`` -> ``gray``)
        at the point ``flow`` (new -> previous, (H, W, 2) float32) leads to does not bring it back
        within max(1 px, 0.1 x the flow's length). Such pixels are disoccluded (the background an
        object uncovers as it moves) or badly matched: a warped mask is not sure there.
        ``sources``: :func:`_source_maps` of ``flow``."""
        import cv2

        if self._forward_flow is None:  # its own DIS object: the two directions do not share its buffers
            self._forward_flow = cv2.DISOpticalFlow.create(self.flow_preset)
        forward = np.asarray(self._forward_flow.calc(prev_gray, gray, None))  # type: ignore[call-overload]  # None = let OpenCV allocate the output; its stubs omit None
        back = cv2.remap(forward, *sources, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = np.linalg.norm(flow + back, axis=2)
        return np.asarray(err > np.maximum(1.0, 0.1 * np.linalg.norm(flow, axis=2)))

    def _refine(
        self,
        image: np.ndarray,
        warped: np.ndarray,
        models: tuple[np.ndarray, np.ndarray] | None = None,
        unsure: np.ndarray | None = None,
        static: np.ndarray | None = None,
    ) -> np.ndarray:
        """Re-estimate a warped (H, W) bool mask by a graph cut in a band around its outline
        (module docstring); ``unsure``: (H, W) bool pixels where the flow failed its
        forward-backward check, only probable (not definite) foreground inside the band;
        ``static``: (H, W) bool pixels that move as the camera does, definite background in the
        band outside the mask (:meth:`_static_around`)."""
        import cv2

        area = int(np.count_nonzero(warped))
        if area < 16:
            return warped
        h, w = warped.shape
        r_in = max(2, round(self.band * math.sqrt(area)))
        r_out = max(2, round(self.band_out * math.sqrt(area)))
        m8 = warped.astype(np.uint8)
        inner = cv2.erode(m8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r_in + 1, 2 * r_in + 1))).astype(bool)
        outer = cv2.dilate(m8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r_out + 1, 2 * r_out + 1))).astype(bool)
        seed = np.full((h, w), cv2.GC_BGD, np.uint8)
        seed[outer] = cv2.GC_PR_BGD
        seed[warped] = cv2.GC_PR_FGD
        seed[inner if unsure is None else inner & ~unsure] = cv2.GC_FGD
        if static is not None:
            seed[(seed == cv2.GC_PR_BGD) & static] = cv2.GC_BGD
        b = mask_bounds(outer)
        assert b is not None
        x0, y0, x1, y1 = b
        m = 2 * r_out
        roi = (max(x0 - m, 0), max(y0 - m, 0), min(x1 + m, w), min(y1 + m, h))
        refined = self._cut(image, seed, roi, self.refine_iterations, models, self.refine_max_side)
        if refined is None:
            return warped
        refined = _keep_touching(refined, np.zeros((0, 2)), None, warped)
        got = int(np.count_nonzero(refined))
        if not area / self.refine_area <= got <= area * self.refine_area:
            return warped
        return refined

    def _static_around(self, flow: np.ndarray, warped: np.ndarray) -> np.ndarray | None:
        """(H, W) bool pixels that move as the camera does: the complement of
        :func:`_independent_motion` of the frame's (h, w, 2) float32 ``flow`` (at any scale), the camera fitted
        outside the (H, W) bool ``warped`` mask's box; only when at least
        ``_MOTION_OBJECT_FRACTION`` of ``warped`` moves otherwise, else None (an object that
        stands still, or a failed fit, says nothing)."""
        bounds = mask_bounds(warped)
        if bounds is None:
            return None
        moving = _independent_motion(flow, warped.shape, bounds)
        if moving is None or float(moving[warped].mean()) < _MOTION_OBJECT_FRACTION:
            return None
        return ~moving

    def _reseed(
        self,
        image: np.ndarray,
        current: np.ndarray,
        size: tuple[float, float],
        ref_area: float,
        models: tuple[np.ndarray, np.ndarray],
    ) -> np.ndarray | None:
        """Search a lost object again around ``current`` (module docstring): a frozen-model cut in
        a window of twice the object's last known box ``size`` centred on ``current``; returns the
        found parts overlapping ``current`` joined with it, or None when their area is outside
        [reseed, refine_area] x ``ref_area`` or the cut fails. ``size``: (width, height) pixels of
        the object's last known box; ``models``: its frozen (background, foreground) GMMs."""
        import cv2

        h, w = current.shape
        b = mask_bounds(current)
        if b is None:
            return None
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        bw, bh = size
        seed = np.full((h, w), cv2.GC_BGD, np.uint8)
        wx0, wy0 = max(int(cx - bw), 0), max(int(cy - bh), 0)
        wx1, wy1 = min(int(math.ceil(cx + bw)), w), min(int(math.ceil(cy + bh)), h)
        seed[wy0:wy1, wx0:wx1] = cv2.GC_PR_BGD
        fx0, fy0 = max(int(cx - 0.6 * bw), 0), max(int(cy - 0.6 * bh), 0)
        fx1, fy1 = min(int(math.ceil(cx + 0.6 * bw)), w), min(int(math.ceil(cy + 0.6 * bh)), h)
        seed[fy0:fy1, fx0:fx1] = cv2.GC_PR_FGD
        seed[current] = cv2.GC_PR_FGD
        m = 8
        roi = (max(wx0 - m, 0), max(wy0 - m, 0), min(wx1 + m, w), min(wy1 + m, h))
        found = self._cut(image, seed, roi, 1, models, self.refine_max_side)
        if found is None:
            return None
        found = _keep_touching(found, np.zeros((0, 2)), None, current)
        got = float(np.count_nonzero(found))
        if not self.reseed * ref_area <= got <= self.refine_area * ref_area:
            return None
        return found | current

    def bind(self, frames: FrameGetter, num_frames: int, shape: tuple[int, int]) -> None:
        """Attach to a video (:meth:`AnnotateBackend.bind`), dropping the last video's flows."""
        super().bind(frames, num_frames, shape)
        self.reset()

    def reset(self) -> None:
        """Nothing to drop but the flow objects (recreated on demand) and the prompted frame's flow."""
        self._flow = self._forward_flow = None
        self._prompt_flow = None


def _box_size(mask: np.ndarray) -> tuple[float, float]:
    """(width, height) in pixels of a mask's bounding box, (0, 0) when empty."""
    b = mask_bounds(mask)
    return (0.0, 0.0) if b is None else (float(b[2] - b[0]), float(b[3] - b[1]))


def _independent_motion(flow: np.ndarray, shape: tuple[int, int], box: tuple[int, int, int, int] | None) -> np.ndarray | None:
    """(H, W) bool pixels that move otherwise than the camera.

    The camera's motion is a homography fitted by RANSAC (OpenCV ``findHomography``; the
    dominant-motion model of motion segmentation, e.g. Irani and Anandan, "A unified approach
    to moving object detection in 2D and 3D scenes", TPAMI 1998) to the flow sampled every
    ``_MOTION_GRID`` pixels outside ``box``; a pixel moves when its flow differs from that
    homography's by more than max(``_MOTION_MIN_PX``, ``_MOTION_NOISE`` x the median difference
    outside ``box``). DIS smooths the flow across outlines, so the moving region is a little
    wider than the object: it seeds GrabCut's labels, it is not a mask.

    Args:
        flow: (h, w, 2) float32 flow between two frames (either direction), in pixels of the
            frame downscaled from (H, W) to (h, w) (or of the full-size frame: h, w = H, W).
        shape: ``(H, W)`` of the full-size frame in pixels.
        box: ``(x0, y0, x1, y1)`` integer pixel bounds at full size kept out of the fit, or None.

    Returns:
        (H, W) bool, or None when fewer than 8 samples lie outside ``box`` or RANSAC fails.
    """
    import cv2

    h, w = shape
    sh, sw = flow.shape[:2]
    scale = sw / w
    ys, xs = np.mgrid[_MOTION_GRID // 2 : sh : _MOTION_GRID, _MOTION_GRID // 2 : sw : _MOTION_GRID]
    outside = np.ones((h, w), bool)
    if box is not None:
        outside[box[1] : box[3], box[0] : box[2]] = False
    keep = outside[np.minimum((ys / scale).astype(int), h - 1), np.minimum((xs / scale).astype(int), w - 1)]
    if np.count_nonzero(keep) < 8:
        return None
    src = np.stack([xs[keep], ys[keep]], -1).astype(np.float32)
    homography, _ = cv2.findHomography(src, src + flow[ys[keep], xs[keep]], cv2.RANSAC, _MOTION_FIT_PX)
    if homography is None:
        return None
    grid = np.stack(np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh, dtype=np.float32)), -1)
    camera = cv2.perspectiveTransform(grid.reshape(-1, 1, 2), homography).reshape(sh, sw, 2) - grid
    residual = cv2.resize(np.linalg.norm(flow - camera, axis=-1) / scale, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.asarray(residual > max(_MOTION_MIN_PX, _MOTION_NOISE * float(np.median(residual[outside]))))


def _source_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps of an (H, W, 2) flow (new pixel -> old position): (H, W) float32 x and y
    of where each pixel of the new frame came from. Built once per frame, for every object's warp
    and the forward-backward check."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return gx + flow[..., 0], gy + flow[..., 1]


def _warp(mask: np.ndarray, sources: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Backward-warp an (H, W) bool mask with :func:`_source_maps` of a flow."""
    import cv2

    out = cv2.remap(mask.astype(np.float32), *sources, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out >= 0.5


def _keep_touching(
    fg: np.ndarray, positive: np.ndarray, box: tuple[int, int, int, int] | None, prior: np.ndarray | None = None
) -> np.ndarray:
    """Keep the connected components of ``fg`` that hold a positive click or overlap the
    ``prior`` mask (a correction keeps the object it corrects); without either, every component
    with a box, else the largest one."""
    import cv2

    n, labels = cv2.connectedComponents(fg.astype(np.uint8), connectivity=8)
    if n <= 2:
        return fg
    h, w = fg.shape
    keep: set[int] = set()
    for x, y in positive:
        c, r = min(max(int(x), 0), w - 1), min(max(int(y), 0), h - 1)
        if labels[r, c] > 0:
            keep.add(int(labels[r, c]))
    if prior is not None:
        keep.update(int(v) for v in np.unique(labels[prior & fg]) if v > 0)
    if not keep:
        counts = np.bincount(labels.ravel(), minlength=n)
        counts[0] = 0
        if box is not None:
            # every component inside the box counts: a person may be cut in parts by an occluder
            return fg
        keep.add(int(counts.argmax()))
    return np.isin(labels, sorted(keep))
