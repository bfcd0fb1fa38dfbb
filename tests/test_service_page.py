"""The jobs page served by ``sammask serve``, driven in headless Chromium (Debian's ``chromium``
through Playwright): upload a clip and its tracks, watch the job finish, download the result."""

from __future__ import annotations

import re
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
    broken = tmp_path / "a-rather-long-file-name-of-a-broken-upload-that-is-not-a-video-at-all.mp4"
    broken.write_bytes(b"not a video")
    srv = Server(tmp_path / "data", "--token", TOKEN).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
            page = browser.new_page(accept_downloads=True, viewport={"width": 420, "height": 900})
            page.goto(srv.url + "/")
            message = page.locator("#message")
            expect(message).to_contain_text("needs a token")  # asked for, not a red "error 401"
            expect(message).to_have_class("ask")
            expect(message).not_to_contain_text("401")
            page.fill("#token", TOKEN)
            page.dispatch_event("#token", "change")
            expect(message).to_have_text("")
            page.evaluate("""() => { window.said = []; new MutationObserver(() => window.said.push(
                document.getElementById('message').textContent)).observe(document.getElementById('message'),
                {childList: true, characterData: true, subtree: true}); }""")
            page.set_input_files("#video", str(video))
            page.set_input_files("#tracks", str(tracks))
            page.select_option("#segmenter", "box")
            page.select_option("#effect", "solid")
            page.click("#send")
            expect(message).to_contain_text("submitted video.mp4", timeout=15_000)
            said = page.evaluate("window.said")
            assert any(re.fullmatch(r"uploading \d+ %", m) for m in said), said  # upload progress shown
            row = page.locator("#jobs tr").first
            expect(row).to_have_attribute("data-state", "done", timeout=60_000)
            expect(row.locator("progress")).to_have_attribute("value", "1")
            with page.expect_download(timeout=15_000) as info:
                row.locator("button.download").click()
            download = info.value
            assert download.suggested_filename == "video-redacted.mp4"
            saved = tmp_path / "downloaded.mp4"
            download.save_as(saved)
            page.set_input_files("#video", [])
            page.click("#send")  # blocked by the browser (no video): the old "submitted" must go
            expect(message).not_to_contain_text("submitted")
            page.set_input_files("#video", str(broken))
            page.click("#send")
            failed = page.locator("#jobs tr[data-state=failed]")
            expect(failed).to_have_count(1, timeout=60_000)
            text = failed.locator("td.state").inner_text()
            assert "MediaError" in text and "/" not in text.replace("input/video", ""), text  # no server path
            assert page.evaluate("document.documentElement.scrollWidth") <= 420  # no overflow at 420 px
            done_id = page.locator("#jobs tr[data-state=done]").get_attribute("data-id")
            page.locator("#jobs tr[data-state=done] button.delete").click()
            expect(page.locator(f"#jobs tr[data-id='{done_id}']")).to_have_count(0, timeout=10_000)
            failed.locator("button.delete").click()
            expect(page.locator("#jobs tr")).to_have_count(0, timeout=10_000)
            browser.close()
        frames = decoded_frames(saved)
        assert len(frames) == 8
        # solid effect on the box: the pixels at the centre of the first box are black
        first = next(iter(read_tracks(tracks)))
        x1, y1, x2, y2 = first.bbox
        cy, cx = int((y1 + y2) / 2), int((x1 + x2) / 2)
        assert frames[first.frame_idx][cy - 2 : cy + 3, cx - 2 : cx + 3].max() <= 20
        assert not any((tmp_path / "data" / "jobs").iterdir())  # deleted from the page: files gone
    finally:
        srv.stop()
