"""One trial of a sweep: an MLP trained with one set of options on arrays, and what it scored.

A trial runs as ``deltaprop train`` does: rows held out for an unbiased score
(``test_fraction``; a quarter by default, none below :data:`TINY` rows), the features (and a
regression's targets) standardized with the training rows' statistics, the network
``MLP(sizes, activation, init, seed, batch_norm, dropout)`` fitted with the library's ``fit``
on the training rows with a validation split (``val_fraction``), whose last score ranks it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from deltaprop._validation import is_sparse
from deltaprop.data.labels import LabelEncoder, canonical_labels
from deltaprop.data.preprocessing import Preprocessing, Standardizer
from deltaprop.files.model import Model
from deltaprop.mlp import MLP
from deltaprop.optim import SGD, Adam
from deltaprop.targets import one_hot
from deltaprop.training.options import FitOptions
from deltaprop.tuning.budget import check_network_fits
from deltaprop.tuning.data import read_task, regression_targets
from deltaprop.tuning.options import (
    KEYWORDS,
    REGRESSION_ONLY,
    Wording,
    batch_size,
    check_combination,
    hidden_sizes,
    task_loss,
)
from deltaprop.tuning.sweepspec import as_option

Array = np.ndarray
TINY = 20  # data smaller than this get no held-out part by default


@dataclass
class SweepTrial:
    """One trial: its options and what it scored.

    Attributes
    ----------
    options : dict
        The searched options of this trial, as the spec gives them.
    validation : float or None
        The validation split's score (accuracy or R^2) after the last epoch: the ranking
        score; None (or NaN) for a trial that failed or diverged.
    held_out : dict or None
        The held-out rows' scores (never used to rank), e.g. ``{"accuracy": .., "log_loss": ..}``.
    epochs : int
    stop_reason : str or None
        Why training stopped (``"error"`` for a trial that could not train).
    error : str or None
        Why the trial failed, if it did.
    seconds : float
        Wall-clock time of the trial.
    model : Model or None
        The trained model (network with its preprocessing), where it was kept.
    """

    options: dict[str, Any]
    validation: float | None
    held_out: dict[str, float] | None
    epochs: int
    stop_reason: str | None
    error: str | None = None
    seconds: float = 0.0
    model: Model | None = field(default=None, repr=False, compare=False)

    @classmethod
    def failure(cls, options: dict[str, Any], reason: str, seconds: float = 0.0) -> SweepTrial:
        """A trial that could not train, with its reason."""
        return cls(options, None, None, 0, "error", reason, seconds)

    @property
    def score(self) -> float:
        """The validation score; -inf for none (a failed or diverged trial)."""
        value = self.validation
        return float(value) if value is not None and np.isfinite(value) else -np.inf

    @property
    def failed(self) -> bool:
        return self.score == -np.inf

    def record(self) -> dict[str, Any]:
        """The trial as JSON (no model, no time): what ``deltaprop sweep`` logs and reports."""
        record = {"options": self.options, "validation": self.validation,
                  "held_out": self.held_out, "epochs": self.epochs, "stop_reason": self.stop_reason}
        return record if self.error is None else {**record, "error": self.error}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SweepTrial:
        """A trial as :meth:`record` wrote it."""
        return cls(record["options"], record.get("validation"), record.get("held_out"),
                   record.get("epochs") or 0, record.get("stop_reason"), record.get("error"))

    def without_model(self) -> SweepTrial:
        return replace(self, model=None)


@dataclass
class SweepData:
    """A sweep's arrays: ``X`` (n_samples, n_features) float64; ``y`` the labels in canonical
    form (classify, with ``classes`` sorted) or float64 targets (n_samples,) or
    (n_samples, n_targets) (regress)."""

    X: Array
    y: Array
    task: str
    classes: Array | None = None


def sweep_data(X: Any, y: Any, task: str | None = None) -> SweepData:
    """``X`` and ``y`` checked, with the task (read from ``y`` when None: text, or one column
    of at most :data:`~deltaprop.tuning.data.MAX_INTEGER_CLASSES` whole numbers, classifies;
    else regression)."""
    X = _features(X)
    y = np.asarray(y)
    if task != "regress" and y.ndim == 2 and y.shape[1] == 1:  # a column of labels
        y = y[:, 0]
    if y.ndim not in (1, 2) or len(y) != len(X):
        raise ValueError(f"y must hold a value per row of X ({len(X)}), got shape {y.shape}")
    task = read_task(y) if task is None else task
    if task == "classify":
        return _classified(X, y)
    if task != "regress":
        raise ValueError(f"task must be 'classify', 'regress' or None, got {task!r}")
    return SweepData(X, regression_targets(y), task)


def _features(X: Any) -> Array:
    """``X`` as finite float64 of shape (n_samples >= 2, n_features >= 1)."""
    if is_sparse(X):
        raise TypeError("a sweep standardizes X, which makes a sparse X dense; pass X.toarray()")
    if np.iscomplexobj(X):  # a cast to float would drop the imaginary parts
        raise TypeError("a sweep needs X of real numbers, not complex ones")
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("a sweep needs X of numbers, shape (n_samples, n_features)") from None
    if X.ndim != 2 or X.shape[1] == 0 or not np.isfinite(X).all():
        raise ValueError(f"X must be finite numbers of shape (n_samples, n_features), got shape {X.shape}")
    if len(X) < 2:
        raise ValueError(f"a sweep trains on at least 2 rows; X has {len(X)}")
    return X


def _classified(X: Array, y: Array) -> SweepData:
    if y.ndim != 1:
        raise ValueError("classification takes one target column, y of shape (n_samples,)")
    labels = canonical_labels(y)
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise ValueError("classification needs labels, but y holds fractional numbers; "
                         "use task='regress'")
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError("y has a single class: there is nothing to classify")
    return SweepData(X, labels, "classify", classes)


def fit_trial(options: dict[str, Any], data: SweepData, settings: dict[str, Any]) -> SweepTrial:
    """Train ``options`` (over ``settings``, the other options) on ``data``: the trial with its
    scores and model, or, for options that cannot train, a failed trial with the reason
    (never raised: one bad combination does not stop a sweep)."""
    start = time.perf_counter()
    run = {**settings, **{name: as_option(name, value) for name, value in options.items()}}
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # divergence: reported, not warned
            model, history, test = _fit(run, data)
    except (ValueError, TypeError, ArithmeticError, MemoryError) as error:
        return SweepTrial.failure(options, str(error), time.perf_counter() - start)
    with np.errstate(all="ignore"):  # a diverged model is reported, not warned about
        held_out = model.scores(data.X[test], data.y[test]) if len(test) else None
    validation = history.val_metric[-1] if history.val_metric else None
    return SweepTrial(options, validation, held_out, history.n_epochs, history.stop_reason,
                      seconds=time.perf_counter() - start, model=model)


def _fit(run: dict[str, Any], data: SweepData) -> tuple[Model, Any, Array]:
    """The model trained as ``run`` says, its history and the held-out rows."""
    check_combination(run)
    loss = task_loss(run["loss"], data.task, data.classes)
    options = fit_options_for(run, loss)
    train, test = held_out_rows(len(data.X), run["test_fraction"], run["seed"])
    preprocessing = Preprocessing(data.task, features=Standardizer.fit(data.X[train]),
                                  labels=None if data.classes is None else LabelEncoder(data.classes))
    Y = fitted_targets(preprocessing, data.y, train, loss)
    n_outputs = Y.shape[1] if Y.ndim == 2 else len(np.asarray(data.classes))  # class indices
    sizes = [data.X.shape[1], *hidden_sizes(run["hidden"]), n_outputs]
    check_network_fits(sizes, len(train), options.batch_size, run["hidden"])  # before it is built
    net = MLP(sizes, activation=run["activation"], init=run["init"], seed=run["seed"],
              batch_norm=run["batch_norm"], dropout=run["dropout"])
    model = Model(net, preprocessing)
    X = preprocessing.inputs(data.X)
    net.fit(X[train], Y[train], **options.keywords())
    return model, net.history, test


def fit_options_for(run: dict[str, Any], loss: str, **more: Any) -> FitOptions:
    """``fit``'s options for the training options ``run`` (named as
    :data:`~deltaprop.tuning.options.DEFAULTS` names them) and the checked ``loss``; ``more``
    for fit's options beyond those (restarts, checkpoints, engine). A bad value is refused
    with fit's message."""
    optimizer = (Adam(lr=run["lr"]) if run["optimizer"] == "adam"
                 else SGD(lr=run["lr"], momentum=run["momentum"], nesterov=False))
    return FitOptions(loss=loss, optimizer=optimizer, epochs=run["epochs"],
                      batch_size=batch_size(run["batch_size"]), l2=run["l2"],
                      validation_fraction=run["val_fraction"],
                      early_stopping=run["early_stopping"], **more)


def held_out_rows(n: int, fraction: float | None, seed: int,
                  wording: Wording = KEYWORDS) -> tuple[Array, Array]:
    """Random training and held-out rows (sorted); ``fraction`` of the ``n`` held out (None: a
    quarter, none below :data:`TINY` rows). Too few training rows are refused, naming
    ``test_fraction`` as ``wording`` does."""
    if fraction is None:
        fraction = 0.0 if n < TINY else 0.25
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(fraction * n))
    if n - n_test < 2:
        raise ValueError(f"{n} samples leave {n - n_test} for training; lower "
                         f"{wording.option('test_fraction')}")
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def fitted_targets(preprocessing: Preprocessing, y: Any, train: Array, loss: str) -> Array:
    """:func:`encode_targets`, regression targets first standardized with the ``train`` rows'
    statistics (kept in the preprocessing); Poisson counts as they are (centring would make
    them negative)."""
    if preprocessing.labels is None and loss not in REGRESSION_ONLY:
        Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        preprocessing.targets = Standardizer.fit(Y[train])
    return encode_targets(preprocessing, y, loss)


def encode_targets(preprocessing: Preprocessing, y: Any, loss: str) -> Array:
    """The network's targets for the targets ``y`` as given: class indices (one-hot rows for
    losses other than cross-entropy; one 0/1 column for binary cross-entropy), or regression
    targets (n, k) in the preprocessing's standard units (if it scales them)."""
    if preprocessing.labels is not None:
        codes = preprocessing.labels.encode(y)
        if loss == "binary_cross_entropy":  # two classes, one output: the second class's 0/1
            return codes.astype(np.float64).reshape(-1, 1)
        return codes if loss == "cross_entropy" else one_hot(codes, len(preprocessing.labels),
                                                              np.float64)
    Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    return Y if preprocessing.targets is None else preprocessing.targets.transform(Y)
