"""Read what a video file holds (size, rate, time base, rotation, streams) with PyAV.

FFmpeg does the demuxing; the display rotation comes from the stream's display matrix
(``AV_PKT_DATA_DISPLAYMATRIX``, ISO/IEC 14496-12 ``tkhd`` matrix for MP4/MOV), which FFmpeg
attaches to every decoded frame as ``AV_FRAME_DATA_DISPLAYMATRIX``.
"""

from __future__ import annotations

import logging
import math
import os
from fractions import Fraction
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sammask.errors import InputFileError, MediaError
from sammask.media.types import VideoInfo

if TYPE_CHECKING:
    import av.container
    import av.video.frame
    import av.video.stream

logger = logging.getLogger(__name__)

__all__ = ["probe", "frame_count", "decode_video"]


def check_input_file(path: Path) -> Path:
    """Return ``path`` as a :class:`Path` if it is an existing, readable regular file.

    Raises:
        InputFileError: if it is missing, a directory or unreadable.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"video not found: {path}")
    if not path.is_file():
        raise InputFileError(f"video path is not a file: {path}")
    if not os.access(path, os.R_OK):
        raise InputFileError(f"video is not readable (permissions): {path}")
    return path


def open_input(path: Path) -> av.container.InputContainer:
    """Open ``path`` with PyAV for reading.

    Raises:
        InputFileError: if the file is missing or unreadable.
        MediaError: if FFmpeg cannot open it as a media container.
    """
    import av

    path = check_input_file(path)
    try:
        return av.open(str(path), mode="r")
    except av.FFmpegError as exc:
        raise MediaError(
            f"{path}: not a readable video ({exc.strerror or exc}); the file may be corrupt, truncated or not a video"
        ) from exc


def video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The first video stream of ``container``.

    Raises:
        MediaError: if the file has no video stream.
    """
    if not container.streams.video:
        raise MediaError(f"{path}: no video stream (streams: {[s.type for s in container.streams] or 'none'})")
    return container.streams.video[0]


def check_not_truncated(container: av.container.InputContainer, path: Path) -> None:
    """Fail early when the container index points past the end of the file.

    MP4/MOV files with the index (``moov``) first open fine even when their media data was cut
    off; the sample table then lists samples beyond the end of the file.

    Raises:
        MediaError: if any indexed sample lies beyond the end of the file.
    """
    size = path.stat().st_size
    for stream in container.streams:
        entries = stream.index_entries
        if len(entries) == 0:
            continue
        end = max(e.pos + e.size for e in entries)
        if end > size:
            raise MediaError(
                f"{path}: file is truncated: its index lists {stream.type} data up to byte {end} "
                f"but the file has {size} bytes; re-export or repair the video"
            )


def decode_video(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: Path
) -> Iterator[av.video.frame.VideoFrame]:
    """Decode ``stream`` packet by packet, failing loudly on corrupt or truncated input.

    Truncation is detected two ways: the decoder rejecting a partial packet, and the demuxer
    reaching the end of the file before it delivered every sample the container index lists
    (an MP4 cut between two samples ends "cleanly" otherwise).

    Yields:
        PyAV video frames in presentation order.

    Raises:
        MediaError: naming the file and the 0-based index of the frame that could not be
            decoded (= the number of frames decoded before the failure).
    """
    import av

    check_not_truncated(container, path)
    n_frames = 0
    n_packets = 0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets, None)
            if packet is None:
                break
            if packet.size:
                n_packets += 1
            frames = stream.decode(packet)
        except av.FFmpegError as exc:
            raise MediaError(
                f"{path}: decoding failed at frame {n_frames} ({exc.strerror or exc}); the file is corrupt or truncated"
            ) from exc
        for frame in frames:
            yield frame
            n_frames += 1
    indexed = len(stream.index_entries)
    if n_packets < indexed:
        raise MediaError(
            f"{path}: the file ended at frame {n_frames}, but its index lists {indexed} video samples "
            f"({n_packets} were read); the file is truncated; re-export or repair the video"
        )


def _display_matrix(frame: av.video.frame.VideoFrame) -> tuple[int, ...] | None:
    from av.sidedata.sidedata import Type

    try:
        sd = frame.side_data[Type.DISPLAYMATRIX]  # type: ignore[typeddict-item]  # PyAV's stubs type side_data as a TypedDict without this key
    except KeyError:
        return None
    return tuple(int(v) for v in np.frombuffer(bytes(sd), dtype=np.int32)[:9])


def _rotation(matrix: tuple[int, ...] | None, path: Path) -> int:
    """Counter-clockwise rotation in degrees (0/90/180/270) of an FFmpeg display matrix."""
    if matrix is None:
        return 0
    # av_display_rotation_get: atan2 of the 16.16 fixed-point rotation part.
    a, b, c, d = (float(matrix[i]) / 65536.0 for i in (0, 1, 3, 4))
    if a * d - b * c < 0:
        logger.warning("%s: display matrix has a flip; it is copied to the output as is", path)
    angle = -math.degrees(math.atan2(b, a))
    snapped = int(round(angle / 90.0)) * 90 % 360
    if abs(((angle - snapped) + 180) % 360 - 180) > 1.0:
        logger.warning("%s: display rotation %.1f is not a multiple of 90; reported as %d", path, angle, snapped)
    return snapped


def _first_frame(container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: Path) -> av.VideoFrame:
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: cannot decode the first video frame ({exc.strerror or exc})") from exc
    raise MediaError(f"{path}: the video stream holds no decodable frame")


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe a video file: frame size, rate, time base, frame count, rotation, streams.

    Decodes the first frame (to prove the video decodes and to read the display matrix).

    Args:
        path: video file (any container/codec FFmpeg reads).

    Returns:
        :class:`VideoInfo`; ``width``/``height`` in pixels as stored (before rotation), ``fps``
        in frames per second, ``time_base`` in seconds per pts tick, ``duration_s`` in seconds,
        ``rotation`` counter-clockwise degrees.

    Raises:
        InputFileError: if the file is missing or unreadable.
        MediaError: if it is not a decodable video (not a media file, no video stream,
            truncated, first frame undecodable, no frame rate).

    Examples:

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
        >>> from sammask import probe
        >>> info = probe(clip)
        >>> info.width, info.height, info.num_frames, info.fps
        (64, 48, 3, Fraction(10, 1))
    """
    import av

    path = check_input_file(Path(path))
    with open_input(path) as container:
        stream = video_stream(container, path)
        check_not_truncated(container, path)
        ctx = stream.codec_context
        time_base = stream.time_base
        if time_base is None or time_base <= 0:
            raise MediaError(f"{path}: video stream has no time base")
        fps = next((r for r in (stream.average_rate, stream.guessed_rate, stream.base_rate) if r), None)
        if not fps or fps <= 0:
            raise MediaError(f"{path}: cannot determine the frame rate of the video stream")
        fps = Fraction(fps)
        if stream.duration:
            duration_s = float(stream.duration * time_base)
        elif container.duration:
            duration_s = container.duration / 1_000_000
        else:
            duration_s = 0.0
        exact = stream.frames > 0
        num_frames = stream.frames if exact else int(round(duration_s * fps))
        audio_streams = len(container.streams.audio)
        codec = ctx.name
        sar = ctx.sample_aspect_ratio
        sar = Fraction(sar) if sar and sar > 0 and sar != 1 else None
        field_order = int(ctx.field_order or 0)
        others = tuple(
            f"video stream {s.index} ({s.codec_context.name} {s.codec_context.width}x{s.codec_context.height})"
            for s in container.streams.video[1:]
            if not s.disposition & av.stream.Disposition.attached_pic
        )
        frame = _first_frame(container, stream, path)
        width, height = frame.width, frame.height
        matrix = _display_matrix(frame)
    if not exact and duration_s == 0.0:
        logger.warning("%s: container gives neither frame count nor duration; num_frames is a guess", path)
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        fps=fps,
        time_base=Fraction(time_base),
        num_frames=num_frames,
        num_frames_exact=exact,
        duration_s=duration_s,
        rotation=_rotation(matrix, path),
        codec=codec,
        audio_streams=audio_streams,
        display_matrix=matrix,
        sample_aspect_ratio=sar,
        field_order=field_order,
        other_video_streams=others,
    )


def frame_count(path: str | os.PathLike[str]) -> int:
    """Count the frames of the first video stream by decoding them all (exact, slow).

    Args:
        path: video file.

    Returns:
        number of decoded frames.

    Raises:
        InputFileError: if the file is missing or unreadable.
        MediaError: if it is not a video or decoding fails part way (the message gives the
            number of frames decoded before the failure).
    """
    path = check_input_file(Path(path))
    n = 0
    with open_input(path) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"
        for _ in decode_video(container, stream, path):
            n += 1
    return n
