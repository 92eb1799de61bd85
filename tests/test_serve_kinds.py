"""The web app with every input kind, before any real lab of that kind exists.

Three stub labs (text, image, csv; see `stub_labs`) are put in the registry for this module
only, so the app's form building, upload handling, limits and image artifacts are tested for
every kind the Lab interface declares. The real labs are tested the same way in
`test_serve.py`, parametrised over the registry.
"""

from __future__ import annotations


import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from dlabs.serve import create_app  # noqa: E402
from dlabs.serve.samples import bad_requests, good_request  # noqa: E402

from stub_labs import STUBS, registered  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("stub-runs")
    with registered(root):
        with TestClient(create_app(root)) as c:
            yield c


def _form(client, name):
    return client.get(f"/api/labs/{name}").json()["form"]


@pytest.mark.parametrize("name", [s.name for s in STUBS])
def test_form_follows_the_input_kind_and_the_lab_hook(client, name):
    form = _form(client, name)
    assert form["kind"] == name.removeprefix("stub")
    if name == "stubcsv":
        assert form["options"][0]["name"] == "days"
    spec = client.get("/openapi.json").json()["paths"][f"/api/{name}/predict"]["post"]["requestBody"]["content"]
    assert ("multipart/form-data" in spec) and (("application/json" in spec) == (name == "stubtext"))


@pytest.mark.parametrize("name", [s.name for s in STUBS])
def test_good_input(client, name):
    r = client.post(f"/api/{name}/predict", **good_request(_form(client, name)))
    assert r.status_code == 200, r.text
    assert r.json()["predictions"]


@pytest.mark.parametrize(("name", "case"), [(s.name, i) for s in STUBS
                                            for i in range(len(bad_requests({"kind": s.input_kind})))])
def test_bad_input(client, name, case):
    what, request, status = bad_requests(_form(client, name))[case]
    r = client.post(f"/api/{name}/predict", **request)
    assert r.status_code == status, (what, r.text)
    assert r.json()["detail"] and "Traceback" not in r.json()["detail"]


def test_options_reach_predict_and_plots_come_back_as_images(client):
    req = good_request(_form(client, "stubcsv"))
    req["data"] = {"days": "5"}
    p = client.post("/api/stubcsv/predict", **req).json()["predictions"][0]
    assert p["days"] == 5 and len(p["forecast"]) == 5
    assert p["plot"].startswith("/api/artifacts/")
    img = client.get(p["plot"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    t = client.post("/api/stubtext/predict", json={"text": "x" * 80, "threshold": 0.9}).json()["predictions"][0]
    assert t["label"] == "negative"


def test_image_upload_is_read_as_an_image(client):
    from dlabs.serve.samples import digit_png

    r = client.post("/api/stubimage/predict", files={"file": ("d.jpg.exe", digit_png(), "application/octet-stream")})
    assert r.status_code == 200 and r.json()["predictions"][0]["label"] == "dark"
    assert r.json()["predictions"][0]["input"] == "d.jpg.exe"  # the user's name, not the server's copy


def test_errors_name_the_users_file_not_the_servers_copy(client):
    r = client.post("/api/stubcsv/predict", files={"file": ("my prices.csv", b"a,b\n1,2\n", "text/csv")})
    assert r.status_code == 422
    assert r.json()["detail"] == "my prices.csv: no 'Open' column"
