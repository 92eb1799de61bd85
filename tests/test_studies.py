"""The studies: every study's smoke form runs through the one fit function and keeps its figures,
plot and run folders; the course's questions all have answers, and at least ten are measured.

The smoke forms share the session's data cache (`home`), so each data set is parsed once.
"""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from dlabs import api
from dlabs.api._studies import STUDIES
from dlabs.cli import app
from dlabs.report.course import COURSE, ORDER

from conftest import MIRROR


@pytest.fixture(scope="module")
def home():
    """The session's data cache (set before each test's own): what the smoke runs of the other
    tests have parsed is parsed once."""
    return os.environ["DLABS_HOME"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("studies-runs")


def _present(lab: str) -> bool:
    from dlabs.labs import get_lab

    return all((MIRROR / ds).is_dir() for ds in get_lab(lab).datasets[:1])


@pytest.mark.parametrize("name", [s.name for s in STUDIES])
def test_smoke_form_runs_and_keeps_its_figures(name, runs, home, monkeypatch):
    study = next(s for s in STUDIES if s.name == name)
    if not _present(study.lab):
        pytest.skip(f"{study.lab}'s data is not in {MIRROR}")
    monkeypatch.setenv("DLABS_HOME", str(home))
    result = api.run_study(name, smoke=True, runs=runs)
    folder = runs / "studies" / name / "smoke"
    saved = json.loads((folder / "study.json").read_text())
    assert saved["name"] == name and saved["smoke"] and isinstance(saved["holds"], bool)
    assert saved["finding"].startswith("Smoke form") and len(saved["finding"]) > 60
    assert [v["label"] for v in saved["variants"]] == [v.label for v in study.variants]
    for v in saved["variants"]:
        assert v["history"] and v["epochs"] >= 1 and v["command"].startswith(f"dlabs train {study.lab} --preset ")
        assert (folder / v["run"] / "model.safetensors").is_file()  # trained through api.train: a run folder
        assert all("--set " + o in v["command"] for o in study.smoke)
    assert (folder / "study.png").stat().st_size > 5000 and result["plot"] == str(folder / "study.png")
    assert api.read_study(name, runs)["smoke"]  # the book falls back to the smoke form until a real one exists


def test_study_verbs(runs, home, monkeypatch):
    monkeypatch.setenv("DLABS_HOME", str(home))
    cli = CliRunner()
    listed = cli.invoke(app, ["study", "list", "--runs", str(runs), "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [r["name"] for r in rows] == [s.name for s in STUDIES] and all(r["questions"] for r in rows)
    bad = cli.invoke(app, ["study", "run", "no-such-study", "--runs", str(runs)])
    assert bad.exit_code != 0 and "unknown study 'no-such-study'" in str(bad.exception)  # main() prints it, exit 2
    ran = cli.invoke(app, ["study", "run", "letters-activation", "--smoke", "--runs", str(runs)])
    assert ran.exit_code == 0, ran.output
    assert "letters-activation: Smoke form" in ran.output and "study.png" in ran.output


def test_every_question_is_answered_and_ten_are_measured():
    assert ORDER == ("boston", "imdb", "letters", "mnist", "fashion", "stocks", "faces", "agegender", "colorize")
    questions = [q for c in COURSE for q in c.questions]
    assert len(questions) == 29  # the manual's assignment questions (fashion repeats imdb's five)
    assert all(len(q.answer) > 120 for q in questions)
    names = {s.name for s in STUDIES}
    assert all(set(q.studies) <= names for q in questions)
    assert sum(bool(q.studies) for q in questions) >= 10
    assert names <= {s for q in questions for s in q.studies}  # every study answers a question
    assert all(c.traps for c in COURSE)  # and every chapter names the traps its material falls into
