"""Segmentation checkpoints, and ``sammask batch`` (serial, process pool, local Ray) over clips cut
from shared DAVIS sequences."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from service_helpers import decoded_frames, make_clip
from typer.testing import CliRunner

from sammask.batch.checkpoint import (
    CheckpointDetection,
    CheckpointError,
    CheckpointSegmenter,
)
from sammask.batch.options import JobSettings
from sammask.batch.runner import SUMMARY_FILE, plan_batch, run_batch
from sammask.cli import app
from sammask.detection import DetectAndTrack, FrameDetections, Detector, TrackingOptions
from sammask.export.applied import read_applied_masks
from sammask.segmentation import FrameMasks, FramePrompts, Segmenter, TrackPrompt


class RandomMasks(Segmenter):
    """Masks from a seeded RNG per frame (so every frame's answer is known), counting the frames it sees."""

    name = "random"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def segment(self, frames: Iterable[FramePrompts]) -> Iterator[FrameMasks]:
        for fp in frames:
            self.seen.append(fp.frame_idx)
            rng = np.random.default_rng(fp.frame_idx)
            masks = {p.track_id: rng.random(fp.image.shape[:2]) > 0.5 for p in fp.prompts}
            if fp.frame_idx % 3 == 0 and fp.prompts:
                masks[fp.prompts[0].track_id] = None  # "no mask": must come back as None
            yield FrameMasks(fp.frame_idx, masks, dict.fromkeys(masks, 0.5))


def stream(n: int) -> Iterator[FramePrompts]:
    image = np.zeros((6, 8, 3), np.uint8)
    for i in range(n):
        yield FramePrompts(i, image, [TrackPrompt(t, (0.0, 0.0, 4.0, 4.0)) for t in range(1 + i % 2)])


def same(a: FrameMasks, b: FrameMasks) -> bool:
    return (
        a.frame_idx == b.frame_idx
        and a.masks.keys() == b.masks.keys()
        and all((a.masks[t] is None and b.masks[t] is None) or np.array_equal(a.masks[t], b.masks[t]) for t in a.masks)
    )


@settings(max_examples=20, deadline=None)
@given(total=st.integers(1, 12), stop=st.integers(0, 12), torn=st.booleans())
def test_checkpoint_resume_replays_finished_frames_and_equals_an_uninterrupted_run(total, stop, torn, tmp_path_factory):
    stop = min(stop, total)
    path = tmp_path_factory.mktemp("ck") / "ck.jsonl"
    expected = list(RandomMasks().segment(stream(total)))
    first = CheckpointSegmenter(RandomMasks(), path, "fp")
    gen = first.segment(stream(total))
    for _ in range(stop):
        next(gen)
    gen.close()  # the run stops here (a kill leaves the same file: lines are flushed one by one)
    if torn:
        with path.open("a") as fh:
            fh.write('{"frame_idx": 99, "masks": {"1": {"size": [6, 8], "cou')
    inner = RandomMasks()
    second = CheckpointSegmenter(inner, path, "fp")
    got = list(second.segment(stream(total)))
    assert second.replayed == stop and second.segmented == total - stop
    assert inner.seen == list(range(stop, total))  # finished frames are not segmented again
    assert len(got) == total and all(same(a, b) for a, b in zip(got, expected))


def test_checkpoint_of_another_run_is_discarded_and_a_mismatch_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "ck.jsonl"
    list(CheckpointSegmenter(RandomMasks(), path, "run-a").segment(stream(4)))
    inner = RandomMasks()
    other = CheckpointSegmenter(inner, path, "run-b")
    assert other.available == 0 and len(list(other.segment(stream(4)))) == 4 and inner.seen == [0, 1, 2, 3]
    shifted = (FramePrompts(fp.frame_idx + 1, fp.image, fp.prompts) for fp in stream(4))
    with pytest.raises(CheckpointError, match="frame 0"):
        list(CheckpointSegmenter(RandomMasks(), path, "run-b").segment(shifted))


class RandomBoxes(Detector):
    """0-3 boxes per image from a seeded RNG (irrational coordinates: float32 must survive the
    checkpoint exactly), counting the images it sees."""

    name = "random-boxes"
    classes = ("face",)

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def detect(self, image: np.ndarray) -> FrameDetections:
        self.calls += 1
        n = int(self.rng.integers(0, 4))
        x = self.rng.random((n, 2)) * 300
        xyxy = np.concatenate([x, x + 20 + self.rng.random((n, 2)) * 50], axis=1)
        return FrameDetections(xyxy, self.rng.random(n) * 0.8 + 0.2, ("face",) * n)


class _Frame:
    def __init__(self, i: int) -> None:
        self.frame_idx, self.image = i, np.zeros((8, 8, 3), np.uint8)


def tracked(stream: DetectAndTrack, n: int) -> list[list[tuple[int, tuple[float, ...]]]]:
    return [[(d.track_id, d.bbox) for d in dets] for _, dets in stream.run(_Frame(i) for i in range(n))]


@settings(max_examples=15, deadline=None)
@given(total=st.integers(1, 30), stop=st.integers(0, 30), seed=st.integers(0, 10**6), torn=st.booleans())
def test_detection_checkpoint_resume_gives_the_tracks_of_an_uninterrupted_run(total, stop, seed, torn, tmp_path_factory):
    stop = min(stop, total)
    opts = TrackingOptions(max_gap=2, margin=1)
    expected = tracked(DetectAndTrack([RandomBoxes(seed)], opts, min_score=0.3), total)
    path = tmp_path_factory.mktemp("dck") / "ck.detect"
    first = CheckpointDetection(DetectAndTrack([RandomBoxes(seed)], opts, min_score=0.3), path, "fp")
    for i in range(stop):
        first.detect(_Frame(i).image)  # the detector ran on `stop` frames, then the process died
    first.close()
    if torn:
        with path.open("a") as fh:
            fh.write('{"frame_idx": 99, "xyxy": [[1.0, 2.')
    inner = RandomBoxes(seed)  # a fresh process whose detector answers each frame as before:
    for _ in range(stop):
        inner.detect(_Frame(0).image)  # the RNG stands at frame `stop`, as a real detector would
    inner.calls = 0
    resumed = CheckpointDetection(DetectAndTrack([inner], opts, min_score=0.3), path, "fp")
    got = tracked(resumed, total)
    resumed.close()
    assert resumed.available == resumed.replayed == stop and resumed.detected == total - stop
    assert inner.calls == total - stop  # finished frames are not detected again
    assert got == expected
    other = CheckpointDetection(DetectAndTrack([RandomBoxes(seed)], opts), path, "another run")
    assert other.available == 0
    other.close()


@pytest.fixture(scope="module")
def videos(davis_seq, tmp_path_factory) -> Path:
    """A folder of three short clips in DAVIS layout (``<seq>/video.mp4`` + ``gt.txt``)."""
    root = tmp_path_factory.mktemp("batch-in")
    for seq in ("hike", "bus", "car-turn"):
        make_clip(davis_seq(seq), root / seq, 8)
    return root


def outputs(out_dir: Path, names: list[str]) -> dict[str, list[np.ndarray]]:
    return {n: decoded_frames(out_dir / f"{n}.mp4") for n in names}


@pytest.mark.slow  # starts a local Ray cluster
def test_batch_serial_pool_and_ray_write_the_same_masked_videos(videos: Path, tmp_path: Path) -> None:
    items = plan_batch([str(videos)])
    names = [i.name for i in items]
    assert names == ["bus-video", "car-turn-video", "hike-video"]
    settings = JobSettings(segmenter="box").to_redact_settings()
    serial = run_batch(items, tmp_path / "serial", settings, save_masks=True)
    assert serial.backend == "serial" and not serial.failed and len(serial.results) == 3
    pool = run_batch(items, tmp_path / "pool", settings, jobs=2, save_masks=True)
    ray = run_batch(items, tmp_path / "ray", settings, jobs=2, ray_address="auto", save_masks=True)
    assert pool.backend == "pool:2" and ray.backend == "ray:auto"
    assert not pool.failed and not ray.failed
    ref = outputs(tmp_path / "serial", names)
    for other in ("pool", "ray"):
        for name in names:
            ref_masks = [a.applied for a in read_applied_masks(tmp_path / "serial" / f"{name}.masks")]
            masks = [a.applied for a in read_applied_masks(tmp_path / other / f"{name}.masks")]
            assert len(masks) == len(ref_masks) == 8
            assert all(np.array_equal(a, b) for a, b in zip(masks, ref_masks)), (other, name)
        got = outputs(tmp_path / other, names)
        for name in names:
            assert len(got[name]) == 8
            worst = min(10 * np.log10(255.0**2 / max(np.mean((a.astype(float) - b) ** 2), 1e-12)) for a, b in zip(got[name], ref[name]))
            assert worst >= 35.0, (other, name, worst)  # x264 is not bit-reproducible under load
    summary = json.loads((tmp_path / "ray" / SUMMARY_FILE).read_text())
    assert summary["done"] == 3 and summary["failed"] == 0 and summary["frames"] == 24
    assert not list((tmp_path / "ray" / ".checkpoints").glob("*.jsonl*"))  # checkpoints removed once done


def test_batch_cli_reports_per_video_failures_and_skips_finished_outputs(videos: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for seq in ("hike", "bus"):
        (inputs / f"{seq}.mp4").write_bytes((videos / seq / "video.mp4").read_bytes())
    (inputs / "hike.txt").write_bytes((videos / "hike" / "gt.txt").read_bytes())  # bus has no tracks
    (inputs / "broken.mp4").write_bytes(b"not a video")
    (inputs / "broken.txt").write_bytes((videos / "hike" / "gt.txt").read_bytes())
    out = tmp_path / "out"
    runner = CliRunner()
    args = ["batch", str(inputs / "*.mp4"), "-o", str(out), "--segmenter", "box"]
    first = runner.invoke(app, args)
    assert first.exit_code == 2, first.output
    summary = json.loads((out / SUMMARY_FILE).read_text())
    by_name = {Path(r["output"]).stem: r for r in summary["results"]}
    assert by_name["hike"]["ok"] and by_name["hike"]["report"]["frames"] == 8
    assert not by_name["bus"]["ok"] and "no tracks found" in by_name["bus"]["error"]
    assert not by_name["broken"]["ok"] and by_name["broken"]["error"].startswith("MediaError")
    assert not (out / "bus.mp4").exists() and not (out / "broken.mp4").exists()
    assert "failed" in first.output and "hike" in first.output
    mtime = (out / "hike.mp4").stat().st_mtime_ns
    second = runner.invoke(app, args)
    assert second.exit_code == 2
    again = json.loads((out / SUMMARY_FILE).read_text())
    assert again["skipped"] == 1 and again["failed"] == 2 and (out / "hike.mp4").stat().st_mtime_ns == mtime


def test_batch_redoes_a_video_whose_tracks_or_settings_changed_and_skips_it_otherwise(videos: Path, tmp_path: Path) -> None:
    """Issue 14 class 6: rows added to a tracks file after a finished run are masked by the re-run."""
    from sammask.tracks import Tracks
    from sammask.tracks.io import read_tracks
    from sammask.tracks.mot import write_mot

    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "hike.mp4").write_bytes((videos / "hike" / "video.mp4").read_bytes())
    full = read_tracks(videos / "hike" / "gt.txt")
    write_mot(Tracks.from_detections(d for d in full if d.frame_idx < 4), inputs / "hike.txt")
    out = tmp_path / "out"
    args = ["batch", str(inputs / "hike.mp4"), "-o", str(out), "--segmenter", "box", "--effect", "solid", "--dilate", "0"]
    runner = CliRunner()
    assert runner.invoke(app, args).exit_code == 0
    late = [d for d in full if d.frame_idx >= 4]
    assert late

    def box_max(frames: list[np.ndarray], det) -> int:  # brightest pixel inside the box, 2 px in from its edges
        bx1, by1, bx2, by2 = det.bbox
        patch = frames[det.frame_idx][int(np.ceil(by1)) + 2 : int(np.floor(by2)) - 2, int(np.ceil(bx1)) + 2 : int(np.floor(bx2)) - 2]
        assert patch.size
        return int(patch.max())

    before = decoded_frames(out / "hike.mp4")
    assert all(box_max(before, d) > 100 for d in late)  # the first run did not mask the late rows' boxes
    write_mot(full, inputs / "hike.txt")  # the late rows: frames 4..7
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert json.loads((out / SUMMARY_FILE).read_text())["skipped"] == 0
    frames = decoded_frames(out / "hike.mp4")
    for det in late:  # solid: black up to x264's ringing at the box edge (21 seen inset by 1 px; 40 allowed)
        assert box_max(frames, det) <= 40, det
    mtime = (out / "hike.mp4").stat().st_mtime_ns
    third = runner.invoke(app, args)
    assert json.loads((out / SUMMARY_FILE).read_text())["skipped"] == 1
    assert (out / "hike.mp4").stat().st_mtime_ns == mtime and third.exit_code == 0
    fourth = runner.invoke(app, [*args[:-1], "4"])  # another setting: redone
    assert fourth.exit_code == 0 and json.loads((out / SUMMARY_FILE).read_text())["skipped"] == 0


def test_failed_videos_keep_no_checkpoint(tmp_path: Path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    (inputs / "broken.mp4").write_bytes(b"not a video")
    (inputs / "broken.txt").write_text("1,1,0,0,4,4,1,-1,-1,-1\n")
    (out / ".checkpoints").mkdir(parents=True)
    stale = out / ".checkpoints" / "broken.jsonl"
    stale.write_text("left by an earlier attempt\n")
    result = CliRunner().invoke(app, ["batch", str(inputs / "broken.mp4"), "-o", str(out), "--segmenter", "box"])
    assert result.exit_code == 2
    assert not stale.exists() and not stale.with_name("broken.jsonl.detect").exists()


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def test_batch_pool_workers_die_with_a_killed_batch_and_the_folder_lock_is_released(videos: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from service_helpers import pid_alive, wait_for

    from sammask.batch.process import FolderLock

    out = tmp_path / "out"
    cmd = [str(Path(sys.executable).parent / "sammask"), "batch", str(videos), "-o", str(out), "--jobs", "2", "--segmenter", "grabcut"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:

        def two_workers() -> set[int]:
            assert proc.poll() is None, "the batch ended before its workers were seen"
            kids = {p for p in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()}
            return kids if len(kids) >= 2 else set()

        workers = wait_for(two_workers, 60.0, what="two pool workers")
        everyone = _children(proc.pid)  # the workers and multiprocessing's resource tracker
        second = CliRunner().invoke(app, ["batch", str(videos), "-o", str(out), "--segmenter", "box"])
        assert second.exit_code == 2 and "another batch" in second.output
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_for(lambda: not any(pid_alive(p) for p in everyone), 20.0, what="the pool's processes to die")
        assert workers <= everyone
        with FolderLock(out / ".checkpoints", "batch"):  # a re-run can take the folder
            pass
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_batch_refuses_a_foreign_output_without_y_and_replaces_it_masked_with_y(videos: Path, tmp_path: Path) -> None:
    """Issue 14: batch has -y; an existing output it did not write is refused before any work without it."""
    from sammask.tracks.io import read_tracks

    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    (inputs / "hike.mp4").write_bytes((videos / "hike" / "video.mp4").read_bytes())
    (inputs / "hike.txt").write_bytes((videos / "hike" / "gt.txt").read_bytes())
    foreign = out / "hike.mp4"
    foreign.write_bytes(b"someone else's video")
    args = ["batch", str(inputs / "hike.mp4"), "-o", str(out), "--segmenter", "box", "--effect", "solid", "--dilate", "0"]
    runner = CliRunner()
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sammask: error:") and "-y" in lines[0] and "hike.mp4" in lines[0]
    assert foreign.read_bytes() == b"someone else's video"
    assert sorted(p.name for p in out.iterdir()) == ["hike.mp4"]  # no summary, no checkpoints, no report

    replaced = runner.invoke(app, [*args, "-y"])
    assert replaced.exit_code == 0, replaced.output
    frames = decoded_frames(foreign)
    assert len(frames) == 8
    for det in read_tracks(inputs / "hike.txt"):  # solid, dilate 0: every pixel of every box is black
        x1, y1, x2, y2 = det.bbox
        patch = frames[det.frame_idx][int(np.ceil(y1)) + 2 : int(np.floor(y2)) - 2, int(np.ceil(x1)) + 2 : int(np.floor(x2)) - 2]
        assert patch.size and int(patch.max()) <= 40, det  # x264 ringing at the box edge (see the test above)

    mtime = foreign.stat().st_mtime_ns
    for again in (args, [*args, "-y"]):  # the batch's own finished output: skipped (resume), with or without -y
        res = runner.invoke(app, again)
        assert res.exit_code == 0, res.output
        assert json.loads((out / SUMMARY_FILE).read_text())["skipped"] == 1 and foreign.stat().st_mtime_ns == mtime


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _all_descendants(pid: int) -> set[int]:
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for p in frontier for c in _children(p)} - found
        found |= frontier
    return found


@pytest.mark.slow  # starts a local Ray cluster
def test_batch_ray_processes_die_with_a_killed_batch(videos: Path, tmp_path: Path) -> None:
    """Issue 15 defect 12 for --ray: without the reaper Ray's agents outlived kill -9 by ~60 s (Ray 2.60)."""
    import os
    import signal
    import subprocess
    import sys

    from service_helpers import pid_alive, wait_for

    cmd = [
        str(Path(sys.executable).parent / "sammask"),
        "batch",
        str(videos),
        "-o",
        str(tmp_path / "out"),
        "--ray",
        "auto",
        "--jobs",
        "2",
        "--segmenter",
        "grabcut",
    ]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a local Ray started by the batch
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    everyone: set[int] = set()
    try:

        def ray_running() -> set[int]:
            assert proc.poll() is None, "the batch ended before its Ray workers were seen"
            kids = _all_descendants(proc.pid)
            names = {p: _cmdline(p) for p in kids}
            worker = any("default_worker" in n or n.startswith(("ray::IDLE", "ray::run_task")) for n in names.values())
            agents = sum(n.startswith(("ray::DashboardAgent", "ray::RuntimeEnvAgent")) for n in names.values())
            return kids if worker and agents == 2 and any("raylet" in n for n in names.values()) else set()

        everyone = wait_for(ray_running, 120.0, what="the local Ray's raylet, agents and a worker")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # Ray's agents alone linger ~60 s after their raylet's death; 20 s tells the reaper's work apart
        wait_for(lambda: not any(pid_alive(p) for p in everyone), 20.0, what="every process of the local Ray to die")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in everyone:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
