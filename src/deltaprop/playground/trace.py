"""What the page shows of backpropagation itself: one sample followed through the forward and
backward pass, the gradient and update of a single step, and the library's gradient check.

Every number comes from the library: the forward and backward pass of
:meth:`~deltaprop.network.Network.loss_and_gradients` (the NumPy engine's, the one training
runs) on a copy of the network, so that the session's network and its caches are untouched.
Dense layer ``i`` (0-based) is layer ``l = i + 1`` of the notes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.gradcheck import gradcheck
from deltaprop.layers import Dense
from deltaprop.losses import Loss
from deltaprop.network import Network
from deltaprop.playground.config import Config, ConfigError

Array = np.ndarray
GRADCHECK_ROWS = 16  # the gradient check's batch: the first rows of the training data


def numbers(values: Any) -> Any:
    """An array as nested lists for JSON, with null for each value that is not finite."""
    values = np.asarray(values, dtype=np.float64)
    if np.isfinite(values).all():
        return values.tolist()
    shown: Any = np.where(np.isfinite(values), values, None)  # an object array: floats and None
    return shown.tolist()


def finite(value: Any) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def check_row(raw: Any, n_train: int) -> int:
    """A training row's index: a whole number in [0, n_train)."""
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < n_train:
        shown = repr(raw) if len(repr(raw)) <= 40 else repr(raw)[:37] + "..."
        raise ConfigError("row", f"row must be a training row's index, a whole number from 0 "
                          f"to {n_train - 1}, got {shown}")
    return raw


def _fused_output(loss: Loss, layer: Dense) -> bool:
    """True when the loss gives the output delta as a - y directly (softmax or sigmoid with its
    cross-entropy): f'(z) is then not a factor of it (softmax has a Jacobian, not a derivative)."""
    name = layer.activation.name
    fused = loss.fused and name == loss.output_activation
    return name == "softmax" or (fused and name != "identity")


def trace_row(net: Network, config: Config, X: Array, y: Array, row: Any) -> dict[str, Any]:
    """Training row ``row`` through the forward and backward pass, with the current weights.

    Parameters
    ----------
    net : Network
        Not changed: the passes run on a copy.
    config : Config
    X, y : ndarray
        The training rows and their targets (labels, or values for a regression).
    row : int
        The row's index (checked: a whole number in [0, n_train)).

    Returns
    -------
    dict
        The protocol's ``trace`` (docs/playground-protocol.md): per dense layer W, b, z, a,
        f'(z), delta, dW = delta a_prev^T and db = delta of this ONE sample's loss (no 1/B).

    Raises
    ------
    ConfigError
        ``bn``: with batch normalization a sample's values depend on its minibatch; ``row``
        out of range.
    """
    if config.bn:
        raise ConfigError("bn", "a sample cannot be traced with batch normalization (bn=1): its "
                          "values depend on the other rows of its minibatch; reset with bn=0")
    row = check_row(row, len(X))
    copy = net.copy()
    loss = copy.check_loss(config.loss)
    with np.errstate(all="ignore"):  # a diverged network's trace: its numbers sent as null
        value, dWs, dbs = copy.loss_and_gradients(X[row:row + 1], y[row:row + 1], loss=loss)
    layers = []
    for layer, dW, db in zip(copy.dense_layers, dWs, dbs):
        assert layer.z is not None and layer.a is not None and layer.delta is not None
        z, a = layer.z[0], layer.a[0]
        fused = layer is copy.output_layer and _fused_output(loss, layer)
        with np.errstate(all="ignore"):
            fprime = None if fused else numbers(layer.activation.derivative(z, a))
        layers.append({"activation": layer.activation.name, "W": numbers(layer.W),
                       "b": numbers(layer.b), "z": numbers(z), "a": numbers(a), "fprime": fprime,
                       "delta": numbers(layer.delta[0]), "dW": numbers(dW), "db": numbers(db)})
    target = int(y[row]) if config.task == "classify" else numbers(np.atleast_1d(y[row]))
    return {"row": row, "x": numbers(X[row]), "y": target, "batch_size": config.batch,
            "loss_name": config.loss, "loss": finite(value), "layers": layers}


def step_layers(before: Network, after: Network, config: Config, X: Array,
                y: Array) -> tuple[list[dict[str, Any]], Array]:
    """What a single step did to each dense layer, and the outputs it started from.

    Parameters
    ----------
    before, after : Network
        The network before the step (a copy) and after it.
    config : Config
    X, y : ndarray
        The minibatch's rows and targets.

    Returns
    -------
    layers : list of dict
        ``dW``, ``db``: the minibatch's gradient, with its 1/B and the L2 term (the library's
        backward pass of the same minibatch again, on ``before``: the gradient the update
        used); ``update``: ``{"W": ..., "b": ...}``, theta after minus theta before.
    y_hat : ndarray, shape (B, n_outputs)
        The outputs for the minibatch before the update (training mode, as the step saw them).
    """
    with np.errstate(all="ignore"):
        _, dWs, dbs = before.loss_and_gradients(X, y, loss=config.loss, l2=config.l2)
        changes = [(new.W - old.W, new.b - old.b)
                   for old, new in zip(before.dense_layers, after.dense_layers)]
    assert before.output_layer.a is not None
    layers = [{"dW": numbers(dW), "db": numbers(db), "update": {"W": numbers(W_step), "b": numbers(b_step)}}
              for dW, db, (W_step, b_step) in zip(dWs, dbs, changes)]
    return layers, np.array(before.output_layer.a, copy=True)


def gradient_check(net: Network, config: Config, X: Array, y: Array) -> dict[str, Any]:
    """:func:`deltaprop.gradcheck` of the network (on a float64 copy) with the first
    ``min(16, n_train)`` training rows, the run's loss and its L2 term."""
    rows = min(GRADCHECK_ROWS, len(X))
    with np.errstate(all="ignore"):
        report = gradcheck(net, X[:rows], y[:rows], loss=config.loss, l2=config.l2)
    return {"passed": bool(report.passed), "max_error": finite(report.max_error),
            "tolerance": report.tolerance,
            "errors": {name: finite(error) for name, error in report.errors.items()},
            "skipped": dict(report.skipped), "rows": rows}
