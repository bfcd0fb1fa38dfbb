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
    page.wait_for_function(
        "t => document.querySelector('#sammask-status textarea').value.includes(t)", arg=text, timeout=TIMEOUT_MS
    )


def click_image(page, x: float, y: float) -> None:
    """Click the frame image at image pixel (x, y) (the image may be displayed scaled)."""
    page.wait_for_function("() => { const i = document.querySelector('#sammask-frame img'); "
                           "return i && i.complete && i.naturalWidth > 0; }")
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
            page.wait_for_function(
                "s => document.querySelector('#sammask-frame img').getAttribute('src') !== s", arg=src0
            )
            page.keyboard.press("Escape")
            wait_status(page, "Cancelled: propagated")
            masked = page.locator("#sammask-timeline .tl-row[data-obj='1'] .tl-masked").count()
            assert 1 <= masked < 79
            assert page.locator("#sammask-timeline .tl-row[data-obj='1'] .tl-prompted").count() == 1
        finally:
            browser.close()
