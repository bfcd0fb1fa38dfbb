"""Browser test of the UI's Image tab (headless Debian chromium, Playwright), like tests/test_ui.py.

Uploads a phone-style JPEG stored sideways with an EXIF orientation tag, draws a box on the
upright photo, downloads the cut-out (its alpha must cover the object as the viewer shows it),
clicks a point and picks another candidate, then segments everything and downloads the COCO
file (it must load with pycocotools). Every wait has a timeout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_image import _exif_rotated_jpeg, _scene
from test_ui import CHROMIUM, TIMEOUT_MS, free_port

from sammask.eval.metrics import jaccard
from sammask.geometry import mask_bbox


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


def _wait(page, text: str) -> None:
    page.wait_for_function("t => document.querySelector('#sammask-image-status textarea').value.includes(t)", arg=text, timeout=TIMEOUT_MS)


def _click(page, x: float, y: float) -> None:
    img = page.locator("#sammask-image-view img")
    # the view's <img> may be swapped for a new one still loading (naturalWidth 0): wait for it
    page.wait_for_function(
        "() => { const i = document.querySelector('#sammask-image-view img'); return i !== null && i.complete && i.naturalWidth > 0; }",
        timeout=TIMEOUT_MS,
    )
    box = img.bounding_box()
    nat = page.evaluate("() => { const i = document.querySelector('#sammask-image-view img'); return [i.naturalWidth, i.naturalHeight]; }")
    img.click(position={"x": x * box["width"] / nat[0], "y": y * box["height"] / nat[1]})


def _download(page, button: str, target: Path) -> Path:
    page.locator(button).click()
    page.wait_for_selector("#sammask-image-download a")
    with page.expect_download() as info:
        page.locator("#sammask-image-download a").first.click()
    info.value.save_as(target)
    return target


def test_image_tab_box_cutout_candidates_everything(server, tmp_path):
    from playwright.sync_api import sync_playwright
    from pycocotools.coco import COCO

    img, obj = _scene(240, 360)
    photo = tmp_path / "phone.jpg"
    _exif_rotated_jpeg(photo, img)
    x1, y1, x2, y2 = mask_bbox(obj)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], timeout=TIMEOUT_MS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(server)
            page.get_by_role("tab", name="Image").click()
            page.locator("#sammask-image-upload input[type=file]").set_input_files(str(photo))
            _wait(page, "Photo 360x240 (EXIF orientation 6 applied)")
            page.wait_for_selector("#sammask-image-view img")
            page.locator("#sammask-image-mode").get_by_text("box (2 clicks)").click()
            _click(page, x1, y1)
            _wait(page, "opposite corner")
            _click(page, x2, y2)
            _wait(page, "candidate(s); best score")
            cut = _download(page, "#sammask-image-cutout", tmp_path / "cutout.png")
            page.locator("#sammask-image-reset").click()
            _wait(page, "Prompts cleared")
            page.locator("#sammask-image-mode").get_by_text("positive point").click()
            _click(page, (x1 + x2) / 2, (y1 + y2) / 2)
            _wait(page, "candidate(s); best score")
            n_candidates = page.locator("#sammask-image-candidates label").count()
            page.locator("#sammask-image-candidates label").last.click()
            mask = _download(page, "#sammask-image-mask", tmp_path / "mask.png")
            page.locator("#sammask-image-everything").click()
            _wait(page, "masks (classical)")
            page.wait_for_selector("#sammask-image-download a")
            with page.expect_download() as info:
                page.locator("#sammask-image-download a").first.click()
            coco_path = tmp_path / "everything.json"
            info.value.save_as(coco_path)
        finally:
            browser.close()
    rgba = np.asarray(Image.open(cut))
    assert rgba.shape == (240, 360, 4)
    assert jaccard(obj, rgba[..., 3] > 0) > 0.85  # box drawn on the upright photo cuts the object
    assert n_candidates >= 1
    assert np.asarray(Image.open(mask)).shape == (240, 360)
    coco = COCO(str(coco_path))
    anns = coco.loadAnns(coco.getAnnIds())
    assert anns and all(coco.annToMask(a).shape == (240, 360) for a in anns)
