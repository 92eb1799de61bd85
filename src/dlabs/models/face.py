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

from dlabs.models.cnn import Standardize, from_nhwc


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


def unit(e: np.ndarray) -> np.ndarray:
    return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)


class JointBayesian:
    """Joint Bayesian comparison of embeddings (Chen et al., ECCV 2012): an embedding is a person's
    identity plus a within-person variation, two Gaussians whose covariances are estimated from
    the training people's embeddings (each ridged by `ridge` times its mean variance); a pair's
    score is the log-likelihood ratio of "the same person" against "two people", up to a constant.
    On a model's training people it learns which directions of the embedding vary within a person.
    With `dims`, the embeddings are first projected on their `dims` principal components (fitted on
    the same training embeddings), as the paper does with its high-dimensional features. With
    `blocks`, the embedding is an ensemble's members' embeddings joined: each member's block (made
    unit again) gets a comparison of its own, on its own `dims` components, and their scores add up."""

    def __init__(self, ridge: float = 0.1, dims: int = 0, blocks: int = 1):
        self.ridge, self.dims, self.blocks = ridge, dims, blocks

    def _project(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64) - self.mean
        return x if self.basis is None else x @ self.basis

    def fit(self, emb: np.ndarray, people: np.ndarray) -> "JointBayesian":
        if self.blocks > 1:
            self.parts = [JointBayesian(self.ridge, self.dims).fit(unit(b), people)
                          for b in np.split(emb, self.blocks, axis=1)]
            return self
        emb = emb.astype(np.float64)
        self.mean, self.basis = emb.mean(0), None
        if 0 < self.dims < emb.shape[1]:
            _, _, vt = np.linalg.svd(emb - self.mean, full_matrices=False)  # principal axes, largest first
            self.basis = vt[:self.dims].T
        emb = self._project(emb)
        names, who = np.unique(people, return_inverse=True)
        counts = np.bincount(who)
        means = np.zeros((len(names), emb.shape[1]))
        np.add.at(means, who, emb)
        means /= counts[:, None]
        several = counts[who] >= 2
        within = emb[several] - means[who[several]]
        s_eps = within.T @ within / max(several.sum() - (counts >= 2).sum(), 1)
        s_mu = means.T @ means / len(names)  # the projected embeddings are centred
        s_eps, s_mu = (s + self.ridge * np.trace(s) / len(s) * np.eye(len(s)) for s in (s_eps, s_mu))
        f = np.linalg.inv(s_eps)
        self.g = -np.linalg.inv(2 * s_mu + s_eps) @ s_mu @ f
        self.a = np.linalg.inv(s_mu + s_eps) - (f + self.g)
        return self

    def score(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Pairwise scores of rows x[i], y[i]: higher means more likely the same person."""
        if self.blocks > 1:
            return sum(jb.score(unit(a), unit(b)) for jb, a, b in
                       zip(self.parts, np.split(x, self.blocks, axis=1), np.split(y, self.blocks, axis=1)))
        x, y = self._project(x), self._project(y)
        return (np.einsum("ij,jk,ik->i", x, self.a, x) + np.einsum("ij,jk,ik->i", y, self.a, y)
                - 2 * np.einsum("ij,jk,ik->i", x, self.g, y))
