"""An exported model (`dlabs export`) in use without PyTorch: its graph in ONNX Runtime, held to
what preprocessing.json says it takes and gives, inside the lab's own predict code.

`load` rebuilds a `Model` from the export folder alone (the run's config and fitted state, which
the export keeps) with `onnx` set and no network; each lab's predict then runs its network
through the graph. Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlabs.errors import DlabsError

SPEC = "preprocessing.json"


def dtype(onnx_type: str) -> str:
    """The NumPy name of an ONNX Runtime tensor type ('tensor(float)' -> 'float32')."""
    name = onnx_type.removeprefix("tensor(").removesuffix(")")
    return {"float": "float32", "double": "float64"}.get(name, name)


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return (text[-1] if text else type(e).__name__)[:300]


def _agree(shape, declared) -> bool:
    """A graph's dimension agrees with a declared one when both are the same number or both are named."""
    return len(shape) == len(declared) and all(
        (isinstance(a, int) and a == b) or (not isinstance(a, int) and not isinstance(b, int))
        for a, b in zip(shape, declared))


class Graph:
    """model.onnx in ONNX Runtime: ``graph(**inputs) -> {output: array}``, every input and output held
    to its dtype and shape in preprocessing.json (a named dimension is the same size wherever it appears)."""

    def __init__(self, folder: Path, spec: dict):
        try:
            import onnxruntime as ort
        except ImportError:
            raise DlabsError("predicting with --onnx needs ONNX Runtime: pip install 'dlabs[export]'") from None
        path = folder / spec.get("graph", "model.onnx")
        if not path.is_file():
            raise DlabsError(f"{folder}: no {path.name} (an export folder holds the graph beside {SPEC})")
        try:
            options = ort.SessionOptions()
            options.log_severity_level = 3
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # ONNX Runtime raises its own exception types
            raise DlabsError(f"{path}: not a model ONNX Runtime can load ({_first_line(e)})") from None
        self.path, self.inputs, self.outputs = path, spec["inputs"], spec["outputs"]
        for kind, found, declared in (("input", self.session.get_inputs(), self.inputs),
                                      ("output", self.session.get_outputs(), self.outputs)):
            graph = {a.name: (dtype(a.type), list(a.shape)) for a in found}
            for d in declared:
                kind_, shape = graph.get(d["name"], (None, None))
                if kind_ is None:
                    raise DlabsError(f"{path}: the graph has no {kind} '{d['name']}' that {SPEC} declares "
                                     f"(it has {', '.join(graph) or 'none'}); export the run again")
                if kind_ != d["dtype"] or not _agree(shape, d["shape"]):
                    raise DlabsError(f"{path}: the graph's {kind} '{d['name']}' is {kind_} {shape}, but {SPEC} says "
                                     f"{d['dtype']} {d['shape']}; export the run again")

    def __call__(self, **inputs) -> dict[str, np.ndarray]:
        sizes: dict[str, int] = {}
        feeds = {}
        for d in self.inputs:
            if d["name"] not in inputs:
                raise DlabsError(f"{self.path}: no value for the graph input '{d['name']}'")
            feeds[d["name"]] = np.ascontiguousarray(inputs[d["name"]], dtype=d["dtype"])
            self._fits("input", d, feeds[d["name"]].shape, sizes)
        try:
            found = self.session.run([d["name"] for d in self.outputs], feeds)
        except Exception as e:
            raise DlabsError(f"{self.path}: ONNX Runtime failed on this input ({_first_line(e)})") from None
        for d, value in zip(self.outputs, found):
            self._fits("output", d, value.shape, sizes)
        return {d["name"]: value for d, value in zip(self.outputs, found)}

    def _fits(self, kind: str, declared: dict, shape: tuple, sizes: dict) -> None:
        ok = len(shape) == len(declared["shape"])
        for n, want in zip(shape, declared["shape"]):
            ok = ok and (n == want if isinstance(want, int) else sizes.setdefault(want, n) == n)
        if not ok:
            raise DlabsError(f"{self.path}: the graph's {kind} '{declared['name']}' has shape {list(shape)}, but "
                             f"{SPEC} says {declared['shape']}")


def load(folder, expect: str | None = None):
    """The `Model` of an export folder: the lab, its config and fitted state, and the graph as
    `Model.onnx` (no network, no torch); with `expect`, an export of any other lab is an error."""
    from dlabs import config as config_
    from dlabs.api._data import _lab
    from dlabs.engine.runfolder import Run
    from dlabs.labs.base import Model

    folder = Path(folder).expanduser()
    if not (folder / SPEC).is_file():
        raise DlabsError(f"{folder}: not an export folder (no {SPEC}); make one with: dlabs export RUN")
    run = Run(folder)
    spec, meta = run.read_json(SPEC), run.read_json("config.json")
    try:
        lab_name, inputs, outputs = spec["lab"], spec["inputs"], spec["outputs"]
        if not all(isinstance(d["name"], str) and isinstance(d["shape"], list) for d in inputs + outputs):
            raise TypeError
    except (KeyError, TypeError):
        raise DlabsError(f"{folder / SPEC}: not what dlabs export writes (lab, inputs, outputs)") from None
    if lab_name != meta.get("lab"):
        raise DlabsError(f"{folder}: {SPEC} is for '{lab_name}' but config.json for '{meta.get('lab')}'")
    if expect is not None and lab_name != expect:
        raise DlabsError(f"{folder} is an export of '{lab_name}', not '{expect}'")
    lab = _lab(lab_name)
    cfg = config_.from_dict(lab.Config, meta["config"])
    return Model(lab, cfg, run.load_state(), None, folder, meta.get("seed", 0), onnx=Graph(folder, spec))

