"""H.264 encoding with PyAV: timestamps kept, rotation kept, audio stream-copied, atomic output.

Pixel formats with an alpha plane (``yuva444p10le`` for ProRes 4444, ``yuva420p`` for VP9) take
RGBA frames instead of RGB."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING

import numpy as np

from sammask.errors import ConfigError, MediaError
from sammask.media.probe import check_input_file, open_input
from sammask.media.types import DecodedFrame, EncodeOptions, VideoInfo

if TYPE_CHECKING:
    import av.container
    import av.packet
    import av.video.format
    import av.video.stream

logger = logging.getLogger(__name__)

__all__ = ["VideoWriter", "short_stem"]

NAME_MAX = 255
"""File-name limit in bytes of the common file systems (ext4, XFS, APFS, NTFS in UTF-16 units)."""


def short_stem(path: Path, extra_bytes: int) -> str:
    """``path.stem`` cut (on a UTF-8 character boundary) so that a name made of it, the suffix and
    ``extra_bytes`` more bytes stays within :data:`NAME_MAX` bytes (temporary file names)."""
    budget = NAME_MAX - extra_bytes - len(os.fsencode(path.suffix))
    raw = os.fsencode(path.stem)
    if len(raw) <= budget:
        return path.stem
    return os.fsdecode(raw[: max(budget, 1)]).encode("utf-8", "ignore").decode("utf-8", "ignore") or "x"


def _ffmpeg_msg(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc)


class VideoWriter:
    """Encode RGB frames to a video file (H.264 by default), copying the source's audio.

    Usage::

        with VideoReader(src) as reader, VideoWriter(dst, reader.info, EncodeOptions(), src) as w:
            for frame in reader:
                w.write(frame.image, frame.pts)

    Behaviour:

    * **Timestamps**: the output video stream uses ``info.time_base`` and each frame keeps the
      ``pts`` it is given, so constant frame rate stays constant (same average rate) and
      variable frame rate stays variable. ``pts=None`` means "one frame after the previous"
      (``1 / info.fps`` seconds).
    * **Rotation**: ``info.display_matrix`` (or ``info.rotation``) is written as the output
      stream's display matrix; pixels are not rotated.
    * **Alpha**: with a pixel format that has an alpha plane (``yuva*``, ``rgba``...) frames are
      (H, W, 4) uint8 RGBA and the alpha is encoded as given; otherwise (H, W, 3) RGB.
    * **Pixel shape and fields**: ``info.sample_aspect_ratio`` (non-square pixels) is written to
      the output stream, and an interlaced input (``info.field_order`` >= 2) is encoded
      interlaced (libx264 ``interlaced=1`` with ``tff`` / ``bff``) with the same field order.
    * **Colour**: RGB is converted with the BT.709 matrix, limited range, and the stream is
      tagged BT.709 (for ``yuv*`` pixel formats).
    * **Odd sizes**: pixel formats with chroma subsampling (``yuv420p``) need even sizes; an odd
      width or height is padded by one column/row on the right/bottom that repeats the last
      one (so masked content stays masked), and a warning is logged. The output is then one
      pixel larger than ``info``.
    * **Audio**: when ``options.copy_audio`` and ``audio_source`` is given, every audio stream of
      ``audio_source`` is stream-copied (packets byte-identical, same pts), interleaved with the
      video as frames are written (bounded memory). All of it is copied, including packets after
      the last video frame; with ``trim_audio=True`` (for partial encodes such as previews)
      audio packets starting at or after the end of the last written frame are dropped.
    * **Up-front checks**: the container header is written when the writer opens (before any
      frame is decoded), so a suffix FFmpeg cannot write, or an audio codec the container cannot
      hold (e.g. ``pcm_u8`` in ``.mp4``), fails at once with a :class:`MediaError` naming the fix.
    * **Atomic output**: everything is written to a temporary file in the destination directory
      (``.<name>.tmp-XXXX<suffix>``, same suffix so FFmpeg picks the same muxer) and renamed to
      ``output_path`` only when :meth:`close` (= :meth:`finish` then :meth:`commit`) succeeds. The
      temporary name is shortened to fit the 255-byte file-name limit. On an exception inside the
      ``with`` block, on :meth:`abort`, or when finishing fails, the temporary file is deleted and
      an existing ``output_path`` is left untouched.

    Args:
        output_path: destination file; its suffix picks the container (``.mp4``, ``.mkv``, ...).
        info: :class:`VideoInfo` of the source (size, fps, time base, rotation).
        options: :class:`EncodeOptions` (codec, crf, preset, pix_fmt, copy_audio).
        audio_source: file whose audio streams are copied (usually the input video), or None.
        trim_audio: drop audio that starts after the last written video frame (see above;
            default False: audio is copied whole).

    Raises:
        ConfigError: unknown encoder or pixel format, or a pixel format the encoder cannot use.
        InputFileError: ``audio_source`` is missing or unreadable.
        MediaError: destination directory missing, ``audio_source`` unreadable as media, the
            encoder or muxer fails (on :meth:`write` or :meth:`close`), no frame was written.
    """

    def __init__(
        self,
        output_path: str | os.PathLike[str],
        info: VideoInfo,
        options: EncodeOptions | None = None,
        audio_source: str | os.PathLike[str] | None = None,
        *,
        trim_audio: bool = False,
    ) -> None:
        import av

        self.output_path = Path(output_path)
        self.info = info
        self.options = options = options or EncodeOptions()
        self.trim_audio = trim_audio
        self._closed = False
        self._tmp: Path | None = None
        self._out: av.container.OutputContainer | None = None
        self._audio_in: av.container.InputContainer | None = None
        self._audio_iter: Iterator[av.packet.Packet] | None = None
        self._audio_map: dict[int, object] = {}
        self._audio_pending: av.packet.Packet | None = None
        self._last_pts: int | None = None
        self._frames_written = 0
        self._finished = False
        self._committed = False

        fmt = _check_encoding(av, options, info)
        self._pad_w, self._pad_h = _padding(fmt, info.width, info.height)
        if self._pad_w or self._pad_h:
            logger.warning(
                "%s: %dx%d is not a valid %s size; padding to %dx%d by repeating the last column/row",
                self.output_path,
                info.width,
                info.height,
                options.pix_fmt,
                info.width + self._pad_w,
                info.height + self._pad_h,
            )
        self._yuv = options.pix_fmt.startswith(("yuv", "nv"))
        self._channels = 4 if any(c.is_alpha for c in fmt.components) else 3
        parent = self.output_path.parent
        if not parent.is_dir():
            raise MediaError(f"output directory does not exist: {parent}; create it first")
        audio_path = None
        if options.copy_audio and audio_source is not None:
            audio_path = check_input_file(Path(audio_source))

        self._tmp = self._create_tmp(parent)
        try:
            self._open(av, audio_path)
        except BaseException:
            self._cleanup()
            raise

    def _create_tmp(self, parent: Path) -> Path:
        """Create the (empty) temporary output next to ``output_path`` (same suffix, so FFmpeg
        picks the same muxer) and note the file mode a plain create would give (umask)."""
        fd, tmp = tempfile.mkstemp(
            prefix=f".{short_stem(self.output_path, len('.' + '.tmp-') + 8)}.tmp-",
            suffix=self.output_path.suffix,
            dir=parent,
        )
        os.close(fd)
        umask = os.umask(0o022)
        os.umask(umask)
        self._file_mode = 0o666 & ~umask
        return Path(tmp)

    def _open(self, av: ModuleType, audio_path: Path | None) -> None:
        try:
            self._out = av.open(str(self._tmp), mode="w", format=None)
        except (av.FFmpegError, ValueError) as exc:
            raise MediaError(
                f"{self.output_path}: cannot create output ({_ffmpeg_msg(exc)}); check the suffix names a "
                "container FFmpeg can write (e.g. .mp4, .mkv) and the directory is writable"
            ) from exc
        self._video = self._add_video_stream(av)
        if audio_path is not None:
            self._add_audio_streams(av, audio_path)
        try:
            self._out.start_encoding()  # header now: a container that cannot hold the streams fails here
        except (av.FFmpegError, ValueError) as exc:
            codecs = ", ".join(s.codec_context.name for s in self._out.streams)
            raise MediaError(
                f"{self.output_path}: the {self._out.format.name} container cannot hold these streams "
                f"({codecs}): {_ffmpeg_msg(exc)}; use another output suffix (.mkv holds most codecs) "
                "or turn audio copy off (--no-audio)"
            ) from exc

    def _add_video_stream(self, av: ModuleType) -> av.video.stream.VideoStream:
        """Add the video stream: codec options (x264 / x265 crf and preset, interlacing), size
        with padding, pixel format, time base, pixel aspect, field order, BT.709 tags, rotation.

        Raises:
            MediaError: FFmpeg cannot add the stream, or the codec is not a video codec.
        """
        info, options = self.info, self.options
        assert self._out is not None
        x26x = options.codec in ("libx264", "libx265")  # crf / preset are x264 / x265 options
        codec_options = {"crf": str(options.crf), "preset": options.preset} if x26x else {}
        codec_options.update(dict(options.codec_options))
        interlaced = info.field_order >= 2
        if interlaced and options.codec == "libx264":
            # same field order as the input: TT / BT show the top field first, BB / TB the bottom
            first = "tff" if info.field_order in (2, 5) else "bff"
            codec_options["x264-params"] = f"interlaced=1:{first}=1"
        try:
            stream = self._out.add_stream(options.codec, rate=info.fps, options=codec_options)
        except (av.FFmpegError, ValueError) as exc:
            raise MediaError(f"{self.output_path}: cannot add a {options.codec} stream ({_ffmpeg_msg(exc)})") from exc
        from av.video.stream import VideoStream

        if not isinstance(stream, VideoStream):
            raise MediaError(f"{self.output_path}: {options.codec} is not a video codec; choose a video encoder such as libx264")
        stream.width = info.width + self._pad_w
        stream.height = info.height + self._pad_h
        stream.pix_fmt = options.pix_fmt
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base
        if info.sample_aspect_ratio is not None:  # non-square pixels: the same shape on screen
            stream.codec_context.sample_aspect_ratio = info.sample_aspect_ratio
        if info.field_order:
            stream.codec_context.field_order = info.field_order
        if self._yuv:
            cc = stream.codec_context
            cc.colorspace = 1  # AVCOL_SPC_BT709
            cc.color_primaries = 1  # AVCOL_PRI_BT709
            cc.color_trc = 1  # AVCOL_TRC_BT709
            cc.color_range = 1  # AVCOL_RANGE_MPEG (limited)
        if info.display_matrix is not None:
            stream.set_display_matrix(info.display_matrix)
        elif info.rotation % 360:
            stream.set_display_rotation(info.rotation)
        return stream

    def _add_audio_streams(self, av: ModuleType, audio_path: Path) -> None:
        """Open ``audio_path`` and add a stream-copy output stream per audio stream of it.

        Raises:
            MediaError: the container cannot take one of the audio streams.
        """
        assert self._out is not None
        self._audio_in = open_input(audio_path)
        audio_streams = list(self._audio_in.streams.audio)
        for src in audio_streams:
            try:
                self._audio_map[src.index] = self._out.add_stream_from_template(src)
            except (av.FFmpegError, ValueError) as exc:
                raise MediaError(
                    f"{self.output_path}: cannot copy audio stream {src.index} ({src.codec_context.name}) "
                    f"of {audio_path} into this container ({_ffmpeg_msg(exc)}); use another output "
                    "suffix (.mkv) or turn audio copy off"
                ) from exc
        if audio_streams:
            self._audio_iter = self._audio_in.demux(*audio_streams)
        logger.debug("%s: copying %d audio stream(s) from %s", self.output_path, len(audio_streams), audio_path)

    # --- context manager ------------------------------------------------------------------
    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    # --- writing ------------------------------------------------------------------------
    @property
    def frames_written(self) -> int:
        """Number of frames passed to :meth:`write` so far."""
        return self._frames_written

    def write_frame(self, frame: DecodedFrame) -> None:
        """Encode a :class:`DecodedFrame` (its ``image`` and ``pts``). See :meth:`write`."""
        self.write(frame.image, frame.pts)

    def write(self, image: np.ndarray, pts: int | None = None) -> None:
        """Encode one frame.

        Args:
            image: (H, W, 3) uint8 RGB with H, W = ``info.height``, ``info.width``; (H, W, 4)
                uint8 RGBA when the pixel format has an alpha plane.
            pts: presentation timestamp in ``info.time_base`` ticks, strictly increasing; None:
                previous pts + one frame (``1 / info.fps`` s), or 0 for the first frame.

        Raises:
            MediaError: wrong image shape/dtype, non-increasing pts, writer closed, or the
                encoder/muxer failed.
        """
        import av

        if self._closed or self._out is None:
            raise MediaError(f"{self.output_path}: writer is closed")
        info = self.info
        if image.dtype != np.uint8 or image.shape != (info.height, info.width, self._channels):
            raise MediaError(
                f"{self.output_path}: frame {self._frames_written} is {image.shape} {image.dtype}, "
                f"expected ({info.height}, {info.width}, {self._channels}) uint8 {'RGBA' if self._channels == 4 else 'RGB'}"
            )
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + self._frame_ticks()
        if self._last_pts is not None and pts <= self._last_pts:
            raise MediaError(f"{self.output_path}: frame {self._frames_written} has pts {pts}, not after the previous {self._last_pts}")
        if self._pad_w or self._pad_h:
            image = np.pad(image, ((0, self._pad_h), (0, self._pad_w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgba" if self._channels == 4 else "rgb24")
        if self._yuv:
            frame = frame.reformat(
                format=self.options.pix_fmt,
                src_colorspace="ITU709",
                dst_colorspace="ITU709",
                src_color_range="JPEG",
                dst_color_range="MPEG",
            )
        frame.pts = pts
        frame.time_base = info.time_base
        try:
            packets = self._video.encode(frame)
            self._mux_audio_until(float(pts * info.time_base))
            self._out.mux(packets)
        except av.FFmpegError as exc:
            raise MediaError(f"{self.output_path}: encoding frame {self._frames_written} failed ({_ffmpeg_msg(exc)})") from exc
        self._last_pts = pts
        self._frames_written += 1

    def _frame_ticks(self) -> int:
        return max(1, round(1 / (self.info.fps * self.info.time_base)))

    def _next_audio(self) -> av.Packet | None:
        if self._audio_pending is not None:
            pkt, self._audio_pending = self._audio_pending, None
            return pkt
        if self._audio_iter is None:
            return None
        for pkt in self._audio_iter:
            if pkt.size == 0 or pkt.stream.index not in self._audio_map:
                continue  # demuxer flush packets carry no data
            return pkt
        self._audio_iter = None
        return None

    def _mux_audio_until(self, t_s: float | None) -> None:
        """Stream-copy audio packets that start before ``t_s`` seconds (all if None)."""
        while True:
            pkt = self._next_audio()
            if pkt is None:
                return
            ts = pkt.pts if pkt.pts is not None else pkt.dts
            if t_s is not None and ts is not None and float(ts * pkt.time_base) >= t_s:
                self._audio_pending = pkt
                return
            pkt.stream = self._audio_map[pkt.stream.index]
            self._container().mux(pkt)

    def _container(self) -> av.container.OutputContainer:
        """The open output container.

        Raises:
            MediaError: the writer was finished or closed.
        """
        if self._out is None:
            raise MediaError(f"{self.output_path}: writer is closed")
        return self._out

    # --- finishing ----------------------------------------------------------------------
    def finish(self) -> None:
        """Flush the encoder, copy the remaining audio and finish the temporary file, without
        moving it into place yet (the caller may write side files first, then :meth:`commit`).

        Idempotent. On failure the temporary file is deleted and ``output_path`` is untouched.

        Raises:
            MediaError: if no frame was written, or flushing/muxing failed.
        """
        import av

        if self._finished:
            return
        if self._closed:
            raise MediaError(f"{self.output_path}: writer is closed")
        try:
            if self._frames_written == 0:
                raise MediaError(f"{self.output_path}: no frames were written; nothing to save")
            out = self._container()
            assert self._last_pts is not None  # every write sets it, and frames were written
            try:
                out.mux(self._video.encode(None))
                if self.trim_audio:
                    end = self._last_pts + self._frame_ticks()
                    self._mux_audio_until(float(end * self.info.time_base))
                else:
                    self._mux_audio_until(None)
                out.close()
            except av.FFmpegError as exc:
                raise MediaError(f"{self.output_path}: finishing the video failed ({_ffmpeg_msg(exc)})") from exc
            self._out = None
            self._close_audio()
            self._finished = True
        except BaseException:
            self._cleanup()
            raise

    def commit(self) -> None:
        """Move the finished temporary file to ``output_path`` (calls :meth:`finish` if needed).

        Idempotent. On failure the temporary file is deleted.

        Raises:
            MediaError: if finishing or the rename failed.
        """
        if self._committed:
            return
        self.finish()
        try:
            if self._tmp is None:
                raise MediaError(f"{self.output_path}: the temporary video is gone (writer already cleaned up)")
            try:
                os.chmod(self._tmp, self._file_mode)  # mkstemp makes 0600; give a normal file's mode
                os.replace(self._tmp, self.output_path)
            except OSError as exc:
                raise MediaError(f"{self.output_path}: cannot move the finished video into place ({exc})") from exc
            self._tmp = None
            self._closed = self._committed = True
            logger.info("%s: wrote %d frames", self.output_path, self._frames_written)
        except BaseException:
            self._cleanup()
            raise

    def close(self) -> None:
        """Finish the file and rename it into place (:meth:`finish` + :meth:`commit`).

        Idempotent. On failure the temporary file is deleted and ``output_path`` is untouched.

        Raises:
            MediaError: if no frame was written, or flushing/muxing/renaming failed.
        """
        if self._closed:
            return
        self.commit()

    @property
    def temp_path(self) -> Path | None:
        """The temporary file being written (None once committed or aborted)."""
        return self._tmp

    def abort(self) -> None:
        """Stop without producing output: close everything and delete the temporary file."""
        self._cleanup()

    def _close_audio(self) -> None:
        if self._audio_in is not None:
            audio_in, self._audio_in = self._audio_in, None
            self._audio_iter = None
            audio_in.close()

    def _cleanup(self) -> None:
        self._closed = True
        for closer in (self._out, self._audio_in):
            if closer is None:
                continue
            try:
                closer.close()
            except Exception as exc:  # noqa: BLE001 - cleanup on an error path; the first error propagates
                logger.warning("%s: error while closing after a failure: %s", self.output_path, exc)
        self._out = None
        self._audio_in = None
        self._audio_iter = None
        if self._tmp is not None:
            try:
                self._tmp.unlink(missing_ok=True)
            except OSError as exc:
                logger.warning("%s: could not delete temporary file %s: %s", self.output_path, self._tmp, exc)
            self._tmp = None


def _check_encoding(av: ModuleType, options: EncodeOptions, info: VideoInfo) -> av.video.format.VideoFormat:
    """Check the encoder, the pixel format and the size / rate of ``info``; the pixel format's
    ``av.VideoFormat``.

    Raises:
        ConfigError: unknown encoder or pixel format, a pixel format the encoder cannot use, a
            non-positive frame size, time base or frame rate.
    """
    try:
        codec = av.Codec(options.codec, "w")
    except (av.FFmpegError, ValueError) as exc:
        raise ConfigError(f"unknown video encoder '{options.codec}' ({_ffmpeg_msg(exc)}); use e.g. libx264") from None
    if codec.type != "video":
        raise ConfigError(f"encoder '{options.codec}' is not a video encoder")
    try:
        fmt = av.VideoFormat(options.pix_fmt)
    except (av.FFmpegError, ValueError) as exc:
        raise ConfigError(f"unknown pixel format '{options.pix_fmt}' ({_ffmpeg_msg(exc)}); use e.g. yuv420p") from None
    supported = [f.name for f in (codec.video_formats or ())]
    if supported and options.pix_fmt not in supported:
        raise ConfigError(f"encoder '{options.codec}' cannot use pixel format '{options.pix_fmt}'; supported: {', '.join(supported)}")
    if info.width <= 0 or info.height <= 0:
        raise ConfigError(f"invalid frame size {info.width}x{info.height}")
    if info.time_base is None or info.time_base <= 0 or not info.fps or info.fps <= 0:
        raise ConfigError(f"invalid time base {info.time_base} or frame rate {info.fps}")
    return fmt


def _padding(fmt: av.video.format.VideoFormat, width: int, height: int) -> tuple[int, int]:
    """Columns and rows to add so that ``width`` x ``height`` fits ``fmt``'s chroma subsampling
    (0 or 1 each)."""
    chroma = [c for c in fmt.components if c.is_chroma]
    sub_w = 2 if chroma and fmt.chroma_width(2) < 2 else 1
    sub_h = 2 if chroma and fmt.chroma_height(2) < 2 else 1
    return (-width) % sub_w, (-height) % sub_h
