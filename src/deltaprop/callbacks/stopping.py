"""Callbacks that end a run: early stopping (with the best weights restored), convergence of the
gradient norm, and a time budget."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from deltaprop._validation import check_flag, check_positive
from deltaprop.callbacks.base import Callback, RunView


class EarlyStopping(Callback):
    """Stop when the monitored loss has not improved by ``min_delta`` for ``patience`` epochs,
    and restore the parameters of the best epoch.

    Parameters
    ----------
    patience : int
        Epochs without improvement before stopping.
    min_delta : float
        Smallest decrease that counts as an improvement.
    monitor : {"val_loss", "loss"}
        ``val_loss`` needs validation data.
    restore_best : bool
        Put back the parameters (and BatchNorm statistics) of the best epoch at the end.
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.0, monitor: str = "val_loss",
                 restore_best: bool = True) -> None:
        self.patience = check_positive("patience", patience, integer=True)
        self.min_delta = check_positive("min_delta", min_delta, allow_zero=True)
        if not isinstance(monitor, str) or monitor not in ("val_loss", "loss"):
            raise ValueError(f"monitor must be 'val_loss' or 'loss', got {monitor!r}")
        self.monitor, self.restore_best = monitor, check_flag("restore_best", restore_best)

    def on_train_begin(self, trainer: RunView) -> None:
        if self.monitor == "val_loss" and not trainer.has_validation:
            raise ValueError("early stopping on val_loss needs validation_data or validation_fraction")
        self.best = np.inf
        self.best_epoch = 0
        self.wait = 0
        self.best_state: Any = None

    def on_epoch_end(self, trainer: RunView, epoch: int, logs: dict[str, Any]) -> None:
        current = logs[self.monitor]
        if current < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best:
                self.best_state = trainer.snapshot()
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.stop_reason = "early_stopping"

    def state_dict(self) -> dict[str, Any]:
        """The best loss and epoch, the epochs waited, and the best epoch's parameters (for
        checkpoints)."""
        theta, stats = self.best_state if self.best_state is not None else (None, [])
        return {"best": float(self.best), "best_epoch": self.best_epoch, "wait": self.wait,
                "best_theta": theta, "best_stats": [list(pair) for pair in stats]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`state_dict`."""
        self.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        self.wait = int(state["wait"])
        theta, stats = state["best_theta"], state["best_stats"]
        self.best_state = None if theta is None else (theta, [tuple(pair) for pair in stats])

    def on_train_end(self, trainer: RunView) -> None:
        trainer.history.best_epoch = self.best_epoch
        if self.restore_best and self.best_state is not None:
            trainer.restore(self.best_state)
            trainer.history.final_loss = trainer.history.loss[self.best_epoch - 1]
            trainer.history.kept_epoch = self.best_epoch


class GradientTolerance(Callback):
    """Stop when the epoch's mean gradient norm falls below ``tol``: the notes' "repeat till
    convergence" (a stationary point has gradient zero)."""

    def __init__(self, tol: float) -> None:
        self.tol = check_positive("tol", tol)

    def on_epoch_end(self, trainer: RunView, epoch: int, logs: dict[str, Any]) -> None:
        if logs["grad_norm"] < self.tol:
            trainer.stop_reason = "converged"


class TimeLimit(Callback):
    """Stop after ``seconds`` of training, checked after every step; with restarts the budget
    covers all runs of one ``fit``: it starts with run 0, or, when ``n_jobs`` hands the runs to
    other processes, just before, as a wall-clock deadline that every worker reads."""

    needs_every_step = False  # a clock reading between chunks of steps will do (compiled engine)

    def __init__(self, seconds: float) -> None:
        self.seconds = check_positive("time_limit", seconds)
        self.deadline: float | None = None  # time.perf_counter() in this process
        self.wall_deadline: float | None = None  # time.time(), for other processes

    def start(self) -> None:
        """Start the budget now."""
        self.deadline = time.perf_counter() + self.seconds
        self.wall_deadline = time.time() + self.seconds

    def on_train_begin(self, trainer: RunView) -> None:
        if trainer.run_index == 0 and not trainer.in_worker:
            self.start()

    def on_batch_end(self, trainer: RunView, step: int) -> None:
        if trainer.in_worker:  # perf_counter() is not comparable between processes
            assert self.wall_deadline is not None
            out_of_time = time.time() > self.wall_deadline
        else:
            assert self.deadline is not None
            out_of_time = time.perf_counter() > self.deadline
        if out_of_time:
            trainer.stop_reason = "time_limit"
