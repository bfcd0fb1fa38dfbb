"""Streaming video decoding with PyAV: RGB frames with their timestamps, one at a time."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from sammask.errors import MediaError
from sammask.media.probe import check_input_file, decode_video, open_input, probe, video_stream
from sammask.media.types import DecodedFrame, VideoInfo

logger = logging.getLogger(__name__)

__all__ = ["VideoReader"]


class VideoReader:
    """Decode the first video stream of a file frame by frame (streaming, bounded memory).

    Usage::

        with VideoReader(path) as reader:
            for frame in reader:        # DecodedFrame(frame_idx, image, pts, time_s)
                ...

    Frames come in presentation order as stored: no display rotation is applied (it is
    carried in :attr:`info` and the writer puts it on the output). FFmpeg decoder threading
    is on (``thread_type = AUTO``: frame + slice threads). Colours are converted to RGB with
    the matrix the stream is tagged with (BT.601 when untagged).

    Attributes:
        info: :class:`VideoInfo` from :func:`sammask.media.probe`.

    Raises:
        InputFileError: (constructor) if the file is missing or unreadable.
        MediaError: (constructor) if it is not a decodable video; (iteration) if decoding
            fails part way, naming the file and the frame index reached, if the frame size
            changes mid-stream, or if the reader is iterated twice or after ``close()``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = check_input_file(Path(path))
        self.info: VideoInfo = probe(self.path)
        self._container = open_input(self.path)
        self._stream = video_stream(self._container, self.path)
        self._stream.thread_type = "AUTO"
        self._iterated = False
        self._closed = False

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._closed:
            self._closed = True
            self._container.close()

    def __iter__(self) -> Iterator[DecodedFrame]:
        """Yield :class:`DecodedFrame` s: ``image`` (H, W, 3) uint8 RGB, ``pts`` in
        ``info.time_base`` ticks, ``time_s`` in seconds, ``frame_idx`` 0-based."""
        if self._closed:
            raise MediaError(f"{self.path}: reader is closed; open a new VideoReader")
        if self._iterated:
            raise MediaError(f"{self.path}: a VideoReader can be iterated once; open a new one to read again")
        self._iterated = True
        return self._frames()

    def _frames(self) -> Iterator[DecodedFrame]:
        info = self.info
        idx = 0
        for frame in decode_video(self._container, self._stream, self.path):
            if frame.width != info.width or frame.height != info.height:
                raise MediaError(
                    f"{self.path}: frame {idx} is {frame.width}x{frame.height} but the video started at "
                    f"{info.width}x{info.height}; resolution changes are not supported (re-encode first)"
                )
            image = frame.to_ndarray(format="rgb24")
            pts = frame.pts
            time_s = float(frame.time) if frame.time is not None else float(idx / info.fps)
            yield DecodedFrame(frame_idx=idx, image=image, pts=pts, time_s=time_s)
            idx += 1
        if info.num_frames_exact and idx != info.num_frames:
            logger.warning(
                "%s: decoded %d frames but the container lists %d", self.path, idx, info.num_frames
            )
        logger.debug("%s: decoded %d frames", self.path, idx)
