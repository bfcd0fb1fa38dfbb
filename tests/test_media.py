"""Media I/O on PyAV: probe, streaming reader, atomic H.264 writer with audio stream copy."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from sammask.errors import ConfigError, InputFileError, MediaError
from sammask.media import (
    DecodedFrame,
    EncodeOptions,
    ReadAhead,
    VideoInfo,
    VideoReader,
    VideoWriter,
    frame_count,
    probe,
)

FAST = EncodeOptions(preset="ultrafast")


def _audio_packets(path: Path) -> list[tuple[int | None, bytes]]:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        return [(p.pts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]


def _frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def _make_video(path: Path, pts: list[int], time_base: Fraction, rate: Fraction, size=(64, 48), rotation=None) -> None:
    """Encode len(pts) frames of moving gradients with the given pts (PyAV, libx264)."""
    w, h = size
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=rate, options={"crf": "10", "preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.time_base = time_base
        s.codec_context.time_base = time_base
        if rotation is not None:
            s.set_display_rotation(rotation)
        yy, xx = np.mgrid[0:h, 0:w]
        for i, p in enumerate(pts):
            img = np.stack([(xx * 4 + i * 9) % 256, (yy * 5) % 256, np.full_like(xx, (i * 37) % 256)], -1)
            f = av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")
            f.pts, f.time_base = p, time_base
            c.mux(s.encode(f))
        c.mux(s.encode(None))


def _transcode(src: Path, dst: Path, options: EncodeOptions = FAST, audio: bool = True, max_frames=None) -> VideoInfo:
    with VideoReader(src) as r, VideoWriter(dst, r.info, options, src if audio else None) as w:
        for f in r:
            if max_frames is not None and f.frame_idx >= max_frames:
                break
            w.write_frame(f)
    return r.info


# --- probe / reader ---------------------------------------------------------------------


def test_probe_reads_real_clip(shared_data: Path) -> None:
    info = probe(shared_data / "videos" / "pingpong-720p.mp4")
    assert (info.width, info.height) == (1280, 720)
    assert info.fps == 24 and info.codec == "h264"
    assert info.num_frames == 230 and info.num_frames_exact
    assert info.audio_streams == 1 and info.rotation == 0 and info.display_matrix is None
    assert info.duration_s == pytest.approx(230 / 24, abs=1e-3)


def test_reader_streams_rgb_frames_with_timestamps(davis_seq) -> None:
    seq = davis_seq("rollerblade")
    n_masks = len(list((seq / "masks").glob("*.png")))
    with VideoReader(seq / "video.mp4") as r:
        frames = []
        for f in r:
            assert isinstance(f, DecodedFrame)
            assert f.image.shape == (480, 854, 3) and f.image.dtype == np.uint8
            assert f.time_s == pytest.approx(float(f.pts * r.info.time_base))
            frames.append((f.frame_idx, f.time_s, float(f.image.mean())))
        with pytest.raises(MediaError, match="iterated once"):
            iter(r)
    assert [i for i, _, _ in frames] == list(range(n_masks))
    assert np.allclose(np.diff([t for _, t, _ in frames]), 1 / 24)
    assert 10 < np.mean([m for _, _, m in frames]) < 245  # real picture content, not blank
    assert frame_count(seq / "video.mp4") == n_masks


# --- round trip -------------------------------------------------------------------------


def test_round_trip_davis_keeps_frames_rate_and_pixels(davis_seq, tmp_path: Path) -> None:
    src = davis_seq("rollerblade") / "video.mp4"
    dst = tmp_path / "out.mp4"
    info = _transcode(src, dst, EncodeOptions(crf=18, preset="veryfast"))
    out = probe(dst)
    assert out.codec == "h264" and out.fps == info.fps == 24
    assert (out.width, out.height) == (info.width, info.height)
    assert frame_count(dst) == frame_count(src) == 35  # decodes fully
    assert _frame_times(dst) == pytest.approx(_frame_times(src), abs=1e-9)
    diffs = []
    with VideoReader(src) as a, VideoReader(dst) as b:
        for fa, fb in zip(a, b, strict=True):
            diffs.append(np.abs(fa.image.astype(np.int16) - fb.image.astype(np.int16)).mean())
    assert max(diffs) < 4.0, diffs  # codec tolerance at crf 18 (measured max 2.9 on 2 cores)
    with av.open(str(dst)) as c:  # tagged with the matrix the writer converted with
        cc = c.streams.video[0].codec_context
        assert (cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range) == (1, 1, 1, 1)
    assert list(tmp_path.iterdir()) == [dst]  # no temp file left behind


def test_audio_is_stream_copied_byte_identical(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "videos" / "pingpong-720p.mp4"
    dst = tmp_path / "with_audio.mp4"
    with VideoReader(src) as r, VideoWriter(dst, r.info, FAST, src, trim_audio=True) as w:  # 2.0 s of video
        for f in r:
            if f.frame_idx >= 48:
                break
            w.write_frame(f)
    assert probe(dst).audio_streams == 1
    assert frame_count(dst) == 48
    src_packets = _audio_packets(src)
    expected = [p for p in src_packets if p[0] * Fraction(1, 48000) < 2]  # audio trimmed to the video
    got = _audio_packets(dst)
    assert len(expected) > 90
    assert got == expected  # same pts, byte-identical payloads

    dst2 = tmp_path / "no_audio.mp4"
    _transcode(src, dst2, EncodeOptions(preset="ultrafast", copy_audio=False), max_frames=6)
    assert probe(dst2).audio_streams == 0
    assert _audio_packets(dst2) == []


def test_audio_untrimmed_copies_all_packets(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "videos" / "cloth-magic-720p.mp4"
    dst = tmp_path / "out.mp4"
    with VideoReader(src) as r, VideoWriter(dst, r.info, FAST, src, trim_audio=False) as w:
        for f in r:
            w.write_frame(f)
            if f.frame_idx == 5:
                break
    assert _audio_packets(dst) == _audio_packets(src)


def test_variable_frame_rate_timestamps_preserved(tmp_path: Path) -> None:
    src = tmp_path / "vfr.mp4"
    tb = Fraction(1, 1000)
    pts = [0, 40, 70, 150, 160, 300, 310, 333, 500, 540, 900, 1000]
    _make_video(src, pts, tb, Fraction(12))
    assert _frame_times(src) == pytest.approx([p / 1000 for p in pts])
    dst = tmp_path / "out.mp4"
    _transcode(src, dst)
    assert _frame_times(dst) == pytest.approx([p / 1000 for p in pts], abs=1e-9)


def test_rotation_read_and_kept(tmp_path: Path) -> None:
    src = tmp_path / "rot.mp4"
    _make_video(src, list(range(6)), Fraction(1, 24), Fraction(24), rotation=90)
    info = probe(src)
    assert info.rotation == 90 and info.display_matrix is not None
    with av.open(str(src)) as c:  # cross-check with FFmpeg's own reading
        assert next(c.decode(video=0)).rotation == 90
    with VideoReader(src) as r:  # pixels as stored, not rotated
        assert next(iter(r)).image.shape == (48, 64, 3)
    dst = tmp_path / "out.mp4"
    _transcode(src, dst)
    out = probe(dst)
    assert out.rotation == 90 and out.display_matrix == info.display_matrix
    # an info built without a raw matrix: the rotation alone is written
    dst2 = tmp_path / "out270.mp4"
    with VideoWriter(dst2, replace(info, rotation=270, display_matrix=None), FAST) as w:
        w.write(np.zeros((48, 64, 3), np.uint8))
    assert probe(dst2).rotation == 270
    for deg in (180, 270):
        p = tmp_path / f"r{deg}.mp4"
        _make_video(p, [0, 1], Fraction(1, 24), Fraction(24), rotation=deg)
        assert probe(p).rotation == deg


def test_odd_size_is_padded_with_edge_pixels(tmp_path: Path) -> None:
    info = VideoInfo(Path("x"), 63, 47, Fraction(10), Fraction(1, 10), 3, True, 0.3, 0, "h264", 0)
    dst = tmp_path / "odd.mp4"
    img = np.zeros((47, 63, 3), np.uint8)
    img[:, -1] = 255  # last column white, rest black
    with VideoWriter(dst, info, EncodeOptions(crf=0, preset="ultrafast")) as w:
        for _ in range(3):
            w.write(img)
    out = probe(dst)
    assert (out.width, out.height) == (64, 48)
    with VideoReader(dst) as r:
        frames = list(r)
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.1, 0.2])  # pts=None: 1/fps apart
    assert frames[0].image[:, -2:].mean() > 200  # padding repeats the last column
    assert frames[0].image[:, :-4].mean() < 20


# --- errors -----------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    for fn in (probe, frame_count, VideoReader):
        with pytest.raises(InputFileError, match="not found"):
            fn(tmp_path / "nope.mp4")


def test_text_file_named_mp4(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    for fn in (probe, frame_count, VideoReader):
        with pytest.raises(MediaError, match=r"notes.mp4"):
            fn(bad)


def test_file_without_video_stream(tmp_path: Path) -> None:
    wav = tmp_path / "tone.wav"
    with av.open(str(wav), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        c.mux(s.encode(frame))
        c.mux(s.encode(None))
    with pytest.raises(MediaError, match="no video stream"):
        probe(wav)


@pytest.mark.parametrize("name", ["pingpong-720p.mp4", "bedroom-540p.mp4"])  # index first / index last
def test_truncated_real_mp4(shared_data: Path, tmp_path: Path, name: str) -> None:
    data = (shared_data / "videos" / name).read_bytes()
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(data[: int(len(data) * 0.3)])
    with pytest.raises(MediaError, match="cut-"):
        probe(cut)
    with pytest.raises(MediaError, match="cut-"):
        with VideoReader(cut) as r:
            for _ in r:
                pass


def test_corrupt_mid_stream_names_frame(shared_data: Path, tmp_path: Path) -> None:
    """A file that opens but fails part way: the error names the frame index reached."""
    src = shared_data / "videos" / "pingpong-720p.mp4"
    data = bytearray(src.read_bytes())
    # Read the index entry's fields while the container is open: PyAV's IndexEntry points into
    # the demuxer's memory and reads freed memory once the container is closed.
    with av.open(str(src)) as c:
        entries = c.streams.video[0].index_entries
        n_entries = len(entries)
        e = entries[n_entries // 2]
        cut_at = int(e.pos) + int(e.size) // 2
    # A file cut inside a packet: probe's index check catches it ...
    cut = tmp_path / "midcut.mp4"
    cut.write_bytes(bytes(data[:cut_at]))
    with pytest.raises(MediaError, match="truncated"):
        probe(cut)
    # ... and a reader opened on the intact file, whose bytes are then cut while it reads, fails
    # during iteration (it must not just end early), naming the frame index it reached.
    victim = tmp_path / "victim.mp4"
    victim.write_bytes(bytes(data))
    with VideoReader(victim) as r:
        it = iter(r)
        first = [next(it) for _ in range(3)]
        victim.write_bytes(bytes(data[:cut_at]))
        with pytest.raises(MediaError, match=r"victim\.mp4.*frame \d+") as ei:
            for _ in it:
                pass
    assert [f.frame_idx for f in first] == [0, 1, 2]
    reached = int(str(ei.value).split("frame ")[1].split()[0].rstrip(",;"))
    assert 3 <= reached < n_entries


def test_writer_exception_leaves_nothing(davis_seq, tmp_path: Path) -> None:
    src = davis_seq("rollerblade") / "video.mp4"
    dst = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoReader(src) as r, VideoWriter(dst, r.info, FAST, src) as w:
            for f in r:
                w.write_frame(f)
                if f.frame_idx == 5:
                    raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_failed_run_leaves_existing_output_untouched(davis_seq, tmp_path: Path) -> None:
    src = davis_seq("rollerblade") / "video.mp4"
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous result")
    info = probe(src)
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(dst, info, FAST, src) as w:
            w.write(np.zeros((480, 854, 3), np.uint8))
            assert len(list(tmp_path.glob(".out.tmp-*.mp4"))) == 1  # temp file beside, same suffix
            raise KeyboardInterrupt
    assert dst.read_bytes() == b"previous result"
    # a close that fails (no frame written) also keeps the old file and removes the temp file
    with pytest.raises(MediaError, match="no frames"):
        with VideoWriter(dst, info, FAST, src):
            pass
    # a bad frame raises MediaError from write(); the with block then cleans up
    with pytest.raises(MediaError, match="expected \\(480, 854, 3\\) uint8"):
        with VideoWriter(dst, info, FAST, src) as w:
            w.write(np.zeros((480, 854), np.uint8))
    with pytest.raises(MediaError, match="not after the previous"):
        with VideoWriter(dst, info, FAST) as w:
            w.write(np.zeros((480, 854, 3), np.uint8), 100)
            w.write(np.zeros((480, 854, 3), np.uint8), 100)
    assert dst.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    # and a successful run replaces it
    with VideoWriter(dst, info, FAST, src) as w:
        w.write(np.zeros((480, 854, 3), np.uint8))
    assert probe(dst).codec == "h264"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_unusable_settings(tmp_path: Path) -> None:
    info = VideoInfo(Path("x"), 64, 48, Fraction(10), Fraction(1, 10), 3, True, 0.3, 0, "h264", 0)
    with pytest.raises(ConfigError, match="pixel format"):
        VideoWriter(tmp_path / "a.mp4", info, EncodeOptions(pix_fmt="rgb48be"))
    with pytest.raises(ConfigError, match="encoder"):
        VideoWriter(tmp_path / "a.mp4", info, EncodeOptions(codec="no_such_codec"))
    with pytest.raises(MediaError, match="directory"):
        VideoWriter(tmp_path / "missing" / "a.mp4", info)
    with pytest.raises(InputFileError):
        VideoWriter(tmp_path / "a.mp4", info, EncodeOptions(), audio_source=tmp_path / "none.mp4")
    assert list(tmp_path.iterdir()) == []


def test_read_ahead_yields_the_readers_frames_and_errors(shared_data: Path, tmp_path: Path) -> None:
    """ReadAhead: same frames in the same order; a mid-stream decode error reaches the consumer
    after the frames decoded before it; closing early stops the decode thread."""
    import threading

    src = shared_data / "videos" / "pingpong-720p.mp4"
    with VideoReader(src) as r:
        direct = [(f.frame_idx, f.pts, f.image[::97, ::97].copy()) for f in r]
    with VideoReader(src) as r, ReadAhead(r, depth=2) as ahead:
        seen = [(f.frame_idx, f.pts, f.image[::97, ::97].copy()) for f in ahead]
    assert [s[:2] for s in seen] == [d[:2] for d in direct]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(seen, direct))

    data = src.read_bytes()
    with av.open(str(src)) as c:
        entries = c.streams.video[0].index_entries
        cut_at = int(entries[len(entries) // 2].pos) + 10
    victim = tmp_path / "victim.mp4"
    victim.write_bytes(data)
    with VideoReader(victim) as r, ReadAhead(r, depth=1) as ahead:
        it = iter(ahead)
        assert next(it).frame_idx == 0
        victim.write_bytes(data[:cut_at])
        got = 1
        with pytest.raises(MediaError, match=r"victim\.mp4.*frame \d+"):
            for _ in it:
                got += 1
    assert got < len(direct)

    with VideoReader(src) as r, ReadAhead(r, depth=1) as ahead:
        it = iter(ahead)
        next(it)
    assert not any(t.name == "sammask-decode" for t in threading.enumerate())
    with pytest.raises(MediaError, match="iterated once"):
        iter(ahead)


def test_writer_takes_rgba_only_for_pixel_formats_with_alpha(tmp_path):
    """The alpha path (sammask matte): RGBA into yuva420p keeps the alpha plane; RGB into it and
    RGBA into yuv420p are refused with the expected shape named."""
    info = VideoInfo(tmp_path / "x.mp4", 32, 16, Fraction(10), Fraction(1, 10), 2, True, 0.2, 0, "h264", 0)
    rgba = np.zeros((16, 32, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, 16:, 3] = 255
    vp9 = EncodeOptions(codec="libvpx-vp9", pix_fmt="yuva420p", codec_options=(("crf", "10"), ("b", "0")), copy_audio=False)
    with VideoWriter(tmp_path / "a.webm", info, vp9) as w:
        with pytest.raises(MediaError, match=r"expected \(16, 32, 4\) uint8 RGBA"):
            w.write(rgba[..., :3].copy(), 0)
        w.write(rgba, 0)
    with av.open(str(tmp_path / "a.webm")) as c:
        cc = av.CodecContext.create("libvpx-vp9", "r")  # FFmpeg's native vp9 decoder drops alpha
        frames = [f for p in c.demux(c.streams.video[0]) for f in cc.decode(p)]
    assert [f.format.name for f in frames] == ["yuva420p"]
    alpha = frames[0].to_ndarray(format="rgba")[..., 3].astype(int)
    assert np.abs(alpha - rgba[..., 3]).max() <= 3
    with VideoWriter(tmp_path / "b.mp4", info, EncodeOptions(copy_audio=False)) as w:
        with pytest.raises(MediaError, match=r"expected \(16, 32, 3\) uint8 RGB"):
            w.write(rgba, 0)
        w.write(rgba[..., :3].copy(), 0)
