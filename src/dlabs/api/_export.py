"""`dlabs export`: a run's whole predictor as one ONNX graph, checked with ONNX Runtime against the
lab's own PyTorch prediction on up to 1,000 test examples, beside preprocessing.json (what the graph
takes and gives, and the preparation left outside it), the run's config and fitted state (which
`dlabs predict --onnx` reads) and a model card. Everything is written into a temporary folder beside
the target and renamed into place only when the check passes: a failed export leaves nothing.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from dlabs.api._data import _run, load
from dlabs.errors import DlabsError
from dlabs.jsonable import jsonable

log = logging.getLogger("dlabs.api")

MAX_DIFF = 1e-4  # largest absolute difference between ONNX Runtime and PyTorch allowed, in the outputs' units...
# ...or this share of the value where that is larger: float32 holds 7 digits, so two float32 runtimes differ by
# some 1e-7 of a value (a price of 800 from the manual's stocks LSTM: by 1.7e-4), which is not an export's error
MAX_REL_DIFF = 1e-6
MIN_AGREEMENT = 0.999  # share of examples whose class must agree
SPEC = "preprocessing.json"
KEPT = ("config.json", "state.json", "state.safetensors")  # from the run folder: what predict --onnx rebuilds from


def export(run, fmt: str = "onnx", out=None, runs=None) -> dict:
    """Export a run (its folder, or a `Run`) into the folder `out` (default: the run's ``onnx`` folder);
    returns where, the files and the check's figures."""
    if fmt != "onnx":
        raise DlabsError(f"--format {fmt}: dlabs exports onnx only")
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
    except ImportError as e:
        raise DlabsError(f"dlabs export needs {e.name}: pip install 'dlabs[export]'") from None
    t0 = time.perf_counter()
    run = _run(run, runs=runs)
    model = load(run)
    lab = model.lab
    out = Path(out).expanduser() if out else run.path / "onnx"
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / SPEC).is_file())):
        raise DlabsError(f"--out {out}: exists and is not an export folder; give a new or empty folder")
    log.info("exporting %s/%s: reading the test split", lab.name, run.id)
    ex = lab.export(model, lab.test_data(model.cfg, model.state))
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    try:
        tmp.mkdir(parents=True)
        _write_graph(lab.name, ex, tmp / "model.onnx")
        session, check = _check(lab.name, ex, tmp / "model.onnx")
        meta = run.read_json("config.json")
        spec = _spec(lab.name, run.id, meta["preset"], ex, session, check, tmp / "model.onnx")
        _write(tmp, spec, ex, run, model)
        _replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = round(time.perf_counter() - t0, 1)
    log.info("exported %s/%s to %s in %.1fs", lab.name, run.id, out, seconds)
    return {"export": str(out), "lab": lab.name, "run": run.id, "files": sorted(p.name for p in out.iterdir()),
            "check": check, "seconds": seconds}


def _write_graph(lab: str, ex, path: Path) -> None:
    import warnings

    import torch

    names = list(ex.inputs)
    if list(ex.checks[0]) != names:
        raise DlabsError(f"{lab}: the export's check inputs {list(ex.checks[0])} are not its graph inputs {names}")
    args = tuple(torch.from_numpy(np.array(v)) for v in ex.checks[0].values())  # writable copies
    dynamic = tuple(ex.dynamic.get(n, {0: "batch"}) for n in names)
    quiet = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript", "onnx_ir")]
    levels = [q.level for q in quiet]
    for q in quiet:  # the exporter's progress notes are not the user's concern
        q.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(ex.module.eval(), args, str(path), input_names=names, output_names=list(ex.outputs),
                              dynamic_shapes=dynamic, dynamo=True, external_data=False, verbose=False)
    except Exception as e:  # the exporter raises many kinds; each means: this model cannot be written as ONNX
        raise DlabsError(f"{lab}: cannot be exported to ONNX: {_reason(e)}") from None
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)


def _reason(e: Exception) -> str:
    """The exporter's own reason in one line: the first exception of its summary (an op without an ONNX
    function, a shape it cannot trace), else its message's first line."""
    import re

    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(e).splitlines()]
    summary = [line.split(">: ", 1)[1] for line in lines if line.startswith("<class '") and ">: " in line]
    return (summary[0] if summary else next((line for line in lines if line), type(e).__name__))[:300]


def _check(lab: str, ex, path: Path):
    """ONNX Runtime against the lab's PyTorch outputs on the check batches: largest absolute difference
    (per output and overall) and the share of examples whose class agrees; refused past the limits (a
    difference of MAX_DIFF, or MAX_REL_DIFF of the value where that is larger)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names, diffs, agree, examples, over = list(ex.outputs), dict.fromkeys(ex.outputs, 0.0), [], 0, False
    for i, batch in enumerate(ex.checks):
        got = dict(zip(names, session.run(names, batch)))
        want = ex.expected[i] if ex.expected is not None else _torch_outputs(ex, batch)
        examples += len(got[names[0]])
        for name in names:
            g, w = np.asarray(got[name], np.float64), np.asarray(want[name], np.float64)
            if g.shape != w.shape:
                raise DlabsError(f"{lab}: the ONNX graph's output {name} has shape {list(g.shape)}, PyTorch's "
                                 f"{list(w.shape)}; nothing written")
            finite = np.isfinite(g) & np.isfinite(w)
            d = np.where(finite, np.abs(g - w), np.where(np.isfinite(g) == np.isfinite(w), 0.0, np.inf))
            diffs[name] = max(diffs[name], float(d.max(initial=0.0)))
            over |= bool((d > np.maximum(MAX_DIFF, MAX_REL_DIFF * np.abs(np.where(finite, w, 0.0)))).any())
            if name in ex.classes:
                agree.append(_classes(ex.classes[name], g) == _classes(ex.classes[name], w))
    check = {"examples": examples, "max_abs_diff": max(diffs.values()), "max_abs_diff_by_output": diffs,
             "class_agreement": float(np.concatenate(agree).mean()) if agree else None,
             "limits": {"max_abs_diff": MAX_DIFF, "max_rel_diff": MAX_REL_DIFF, "class_agreement": MIN_AGREEMENT}}
    if over or (agree and check["class_agreement"] < MIN_AGREEMENT):
        agreement = "" if not agree else f", class agreement {check['class_agreement']:.2%} (at least 99.9%)"
        raise DlabsError(f"{lab}: the ONNX graph does not match PyTorch on {examples} test examples: largest absolute "
                         f"difference {check['max_abs_diff']:.3g} (at most {MAX_DIFF:g}, or {MAX_REL_DIFF:g} of a "
                         f"larger value){agreement}; nothing written")
    return session, check


def _torch_outputs(ex, batch: dict) -> dict:
    import torch

    with torch.inference_mode():
        out = ex.module(*(torch.from_numpy(np.array(v)) for v in batch.values()))
    out = out if isinstance(out, (tuple, list)) else (out,)
    return {name: t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy() for name, t in zip(ex.outputs, out)}


def _classes(rule: str, values: np.ndarray) -> np.ndarray:
    if rule == "argmax":
        return values.argmax(-1)
    if rule == "positive":
        return values > 0
    if rule == "half":
        return values >= 0.5
    raise ValueError(f"unknown class rule {rule!r}")


def _spec(lab: str, run_id: str, preset: str, ex, session, check: dict, path: Path) -> dict:
    """preprocessing.json: what the graph takes and gives, and the preparation outside it."""
    import onnx
    import onnxruntime
    import torch

    import dlabs
    from dlabs.api._onnx import dtype

    def tensors(found, meaning):
        return [{"name": a.name, "dtype": dtype(a.type), "shape": list(a.shape),
                 "description": meaning[a.name], **({"class": ex.classes[a.name]} if a.name in ex.classes else {})}
                for a in found]

    opset = next((o.version for o in onnx.load(str(path), load_external_data=False).opset_import
                  if o.domain in ("", "ai.onnx")), None)
    return {"format": "onnx", "graph": "model.onnx", "opset": opset, "lab": lab, "run": run_id, "preset": preset,
            "exported": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "made_with": {"dlabs": getattr(dlabs, "__version__", ""), "torch": torch.__version__,
                          "onnxruntime": onnxruntime.__version__},
            "inputs": tensors(session.get_inputs(), ex.inputs), "outputs": tensors(session.get_outputs(), ex.outputs),
            "before_the_graph": ex.before, "after_the_graph": ex.after, "values": ex.values,
            "files": {"config.json": "the run's lab, preset, seed and config",
                      "state.json": "the run's fitted preprocessing state (JSON values)",
                      "state.safetensors": "the run's fitted preprocessing state (arrays)",
                      **{name: "kept beside the graph for predict" for name in ex.files}},
            "check": check}


def _write(folder: Path, spec: dict, ex, run, model) -> None:
    import json

    from dlabs.report.modelcard import model_card

    for name in KEPT:
        if run.exists(name):
            shutil.copyfile(run.file(name), folder / name)
    for name, data in ex.files.items():
        (folder / name).write_bytes(data)
    (folder / SPEC).write_text(json.dumps(jsonable(spec), indent=2) + "\n")
    metrics = run.read_json("metrics.json") if run.exists("metrics.json") else None
    (folder / "README.md").write_text(model_card(model.lab, spec, metrics, ex.limitations))


def _replace(tmp: Path, out: Path) -> None:
    """Put the finished folder at `out`, over an earlier export there (moved aside first, then removed)."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
