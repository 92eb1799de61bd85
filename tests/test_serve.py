"""The web app's API: every lab's predict endpoint with good and bad input, pages, reports.

Parametrised over the lab registry (the labs whose data is in the mirror), so a lab added
later is served and tested here from its `input_kind` and form alone.
"""

from __future__ import annotations


import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from dlabs.errors import DlabsError  # noqa: E402
from dlabs.labs import get_lab, labs  # noqa: E402
from dlabs.serve import create_app  # noqa: E402
from dlabs.serve.artifacts import Artifacts  # noqa: E402
from dlabs.serve.samples import bad_requests, digit_png, good_request  # noqa: E402

from serving import UNEVALUATED, servable_labs, smoke_runs  # noqa: E402

LABS = servable_labs()


def _bad_cases():
    """(lab, what) for every bad input of every servable lab's kind, known before runs exist."""
    cases = []
    for name in LABS:
        kind = get_lab(name).input_kind
        form = {"kind": kind, "fields": [{"name": "F", "example": 1.0}], "options": []}
        cases += [(name, what) for what, _, _ in bad_requests(form)]
    return cases


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return smoke_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(create_app(runs)) as c:
        yield c


@pytest.fixture(scope="module")
def empty_client(tmp_path_factory):
    with TestClient(create_app(tmp_path_factory.mktemp("no-runs"))) as c:
        yield c


def _form(client, name: str) -> dict:
    r = client.get(f"/api/labs/{name}")
    assert r.status_code == 200
    return r.json()["form"]


def test_home_lists_every_registered_lab(client):
    r = client.get("/api/labs")
    assert r.status_code == 200
    rows = {row["lab"]: row for row in r.json()}
    assert set(rows) == set(labs())
    for name in LABS:
        assert rows[name]["run"] and rows[name]["headline"] == get_lab(name).headline
        assert (rows[name]["value"] is None) == (name == UNEVALUATED)
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert client.get("/static/app.js").status_code == 200


def test_openapi_documents_a_predict_route_per_lab(client):
    spec = client.get("/openapi.json").json()
    for name in labs():
        op = spec["paths"][f"/api/{name}/predict"]["post"]
        assert op["requestBody"]["required"] and {"413", "422"} <= set(op["responses"])
    # the tabular schema names the run's own features
    boston = spec["paths"]["/api/boston/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"CRIM", "LSTAT"} <= set(boston["required"])


@pytest.mark.parametrize("name", LABS)
def test_lab_page_and_details(client, name):
    assert client.get(f"/lab/{name}").status_code == 200
    d = client.get(f"/api/labs/{name}").json()
    assert d["form"]["kind"] == get_lab(name).input_kind and d["run"]
    if name == UNEVALUATED:
        assert "metrics" not in d and d["report"] is None  # the page says it is not evaluated yet
        return
    assert d["metrics"]["model"] and d["metrics"]["baselines"]
    assert d["plots"] and d["report"]
    assert client.get(d["report"]).status_code == 200
    assert name != "boston" or d["data_plots"]
    for url in d["plots"][:1] + d["data_plots"][:1]:
        png = client.get(url)
        assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"


@pytest.mark.parametrize("name", LABS)
def test_predict_good_input(client, name):
    r = client.post(f"/api/{name}/predict", **good_request(_form(client, name)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lab"] == name and body["run"] and body["predictions"] and isinstance(body["predictions"][0], dict)
    for p in body["predictions"]:
        for item in p.get("top", []):
            assert 0.0 <= item["probability"] <= 1.0 and "label" in item


@pytest.mark.parametrize(("name", "what"), _bad_cases())
def test_predict_bad_input_is_a_4xx_with_a_message(client, name, what):
    cases = {w: (req, status) for w, req, status in bad_requests(_form(client, name))}
    request, status = cases[what]
    r = client.post(f"/api/{name}/predict", **request)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail and "Traceback" not in detail
    # and the server keeps serving
    assert client.post(f"/api/{name}/predict", **good_request(_form(client, name))).status_code == 200


def test_boston_bad_field_names_the_field(client):
    form = _form(client, "boston")
    r = client.post("/api/boston/predict", json=good_request(form)["json"] | {"RM": "six"})
    assert r.status_code == 422 and "RM" in r.json()["detail"]
    r = client.post("/api/boston/predict", data={k: str(v) for k, v in good_request(form)["json"].items()})
    assert r.status_code == 200  # a form post works like JSON


def test_prediction_depends_on_the_input(client):
    """The saved scaler is used: a different house gets a different price (the manual's trap)."""
    fields = good_request(_form(client, "boston"))["json"]
    a = client.post("/api/boston/predict", json=fields).json()["predictions"][0]["MEDV"]
    b = client.post("/api/boston/predict", json=fields | {"RM": 8.5, "LSTAT": 2.0}).json()["predictions"][0]["MEDV"]
    assert a != b


def test_upload_size_limit_is_refused_from_the_header(client):
    from dlabs.serve import MAX_UPLOAD_BYTES

    r = client.post("/api/boston/predict", content=b"{}", headers={"content-type": "application/json",
                                                                    "content-length": str(MAX_UPLOAD_BYTES * 2)})
    assert r.status_code == 413 and "MB" in r.json()["detail"]


def test_a_lab_with_no_run_says_how_to_train_one(empty_client):
    rows = empty_client.get("/api/labs").json()
    assert all(row["run"] is None and "dlabs run" in row["train_command"] for row in rows)
    d = empty_client.get("/api/labs/boston").json()
    assert d["run"] is None and "dlabs run boston" in d["train_command"]
    r = empty_client.post("/api/boston/predict", json={"CRIM": 1})
    assert r.status_code == 409 and "dlabs run boston" in r.json()["detail"]


def test_unknown_lab_is_404(client):
    assert client.get("/lab/nope").status_code == 404
    r = client.get("/api/labs/nope")
    assert r.status_code == 404 and "boston" in r.json()["detail"]
    assert client.post("/api/nope/predict", json={}).status_code in (404, 405)


def test_reports_cannot_reach_outside_the_runs(client, runs, tmp_path):
    run_id = client.get("/api/labs/boston").json()["run"]
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG secret")
    (runs / "boston" / run_id / "plots" / "link.png").symlink_to(secret)
    (runs / "outside.png").write_bytes(b"\x89PNG outside")
    try:  # the smoke runs are shared with other test files: leave no link behind
        for url in [f"/runs/boston/{run_id}/plots/..%2F..%2F..%2Foutside.png",
                    f"/runs/boston/{run_id}/plots/%2e%2e%2Fconfig.json",
                    f"/runs/boston/{run_id}/plots/..",
                    f"/runs/boston/{run_id}/plots/data/../../config.json",
                    f"/runs/boston/{run_id}/plots/data/..%2F..%2Fconfig.json",
                    f"/runs/boston/{run_id}/plots/%2e%2e/%2e%2e/%2e%2e/outside.png",
                    f"/runs/boston/{run_id}/plots/a/b/c/d.png",
                    f"/runs/boston/{run_id}/plots//etc/passwd.png",
                    "/runs/boston/..%2F..%2Foutside.png/report.html",
                    "/runs/boston/../report.html",
                    "/runs/boston/%2e%2e/plots/outside.png",
                    "/runs/..%2F..%2Fetc/x/report.html",
                    "/runs/boston/.hidden/report.html",
                    f"/runs/boston/{run_id}/plots/link.png",  # a symlink out of the run folder
                    f"/runs/boston/{run_id}/config.json",
                    f"/runs/boston/{run_id}/plots/../config.json",
                    "/static/..%2F..%2F__init__.py",
                    "/static/../app.py",
                    "/api/artifacts/..%2F..%2Fetc%2Fpasswd"]:
            r = client.get(url)
            assert r.status_code == 404, url
            assert b"secret" not in r.content and b"outside" not in r.content[:200]
    finally:
        (runs / "boston" / run_id / "plots" / "link.png").unlink()
        (runs / "outside.png").unlink()


def test_predicted_images_are_served_by_token_only():
    from dlabs.labs import Output

    store = Artifacts(capacity=2)
    out = store.expose({"plot": Output("forecast.png", digit_png()), "label": "7", "path": "/etc/passwd.png",
                        "nested": [{"plot": Output("f.png", digit_png())}]})
    assert out["plot"].startswith("/api/artifacts/") and out["nested"][0]["plot"].startswith("/api/artifacts/")
    assert out["label"] == "7" and out["path"] == "/etc/passwd.png"  # a path is text, never a file to serve
    assert store.get(out["plot"].rsplit("/", 1)[1]) == (digit_png(), "image/png")
    for _ in range(3):
        store.expose({"plot": Output("forecast.png", digit_png())})
    assert store.get(out["plot"].rsplit("/", 1)[1]) is None  # bounded: old images are dropped


def test_a_chosen_run_is_served_and_a_wrong_choice_fails_at_start(client, runs):
    run_id = client.get("/api/labs/boston").json()["run"]
    with TestClient(create_app(runs, {"boston": run_id})) as c:
        assert c.get("/api/labs/boston").json()["run"] == run_id
    with pytest.raises(DlabsError, match="not a run folder"):
        create_app(runs, {"boston": "no-such-run"})
    with pytest.raises(DlabsError, match="unknown lab"):
        create_app(runs, {"nope": run_id})


def test_cli_serve_help_and_bad_run_option():
    from typer.testing import CliRunner

    from dlabs.cli import app

    out = CliRunner().invoke(app, ["serve", "--help"])
    assert out.exit_code == 0 and "127.0.0.1" in out.output
    out = CliRunner().invoke(app, ["serve", "--run", "boston"])
    assert isinstance(out.exception, DlabsError) and "LAB=RUN" in str(out.exception)
