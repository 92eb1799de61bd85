"""Multinomial logistic regression fitted with full-batch L-BFGS in PyTorch.

The baseline every classification lab reports. It follows scikit-learn's estimator shape
(`fit` returns self, learned state ends in `_`) but runs as one matrix product per step, so on
60,000 x 784 pixels it fits in seconds where scikit-learn's solvers take minutes on two cores.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F


class LogisticRegression:
    def __init__(self, l2: float = 1e-4, max_iter: int = 100):
        self.l2 = l2  # penalty on the mean loss: l2 * ||W||^2
        self.max_iter = max_iter

    def fit(self, x: np.ndarray, y: np.ndarray) -> "LogisticRegression":
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        y = torch.as_tensor(np.asarray(y, dtype=np.int64))
        n_classes = int(y.max()) + 1
        w = torch.zeros(x.shape[1], n_classes, requires_grad=True)
        b = torch.zeros(n_classes, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1, max_iter=self.max_iter, history_size=20,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(torch.addmm(b, x, w), y) + self.l2 * w.square().sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.coef_, self.intercept_ = w.detach(), b.detach()
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        return torch.softmax(torch.addmm(self.intercept_, x, self.coef_), 1).numpy()
