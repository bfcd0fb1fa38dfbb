"""Streaming video decoding with PyAV: RGB frames with their timestamps, one at a time."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from sammask.errors import MediaError
from sammask.media.probe import check_input_file, decode_video, open_input, probe, video_stream
from sammask.media.types import DecodedFrame, VideoInfo

logger = logging.getLogger(__name__)

__all__ = ["VideoReader", "ReadAhead"]


class VideoReader:
    """Decode the first video stream of a file frame by frame (streaming, bounded memory).

    Usage::

        with VideoReader(path) as reader:
            for frame in reader:  # DecodedFrame(frame_idx, image, pts, time_s)
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
            fails part way, naming the file and the frame index reached, if two frames have the
            same or decreasing timestamps (the input's fault, named as such), if the frame size
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
        last_pts: int | None = None
        for frame in decode_video(self._container, self._stream, self.path):
            if frame.width != info.width or frame.height != info.height:
                raise MediaError(
                    f"{self.path}: frame {idx} is {frame.width}x{frame.height} but the video started at "
                    f"{info.width}x{info.height}; resolution changes are not supported (re-encode first)"
                )
            image = frame.to_ndarray(format="rgb24")
            pts = frame.pts
            if pts is not None and last_pts is not None and pts <= last_pts:
                raise MediaError(
                    f"{self.path}: the input has duplicate or backwards timestamps (frame {idx} has pts {pts}, "
                    f"the previous frame {last_pts}); remux it with fresh timestamps, e.g. "
                    "ffmpeg -fflags +genpts -i IN -c copy OUT.mkv"
                )
            last_pts = pts if pts is not None else last_pts
            time_s = float(frame.time) if frame.time is not None else float(idx / info.fps)
            yield DecodedFrame(frame_idx=idx, image=image, pts=pts, time_s=time_s)
            idx += 1
        if info.num_frames_exact and idx != info.num_frames:
            logger.warning("%s: decoded %d frames but the container lists %d", self.path, idx, info.num_frames)
        logger.debug("%s: decoded %d frames", self.path, idx)


class _Failure:
    """An exception raised by the read-ahead thread, carried to the consumer."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()


class ReadAhead:
    """Decode a :class:`VideoReader` on a background thread, up to ``depth`` frames ahead.

    The consumer (the pipeline's main thread) segments frame ``i`` while FFmpeg decodes and
    converts frame ``i + 1`` to RGB; PyAV releases the GIL while it decodes. Frames, their order
    and the errors are those of the reader: an exception raised while decoding (e.g. the
    :class:`MediaError` of a file truncated mid-stream) is re-raised by the consumer's ``next``
    after the frames decoded before it. Memory: at most ``depth + 1`` decoded frames
    (``depth`` x H x W x 3 bytes in the queue).

    Use as a context manager entered *after* the reader, so that the thread is stopped and
    joined before the reader closes its container::

        with VideoReader(path) as reader, ReadAhead(reader) as frames:
            for frame in frames:
                ...

    Args:
        reader: an open, not yet iterated reader.
        depth: frames decoded ahead (>= 1).

    Raises:
        MediaError: (iteration) whatever the reader raises, re-raised in the consumer's thread;
            also if iterated twice.
    """

    def __init__(self, reader: VideoReader, depth: int = 3) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.reader = reader
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, frames: Iterator[DecodedFrame]) -> None:
        try:
            for frame in frames:
                if not self._put(frame):
                    return
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer's thread
            self._put(_Failure(exc))

    def __iter__(self) -> Iterator[DecodedFrame]:
        if self._thread is not None:
            raise MediaError(f"{self.reader.path}: a ReadAhead can be iterated once; open a new reader")
        frames = iter(self.reader)  # errors of a closed / already iterated reader raise here
        self._thread = threading.Thread(target=self._run, args=(frames,), name="sammask-decode", daemon=True)
        self._thread.start()
        return self._frames()

    def _frames(self) -> Iterator[DecodedFrame]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]  # the queue holds frames, _END and _Failure; the two others are handled above

    def close(self) -> None:
        """Stop the thread and wait for it (it finishes the frame it is decoding); idempotent."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join()
