"""Screenshots of the annotator UI for docs/annotate.md, taken in headless Debian chromium.

Serves the UI on 127.0.0.1, uploads a DAVIS clip, clicks the object, propagates, jumps to a
later frame by clicking its timeline cell, corrects it with a click, propagates again, paints a
brush stroke (a drag), exports and redacts; saves JPEGs at each stage::

    .venv/bin/python scripts/ui_screenshots.py ../shared/data/davis2016/car-turn/video.mp4 \
        --click 750 258 --frame 40 --correct 690 280 --stroke 480 362 600 370 715 354 --out docs/img
"""

from __future__ import annotations

import argparse
import shutil
import socket
from pathlib import Path

TIMEOUT_MS = 1_200_000  # a loaded 2-core machine propagates 80 frames in minutes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video", type=Path)
    ap.add_argument("--click", type=float, nargs=2, required=True, metavar=("X", "Y"))
    ap.add_argument("--correct", type=float, nargs=2, default=None, metavar=("X", "Y"),
                    help="a positive correction click on --frame, then propagate again")
    ap.add_argument("--frame", type=int, default=40, help="frame to show after propagating")
    ap.add_argument("--stroke", type=float, nargs="+", default=None, metavar="X Y",
                    help="image pixels of a brush stroke dragged on --frame after the correction")
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from sammask.ui.app import build_app

    args.out.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = build_app()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1150})
            page.set_default_timeout(TIMEOUT_MS)

            def wait(text: str) -> None:
                page.wait_for_function(
                    "t => document.querySelector('#sammask-status textarea').value.includes(t)", arg=text
                )
                page.wait_for_timeout(1500)  # let the image finish fading in

            def click(x: float, y: float) -> None:
                img = page.locator("#sammask-frame img")
                box = img.bounding_box()
                nat = page.evaluate("() => { const i = document.querySelector('#sammask-frame img'); "
                                    "return [i.naturalWidth, i.naturalHeight]; }")
                img.click(position={"x": x * box["width"] / nat[0], "y": y * box["height"] / nat[1]})

            def on_page(x: float, y: float) -> tuple[float, float]:
                page.locator("#sammask-frame img").scroll_into_view_if_needed()
                box = page.locator("#sammask-frame img").bounding_box()
                nat = page.evaluate("() => { const i = document.querySelector('#sammask-frame img'); "
                                    "return [i.naturalWidth, i.naturalHeight]; }")
                return box["x"] + x * box["width"] / nat[0], box["y"] + y * box["height"] / nat[1]

            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#sammask-upload input[type=file]").set_input_files(str(args.video))
            wait("Opened")
            page.screenshot(path=str(args.out / "annotate-1-open.jpg"), type="jpeg", quality=80)
            click(*args.click)
            wait("positive point")
            page.screenshot(path=str(args.out / "annotate-2-click.jpg"), type="jpeg", quality=80)
            page.locator("#sammask-propagate").click()
            page.wait_for_function("() => /Propagating \\(whole video\\): ([89]|[1-9][0-9])\\//.test("
                                   "document.querySelector('#sammask-status textarea').value)")
            page.wait_for_timeout(800)
            page.screenshot(path=str(args.out / "annotate-3-streaming.jpg"), type="jpeg", quality=80)
            wait("Propagated whole video")
            page.locator(f"#sammask-timeline .tl-row[data-obj='1'] .tl-cell[data-frame='{args.frame}']").click()
            page.wait_for_function("f => document.querySelector('#sammask-slider input[type=number]').value === f",
                                   arg=str(args.frame))
            page.wait_for_timeout(2500)
            page.screenshot(path=str(args.out / "annotate-3-propagated.jpg"), type="jpeg", quality=80)
            if args.correct:
                click(*args.correct)
                wait(f"on frame {args.frame}: positive point")
                page.screenshot(path=str(args.out / "annotate-4-correction.jpg"), type="jpeg", quality=80)
                page.locator("#sammask-propagate").click()
                wait("Propagated whole video")
            if args.stroke:
                page.locator("#sammask-mode label", has_text="brush").click()
                (x0, y0), *rest = [on_page(*xy) for xy in zip(args.stroke[::2], args.stroke[1::2], strict=True)]
                page.mouse.move(x0, y0)
                page.mouse.down()
                for x, y in rest:
                    page.mouse.move(x, y, steps=12)
                page.screenshot(path=str(args.out / "annotate-7-stroke.jpg"), type="jpeg", quality=80)
                page.mouse.up()
                wait("brush stroke of")
                page.screenshot(path=str(args.out / "annotate-8-stroked.jpg"), type="jpeg", quality=80)
            page.locator("#sammask-export").click()
            wait("Exported coco")
            page.screenshot(path=str(args.out / "annotate-5-export.jpg"), full_page=True, type="jpeg", quality=80)
            page.locator("#sammask-redact").click()
            wait("Redacted")
            page.screenshot(path=str(args.out / "annotate-6-redact.jpg"), full_page=True, type="jpeg", quality=80)
            browser.close()
    finally:
        app.close()


if __name__ == "__main__":
    main()
