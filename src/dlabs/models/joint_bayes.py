"""Comparing two face embeddings: the joint Bayesian likelihood ratio (Chen et al., ECCV 2012) that
LFW verification scores pairs by, and the eigenfaces (PCA of grey pixels) that are its baseline.
NumPy and scikit-learn only: no network here, the embeddings come from `dlabs.models.face.embed`.
"""

from __future__ import annotations

import numpy as np

# ridge and principal components chosen on the calibration people's pairs (docs/experiments/faces.md)
RIDGE, DIMS = 0.1, 32


def unit(e: np.ndarray) -> np.ndarray:
    return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)


class JointBayesian:
    """Joint Bayesian comparison of embeddings: an embedding is a person's identity plus a
    within-person variation, two Gaussians whose covariances are estimated from the training
    people's embeddings (each ridged by `ridge` times its mean variance); a pair's score is the
    log-likelihood ratio of "the same person" against "two people", up to a constant. On a model's
    training people it learns which directions of the embedding vary within a person. With `dims`,
    the embeddings are first projected on their `dims` principal components (fitted on the same
    training embeddings), as the paper does with its high-dimensional features. With `blocks`, the
    embedding is an ensemble's members' embeddings joined: each member's block (made unit again)
    gets a comparison of its own, on its own `dims` components, and their scores add up."""

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


def grey(x: np.ndarray) -> np.ndarray:
    """Flat grey pixels in [0, 1] of RGB uint8 photos (N, S, S, 3): eigenfaces' input."""
    return (x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).reshape(len(x), -1) / 255.0


def eigenfaces(seed: int):
    """PCA 150, whitened (Turk and Pentland's eigenfaces, scikit-learn's recipe)."""
    from sklearn.decomposition import PCA

    return PCA(n_components=150, whiten=True, svd_solver="randomized", random_state=seed)


def eigenfaces_svm(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, seed: int) -> tuple[np.ndarray, dict]:
    """Eigenfaces + an RBF SVM (C and gamma by 3-fold CV) fitted on photos of known people: its
    scores for each test photo over the people, and the chosen parameters."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    train = grey(train_x)
    pca = eigenfaces(seed).fit(train)
    svm = GridSearchCV(SVC(kernel="rbf", class_weight="balanced"), {"C": [1e3, 1e4], "gamma": [1e-3, 5e-3]}, cv=3)
    svm.fit(pca.transform(train), train_y)
    return svm.decision_function(pca.transform(grey(test_x))), svm.best_params_
