"""auto_fit's data: the inputs checked, the task read from the targets, a stratified
validation split, and the standardization (stored in the model's preprocessing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop._validation import is_sparse
from deltaprop.data.labels import LabelEncoder, canonical_labels
from deltaprop.data.preprocessing import Preprocessing, Standardizer

Array = np.ndarray
MAX_INTEGER_CLASSES = 20  # a whole-number target with at most this many values is read as labels
MIN_ROWS = 10


@dataclass
class Split:
    """The standardized training and validation arrays, with the loss and output width."""

    X: Array
    Y: Array
    X_val: Array
    Y_val: Array
    loss: str
    n_outputs: int


def check_inputs(X: Any, y: Any, task: str | None) -> tuple[Array, Array, str]:
    """X as finite float64 (n, d), the labels or targets as a vector, and the task."""
    if is_sparse(X):  # standardizing centres every column: the sparse X would turn dense
        raise TypeError("auto_fit standardizes X, which makes a sparse X dense; pass X.toarray() "
                        "if it fits in memory")
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("auto_fit needs X of numbers, shape (n_samples, n_features); encode "
                        "text columns first") from None
    if X.ndim != 2 or X.shape[1] == 0:
        raise ValueError(f"X must have shape (n_samples, n_features), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or inf; fill or drop those values first")
    target = np.asarray(y)
    if target.ndim == 2 and target.shape[1] == 1:
        target = target[:, 0]
    if target.ndim != 1 or target.shape[0] != X.shape[0]:
        raise ValueError(f"y must hold one value per row of X ({X.shape[0]}), got shape {np.shape(y)}")
    if X.shape[0] < MIN_ROWS:
        raise ValueError(f"auto_fit needs at least {MIN_ROWS} rows (a validation split), got {X.shape[0]}")
    task = read_task(target) if task is None else task
    if task not in ("classify", "regress"):
        raise ValueError(f"task must be 'classify' or 'regress', got {task!r}")
    return X, _targets(target, task), task


def read_task(y: Array) -> str:
    """The task targets ``y`` ask for: text (or flags), or one column of at most
    :data:`MAX_INTEGER_CLASSES` distinct whole numbers, classifies; anything else regresses."""
    if y.dtype.kind in "OUSb":
        return "classify"
    whole = y.ndim == 1 and bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))
    return "classify" if whole and np.unique(y).size <= MAX_INTEGER_CLASSES else "regress"


def _targets(y: Array, task: str) -> Array:
    if task == "classify":
        labels = canonical_labels(y)
        if np.unique(labels).size < 2:
            raise ValueError("y has a single class: there is nothing to classify")
        return labels
    return regression_targets(y)


def regression_targets(y: Any) -> Array:
    """``y`` as finite float64 regression targets (its shape kept), or a ValueError naming why."""
    try:
        values = np.asarray(y).astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError("task='regress' needs numeric targets y") from None
    if not np.isfinite(values).all():
        raise ValueError("y contains NaN or inf")
    return values


def split_rows(labels: Array, task: str, fraction: float, rng: np.random.Generator
                ) -> tuple[Array, Array]:
    """Training and validation rows; each class split in the same proportion (stratified)."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if task == "classify" \
        else [np.arange(labels.size)]
    val: list[Array] = []
    for rows in groups:
        n_val = int(round(fraction * rows.size)) if rows.size > 1 else 0
        val.append(rng.permutation(rows)[:n_val])
    held = np.sort(np.concatenate(val))
    if held.size == 0 or held.size == labels.size:
        raise ValueError(f"validation_fraction={fraction} leaves no validation or no training rows")
    return np.setdiff1d(np.arange(labels.size), held), held


def fold_rows(labels: Array, task: str, folds: int, rng: np.random.Generator
              ) -> list[tuple[Array, Array]]:
    """``folds`` (training rows, validation rows) pairs whose validation rows cut the data into
    ``folds`` parts (k-fold cross-validation), each class dealt round the parts in turn
    (stratified)."""
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if task == "classify" \
        else [np.arange(labels.size)]
    part = np.empty(labels.size, dtype=np.int64)
    dealt = 0
    for rows in groups:  # each class continues the deal where the last left off: even sizes
        part[rng.permutation(rows)] = (dealt + np.arange(rows.size)) % folds
        dealt += rows.size
    pairs = [(np.flatnonzero(part != k), np.flatnonzero(part == k)) for k in range(folds)]
    if any(val.size == 0 or train.size == 0 for train, val in pairs):
        raise ValueError(f"{labels.size} rows cannot be cut into {folds} folds")
    return pairs


def validation_parts(labels: Array, task: str, fraction: float, folds: int,
                     rng: np.random.Generator) -> list[tuple[Array, Array]]:
    """(training rows, validation rows): one split of ``fraction`` held out, or k folds."""
    if folds == 1:
        return [split_rows(labels, task, fraction, rng)]
    return fold_rows(labels, task, folds, rng)


def preprocessing_for(X_train: Array, labels: Array, task: str) -> Preprocessing:
    if task == "classify":
        return Preprocessing("classify", features=Standardizer.fit(X_train),
                             labels=LabelEncoder.fit(labels))
    return Preprocessing("regress", features=Standardizer.fit(X_train),
                         targets=Standardizer.fit(labels[:, None]))


def arrays(X: Array, labels: Array, preprocessing: Preprocessing, train: Array, val: Array) -> Split:
    Z = preprocessing.inputs(X)
    if preprocessing.labels is not None:
        codes = preprocessing.labels.encode(labels)
        return Split(Z[train], codes[train], Z[val], codes[val], "cross_entropy",
                      len(preprocessing.labels))
    assert preprocessing.targets is not None
    T = preprocessing.targets.transform(labels[:, None])
    return Split(Z[train], T[train], Z[val], T[val], "squared_error", 1)
