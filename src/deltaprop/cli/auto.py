"""``deltaprop train --auto``: the network and its training chosen by measurement.

:func:`deltaprop.tuning.auto_fit` standardizes the inputs, finds the learning rate, holds out a
validation split for early stopping, climbs a ladder of widths and depths, restarts the chosen
one and averages the runs. The options it chooses itself may not be given with ``--auto``
(each is named); the data, the held-out split (``--test-fraction``), the seed and the outputs
stay the command's.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from deltaprop.cli.data import TrainingData
from deltaprop.cli.parser import build_parser
from deltaprop.cli.train import split_rows
from deltaprop.files.model import Model
from deltaprop.tuning import auto_fit

# train's options that --auto chooses itself (given with --auto: refused, named)
CHOSEN = ("hidden", "activation", "loss", "optimizer", "lr", "momentum", "epochs", "batch_size",
          "l2", "batch_norm", "dropout", "init", "restarts", "n_jobs", "val_fraction",
          "early_stopping", "checkpoint_every", "checkpoint", "history", "engine")


def check_auto(args: argparse.Namespace) -> None:
    """Refuse an option that ``--auto`` chooses itself, given with another value than its
    default; and a budget that is not a positive number of seconds."""
    defaults = build_parser().parse_args(["train"])
    for name in CHOSEN:
        if getattr(args, name) != getattr(defaults, name):
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"--auto chooses {flag} itself; drop {flag} (or --auto)")
    if not args.time_budget > 0 or args.time_budget == float("inf"):
        raise ValueError(f"--time-budget must be a positive number of seconds, got {args.time_budget}")


def auto_train(data: TrainingData, args: argparse.Namespace) -> tuple[Model, dict[str, Any]]:
    """Train with :func:`~deltaprop.tuning.auto_fit` on the training rows; return the model
    and the report ``train`` prints (its choices and why, under ``auto``)."""
    if data.task == "regress" and data.Y.shape[1] > 1:
        raise ValueError("--auto takes one target column; for several, train without --auto")
    train, test = split_rows(len(data.X), args.test_fraction, args.seed)
    start = time.perf_counter()
    model, chosen = auto_fit(data.X[train], data.y[train], task=data.task,
                             time_budget=args.time_budget, seed=args.seed,
                             feature_names=data.feature_names, categories=data.categories,
                             target_names=data.target_names)
    seconds = time.perf_counter() - start
    if not args.quiet:
        for line in str(chosen).splitlines():
            print(f"auto: {line}", file=sys.stderr)
    held_out = model.scores(data.rows.take(test), data.y[test]) if len(test) else None
    model.summary.update({"data": data.name, "held_out": held_out, "n_train": int(len(train)),
                          "n_test": int(len(test)), "seconds": round(seconds, 3)})
    epochs = chosen.chosen.best_epoch if chosen.chosen is not None else 0
    report = {"command": "train", "data": data.name, "task": data.task,
              "n_train": int(len(train)), "n_test": int(len(test)),
              "parameters": model.net.n_parameters,
              "loss": None if model.net.loss is None else model.net.loss.name,
              "epochs": int(epochs or 0), "seconds": seconds, "stop_reason": "auto",
              "stop_message": f"chosen by --auto in {seconds:.1f}s (see auto)",
              "metric": model.metric_name, "held_out": held_out, "engine": "numpy",
              "auto": chosen.to_dict()}
    return model, report
