"""What a training run records, epoch by epoch."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class History:
    """Per-epoch record of one ``fit``.

    Attributes
    ----------
    epoch : list of int
        Epoch numbers, from 1.
    loss : list of float
        Training loss (with the weight-decay term) of the epoch: each sample's loss taken in
        the step that used it, before that step's update, averaged over the epoch's samples
        (minibatch losses weighted by their sizes).
    val_loss, val_metric : list of float
        On the validation data, in evaluation mode, after the epoch (empty without it); the loss
        without weight decay, the metric named by ``metric_name`` (accuracy for the
        classification losses, R^2 for regression).
    lr : list of float
        Learning rate at the end of the epoch.
    grad_norms : list of ndarray, shape (n_dense_layers,)
        Mean over the epoch's steps of each dense layer's gradient norm ||(dW_l, db_l)||
        (before clipping): the vanishing-gradient picture.
    grad_norm : list of float
        Norm of the whole gradient vector, averaged the same way.
    time : list of float
        Seconds since the start of training.
    final_loss : float or None
        Training loss of the parameters kept: the last epoch's, or the best epoch's when early
        stopping restored it, or the last finite one's when training diverged.
    stop_reason : str
        ``"epochs"`` (ran them all), ``"early_stopping"``, ``"converged"`` (gradient norm below
        the tolerance), ``"time_limit"``, ``"diverged"``, ``"interrupted"`` (Ctrl-C: stopped
        after the current batch), or a callback's own reason.
    kept_epoch : int or None
        The epoch whose parameters the network holds at the end: the last, the best one early
        stopping restored, or after divergence the one before it (0: the initial weights).
    stop_message : str
        The same in a sentence for people: which weights were kept and, after divergence, the
        advice to lower the learning rate.
    engine : str
        The engine that took the steps: ``"numpy"`` or ``"compiled"`` (see
        :mod:`deltaprop.engine.compiled.choice`).
    engine_reason : str
        Why ``engine="auto"`` chose the NumPy engine ("" when it did not).
    engine_build_seconds : float
        Seconds the compiled engine spent building its kernels (the first run of an install:
        several seconds) or loading them from the disk cache, before the first step.
    n_fun : int or None
        L-BFGS only: how many times the loss and gradient were evaluated (None otherwise).
    solver_status, solver_message : int or None, str
        L-BFGS only: SciPy's ``result.status`` (0 converged, 1 an iteration or evaluation
        limit, 2 no progress) and ``result.message``; None and "" otherwise.
    blas_threads : list of int
        With ``threads="auto"`` on a large network: the BLAS threads chosen before training and
        after each epoch (see :mod:`deltaprop.engine.threads`); empty otherwise.
    restarts : list of dict
        With ``restarts > 1``: each run's seed, final training loss, validation loss and its
        History; ``best_restart`` is the index kept.
    """

    loss_name: str = ""
    metric_name: str = ""
    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norms: list[np.ndarray] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    stop_reason: str = ""
    best_epoch: int | None = None
    restarts: list[dict[str, Any]] = field(default_factory=list)
    best_restart: int | None = None
    final_loss: float | None = None
    blas_threads: list[int] = field(default_factory=list)
    stop_message: str = ""
    kept_epoch: int | None = None
    engine: str = ""
    engine_reason: str = ""
    engine_build_seconds: float = 0.0
    n_fun: int | None = None
    solver_status: int | None = None
    solver_message: str = ""

    def record_epoch(self, logs: dict[str, Any]) -> None:
        """Append one epoch's logs (as the loop hands them to ``on_epoch_end``): its number,
        loss, learning rate, gradient norms, time, and the validation loss and metric if any."""
        self.epoch.append(int(logs["epoch"]))
        self.loss.append(float(logs["loss"]))
        self.lr.append(float(logs["lr"]))
        self.grad_norms.append(logs["grad_norms"])
        self.grad_norm.append(float(logs["grad_norm"]))
        self.time.append(float(logs["time"]))
        if "val_loss" in logs:
            self.val_loss.append(float(logs["val_loss"]))
            self.val_metric.append(float(logs["val_metric"]))

    @property
    def n_epochs(self) -> int:
        return len(self.epoch)

    def grad_norm_matrix(self) -> np.ndarray:
        """Gradient norms as an array of shape (n_epochs, n_dense_layers)."""
        return np.array(self.grad_norms).reshape(len(self.grad_norms), -1)

    def to_dict(self, series: bool = True) -> dict[str, Any]:
        """Plain lists and numbers (JSON-ready); restarts without their nested histories.
        ``series=False`` leaves out the lists that grow with every epoch (one value per epoch),
        which a model file stores as arrays."""
        summary = {
            "loss_name": self.loss_name, "metric_name": self.metric_name,
            "stop_reason": self.stop_reason, "best_epoch": self.best_epoch,
            "best_restart": self.best_restart, "final_loss": self.final_loss,
            "stop_message": self.stop_message, "kept_epoch": self.kept_epoch,
            "engine": self.engine, "engine_reason": self.engine_reason,
            "engine_build_seconds": self.engine_build_seconds, "n_fun": self.n_fun,
            "solver_status": self.solver_status, "solver_message": self.solver_message,
            "restarts": [{k: v for k, v in r.items() if k != "history"} for r in self.restarts],
        }
        if not series:
            return summary
        return {**summary, "epoch": self.epoch, "loss": self.loss, "val_loss": self.val_loss,
                "val_metric": self.val_metric, "lr": self.lr,
                "grad_norms": [list(map(float, g)) for g in self.grad_norms],
                "grad_norm": self.grad_norm, "time": self.time, "blas_threads": self.blas_threads}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """The History that :meth:`to_dict` described (restarts keep their summaries only).

        Raises
        ------
        ValueError
            Naming the field, when ``data`` is not such a description: a field of the wrong
            type, a per-epoch list whose length is not the number of epochs.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a history is a JSON object, got {type(data).__name__}")
        known = {name for name in cls.__dataclass_fields__}
        history = cls(**{k: v for k, v in data.items() if k in known and k != "grad_norms"})
        for name in _TEXT:
            _check(name, getattr(history, name), str, "text")
        for name in _OPTIONAL_INTS:
            _check(name, getattr(history, name), (int, type(None)), "an integer or null")
        _check("final_loss", history.final_loss, (int, float, type(None)), "a number or null")
        _check("engine_build_seconds", history.engine_build_seconds, (int, float), "a number")
        history.epoch = _integers("epoch", history.epoch)
        history.blas_threads = _integers("blas_threads", history.blas_threads)
        for name in _PER_EPOCH:
            setattr(history, name, _numbers(name, getattr(history, name)))
        history.grad_norms = [np.array(_numbers("grad_norms", g), dtype=float)
                              for g in _list("grad_norms", data.get("grad_norms", []))]
        if not all(isinstance(r, dict) for r in _list("restarts", history.restarts)):
            raise ValueError("history.restarts must be a list of JSON objects")
        history.check()
        return history

    def check(self) -> None:
        """Refuse a record ``fit`` could not have made.

        Raises
        ------
        ValueError
            Unless the epochs count 1, 2, 3, ... (resumed runs too), each per-epoch list holds
            one value per epoch (the validation lists at most one), each epoch holds one
            gradient norm per dense layer, no norm is negative, and the best and kept epochs
            and the best restart are among those recorded.
        """
        _check_lengths(self)
        _check_norms(self)
        _check_indices(self)

    def __repr__(self) -> str:
        last = f", loss={self.loss[-1]:.4g}" if self.loss else ""
        val = f", val_loss={self.val_loss[-1]:.4g}" if self.val_loss else ""
        return f"History(epochs={self.n_epochs}{last}{val}, stop_reason={self.stop_reason!r})"


_TEXT = ("loss_name", "metric_name", "stop_reason", "stop_message", "engine", "engine_reason",
         "solver_message")
_OPTIONAL_INTS = ("best_epoch", "best_restart", "kept_epoch", "n_fun", "solver_status")
_PER_EPOCH = ("loss", "val_loss", "val_metric", "lr", "grad_norm", "time")


def _check(name: str, value: Any, types: Any, what: str) -> None:
    if not isinstance(value, types) or isinstance(value, bool):
        raise ValueError(f"history.{name} must be {what}, got {value!r:.60}")


def _list(name: str, value: Any) -> list[Any]:
    _check(name, value, list, "a list")
    return value


def _integers(name: str, values: Any) -> list[int]:
    for value in _list(name, values):
        _check(name, value, int, "a list of integers")
    return [int(v) for v in values]


def _numbers(name: str, values: Any) -> list[float]:
    """Floats, with the nulls JSON wrote for NaN as NaN."""
    for value in _list(name, values):
        if value is not None:
            _check(name, value, (int, float), "a list of numbers")
    return [math.nan if v is None else float(v) for v in values]


def _short(value: Any, width: int = 20) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _check_norms(history: History) -> None:
    """Norms are >= 0. NaN (JSON's null) is what fit records for an epoch that diverged: no
    norm rather than a wrong one, so it stays (a gap in the plot)."""
    for epoch, norms in enumerate(history.grad_norms, 1):
        bad = np.flatnonzero(np.asarray(norms, dtype=float) < 0)
        if bad.size:
            raise ValueError(f"history.grad_norms: layer {bad[0] + 1} of epoch {epoch} has the "
                             f"norm {norms[bad[0]]}; a norm is a number >= 0")
    bad = np.flatnonzero(np.asarray(history.grad_norm, dtype=float) < 0)
    if bad.size:
        raise ValueError(f"history.grad_norm of epoch {bad[0] + 1} is {history.grad_norm[bad[0]]}; "
                         "a norm is a number >= 0")


def _check_indices(history: History) -> None:
    """The epochs and the restart named are ones the history holds (epoch 0: the initial
    weights, kept when the first epoch diverged)."""
    for name in ("best_epoch", "kept_epoch"):
        value = getattr(history, name)
        if value is not None and not 0 <= value <= history.n_epochs:
            raise ValueError(f"history.{name} is {_short(value)}, not an epoch of the "
                             f"{history.n_epochs} recorded (or 0)")
    best = history.best_restart
    if best is not None and not 0 <= best < len(history.restarts):
        raise ValueError(f"history.best_restart is {_short(best)}, not one of the "
                         f"{len(history.restarts)} restarts recorded")


def _check_lengths(history: History) -> None:
    """One value per epoch in each per-epoch list (validation values: for the epochs that had
    validation data, so at most one per epoch)."""
    n = history.n_epochs
    if history.epoch != list(range(1, n + 1)):  # what fit records, resumed runs included
        wrong = next(i for i, e in enumerate(history.epoch, 1) if e != i)
        raise ValueError(f"history.epoch must count the epochs from 1 up (1, 2, 3, ...); "
                         f"entry {wrong} is {_short(history.epoch[wrong - 1])}")
    widths = {len(g) for g in history.grad_norms}
    if len(widths) > 1:  # one norm per dense layer, the same layers every epoch
        raise ValueError(f"history.grad_norms must hold as many norms each epoch, got "
                         f"{sorted(widths)[:5]}")
    for name in ("loss", "lr", "grad_norm", "time", "grad_norms"):
        if len(getattr(history, name)) not in (0, n):
            raise ValueError(f"history.{name} has {len(getattr(history, name))} values for {n} epochs")
    for name in ("val_loss", "val_metric"):
        if len(getattr(history, name)) > n:
            raise ValueError(f"history.{name} has {len(getattr(history, name))} values for {n} epochs")
