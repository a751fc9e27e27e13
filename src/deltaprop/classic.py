"""The two single-layer ancestors of backpropagation, as special cases of a Network.

Both hold a one-layer :class:`~deltaprop.network.Network` (``.net``), so their weights are the
same ``net.weights[0]`` of shape (n_outputs, n_inputs) as any MLP's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop._validation import as_float_matrix, as_float_vector, check_positive
from deltaprop.activations import Sigmoid
from deltaprop.layers import Dense
from deltaprop.network import Network

Array = np.ndarray


def _signed_targets(y: Any, n_rows: int, n_outputs: int) -> tuple[Array, bool]:
    """Targets as +-1 of shape (n, n_outputs); also whether they came as 0/1."""
    try:
        Y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("perceptron targets must be numbers 0/1 or -1/+1") from None
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.shape != (n_rows, n_outputs):
        raise ValueError(f"y has shape {np.shape(y)}, expected ({n_rows},) or ({n_rows}, {n_outputs})")
    values = set(np.unique(Y).tolist())
    if values <= {0.0, 1.0}:
        return 2.0 * Y - 1.0, True
    if values <= {-1.0, 1.0}:
        return Y, False
    raise ValueError(f"perceptron targets must be 0/1 or -1/+1, got values {sorted(values)[:5]}")


class Perceptron:
    """Rosenblatt's perceptron: sign units trained by the perceptron rule.

    Rule, for each sample (x, y) in turn with y in {-1, +1} and each output unit::

        if sign(w . x + b) != y:   w <- w + lr * y * x,   b <- b + lr * y

    Updates happen only on mistakes; an epoch without mistakes ends training. On linearly
    separable data (AND, OR) it converges in finitely many updates; on XOR it cannot.

    Parameters
    ----------
    n_inputs, n_outputs : int
    lr : float
        Step size (for a start at zero it only rescales w and b).
    seed : int, optional
        Seeds the visiting order.
    """

    def __init__(self, n_inputs: int, n_outputs: int = 1, *, lr: float = 1.0, seed: Any = None) -> None:
        self.lr = check_positive("lr", lr)
        self.net = Network([Dense(n_inputs, n_outputs, "sign", init="zeros")], dtype=np.float64, seed=seed)
        self.mistakes_per_epoch: list[int] = []
        self._zero_one = False

    @property
    def W(self) -> Array:
        return self.net.weights[0]

    @property
    def b(self) -> Array:
        return self.net.biases[0]

    def fit(self, X: Any, y: Any, *, epochs: int = 100, shuffle: bool = True) -> Perceptron:
        """Apply the perceptron rule for up to ``epochs`` passes; stops at an error-free pass."""
        X = as_float_matrix(X, "X", np.float64, self.net.n_inputs)
        Y, self._zero_one = _signed_targets(y, X.shape[0], self.net.n_outputs)
        W, b = self.W, self.b
        for _ in range(check_positive("epochs", epochs, integer=True)):
            order = self.net.rng.permutation(X.shape[0]) if shuffle else range(X.shape[0])
            mistakes = 0
            for i in order:
                predicted = np.where(W @ X[i] + b >= 0, 1.0, -1.0)
                wrong = predicted != Y[i]
                if wrong.any():
                    mistakes += int(wrong.sum())
                    W[wrong] += self.lr * Y[i, wrong, None] * X[i]
                    b[wrong] += self.lr * Y[i, wrong]
            self.mistakes_per_epoch.append(mistakes)
            if mistakes == 0:
                break
        return self

    def predict(self, X: Any) -> Array:
        """+-1 per output (0/1 if trained on 0/1 targets); shape (n,) for one output."""
        signs = self.net.predict(X)
        labels = (signs + 1.0) / 2.0 if self._zero_one else signs
        return labels[:, 0] if labels.shape[1] == 1 else labels

    def score(self, X: Any, y: Any) -> float:
        """Fraction of outputs predicted correctly."""
        return float(np.mean(self.predict(X) == np.asarray(y).reshape(self.predict(X).shape)))


class DeltaRule:
    """One sigmoid unit trained online on the squared error: the delta rule (Widrow-Hoff with a
    sigmoid), which is backpropagation on a network with no hidden layer.

    Rule, for each sample (x, y) in turn, with a = sigmoid(w . x + b)::

        delta = (a - y) * a * (1 - a)          the output delta of 1/2 (a - y)^2
        w <- w - lr * delta * x,   b <- b - lr * delta

    Parameters
    ----------
    n_inputs : int
    lr : float
    seed : int, optional
        Seeds the initial weights (Glorot) and the visiting order.
    """

    def __init__(self, n_inputs: int, *, lr: float = 0.5, seed: Any = None) -> None:
        self.lr = check_positive("lr", lr)
        self.net = Network([Dense(n_inputs, 1, "sigmoid")], dtype=np.float64, seed=seed)

    @property
    def w(self) -> Array:
        return self.net.weights[0][0]

    @property
    def b(self) -> Array:
        return self.net.biases[0]

    def fit(self, X: Any, y: Any, *, epochs: int = 100, shuffle: bool = True) -> DeltaRule:
        """Apply the delta rule sample by sample for ``epochs`` passes."""
        X = as_float_matrix(X, "X", np.float64, self.net.n_inputs)
        y = as_float_vector(y, "y", X.shape[0])
        w, b = self.w, self.b
        sigmoid = Sigmoid()
        for _ in range(check_positive("epochs", epochs, integer=True)):
            order = self.net.rng.permutation(X.shape[0]) if shuffle else range(X.shape[0])
            for i in order:
                a = float(sigmoid.forward(np.atleast_1d(w @ X[i] + b[0]))[0])
                delta = (a - y[i]) * a * (1.0 - a)
                w -= self.lr * delta * X[i]
                b -= self.lr * delta
        return self

    def predict_proba(self, X: Any) -> Array:
        """a = sigmoid(w . x + b), shape (n,)."""
        return self.net.predict(X)[:, 0]

    def predict(self, X: Any) -> Array:
        """1 where a > 0.5, else 0."""
        return (self.predict_proba(X) > 0.5).astype(np.int64)
