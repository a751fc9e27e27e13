"""What the detectors read, gathered once: a sample of the rows, each hidden layer's
pre-activations in evaluation mode, the gradient of each dense layer at the current weights,
the loss of the constant predictor, and the history.

Nothing of the network changes: the pass writes only the layers' caches (as any ``forward``
does) and the gradient buffer, and the random state a training-mode pass draws from (dropout)
is put back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop._validation import check_data
from deltaprop.doctor.thresholds import SAMPLE_ROWS
from deltaprop.evaluation import forward
from deltaprop.layers import ActivationLayer, Dense
from deltaprop.losses import Loss
from deltaprop.network import Network

Array = np.ndarray


@dataclass
class HiddenLayer:
    """A hidden dense layer as the unit detectors see it: the nonlinearity after it (fused in,
    or an :class:`~deltaprop.layers.ActivationLayer` after a BatchNorm), what enters that
    nonlinearity on the sampled rows, shape (n_rows, n_out), and the incoming weights."""

    index: int
    activation: str
    z: Array
    W: Array
    b: Array


@dataclass
class Observations:
    """Everything the detectors read (see the module docstring)."""

    net: Network
    loss: Loss
    X: Any  # the sampled rows (an array, or sparse CSR rows)
    Y: Array
    hidden: list[HiddenLayer]
    grad_norms: Array  # per dense layer, at the current weights, on the sampled rows
    loss_value: float  # at the current weights, on the sampled rows
    baseline_loss: float  # of the best constant prediction on the sampled rows
    history: Any


def observe(net: Network, X: Any, y: Any, loss: Loss, history: Any) -> Observations:
    """Validate ``X`` and ``y`` for ``net`` and ``loss`` and gather the observations."""
    X, Y, _ = check_data(net, loss, X, y, sparse=True)
    if X.shape[0] < 2:
        raise ValueError(f"diagnose needs at least 2 samples, got {X.shape[0]}")
    rows = _sample(X.shape[0])
    X, Y = X[rows], Y[rows]
    with net.using_loss(loss):
        forward(net.layers, X, training=False)
        hidden = _hidden_layers(net)
        value, norms = _gradient(net, loss, X, Y)
    return Observations(net, loss, X, Y, hidden, norms, value, constant_loss(loss, Y), history)


def _sample(n: int) -> Array:
    """At most SAMPLE_ROWS rows, evenly spread (deterministic, and the order of a sorted file
    cannot bias it much)."""
    if n <= SAMPLE_ROWS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, SAMPLE_ROWS).astype(np.int64))


def _hidden_layers(net: Network) -> list[HiddenLayer]:
    """Each dense layer but the last with the nonlinearity that follows it: its own, or the
    next ActivationLayer's before the next dense layer (Dense, BatchNorm, ActivationLayer)."""
    found = []
    dense_index = -1
    layers = net.layers
    for position, layer in enumerate(layers[:-1]):
        if not isinstance(layer, Dense):
            continue
        dense_index += 1
        if layer is net.dense_layers[-1]:
            break
        name, z = layer.activation.name, layer.z
        if name == "identity":
            after = _next_activation(layers[position + 1:])
            if after is not None:
                name, z = after.activation.name, after.z
        assert z is not None
        found.append(HiddenLayer(dense_index, name, np.asarray(z, dtype=np.float64),
                                 np.asarray(layer.W, dtype=np.float64),
                                 np.asarray(layer.b, dtype=np.float64)))
    return found


def _next_activation(layers: list[Any]) -> ActivationLayer | None:
    for layer in layers:
        if isinstance(layer, Dense):
            return None
        if isinstance(layer, ActivationLayer):
            return layer
    return None


def _gradient(net: Network, loss: Loss, X: Any, Y: Array) -> tuple[float, Array]:
    """Loss and per-dense-layer gradient norm ||(dW_l, db_l)|| at the current weights (the
    norm History.grad_norms records per step)."""
    with _kept_random_state(net), np.errstate(all="ignore"):
        value, dWs, dbs = net.loss_and_gradients(X, Y, loss=loss)
    norms = np.array([np.sqrt(np.sum(np.square(dW, dtype=np.float64))
                              + np.sum(np.square(db, dtype=np.float64)))
                      for dW, db in zip(dWs, dbs)])
    return float(value), norms


@contextmanager
def _kept_random_state(net: Network) -> Iterator[None]:
    """The network's training randomness (dropout masks) as it was before the probe."""
    state = net.rng.bit_generator.state
    try:
        yield
    finally:
        net.rng.bit_generator.state = state


def constant_loss(loss: Loss, Y: Array) -> float:
    """The loss of the best constant prediction (class frequencies, the mean target): what a
    network that learned nothing from the inputs scores."""
    Y = np.asarray(Y, dtype=np.float64)
    mean = Y.mean(axis=0)
    tiny = 1e-12
    if loss.output_activation == "softmax":
        z = np.log(np.clip(mean, tiny, None))
    elif loss.output_activation == "sigmoid":
        p = np.clip(mean, tiny, 1 - tiny)
        z = np.log(p) - np.log1p(-p)
    elif loss.output_activation == "exp":
        z = np.log(np.clip(mean, tiny, None))
        mean = np.exp(z)
    else:
        z = mean
    n = Y.shape[0]
    with np.errstate(all="ignore"):
        return float(loss.value(np.tile(z, (n, 1)), np.tile(mean, (n, 1)), Y))
