"""The annotation session: prompts on any frame, masks, propagation, corrections, undo.

Usage::

    from sammask.annotate import Session

    with Session.open("clip.mp4", backend="classical") as s:
        s.add_points(0, obj_id=1, points=[[320, 240]], labels=[1])  # mask on frame 0
        for frame_idx, masks in s.propagate("both"):  # streams every frame
            ...  # masks: {1: (H, W) bool}
        s.add_points(40, obj_id=1, points=[[300, 200]], labels=[0])  # correction on frame 40
        list(s.propagate("forward"))  # frames 41.. only
        s.export("out/", "coco")

Semantics (those of SAM 2's video predictor): clicks accumulate per object and frame, a box
replaces the frame's box; each prompt updates the object's mask on that frame at once.
:meth:`Session.propagate` carries the masks of the start frame (default: the last prompted
frame) forward, backward or both; frames the propagation passes that have prompts of their own
keep their prompted mask and propagation continues from it. A correction on frame k followed by
``propagate("forward")`` therefore changes frames k.. only.

Memory: frames are decoded lazily (:class:`~sammask.media.frames.FrameSource`, bounded LRU
cache); masks are stored as COCO RLE (a few KB per object and frame); the undo journal stores
the RLE of the masks each step replaced.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sammask.annotate.backends.base import AnnotateBackend
from sammask.media.frames import DEFAULT_CACHE_BYTES, FrameSource
from sammask.annotate.types import Direction, ObjectPrompt, ProgressCallback
from sammask.errors import ConfigError
from sammask.export.rle import mask_to_rle, rle_to_mask
from sammask.geometry import BBox, as_bbox

if TYPE_CHECKING:
    from sammask.export import MaskSource
    from sammask.media.identity import VideoIdentity

logger = logging.getLogger(__name__)

BACKENDS = {
    "classical": "sammask.annotate.backends.classical:ClassicalBackend",
    "sam2": "sammask.annotate.backends.sam2:Sam2Backend",
}
"""Backend name -> class (imported lazily)."""

_Key = tuple[int, int]  # (frame_idx, obj_id)


def monotone(new: np.ndarray, before: np.ndarray, points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Make a click's edit monotone, whatever the backend returned.

    - Negative clicks only: the result is ``new & before`` (a negative click never adds pixels).
    - Positive clicks only: every connected component (8-connected) of ``before`` that holds a
      clicked pixel is kept whole (a positive click never removes pixels of the component it
      clicked); ``new`` may add pixels anywhere.
    - Mixed positive and negative clicks in one call: ``new`` unchanged.

    Args:
        new: (H, W) bool, the backend's mask after the click.
        before: (H, W) bool, the object's mask on the frame before the click.
        points: (N, 2) float ``(x, y)`` pixels of the click(s) just added.
        labels: (N,) 1 positive / 0 negative.

    Returns:
        (H, W) bool, a new array.
    """
    import cv2

    out = np.array(new, bool, copy=True)
    before = np.asarray(before, bool)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) and (labels == 0).all():
        return out & before
    if len(labels) and (labels == 1).all() and before.any():
        h, w = before.shape
        _, comp = cv2.connectedComponents(before.astype(np.uint8), connectivity=8)
        for x, y in np.asarray(points, np.float64).reshape(-1, 2):
            c, r = min(max(int(x), 0), w - 1), min(max(int(y), 0), h - 1)
            if comp[r, c] > 0:
                out |= comp == comp[r, c]
    return out


def build_backend(name: str, **options: Any) -> AnnotateBackend:
    """Build the annotation backend registered as ``name``.

    Raises:
        ConfigError: if ``name`` is unknown.
        ModelLoadError / WeightsNotFoundError: for ``sam2`` without usable weights.
    """
    import importlib

    try:
        target = BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown annotation backend '{name}': choose one of {', '.join(BACKENDS)}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(**options)


def prompt_segments(frames: Sequence[int], num_frames: int, direction: Direction) -> list[tuple[int, range]]:
    """The propagation runs of one object prompted on ``frames`` (see
    :meth:`Session.propagate_prompts`): ``[(start frame, frames to visit in order), ...]``."""
    fs = sorted({int(f) for f in frames})
    out: list[tuple[int, range]] = []
    if direction is Direction.FORWARD:
        for i, f in enumerate(fs):
            stop = fs[i + 1] if i + 1 < len(fs) else num_frames
            out.append((f, range(f + 1, stop)))
    elif direction is Direction.BACKWARD:
        for i, f in enumerate(fs):
            stop = fs[i - 1] if i > 0 else -1
            out.append((f, range(f - 1, stop, -1)))
    else:
        out.append((fs[0], range(fs[0] - 1, -1, -1)))
        for a, b in itertools.pairwise(fs):
            mid = (a + b) // 2
            out.append((a, range(a + 1, mid + 1)))
            out.append((b, range(b - 1, mid, -1)))
        out.append((fs[-1], range(fs[-1] + 1, num_frames)))
    return [(f, r) for f, r in out if len(r)]


@dataclass(slots=True)
class _Edit:
    """One undoable step of one object: what it replaced (None = absent before)."""

    label: str
    obj_id: int
    prompts: dict[_Key, ObjectPrompt | None] = field(default_factory=dict)
    masks: dict[_Key, dict[str, Any] | None] = field(default_factory=dict)


class Session:
    """An interactive annotation of one video (see the module docstring).

    Build with :meth:`open`. Thread use: one thread edits; :meth:`cancel` may be called from
    another thread to stop a running :meth:`propagate`.

    Attributes:
        frames: the lazy :class:`~sammask.media.frames.FrameSource`.
        backend: the :class:`~sammask.annotate.backends.base.AnnotateBackend`.
        num_frames: frames in the video.
        shape: ``(H, W)`` in pixels.

    Examples:
        Box-prompt an object on frame 0 with the classical backend (GrabCut, no weights) and
        propagate it through a 3-frame clip built here:

        >>> import tempfile, av, numpy as np
        >>> clip = f"{tempfile.mkdtemp()}/in.mp4"
        >>> image = np.full((48, 64, 3), 230, np.uint8)
        >>> image[12:36, 16:40] = 30  # a dark 24x24 object on a bright background
        >>> with av.open(clip, "w") as c:  # three 64x48 frames, H.264
        ...     s = c.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        ...     s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        ...     for _ in range(3):
        ...         c.mux(s.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        ...     c.mux(s.encode())
        >>> from sammask import Session
        >>> session = Session.open(clip)
        >>> mask = session.add_box(0, 1, (14.0, 10.0, 42.0, 38.0))
        >>> mask.shape, bool(mask[24, 28]), bool(mask[2, 2])
        ((48, 64), True, False)
        >>> [frame_idx for frame_idx, _ in session.propagate()]
        [0, 1, 2]
        >>> sorted(session.mask(2))  # object ids with a mask on the last frame
        [1]
        >>> session.close()
    """

    def __init__(self, frames: FrameSource, backend: AnnotateBackend) -> None:
        self.frames = frames
        self.backend = backend
        self.num_frames = frames.num_frames
        self.shape = frames.shape
        backend.bind(frames.frame, frames.num_frames, frames.shape)
        self._prompts: dict[_Key, ObjectPrompt] = {}
        self._masks: dict[int, dict[int, dict[str, Any]]] = {}
        self._journal: list[_Edit] = []
        self._last_prompt_frame: int | None = None
        self._cancel = threading.Event()
        self._backend_stale = False

    @classmethod
    def open(
        cls,
        video: str | Path,
        backend: str | AnnotateBackend = "classical",
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        **backend_options: Any,
    ) -> Session:
        """Open ``video`` for annotation.

        Args:
            video: a video file (any container / codec FFmpeg decodes).
            backend: ``"classical"`` (GrabCut + optical flow, no weights), ``"sam2"`` (SAM 2
                video predictor; options as :class:`~sammask.annotate.backends.sam2.Sam2Backend`)
                or a backend instance.
            cache_bytes: decoded-frame cache budget in bytes.
            **backend_options: passed to the backend class when ``backend`` is a name.

        Raises:
            InputFileError: if the video is missing.
            MediaError: if it cannot be decoded.
            ConfigError: unknown backend or bad options.
            ModelLoadError / WeightsNotFoundError: SAM 2 without usable weights.
        """
        be = build_backend(backend, **backend_options) if isinstance(backend, str) else backend
        frames = FrameSource(video, cache_bytes=cache_bytes)
        try:
            return cls(frames, be)
        except BaseException:
            frames.close()
            raise

    # -- prompts -----------------------------------------------------------------------------

    def add_points(
        self,
        frame_idx: int,
        obj_id: int,
        points: Sequence[Sequence[float]] | np.ndarray,
        labels: Sequence[int] | np.ndarray,
    ) -> np.ndarray:
        """Add clicks for ``obj_id`` on ``frame_idx`` and return its new mask there.

        Args:
            frame_idx: 0-based frame index.
            obj_id: object id (>= 0); a new id creates the object.
            points: (N, 2) ``(x, y)`` pixel coordinates, N >= 1.
            labels: (N,) 1 = positive, 0 = negative.

        Edits are monotone (:func:`monotone`): on a frame where the object already has a mask, a
        negative click never adds pixels and a positive click never removes pixels of the
        connected part of the mask it clicked.

        Returns:
            (H, W) bool mask of the object on ``frame_idx``.

        Raises:
            ConfigError: bad frame index, object id, points or labels.
            SegmentationError: if the backend fails.
        """
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        lab = np.asarray(labels, np.int64).reshape(-1)
        if len(pts) == 0:
            raise ConfigError("add_points needs at least one point")
        self._check_points(pts)
        key = self._key(frame_idx, obj_id)
        old = self._prompts.get(key)
        prompt = old.with_points(pts, lab) if old is not None else ObjectPrompt(pts, lab)
        return self._apply_prompt(key, prompt, f"points on frame {frame_idx} for object {obj_id}", (pts, lab))

    def add_box(self, frame_idx: int, obj_id: int, box: BBox | Sequence[float]) -> np.ndarray:
        """Set the box of ``obj_id`` on ``frame_idx`` (replacing an earlier box there).

        Never an empty or implausible mask: when the backend's mask for a box (with no clicks
        on the frame) covers less than ``MaskingOptions.min_coverage`` (10 %) of the box, the box
        itself is the mask (:func:`sammask.masking.rules.secure_mask`, redaction's fail-secure
        rule). Clicks added on the frame afterwards refine it as usual (they are hard labels).

        Args:
            frame_idx: 0-based frame index.
            obj_id: object id (>= 0).
            box: ``(x1, y1, x2, y2)`` float pixels.

        Returns:
            (H, W) bool mask of the object on ``frame_idx``.

        Raises:
            ConfigError: bad frame index, object id or box.
            SegmentationError: if the backend fails.
        """
        key = self._key(frame_idx, obj_id)
        values = [float(v) for v in box]
        if len(values) != 4:
            raise ConfigError(f"box must be (x1, y1, x2, y2) pixels, got {len(values)} numbers")
        bbox = as_bbox(values)
        old = self._prompts.get(key)
        prompt = old.with_box(bbox) if old is not None else ObjectPrompt(box=bbox)
        x1, y1, x2, y2 = bbox
        h, w = self.shape
        if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
            raise ConfigError(f"box {bbox} lies outside the {w}x{h} frame")
        return self._apply_prompt(key, prompt, f"box on frame {frame_idx} for object {obj_id}")

    def add_mask(self, frame_idx: int, obj_id: int, mask: np.ndarray) -> np.ndarray:
        """Give the mask of ``obj_id`` on ``frame_idx`` (SAM 2's ``add_new_mask``).

        The mask replaces the object's points and box on that frame and becomes a prompt:
        propagation starts from it and keeps it; later clicks on the frame refine it. Used by the
        UI's brush and eraser and to import a COCO / PNG mask for a frame.

        Args:
            frame_idx: 0-based frame index.
            obj_id: object id (>= 0).
            mask: (H, W) bool (or 0/1) mask at the video's size; may be empty (the object is not
                on this frame).

        Returns:
            (H, W) bool mask of the object on ``frame_idx`` (the given mask for the classical
            backend; SAM 2's reading of it for ``sam2``).

        Raises:
            ConfigError: bad frame index, object id, or a mask of another shape.
            SegmentationError: if the backend fails.
        """
        m = np.asarray(mask)
        if m.shape != self.shape:
            raise ConfigError(f"mask has shape {m.shape}, expected the video's (H, W) = {self.shape}")
        key = self._key(frame_idx, obj_id)
        return self._apply_prompt(key, ObjectPrompt(mask=m.astype(bool)), f"mask on frame {frame_idx} for object {obj_id}")

    def import_masks(self, path: str | Path, frame_idx: int | None = None) -> dict[int, list[int]]:
        """Add the masks an export holds as mask prompts (:meth:`add_mask`), keeping their object
        ids: those of ``frame_idx``, or with ``frame_idx=None`` those of every frame the export
        holds (each imported frame becomes a prompted frame of its objects; one undo step per
        object and frame).

        The whole export is read and checked (size, frame range) before the first mask is added,
        so a bad file imports nothing.

        Args:
            path: COCO ``.json``, MOTS ``.txt``, a folder of PNG id maps or a ``--save-masks``
                folder (:func:`sammask.export.read_masks`).
            frame_idx: the frame to import, or None for every frame.

        Returns:
            ``{frame_idx: [obj_id, ...]}`` of the imported masks, frames and ids sorted.

        Raises:
            InputFileError / ExportError / EvalError: unreadable export.
            ConfigError: another frame size, a frame beyond the video, or no mask on
                ``frame_idx`` (on any frame, with None) in the export.
        """
        from sammask.export import read_masks

        if frame_idx is not None:
            frame_idx = self._check_frame(frame_idx)
        src = read_masks(Path(path))
        name = Path(path).name
        if (src.height, src.width) != self.shape:
            raise ConfigError(f"{name} holds {src.width}x{src.height} masks; the video is {self.shape[1]}x{self.shape[0]}")
        found: dict[int, dict[int, dict[str, Any]]] = {}  # frame -> obj -> RLE: checked before adding
        for mf in src.read():
            if frame_idx is not None and mf.frame_idx != frame_idx:
                if mf.frame_idx > frame_idx:
                    break
                continue
            if not mf.masks:
                continue
            if not 0 <= mf.frame_idx < self.num_frames:
                raise ConfigError(f"{name} has masks on frame {mf.frame_idx}; the video has frames 0..{self.num_frames - 1}")
            found[mf.frame_idx] = {int(o): mask_to_rle(np.asarray(m, bool)) for o, m in mf.masks.items()}
        if not found:
            where = "on any frame" if frame_idx is None else f"on frame {frame_idx}"
            raise ConfigError(f"{name} has no masks {where}")
        for f, masks in sorted(found.items()):
            for o in sorted(masks):
                self.add_mask(f, o, rle_to_mask(masks[o]))
        return {f: sorted(masks) for f, masks in sorted(found.items())}

    def _apply_prompt(
        self, key: _Key, prompt: ObjectPrompt, label: str, new_points: tuple[np.ndarray, np.ndarray] | None = None
    ) -> np.ndarray:
        self._sync_backend()
        frame_idx, obj_id = key
        current = self._get(frame_idx, obj_id)
        mask = np.asarray(self.backend.predict(frame_idx, obj_id, prompt, current), bool)
        if prompt.box is not None and len(prompt.points) == 0:
            # fail-secure, as redaction's: an empty or implausible mask for a box is the box (with
            # clicks on the frame too, the clicks are the user's word and decide)
            from sammask.masking.options import MaskingOptions
            from sammask.masking.rules import secure_mask

            mask, reason = secure_mask(mask, prompt.box, self.shape, MaskingOptions().min_coverage)
            if reason is not None:
                logger.info("object %d on frame %d: %s mask for its box, using the box", obj_id, frame_idx, reason.value)
        if new_points is not None and current is not None:
            mask = monotone(mask, current, *new_points)
        edit = _Edit(label, obj_id)
        edit.prompts[key] = self._prompts.get(key)
        self._journal.append(edit)
        self._prompts[key] = prompt
        self._put(frame_idx, obj_id, mask)
        self._last_prompt_frame = frame_idx
        return mask

    # -- propagation -------------------------------------------------------------------------

    def propagate(
        self,
        direction: Direction | str = Direction.BOTH,
        start: int | None = None,
        max_frames: int | None = None,
        *,
        obj_ids: Iterable[int] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """Propagate the masks on ``start`` through the video, streaming the results.

        Args:
            direction: ``"forward"``, ``"backward"`` or ``"both"`` (forward first).
            start: the frame to propagate from; None = the last prompted frame.
            max_frames: at most this many frames per direction after ``start`` (None = to the
                end / start of the video).
            obj_ids: the objects to propagate (default: every object with a mask on ``start``).
            progress: called as ``progress(done, total)`` after each frame.

        Yields:
            ``(frame_idx, {obj_id: (H, W) bool mask})``: first ``start`` itself, then each
            propagated frame in processing order. The results are stored as they are yielded;
            stopping the iteration (or :meth:`cancel`) leaves the frames done so far.

        Raises:
            ConfigError: no start frame (nothing prompted yet), a bad index or ``max_frames``.
            SegmentationError: if the backend fails (frames done so far stay stored).
        """
        direction = Direction(direction)
        if start is None:
            if self._last_prompt_frame is None:
                raise ConfigError("nothing to propagate: add points or a box first")
            start = self._last_prompt_frame
        start = self._check_frame(start)
        if max_frames is not None and int(max_frames) < 0:
            raise ConfigError(f"max_frames must be >= 0, got {max_frames}")
        stored = self._masks.get(start, {})
        ids = sorted(stored) if obj_ids is None else sorted({int(o) for o in obj_ids})
        start_masks = {o: m for o in ids if (m := self._get(start, o)) is not None}
        return self._propagate(direction, start, max_frames, start_masks, progress)

    def _propagate(
        self,
        direction: Direction,
        start: int,
        max_frames: int | None,
        start_masks: dict[int, np.ndarray],
        progress: ProgressCallback | None,
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        self._cancel.clear()
        limit = self.num_frames if max_frames is None else int(max_frames)
        plans: list[range] = []
        if direction in (Direction.FORWARD, Direction.BOTH):
            plans.append(range(start + 1, min(self.num_frames - 1, start + limit) + 1))
        if direction in (Direction.BACKWARD, Direction.BOTH):
            plans.append(range(start - 1, max(0, start - limit) - 1, -1))
        total = sum(len(p) for p in plans)
        done = 0
        yield start, dict(start_masks)
        if not start_masks:
            return
        for plan in plans:
            for idx, masks in self._run(start, plan, start_masks):
                done += 1
                if progress is not None:
                    progress(done, total)
                yield idx, masks
            if self._cancel.is_set():
                logger.info("propagation cancelled after %d of %d frames", done, total)
                return

    def _run(self, start: int, plan: range, start_masks: dict[int, np.ndarray]) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """Run the backend over ``plan`` from ``start``; store (not over prompted frames) and yield."""
        if not plan:
            return
        self._sync_backend()
        for idx, masks in self.backend.propagate(start, self._cancellable(plan), start_masks, self._prompted_masks):
            for obj_id, mask in masks.items():
                if (idx, obj_id) in self._prompts:
                    continue  # a prompted frame keeps its own mask
                self._put(idx, obj_id, mask)
            yield idx, {o: m for o in masks if (m := self._get(idx, o)) is not None}  # each was just stored

    def propagate_prompts(
        self,
        direction: Direction | str = Direction.BOTH,
        *,
        obj_ids: Iterable[int] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """Propagate each object from *its own* prompted frames (the UI's Propagate buttons).

        For an object prompted on frames ``f1 < f2 < ... < fn``:

        - ``"forward"``: from each ``fi`` forward up to the frame before ``f(i+1)`` (the last one
          to the end of the video);
        - ``"backward"``: from each ``fi`` backward down to the frame after ``f(i-1)`` (the first
          one to frame 0);
        - ``"both"`` (the whole video): backward from ``f1`` to frame 0, forward from ``fn`` to the
          end, and each gap between two prompted frames is filled from both ends, every frame
          from its nearer prompted frame.

        Prompted frames keep their prompted masks. Objects are processed one after the other.

        Args:
            direction: ``"forward"``, ``"backward"`` or ``"both"``.
            obj_ids: the objects (default: every object with a prompt).
            progress: called as ``progress(done, total)`` after each frame (``total`` counts
                object-frames).

        Yields:
            ``(frame_idx, {obj_id: (H, W) bool})`` per propagated object-frame, as stored;
            stopping the iteration (or :meth:`cancel`) leaves the frames done so far.

        Raises:
            ConfigError: nothing prompted yet, or an object without a prompt.
            SegmentationError: if the backend fails (frames done so far stay stored).
        """
        direction = Direction(direction)
        if not self._prompts:
            raise ConfigError("nothing to propagate: add points, a box or a mask for an object first")
        ids = self.objects if obj_ids is None else sorted({int(o) for o in obj_ids})
        segments: list[tuple[int, int, range]] = []
        for o in ids:
            frames = sorted(f for f, oo in self._prompts if oo == o)
            if not frames:
                raise ConfigError(f"object {o} has no prompt to propagate from (objects: {self.objects})")
            segments += [(o, f, r) for f, r in prompt_segments(frames, self.num_frames, direction)]
        return self._run_segments(segments, progress)

    def repropagate(
        self,
        frame_idx: int,
        obj_id: int,
        *,
        max_frames: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """After a correction on ``frame_idx``: propagate ``obj_id`` from it in both directions,
        each up to (not including) the object's next prompted frame that way (or the video's end),
        forward first.

        Args:
            frame_idx: the corrected frame.
            obj_id: the corrected object.
            max_frames: at most this many frames per direction (None = no limit).
            progress: as in :meth:`propagate_prompts`.

        Yields / Raises:
            As :meth:`propagate_prompts`; ConfigError if the object has no mask on ``frame_idx``.
        """
        key = self._key(frame_idx, obj_id)
        if self._get(*key) is None:
            raise ConfigError(f"object {obj_id} has no mask on frame {frame_idx} to propagate from")
        k, o = key
        frames = [f for f, oo in self._prompts if oo == o]
        nxt = min((f for f in frames if f > k), default=self.num_frames)
        prv = max((f for f in frames if f < k), default=-1)
        if max_frames is not None:
            nxt, prv = min(nxt, k + 1 + int(max_frames)), max(prv, k - 1 - int(max_frames))
        return self._run_segments([(o, k, range(k + 1, nxt)), (o, k, range(k - 1, prv, -1))], progress)

    def _run_segments(
        self, segments: list[tuple[int, int, range]], progress: ProgressCallback | None
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        self._cancel.clear()
        total = sum(len(r) for _, _, r in segments)
        done = 0
        for obj_id, start, plan in segments:
            start_mask = self._get(start, obj_id)
            if start_mask is None or not plan:
                continue
            for idx, masks in self._run(start, plan, {obj_id: start_mask}):
                done += 1
                if progress is not None:
                    progress(done, total)
                yield idx, masks
            if self._cancel.is_set():
                logger.info("propagation cancelled after %d of %d frames", done, total)
                return

    def timeline(self, obj_id: int) -> tuple[list[int], list[int]]:
        """``(prompted frames, frames with a non-empty mask)`` of ``obj_id``, both sorted."""
        from pycocotools import mask as mask_util

        o = int(obj_id)
        prompted = sorted(f for f, oo in self._prompts if oo == o)
        masked = []
        for f in sorted(self._masks):
            rle = self._masks[f].get(o)
            if rle is not None:
                area = mask_util.area({"size": rle["size"], "counts": rle["counts"].encode("utf-8")})
                if int(area) > 0:
                    masked.append(f)
        return prompted, masked

    def _cancellable(self, plan: range) -> Iterator[int]:
        for idx in plan:
            if self._cancel.is_set():
                return
            yield idx

    def _prompted_masks(self, frame_idx: int) -> dict[int, np.ndarray]:
        """The masks of the objects that have a prompt on ``frame_idx`` (propagation anchors)."""
        out = {}
        for obj_id in self._masks.get(frame_idx, {}):
            if (frame_idx, obj_id) in self._prompts:
                m = self._get(frame_idx, obj_id)
                if m is not None:
                    out[obj_id] = m
        return out

    def cancel(self) -> None:
        """Stop a running :meth:`propagate` after the current frame (thread-safe)."""
        self._cancel.set()

    # -- reading -----------------------------------------------------------------------------

    def mask(self, frame_idx: int, obj_id: int | None = None) -> np.ndarray | dict[int, np.ndarray]:
        """Stored masks of ``frame_idx``.

        Args:
            frame_idx: 0-based frame index.
            obj_id: one object, or None for all objects with a mask on the frame.

        Returns:
            With ``obj_id``: its (H, W) bool mask (all False when it has none on the frame).
            Without: ``{obj_id: (H, W) bool}``.

        Raises:
            ConfigError: on a bad frame index.
        """
        frame_idx = self._check_frame(frame_idx)
        if obj_id is None:
            return {o: rle_to_mask(r) for o, r in sorted(self._masks.get(frame_idx, {}).items())}
        m = self._get(frame_idx, int(obj_id))
        return np.zeros(self.shape, bool) if m is None else m

    @property
    def objects(self) -> list[int]:
        """Sorted ids of the objects that have a prompt."""
        return sorted({o for _, o in self._prompts})

    def prompts(self, obj_id: int | None = None) -> dict[_Key, ObjectPrompt]:
        """``(frame_idx, obj_id) -> ObjectPrompt`` (of one object, or all)."""
        return {k: p for k, p in sorted(self._prompts.items()) if obj_id is None or k[1] == obj_id}

    def iter_masks(self) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """Every frame ``0 .. num_frames - 1`` in order with its ``{obj_id: (H, W) bool}`` masks
        (empty dict for frames without masks); decoded one frame at a time."""
        for idx in range(self.num_frames):
            yield idx, {o: rle_to_mask(r) for o, r in sorted(self._masks.get(idx, {}).items())}

    def iter_mask_ids(self) -> Iterator[tuple[int, list[int]]]:
        """``(frame_idx, [obj_id, ...])`` of the frames that have stored masks (no decoding)."""
        for idx in sorted(self._masks):
            yield idx, sorted(self._masks[idx])

    def has_masks(self) -> bool:
        """Whether any object has a non-empty mask on any frame (what export / redact need)."""
        return any(self.timeline(o)[1] for o in {o for objs in self._masks.values() for o in objs})

    def mask_source(self) -> MaskSource:
        """The session's masks as a :class:`~sammask.export.MaskSource` (for ``redact_masks``)."""
        from sammask.export import MaskFrame, MaskSource

        def frames() -> Iterator[MaskFrame]:
            for idx, masks in self.iter_masks():
                if masks:
                    yield MaskFrame(idx, masks)

        return MaskSource(self.frames.path, "session", self.shape[1], self.shape[0], frames, video=self.video())

    def video(self) -> VideoIdentity:
        """The session's video as exports record it (:func:`sammask.media.video_identity`)."""
        from sammask.media import video_identity

        return video_identity(self.frames.path, width=self.shape[1], height=self.shape[0], frames=self.num_frames)

    def export(self, path: str | Path, format: str) -> Path:
        """Write the masks with :func:`sammask.export.write_masks` (``coco``, ``png``, ``yolo``,
        ``mots``, ``tracks``); returns the written path.

        Raises:
            ConfigError: unknown format.
            ExportError: if the output cannot be written.
        """
        from sammask.export import write_masks

        return write_masks(
            self.iter_masks(),
            Path(path),
            format,
            width=self.shape[1],
            height=self.shape[0],
            frames=self.frames.frame,
            video=self.video(),
        )

    # -- editing -----------------------------------------------------------------------------

    def remove_object(self, obj_id: int) -> None:
        """Delete an object's prompts and masks on every frame (undoable).

        Raises:
            ConfigError: if the object does not exist.
        """
        obj_id = int(obj_id)
        keys = [k for k in self._prompts if k[1] == obj_id]
        frames = [f for f, objs in self._masks.items() if obj_id in objs]
        if not keys and not frames:
            raise ConfigError(f"object {obj_id} does not exist (objects: {self.objects})")
        edit = _Edit(f"remove object {obj_id}", obj_id)
        for k in keys:
            edit.prompts[k] = self._prompts.pop(k)
        for f in frames:
            edit.masks[(f, obj_id)] = self._masks[f].pop(obj_id)
            if not self._masks[f]:
                del self._masks[f]
        self._journal.append(edit)
        self.backend.forget(obj_id)
        self._backend_stale = True

    def undo(self, obj_id: int | None = None) -> str | None:
        """Undo the last prompt, mask or removal of one object, with that object's propagation
        that followed it. History is kept per object: undoing never changes another object's
        prompts or masks.

        Args:
            obj_id: the object whose last step is undone; None = the last step of any object.

        Returns:
            A description of what was undone, or None when there is nothing to undo.
        """
        idx = next(
            (i for i in range(len(self._journal) - 1, -1, -1) if obj_id is None or self._journal[i].obj_id == int(obj_id)),
            None,
        )
        if idx is None:
            return None
        edit = self._journal.pop(idx)
        for key, prompt in edit.prompts.items():
            if prompt is None:
                self._prompts.pop(key, None)
            else:
                self._prompts[key] = prompt
        for (f, o), rle in edit.masks.items():
            if rle is None:
                objs = self._masks.get(f, {})
                objs.pop(o, None)
                if not objs:
                    self._masks.pop(f, None)
            else:
                self._masks.setdefault(f, {})[o] = rle
        self._last_prompt_frame = next(
            (k[0] for e in reversed(self._journal) for k in e.prompts if k in self._prompts),
            min((k[0] for k in self._prompts), default=None),
        )
        self._backend_stale = True
        return edit.label

    def reset(self) -> None:
        """Forget every prompt, mask and undo step (the video stays open)."""
        self._prompts.clear()
        self._masks.clear()
        self._journal.clear()
        self._last_prompt_frame = None
        self.backend.reset()
        self._backend_stale = False

    def close(self) -> None:
        """Close the video and release the backend. Safe to call twice."""
        self.backend.close()
        self.frames.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _sync_backend(self) -> None:
        """After undo/removal, rebuild a stateful backend's memory from the remaining prompts."""
        if not self._backend_stale:
            return
        self._backend_stale = False
        if not getattr(self.backend, "stateful", False):
            return
        self.backend.reset()
        for (f, o), prompt in sorted(self._prompts.items()):
            self.backend.predict(f, o, prompt, None)

    def _check_frame(self, frame_idx: int) -> int:
        idx = int(frame_idx)
        if not 0 <= idx < self.num_frames:
            raise ConfigError(f"frame_idx {frame_idx} is outside the video (0..{self.num_frames - 1})")
        return idx

    def _key(self, frame_idx: int, obj_id: int) -> _Key:
        if int(obj_id) < 0:
            raise ConfigError(f"obj_id must be >= 0, got {obj_id}")
        return self._check_frame(frame_idx), int(obj_id)

    def _check_points(self, pts: np.ndarray) -> None:
        h, w = self.shape
        inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
        if not inside.all():
            raise ConfigError(f"points {pts[~inside].tolist()} lie outside the {w}x{h} frame")

    def _get(self, frame_idx: int, obj_id: int) -> np.ndarray | None:
        rle = self._masks.get(frame_idx, {}).get(obj_id)
        return None if rle is None else rle_to_mask(rle)

    def _put(self, frame_idx: int, obj_id: int, mask: np.ndarray, edit: _Edit | None = None) -> None:
        mask = np.asarray(mask, bool)
        if mask.shape != self.shape:
            raise ConfigError(f"backend returned a mask of shape {mask.shape}, expected {self.shape}")
        key = (frame_idx, obj_id)
        if edit is None:
            edit = next((e for e in reversed(self._journal) if e.obj_id == obj_id), None)
        if edit is not None and key not in edit.masks:
            edit.masks[key] = self._masks.get(frame_idx, {}).get(obj_id)
        self._masks.setdefault(frame_idx, {})[obj_id] = mask_to_rle(mask)
