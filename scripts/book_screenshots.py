"""Screenshots of the lab book for the README: its opening page and one study.

Opens `--runs`/book.html (written by ``dlabs report all``) in Debian's chromium with Playwright
(scripts/install-browser.sh installs both) and writes docs/screenshot-book.png (the top of the
book: contents and the first chapter) and docs/screenshot-study.png (the study `--study`).

    python scripts/book_screenshots.py --runs runs --study boston-capacity
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright
from screenshots import ARGS, DOCS  # the same chromium flags and docs folder as the app's screenshots


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--study", default="boston-capacity", help="the study to show")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    book = Path(args.runs).resolve() / "book.html"
    if not book.is_file():
        raise SystemExit(f"{book}: no lab book; write it with: dlabs report all --runs {args.runs}")
    DOCS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1180, "height": 1720}, device_scale_factor=1)
        page.goto(book.as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(DOCS / "screenshot-book.png"))
        card = page.locator(f"#study-{args.study}")
        card.scroll_into_view_if_needed()
        card.screenshot(path=str(DOCS / "screenshot-study.png"))
        browser.close()
    print(DOCS / "screenshot-book.png", DOCS / "screenshot-study.png")


if __name__ == "__main__":
    main()
