"""Scores and class decisions from network outputs, in one place (NumPy only).

Everything that turns outputs into classes, probabilities from logits, or a score is here, so
that the model object, the command line, the estimators and the exporters agree to the bit:

- :func:`class_indices`: the class of each row, from the outputs and the output activation;
- :func:`log_softmax`, :func:`log_sigmoid`: log-probabilities from the logits ``z``, finite
  where a probability rounds to 0;
- :func:`accuracy`, :func:`log_loss`, :func:`r2`, :func:`mse`: the scores.

Shapes: outputs and logits are ``(n_samples, n_outputs)``; labels are ``(n_samples,)``, or
``(n_samples, n_labels)`` 0/1 indicators for multi-label outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop._validation import all_finite

Array = np.ndarray
# Single outputs of these activations are probabilities, thresholded at 0.5; other single
# outputs (sign, tanh, identity) are thresholded at 0, the middle of their range.
_HALF_THRESHOLD = ("sigmoid", "step", "softmax")


def class_indices(outputs: Any, activation: str) -> Array:
    """The class each row of ``outputs`` says, as output indices.

    Parameters
    ----------
    outputs : array-like of shape (n_samples, n_outputs)
        Network outputs (probabilities for softmax and sigmoid).
    activation : str
        The output activation's name.

    Returns
    -------
    ndarray of int64
        Softmax, or any other activation with several outputs but sigmoid: the argmax, shape
        (n_samples,). Sigmoid: each output thresholded at 0.5 (multi-label), shape
        (n_samples,) for one output, (n_samples, n_outputs) for several. One output of another
        activation: thresholded at 0.5 (step, softmax) or 0 (sign, tanh, identity), shape
        (n_samples,).
    """
    out = np.asarray(outputs)
    if out.ndim != 2:
        raise ValueError(f"outputs must have shape (n_samples, n_outputs), got {out.shape}")
    if activation == "sigmoid" or out.shape[1] == 1:
        threshold = 0.5 if activation in _HALF_THRESHOLD else 0.0
        labels = (out > threshold).astype(np.int64)
        return labels[:, 0] if labels.shape[1] == 1 else labels
    return out.argmax(axis=1)


def log_softmax(z: Array) -> Array:
    """``log softmax(z)`` row by row, shape of ``z``: ``z - max - log(sum(exp(z - max)))``."""
    z_max = z.max(axis=1, keepdims=True)
    return z - z_max - np.log(np.exp(z - z_max).sum(axis=1, keepdims=True))


def log_sigmoid(z: Array) -> Array:
    """``log sigma(z) = -softplus(-z)`` elementwise, without overflow; shape of ``z``.

    ``log(1 - sigma(z))`` is ``log_sigmoid(-z)``: a tiny probability keeps its digits instead of
    being ``1 - (1 - p)``.
    """
    return -(np.maximum(-z, 0.0) + np.log1p(np.exp(-np.abs(z))))


def accuracy(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """The (weighted) fraction of rows predicted right.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,) or (n_samples, n_labels)
        Labels; for 2-D indicators a row counts only when every label is right (subset
        accuracy, as scikit-learn's ``accuracy_score``).
    sample_weight : array-like of shape (n_samples,), optional
    """
    truth, predicted = aligned(y_true, y_pred)
    right = truth == predicted
    if right.ndim == 2:
        right = right.all(axis=1)
    return float(np.average(right, weights=sample_weight))


def log_loss(probabilities: Any, codes: Any) -> float:
    """Mean cross-entropy ``-1/n sum_i log p_i[c_i]`` of the true classes' probabilities.

    Parameters
    ----------
    probabilities : array-like of shape (n_samples, n_classes)
    codes : array-like of int, shape (n_samples,)
        The true classes as column indices. Probabilities are clipped at 1e-300, so a
        confident mistake costs about 690, not infinity.
    """
    p = np.asarray(probabilities)
    codes = np.asarray(codes)
    picked = np.clip(p[np.arange(len(codes)), codes], 1e-300, None)
    return float(-np.mean(np.log(picked)))


def r2(y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
    """The coefficient of determination, averaged over outputs (scikit-learn's
    ``"uniform_average"``); 0 for an output whose targets are constant.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,) or (n_samples, n_outputs)
    sample_weight : array-like of shape (n_samples,), optional
        Weighted sums, as ``r2_score`` with ``sample_weight``.
    """
    Y, P = _columns(y_true, y_pred)
    weights = np.ones(Y.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    mean = np.dot(weights, Y) / weights.sum()
    residual = np.dot(weights, (Y - P) ** 2)
    total = np.dot(weights, (Y - mean) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), 0.0)
    return float(scores.mean())


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error over every sample and output."""
    Y, P = _columns(y_true, y_pred)
    return float(((Y - P) ** 2).mean())


def aligned(y_true: Any, y_pred: Any) -> tuple[Array, Array]:
    """``y_true`` and ``y_pred`` as arrays of one shape, or a ValueError naming both shapes:
    a column of shape (n, 1) pairs with a vector (n,), nothing else is broadcast (a single
    label against n predictions would otherwise score as if it were repeated)."""
    truth, predicted = np.asarray(y_true), np.asarray(y_pred)
    if truth.ndim == 2 and truth.shape[1] == 1 and predicted.ndim == 1:
        truth = truth[:, 0]
    elif predicted.ndim == 2 and predicted.shape[1] == 1 and truth.ndim == 1:
        predicted = predicted[:, 0]
    if truth.shape != predicted.shape or truth.ndim == 0:
        raise ValueError(f"y has shape {truth.shape} but the predictions have shape "
                         f"{predicted.shape}: give one target (row) per sample")
    return truth, predicted


def _columns(y_true: Any, y_pred: Any) -> tuple[Array, Array]:
    """Targets and predictions as float64 columns of one shape (n_samples, n_outputs); NaN or
    infinite targets are a ValueError (they would make every score NaN, or a silent 0)."""
    truth, predicted = aligned(y_true, y_pred)
    Y = np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)
    if not all_finite(Y):  # without a boolean copy: this runs every validation epoch
        raise ValueError("y holds NaN or infinity; drop those rows to score the others")
    return Y, np.asarray(predicted, dtype=np.float64).reshape(len(predicted), -1)
