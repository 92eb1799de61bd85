"""A lab's whole predictor as one torch module, for `dlabs export` to trace into an ONNX graph.

Each module wraps a trained network with the preparation that ONNX can hold: standardising raw
tabular features, test-time augmentation, reading the outputs (softmax, an age's expectation,
prices back from scaled returns), an ensemble's mean, and boston's gradient-boosted trees and
Gaussian process, evaluated from their saved arrays with tensor operations in float64 (as the
NumPy code they replace does). Every module computes what the lab's own PyTorch path computes;
`dlabs export` checks the graph against that path with ONNX Runtime.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _buffer(module: nn.Module, name: str, value, dtype=torch.float64) -> None:
    module.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=dtype))


class BoostedTrees(nn.Module):
    """`dlabs.models.trees.predict_boosting` as tensor operations: every tree walked one level a step
    (gathers), for the trees' depth; features compared as float32 cast to float64, as scikit-learn does."""

    def __init__(self, state: dict, prefix: str = "trees"):
        super().__init__()
        left, right, roots = (np.asarray(state[f"{prefix}_{k}"]) for k in ("left", "right", "roots"))
        self.depth, frontier = 0, roots
        while len(inner := frontier[left[frontier] != -1]):
            frontier, self.depth = np.concatenate([left[inner], right[inner]]), self.depth + 1
        feature = np.where(left == -1, 0, state[f"{prefix}_feature"])  # leaves hold -2: any column will do
        for name, value in (("feature", feature), ("left", left), ("right", right), ("roots", roots)):
            _buffer(self, name, value, torch.int64)
        _buffer(self, "threshold", state[f"{prefix}_threshold"])
        _buffer(self, "value", state[f"{prefix}_value"])
        self.init, self.rate = (float(v) for v in state[f"{prefix}_scalars"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float().double()
        node = self.roots.unsqueeze(0).expand(x.shape[0], -1)
        for _ in range(self.depth):
            left = self.left[node]
            go_left = torch.gather(x, 1, self.feature[node]) <= self.threshold[node]
            node = torch.where(left >= 0, torch.where(go_left, left, self.right[node]), node)
        return self.init + self.rate * self.value[node].sum(1)


class GaussianProcessMean(nn.Module):
    """`dlabs.models.gp.predict_gp`: the Matern 3/2 kernel against the saved training rows, in float64."""

    def __init__(self, state: dict, prefix: str = "gp"):
        super().__init__()
        length = np.asarray(state[f"{prefix}_length"], np.float64)
        train = np.asarray(state[f"{prefix}_x"], np.float64) / length
        _buffer(self, "length", length)
        _buffer(self, "rows", train)
        _buffer(self, "rows_sq", (train ** 2).sum(1))
        _buffer(self, "alpha", state[f"{prefix}_alpha"])
        self.constant, self.mean, self.sd = (float(v) for v in state[f"{prefix}_scalars"])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        a = z / self.length
        d2 = (a * a).sum(1, keepdim=True) + self.rows_sq - 2 * a @ self.rows.T
        r = np.sqrt(3.0) * d2.clamp(min=0).sqrt()
        return self.mean + self.sd * ((self.constant * (1 + r) * torch.exp(-r)) @ self.alpha)


class TabularBlend(nn.Module):
    """Boston's predictor on raw features (N, F) float64: standardised, the network's prediction (the
    target's scaler undone), blended with the trees and the Gaussian process where the run has them."""

    def __init__(self, net: nn.Module, state: dict):
        super().__init__()
        self.net = net
        for name in ("x_mean", "x_scale"):
            _buffer(self, name, state[name])
        self.y_mean, self.y_scale = float(np.ravel(state["y_mean"])[0]), float(np.ravel(state["y_scale"])[0])
        self.w_trees, self.w_gp = float(state.get("blend_trees", 0.0)), float(state.get("blend_gp", 0.0))
        self.trees = BoostedTrees(state) if self.w_trees > 0 else None
        self.gp = GaussianProcessMean(state) if self.w_gp > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.x_mean) / self.x_scale
        out = (1 - self.w_trees - self.w_gp) * (self.net(z.float())[:, 0].double() * self.y_scale + self.y_mean)
        if self.trees is not None:
            out = out + self.w_trees * self.trees(x)
        if self.gp is not None:
            out = out + self.w_gp * torch.exp(self.gp(z))
        return out


class StandardizedClassifier(nn.Module):
    """Class probabilities from raw features (N, F) float64, standardised with the saved scaler."""

    def __init__(self, net: nn.Module, mean, scale):
        super().__init__()
        self.net = net
        _buffer(self, "mean", mean)
        _buffer(self, "scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(((x - self.mean) / self.scale).float()).float(), -1)


class ImageClassifier(nn.Module):
    """Class probabilities of uint8 images (N, 1, H, W), averaged over the test-time views the lab uses
    (the image, its mirror, copies moved `shift` pixels each way)."""

    def __init__(self, net: nn.Module, flip: bool = False, shift: int = 0):
        super().__init__()
        self.net, self.flip, self.shift = net, flip, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from dlabs.data.augment import shifted

        views = [x, x.flip(3)] if self.flip else [x]
        if s := self.shift:
            views += [shifted(v, dy, dx) for v in views for dy, dx in ((s, 0), (-s, 0), (0, s), (0, -s))]
        return torch.stack([torch.softmax(self.net(v).float(), -1) for v in views]).mean(0)


class BagClassifier(nn.Module):
    """A review's logit and P(positive) from its bag of terms in EmbeddingBag layout (term ids, offsets
    of each review, values): `ScaledBagLinear` directly, or the MLP on the multi-hot rows rebuilt."""

    def __init__(self, net: nn.Module, n_terms: int):
        super().__init__()
        self.net, self.n_terms = net, n_terms

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor, values: torch.Tensor):
        n = ids.shape[0]
        starts = torch.zeros(n + 1, dtype=torch.int64).index_add(0, offsets[1:], torch.ones_like(offsets[1:]))
        rows = starts.cumsum(0)[:n]  # the review of each value (without repeat_interleave's data-dependent size)
        if hasattr(self.net, "term_weights"):
            per_value = values * self.net.scale[ids] * (self.net.weight[ids] + self.net.beta)
            logit = torch.zeros(offsets.shape[0], dtype=values.dtype).index_add(0, rows, per_value) + self.net.bias
        else:
            dense = torch.zeros(offsets.shape[0], self.n_terms, dtype=values.dtype)
            logit = self.net(dense.index_put((rows, ids), values, accumulate=True))[:, 0]
        return logit, torch.sigmoid(logit)


class NextOpen(nn.Module):
    """The next Open from a window of raw inputs (N, W, F) float64 (level: Open prices; return: the
    daily return features) and, in return mode, the last close (N,): scaled as in training, every
    member's forecast and the ensemble's (the members' mean output), as prices in float64."""

    def __init__(self, net: nn.Module, state: dict):
        super().__init__()
        self.net, self.level = net, state["mode"] == "level"
        if self.level:
            self.low, self.span = float(state["x_min"]), float(state["x_max"]) - float(state["x_min"])
        else:
            _buffer(self, "mean", state["x_mean"])
            _buffer(self, "scale", state["x_scale"])
            self.y_mean, self.y_scale = float(state["y_mean"]), float(state["y_scale"])

    def forward(self, window: torch.Tensor, last_close: torch.Tensor):
        if self.level:
            x = (window - self.low) / self.span
        else:
            x = ((window - self.mean) / self.scale).clamp(-5, 5)
        z = self.net.forward_members(x.float())[..., 0]
        return self._price(z.mean(0).double(), last_close), self._price(z.double(), last_close)

    def _price(self, z: torch.Tensor, last_close: torch.Tensor) -> torch.Tensor:
        if self.level:
            return z * self.span + self.low
        return last_close * torch.exp(z * self.y_scale + self.y_mean)


class AgeGender(nn.Module):
    """P(female) and age in years of uint8 faces (N, 3, S, S), averaged with their mirror images when
    the lab does so (`dlabs.models.agegender.outputs`)."""

    def __init__(self, net: nn.Module, tta: bool):
        super().__init__()
        self.net, self.tta = net, tta

    def forward(self, x: torch.Tensor):
        from dlabs.models.agegender import decode

        runs = [decode(self.net(v).float()) for v in ([x, x.flip(3)] if self.tta else [x])]
        return torch.stack([p for p, _ in runs]).mean(0), torch.stack([a for _, a in runs]).mean(0)


class ColourPhoto(nn.Module):
    """`dlabs.models.colorizer.colorize` of whole photos, uint8 RGB (N, H, W, 3) of any size: L at full
    size, ab predicted at the network's size and up-sampled, RGB in [0, 1] (rounding to uint8 is left
    outside, where a last-bit difference cannot flip a level unseen)."""

    def __init__(self, net: nn.Module, size: int):
        super().__init__()
        self.net, self.size = net, size

    def forward(self, photo: torch.Tensor) -> torch.Tensor:
        from dlabs.data.colour import lab_to_rgb, rgb_to_lab

        lightness = rgb_to_lab(photo.permute(0, 3, 1, 2).float().div(255))[:, :1]
        small = F.interpolate(lightness, (self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        ab = F.interpolate(self.net.ab(small).float(), lightness.shape[-2:], mode="bilinear", align_corners=False)
        return lab_to_rgb(torch.cat([lightness, ab], 1)).permute(0, 2, 3, 1)


class FaceEmbedding(nn.Module):
    """The unit embedding of uint8 face crops (N, 3, S, S), with their mirror images, as `embed` gives it."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net.embed(x) + self.net.embed(x.flip(3)), dim=1)
