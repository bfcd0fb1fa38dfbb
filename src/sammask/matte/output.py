"""Matte outputs: alpha video (ProRes 4444 ``.mov``, VP9 ``.webm``), an RGBA PNG folder, a replaced
background (H.264, audio copied), and the grayscale matte video. Every one is written to a
temporary name beside its destination and renamed into place only on success."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np

from sammask.errors import ConfigError, MediaError
from sammask.geometry import DisplayTransform
from sammask.io import temp_sibling
from sammask.matte.options import OutputKind
from sammask.media import EncodeOptions, VideoInfo

logger = logging.getLogger(__name__)

__all__ = ["PngFolderWriter", "alpha_encode_options", "matte_encode_options", "opaque_encode_options"]

PRORES_4444 = (("profile", "4"), ("vendor", "apl0"))
"""prores_ks options: profile 4 = ProRes 4444 (alpha kept), Apple's vendor tag (players check it)."""

VP9_OPTIONS = (("crf", "20"), ("b", "0"), ("deadline", "good"), ("cpu-used", "4"), ("row-mt", "1"))
"""libvpx-vp9 constant quality (``crf`` with ``b`` 0), speed 4 of 0..8."""


def alpha_encode_options(kind: OutputKind, copy_audio: bool) -> EncodeOptions:
    """Encoder settings of an output with an alpha plane (``.mov`` ProRes 4444, ``.webm`` VP9).

    Raises:
        ConfigError: ``kind`` holds no alpha (H.264 files).
    """
    if kind is OutputKind.PRORES_4444:
        return EncodeOptions(codec="prores_ks", pix_fmt="yuva444p10le", codec_options=PRORES_4444, copy_audio=copy_audio)
    if kind is OutputKind.VP9_ALPHA:
        return EncodeOptions(codec="libvpx-vp9", pix_fmt="yuva420p", codec_options=VP9_OPTIONS, copy_audio=copy_audio)
    raise ConfigError(
        "--background transparent needs an output that holds alpha: .mov (ProRes 4444), .webm (VP9) "
        "or a folder (RGBA PNGs, no suffix); for .mp4 choose a background (blur, color:..., image:..., video:...)"
    )


def opaque_encode_options(kind: OutputKind, base: EncodeOptions) -> EncodeOptions:
    """Encoder settings of a replaced background: H.264 as in redaction; VP9 (no alpha) in ``.webm``."""
    if kind is OutputKind.VP9_ALPHA:
        return EncodeOptions(codec="libvpx-vp9", pix_fmt="yuv420p", codec_options=VP9_OPTIONS, copy_audio=base.copy_audio)
    return base


def matte_encode_options(base: EncodeOptions) -> EncodeOptions:
    """The grayscale matte video: H.264, the output's CRF / preset, no audio."""
    return EncodeOptions(codec=base.codec, crf=base.crf, preset=base.preset, pix_fmt=base.pix_fmt, copy_audio=False)


class PngFolderWriter:
    """A new folder of RGBA PNGs, one per frame, named ``{frame_idx:06d}.png``, in display orientation.

    The PNGs go to a temporary folder beside ``path`` (:func:`sammask.io.temp_sibling`); :meth:`commit`
    renames it to ``path`` (an existing folder is replaced only with ``overwrite``, after the new
    one is complete); :meth:`abort` removes it.

    Args:
        path: the folder to create.
        info: the video (size).
        upright: stored-to-display transform (None: frames are written as stored).
        overwrite: replace an existing folder at ``path``.

    Raises:
        MediaError: the parent folder is missing or not writable, a PNG cannot be written.
    """

    def __init__(self, path: Path, info: VideoInfo, upright: DisplayTransform | None = None, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.info = info
        self.upright = upright
        self.overwrite = overwrite
        self.frames_written = 0
        self._tmp: Path | None = temp_sibling(self.path)
        try:
            self._tmp.mkdir()
        except OSError as exc:
            self._tmp = None
            raise MediaError(f"{self.path}: cannot create a folder in {self.path.parent} ({exc.strerror})") from None

    def write(self, rgba: np.ndarray, frame_idx: int) -> None:
        """Write one (H, W, 4) uint8 RGBA frame as ``{frame_idx:06d}.png``."""
        import cv2

        if self._tmp is None:
            raise MediaError(f"{self.path}: writer is closed")
        if rgba.dtype != np.uint8 or rgba.shape != (self.info.height, self.info.width, 4):
            raise MediaError(f"{self.path}: frame {frame_idx} is {rgba.shape} {rgba.dtype}, expected (H, W, 4) uint8 RGBA")
        if self.upright is not None and not self.upright.is_identity:
            rgba = self.upright.image_to_display(rgba)
        target = self._tmp / f"{frame_idx:06d}.png"
        if not cv2.imwrite(str(target), cv2.cvtColor(np.ascontiguousarray(rgba), cv2.COLOR_RGBA2BGRA)):
            raise MediaError(f"{self.path}: could not write {target.name} (disk full?)")
        self.frames_written += 1

    def commit(self) -> None:
        """Rename the finished folder into place.

        Raises:
            MediaError: no frame was written, or the rename failed.
        """
        if self._tmp is None:
            return
        try:
            if self.frames_written == 0:
                raise MediaError(f"{self.path}: no frames were written; nothing to save")
            old = None
            if self.path.exists() and self.overwrite:
                old = temp_sibling(self.path, ".old")
                os.replace(self.path, old)
            try:
                os.replace(self._tmp, self.path)
            except OSError as exc:
                if old is not None:
                    os.replace(old, self.path)  # put the previous folder back
                    old = None
                raise MediaError(f"{self.path}: cannot move the finished folder into place ({exc})") from exc
            finally:
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
            self._tmp = None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Remove the temporary folder (nothing appears at ``path``)."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
