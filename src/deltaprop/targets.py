"""Targets as the losses take them: numbers checked, class labels as one-hot rows."""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray


def one_hot(labels: Any, n_classes: int, dtype: Any = np.float32) -> Array:
    """Integer labels ``0..n_classes-1`` of shape (n,) as one-hot rows, shape (n, n_classes)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.size and (not np.all(np.mod(labels, 1) == 0)):
        raise ValueError("class labels must be whole numbers 0..k-1")
    # The range is checked on the labels as given: a cast first would wrap 2e19 to -2**63.
    outside = (labels < 0) | (labels >= n_classes)
    if np.any(outside):
        bad = labels[outside][0]
        raise ValueError(
            f"label {bad:g} is outside 0..{n_classes - 1} for a network with {n_classes} outputs"
        )
    as_int = labels.astype(np.int64)
    Y = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    Y[np.arange(labels.shape[0]), as_int] = 1.0
    return Y


def numeric_targets(y: Any) -> Array:
    """``y`` as a finite numeric array of 1 or 2 dimensions, or an error naming what it is."""
    Y = np.asarray(y)
    if Y.dtype.kind in "USO" and Y.size and all(isinstance(v, str) for v in Y.flat[:100]):
        raise TypeError(
            f"targets must be numbers, got labels such as {str(Y.flat[0])!r}: encode them first, e.g. "
            "classes, y = np.unique(y, return_inverse=True) (predict_classes then gives indices "
            "into classes), or use deltaprop.sklearn.MLPClassifier or the command line, which "
            "take labels of any type")
    if np.iscomplexobj(Y) or Y.dtype == object or not (np.issubdtype(Y.dtype, np.number) or Y.dtype == bool):
        raise TypeError(f"targets must be numeric, got an array of dtype {Y.dtype}")
    if Y.ndim == 0 or Y.ndim > 2:
        raise ValueError(f"targets must be 1-D or 2-D, got shape {Y.shape}")
    if not np.isfinite(Y).all():
        raise ValueError("targets contain NaN or infinity")
    return Y
