"""The lab book: `dlabs report all` over a smoke run of every lab writes one self-contained HTML
file, its chapters in the order of the course, every question answered, opened by a real headless
browser with no missing image and no request outside the file; `dlabs serve` shows it at /book.

The smoke runs are the session's (`serving.smoke_runs`), copied: all evaluated but one, which
`report all` evaluates itself.
"""

from __future__ import annotations

import re
import shutil

import pytest

from dlabs import api
from dlabs.report.course import COURSE, ORDER

from serving import UNEVALUATED, ServerThread, browser_path, servable_labs, smoke_runs

LABS = servable_labs()


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    root = tmp_path_factory.mktemp("book-runs")
    shutil.copytree(smoke_runs(tmp_path_factory), root, dirs_exist_ok=True)
    api.run_study("letters-dropout", smoke=True, runs=root)
    return root, api.report("all", runs=root)


def _chapters(text: str) -> list[str]:
    return re.findall(r"<section class='chapter' id='lab-([a-z]+)'>", text)


def test_one_self_contained_file_in_course_order(book):
    root, path = book
    text = path.read_text()
    assert path == root / "book.html"
    assert _chapters(text) == [lab for lab in ORDER if lab in LABS]
    assert len(LABS) < 9 or _chapters(text) == list(ORDER)  # all nine with every data set present
    sources = re.findall(r"""\bsrc=['"]([^'"]*)""", text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(h.startswith("#") for h in re.findall(r"""\bhref=['"]([^'"]*)""", text))
    assert "<link" not in text and "@import" not in text and "url(" not in text
    for chapter in COURSE:
        for q in chapter.questions:
            assert q.text in text  # every question of the course has its answer
    assert text.count("class='study'") == 12  # every study: the one run (smoke form), the others how to run them
    assert "id='study-letters-dropout'" in text and "smoke form only" in text
    assert "dlabs study run boston-standardise" in text
    assert (api.latest_run(UNEVALUATED, root).path / "metrics.json").is_file()
    for name in LABS:  # each chapter: its results table, its plots, its traps
        section = text.split(f"id='lab-{name}'>")[1].split("<section")[0]
        assert "<table><tr><th>model</th>" in section and "data:image/png" in section and "Trap." in section


def test_a_lab_without_a_run_says_how_to_make_one(tmp_path):
    text = api.book_html(tmp_path / "empty")
    assert _chapters(text) == list(ORDER)
    for name in ORDER:
        assert f"No run of this lab yet. Make one with <code>dlabs run {name} --preset best</code>" in text


def test_served_at_book(book):
    from fastapi.testclient import TestClient

    from dlabs.serve import create_app

    root, _ = book
    page = TestClient(create_app(root)).get("/book")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert _chapters(page.text) == [lab for lab in ORDER if lab in LABS]


@pytest.mark.skipif(browser_path() is None, reason="chromium not installed (scripts/install-browser.sh)")
def test_a_browser_opens_it_whole_and_prints_it_by_chapter(book, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    from test_serve_browser import CHROMIUM_ARGS

    from dlabs.serve import create_app

    root, path = book
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        outside = [u for u in requests if u != path.as_uri() and not u.startswith("data:")]
        assert not outside, outside
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete && e.naturalWidth > 0, e.alt])")
        assert images and all(ok for ok, _ in images), [alt for ok, alt in images if not ok]
        page.emulate_media(media="print")
        breaks = page.eval_on_selector_all("section.chapter", "els => els.map(e => getComputedStyle(e).breakBefore)")
        assert breaks and set(breaks) == {"page"}
        assert page.pdf(path=str(tmp_path / "book.pdf")).startswith(b"%PDF")
        with ServerThread(create_app(root)) as server:  # and the same book, served
            page.emulate_media(media="screen")
            page.goto(server.url + "/book")
            assert page.locator("section.chapter").count() == len(breaks)
            assert page.eval_on_selector_all("img", "els => els.every(e => e.complete && e.naturalWidth > 0)")
        browser.close()
