"""Run the adversarial cases of docs/reliability.md and print their table (markdown).

Every case builds its own input files in a scratch folder (tests/videos.py), runs the installed
``sammask`` CLI as a subprocess (or ``redact`` in-process where a fault must be injected), and
records the exit code, the outcome and whether the output folder is clean afterwards (nothing
at the output path on failure, no temporary file ever).

    .venv/bin/python tools/reliability_cases.py > /tmp/cases.md
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from videos import audio_packets, lie_about_frame_count, make_video  # noqa: E402

SAMMASK = str(Path(sys.executable).with_name("sammask"))
FAST = ["--segmenter", "box", "--effect", "solid", "--preset", "ultrafast", "-q"]
ROWS: list[tuple[str, str, str, int, str]] = []


def mot(path: Path, *rows: str) -> Path:
    path.write_text("".join(r + "\n" for r in rows))
    return path


def show(args: list[str], d: Path) -> str:
    return "sammask " + " ".join(a.replace(str(d) + "/", "") for a in args)


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except OSError:  # name too long
        return False


def clean(out_dir: Path, out: Path | None, ok: bool, existed: bool = False) -> str:
    """'clean': no temp file in the folder and, after a failure, nothing new at the output path."""
    temps = [p.name for p in out_dir.iterdir() if ".tmp" in p.name]
    if temps:
        return f"TEMP LEFT {temps}"
    if not ok and out is not None and _exists(out) and not existed:
        return "OUTPUT LEFT"
    return "clean"


def run(cls: str, case: str, d: Path, args: list[str], report: Path | None = None, note: str = "") -> int:
    out_dir = d / "out"
    out = Path(args[args.index("-o") + 1])
    existed = _exists(out)
    res = subprocess.run([SAMMASK, "redact", *args], capture_output=True, text=True)
    err = [ln.replace(str(d) + "/", "") for ln in res.stderr.splitlines() if ln.strip()]
    err = [re.sub(r", [0-9.]+ s \([0-9.]+ fps\)", "", ln) for ln in err]  # timings: not measured here
    if res.returncode == 0:
        outcome = "written"
        if report is not None and report.exists():
            r = json.loads(report.read_text())
            outcome += f", {r['frames']} frames, masked_track_frames {r['masked_track_frames']}"
            for k in ("dropped", "repaired"):
                if r[k]:
                    outcome += f", {k} {r[k]}"
        if err:
            outcome += "; stderr: " + " / ".join(f"`{ln[:110]}`" for ln in err)
    else:
        outcome = f"`{err[-1][:150]}`" if err else "(no message)"
        if len(err) != 1:
            outcome += f" ({len(err)} stderr lines)"
    if note:
        outcome += f"; {note}"
    outcome += f"; {clean(out_dir, out, res.returncode == 0, existed)}"
    ROWS.append((cls, case, show(["redact", *args], d), res.returncode, outcome))
    return res.returncode


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sammask-cases-") as tmp:
        root = Path(tmp)
        n = 0

        def case_dir() -> Path:
            nonlocal n
            n += 1
            d = root / f"c{n}"
            (d / "out").mkdir(parents=True)
            return d

        # --- class 2 ---
        d = case_dir()
        src = lie_about_frame_count(make_video(d / "in.avi", 12), 6)
        t = mot(d / "t.txt", "11,1,10,10,20,20", "12,1,30,20,20,20")
        for flags in ([], ["--lenient"]):
            rep = d / "out" / f"r{len(flags)}.json"
            run("2", "AVI header says 6 frames, holds 12; rows on frames 11-12" + (", --lenient" if flags else ""), d,
                [str(src), "-t", str(t), "-o", str(d / "out" / f"o-{len(flags)}.mp4"), "--report", str(rep), *flags, *FAST], rep)
        d = case_dir()
        src = make_video(d / "in.mp4", 24, fragmented=True)
        t = mot(d / "t.txt", "24,1,10,10,20,20")
        rep = d / "out" / "r.json"
        run("2", "fragmented MP4 (no count in header), row on the last of 24 frames", d,
            [str(src), "-t", str(t), "-o", str(d / "out" / "o.mp4"), "--report", str(rep), *FAST], rep)
        d = case_dir()
        src = make_video(d / "in.mkv", 8)
        t = mot(d / "t.txt", "2,1,10,10,20,20", "30,1,10,10,20,20")
        rep = d / "out" / "r.json"
        run("2", "MKV (no frame count), one row past the end, --lenient", d,
            [str(src), "-t", str(t), "-o", str(d / "out" / "o.mkv"), "--report", str(rep), "--lenient", *FAST], rep)
        run("2", "same, strict", d, [str(src), "-t", str(t), "-o", str(d / "out" / "o2.mkv"), *FAST])

        # --- class 3 ---
        d = case_dir()
        src = make_video(d / "in.mp4", 6)
        t = mot(d / "t.txt", "1,1,2,2,10,10", "1,1,40,20,10,10")
        rep = d / "out" / "r.json"
        run("3", "duplicate (frame, id), --lenient", d,
            [str(src), "-t", str(t), "-o", str(d / "out" / "o.mp4"), "--report", str(rep), "--lenient", *FAST], rep)
        run("3", "duplicate (frame, id), strict", d, [str(src), "-t", str(t), "-o", str(d / "out" / "o2.mp4"), *FAST])
        t = mot(d / "big.txt", f"1,{2**53},2,2,10,10", f"1,{2**53 + 1},40,20,10,10")
        rep = d / "out" / "rb.json"
        run("3", "MOT ids 2^53 and 2^53+1 on one frame", d,
            [str(src), "-t", str(t), "-o", str(d / "out" / "o3.mp4"), "--report", str(rep), *FAST], rep,
            note="ids stay distinct (no duplicate)")
        t = mot(d / "det.txt", "1,1,2,2,10,10", "2,-1,20,20,10,10,0.9,-1,-1,-1")
        for flags in ([], ["--lenient"]):
            run("3", "det.txt row with id -1" + (", --lenient" if flags else ""), d,
                [str(src), "-t", str(t), "-o", str(d / "out" / "o4.mp4"), *flags, *FAST])
        t = d / "poly.json"
        t.write_text(json.dumps({"format": "sammask-tracks", "version": 1, "frames": [{"frame_idx": 1, "detections": [
            {"track_id": 1, "type": 4, "polygon": [[2, 2], [30, 30], [2, 30], [30, 2]]},
            {"track_id": 2, "type": 4, "polygon": [[40, 5], [50, 15], [60, 25]]}]}]}))
        rep = d / "out" / "rp.json"
        run("3", "bow-tie (signed area 0) and collinear polygons", d,
            [str(src), "-t", str(t), "-o", str(d / "out" / "o5.mp4"), "--report", str(rep), *FAST], rep)
        t = d / "flaws.json"
        t.write_text(json.dumps({"format": "sammask-tracks", "version": 1, "frames": [{"frame_idx": 0, "detections": [
            {"track_id": 1, "bbox": [5, 5, 5, 20]}, {"track_id": 2, "bbox": [20, 5, 30, 20], "type": 9},
            {"track_id": 3, "bbox": [35, 5, 45, 20], "score": 1.5},
            {"track_id": 4, "bbox": [50, 5, 60, 20], "type": 4}]}]}))
        rep = d / "out" / "rf.json"
        run("3 (own)", "zero-width box, unknown type 9, score 1.5, type 4 without polygon; --lenient", d,
            [str(src), "-t", str(t), "-o", str(d / "out" / "o6.mp4"), "--report", str(rep), "--lenient", *FAST], rep)

        # --- class 4 ---
        d = case_dir()
        src = make_video(d / "in.mp4", 6)
        t = mot(d / "t.txt", "1,1,500,500,10,10", "2,1,600,10,10,10")
        run("4", "every row outside the frame, --lenient", d, [str(src), "-t", str(t), "-o", str(d / "out" / "o.mp4"), "--lenient", *FAST])
        t = mot(d / "sel.txt", "1,1,5,5,10,10")
        run("4", "--mode unselected, no de-selected row", d,
            [str(src), "-t", str(t), "-o", str(d / "out" / "o.mp4"), "--mode", "unselected", *FAST])
        t = mot(d / "empty.txt")
        rep = d / "out" / "r.json"
        run("4", "empty tracks file, -q", d, [str(src), "-t", str(t), "-o", str(d / "out" / "o.mp4"), "--report", str(rep), *FAST], rep)

        # --- class 5 ---
        d = case_dir()
        src = make_video(d / "in.mp4", 30, (320, 240))
        data = src.read_bytes()
        (d / "cut.mp4").write_bytes(data[: len(data) // 2])
        t = mot(d / "t.txt", "1,1,5,5,10,10")
        run("5", "MP4 cut in half", d, [str(d / "cut.mp4"), "-t", str(t), "-o", str(d / "out" / "o.mp4"), *FAST])
        ROWS.append(library_decode_error(d))

        # --- class 6 ---
        d = case_dir()
        src = make_video(d / "in.mp4", 6)
        t = mot(d / "t.txt", "1,1,5,5,10,10")
        os.link(src, d / "hard.mp4")
        (d / "sym.mp4").symlink_to(src)
        for what, out in (("-o = input", src), ("-o = hard link of input", d / "hard.mp4"), ("-o = symlink to input", d / "sym.mp4")):
            run("6", what + " (with -y)", d, [str(src), "-t", str(t), "-o", str(out), "-y", *FAST],
                note="input unchanged" if src.read_bytes() == (d / "hard.mp4").read_bytes() else "INPUT CHANGED")
        run("6", "--report = tracks file", d, [str(src), "-t", str(t), "-o", str(d / "out" / "o.mp4"), "--report", str(t), "-y", *FAST])
        run("6", "--report = -o", d, [str(src), "-t", str(t), "-o", str(d / "out" / "o.mp4"), "--report", str(d / "out" / "o.mp4"), *FAST])
        (d / "out" / "m").mkdir()
        run("6", "--report inside --save-masks as meta.json", d,
            [str(src), "-t", str(t), "-o", str(d / "out" / "o.mp4"), "--report", str(d / "out" / "m" / "meta.json"),
             "--save-masks", str(d / "out" / "m"), *FAST])
        (d / "out" / "m").rmdir()
        (d / "out" / "o-keep.mp4").write_bytes(b"precious")
        run("6", "existing output, no -y", d, [str(src), "-t", str(t), "-o", str(d / "out" / "o-keep.mp4"), *FAST],
            note="kept" if (d / "out" / "o-keep.mp4").read_bytes() == b"precious" else "DESTROYED")
        run("6", "existing output, -y", d, [str(src), "-t", str(t), "-o", str(d / "out" / "o-keep.mp4"), "-y", *FAST])
        run("6", "output folder missing", d, [str(src), "-t", str(t), "-o", str(d / "out" / "nope" / "o.mp4"), *FAST])
        run("6", "--report folder missing", d,
            [str(src), "-t", str(t), "-o", str(d / "out" / "o.mp4"), "--report", str(d / "out" / "nope" / "r.json"), *FAST])
        run("6", "-o x.txt", d, [str(src), "-t", str(t), "-o", str(d / "out" / "o.txt"), *FAST])
        run("6", "300-byte output name", d, [str(src), "-t", str(t), "-o", str(d / "out" / ("o" * 296 + ".mp4")), *FAST])
        run("6", "254-byte output name (temp name must be cut)", d,
            [str(src), "-t", str(t), "-o", str(d / "out" / ("o-" + "é" * 124 + ".mp4")), *FAST])
        (d / "out" / "file").write_text("x")
        run("6 (own)", "--save-masks is an existing file", d,
            [str(src), "-t", str(t), "-o", str(d / "out" / "o2.mp4"), "--save-masks", str(d / "out" / "file"), *FAST])
        d = case_dir()
        for codec in ("pcm_u8", "pcm_s16le"):
            src = make_video(d / f"in-{codec}.mkv", 6, audio=codec)
            t = mot(d / "t.txt", "1,1,5,5,10,10")
            run("6", f"{codec} audio into .mp4", d, [str(src), "-t", str(t), "-o", str(d / "out" / f"o-{codec}.mp4"), *FAST])

        # --- class 7 ---
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            ROWS.append(signal_case(case_dir(), sig))

        # --- class 8 ---
        d = case_dir()
        src = make_video(d / "in.mp4", 10, audio="aac", audio_seconds=3.0)
        t = mot(d / "t.txt", "1,1,5,5,10,10")
        out = d / "out" / "o.mp4"
        run("8", "1 s video, 3 s AAC audio", d, [str(src), "-t", str(t), "-o", str(out), *FAST])
        a, b = audio_packets(src), audio_packets(out)
        ROWS[-1] = (*ROWS[-1][:4], ROWS[-1][4] + f"; audio packets {len(b)} of {len(a)}, byte-identical: {a == b}")

    print("| class | case | command | exit | outcome |")
    print("|---|---|---|---|---|")
    for cls, case, cmd, code, outcome in ROWS:
        cmd = cmd if len(cmd) < 160 else cmd[:157] + "..."
        print(f"| {cls} | {case} | `{cmd}` | {code} | {outcome.replace('|', '/')} |")


def library_decode_error(d: Path) -> tuple[str, str, str, int, str]:
    """A decode error in the middle, surfacing in a segmenter that wraps it (library call)."""
    import sammask.pipeline as pipeline
    from sammask.errors import MediaError, SammaskError, SegmentationError
    from sammask.segmentation import FrameMasks, Segmenter
    from sammask.settings import RedactSettings

    class Wrapping(Segmenter):
        name = "wrapping"

        def segment(self, frames):
            try:
                for fp in frames:
                    yield FrameMasks(fp.frame_idx, {})
            except Exception as exc:  # noqa: BLE001
                raise SegmentationError(f"wrapped: {exc}") from exc

    real = pipeline.VideoReader.__iter__

    def failing(self):
        for f in real(self):
            if f.frame_idx == 15:
                raise MediaError("simulated corrupt middle at frame 15")
            yield f

    pipeline.VideoReader.__iter__ = failing
    try:
        pipeline.redact(d / "in.mp4", d / "t.txt", d / "out" / "o-lib.mp4", RedactSettings(segmenter="box"),
                        segmenter=Wrapping())
        code, outcome = 0, "written (WRONG)"
    except SammaskError as exc:
        code, outcome = 2, f"`{type(exc).__name__}: {str(exc)[:120]}`"
    finally:
        pipeline.VideoReader.__iter__ = real
    return ("5", "decode error at frame 15 that the segmenter wraps into SegmentationError (library)",
            "redact(in.mp4, t.txt, o-lib.mp4, segmenter=Wrapping())", code,
            outcome + f"; {clean(d / 'out', d / 'out' / 'o-lib.mp4', False)}")


def signal_case(d: Path, sig: int) -> tuple[str, str, str, int, str]:
    src = make_video(d / "in.mp4", 1500, (320, 240))
    t = mot(d / "t.txt", *(f"{i},1,10,10,50,50" for i in range(1, 1500)))
    args = [str(src), "-t", str(t), "-o", str(d / "out" / "o.mp4"), "--segmenter", "box", "--preset", "medium", "-q"]
    proc = subprocess.Popen([SAMMASK, "redact", *args], stderr=subprocess.PIPE, text=True)
    while not any((d / "out").iterdir()) and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    had_temp = [p.name for p in (d / "out").iterdir()]
    proc.send_signal(sig)
    _, err = proc.communicate()
    name = signal.Signals(sig).name
    return ("7", f"{name} mid-encode (temp file {had_temp[0][:12]}... existed)" if had_temp else f"{name}",
            show(["redact", *args], d) + f"; kill -{name[3:]}", proc.returncode,
            f"`{err.strip()[:100]}`; {clean(d / 'out', d / 'out' / 'o.mp4', False)}")


if __name__ == "__main__":
    main()
