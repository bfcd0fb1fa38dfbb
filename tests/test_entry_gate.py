"""Issue 14, classes 1 and 2: every entry point passes one gate (:func:`sammask.spec.run.gate`).

Class 1: inputs destroyed through unguarded paths (tracks filtered in memory, ``--masks``
inputs, ``--config``, ``detect -o INPUT``, ``detect --report`` in place, ``--preview`` without
``-y``, annotate and batch outputs). Class 2: outputs whose muxer writes several files or no
video. Each case builds its own files; each asserts exit 2, one ``sammask: error:`` line, every
input byte-identical and nothing new at the output. A hypothesis property runs entry points x
aliasing kinds (same path, symlink, hard link, ``..``) x output slots.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner
from videos import make_video

from sammask.cli import app
from sammask.errors import ConfigError, OutputPathError
from sammask.spec.containers import SINGLE_FILE_CONTAINERS, check_single_file_container
from sammask.spec.options import AUTO_DILATE, OPTIONS, Source, check_sources

runner = CliRunner()
FAST = ["--preset", "ultrafast", "--quiet", "--segmenter", "box"]
TRACKS = "1,1,10,10,8,8,1,-1,-1,-1\n2,1,10,10,8,8,1,-1,-1,-1\n"


def _run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def _digest(root: Path) -> dict[str, str]:
    """Path -> sha256 of every file under ``root`` (symlinks by their target text)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p)] = "link:" + os.readlink(p)
        elif p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _refused(res, *needles: str) -> str:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("sammask: error: "), res.output
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("clip") / "in.mp4", 3)


@pytest.fixture()
def job(clip: Path, tmp_path: Path) -> tuple[Path, Path]:
    video = tmp_path / "in.mp4"
    shutil.copy(clip, video)
    tracks = tmp_path / "t.txt"
    tracks.write_text(TRACKS)
    return video, tracks


# --- class 1 ------------------------------------------------------------------------------


@pytest.mark.parametrize("filt", [["--min-score", "0.5"], ["--classes", "face"]])
def test_filtered_tracks_are_still_an_input(job, tmp_path: Path, filt: list[str]) -> None:
    """--min-score / --classes read the tracks in memory: --report TRACKS -y was not refused."""
    video, tracks = job
    before = _digest(tmp_path)
    _refused(
        _run("redact", video, "-t", tracks, "-o", tmp_path / "o.mp4", "--report", tracks, "-y", *filt, *FAST), "--report", "--tracks file"
    )
    assert _digest(tmp_path) == before


def test_config_is_an_input(job, tmp_path: Path) -> None:
    video, tracks = job
    cfg = tmp_path / "c.ini"
    cfg.write_text("[sam2]\neffect = solid\n")
    before = _digest(tmp_path)
    for flag in ("--report", "-o"):
        args = {"-o": tmp_path / "o.mp4", "--report": tmp_path / "r.json"}
        args[flag] = cfg
        _refused(_run("redact", video, "-t", tracks, "--config", cfg, "-o", args["-o"], "--report", args["--report"], "-y", *FAST))
    assert _digest(tmp_path) == before


def test_masks_inputs_are_inputs(job, tmp_path: Path) -> None:
    """A COCO masks file and a saved-masks folder's meta.json may not be overwritten."""
    from sammask.export import write_masks

    video, _ = job
    m = np.zeros((48, 64), bool)
    m[10:20, 10:20] = True
    coco = write_masks([(0, {1: m})], tmp_path / "m.json", "coco", width=64, height=48)
    res = _run("redact", video, "--masks", coco, "--masks-any-video", "-o", tmp_path / "o.mp4", "--save-masks", tmp_path / "saved", *FAST)
    assert res.exit_code == 0, res.output
    before = _digest(tmp_path)
    _refused(
        _run("redact", video, "--masks", coco, "--masks-any-video", "-o", tmp_path / "o2.mp4", "--report", coco, "-y", *FAST),
        "--masks input",
    )
    saved = tmp_path / "saved"
    _refused(
        _run(
            "redact", video, "--masks", saved, "--masks-any-video", "-o", tmp_path / "o2.mp4", "--report", saved / "meta.json", "-y", *FAST
        ),
        "--masks input",
    )
    _refused(_run("redact", video, "--masks", saved, "--masks-any-video", "-o", tmp_path / "o2.mp4", "--save-masks", saved, "-y", *FAST))
    assert _digest(tmp_path) == before


def test_detect_never_writes_over_an_input_or_an_existing_file(job, tmp_path: Path) -> None:
    video, _ = job
    existing = tmp_path / "old.json"
    existing.write_text('{"frames": []}')
    before = _digest(tmp_path)
    _refused(_run("detect", video, "-o", video, "-q"), "-o")  # -o INPUT.mp4
    _refused(_run("detect", video, "-o", video, "-q", "-y"), "-o")
    _refused(_run("detect", video, "-o", tmp_path / "t.json", "--report", video, "-q", "-y"), "--report")
    _refused(_run("detect", video, "-o", existing, "-q"), "already exists", "-y/--overwrite")
    _refused(_run("detect", video, "-o", tmp_path / "t.json", "--report", tmp_path / "t.json", "-q", "-y"))
    assert _digest(tmp_path) == before


def test_preview_needs_overwrite(job, tmp_path: Path) -> None:
    video, tracks = job
    sheet = tmp_path / "o.mp4.preview.png"
    sheet.write_bytes(b"not a png")
    before = _digest(tmp_path)
    _refused(_run("redact", video, "-t", tracks, "-o", tmp_path / "o.mp4", "--preview", "1", *FAST), "--preview", "-y/--overwrite")
    _refused(_run("detect", video, "-o", tmp_path / "o.mp4", "--preview", "1", "-q"), "--preview")
    assert _digest(tmp_path) == before
    res = _run("redact", video, "-t", tracks, "-o", tmp_path / "o.mp4", "--preview", "1", "-y", *FAST)
    assert res.exit_code == 0, res.output
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_annotate_checks_outputs_first_and_leaves_nothing_on_failure(job, tmp_path: Path) -> None:
    video, _ = job
    out = tmp_path / "out"
    out.mkdir()
    prompts = out / "masks.coco.json"  # where the coco export would go
    prompts.write_text(json.dumps([{"frame_idx": 0, "obj_id": 1, "box": [10, 10, 20, 20]}]))
    before = _digest(tmp_path)
    _refused(_run("annotate", video, "--prompts", prompts, "-o", out, "-y"), "--prompts file")
    _refused(_run("annotate", video, "--prompts", prompts, "-o", video, "-y"), "-o")
    assert _digest(tmp_path) == before
    # a failure after the gate (a prompt past the end) leaves no folder and no temporary
    late = tmp_path / "late.json"
    late.write_text(
        json.dumps([{"frame_idx": 0, "obj_id": 1, "box": [10, 10, 20, 20]}, {"frame_idx": 99, "obj_id": 2, "box": [1, 1, 20, 20]}])
    )
    before = _digest(tmp_path)
    names = sorted(os.listdir(tmp_path))
    _refused(_run("annotate", video, "--prompts", late, "-o", tmp_path / "new", "-f", "coco", "-f", "png", "-q"))
    assert sorted(os.listdir(tmp_path)) == names and _digest(tmp_path) == before
    # success: both exports; a second run needs -y and replaces them
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps([{"frame_idx": 0, "obj_id": 1, "box": [10, 10, 20, 20]}]))
    assert _run("annotate", video, "--prompts", ok, "-o", tmp_path / "new", "-f", "coco", "-f", "png", "-q").exit_code == 0
    assert sorted(os.listdir(tmp_path / "new")) == ["ids", "masks.coco.json"]
    _refused(_run("annotate", video, "--prompts", ok, "-o", tmp_path / "new", "-f", "png", "-q"), "already exists")
    assert _run("annotate", video, "--prompts", ok, "-o", tmp_path / "new", "-f", "png", "-q", "-y").exit_code == 0
    assert sorted(os.listdir(tmp_path)) == sorted([*names, "ok.json", "new"])


def test_batch_output_folder_may_not_hold_or_be_an_input(job, tmp_path: Path) -> None:
    video, tracks = job
    shutil.copy(tracks, tmp_path / "in.txt")  # the sidecar tracks of in.mp4
    before = _digest(tmp_path)
    _refused(_run("batch", video, "-o", tmp_path, "--segmenter", "box"), "input video")  # OUT/in.mp4 is the input
    _refused(_run("batch", tmp_path, "-o", tmp_path / "sub", "--segmenter", "box"), "input folder")
    assert _digest(tmp_path) == before and not (tmp_path / "sub").exists()


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["-o", "o.mp4", "--report", "o.mp4"], "same file"),
        (["-o", "o.mp4", "--report", "d/meta.json", "--save-masks", "d"], "--save-masks"),
        (["-o", "o.mp4", "--report", "sub/../o.mp4"], "same file"),
        (["-o", "o.mp4", "--preview", "1", "--report", "o.mp4.preview.png"], "same file"),
    ],
)
def test_outputs_may_not_collide(job, tmp_path: Path, monkeypatch, extra: list[str], needle: str) -> None:
    video, tracks = job
    (tmp_path / "sub").mkdir()
    (tmp_path / "d").mkdir()
    monkeypatch.chdir(tmp_path)
    before = _digest(tmp_path)
    _refused(_run("redact", video, "-t", tracks, *extra, "-y", *FAST), needle)
    assert _digest(tmp_path) == before and not any((tmp_path / "d").iterdir())


def test_config_values_get_the_table_bounds(job, tmp_path: Path) -> None:
    video, tracks = job
    cfg = tmp_path / "c.ini"
    cfg.write_text("[sam2]\nstride = 100000\n")
    before = _digest(tmp_path)
    _refused(
        _run("redact", video, "-t", tracks, "--config", cfg, "-o", tmp_path / "o.mp4", *FAST[:3]),
        f"--stride must be {OPTIONS['stride'].bounds}",
    )
    assert _digest(tmp_path) == before


def test_eval_outputs_are_gated(tmp_path: Path) -> None:
    seq = tmp_path / "seq"
    seq.mkdir()
    (seq / "gt.txt").write_text("1,1,1,1,4,4,1,-1,-1,-1\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.md").write_text("old table")
    before = _digest(tmp_path)
    _refused(_run("eval", seq, "-c", "box", "-o", seq / "tables"), "inside the sequence folder")
    _refused(_run("eval", seq, "-c", "box", "-o", out), "summary.md already exists", "-y/--overwrite")
    assert _digest(tmp_path) == before and not (seq / "tables").exists()


# --- class 2 ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".m3u8", ".mpd", ".ffmeta", ".yuv", ".rgb", ".webm", ".avi", ".ts", ""])
def test_only_single_file_containers(job, tmp_path: Path, suffix: str) -> None:
    video, tracks = job
    before = sorted(os.listdir(tmp_path))
    _refused(_run("redact", video, "-t", tracks, "-o", tmp_path / f"o{suffix}", *FAST), "single-file container")
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("suffix", list(SINGLE_FILE_CONTAINERS))
def test_allowed_containers_hold_the_video(job, tmp_path: Path, suffix: str) -> None:
    from sammask.media import probe

    video, tracks = job
    out = tmp_path / f"o{suffix}"
    res = _run("redact", video, "-t", tracks, "-o", out, *FAST)
    assert res.exit_code == 0, res.output
    info = probe(out)
    assert info.num_frames == 3 and info.codec == "h264"
    assert sorted(os.listdir(tmp_path)) == sorted(["in.mp4", "t.txt", out.name])
    assert check_single_file_container(out) == SINGLE_FILE_CONTAINERS[suffix][0]


# --- option table and the service ---------------------------------------------------------


def test_option_table_is_the_one_source_of_help_and_bounds() -> None:
    from sammask.batch.options import JobSettings

    props = JobSettings.model_json_schema()["properties"]
    for name, o in OPTIONS.items():
        if name in props:
            assert props[name]["description"] == o.help_text
    dilate = props["dilate"]
    assert AUTO_DILATE in dilate["description"] and "[default: 8]" not in dilate["description"]
    for cmd in ("redact", "batch"):
        text = " ".join(runner.invoke(app, [cmd, "--help"]).output.split())
        assert f"[default: {AUTO_DILATE}]" in text and "[default: 8]" not in text
    html = (Path(__file__).parents[1] / "src/sammask/service/static/index.html").read_text()
    assert 'value="8"' not in html and 'data-option="dilate"' in html
    with pytest.raises(ConfigError, match=r"classes \(--classes\) applies with a tracks file only"):
        check_sources({"classes"}, Source.DETECT)


@pytest.mark.parametrize(
    "settings,needle",
    [
        ({"stride": 10**30}, "stride"),
        ({"dilate": 10**400}, "dilate"),
        ({"input_size": 10**6}, "input_size"),
        ({"max_gap": -1}, "max_gap"),
        ({"model": "sam2.1_hiera_tiny"}, "model (--model)"),  # no sam2 segmenter
        ({"segmenter": "sam2", "model": "gpt-4"}, "gpt-4"),
        ({"segmenter": "sam2", "device": "tpu"}, "device"),
        ({"device": "cuda"}, "device (--device)"),  # no sam2 segmenter
        ({"preview": 3}, "preview"),  # not a job setting
    ],
)
def test_service_refuses_settings_at_submission(tmp_path: Path, settings: dict, needle: str) -> None:
    from fastapi.testclient import TestClient

    from sammask.service.app import ServiceConfig, create_app

    with TestClient(
        create_app(ServiceConfig(data_dir=tmp_path / "data", workers=0)), base_url="http://127.0.0.1"
    ) as client:  # without a token only loopback Hosts are served
        r = client.post("/v1/jobs", files={"video": ("v.mp4", b"x" * 10, "video/mp4")}, data={"settings": json.dumps(settings)})
    assert r.status_code == 422, r.text
    assert needle in r.text


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--device", "cuda"], "device (--device)"),
        (["--no-crop"], "crop (--crop)"),
        (["--model-path", "x.pt"], "model_path (--model-path)"),
        (["--min-score", "0.5", "--masks", "m.json"], "give exactly one"),
        (["--scale", "640x480"], "scale (--scale) applies with built-in detection"),
    ],
)
def test_redact_refuses_options_that_do_not_apply(job, tmp_path: Path, args: list[str], needle: str) -> None:
    video, tracks = job
    before = _digest(tmp_path)
    _refused(_run("redact", video, "-t", tracks, "-o", tmp_path / "o.mp4", *args, *FAST), needle)
    assert _digest(tmp_path) == before


# --- property: entry points x aliasing kinds x output slots --------------------------------

KINDS = ("same", "symlink", "hardlink", "dotdot")


def _alias(kind: str, target: Path, root: Path, suffix: str) -> Path:
    """A path naming ``target`` another way (hard links for files only)."""
    if kind == "same":
        return target
    if kind == "dotdot":
        (root / "sub").mkdir(exist_ok=True)
        return root / "sub" / ".." / target.relative_to(root)
    link = root / f"alias{suffix}"
    if kind == "symlink":
        link.symlink_to(target)
    else:
        os.link(target, link)
    return link


def _case(command: str, slot: str, victim: str, kind: str, root: Path, clip: Path) -> list[object]:
    video = root / "in.mp4"
    shutil.copy(clip, video)
    tracks = root / "t.txt"
    tracks.write_text(TRACKS)
    cfg = root / "c.ini"
    cfg.write_text("[sam2]\neffect = solid\n")
    prompts = root / "p.json"
    prompts.write_text(json.dumps([{"frame_idx": 0, "obj_id": 1, "box": [10, 10, 20, 20]}]))
    inputs = {"video": video, "tracks": tracks, "config": cfg, "prompts": prompts}
    if command == "annotate":  # the folder output aliases the input's folder, the export its name
        target = inputs[victim]
        named = target.with_name("masks.coco.json")
        target.rename(named)
        inputs[victim] = named
        out = _alias("symlink" if kind == "hardlink" else kind, root, root.parent, "") if kind != "same" else root
        if kind == "dotdot":
            out = root / "sub" / ".."
        return ["annotate", inputs["video"], "--prompts", inputs["prompts"], "-o", out, "-y", "-q"]
    if command == "batch":
        out = _alias("symlink" if kind == "hardlink" else kind, root, root.parent, "") if kind != "same" else root
        if kind == "dotdot":
            out = root / "sub" / ".."
        return ["batch", video, "-o", out, "--segmenter", "box", "--preset", "ultrafast"]
    suffix = {"-o": ".mp4" if command.startswith("redact") else ".json", "--report": ".json", "--save-masks": ""}[slot]
    target = _alias(kind, inputs[victim], root, suffix)
    outs = {"-o": root / ("o.mp4" if command.startswith("redact") else "o.json"), "--report": root / "r.json"}
    outs[slot] = target
    if command == "detect":
        return ["detect", video, "-o", outs["-o"], "--report", outs["--report"], "-y", "-q"]
    extra = ["--min-score", "0.1"] if command == "redact-filtered" else []
    extra += ["--save-masks", target] if slot == "--save-masks" else []
    return ["redact", video, "-t", tracks, "--config", cfg, "-o", outs["-o"], "--report", outs["--report"], *extra, "-y", *FAST]


@st.composite
def _cases(draw):
    command = draw(st.sampled_from(["redact", "redact-filtered", "detect", "annotate", "batch"]))
    kind = draw(st.sampled_from(KINDS))
    if command == "detect":
        return command, draw(st.sampled_from(["-o", "--report"])), "video", kind
    if command == "annotate":
        return command, "-o", draw(st.sampled_from(["video", "prompts"])), kind
    if command == "batch":
        return command, "-o", "video", kind
    return (command, draw(st.sampled_from(["-o", "--report", "--save-masks"])), draw(st.sampled_from(["video", "tracks", "config"])), kind)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_cases())
def test_no_entry_point_writes_over_an_input(clip: Path, case: tuple[str, str, str, str]) -> None:
    command, slot, victim, kind = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "run"
        root.mkdir()
        args = _case(command, slot, victim, kind, root, clip)
        before = _digest(Path(tmp))
        res = _run(*args)
        _refused(res)
        assert _digest(Path(tmp)) == before, (case, res.output)


def test_gate_refuses_in_the_library_too(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="single-file container"):
        check_single_file_container(tmp_path / "x.m3u8")


@pytest.mark.browser
@pytest.mark.service
def test_jobs_page_shows_the_table_defaults_never_a_fixed_dilate(tmp_path: Path) -> None:
    """The jobs page pre-fills nothing: its numeric fields take bounds and default text from the
    server's option table (OpenAPI), so dilate reads "auto: 8 px per 480 px ...", never 8."""
    from playwright.sync_api import expect, sync_playwright
    from service_helpers import Server

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium is not None, "Debian's chromium is not installed: run `make test` (it installs it)"
    srv = Server(tmp_path / "data").start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(srv.url + "/")
            dilate = page.locator("#dilate")
            expect(dilate).to_have_attribute("placeholder", AUTO_DILATE)
            expect(dilate).to_have_value("")
            expect(dilate).to_have_attribute("max", str(int(OPTIONS["dilate"].maximum)))
            expect(page.locator("#strength")).to_have_attribute("placeholder", "3")
            expect(page.locator("#strength")).to_have_attribute("max", "5")
            browser.close()
    finally:
        srv.stop()


def test_preview_into_missing_folder_is_an_output_path_error(job, tmp_path: Path) -> None:
    """A missing preview folder is an output problem (OutputPathError), not a missing input."""
    from sammask.errors import InputFileError
    from sammask.masking.options import MaskingOptions
    from sammask.preview import write_preview
    from sammask.tracks import read_tracks

    video, tracks = job
    with pytest.raises(OutputPathError, match="preview folder does not exist") as info:
        write_preview(video, tmp_path / "gone" / "p.png", 1, MaskingOptions(), tracks=read_tracks(tracks))
    assert not isinstance(info.value, InputFileError)
    assert not (tmp_path / "gone").exists()
