"""Video I/O on PyAV: probe files, stream RGB frames out, encode H.264 with audio copied.

Public API: :func:`probe`, :class:`VideoReader`, :class:`FrameSource` (random access), :class:`ReadAhead`,
:class:`VideoWriter`, :func:`frame_count`, :func:`trim_video` and the types :class:`VideoInfo`, :class:`DecodedFrame`, :class:`EncodeOptions`.
"""

from __future__ import annotations

from sammask.media.frames import FrameSource
from sammask.media.identity import VideoIdentity, video_identity
from sammask.media.probe import frame_count, probe
from sammask.media.reader import ReadAhead, VideoReader
from sammask.media.types import DecodedFrame, EncodeOptions, VideoInfo
from sammask.media.trim import trim_video
from sammask.media.writer import VideoWriter

__all__ = [
    "probe",
    "VideoReader",
    "ReadAhead",
    "VideoWriter",
    "VideoInfo",
    "DecodedFrame",
    "EncodeOptions",
    "frame_count",
    "trim_video",
    "VideoIdentity",
    "video_identity",
    "FrameSource",
]
