"""Scoring a network on data: loss and metric in evaluation mode."""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop._validation import as_float_matrix, as_sample_weight, check_rows
from deltaprop.losses import Loss
from deltaprop.network import PREDICT_CHUNK, Network

Array = np.ndarray


def evaluate(net: Network, X: Any, y: Any, *, loss: str | Loss | None = None,
             sample_weight: Any = None) -> tuple[float, float]:
    """Loss and metric of ``net`` on (X, y) in evaluation mode, without weight decay.

    Parameters
    ----------
    net : Network
    X : array-like, shape (n_samples, n_inputs)
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
    X = as_float_matrix(X, "X", net.dtype, net.n_inputs)
    Y = loss_object.prepare_targets(y, net.n_outputs, net.dtype)
    check_rows(X, Y)
    w = as_sample_weight(sample_weight, X.shape[0])
    if w is not None:
        loss_object.check_sample_weights()
    with net.using_loss(loss_object):
        return evaluate_arrays(net, loss_object, X, Y, w)


def evaluate_arrays(net: Network, loss: Loss, X: Array, Y: Array,
                    w: Array | None = None) -> tuple[float, float]:
    """(loss, metric) over validated (X, Y) and optional weights ``w``, in evaluation mode;
    chunked forward."""
    outputs = np.empty_like(Y)
    total = 0.0
    out = net.output_layer
    for start in range(0, X.shape[0], PREDICT_CHUNK):
        stop = min(start + PREDICT_CHUNK, X.shape[0])
        net._forward(X[start:stop], training=False)
        z, a = out.z, out.a
        assert z is not None and a is not None
        if w is None:
            total += loss.value(z, a, Y[start:stop]) * (stop - start)
        else:
            total += float(np.dot(loss.sample_values(z, a, Y[start:stop]), w[start:stop]))
        outputs[start:stop] = a
    if w is None:
        return total / X.shape[0], loss.metric(outputs, Y)
    return total / float(w.sum()), loss.metric(outputs, Y, w)
