"""`dlabs export` (ONNX) and `dlabs predict --onnx`.

Every lab's smoke run exports its whole predictor and passes its own check (ONNX Runtime against
the lab's PyTorch prediction on up to 1,000 test examples); predicting with the export gives what
predicting with the run gives, in a process that never imports torch; a broken export folder, a
failed check or a model the exporter cannot write is a one-line error that leaves nothing behind.
The session's smoke runs (`serving.smoke_runs`), one export per lab, serve the whole file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlabs import api
from dlabs.errors import DlabsError
from dlabs.labs import get_lab, labs

from conftest import MIRROR
from serving import smoke_runs

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """lab -> (the session's smoke run, its export), exported on first use, once for the file."""
    root, done = tmp_path_factory.mktemp("export"), {}

    def get(name: str):
        if not (MIRROR / get_lab(name).datasets[0]).is_dir():
            pytest.skip("data not in mirror")
        if name not in done:
            run = api.latest_run(name, smoke_runs(tmp_path_factory))
            done[name] = (run, api.export(run, out=root / name))
        return done[name]

    return get


@pytest.mark.parametrize("name", list(labs()))
def test_every_lab_exports_its_predictor_and_passes_its_check(name, exported):
    _, r = exported(name)
    check = r["check"]
    assert check["examples"] >= 1 and check["max_abs_diff"] <= 1e-4
    assert check["class_agreement"] is None or check["class_agreement"] >= 0.999
    assert {"model.onnx", "preprocessing.json", "README.md", "config.json", "state.json"} <= set(r["files"])
    spec = json.loads(Path(r["export"], "preprocessing.json").read_text())
    assert spec["lab"] == name and spec["inputs"] and spec["outputs"] and spec["before_the_graph"]
    assert all({"name", "dtype", "shape", "description"} <= set(t) for t in spec["inputs"] + spec["outputs"])
    card = Path(r["export"], "README.md").read_text()
    assert card.startswith("---\nlibrary_name: onnx\n") and "## Limitations" in card and "## Export check" in card


def _inputs(name: str, tmp_path) -> list[str]:
    """A few inputs of the lab's own kind, taken from its data."""
    if name == "mnist":
        from PIL import Image

        from dlabs.data import idx

        *_, x_test, _ = idx.load_images("mnist", 10)
        paths = [tmp_path / f"digit{i}.png" for i in range(3)]
        for i, path in enumerate(paths):
            Image.fromarray(255 - x_test[i]).save(path)  # drawn dark on light, as a person would
        return [str(p) for p in paths]
    if name == "imdb":
        return ["A wonderful film: the acting is superb and I loved every minute of it!",
                "Dull, predictable and far too long. I want those two hours back.",
                "The plot was thin but the music and the photography saved it for me."]
    from dlabs.data import tabular

    x, _, names, _ = tabular.load_boston()
    return [json.dumps(dict(zip(names, row.tolist()))) for row in x[:3]]


def _close(a, b) -> bool:
    """Equal predictions, numbers to within the last printed digit (ONNX Runtime and PyTorch round alike
    but for a last-bit difference that may fall either side of a rounding)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return isinstance(b, (int, float)) and abs(a - b) <= 1e-3
    return a == b


@pytest.mark.parametrize("name", ["mnist", "imdb", "boston"])
def test_predict_with_the_export_gives_the_runs_output_without_torch(name, exported, tmp_path):
    run, r = exported(name)
    inputs = _inputs(name, tmp_path)
    with_run = api.predict(name, inputs, run)
    code = ("import json, sys\nfrom dlabs import api\n"
            f"p = api.predict({name!r}, {inputs!r}, onnx={r['export']!r})\n"
            "print(json.dumps({'predictions': p, 'torch': 'torch' in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["torch"] is False
    assert _close(with_run, found["predictions"]), (with_run, found["predictions"])
    # the labels themselves are the same, not just close
    key = "top" if name != "boston" else "MEDV"
    assert [p[key][0]["label"] if key == "top" else round(p[key]) for p in with_run] == \
           [p[key][0]["label"] if key == "top" else round(p[key]) for p in found["predictions"]]


def test_the_cli_exports_and_predicts(exported, tmp_path):
    from typer.testing import CliRunner

    from dlabs.cli import app

    run, _ = exported("letters")
    cli = CliRunner()
    out = cli.invoke(app, ["export", str(run.path), "--out", str(tmp_path / "letters"), "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["check"]["class_agreement"] >= 0.999
    row = json.dumps({f: 7 for f in api.load(run).state["features"]})
    a = cli.invoke(app, ["predict", "letters", row, "--run", str(run.path), "--json"])
    b = cli.invoke(app, ["predict", "letters", row, "--onnx", str(tmp_path / "letters"), "--json"])
    assert a.exit_code == b.exit_code == 0 and _close(json.loads(a.output), json.loads(b.output))


def _graph(path, image_side: int, classes: int) -> None:
    """A stand-in model.onnx: uint8 images (N, 1, side, side) -> float (N, classes)."""
    import onnx
    from onnx import TensorProto, helper

    flat = image_side * image_side
    nodes = [helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Flatten", ["f"], ["flat"], axis=1),
             helper.make_node("Slice", ["flat", "starts", "ends", "axes"], ["probabilities"])]
    inits = [helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in
             (("starts", 0), ("ends", min(classes, flat)), ("axes", 1))]
    graph = helper.make_graph(nodes, "stand_in",
                              [helper.make_tensor_value_info("image", TensorProto.UINT8, ["batch", 1, image_side, image_side])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", classes])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.parametrize("side, classes, says", [(32, 10, "input 'image'"), (28, 5, "output 'probabilities'")])
def test_a_graph_of_the_wrong_shape_is_a_one_line_error(side, classes, says, exported, tmp_path):
    _, r = exported("mnist")
    crafted = tmp_path / "crafted"
    shutil.copytree(r["export"], crafted)
    _graph(crafted / "model.onnx", side, classes)
    with pytest.raises(DlabsError, match=f"the graph's {says} .* but preprocessing.json says"):
        api.predict("mnist", _inputs("mnist", tmp_path)[:1], onnx=crafted)
    out = subprocess.run([sys.executable, "-m", "dlabs", "predict", "mnist", _inputs("mnist", tmp_path)[0],
                          "--onnx", str(crafted)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("error: ")


def test_an_export_folder_of_another_lab_or_none_is_refused(exported, tmp_path):
    _, r = exported("mnist")
    with pytest.raises(DlabsError, match="is an export of 'mnist', not 'fashion'"):
        api.predict("fashion", ["x.png"], onnx=r["export"])
    with pytest.raises(DlabsError, match="not an export folder"):
        api.predict("mnist", ["x.png"], onnx=tmp_path)


def test_a_failed_check_writes_nothing(exported, tmp_path, monkeypatch):
    run, _ = exported("letters")
    lab = get_lab("letters")
    real = type(lab).export

    def off(self, model, test):  # the graph is right; PyTorch's "expected" outputs are not
        ex = real(self, model, test)
        ex.expected = [{k: v + 1e-3 for k, v in e.items()} for e in ex.expected]
        return ex

    monkeypatch.setattr(type(lab), "export", off)
    with pytest.raises(DlabsError, match=r"does not match PyTorch on 1000 test examples: largest absolute difference "
                                         r"0\.001 .*nothing written"):
        api.export(run, out=tmp_path / "exports" / "out")
    assert list((tmp_path / "exports").iterdir()) == []  # no graph, no temporary folder


def test_a_model_the_exporter_cannot_write_is_refused_in_one_line(exported, tmp_path, monkeypatch):
    import torch

    from dlabs.labs import Export

    class Inverse(torch.nn.Module):  # no ONNX function for a matrix inverse
        def forward(self, x):
            return torch.linalg.inv(x.reshape(-1, 4, 4)).reshape(len(x), -1)

    run, _ = exported("letters")
    lab = get_lab("letters")
    monkeypatch.setattr(type(lab), "export", lambda self, model, test: Export(
        Inverse(), {"features": "x"}, {"out": "y"}, [{"features": np.eye(4).ravel()[None].repeat(3, 0)}]))
    with pytest.raises(DlabsError) as e:
        api.export(run, out=tmp_path / "exports" / "out")
    assert "cannot be exported to ONNX" in str(e.value) and "linalg_inv" in str(e.value) and "\n" not in str(e.value)
    assert list((tmp_path / "exports").iterdir()) == []


def test_a_lab_that_declares_no_graph_is_refused():
    from dlabs.labs import Lab

    class Bare(Lab):
        name = "bare"

    with pytest.raises(DlabsError, match="bare: cannot be exported"):
        Bare().export(None, None)
