"""The jobs page served by ``sammask serve``, driven in headless Chromium (Debian's ``chromium``
through Playwright): upload a clip and its tracks, watch the job finish, download the result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sammask.tracks.io import read_tracks
from service_helpers import Server, decoded_frames, make_clip

TOKEN = "page-token-0123456789"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is not installed: run `make test` (it installs it) or apt-get install chromium")
    return path


def test_jobs_page_uploads_shows_progress_and_downloads(davis_seq, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    video, tracks = make_clip(davis_seq("hike"), tmp_path / "clip", 8)
    srv = Server(tmp_path / "data", "--token", TOKEN).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
            page = browser.new_page(accept_downloads=True)
            page.goto(srv.url + "/")
            expect(page.locator("#message")).to_contain_text("401")  # the list needs the token
            page.fill("#token", TOKEN)
            page.dispatch_event("#token", "change")
            page.set_input_files("#video", str(video))
            page.set_input_files("#tracks", str(tracks))
            page.select_option("#segmenter", "box")
            page.select_option("#effect", "solid")
            page.click("#send")
            expect(page.locator("#message")).to_contain_text("submitted", timeout=15_000)
            row = page.locator("#jobs tr").first
            expect(row).to_have_attribute("data-state", "done", timeout=60_000)
            expect(row.locator("progress")).to_have_attribute("value", "1")
            with page.expect_download(timeout=15_000) as info:
                row.locator("button.download").click()
            download = info.value
            assert download.suggested_filename == "video-redacted.mp4"
            saved = tmp_path / "downloaded.mp4"
            download.save_as(saved)
            browser.close()
        frames = decoded_frames(saved)
        assert len(frames) == 8
        # solid effect on the box: the pixels at the centre of the first box are black
        first = next(iter(read_tracks(tracks)))
        x1, y1, x2, y2 = first.bbox
        cy, cx = int((y1 + y2) / 2), int((x1 + x2) / 2)
        assert frames[first.frame_idx][cy - 2:cy + 3, cx - 2:cx + 3].max() <= 20
    finally:
        srv.stop()
