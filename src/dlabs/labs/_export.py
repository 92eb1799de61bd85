"""How each lab's predictor leaves PyTorch: its `Lab.export` (the graph `dlabs export` writes, the
test examples it is checked on, and the preparation left outside it), and the predict-time calls
of its network, which run in PyTorch or, for an exported model (`Model.onnx`), in ONNX Runtime.

Importing this module does not import torch: the predict-time calls import it only for a
PyTorch model, so `dlabs predict --onnx` runs without it. Graph modules are in
`dlabs.models.exportable`.
"""

from __future__ import annotations

import numpy as np

from dlabs.labs.base import Export

CHECK = 1000  # test examples an export is checked on
READ_IMAGE = ("read the file with Pillow (EXIF rotation applied, transparency flattened onto white), RGB uint8 "
              "(dlabs.data.images.load_rgb)")
FIND_FACE = ("find the one face with OpenCV's frontal-face Haar cascade and cut the square that `framing` places "
             "around its box (centre offset dx, dy and side `scale`, in units of the box width), resized to "
             "`size` x `size` with box filtering (dlabs.data.faces.crop_face)")
CHANNELS_FIRST = "stack the crops as uint8 (N, 3, size, size), channels first"


def _metrics(model) -> dict:
    import json

    path = model.run / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


# classifiers: mnist, fashion, letters -------------------------------------------------------------
def classifier_input(lab, x: np.ndarray) -> dict[str, np.ndarray]:
    """The graph input of raw examples as `ClassifierLab.read_inputs` gives them."""
    if lab.input_kind == "image":
        return {"image": np.ascontiguousarray(x[:, None], dtype=np.uint8)}
    return {"features": np.asarray(x, dtype=np.float64)}


def proba(lab, model, x: np.ndarray) -> np.ndarray:
    if model.onnx is not None:
        return model.onnx(**classifier_input(lab, x))["probabilities"]
    return lab.proba(model.net, lab.to_tensor(x, model.state), model.cfg)


def classifier(lab, model, test) -> Export:
    from dlabs.models import exportable as X

    state, cfg, x = model.state, model.cfg, test.x[:CHECK]
    labels = state.get("labels", list(lab.labels))
    if lab.input_kind == "image":
        recipe = (("mnist_digit", "MNIST's recipe: the digit light on a dark background (inverted when the image "
                   "border is light), background removed and contrast stretched, its bounding box scaled (Lanczos) "
                   "to fit 20 x 20 and placed in 28 x 28 with its centre of mass at the centre")
                  if lab.digits else
                  ("fashion_item", "Fashion-MNIST's recipe: the item light on black (inverted when the image border "
                   "is light), trimmed to the item, its longest side scaled (Lanczos) to 28 and centred"))
        module = X.ImageClassifier(model.net, cfg.tta, cfg.tta_shift)
        inputs = {"image": "grey images (N, 1, 28, 28), uint8 0..255, light on dark"}
        before = ["read the file with Pillow (EXIF rotation applied) as grey in [0, 1], transparency flattened onto "
                  "the background that contrasts with the drawing (dlabs.data.images.load_grey)",
                  f"{recipe[1]}, rounded to uint8 (dlabs.data.images.{recipe[0]})",
                  "stack as (N, 1, 28, 28) uint8; inside the graph: the pixel standardisation (the training "
                  f"pixels' mean {state['pixel_mean']:.6g} and sd {state['pixel_std']:.6g})"
                  + (" and the average over test-time views (mirror, shifts)" if cfg.tta or cfg.tta_shift else "")]
        values = {"recipe": recipe[0]}
    else:
        module = X.StandardizedClassifier(model.net, state["x_mean"], state["x_scale"])
        inputs = {"features": f"raw features (N, {len(state['features'])}) float64, in the order of `features`"}
        before = ["the features of each example in the order of `features`, as float64 (integers 0 to 15 for "
                  "letters); the standardisation with the training rows' mean and sd is inside the graph"]
        values = {"features": list(state["features"])}
    return Export(module, inputs, {"probabilities": f"class probabilities (N, {len(labels)}) in the order of `labels`"},
                  [classifier_input(lab, x)], [{"probabilities": lab.proba(model.net, lab.to_tensor(x, state), cfg)}],
                  classes={"probabilities": "argmax"}, before=before, values={**values, "labels": labels},
                  after=["the class is the most probable label (dlabs lists the top 3)"],
                  limitations=[_KNOWS["digits" if getattr(lab, "digits", False) else lab.input_kind] + " Any input gets "
                               f"one of the {len(labels)} labels, often with a high probability: the probability is "
                               "no sign that the input is like the training examples."])


_KNOWS = {"digits": "It knows MNIST's handwritten digits, one digit 0-9 an image, fitted and centred as MNIST's were.",
          "image": "It knows Fashion-MNIST's ten kinds of product photo: one item on a plain background, grey, "
                   "28 x 28 pixels; worn clothes, busy backgrounds and other objects are far from what it saw.",
          "tabular": "It knows the 16 features UCI computed from capital letters of 20 typefaces, randomly distorted; "
                     "features measured another way, or from handwriting, are outside what it saw."}


# boston ------------------------------------------------------------------------------------------
def house_prices(lab, model, x: np.ndarray) -> np.ndarray:
    if model.onnx is not None:
        return model.onnx(features=x)["prediction"]
    return lab._predict_raw(model.net, model.state, x)


def boston(lab, model, test) -> Export:
    from dlabs.models.exportable import TabularBlend

    state, x = model.state, test["x"][:CHECK]
    parts = ["the network"] + [name for name, key in (("gradient-boosted trees", "blend_trees"),
                                                       ("a Gaussian process", "blend_gp")) if state.get(key, 0) > 0]
    return Export(TabularBlend(model.net, state),
                  {"features": f"raw features (N, {len(state['features'])}) float64, in the order of `features`"},
                  {"prediction": f"predicted {state['target']} (N,) float64: " + " blended with ".join(parts)},
                  [{"features": x.astype(np.float64)}], [{"prediction": lab._predict_raw(model.net, state, x)}],
                  before=["the raw features of each house in the order of `features`, as float64; the "
                          "standardisation with the training rows' statistics is inside the graph"],
                  after=["dlabs rounds the prediction to 3 decimals" + (" ($1000s)" if state["target"] == "MEDV" else "")],
                  values={"features": list(state["features"]), "target": state["target"]},
                  limitations=["Trained on the 404 training rows of a 1970s census of Boston suburbs (or California's "
                               "1990 census blocks): a teaching model for comparing methods, not a valuation of a "
                               "house. The data set includes a feature (B) built from the share of Black residents."])


# imdb --------------------------------------------------------------------------------------------
def bag_input(x) -> dict[str, np.ndarray]:
    """A CSR document-term matrix as the graph's bag inputs (EmbeddingBag layout)."""
    x = x.tocsr()
    return {"ids": x.indices.astype(np.int64), "offsets": x.indptr[:-1].astype(np.int64),
            "values": x.data.astype(np.float32)}


def bag_logits(model, rows, form: str) -> np.ndarray:
    """The logit of each row of a CSR document-term matrix, float64."""
    if model.onnx is not None:
        return model.onnx(**bag_input(rows))["logit"].astype(np.float64)
    from dlabs.data.text import SparseBatcher
    from dlabs.engine.trainer import predict

    logits, _ = predict(model.net, SparseBatcher(rows, np.zeros(rows.shape[0]), form))
    return logits.numpy().ravel().astype(np.float64)


def imdb(lab, model, test) -> Export:
    from dlabs.data import text
    from dlabs.models.exportable import BagClassifier

    state, x = model.state, test.x[:CHECK]
    form = "bag" if model.cfg.model.kind == "linear" else "dense"
    logit = bag_logits(model, x, form)
    n = int(state["ngram_max"])
    return Export(BagClassifier(model.net, len(state["scale"])),
                  {"ids": "term ids of all the reviews' bags, one review after the other (T,) int64",
                   "offsets": "where each review's ids start in `ids` (N,) int64 (the first is 0)",
                   "values": "the value of each term (T,) float32: 1.0 (a term present)"},
                  {"logit": "the logit of 'positive' (N,) float32", "probability": "P(positive) (N,) float32"},
                  [bag_input(x)], [{"logit": logit, "probability": 1 / (1 + np.exp(-logit))}],
                  dynamic={"ids": {0: "terms"}, "offsets": {0: "batch"}, "values": {0: "terms"}},
                  classes={"logit": "positive"}, values={"labels": list(state["labels"]), "ngram_max": n,
                                                         "terms": len(state["scale"]), "token": text._TOKEN.pattern,
                                                         "tag": text._TAG.pattern},
                  before=["lower-case the review, replace HTML tags (regex `tag`) by a space and split it into tokens "
                          "(regex `token`: words with inner apostrophes, and ! and ?) (dlabs.data.text.tokenize)",
                          f"its word 1..{n}-grams that are in the training vocabulary (`words` in state.json, the "
                          f"n-gram keys in state.safetensors keys_1..keys_{n}), each once, as sorted term ids "
                          "(dlabs.data.text.NgramVocabulary.transform)",
                          "the reviews' bags one after the other as `ids`, `offsets` and `values`"],
                  after=["positive when P(positive) >= 0.5; dlabs shows the evidence for it by scoring the review "
                         "again without each term (occlusion)"],
                  limitations=["Trained on 25,000 IMDB movie reviews in English: other kinds of text, other "
                               "languages, sarcasm and mixed reviews are outside what it has seen. Words it did not "
                               "see in training count for nothing."])


# stocks ------------------------------------------------------------------------------------------
def stock_members(model):
    """`nextday.ahead`'s member forecasts for an exported model (None: the PyTorch members)."""
    if model.onnx is None:
        return None
    from dlabs.data import nextday

    def member(k):
        return lambda frame, start, stop: model.onnx(**nextday.graph_inputs(frame, model.state, start, stop))["members"][k]

    return [member(k) for k in range(model.cfg.model.members)]


def stocks(lab, model, test) -> Export:
    from dlabs.data import nextday
    from dlabs.models.exportable import NextOpen

    state, frame, n = model.state, test.frame, test.n
    level = state["mode"] == "level"
    # checked against the module in PyTorch: `forecast_rows` turns outputs into prices in float32 (an
    # error of ~5e-5 on a price of 800), the graph in float64
    checks = [nextday.graph_inputs(frame, state, n, len(frame))]
    return Export(NextOpen(model.net, state),
                  {"window": f"the {state['window']} trading days before each forecast day (N, {state['window']}, "
                             f"{len(state['features'])}) float64: " + ("the Open prices" if level else
                             "the daily return features in the order of `features`"),
                   "last_close": "the last close before each forecast day (N,) float64" + (" (not used in level mode)"
                                                                                          if level else "")},
                  {"forecast": "the next Open (N,) float64 from the ensemble's mean output",
                   "members": "each member's next Open (members, N) float64"}, checks,
                  before=["read the CSV of daily prices, checked and split-adjusted (dlabs.data.prices.read_ohlcv)",
                          "the Open column" if level else "the daily return features (dlabs.data.prices.return_features)",
                          "the window of the last `window` rows before each forecast day; the scaling fitted on the "
                          "training period is inside the graph"],
                  after=["dlabs forecasts several days ahead by feeding each member's forecast back as a flat day, and "
                         "gives a 90% band from the members' spread and the training period's `gap_sd` and `ret_sd`"],
                  values={k: state[k] for k in ("mode", "window", "features", "gap_sd", "ret_sd", "trained_until")},
                  limitations=_stocks_limits(_metrics(model)))


def _stocks_limits(m: dict) -> list[str]:
    """The card's warning, with the run's figures against the random walk (tomorrow opens at today's close)."""
    bt = m.get("protocols", {}).get("backtest", {})
    p = bt.get("dm_pvalue", {}).get("yesterday_close")
    walk = bt.get("baselines", {}).get("yesterday_close", {}).get("rmse")
    beats = p is not None and walk is not None and p < 0.05 and bt["model"]["rmse"] < walk
    text = ("A next-day forecast of Google's Open from recent prices, made for a course. "
            + ("In the walk-forward backtest it beats a random walk (yesterday's close) by a significant margin"
               if beats else "It does not beat a random walk (tomorrow opens at yesterday's close) by a significant "
               "margin: what it knows is mostly yesterday's close and the mean overnight drift") + ".")
    if "yesterday_close" in m.get("baselines", {}):
        text += (f" On the test month its RMSE is {m['model']['rmse']:.3g} against "
                 f"{m['baselines']['yesterday_close']['metrics']['rmse']:.3g} for the random walk.")
    if p is not None and walk is not None:
        text += (f" Backtest RMSE {bt['model']['rmse']:.3g} against {walk:.3g}, Diebold-Mariano p-value {p:.2g}.")
    return [text + " Do not trade on it."]
