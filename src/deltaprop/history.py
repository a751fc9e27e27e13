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

    @property
    def n_epochs(self) -> int:
        return len(self.epoch)

    def grad_norm_matrix(self) -> np.ndarray:
        """Gradient norms as an array of shape (n_epochs, n_dense_layers)."""
        return np.array(self.grad_norms).reshape(len(self.grad_norms), -1)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (JSON-ready); restarts without their nested histories."""
        return {
            "loss_name": self.loss_name, "metric_name": self.metric_name, "epoch": self.epoch,
            "loss": self.loss, "val_loss": self.val_loss,
            "val_metric": self.val_metric, "lr": self.lr,
            "grad_norms": [list(map(float, g)) for g in self.grad_norms],
            "grad_norm": self.grad_norm, "time": self.time, "stop_reason": self.stop_reason,
            "best_epoch": self.best_epoch, "best_restart": self.best_restart,
            "final_loss": self.final_loss, "blas_threads": self.blas_threads,
            "stop_message": self.stop_message, "kept_epoch": self.kept_epoch,
            "restarts": [{k: v for k, v in r.items() if k != "history"} for r in self.restarts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """The History that :meth:`to_dict` described (restarts keep their summaries only)."""
        known = {name for name in cls.__dataclass_fields__}
        history = cls(**{k: v for k, v in data.items() if k in known and k != "grad_norms"})
        for name in ("loss", "val_loss", "val_metric", "lr", "grad_norm", "time"):  # or raise
            setattr(history, name, [math.nan if v is None else float(v) for v in getattr(history, name)])
        history.epoch = [int(v) for v in history.epoch]
        history.grad_norms = [np.array([math.nan if v is None else v for v in g], dtype=float)
                              for g in data.get("grad_norms", [])]
        return history

    def __repr__(self) -> str:
        last = f", loss={self.loss[-1]:.4g}" if self.loss else ""
        val = f", val_loss={self.val_loss[-1]:.4g}" if self.val_loss else ""
        return f"History(epochs={self.n_epochs}{last}{val}, stop_reason={self.stop_reason!r})"


class EpochLoss:
    """The epoch's loss: each sample's loss taken before the update of its step, averaged.

    A sample's loss depends only on that sample and the parameters at its step, so instead of
    evaluating the loss at every step (several passes over a small output, each costing more in
    call overhead than in arithmetic), each step's output rows are stored and the loss is
    evaluated once per epoch, vectorized. The weight-decay term, which changes every step, is
    added per step. Where a step is expensive anyway (``defer=False``), the outputs would take
    more than ``max_bytes``, or the loss is not known to be a mean of per-sample terms (a
    user's loss), the loss is evaluated every step instead.

    Parameters
    ----------
    loss : Loss
    max_rows : int
        The most rows one epoch can produce.
    n_outputs : int
    dtype : numpy dtype
    defer : bool
        Store outputs and evaluate once per epoch (worth it for small, fast steps).
    """

    max_bytes = 32 * 2**20

    def __init__(self, loss: Any, max_rows: int, n_outputs: int, dtype: Any, defer: bool = True) -> None:
        self.loss = loss
        needs = loss.value_needs
        size = max_rows * n_outputs * np.dtype(dtype).itemsize * len(needs)
        deferred = defer and loss.per_sample and size <= self.max_bytes
        self.z = np.empty((max_rows, n_outputs), dtype) if deferred and "z" in needs else None
        self.a = np.empty((max_rows, n_outputs), dtype) if deferred and "a" in needs else None
        self.rows = np.empty(max_rows, np.intp) if deferred else None
        self.count, self.total, self.in_order = 0, 0.0, True

    def start(self, Y: np.ndarray, w: np.ndarray | None = None) -> None:
        """Begin an epoch over targets ``Y`` and sample weights ``w``, in the order the epoch
        visits them (or indexes them)."""
        self.Y, self.w = Y, w
        self.count = 0
        self.total = 0.0  # per-step values, when not deferred, and weight decay
        self.weight = 0.0  # the samples' total weight (their count without weights)
        self.penalties, self.steps = 0.0, 0
        self.in_order = True  # rows so far were 0, 1, 2, ... (slices in order): none stored

    def record(self, z: Any, a: Any, rows: Any, Y_batch: np.ndarray, penalty: float,
               w_batch: np.ndarray | None = None) -> bool:
        """One step's output (before its update), the data rows it came from, its penalty and
        its sample weights. Returns False when the loss is evaluated here (not deferred) and
        has become non-finite: training stops at that step."""
        n = z.shape[0]
        c = self.count
        if self.rows is None:
            if w_batch is None:
                self.total += self.loss.value(z, a, Y_batch) * n
            else:
                self.total += float(np.dot(self.loss.sample_values(z, a, Y_batch), w_batch))
        else:
            self._store(z, a, rows, c, n)
        if w_batch is None:  # the total weight is the count: nothing more to track
            self.total += penalty * n
        else:
            batch_weight = float(w_batch.sum())
            self.total += penalty * batch_weight
            self.weight += batch_weight
            self.penalties += penalty
            self.steps += 1
        self.count = c + n
        return self.rows is not None or math.isfinite(self.total)

    def _store(self, z: Any, a: Any, rows: Any, c: int, n: int) -> None:
        """Keep the step's outputs (and where they came from) for :meth:`mean`."""
        assert self.rows is not None
        if self.z is not None:
            self.z[c:c + n] = z
        if self.a is not None:
            self.a[c:c + n] = a
        if not (isinstance(rows, slice) and rows.start == c and self.in_order):
            if self.in_order:  # the rows so far were 0..c-1
                self.rows[:c] = np.arange(c)
                self.in_order = False
            self.rows[c:c + n] = np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows

    def mean(self, chunk: int = 4096) -> float:
        """The epoch's loss (weighted by the sample weights); NaN if no step was recorded."""
        if self.count == 0:
            return math.nan
        total, weight = self.sums(chunk)
        if weight == 0:  # every sample seen had weight 0: only the decay term is left
            return self.penalties / self.steps
        return total / weight

    def sums(self, chunk: int = 4096) -> tuple[float, float]:
        """The epoch's weighted loss sum and weight sum (the mean's numerator and denominator:
        data-parallel ranks add theirs up)."""
        weight = float(self.count if self.w is None else self.weight)
        total = self.total
        if self.rows is not None:
            for start in range(0, self.count, chunk):
                stop = min(start + chunk, self.count)
                z = None if self.z is None else self.z[start:stop]
                a = None if self.a is None else self.a[start:stop]
                Y_part = self._in_epoch_order(self.Y, start, stop)
                if self.w is None:
                    total += self.loss.value(z, a, Y_part) * (stop - start)
                else:
                    w_part = self._in_epoch_order(self.w, start, stop)
                    total += float(np.dot(self.loss.sample_values(z, a, Y_part), w_part))
        return total, weight

    def _in_epoch_order(self, array: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Rows of ``array`` for the recorded samples start..stop-1."""
        if self.in_order:
            return array[start:stop]
        assert self.rows is not None
        return array.take(self.rows[start:stop], axis=0)
