"""Browser test of the annotator UI: headless Debian chromium driven by Playwright.

Loads the page served on 127.0.0.1, uploads a DAVIS clip, clicks a point on the car, propagates
forward, exports COCO and downloads it (the downloaded file must decode, with pycocotools, to
masks that overlap the GT car on the propagated frames), then redacts with these masks and
downloads the video. Bounded: every wait has a timeout.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from sammask.eval.groundtruth import GroundTruthSequence
from sammask.eval.metrics import jaccard

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT_MS = 600_000  # bounded; a loaded shared 2-core machine propagates 80 frames in minutes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server():
    from sammask.ui.app import build_app

    port = free_port()
    app = build_app()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


def status(page) -> str:
    return page.locator("#sammask-status textarea").input_value()


def wait_status(page, text: str) -> None:
    """Wait (up to the page's default timeout) until the status line contains ``text``."""
    page.wait_for_function("t => document.querySelector('#sammask-status textarea').value.includes(t)", arg=text)


def click_image(page, x: float, y: float) -> None:
    """Click the frame image at image pixel (x, y) (the image may be displayed scaled)."""
    page.wait_for_function(
        "() => { const i = document.querySelector('#sammask-frame img'); return i && i.complete && i.naturalWidth > 0; }"
    )
    img = page.locator("#sammask-frame img")
    box = img.bounding_box()
    nat = page.evaluate("() => { const i = document.querySelector('#sammask-frame img'); return [i.naturalWidth, i.naturalHeight]; }")
    img.click(position={"x": x * box["width"] / nat[0], "y": y * box["height"] / nat[1]})


def test_browser_click_propagate_download(server, davis_seq, tmp_path):
    from playwright.sync_api import sync_playwright
    from pycocotools.coco import COCO

    assert Path(CHROMIUM).exists(), "Debian chromium missing: make test installs it (apt-get install chromium)"
    seq = GroundTruthSequence(davis_seq("car-turn"))
    gt0 = seq.mask(0) == 1
    ys, xs = np.nonzero(gt0)
    cx, cy = float(np.median(xs)), float(np.median(ys))
    assert gt0[int(cy), int(cx)]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], timeout=TIMEOUT_MS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(server)
            page.locator("#sammask-upload input[type=file]").set_input_files(str(seq.video_path))
            wait_status(page, "Opened video.mp4: 80 frames, 854x480")
            page.wait_for_selector("#sammask-frame img")
            click_image(page, cx, cy)
            wait_status(page, "positive point")
            assert "Object 1 on frame 0" in status(page)
            page.locator("#sammask-direction label", has_text="forward").click()
            page.locator("#sammask-propagate").click()
            wait_status(page, "Propagated forward from the prompted frames: 79 frames")
            page.locator("#sammask-export").click()
            wait_status(page, "Exported coco")
            link = page.locator("#sammask-export-file a").first
            with page.expect_download() as info:
                link.click()
            target = tmp_path / "downloaded.json"
            info.value.save_as(target)
            page.locator("#sammask-redact").click()
            wait_status(page, "Redacted 80 frames, 1 object (0 box fallbacks)")
            with page.expect_download() as info:
                page.locator("#sammask-redacted a").first.click()
            redacted = tmp_path / "redacted.mp4"
            info.value.save_as(redacted)
        finally:
            browser.close()
    coco = COCO(str(target))
    assert len(coco.getImgIds()) == 80
    js = []
    for f in (0, 10, 40, 79):
        (ann,) = coco.loadAnns(coco.getAnnIds(imgIds=[f + 1]))
        assert ann["track_id"] == 1
        js.append(jaccard(seq.mask(f) == 1, coco.annToMask(ann).astype(bool)))
    # measured today: 0.73, 0.69, 0.60, 0.27 (the classical backend drifts over 80 frames)
    assert js[0] >= 0.6 and min(js[1:3]) >= 0.5 and js[3] >= 0.15, js
    import av

    with av.open(str(redacted)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 80


def pixels(page) -> int:
    """The mask size the status line reports after a prompt ("...; mask N pixels.")."""
    import re

    return int(re.search(r"mask (\d+) pixels", status(page)).group(1))


def test_browser_shortcuts_brush_timeline_streaming_cancel(server, davis_seq, tmp_path):
    """Keyboard shortcuts, export with no masks, a failed upload that keeps the session, brush
    and eraser, the timeline strip, propagation streamed into the view and cancelled."""
    from playwright.sync_api import sync_playwright

    seq = GroundTruthSequence(davis_seq("car-turn"))
    gt0 = seq.mask(0) == 1
    ys, xs = np.nonzero(gt0)
    cx, cy = float(np.median(xs)), float(np.median(ys))
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], timeout=TIMEOUT_MS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(server)
            assert "propagate (whole video)" in page.locator("#sammask-shortcuts").inner_text()
            page.locator("#sammask-upload input[type=file]").set_input_files(str(seq.video_path))
            wait_status(page, "Opened video.mp4: 80 frames")
            page.wait_for_selector("#sammask-frame img")
            page.locator("#sammask-export").click()
            wait_status(page, "Nothing to export: no object has a mask yet")
            # shortcuts: frame stepping and click modes
            page.locator("body").click(position={"x": 5, "y": 5})
            page.keyboard.press("ArrowRight")
            page.wait_for_function("() => document.querySelector('#sammask-slider input[type=number]').value === '1'")
            page.keyboard.press("ArrowLeft")
            page.wait_for_function("() => document.querySelector('#sammask-slider input[type=number]').value === '0'")
            page.keyboard.press("b")
            assert page.locator("#sammask-mode input[value='box (2 clicks)']").is_checked()
            page.keyboard.press("a")
            assert page.locator("#sammask-mode input[value='positive point']").is_checked()
            click_image(page, cx, cy)
            wait_status(page, "positive point")
            first = pixels(page)
            # timeline: frame 0 is prompted, no other frame has a mask yet
            assert page.locator("#sammask-timeline .tl-row[data-obj='1'] .tl-prompted").count() == 1
            assert page.locator("#sammask-timeline .tl-row[data-obj='1'] .tl-masked").count() == 0
            # brush adds a disc away from the car, eraser removes one on it
            page.keyboard.press("r")
            click_image(page, 60, 60)
            wait_status(page, "brush at (60, 60)")
            brushed = pixels(page)
            assert brushed > first + 300  # a radius-12 disc is ~450 pixels
            page.keyboard.press("e")
            click_image(page, cx, cy)
            wait_status(page, "eraser at")
            assert pixels(page) < brushed - 300
            page.keyboard.press("z")
            wait_status(page, "Undid mask on frame 0 for object 1")
            # a failed upload keeps the session, and its error names no server path
            page.locator("#sammask-upload button[aria-label*='lear']").first.click()
            wait_status(page, "Upload a video first.")
            page.locator("#sammask-upload input[type=file]").set_input_files(str(bad))
            wait_status(page, "Error")
            line = status(page)
            assert "the current video stays open" in line and "/" not in line and "\n" not in line.strip()
            # propagation streams into the view and can be cancelled (Esc)
            src0 = page.locator("#sammask-frame img").get_attribute("src")
            page.keyboard.press("p")
            wait_status(page, "Propagating (whole video):")
            page.wait_for_function("s => document.querySelector('#sammask-frame img').getAttribute('src') !== s", arg=src0)
            page.keyboard.press("Escape")
            wait_status(page, "Cancelled: propagated")
            masked = page.locator("#sammask-timeline .tl-row[data-obj='1'] .tl-masked").count()
            assert 1 <= masked < 79
            assert page.locator("#sammask-timeline .tl-row[data-obj='1'] .tl-prompted").count() == 1
        finally:
            browser.close()


# -- brush strokes, timeline clicks, mask import (issue 16, point 4) ---------------------------

CLIP_W, CLIP_H, CLIP_N = 320, 240, 12
SMALL_TIMEOUT_MS = 180_000  # the 12-frame clip needs no propagation: every step takes seconds


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory) -> Path:
    """A 12-frame 320x240 clip built here (textured background, a square moving right)."""
    import av

    path = tmp_path_factory.mktemp("ui-clip") / "small.mp4"
    rng = np.random.default_rng(3)
    bg = rng.integers(0, 90, (CLIP_H, CLIP_W, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = CLIP_W, CLIP_H, "yuv420p"
        for i in range(CLIP_N):
            img = bg.copy()
            img[80:160, 40 + 10 * i : 120 + 10 * i] = (230, 200, 40)
            for pkt in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def open_page(p, server, video: Path, *, downloads: bool = False):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], timeout=TIMEOUT_MS)
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=downloads)
    page.set_default_timeout(SMALL_TIMEOUT_MS)
    page.goto(server)
    page.locator("#sammask-upload input[type=file]").set_input_files(str(video))
    wait_status(page, f"Opened {video.name}: {CLIP_N} frames, {CLIP_W}x{CLIP_H}")
    page.wait_for_selector("#sammask-frame img")
    return browser, page


def export_download(page, fmt: str, target: Path) -> Path:
    """Export the session's masks in ``fmt`` through the page and save the download."""
    page.locator("#sammask-format input").fill(fmt)
    page.locator("#sammask-format input").press("Enter")
    page.locator("#sammask-export").click()
    wait_status(page, f"Exported {fmt}")
    with page.expect_download() as info:
        page.locator("#sammask-export-file a").first.click()
    info.value.save_as(target)
    return target


def coco_masks(path: Path) -> dict[int, dict[int, np.ndarray]]:
    """``{frame_idx: {obj_id: (H, W) bool}}`` of a COCO export (read by sammask's own reader)."""
    from sammask.export import read_masks

    return {mf.frame_idx: dict(mf.masks) for mf in read_masks(path).read() if mf.masks}


def image_point(page, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image pixel (x, y) of the frame (Gradio's mapping: scale <= 1, centred)."""
    page.wait_for_function(
        "() => { const i = document.querySelector('#sammask-frame img'); return i && i.complete && i.naturalWidth > 0; }"
    )
    page.locator("#sammask-frame img").scroll_into_view_if_needed()  # a download click may have scrolled
    r = page.evaluate("""() => { const i = document.querySelector('#sammask-frame img');
        const b = i.getBoundingClientRect();
        return [b.left, b.top, b.width, b.height, i.naturalWidth, i.naturalHeight]; }""")
    left, top, w, h, nw, nh = r
    s = min(w / nw, h / nh, 1.0)
    return left + (w - nw * s) / 2 + x * s, top + (h - nh * s) / 2 + y * s


def test_browser_drag_stroke_one_undo_step(server, small_clip, tmp_path):
    """Brush mode: a click still paints a disc; a drag paints the whole stroke as one mask
    prompt (every pixel along the polyline set in the exported mask, nothing far from it, no
    extra disc at the release point), and one undo removes the stroke and only it. An eraser
    drag clears a band of its radius along its path and nothing else."""
    from playwright.sync_api import sync_playwright

    from sammask.ui.common import stroke_mask

    radius = 12
    path_xy = [(60.0, 200.0), (160.0, 200.0), (260.0, 120.0)]  # image pixels, away from the disc
    disc_xy = (40.0, 40.0)
    eraser, erase_xy = 4, [(10.0, 40.0), (70.0, 40.0)]
    with sync_playwright() as p:
        browser, page = open_page(p, server, small_clip, downloads=True)
        try:
            page.locator("#sammask-mode label", has_text="brush").click()
            assert page.locator("#sammask-mode input[value='brush']").is_checked()
            click_image(page, *disc_xy)
            wait_status(page, "brush at (40, 40), radius 12")
            disc_only = export_download(page, "coco", tmp_path / "disc.json")
            (x0, y0), *rest = [image_point(page, x, y) for x, y in path_xy]
            page.mouse.move(x0, y0)
            page.mouse.down()
            for x, y in rest:
                page.mouse.move(x, y, steps=15)
            page.mouse.up()
            wait_status(page, "brush stroke of")
            stroked = export_download(page, "coco", tmp_path / "stroke.json")
            page.locator("#sammask-undo").click()
            wait_status(page, "Undid mask on frame 0 for object 1")
            undone = export_download(page, "coco", tmp_path / "undone.json")
            # an eraser stroke (radius 4) across the disc
            page.locator("#sammask-brush input[type=number]").fill(str(eraser))
            page.locator("#sammask-brush input[type=number]").press("Enter")
            page.locator("#sammask-mode label", has_text="eraser").click()
            (x0, y0), (x1, y1) = [image_point(page, x, y) for x, y in erase_xy]
            page.mouse.move(x0, y0)
            page.mouse.down()
            page.mouse.move(x1, y1, steps=15)
            page.mouse.up()
            wait_status(page, "eraser stroke of")
            assert f"radius {eraser}" in status(page)
            erased = export_download(page, "coco", tmp_path / "erased.json")
        finally:
            browser.close()
    before = coco_masks(disc_only)[0][1]
    # the click painted one disc of the radius (centred on the clicked pixel, +- 1 px: display scaling)
    assert (before & ~stroke_mask((CLIP_H, CLIP_W), [disc_xy], radius + 1)).sum() == 0
    assert stroke_mask((CLIP_H, CLIP_W), [disc_xy], radius - 1)[~before].sum() == 0
    with_stroke = coco_masks(stroked)
    assert list(with_stroke) == [0] and list(with_stroke[0]) == [1]
    m = with_stroke[0][1]
    assert not (before & ~m).any()  # the brush only adds
    # along the intended polyline every pixel is set (the browser's samples lie on it, +- 1 px)
    line = stroke_mask((CLIP_H, CLIP_W), path_xy, 1)
    assert m[line].all(), f"{int((line & ~m).sum())} pixels of the stroke's centre line are not masked"
    # nothing farther than the radius (+2 px: display scaling, rounding) from the stroke or the disc
    near = stroke_mask((CLIP_H, CLIP_W), path_xy, radius + 2) | before
    assert not (m & ~near).any()
    assert int(m.sum()) > int(before.sum()) + 2 * radius * 200  # the stroke's ~230 px length times its width
    # one undo: the stroke is gone, the disc stays exactly (the release made no disc of its own)
    np.testing.assert_array_equal(coco_masks(undone)[0][1], before)
    # the eraser only removes: the band along its stroke is cleared, the disc beyond it stays
    e = coco_masks(erased)[0][1]
    assert not (e & ~before).any()
    assert not (e & stroke_mask((CLIP_H, CLIP_W), erase_xy, eraser - 1)).any()
    assert (e == before)[~stroke_mask((CLIP_H, CLIP_W), erase_xy, eraser + 2)].all()
    assert 0 < int(e.sum()) < int(before.sum()) - 2 * (eraser - 1) * 20


def blob_masks() -> dict[int, dict[int, np.ndarray]]:
    """Irregular, disjoint masks (random pixel patterns) of objects 1 (every frame) and 2
    (frames 3..8) on the small clip: a lossless import and export must keep every pixel."""
    rng = np.random.default_rng(16)
    out: dict[int, dict[int, np.ndarray]] = {}
    for f in range(CLIP_N):
        m1 = np.zeros((CLIP_H, CLIP_W), bool)
        m1[20:100, 10 + 5 * f : 90 + 5 * f] = rng.random((80, 80)) < 0.7
        out[f] = {1: m1}
        if 3 <= f <= 8:
            m2 = np.zeros((CLIP_H, CLIP_W), bool)
            m2[130:220, 150:300] = rng.random((90, 150)) < 0.5
            out[f][2] = m2
    return out


def test_browser_import_every_format_timeline_click(server, small_clip, tmp_path):
    """Mask import in the page: a COCO file into the frame on screen, then (after a reset each)
    a zipped PNG id-map folder, a zipped --save-masks folder and a MOTS file into every frame
    they hold; the session's masks, exported through the page, equal the imported ones pixel for
    pixel. A click on a timeline cell shows that frame."""
    import zipfile

    from playwright.sync_api import sync_playwright

    from sammask.annotate import Session
    from sammask.export import read_masks

    want = blob_masks()
    with Session.open(small_clip) as s:
        for f, masks in want.items():
            for o, m in masks.items():
                s.add_mask(f, o, m)
        coco = s.export(tmp_path / "in.coco.json", "coco")
        s.export(tmp_path / "ids", "png")
        mots = s.export(tmp_path / "in.mots.txt", "mots")
    # zipped with its folder on top (as a file manager zips a folder)
    png_zip = shutil.make_archive(str(tmp_path / "ids"), "zip", root_dir=tmp_path, base_dir="ids")
    # the fourth format read_masks reads: a zipped `redact --save-masks` folder (files at the zip's top)
    from sammask.export.applied import AppliedMaskWriter

    (tmp_path / "saved").mkdir()
    writer = AppliedMaskWriter(tmp_path / "saved", CLIP_W, CLIP_H)
    for f, masks in want.items():
        writer.write(f, masks, np.logical_or.reduce(list(masks.values())))
    writer.close()
    saved_zip = shutil.make_archive(str(tmp_path / "saved"), "zip", root_dir=tmp_path / "saved")
    with sync_playwright() as p:
        browser, page = open_page(p, server, small_clip, downloads=True)
        try:
            slider = page.locator("#sammask-slider input[type=number]")
            slider.fill("3")
            slider.press("Enter")
            page.wait_for_function("() => document.querySelector('#sammask-timeline') !== null")
            page.locator("#sammask-import input[type=file]").set_input_files(str(coco))
            wait_status(page, "Imported the masks of frame 3 for objects [1, 2] (mask prompts)")
            # the timeline now has a row per object; clicking frame 7's cell shows frame 7
            assert page.locator("#sammask-timeline .tl-row[data-obj='2'] .tl-prompted").count() == 1
            page.locator("#sammask-timeline .tl-row[data-obj='1'] .tl-cell[data-frame='7']").click()
            page.wait_for_function("() => document.querySelector('#sammask-slider input[type=number]').value === '7'")
            page.wait_for_selector("#sammask-timeline .tl-row[data-obj='1'] .tl-cell.tl-current[data-frame='7']")
            one_frame = export_download(page, "coco", tmp_path / "one-frame.json")
            page.locator("#sammask-reset").click()
            wait_status(page, "Reset: all prompts and masks removed")
            page.locator("#sammask-import button[aria-label*='lear']").first.click()
            page.locator("#sammask-import-into label", has_text="every frame in the file").click()
            page.locator("#sammask-import input[type=file]").set_input_files(png_zip)
            wait_status(page, f"Imported the masks of every frame the file holds ({CLIP_N} frames, 0..{CLIP_N - 1}) for objects [1, 2]")
            all_frames = export_download(page, "png", tmp_path / "all-frames.zip")
            others = {}
            for name, path in (("saved", saved_zip), ("mots", mots)):
                page.locator("#sammask-reset").click()
                wait_status(page, "Reset: all prompts and masks removed")
                page.locator("#sammask-import button[aria-label*='lear']").first.click()
                page.locator("#sammask-import input[type=file]").set_input_files(str(path))
                wait_status(page, f"Imported the masks of every frame the file holds ({CLIP_N} frames")
                others[name] = export_download(page, "coco", tmp_path / f"{name}-out.json")
        finally:
            browser.close()
    got = coco_masks(one_frame)
    assert list(got) == [3] and sorted(got[3]) == [1, 2]
    for o in (1, 2):
        np.testing.assert_array_equal(got[3][o], want[3][o])
    with zipfile.ZipFile(all_frames) as zf:
        zf.extractall(tmp_path / "out-ids")
    got = {mf.frame_idx: mf.masks for mf in read_masks(tmp_path / "out-ids").read()}
    assert sorted(got) == list(range(CLIP_N))
    for f, masks in want.items():
        assert sorted(got[f]) == sorted(masks), f
        for o, m in masks.items():
            np.testing.assert_array_equal(got[f][o], m)
    for name, path in others.items():
        got = coco_masks(path)
        assert sorted(got) == list(range(CLIP_N)), name
        for f, masks in want.items():
            assert sorted(got[f]) == sorted(masks), (name, f)
            for o, m in masks.items():
                np.testing.assert_array_equal(got[f][o], m, err_msg=f"{name}, frame {f}, object {o}")
