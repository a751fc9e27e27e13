"""Evaluation mode: the forward pass without training (chunked, for bounded memory), and the loss
and metric of a network on data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from deltaprop._validation import check_data
from deltaprop.layers import Layer
from deltaprop.losses import Loss

Array = np.ndarray
PREDICT_CHUNK = 4096  # rows per forward in evaluation: bounds memory, keeps workspaces reused


class Evaluated(Protocol):
    """What evaluation reads of a network (a :class:`~deltaprop.network.Network`)."""

    layers: list[Layer]
    output_layer: Any
    dtype: Any
    n_inputs: int
    n_outputs: int
    loss: Loss | None

    def check_loss(self, loss: str | Loss) -> Loss: ...

    def using_loss(self, loss: Loss) -> Any: ...


def forward(layers: Sequence[Layer], X: Any, *, training: bool) -> Array:
    """a_L of ``X`` (n_samples, n_inputs; an array, or CSR rows for a Dense first layer) through
    ``layers``, each keeping its z and a; an internal buffer of the last layer, overwritten by
    the next pass."""
    a = X
    for layer in layers:
        a = layer.forward(a, training=training)
    return a


def outputs(net: Evaluated, X: Any, which: str) -> Array:
    """The output layer's ``a`` or ``z`` for validated ``X`` (an array, or sparse CSR rows: each
    chunk is sliced as CSR), in evaluation mode, chunk by chunk; a new array of shape
    (n_samples, n_outputs)."""
    out = np.empty((X.shape[0], net.n_outputs), dtype=net.dtype)
    layers = net.layers
    for start in range(0, X.shape[0], PREDICT_CHUNK):
        forward(layers, X[start:start + PREDICT_CHUNK], training=False)
        out[start:start + PREDICT_CHUNK] = getattr(net.output_layer, which)
    return out


def evaluate(net: Evaluated, X: Any, y: Any, *, loss: str | Loss | None = None,
             sample_weight: Any = None) -> tuple[float, float]:
    """Loss and metric of ``net`` on (X, y) in evaluation mode, without weight decay.

    Parameters
    ----------
    net : Network
    X : array-like or scipy.sparse matrix, shape (n_samples, n_inputs)
        Sparse rows stay sparse (see :func:`deltaprop.fit`).
    y : array-like
        Targets as ``fit`` takes them.
    loss : str or Loss, optional
        Default: the loss the network was trained with.
    sample_weight : array-like of shape (n_samples,), optional
        Weights of the loss and the metric (weighted means).

    Returns
    -------
    (loss, metric) : tuple of float
        The metric is accuracy for the classification losses and R^2 for regression.
    """
    if loss is None and net.loss is None:
        raise ValueError("the network has not been trained; give loss=")
    loss_object = net.check_loss(loss) if loss is not None else net.loss
    assert loss_object is not None
    X, Y, w = check_data(net, loss_object, X, y, sample_weight, sparse=True)
    with net.using_loss(loss_object):
        return evaluate_arrays(net, loss_object, X, Y, w)


def evaluate_arrays(net: Evaluated, loss: Loss, X: Any, Y: Array,
                    w: Array | None = None) -> tuple[float, float]:
    """(loss, metric) over validated (X, Y) and optional weights ``w``, in evaluation mode;
    chunked forward (X an array or sparse CSR rows)."""
    predicted = np.empty_like(Y)
    total = 0.0
    out = net.output_layer
    for start in range(0, X.shape[0], PREDICT_CHUNK):
        stop = min(start + PREDICT_CHUNK, X.shape[0])
        forward(net.layers, X[start:stop], training=False)
        z, a = out.z, out.a
        if w is None:
            total += loss.value(z, a, Y[start:stop]) * (stop - start)
        else:
            total += float(np.dot(loss.sample_values(z, a, Y[start:stop]), w[start:stop]))
        predicted[start:stop] = a
    if w is None:
        return total / X.shape[0], loss.metric(predicted, Y)
    return total / float(w.sum()), loss.metric(predicted, Y, w)

