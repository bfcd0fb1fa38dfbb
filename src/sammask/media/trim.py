"""Lossless trimming of a video to its first frames (tests, eval and benchmarks)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from sammask.errors import MediaError


def trim_video(src: Path, dst: Path, frames: int) -> int:
    """Copy the first ``frames`` frames of ``src`` to ``dst`` losslessly (H.264 ``qp=0``).

    The decoded YUV frames are re-encoded without loss, so the trimmed clip decodes to the same
    pixels as the original's first frames.

    Returns:
        The number of frames written.

    Raises:
        MediaError: if the video cannot be decoded or encoded.
    """
    import av

    written = 0
    try:
        with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
            istream = inp.streams.video[0]
            rate = Fraction(istream.average_rate or 24)
            ostream = out.add_stream("libx264", rate=rate)
            ostream.width, ostream.height = istream.codec_context.width, istream.codec_context.height
            ostream.pix_fmt = istream.codec_context.pix_fmt or "yuv420p"
            ostream.options = {"qp": "0", "preset": "ultrafast"}
            ostream.codec_context.time_base = 1 / rate
            for frame in inp.decode(istream):
                if written >= frames:
                    break
                frame.pts = written
                frame.time_base = ostream.codec_context.time_base
                for packet in ostream.encode(frame):
                    out.mux(packet)
                written += 1
            for packet in ostream.encode():
                out.mux(packet)
    except (av.error.FFmpegError, IndexError) as exc:
        raise MediaError(f"could not trim {src} to {frames} frames ({exc})") from None
    return written
