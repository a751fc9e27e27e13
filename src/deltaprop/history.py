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
