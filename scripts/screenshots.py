"""Screenshots of the web app for the README: the home page and a lab page after a prediction.

Serves `--runs` on a free port of 127.0.0.1 and drives Debian's chromium with Playwright
(scripts/install-browser.sh installs both), writing docs/screenshot-home.png and
docs/screenshot.png (the lab page).

    python scripts/screenshots.py --runs runs --lab boston
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from dlabs.serve import create_app
from dlabs.serve.samples import REVIEW, digit_png, prices_csv

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--lab", default="boston", help="the lab page to show")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(args.runs), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    DOCS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 400}, device_scale_factor=1)
        page.goto(base + "/")
        page.wait_for_selector(".card")
        page.screenshot(path=str(DOCS / "screenshot-home.png"), full_page=True)  # as tall as the cards
        page.set_viewport_size({"width": 1280, "height": 860})
        page.goto(f"{base}/lab/{args.lab}")
        page.wait_for_selector("#predict")
        kind = page.evaluate(f"fetch('/api/labs/{args.lab}').then(r => r.json()).then(d => d.form.kind)")
        files = {"image": ("digit.png", digit_png(), "image/png"), "csv": ("prices.csv", prices_csv().encode(), "text/csv")}
        if kind == "text":
            page.fill("textarea[name=text]", REVIEW)
        elif kind in files:
            name, data, mime = files[kind]
            page.set_input_files("input[name=file]", files=[{"name": name, "mimeType": mime, "buffer": data}])
        page.click("#predict")
        page.wait_for_selector("#result .prediction")
        page.wait_for_selector("#plots img")
        page.wait_for_timeout(500)
        page.screenshot(path=str(DOCS / "screenshot.png"))
        browser.close()
    server.should_exit = True
    print(DOCS / "screenshot-home.png", DOCS / "screenshot.png")


if __name__ == "__main__":
    main()
