"""``deltaprop train``: split, scale, build the MLP from the options, fit, score the held-out part."""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

import numpy as np

import deltaprop as dp
from deltaprop.callbacks import Callback
from deltaprop.cli.data import TrainingData
from deltaprop.cli.model import TabularModel
from deltaprop.progress import progress_callback

_DEFAULT_LOSS = {"classify": "cross_entropy", "regress": "squared_error"}


def train_model(data: TrainingData, args: argparse.Namespace) -> tuple[TabularModel, dict[str, Any]]:
    """Train on ``data`` as the options say; return the model and the report of the run."""
    hidden = _hidden_sizes(args.hidden)
    train, test = _split(len(data.X), args.test_fraction, args.seed)
    x_mean, x_scale = TabularModel.scaling(data.X[train])
    n_outputs = data.Y.shape[1] if data.classes is None else len(data.classes)
    net = dp.MLP([data.X.shape[1], *hidden, n_outputs], activation=args.activation,
                 init=args.init, seed=args.seed, batch_norm=args.batch_norm, dropout=args.dropout)
    model = TabularModel(net, data.task, data.feature_names, data.target_names, x_mean, x_scale,
                         data.classes, data.categories, {"data": data.name})
    Y, y_mean, y_scale = _targets(data, model, train)
    X = model.inputs(data.X)
    loss = args.loss or _DEFAULT_LOSS[data.task]
    optimizer = (dp.Adam(lr=args.lr) if args.optimizer == "adam"
                 else dp.SGD(lr=args.lr, momentum=args.momentum, nesterov=False))
    callbacks: list[Any] = [] if args.quiet else [progress_callback(args.epochs)]
    if args.checkpoint_every:
        if not args.out:
            raise ValueError("--checkpoint-every needs --out (the file to write)")
        callbacks.append(Checkpoint(model, args.out, args.checkpoint_every, y_mean, y_scale))
    validation: dict[str, Any] = {}
    if args.val_fraction:
        validation["validation_fraction"] = args.val_fraction
    elif len(test):  # the held-out part is watched, never trained on (no early stopping on it)
        validation["validation_data"] = (X[test], Y[test])
    if args.early_stopping is not None and not args.val_fraction:
        raise ValueError("--early-stopping needs --val-fraction (a validation split to watch)")
    start = time.perf_counter()
    history = net.fit(X[train], Y[train], loss=loss, optimizer=optimizer, epochs=args.epochs,
                      batch_size=_batch_size(args.batch_size), l2=args.l2, restarts=args.restarts,
                      n_jobs=args.n_jobs, early_stopping=args.early_stopping, callbacks=callbacks,
                      **validation)
    seconds = time.perf_counter() - start
    if y_mean is not None:
        model.fold_target_scaling(y_mean, y_scale)
    held_out = model.score(data.X[test], data.y[test]) if len(test) else None
    model.summary.update({"held_out": held_out, "n_train": int(len(train)), "n_test": int(len(test)),
                          "seconds": round(seconds, 3)})
    report = {"command": "train", "data": data.name, "task": data.task, "n_train": int(len(train)),
              "n_test": int(len(test)), "parameters": net.n_parameters, "loss": net.loss.name
              if net.loss else loss, "epochs": history.n_epochs, "seconds": seconds,
              "stop_reason": history.stop_reason, "final_loss": history.final_loss,
              "metric": model.metric_name, "held_out": held_out}
    return model, report


def _targets(data: TrainingData, model: TabularModel,
             train: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Class indices, or regression targets standardized with the training part's statistics
    (returned so the output layer can be rescaled afterwards)."""
    if data.task == "classify":
        return model.encode(data.y), None, np.ones(1)
    y_mean, y_scale = TabularModel.scaling(data.Y[train])
    return (data.Y - y_mean) / y_scale, y_mean, y_scale


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random training and held-out rows; ``fraction`` of them held out."""
    if not 0 <= fraction < 1:
        raise ValueError(f"--test-fraction must lie in [0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(fraction * n))
    if n - n_test < 2:
        raise ValueError(f"{n} samples leave {n - n_test} for training; lower --test-fraction")
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise ValueError(f"--hidden takes widths like 128,64; got {text!r}") from None
    if any(size <= 0 for size in sizes):
        raise ValueError(f"--hidden widths must be positive; got {text!r}")
    return sizes


def _batch_size(text: str) -> int | str:
    if text == "full":
        return "full"
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--batch-size takes a positive integer or 'full'; got {text!r}") from None


class Checkpoint(Callback):
    """Write the model file every ``every`` epochs, atomically (a crash mid-write leaves the
    previous checkpoint whole). Regression outputs are rescaled to the targets' units in the
    written copy, as in the final model."""

    def __init__(self, model: TabularModel, path: str, every: int, y_mean: np.ndarray | None,
                 y_scale: np.ndarray) -> None:
        if every <= 0:
            raise ValueError(f"--checkpoint-every must be a positive number of epochs; got {every}")
        self.model, self.path, self.every = model, path, every
        self.y_mean, self.y_scale = y_mean, y_scale

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        if epoch % self.every or trainer.in_worker:
            return
        snapshot = copy.copy(self.model)
        snapshot.net = trainer.net.copy()
        snapshot.summary = {**self.model.summary, "checkpoint_epoch": epoch}
        if self.y_mean is not None:
            snapshot.fold_target_scaling(self.y_mean, self.y_scale)
        snapshot.save(self.path)
