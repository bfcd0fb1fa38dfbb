"""Small test videos built by the tests themselves (PyAV): bright frames, chosen container, frame
count, audio codec and length, fragmented MP4."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BRIGHT = 230


def redact_argv(video: Path | str, tracks: Path | str, out: Path | str, *options: str) -> list[str]:
    """``sammask redact`` arguments: ``redact VIDEO --tracks TRACKS -o OUT *options``."""
    return ["redact", str(video), "--tracks", str(tracks), "-o", str(out), *options]


def make_video(
    path: Path,
    frames: int,
    size: tuple[int, int] = (64, 48),
    *,
    fps: int = 10,
    value: int = BRIGHT,
    audio: str | None = None,
    audio_seconds: float | None = None,
    fragmented: bool = False,
    image: np.ndarray | None = None,
    rotation: int | None = None,
    display_matrix: list[int] | None = None,
) -> Path:
    """Encode ``frames`` bright (value +- texture) frames of ``size`` (W, H) into ``path``.

    Args:
        image: (H, W, 3) uint8 RGB to encode on every frame instead of the bright texture.
        rotation / display_matrix: display rotation (degrees, counter-clockwise) or raw 9-int
            display matrix to put on the video stream (PyAV ``set_display_rotation`` / ``_matrix``).
        audio: audio codec to add (``aac``, ``pcm_s16le``, ``pcm_u8``), or None.
        audio_seconds: audio length (default: as long as the video).
        fragmented: MP4 with ``frag_keyframe+empty_moov`` (no frame count in the header).
    """
    w, h = size
    options = {"movflags": "frag_keyframe+empty_moov"} if fragmented else {}
    with av.open(str(path), "w", options=options) as c:
        v = c.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "10", "g": "5"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        if rotation is not None:
            v.set_display_rotation(rotation)
        if display_matrix is not None:
            v.set_display_matrix(display_matrix)
        a = None
        if audio is not None:
            fmt = {"aac": "fltp", "pcm_s16le": "s16", "pcm_u8": "u8"}[audio]
            a = c.add_stream(audio, rate=8000 if audio != "aac" else 16000, layout="mono")
            a_fmt = fmt
        _yy, xx = np.mgrid[0:h, 0:w]
        for i in range(frames):
            if image is not None:
                img = image.astype(np.int16)
            else:
                img = np.full((h, w, 3), value, np.int16)
                img[..., 0] += ((xx + i) % 7) - 3  # a little texture, still bright
            f = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            f.pts = i
            f.time_base = Fraction(1, fps)
            c.mux(v.encode(f))
        c.mux(v.encode(None))
        if a is not None:
            rate = a.rate
            total = int(rate * (audio_seconds if audio_seconds is not None else frames / fps))
            chunk = 1024
            dtype = {"fltp": np.float32, "s16": np.int16, "u8": np.uint8}[a_fmt]
            for start in range(0, total, chunk):
                n = min(chunk, total - start)
                t = (np.arange(start, start + n) / rate).astype(np.float32)
                x = 0.3 * np.sin(2 * np.pi * 440 * t)
                if a_fmt == "s16":
                    x = (x * 32767).astype(np.int16)
                elif a_fmt == "u8":
                    x = (x * 127 + 128).astype(np.uint8)
                af = av.AudioFrame.from_ndarray(x.astype(dtype).reshape(1, -1), format=a_fmt, layout="mono")
                af.sample_rate = rate
                af.pts = start
                c.mux(a.encode(af))
            c.mux(a.encode(None))
    return path


OBJECT_FRAME = (96, 64)
"""(W, H) of :func:`make_object_clip`'s stored frames."""
OBJECT = (slice(6, 22), slice(60, 84))
"""Rows 6..21, columns 60..83 of the stored frame: where :func:`make_object_clip` puts its object."""


def make_object_clip(path: Path, *, rotation: int | None = None, matrix: list[int] | None = None, frames: int = 4) -> np.ndarray:
    """Write a clip whose stored frames hold a bright object (250) at :data:`OBJECT` on a dark
    (40) ground, with an optional display rotation or matrix; return the (H, W) bool object mask
    (a corner pixel is left out: the object is not a perfect rectangle)."""
    w, h = OBJECT_FRAME
    obj = np.zeros((h, w), dtype=bool)
    obj[OBJECT] = True
    obj[OBJECT[0].start, OBJECT[1].start] = False
    img = np.full((h, w, 3), 40, np.uint8)
    img[obj] = 250
    make_video(path, frames, (w, h), image=img, rotation=rotation, display_matrix=matrix)
    return obj


def lie_about_frame_count(avi: Path, frames: int) -> Path:
    """Rewrite an AVI's header frame counts (``avih`` dwTotalFrames, ``strh`` dwLength) to
    ``frames``: a container header that lies, as some recorders write them."""
    import struct

    data = bytearray(avi.read_bytes())
    i, j = data.find(b"avih"), data.find(b"strh")
    struct.pack_into("<I", data, i + 8 + 16, frames)
    struct.pack_into("<I", data, j + 8 + 32, frames)
    avi.write_bytes(bytes(data))
    return avi


def decode(path: Path) -> list[np.ndarray]:
    """Every frame of the first video stream, (H, W, 3) uint8 RGB."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def audio_packets(path: Path) -> list[tuple[int | None, bytes]]:
    """(pts, payload) of every audio packet of the first audio stream."""
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        return [(p.pts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]


def dark(img: np.ndarray, limit: int = 60) -> np.ndarray:
    """(H, W) bool: pixels a solid black fill made dark (inputs are bright)."""
    return img.max(axis=2) <= limit


def write_lossless(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """Encode (H, W, 3) uint8 RGB ``frames`` losslessly (H.264, ``qp`` 0, yuv420p) into ``path``:
    a clip whose decoded frames are the given ones up to chroma subsampling."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"qp": "0"}
        for img in frames:
            out.mux(st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(st.encode())
    return path


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """(h, w) uint8 smooth random texture (8 px cells, cubic): something optical flow can follow."""
    import cv2

    small = np.random.default_rng(seed).integers(0, 255, (max(h // 8, 1), max(w // 8, 1)), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
