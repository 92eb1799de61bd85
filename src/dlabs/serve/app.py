"""The FastAPI app: pages, a JSON API per lab, and the runs' reports and plots.

Routes (all documented at ``/docs``):

- ``GET /`` and ``GET /lab/<lab>``: the pages (static HTML, CSS and JS in ``static/``);
- ``GET /book``: the lab book (`dlabs.report.book`) from the runs as they are, one self-contained page;
- ``GET /api/labs``, ``GET /api/labs/<lab>``: what the pages show (headline metric, form,
  metrics beside baselines, plots);
- ``POST /api/<lab>/predict``: one route per registered lab, with its own request schema;
- ``GET /api/artifacts/<token>``: images a prediction produced (see `artifacts`);
- ``GET /runs/<lab>/<run>/report.html`` and ``.../plots/[data/]<name>.png``: a run's report, from
  names that are checked, never from a path taken as given.

Errors are JSON ``{"detail": "one line"}``: 422 for bad input, 413 for an upload over the
limit, 415 for a content type the route does not take, 409 for a lab with no trained run
(the message says how to train one), 404 for anything that is not there.
"""

from __future__ import annotations

import logging
import re
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from dlabs.errors import DlabsError, InputError, printable
from dlabs.jsonable import jsonable
from dlabs.labs import labs
from dlabs.serve.artifacts import Artifacts
from dlabs.serve.inputs import MAX_UPLOAD_BYTES, TooLarge, Unsupported, parse, read_body
from dlabs.serve.loaded import NoRun, Runs, build_form

log = logging.getLogger(__name__)

STATIC = Path(str(resources.files("dlabs.serve") / "static"))
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


def create_app(runs_dir: str | Path | None = None, chosen: dict[str, str] | None = None):
    """The ASGI app serving every registered lab from `runs_dir` (default: $DLABS_RUNS or ./runs).

    `chosen` maps a lab to the run (id or folder) to serve instead of its latest.
    """
    import dlabs

    runs = Runs(runs_dir, chosen)
    artifacts = Artifacts()
    app = FastAPI(title="dlabs", version=dlabs.__version__,
                  description="Try every trained dlabs lab on your own input, and read its report.")
    app.state.runs = runs
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(DlabsError)
    async def _dlabs_error(request, exc: DlabsError):
        return JSONResponse({"detail": str(exc)}, status_code=_status(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=422)

    # pages ----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def home():
        return FileResponse(STATIC / "index.html")

    @app.get("/lab/{name}", include_in_schema=False)
    def lab_page(name: str):
        _known(name)
        return FileResponse(STATIC / "lab.html")

    @app.get("/book", include_in_schema=False)
    async def book():
        from dlabs import api

        return HTMLResponse(await run_in_threadpool(api.book_html, runs.root))

    # the API the pages use ------------------------------------------------------------------
    @app.get("/api/labs", summary="Every lab with its latest run's headline metric")
    def list_labs() -> list[dict[str, Any]]:
        return [runs.summary(name) for name in labs()]

    @app.get("/api/labs/{name}", summary="A lab's form, run, metrics beside baselines, and plots")
    def lab_details(name: str) -> dict[str, Any]:
        _known(name)
        return runs.details(name)

    @app.get("/api/artifacts/{name}", summary="An image a prediction produced")
    def artifact(name: str):
        found = artifacts.get(name)
        if found is None:
            return JSONResponse({"detail": "no such image (images are kept for the latest predictions only)"},
                                status_code=404)
        return Response(found[0], media_type=found[1], headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/health", include_in_schema=False)
    def health():
        return {"ok": True}

    for name, lab in labs().items():
        found = runs.state_of(name)
        app.add_api_route(
            f"/api/{name}/predict", _predict_route(name, runs, artifacts), methods=["POST"],
            response_model=Predictions, summary=f"Predict with {name} ({lab.input_kind} input)",
            description=f"{lab.title}. Uses the lab's latest trained run (loaded once).",
            tags=["predict"], openapi_extra=_openapi(build_form(lab, found[1] if found else {})))

    # reports --------------------------------------------------------------------------------
    @app.get("/runs/{name}/{run_id}/report.html", include_in_schema=False)
    def report(name: str, run_id: str):
        return FileResponse(_run_file(runs, name, run_id, "report.html"), media_type="text/html")

    @app.get("/runs/{name}/{run_id}/plots/{file:path}", include_in_schema=False)
    def plot(name: str, run_id: str, file: str):
        parts = file.split("/")
        if not file.lower().endswith(".png") or len(parts) > 3:
            raise _NotFound("not a plot")
        return FileResponse(_run_file(runs, name, run_id, "plots", *parts), media_type="image/png")

    return app


def serve_forever(host: str = "127.0.0.1", port: int = 8000, runs=None, chosen: dict[str, str] | None = None) -> None:
    """Serve the web app (pages and JSON API) for every lab's latest (or chosen) run until stopped."""
    import uvicorn

    app = create_app(runs, chosen)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("binding to %s: anyone who can reach this machine on port %d can use the app", host, port)
    log.info("serving %s on http://%s:%d (API docs at /docs)", app.state.runs.root, host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _predict_route(name: str, runs: Runs, artifacts: Artifacts):
    async def predict(request: Request) -> dict:
        loaded = await run_in_threadpool(runs.get, name)  # loads the run on first use
        body = await read_body(request)
        req = await parse(request, body, loaded.form)
        try:
            preds = await run_in_threadpool(loaded.predict, req)
        except DlabsError:
            raise
        except Exception:  # a lab's bug must not take the server down; the log has the traceback
            log.exception("%s: predict failed", name)
            raise _ServerError(f"{name}: the model failed on this input (see the server log)") from None
        return {"lab": name, "run": loaded.run.id, "predictions": jsonable(artifacts.expose(preds), text=printable)}

    predict.__name__ = f"predict_{name}"
    return predict


class Predictions(BaseModel):
    lab: str
    run: str
    predictions: list[dict[str, Any]]


class _NotFound(DlabsError):
    pass


class _ServerError(DlabsError):
    pass


def _status(exc: DlabsError) -> int:
    for kind, status in ((TooLarge, 413), (Unsupported, 415), (InputError, 422), (NoRun, 409),
                         (_NotFound, 404), (_ServerError, 500)):
        if isinstance(exc, kind):
            return status
    return 400


def _known(name: str) -> None:
    if name not in labs():
        raise _NotFound(f"unknown lab '{name}' (labs: {', '.join(labs())})")


def _run_file(runs: Runs, name: str, run_id: str, *parts: str) -> Path:
    """A file inside a run folder of a known lab, from checked names only (no traversal)."""
    _known(name)
    for part in (run_id, *parts):
        if not _SAFE_NAME.fullmatch(part):
            raise _NotFound("not found")
    lab_root = (runs.root / name).resolve()
    path = (lab_root / run_id).joinpath(*parts).resolve()
    if not path.is_relative_to(lab_root) or not path.is_file():
        raise _NotFound("not found")
    return path


def _openapi(form: dict) -> dict:
    """The request body schema of a lab's predict route, from its form."""
    kinds = {"number": "number", "integer": "integer", "boolean": "boolean"}
    options = {o["name"]: {"type": kinds.get(o.get("type"), "string"), "description": o.get("help", ""),
                           **({"default": o["default"]} if "default" in o else {})} for o in form.get("options", [])}
    kind = form["kind"]
    if kind == "tabular":
        props = {f["name"]: {"type": "number", **({"example": f["example"]} if f.get("example") is not None else {})}
                 for f in form.get("fields", [])}
        schema = {"type": "object", "properties": {**props, **options}, "required": list(props),
                  "description": "the features by name (the run's features; all required)"}
        if not props:
            schema = {"type": "object", "additionalProperties": {"type": "number"},
                      "description": "the features by name (train a run to see them)"}
        content = {"application/json": {"schema": schema}, "multipart/form-data": {"schema": schema}}
    elif kind == "text":
        schema = {"type": "object", "required": ["text"],
                  "properties": {"text": {"type": "string", "example": form.get("example") or "a text"}, **options}}
        content = {"application/json": {"schema": schema}, "multipart/form-data": {"schema": schema}}
    else:
        schema = {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": f"a {kind} file of at most {MAX_UPLOAD_BYTES // 2**20} MB"}, **options}}
        content = {"multipart/form-data": {"schema": schema}}
    errors = {"409": "no trained run (the message says how to train one)", "413": "upload over the size limit",
              "415": "content type not taken", "422": "bad input (the message names the problem)"}
    return {"requestBody": {"required": True, "content": content},
            "responses": {code: {"description": text, "content": {"application/json": {"schema": {
                "type": "object", "properties": {"detail": {"type": "string"}}}}}} for code, text in errors.items()}}
