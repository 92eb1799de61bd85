"""The explain checkbox of the web page, in a real headless Chromium: an image lab's page asked to
explain shows a saliency map of the uploaded photo's own size beside the prediction."""

from __future__ import annotations

import pytest

from dlabs.serve import create_app

from serving import ServerThread, browser_path, servable_labs, smoke_runs
from test_explain import photo

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (scripts/install-browser.sh)")
pytest.importorskip("captum", reason="captum not installed (pip install 'dlabs[explain]')")
pytestmark = pytest.mark.skipif(browser_path() is None, reason="chromium not installed (scripts/install-browser.sh)")
LABS = [lab for lab in ("mnist", "agegender") if lab in servable_labs()]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = smoke_runs(tmp_path_factory)
    with ServerThread(create_app(runs)) as s:
        yield s.url, runs


@pytest.mark.parametrize("lab", LABS)
def test_the_page_shows_a_map_of_the_photo_size(lab, server):
    from PIL import Image
    import io

    from test_serve_browser import CHROMIUM_ARGS

    url, runs = server
    image = photo(lab, runs)
    size = list(Image.open(io.BytesIO(image)).size)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/lab/{lab}")
        page.wait_for_selector("#predict", timeout=15_000)
        page.set_input_files("input[name=file]", files=[{"name": "photo.png", "mimeType": "image/png", "buffer": image}])
        page.check("input[type=checkbox][name=explain]")
        page.click("#predict")
        page.wait_for_selector("#result[data-state=ok], #result[data-state=error]", state="attached", timeout=60_000)
        assert page.get_attribute("#result", "data-state") == "ok", page.text_content("#error")
        maps = page.locator("#result figure img[alt^=saliency]")
        maps.first.wait_for()
        page.wait_for_function("() => [...document.querySelectorAll('#result figure img')].every(i => i.complete)")
        sizes = maps.evaluate_all("els => els.map(e => [e.naturalWidth, e.naturalHeight])")
        assert len(sizes) == (2 if lab == "agegender" else 1) and all(s == size for s in sizes)
        assert not errors, errors
        browser.close()
