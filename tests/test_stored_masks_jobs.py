"""Issue 20, one stored-mask path: ``sammask batch --masks`` and the service's ``masks`` upload take
COCO, MOTS, PNG id maps and applied-mask exports through ``redact --masks``'s path
(:func:`sammask.export.read_masks` -> :func:`sammask.annotate.redact.stored_mask_prompts`).

Each format: every stored-mask pixel is masked in the **decoded output** (solid black, dilation
0, on bright frames), and masks of another video (or MOTS, which records none) are refused unless
``--masks-any-video`` / ``masks_any_video`` says the user knows; a refused video leaves no output.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner
from videos import decode, make_video

from sammask.cli import app
from sammask.export import read_masks, write_masks
from sammask.export.applied import AppliedMaskWriter
from sammask.errors import ExportError
from sammask.media import video_identity
from sammask.service.app import ServiceConfig
from service_helpers import LiveApp, wait_for

runner = CliRunner()
W, H, N = 64, 48, 5
SETTINGS = {"effect": "solid", "dilate": 0, "preset": "ultrafast"}
FLAGS = ["--effect", "solid", "--dilate", "0", "--preset", "ultrafast"]
DARK = 40
"""Largest mean RGB a masked pixel may decode to (solid black on frames of 230): measured 5 for
every format (2026-12-06, x264 ultrafast CRF 18)."""


def _masks() -> list[tuple[int, dict[int, np.ndarray]]]:
    """Two objects per frame: a moving disc and an L shape (not boxes: the boxes would cover more)."""
    yy, xx = np.mgrid[0:H, 0:W]
    out = []
    for i in range(N):
        disc = (yy - 20) ** 2 + (xx - 14 - 3 * i) ** 2 <= 64
        ell = np.zeros((H, W), bool)
        ell[26:44, 40:46] = True
        ell[38:44, 46:60] = True
        out.append((i, {1: disc, 7: ell}))
    return out


def _write(fmt: str, path: Path, video: Path) -> Path:
    """The masks of :func:`_masks` as ``fmt`` at ``path``, recording ``video`` where the format can."""
    made = video_identity(video, width=W, height=H, frames=N)
    if fmt == "applied":
        with AppliedMaskWriter(path, W, H, video=made) as w:
            for i, masks in _masks():
                w.write(i, masks, np.logical_or.reduce(list(masks.values())))
        return path
    return write_masks(_masks(), path, fmt, width=W, height=H, video=made)


NAMES = {"coco": "{}.masks.json", "mots": "{}.masks.txt", "png": "{}.masks", "applied": "{}.masks"}


def _assert_masked(out: Path) -> None:
    """Every stored-mask pixel of every frame is dark in the decoded output; the rest is not masked."""
    frames = decode(out)
    assert len(frames) == N
    for (i, masks), frame in zip(_masks(), frames, strict=True):
        union = np.logical_or.reduce(list(masks.values()))
        luma = frame.astype(np.float32).mean(axis=2)
        assert luma[union].max() <= DARK, (i, luma[union].max())
        assert np.median(luma[~union]) > 200, i  # masks, not boxes or the whole frame


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    return {"a": make_video(root / "a.mp4", N, (W, H)), "other": make_video(root / "other.mp4", N, (W, H), value=220)}


def _summary_errors(out: Path) -> dict[str, str | None]:
    summary = json.loads((out / "batch-summary.json").read_text())
    return {Path(r["input"]).name: r["error"] for r in summary["results"]}


@pytest.mark.parametrize("fmt", ["coco", "mots", "png", "applied"])
def test_batch_applies_each_stored_mask_format_and_refuses_masks_of_another_video(clips, tmp_path: Path, fmt: str) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(clips["a"], videos / "a.mp4")
    shutil.copy(clips["other"], videos / "b.mp4")
    _write(fmt, videos / NAMES[fmt].format("a"), clips["a"])
    _write(fmt, videos / NAMES[fmt].format("b"), clips["a"])  # a's masks beside b: another video
    out = tmp_path / "out"
    res = runner.invoke(app, ["batch", str(videos), "-o", str(out), "--masks", *FLAGS])
    assert res.exit_code == 2, res.output
    errors = _summary_errors(out)
    assert "masks made on a.mp4, not b.mp4" in errors["b.mp4"] or fmt == "mots", errors
    assert not (out / "b.mp4").exists() and not (out / "b.report.json").exists()
    if fmt == "mots":  # records no video: refused on its own video too, applied when the user says so
        assert "do not record which video" in errors["a.mp4"] and not (out / "a.mp4").exists(), errors
        res = runner.invoke(app, ["batch", str(videos / "a.mp4"), "-o", str(out), "--masks", "--masks-any-video", *FLAGS])
        assert res.exit_code == 0, res.output
    else:
        assert errors["a.mp4"] is None, errors
    report = json.loads((out / "a.report.json").read_text())
    assert report["segmenter"] == "masks" and report["fallback_total"] == 0
    _assert_masked(out / "a.mp4")


def test_batch_masks_dir_takes_a_previous_batchs_saved_masks_and_the_gate_refuses_mixed_sources(clips, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(clips["a"], videos / "a.mp4")
    first = tmp_path / "first"
    first.mkdir()
    _write("png", first / "a.masks", clips["a"])
    res = runner.invoke(app, ["batch", str(videos), "-o", str(tmp_path / "out"), "--masks-dir", str(first), *FLAGS])
    assert res.exit_code == 0, res.output
    _assert_masked(tmp_path / "out" / "a.mp4")
    for extra, needle in (
        (["--detect", "faces"], "one source"),
        (["--tracks-dir", str(first)], "one source"),
        (["--classes", "face"], "classes (--classes) applies with a tracks file only"),
    ):
        res = runner.invoke(app, ["batch", str(videos), "-o", str(tmp_path / "o2"), "--masks", *extra, *FLAGS])
        assert res.exit_code == 2 and needle in res.output, res.output
    # the masks are inputs to the gate: a --save-masks output onto them is refused before any work
    before = sorted(p.name for p in (first / "a.masks").iterdir())
    res = runner.invoke(app, ["batch", str(videos), "-o", str(first), "--masks-dir", str(first), "--save-masks", "-y", *FLAGS])
    assert res.exit_code == 2 and "sammask: error:" in res.output and "a.masks" in res.output, res.output
    assert sorted(p.name for p in (first / "a.masks").iterdir()) == before and not (first / "a.mp4").exists()
    res = runner.invoke(app, ["batch", str(videos), "-o", str(tmp_path / "o3"), "--masks-any-video", *FLAGS])
    assert res.exit_code == 2 and "masks_any_video (--masks-any-video) applies with a masks export" in res.output
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()


def test_batch_masks_a_stored_mask_too_thin_for_its_box_by_its_box_and_counts_it(clips, tmp_path: Path) -> None:
    """Fail-secure as in ``redact --masks``: a diagonal line covers < 10 % of its own box -> the box."""
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(clips["a"], videos / "a.mp4")
    line = np.zeros((H, W), bool)
    idx = np.arange(8, 40)
    line[idx, idx + 10] = True  # 32 pixels in a 32 x 32 box: 3 %
    made = video_identity(clips["a"], width=W, height=H, frames=N)
    write_masks([(i, {3: line}) for i in range(N)], videos / "a.masks.json", "coco", width=W, height=H, video=made)
    res = runner.invoke(app, ["batch", str(videos), "-o", str(tmp_path / "out"), "--masks", *FLAGS])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "out" / "a.report.json").read_text())
    assert report["fallbacks"].get("low_coverage") == N, report["fallbacks"]
    for frame in decode(tmp_path / "out" / "a.mp4"):
        assert frame[8:40, 18:50].astype(np.float32).mean(axis=2).max() <= DARK  # the whole box


# --- the service: POST /v1/jobs with a masks part --------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with LiveApp(ServiceConfig(data_dir=tmp_path_factory.mktemp("svc") / "data", workers=2)) as app_:
        yield app_


def _upload(fmt: str, folder: Path, video: Path) -> bytes:
    """The bytes a client uploads: COCO / MOTS files as they are, folders zipped (inside a folder)."""
    path = _write(fmt, folder / NAMES[fmt].format("m"), video)
    if path.is_file():
        return path.read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(path.iterdir()):
            zf.write(f, f"job-masks/{f.name}")
    return buf.getvalue()


def _run_job(live: LiveApp, video: Path, masks: bytes, settings: dict) -> dict:
    with httpx.Client(base_url=live.url, timeout=30) as c:
        resp = c.post(
            "/v1/jobs", files={"video": ("v.mp4", video.read_bytes()), "masks": ("upload", masks)}, data={"settings": json.dumps(settings)}
        )
        assert resp.status_code == 201, resp.text
        job_id = resp.json()["id"]
        return wait_for(lambda: (j := c.get(f"/v1/jobs/{job_id}").json())["state"] in ("done", "failed") and j, 120, 0.1, f"job {job_id}")


@pytest.mark.service
@pytest.mark.parametrize("fmt", ["coco", "mots", "png", "applied"])
def test_service_applies_each_stored_mask_format_and_refuses_masks_of_another_video(live, clips, tmp_path: Path, fmt: str) -> None:
    masks = _upload(fmt, tmp_path, clips["a"])
    refused = _run_job(live, clips["other"], masks, SETTINGS)
    assert refused["state"] == "failed", refused
    assert ("do not record which video" if fmt == "mots" else "masks made on a.mp4") in refused["error"], refused
    assert str(live.svc.data_dir) not in refused["error"]
    with httpx.Client(base_url=live.url, timeout=30) as c:
        assert c.get(f"/v1/jobs/{refused['id']}/result").status_code == 409
    done = _run_job(live, clips["a"], masks, {**SETTINGS, "masks_any_video": fmt == "mots"})
    assert done["state"] == "done", done
    assert done["report"]["segmenter"] == "masks" and done["report"]["fallback_total"] == 0
    with httpx.Client(base_url=live.url, timeout=30) as c:
        (tmp_path / "out.mp4").write_bytes(c.get(f"/v1/jobs/{done['id']}/result").content)
    _assert_masked(tmp_path / "out.mp4")


def test_service_refuses_a_masks_upload_it_cannot_read_at_submission(live, clips, tmp_path: Path) -> None:
    coco = _write("coco", tmp_path / "m.json", clips["a"])
    doc = json.loads(coco.read_text())
    del doc["annotations"]
    junk = {
        "not masks": b"\x89PNG not a masks file",
        "broken coco": json.dumps(doc).encode(),
        "broken mots": b"1 1 2 48\n",
        "zip without masks": _zip({"notes/readme.txt": b"hi"}),
    }
    with httpx.Client(base_url=live.url, timeout=30) as c:
        for what, body in junk.items():
            resp = c.post("/v1/jobs", files={"video": ("v.mp4", clips["a"].read_bytes()), "masks": ("m", body)})
            assert resp.status_code == 422 and resp.json()["detail"].startswith("masks:"), (what, resp.text)
        tracks = c.post(
            "/v1/jobs", files={"video": ("v.mp4", clips["a"].read_bytes())}, data={"settings": json.dumps({"masks_any_video": True})}
        )
        assert tracks.status_code == 422 and "masks_any_video" in tracks.json()["detail"]
    assert not any((live.svc.data_dir / "incoming").iterdir())
    assert read_masks(coco).video is not None


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


_PART = st.sampled_from(["..", ".", "", "a", "job-masks", "__MACOSX", ".hidden", "ids", "/", "\\", "C:"])
_LEAF = st.sampled_from(
    ["meta.json", "masks.jsonl", "video.json", "00000.png", "x.png", ".png", "..png", "evil.sh", "00001.PNG", "a b.png"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.tuples(st.lists(_PART, max_size=3), _LEAF).map(lambda t: "/".join([*t[0], t[1]])), min_size=1, max_size=8))
def test_a_masks_zip_unpacks_only_checked_base_names_into_its_folder(tmp_path_factory, names: list[str]) -> None:
    """Whatever the member names (``..``, absolute, nested, backslashes), unpacking writes only
    allow-listed base names directly inside the destination, and nothing anywhere else."""
    from sammask.export.packed import stage_masks_upload

    root = tmp_path_factory.mktemp("zip")
    archive = root / "masks.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i, name in enumerate(names):
            zf.writestr(zipfile.ZipInfo(name or "x"), f"{i}".encode())
    dest = root / "in" / "masks"
    try:
        stage_masks_upload(archive, dest, 1 << 20)
    except ExportError:
        assert not dest.exists()
    written = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert all(w == "masks.zip" or (w.startswith("in/masks/") and w.count("/") == 2) for w in written), written
    assert all(
        w.rsplit("/", 1)[-1] in ("meta.json", "masks.jsonl", "video.json") or w.endswith(".png") for w in written if w != "masks.zip"
    ), written
