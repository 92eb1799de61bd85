"""The web app in a real headless Chromium: every lab's page, a real prediction, a bad input.

Uses Debian's ``chromium`` through Playwright's Python package (no browser is downloaded:
``scripts/install-browser.sh`` installs both); skips when either is missing. A screenshot of
each lab's page after a prediction and after a bad input is saved under
``$DLABS_TEST_ARTIFACTS/browser`` (default: pytest's temporary folder).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dlabs.labs import get_lab
from dlabs.serve import create_app
from dlabs.serve.samples import REVIEW, good_request, prices_csv

from serving import ServerThread, browser_path, servable_labs, smoke_runs
from stub_labs import STUBS, registered

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (scripts/install-browser.sh)")
pytestmark = pytest.mark.skipif(browser_path() is None, reason="chromium not installed (scripts/install-browser.sh)")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
LABS = servable_labs()
STUB_NAMES = [s.name for s in STUBS]


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    root = os.environ.get("DLABS_TEST_ARTIFACTS")
    out = Path(root) / "browser" if root else tmp_path_factory.mktemp("browser")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app over the smoke runs of the real labs, plus the stub labs of the other input kinds."""
    runs = smoke_runs(tmp_path_factory)
    with registered(tmp_path_factory.mktemp("stub-runs")) as stub_runs:
        app = create_app(runs, {name: str(path) for name, path in stub_runs.items()})
        with ServerThread(app) as s:
            yield s.url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def _open(page, server, name):
    page.goto(f"{server}/lab/{name}")
    page.wait_for_selector("#predict", timeout=15_000)


def _predict(page) -> str:
    page.click("#predict")  # sets data-state=busy until the answer is shown
    page.wait_for_selector("#result[data-state=ok], #result[data-state=error]", state="attached", timeout=30_000)
    assert page.get_attribute("#result", "data-state") == "ok", page.text_content("#error")
    assert page.is_hidden("#error")
    return page.text_content("#result")


def _predict_fails(page) -> str:
    page.click("#predict")
    page.wait_for_selector("#result[data-state=ok], #result[data-state=error]", state="attached", timeout=30_000)
    assert page.is_visible("#error")
    text = page.text_content("#error")
    assert text.strip() and page.text_content("#result") == ""
    return text


def _upload(page, name, data: bytes, mime: str):
    page.set_input_files("input[name=file]", files=[{"name": name, "mimeType": mime, "buffer": data}])


def _good_input(page, kind, name=""):
    """Fill the form with real input of the lab's kind (tabular forms come prefilled: restore them)."""
    if kind == "tabular":
        page.eval_on_selector_all("form .fields input", "els => els.forEach(e => { e.value = e.defaultValue; })")
    elif kind == "text":
        page.fill("textarea[name=text]", REVIEW)
    elif kind == "image":  # the lab's own example photo where its form has one (a face), else a digit
        form = page.evaluate("async (n) => (await (await fetch('/api/labs/' + n)).json()).form", name) if name else {}
        _upload(page, *good_request(form | {"kind": "image"})["files"]["file"])
    elif kind == "csv":
        page.fill("textarea[name=pasted]", "")
        _upload(page, "prices.csv", prices_csv().encode(), "text/csv")


def _bad_input(page, kind) -> str:
    """Fill the form with a mistake a person might make; returns a word the error must contain."""
    if kind == "tabular":
        first = page.get_attribute("form input[type=text]", "name")
        page.fill(f"input[name='{first}']", "abc")
        return first
    if kind == "text":
        page.fill("textarea[name=text]", "   ")
        return "empty"
    if kind == "image":
        _upload(page, "holiday.png", b"this is not a picture", "image/png")
        return "not an image"
    _upload(page, "prices.csv", b"Date,Open\n2017-01-03\n2017-01-04,1,2,3\n", "text/csv")
    return "CSV"


def test_home_page_lists_every_lab(page, server, shots):
    page.goto(server + "/")
    page.wait_for_selector(".card")
    names = page.eval_on_selector_all(".card", "els => els.map(e => e.dataset.lab)")
    assert set(LABS) <= set(names)
    for name in LABS:
        assert "no trained run" not in page.text_content(f".card[data-lab={name}]")
    page.screenshot(path=str(shots / "home.png"), full_page=True)


@pytest.mark.parametrize("name", LABS + STUB_NAMES)
def test_lab_page_predicts_and_shows_errors(page, server, shots, name):
    kind = get_lab(name).input_kind
    _open(page, server, name)
    _good_input(page, kind, name)
    result = _predict(page)
    assert result.strip()
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    word = _bad_input(page, kind)
    assert word.lower() in _predict_fails(page).lower()
    page.screenshot(path=str(shots / f"{name}-error.png"), full_page=True)
    _good_input(page, kind, name)
    assert _predict(page).strip()  # and the page (and server) recover


@pytest.mark.parametrize("name", [n for n in ("boston", "mnist") if n in LABS])
def test_lab_page_shows_metrics_plots_and_report(page, server, name):
    _open(page, server, name)
    page.wait_for_selector("table.metrics")
    assert page.locator("table.metrics tr").count() >= 2  # the model and at least one baseline
    page.wait_for_selector("#plots img")
    page.click("#report-link")
    page.wait_for_load_state()
    assert "/report.html" in page.url and page.locator("img").count() >= 1


def test_drawing_pad_and_plot_images(page, server, shots):
    _open(page, server, "stubimage")
    box = page.locator("canvas.pad").bounding_box()
    page.mouse.move(box["x"] + 60, box["y"] + 60)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, box["y"] + 200, steps=10)
    page.mouse.up()
    page.wait_for_timeout(200)  # the canvas is turned into a PNG asynchronously
    assert "dark" in _predict(page) or "bright" in page.text_content("#result")
    assert page.locator("#result .bars .fill").count() == 2
    _open(page, server, "stubcsv")
    _good_input(page, "csv")
    _predict(page)
    img = page.locator("#result figure img")
    assert img.count() == 1 and img.evaluate("el => el.complete && el.naturalWidth > 0")
    page.screenshot(path=str(shots / "stubcsv-plot.png"), full_page=True)


def test_a_lab_without_a_run_says_how_to_train_it(page, tmp_path, shots):
    with ServerThread(create_app(tmp_path / "empty")) as s:
        page.goto(f"{s.url}/lab/boston")
        page.wait_for_selector("#notrun:not([hidden])")
        assert "dlabs run boston" in page.text_content("#notrun")
        page.goto(s.url + "/")
        page.wait_for_selector(".card")
        assert "no trained run" in page.text_content(".card[data-lab=boston]")
