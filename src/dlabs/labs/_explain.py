"""The `explain` option of the image labs (``dlabs predict mnist|fashion|agegender PHOTO --explain``,
and the web form's checkbox): a saliency map over each photo, as a PNG of the photo's size.

The maps are integrated gradients (`dlabs.models.explain`) of the network's output on the input it
saw (the 28x28 digit or garment, the face crop), from a plain baseline (black; a face of the
training faces' mean colour), mapped back onto the photo through the same geometry the
preparation used. mnist and fashion explain the predicted class (the pixels that argued for it);
agegender the predicted gender and, as a second map, the predicted age (the pixels that moved it
either way). Test-time augmentation is left out: the maps explain the network on the photo itself.
"""

from __future__ import annotations

from pathlib import Path

from dlabs.errors import InputError
from dlabs.labs.base import Output

EXPLAIN = {"name": "explain", "type": "boolean", "default": False,
           "help": "also draw a saliency map: the pixels that drove the prediction (integrated gradients)"}


def wanted(request) -> bool:
    """Whether the request asks for saliency maps (``--explain``, or explain=true from the web)."""
    value = next((v for k, v in request.options.items() if k.strip().lower() == "explain"), "false")
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise InputError(f"--explain {value}: expected true or false")


def paths(prediction: dict) -> str:
    """The saliency maps of a prediction, as the command line saved them, for `Lab.format`."""
    found = [str(v) for k, v in prediction.items() if k.startswith("saliency")]
    return f"  (saliency map{'s' if len(found) > 1 else ''}: {', '.join(found)})" if found else ""


def _net(model):
    """The PyTorch network (integrated gradients need its gradients: an ONNX export has none)."""
    if not hasattr(model.net, "parameters"):
        raise InputError("--explain needs the trained run (its PyTorch network), not an ONNX export")
    return model.net.eval()


def _photo(name: str, data):
    from dlabs.data.images import load_rgb

    return load_rgb(data if isinstance(data, bytes) else data.encode(), name)


def classes(lab, model, request, predictions: list[dict]) -> list[dict]:
    """mnist and fashion: the map of the predicted class, over each photo (``saliency``)."""
    import torch

    from dlabs.data import images
    from dlabs.models.explain import heat, integrated_gradients, to_photo
    from dlabs.report.saliency import overlay_png

    labels, net = list(model.state.get("labels", lab.labels)), _net(model)
    for (name, data), p in zip(request.items, predictions):
        grey = images.load_grey(data if isinstance(data, bytes) else data.encode(), name)
        x, where = images.to_28(grey, lab.digits)
        k = labels.index(p["top"][0]["label"])
        attr = integrated_gradients(lambda t: net(t)[:, k], torch.from_numpy(x)[None, None], torch.zeros(1, 1, 28, 28))
        saliency = to_photo(heat(attr[0]), grey.shape, where)
        p["saliency"] = Output(f"{Path(name).stem}_saliency.png", overlay_png(_photo(name, data), saliency))
    return predictions


def faces(model, request, predictions: list[dict]) -> list[dict]:
    """agegender: maps of the predicted gender and of the predicted age, over each photo
    (``saliency_gender``, ``saliency_age``)."""
    import numpy as np
    import torch

    from dlabs.data import faces as F
    from dlabs.models.agegender import decode
    from dlabs.models.cnn import from_nhwc
    from dlabs.models.explain import heat, integrated_gradients, to_photo
    from dlabs.report.saliency import overlay_png

    state, net = model.state, _net(model)
    framing, size = F.Framing(**state["framing"]), int(state["size"])
    plain = torch.as_tensor(np.asarray(state["pixel_mean"], dtype=np.float32) * 255).reshape(1, 3, 1, 1)
    for (name, data), p in zip(request.items, predictions):
        rgb = _photo(name, data)
        box = F.detect(rgb)[0]  # the face predict cropped (the largest)
        left, top, n = F.region(box, framing)
        x, s = from_nhwc(np.array(F.crop(rgb, box, framing, size))[None]), size / n
        sign = 1.0 if p["gender"] == "female" else -1.0
        where = (s, s, -top * s, -left * s)
        for key, output, signed in (("gender", lambda t: sign * net(t)[:, 0], True),
                                    ("age", lambda t: decode(net(t))[1], False)):
            saliency = to_photo(heat(integrated_gradients(output, x, plain)[0], signed, blur=size / 64), rgb.shape[:2], where)
            p[f"saliency_{key}"] = Output(f"{Path(name).stem}_saliency_{key}.png", overlay_png(rgb, saliency))
    return predictions
