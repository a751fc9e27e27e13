"""scikit-learn's training rules that the core does not have, as a schedule and a callback."""

from __future__ import annotations

import math
from typing import Any

from deltaprop.callbacks.base import Callback
from deltaprop.optim import Schedule

MIN_LR = 1e-6  # "adaptive" stops below this, as scikit-learn does

class SampleInverseScaling(Schedule):
    """scikit-learn's ``invscaling``: eta_0 / (t + 1)^power_t, t the samples seen before the
    current epoch (our :class:`~deltaprop.InverseScaling` counts updates instead)."""

    name = "sample_invscaling"

    def __init__(self, power_t: float, n_samples: int) -> None:
        self.power_t, self.n_samples, self.samples_before = power_t, n_samples, 0

    def __call__(self, lr0: float, step: int, epoch: int) -> float:
        return lr0 / (self.samples_before + epoch * self.n_samples + 1) ** self.power_t


class NoImprovementRule(Callback):
    """scikit-learn's stopping rule. After each epoch the count of epochs without an improvement
    of ``tol`` grows (or resets to 0), and the best value moves to any lower one; once the count
    exceeds ``patience`` (``inf``: never), training stops, or with ``adaptive``
    (``learning_rate="adaptive"``) eta is divided by 5 and the count restarts, stopping only
    when eta is already <= 1e-6. ``monitor`` is ``"loss"`` (lower is better) or
    ``"val_metric"``, the validation score (higher is better: the rule runs on its negative),
    whose best epoch's parameters are restored at the end. With ``verbose`` each decision is
    printed to stdout in scikit-learn's words."""

    def __init__(self, patience: float, tol: float, monitor: str, adaptive: bool,
                 verbose: bool = False, scale: float = 1.0) -> None:
        self.patience, self.tol, self.monitor, self.adaptive = patience, tol, monitor, adaptive
        self.verbose, self.scale = verbose, scale  # scale: the loss as scikit-learn reports it

    def on_train_begin(self, trainer: Any) -> None:
        self.best, self.best_epoch, self.wait, self.best_state = math.inf, 0, 0, None

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        current = -logs["val_metric"] if self.monitor == "val_metric" else logs[self.monitor] * self.scale
        self.wait = self.wait + 1 if current > self.best - self.tol else 0
        if current < self.best:
            self.best, self.best_epoch = current, epoch
            if self.monitor == "val_metric":
                self.best_state = trainer.snapshot()
        if self.wait > self.patience:
            if self.adaptive and trainer.optimizer.lr > MIN_LR:
                trainer.optimizer.lr /= 5.0
                self.wait = 0
                self._say(f" Setting learning rate to {trainer.optimizer.lr:f}")
            else:
                trainer.stop_reason = "early_stopping"
                self._say(" Learning rate too small. Stopping." if self.adaptive else " Stopping.")

    def _say(self, outcome: str) -> None:
        """scikit-learn's message for the rule's decision (its optimizers' trigger_stopping)."""
        if self.verbose:
            watched = "Validation score" if self.monitor == "val_metric" else "Training loss"
            print(f"{watched} did not improve more than tol={self.tol:f} for "
                  f"{self.patience} consecutive epochs.{outcome}")

    def on_train_end(self, trainer: Any) -> None:
        if self.best_state is not None:
            trainer.restore(self.best_state)
            trainer.history.best_epoch = self.best_epoch
            trainer.history.kept_epoch = self.best_epoch
            trainer.history.final_loss = trainer.history.loss[self.best_epoch - 1]


class IterationPrinter(Callback):
    """``verbose=True`` as scikit-learn prints it, to stdout: ``Iteration 3, loss = 0.41275533``
    after each epoch (counted from 1 in each call, as its ``n_iter_``; the loss times ``scale``,
    as scikit-learn reports it), and ``Validation score: 0.950000`` with a validation split."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        print(f"Iteration {epoch}, loss = {logs['loss'] * self.scale:.8f}", flush=True)
        if "val_metric" in logs:
            print(f"Validation score: {logs['val_metric']:f}", flush=True)
