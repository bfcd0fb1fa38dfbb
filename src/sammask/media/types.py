"""Typed descriptions of video files, decoded frames and encoder options."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from sammask.errors import ConfigError


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What :func:`sammask.media.probe` reads from a video file.

    Attributes:
        path: the file.
        width: decoded frame width in pixels (as stored, before display rotation).
        height: decoded frame height in pixels (as stored).
        fps: average frame rate (frames per second) as a fraction.
        time_base: the video stream's time base (seconds per pts tick).
        num_frames: frame count from the container, or an estimate from duration x fps
            (``num_frames_exact`` tells which).
        num_frames_exact: True when ``num_frames`` came from the container's frame count.
        duration_s: duration in seconds.
        rotation: display rotation in degrees (0, 90, 180, 270) from the display matrix,
            counter-clockwise as FFmpeg's ``av_display_rotation_get`` and PyAV's
            ``VideoFrame.rotation`` report it (a phone portrait clip typically reads 270).
        codec: video codec name (e.g. ``"h264"``).
        audio_streams: number of audio streams.
        display_matrix: the stream's raw 3x3 display matrix (9 int32 in FFmpeg's
            ``AV_PKT_DATA_DISPLAYMATRIX`` layout, 16.16 / 2.30 fixed point) when the file has one,
            else None. Carries flips that ``rotation`` alone cannot express; the writer copies
            it to the output unchanged.
        sample_aspect_ratio: the pixels' shape (SAR, width / height of one pixel) when the
            stream says it is not square (e.g. 4:3 for anamorphic DV), else None. Kept in the
            output.
        field_order: FFmpeg's ``AVFieldOrder`` of the stream: 0 unknown, 1 progressive, 2 top
            field first (TT), 3 bottom first (BB), 4 TB, 5 BT. Interlaced streams (>= 2) are
            encoded interlaced with the same field order.
        other_video_streams: the video streams besides the first (not attached pictures such as
            cover art), described in words: they are not in the output (the run says so).
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    num_frames: int
    num_frames_exact: bool
    duration_s: float
    rotation: int
    codec: str
    audio_streams: int
    display_matrix: tuple[int, ...] | None = None
    sample_aspect_ratio: Fraction | None = None
    field_order: int = 0
    other_video_streams: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """One decoded video frame.

    Attributes:
        frame_idx: 0-based index in decode (presentation) order.
        image: (H, W, 3) uint8 RGB.
        pts: presentation timestamp in ``time_base`` ticks (None if the container has none).
        time_s: presentation time in seconds.
    """

    frame_idx: int
    image: np.ndarray
    pts: int | None
    time_s: float


@dataclass(frozen=True, slots=True)
class EncodeOptions:
    """H.264 encoder settings. Defaults are visually lossless.

    Attributes:
        codec: encoder name for PyAV/FFmpeg (``"libx264"``).
        crf: constant rate factor, 0 (lossless) .. 51; 18 is visually lossless.
        preset: x264 preset (``ultrafast`` .. ``veryslow``).
        pix_fmt: output pixel format (``yuv420p`` plays everywhere).
        copy_audio: copy audio stream(s) without re-encoding (False drops audio).

    Raises:
        ConfigError: on an out-of-range CRF or unknown preset.
    """

    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str = "yuv420p"
    copy_audio: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 51:
            raise ConfigError(f"crf must be 0..51, got {self.crf}")
        presets = {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}
        if self.preset not in presets:
            raise ConfigError(f"preset must be one of {sorted(presets)}, got '{self.preset}'")
