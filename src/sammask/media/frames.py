"""Random access to the frames of a video, decoded lazily with a bounded cache.

The annotator (:mod:`sammask.annotate`) jumps between frames (a slider, a correction on frame k, propagation backwards),
which a streaming :class:`~sammask.media.VideoReader` cannot do. :class:`FrameSource` scans the
video's packets once (demux only, no decoding) to learn each frame's presentation timestamp and
the keyframes, then decodes a frame by seeking to the keyframe before it and decoding forward.
Decoded frames go into an LRU cache bounded in bytes, so memory stays flat on long videos;
iterating backwards decodes one keyframe interval (GOP) at a time and yields it reversed.
"""

from __future__ import annotations

import bisect
import logging
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sammask.errors import MediaError
from sammask.media.probe import check_input_file, open_input, probe, video_stream
from sammask.media.types import VideoInfo

logger = logging.getLogger(__name__)

DEFAULT_CACHE_BYTES = 512 * 1024 * 1024
"""Decoded-frame cache budget: 512 MiB (~340 frames at 854x480, ~85 at 1080p)."""


class FrameSource:
    """Lazily decoded, randomly accessible RGB frames of one video file.

    Frame indices are 0-based in presentation order (the same ``frame_idx`` as
    :class:`~sammask.media.VideoReader` yields).

    Args:
        path: the video file.
        cache_bytes: upper bound of the decoded-frame cache in bytes (at least two frames are
            kept whatever the budget).

    Attributes:
        path: the file.
        info: :class:`~sammask.media.types.VideoInfo` from :func:`sammask.media.probe`.
        num_frames: exact number of frames (counted from the packets).
        height: frame height H in pixels.
        width: frame width W in pixels.

    Raises:
        InputFileError: if the file is missing or unreadable.
        MediaError: if it is not a decodable video or holds no frame.
    """

    def __init__(self, path: str | Path, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        import av

        self.path = check_input_file(Path(path))
        self.info: VideoInfo = probe(self.path)
        self.height, self.width = self.info.height, self.info.width
        frame_bytes = self.height * self.width * 3
        self._capacity = max(2, int(cache_bytes) // max(frame_bytes, 1))
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._container = open_input(self.path)
        self._stream = video_stream(self._container, self.path)
        self._stream.thread_type = "AUTO"
        pts: list[int] = []
        key_pts: list[int] = []
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0 or packet.pts is None:
                    if packet.size and packet.pts is None:
                        raise MediaError(
                            f"{self.path}: video packets without timestamps; random access needs them "
                            "(remux the file, e.g. ffmpeg -i IN -c copy OUT.mp4)"
                        )
                    continue
                pts.append(int(packet.pts))
                if packet.is_keyframe:
                    key_pts.append(int(packet.pts))
        except av.FFmpegError as exc:
            raise MediaError(f"{self.path}: could not read the video packets ({exc})") from exc
        if not pts:
            raise MediaError(f"{self.path}: the video holds no frame")
        self._pts = sorted(pts)
        self._index = {p: i for i, p in enumerate(self._pts)}
        self._key_idx = sorted(self._index[p] for p in key_pts) or [0]
        if self._key_idx[0] != 0:
            self._key_idx.insert(0, 0)
        self.num_frames = len(self._pts)
        self.decoded = 0  # frames decoded so far (for tests and stats)

    # -- public ------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the frames."""
        return self.height, self.width

    def frame(self, frame_idx: int) -> np.ndarray:
        """The (H, W, 3) uint8 RGB frame ``frame_idx`` (read-only array; do not modify).

        Raises:
            MediaError: if ``frame_idx`` is outside ``0 .. num_frames - 1`` or decoding fails.
        """
        idx = self._check(frame_idx)
        cached = self._cache.get(idx)
        if cached is not None:
            self._cache.move_to_end(idx)
            return cached
        self._decode_range(idx, idx)
        cached = self._cache.get(idx)
        if cached is None:
            raise MediaError(f"{self.path}: frame {idx} could not be decoded")
        return cached

    def frames(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        """Frames ``start, start +- 1, ..., stop`` (inclusive), forwards or backwards.

        Args:
            start: first frame index.
            stop: last frame index; ``stop < start`` iterates backwards.

        Yields:
            ``(frame_idx, (H, W, 3) uint8 RGB image)``; decoding is lazy (one keyframe interval
            ahead at most when going backwards).

        Raises:
            MediaError: on an index out of range or a decoding failure.
        """
        start, stop = self._check(start), self._check(stop)
        step = 1 if stop >= start else -1
        ahead = max(1, min(self._capacity // 2, 32))
        for idx in range(start, stop + step, step):
            if step == 1 and idx not in self._cache:
                # one seek, then decode the next frames in the same pass
                self._decode_range(idx, min(idx + ahead - 1, stop))
            yield idx, self.frame(idx)

    def close(self) -> None:
        """Close the file and drop the cache (idempotent)."""
        self._cache.clear()
        if self._container is not None:
            self._container.close()
            self._container = None  # type: ignore[assignment]  # closed readers drop the container; the attribute is typed for the open state

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _check(self, frame_idx: int) -> int:
        idx = int(frame_idx)
        if not 0 <= idx < self.num_frames:
            raise MediaError(f"{self.path}: frame {idx} is out of range 0..{self.num_frames - 1}")
        if self._container is None:
            raise MediaError(f"{self.path}: FrameSource is closed")
        return idx

    def _put(self, idx: int, image: np.ndarray) -> None:
        image.setflags(write=False)
        self._cache[idx] = image
        self._cache.move_to_end(idx)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)

    def _decode_range(self, first: int, last: int) -> None:
        """Decode from the keyframe at or before ``first`` through ``last`` into the cache.

        When going backwards the frames before the wanted one are cached too (up to the cache
        capacity, the most recent ones), so that the previous frames come from the cache.
        """
        import av

        k = bisect.bisect_right(self._key_idx, first) - 1
        for attempt in range(2):  # open GOPs: retry from the keyframe before
            key = self._key_idx[max(k - attempt, 0)]
            lo = max(key, last - self._capacity + 1)
            self._container.seek(self._pts[key], stream=self._stream, backward=True, any_frame=False)
            try:
                for frame in self._container.decode(self._stream):
                    if frame.pts is None:
                        continue
                    idx = self._index.get(int(frame.pts))
                    if idx is None:
                        continue
                    self.decoded += 1
                    if lo <= idx <= last and idx not in self._cache:
                        self._put(idx, frame.to_ndarray(format="rgb24"))
                    if idx >= last:
                        break
            except av.FFmpegError as exc:
                raise MediaError(f"{self.path}: decoding failed near frame {first} ({exc})") from exc
            if first in self._cache:
                return
        logger.debug("%s: frame %d not produced after seeking", self.path, first)
