"""`Lab.export` and the predict-time network calls of the photo labs (agegender, colorize, faces): as
`dlabs.labs._export` does for the others, torch-free on import, PyTorch only for a PyTorch model."""

from __future__ import annotations

import numpy as np

from dlabs.labs._export import CHANNELS_FIRST, CHECK, FIND_FACE, READ_IMAGE, _metrics
from dlabs.labs.base import Export


def _channels_first(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.uint8).transpose(0, 3, 1, 2))


# agegender ---------------------------------------------------------------------------------------
def agegender_outputs(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(female) and age of face crops (N, S, S, 3) uint8."""
    if model.onnx is not None:
        out = model.onnx(image=_channels_first(x))
        return out["p_female"], out["age"]
    from dlabs.models.agegender import outputs
    from dlabs.models.cnn import from_nhwc

    return outputs(model.net, from_nhwc(x), "cpu", False, model.cfg.tta)


def agegender(lab, model, test) -> Export:
    from dlabs.models.exportable import AgeGender

    state, x, side = model.state, test.x[:CHECK], model.state["size"]
    p, age = agegender_outputs(model, x)
    return Export(AgeGender(model.net, model.cfg.tta), {"image": f"face crops (N, 3, {side}, {side}) uint8 RGB"},
                  {"p_female": "P(female) (N,) float32",
                   "age": "the age in years (N,) float32 (the expectation of the age distribution, or the regression "
                          "head clamped to 0..100)"},
                  [{"image": _channels_first(x)}], [{"p_female": p, "age": age}], classes={"p_female": "half"},
                  before=[READ_IMAGE, FIND_FACE, CHANNELS_FIRST + "; the pixel standardisation"
                          + (" and the mirror-image average" if model.cfg.tta else "") + " are inside the graph"],
                  after=["female when p_female >= 0.5; the 80% age range adds to the age the 10% and 90% quantiles of "
                         "the validation residuals in the predicted age's band (`age_interval`), widened to hold the "
                         "age itself"],
                  values={"size": side, "framing": state["framing"], "age_interval": state["age_interval"]},
                  limitations=_fairness(_metrics(model)))


def _fairness(m: dict) -> list[str]:
    out = ["It guesses gender and age from a face; neither can be read from a face with certainty. Gender is "
           "UTKFace's binary label, ages above 100 count as 100, and the faces are aligned, cropped web photos: "
           "do not use it to make decisions about people."]
    table = m.get("info", {}).get("fairness_test")
    if not table:
        return out + ["Its errors differ between groups of people; this run has not been evaluated, so its fairness "
                      "table is missing (run `dlabs evaluate RUN` and export again)."]
    rows = [f"| {g} | {v['n']} | {v['gender_accuracy']:.1%} | {v['age_mae']:.2f} |" for g, v in table.items()]
    out.append("Its errors differ between groups of people. On the UTKFace test tenth, by race and gender "
               "(metrics.json `info.fairness_test`):\n\n| group | faces | gender accuracy | age MAE (years) |\n"
               "|---|---:|---:|---:|\n" + "\n".join(rows))
    worse = m["info"].get("fairness_worse_than_overall", [])
    return out + ["Groups clearly worse than overall: " + ("; ".join(worse) if worse else "none") + "."]


# colorize ----------------------------------------------------------------------------------------
def colour_photo(model, rgb: np.ndarray) -> np.ndarray:
    """A uint8 RGB photo (H, W, 3) coloured at its full size."""
    if model.onnx is not None:
        out = model.onnx(photo=np.ascontiguousarray(rgb[None], dtype=np.uint8))["rgb"][0]
        return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)
    from dlabs.models.colorizer import colour_photo

    return colour_photo(model.net, rgb, model.state["size"])


def colorize(lab, model, test: dict) -> Export:
    from dlabs.models.exportable import ColourPhoto

    size, checks, left = model.state["size"], [], CHECK
    for photos in test.values():  # one batch a set: the sets differ in size
        if left > 0:
            checks.append({"photo": np.ascontiguousarray(photos[:left])})
            left -= len(checks[-1]["photo"])
    return Export(ColourPhoto(model.net, size), {"photo": "photos (N, H, W, 3) uint8 RGB of any size (grey or colour)"},
                  {"rgb": "the coloured photos (N, H, W, 3) float32 RGB in [0, 1]"}, checks,
                  dynamic={"photo": {0: "batch", 1: "height", 2: "width"}},
                  before=[READ_IMAGE + "; the graph turns it grey (CIELAB lightness L at full size), predicts the "
                          f"colour (ab) at {size} x {size} and recombines it with L"],
                  after=["round rgb x 255 to uint8 (dlabs saves the photo as a PNG)"],
                  values={"size": size, "temperature": model.state.get("temperature")},
                  limitations=[f"Its colours are plausible guesses learned from photos of {', '.join(model.cfg.data.sets)}"
                               ", not the colours that were there: a coloured old photo is an illustration, not a "
                               "record. Subjects unlike those photos (interiors, plain studio backgrounds, dark "
                               "clothes) can get patches of wrong colour."])


# faces (the gallery's own predict-time call is in `dlabs.labs._gallery`) ----------------------------
def faces(lab, model, test) -> Export:
    from dlabs.labs._gallery import GALLERY
    from dlabs.models.exportable import FaceEmbedding
    from dlabs.models.face import embed

    state, x, side = model.state, test.x[:CHECK], model.state["size"]
    gallery = model.run / GALLERY
    return Export(FaceEmbedding(model.net), {"image": f"face crops (N, 3, {side}, {side}) uint8 RGB"},
                  {"embedding": "unit face embeddings (N, D) float32 (the crop's and its mirror image's, added up)"},
                  [{"image": _channels_first(x)}], [{"embedding": embed(model.net, x)}],
                  before=[READ_IMAGE, FIND_FACE, CHANNELS_FIRST + "; the standardisation and the mirror image are "
                                                                  "inside the graph"],
                  after=["the match is the gallery's nearest person by Euclidean distance to the mean of their "
                         "embeddings (made unit), or 'unknown' beyond `threshold`; the same-person confidence is "
                         "1 / (1 + exp(-(a d + b))) for distance d, with (a, b) = `confidence`"],
                  values={"size": side, "framing": state["framing"], "threshold": state["threshold"],
                          "confidence": state["confidence"], "gallery": GALLERY},
                  files={GALLERY: gallery.read_bytes()} if gallery.is_file() else {},
                  limitations=_lfw_limits(lab, _metrics(model)))


def _lfw_limits(lab, m: dict) -> list[str]:
    measured = f"It was measured on Labeled Faces in the Wild: {lab.protocol}"
    if m.get("model"):
        measured += f", accuracy {m['model']['accuracy']:.3f}"
    v = m.get("protocols", {}).get("verification", {})
    if v.get("model", {}).get("accuracy") is not None:
        sd = v["model"].get("accuracy_sd")
        protocol = v.get("protocol", "LFW View 2, 10 folds of 300 matched and 300 mismatched pairs")
        measured += (f"; and pair verification, {protocol}: accuracy {v['model']['accuracy']:.3f}"
                     + (f" ± {sd:.3f}" if sd is not None else ""))
    return [measured + ".", "LFW holds press photos of public figures, most of them white men; on other people, and on "
            "photos that are not frontal, well lit and sharp, it does worse than these figures. Face recognition "
            "can identify people without their knowledge: enroll only people who agreed.",
            "gallery.json is the run's gallery when it was exported: people enrolled in the run afterwards are not in it."]
