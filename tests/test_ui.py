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
TIMEOUT_MS = 90_000


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
            page.locator("#sammask-forward").click()
            wait_status(page, "Propagated forward from frame 0: 79 frames")
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
