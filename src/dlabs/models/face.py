"""Face networks for small RGB crops (N, 3, S, S) of uint8 pixels.

Both networks expose `embed(x)`, an L2-normalised face embedding (the same person's photos lie
close together), and `forward(x)`, scores over the training identities for the loss. `FaceResNet`
is trained with a CosFace margin (`CosFaceLoss`): its forward gives the cosine between the
embedding and one learned centre per identity. `ManualFaceCNN` is the manual's classifier; its
penultimate Dense-512 layer is its embedding. `FaceEnsemble` trains several `FaceResNet`s on
different framings of the same crop and joins their embeddings.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dlabs.errors import DlabsError
from dlabs.models.cnn import Standardize, channels_last, from_nhwc
from dlabs.models.joint_bayes import unit


class _Block(nn.Module):
    """A ResNet basic block (two conv3x3-BN, identity or 1x1 projection shortcut)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.short = (nn.Identity() if stride == 1 and c_in == c_out else
                      nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x):
        return F.relu(self.body(x) + self.short(x))


class FaceResNet(nn.Module):
    """Stride-2 stem, one basic block per stage (each later stage halves the size), then the
    ArcFace-style head BN-dropout-FC-BN on the flattened map (faces are aligned: where a feature is
    matters), and cosine scores against one centre per training identity."""

    def __init__(self, mean: float, std: float, size: int, n_classes: int,
                 widths: tuple[int, ...] = (32, 64, 128, 256), dim: int = 128, dropout: float = 0.2):
        super().__init__()
        layers: list[nn.Module] = [Standardize(mean, std), nn.Conv2d(3, widths[0], 3, 2, 1, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        c = widths[0]
        for i, w in enumerate(widths):
            layers.append(_Block(c, w, 1 if i == 0 else 2))
            c = w
        self.features = nn.Sequential(*layers)
        side = size // 2 ** len(widths)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.Dropout(dropout), nn.Flatten(),
                                  nn.Linear(c * side * side, dim), nn.BatchNorm1d(dim))
        # small centres: the cosine ignores their norm, so early steps turn them fast (lr/|w|^2) and they
        # settle as their norm grows; unit-norm centres left the loss at chance for 4 epochs (measured)
        self.centres = nn.Parameter(torch.randn(n_classes, dim) * 0.01)

    def embed(self, x):
        return F.normalize(self.head(self.features(x)), dim=1)

    def forward(self, x):
        return self.embed(x) @ F.normalize(self.centres, dim=1).T


class FaceEnsemble(nn.Module):
    """Networks trained side by side, each on its own central share (`views`) of the crop, resized to
    `side` pixels: tighter and wider framings err on different pairs. The embedding is the members'
    unit embeddings joined (and normalised again); `forward` stacks their scores, (members, N,
    classes), and `CosFaceLoss` adds up one loss a member."""

    def __init__(self, members: list[nn.Module], views: tuple[float, ...], side: int):
        super().__init__()
        self.members, self.views, self.side = nn.ModuleList(members), tuple(views), side

    def _view(self, x: torch.Tensor, share: float) -> torch.Tensor:
        n = x.shape[-1]
        k = round(n * share)
        o = (n - k) // 2
        x = x[..., o:o + k, o:o + k]
        if k == self.side:
            return x
        return F.interpolate(x.float(), size=self.side, mode="bilinear", antialias=True, align_corners=False)

    def embed(self, x):
        return F.normalize(torch.cat([m.embed(self._view(x, s)) for m, s in zip(self.members, self.views)], 1), dim=1)

    def forward(self, x):
        return torch.stack([m(self._view(x, s)) for m, s in zip(self.members, self.views)])


def manual_face_trunk(mean, std, size: int, dropout: float = 0.5) -> nn.Sequential:
    """The manual's face CNN up to its Dense-512 layer (also the agegender lab's `manual` trunk): conv
    32-64-128-128 (3x3, 'valid') each followed by a 2x2 max-pool, flatten, dropout, Dense 512 ReLU."""
    layers: list[nn.Module] = [Standardize(mean, std)]
    c, side = 3, size
    for w in (32, 64, 128, 128):
        layers += [nn.Conv2d(c, w, 3), nn.MaxPool2d(2), nn.ReLU(inplace=True)]
        c, side = w, (side - 2) // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(dropout), nn.Linear(c * side * side, 512),
                         nn.ReLU(inplace=True))


class ManualFaceCNN(nn.Module):
    """The manual's CNN (`manual_face_trunk`), then a softmax layer over the training identities."""

    def __init__(self, mean: float, std: float, size: int, n_classes: int, dropout: float = 0.5):
        super().__init__()
        self.features = manual_face_trunk(mean, std, size, dropout)
        self.classify = nn.Linear(512, n_classes)

    def embed(self, x):
        return F.normalize(self.features(x), dim=1)

    def forward(self, x):
        return self.classify(self.features(x))


class CosFaceLoss(nn.Module):
    """Cross-entropy on `scale` * (cosine - `margin` at the true class) (Wang et al., CosFace 2018).
    With margin 0 and scale 1 it is the plain cross-entropy of a classifier's logits. Scores of an
    ensemble's members, (members, N, classes), give the sum of their losses."""

    def __init__(self, scale: float = 30.0, margin: float = 0.35):
        super().__init__()
        self.scale, self.margin = scale, margin

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if out.dim() == 3:
            return sum(self(o, target) for o in out)
        if self.margin:
            out = out - self.margin * F.one_hot(target, out.shape[1]).to(out.dtype)
        return F.cross_entropy(self.scale * out, target)


def embed(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """L2-normalised embeddings of RGB crops, averaged with their mirror images."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for s in range(0, len(x), batch_size):
            xb = from_nhwc(x[s:s + batch_size]).to(device)
            out.append((model.embed(xb) + model.embed(xb.flip(3))).float().cpu().numpy())
    return unit(np.concatenate(out)) if out else np.zeros((0, 1), np.float32)


def build(m, mean: float, std: float, size: int, n_classes: int) -> nn.Module:
    """The network a faces model config `m` (kind, widths, dim, dropout, views, side) describes, for
    crops of `size` pixels standardised by `mean` and `std`, telling `n_classes` people apart."""
    if m.kind == "resnet":
        side = m.side or size
        if tuple(m.views) == (1.0,) and side == size:  # one network (and the runs saved before views)
            return channels_last(FaceResNet(mean, std, size, n_classes, tuple(m.widths), m.dim, m.dropout))
        if not m.views or not all(0 < v <= 1 for v in m.views):
            raise DlabsError(f"model.views={m.views}: expected shares of the crop in (0, 1]")
        members = [FaceResNet(mean, std, side, n_classes, tuple(m.widths), m.dim, m.dropout) for _ in m.views]
        return channels_last(FaceEnsemble(members, m.views, side))
    if m.kind == "manual":
        return channels_last(ManualFaceCNN(mean, std, size, n_classes, m.dropout))
    raise DlabsError(f"model.kind={m.kind}: expected resnet or manual")


def batcher(x: np.ndarray, y: np.ndarray):
    """A batcher of RGB crops (N, S, S, 3) as the networks take them, and their identity labels."""
    from dlabs.engine.trainer import TensorBatcher

    return TensorBatcher(from_nhwc(x), torch.as_tensor(y, dtype=torch.int64))
