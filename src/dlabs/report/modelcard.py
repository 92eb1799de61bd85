"""The model card of an exported model (README.md beside the graph), in the convention of Hugging
Face model cards: YAML front matter (library, pipeline, tags, data sets, and the test metrics as a
model index), then the lab, its data and protocol, the results beside the baselines and the
manual's model (from the run's metrics.json), how to use the export, intended use, limitations,
and the export's check against PyTorch.
"""

from __future__ import annotations

import json
import math

PIPELINE = {("tabular", "regression"): "tabular-regression", ("tabular", "classification"): "tabular-classification",
            ("image", "classification"): "image-classification", ("text", "classification"): "text-classification",
            ("csv", "forecasting"): "time-series-forecasting", ("image", "image-to-image"): "image-to-image",
            ("image", "face recognition"): "image-feature-extraction"}


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


def _yaml(lab, spec: dict, metrics: dict | None) -> list[str]:
    q = json.dumps  # a JSON string is a YAML scalar
    pipeline = PIPELINE.get((lab.input_kind, lab.task), "other")
    lines = ["---", "library_name: onnx", f"pipeline_tag: {pipeline}",
             "tags: [" + ", ".join(q(t) for t in ("dlabs", "onnx", lab.name)) + "]",
             "datasets: [" + ", ".join(q(d) for d in lab.datasets) + "]", f"metrics: [{q(lab.headline)}]"]
    if metrics and metrics.get("model"):
        lines += ["model-index:", "- name: " + q(f"dlabs-{lab.name}-{spec['run']}"), "  results:",
                  f"  - task: {{type: {pipeline}}}",
                  f"    dataset: {{name: {q(lab.datasets[0] if lab.datasets else lab.name)}, "
                  f"type: {q(lab.datasets[0] if lab.datasets else lab.name)}, split: test}}", "    metrics:"]
        lines += [f"    - {{type: {q(k)}, value: {v:.6g}, name: {q('test ' + k)}}}"
                  for k, v in metrics["model"].items() if _number(v)]
    return lines + ["---", ""]


def _results(lab, metrics: dict | None) -> list[str]:
    if not metrics:
        return ["This run has not been evaluated: run `dlabs evaluate RUN` and export again to see its test "
                "metrics here.", ""]
    rows = [(f"this model ({metrics['preset']} preset)", metrics["model"])]
    for name, b in metrics.get("baselines", {}).items():
        rows.append(("the manual's model (`manual` preset)" if name == "manual" else f"baseline: {name}", b["metrics"]))
    keys = list(dict.fromkeys(k for _, r in rows for k, v in r.items() if _number(v)))
    out = [f"On the protocol's test split ({metrics['protocol']}):", "",
           "| model | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    out += [f"| {name} | " + " | ".join(f"{r[k]:.4g}" if _number(r.get(k)) else "" for k in keys) + " |"
            for name, r in rows]
    if metrics["preset"] == "manual":
        out += ["", "This model is the manual's (`manual` preset)."]
    elif "manual" not in metrics.get("baselines", {}):
        out += ["", "The manual's model is not in this table: " + (
            "a `best` run's evaluation trains it beside the model." if lab.compare_manual and metrics["preset"] != "best"
            else f"`dlabs bench {lab.name}` trains and measures the `manual` preset beside the `best` one.")]
    for name, p in metrics.get("protocols", {}).items():
        model = ", ".join(f"{k} {v:.4g}" + (f" ± {p['model'][k + '_sd']:.2g}" if _number(p["model"].get(k + "_sd")) else "")
                          for k, v in p.get("model", {}).items() if _number(v) and not k.endswith("_sd"))
        out += ["", f"**{name}** ({p.get('protocol', '')}): {model}."]
    out += [""] + [f"- {line}" for line in metrics.get("verdict", [])]
    return out + [""]


def _tensors(items: list[dict]) -> list[str]:
    out = ["| name | dtype | shape | holds |", "|---|---|---|---|"]
    return out + [f"| `{t['name']}` | {t['dtype']} | ({', '.join(map(str, t['shape']))}) | {t['description']} |"
                  for t in items]


def model_card(lab, spec: dict, metrics: dict | None, limitations: list[str]) -> str:
    """README.md for an export: `spec` is its preprocessing.json, `metrics` the run's metrics.json (or
    None), `limitations` the lab's own paragraphs."""
    first = spec["inputs"][0]
    example = ", ".join(f'"{t["name"]}": array_of_{t["dtype"]}' for t in spec["inputs"])
    check = spec["check"]
    agreement = ("" if check["class_agreement"] is None
                 else f"; the class agrees on {check['class_agreement']:.2%} of them (at least 99.9% required)")
    lines = _yaml(lab, spec, metrics) + [
        f"# {lab.title}", "",
        f"The `{lab.name}` lab of dlabs, run `{spec['run']}` (`{spec['preset']}` preset), exported as one ONNX graph "
        f"(`model.onnx`, opset {spec['opset']}): {lab.task} from {lab.input_kind} input. `preprocessing.json` says "
        "exactly what the graph takes and gives and what preparation is left outside it.", "",
        "## Model", "", "Inputs:", "", *_tensors(spec["inputs"]), "", "Outputs:", "", *_tensors(spec["outputs"]), "",
        "## Data and protocol", "", f"Data: {', '.join(lab.datasets)}. Protocol: {lab.protocol}.", "", lab.notes, "",
        "## Results", "", *_results(lab, metrics),
        "## How to use", "", "With dlabs (no PyTorch needed; the same output as predicting with the run):", "",
        "```", f"dlabs predict {lab.name} INPUT --onnx THIS_FOLDER", "```", "",
        "With ONNX Runtime alone, after the preparation below:", "", "```python",
        "import onnxruntime as ort", "", 'session = ort.InferenceSession("model.onnx")',
        f"outputs = session.run(None, {{{example}}})  # {first['name']}: {first['dtype']} "
        f"({', '.join(map(str, first['shape']))})",
        "```", "", "Before the graph:", "", *[f"{i}. {step}" for i, step in enumerate(spec["before_the_graph"], 1)], "",
        "After the graph:", "", *[f"- {step}" for step in spec["after_the_graph"]], "",
        "The values these steps name are under `values` in preprocessing.json; the run's config and fitted state "
        "are in config.json, state.json and state.safetensors.", "",
        "## Intended use", "",
        f"Teaching and study: a lab of a deep-learning course made into software that is measured honestly against "
        f"baselines. It shows what a model of this kind does on {', '.join(lab.datasets)} and how to measure it; "
        "it is not a product, and its figures hold for data like its test split only.", "",
        "## Limitations", "", *[p + "\n" for p in limitations],
        "## Export check", "",
        f"ONNX Runtime {spec['made_with']['onnxruntime']} against PyTorch {spec['made_with']['torch']} on "
        f"{check['examples']} test examples: the largest absolute difference of any output is "
        f"{check['max_abs_diff']:.3g} (at most {check['limits']['max_abs_diff']:g}, or "
        f"{check['limits'].get('max_rel_diff', 0):g} of a larger value, required){agreement}.", ""]
    return "\n".join(lines)
