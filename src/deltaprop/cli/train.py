"""``deltaprop train`` and ``deltaprop resume``: split, scale, build the MLP from the options,
fit (or continue from a checkpoint), score the held-out part."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import deltaprop as dp
from deltaprop.callbacks.checkpoint import Checkpoint
from deltaprop.callbacks.progress import progress_callback
from deltaprop.cli import budget
from deltaprop.cli.data import StreamedData, TrainingData
from deltaprop.cli.doctor import train_diagnosis
from deltaprop.cli.resume_options import train_options
from deltaprop.cli.stream import check_stream_memory, check_streamed, fit_streamed
from deltaprop.data.labels import LabelEncoder
from deltaprop.data.preprocessing import Preprocessing, Standardizer
from deltaprop.files.model import Model
from deltaprop.training import parallel
from deltaprop.training.options import FitOptions
from deltaprop.tuning import options
from deltaprop.tuning.budget import check_network_fits
from deltaprop.tuning.options import FLAGS, PARSERS, REGRESSION_ONLY, check_option, hidden_sizes
from deltaprop.tuning.trial import encode_targets, fit_options_for, fitted_targets, held_out_rows

# Each option's own rule (the library's, which also check every value of a sweep spec), with
# the rules of train's options that a sweep does not search on top. A null value passes.
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    **options.RULES,
    "restarts": (lambda v: v >= 1, "must be at least 1"),
    "n_jobs": (lambda v: v != 0, "must not be 0 (-1: every core)"),
    "checkpoint_every": (lambda v: v >= 1, "must be at least 1 epoch"),
}


@dataclass
class Prepared:
    """A run ready to fit: the model around the network, the arrays, the rows, fit's options
    and the held-out rows watched as validation data (if any)."""

    model: Model
    X: np.ndarray
    Y: np.ndarray
    train: np.ndarray
    test: np.ndarray
    options: FitOptions
    validation_data: tuple[np.ndarray, np.ndarray] | None


def prepare(data: TrainingData, args: argparse.Namespace) -> Prepared:
    """Everything ``fit`` needs, derived from the data and the options alone (so that a resumed
    run rebuilds the very same arrays)."""
    check_options(args)
    loss = options.task_loss(args.loss, data.task, data.classes, FLAGS)
    fit = fit_options(args, loss)  # a bad value is refused here, before anything is built
    train, test = split_rows(len(data.X), args.test_fraction, args.seed)
    sizes = [data.X.shape[1], *hidden_sizes(args.hidden), _n_outputs(data, loss)]
    _check_memory(sizes, len(train), fit, args)
    net = _network(sizes, args)
    preprocessing = Preprocessing(
        data.task, data.feature_names, data.categories, Standardizer.fit(data.X[train]),
        None if data.classes is None else LabelEncoder(data.classes), data.target_names)
    model = Model(net, preprocessing, summary={"data": data.name})
    Y = fitted_targets(preprocessing, data.y, train, loss)
    X = preprocessing.inputs(data.X)
    watched = None
    if not args.val_fraction and len(test) and args.restarts == 1:
        # Watched for the curves, never trained on and never used to choose (no early stopping
        # or restart selection on it: it stays an unbiased held-out score).
        watched = (X[test], Y[test])
    return Prepared(model, X, Y, train, test, fit, watched)


def _network(sizes: list[int], args: argparse.Namespace) -> Any:
    return dp.MLP(sizes, activation=args.activation, init=args.init, seed=args.seed,
                  batch_norm=args.batch_norm, dropout=args.dropout)


def fit_options(args: argparse.Namespace, loss: str) -> FitOptions:
    """``fit``'s options from the command line's (checked by FitOptions, with fit's messages)."""
    checkpointed = args.checkpoint_every is not None
    return fit_options_for(
        vars(args), loss, restarts=args.restarts, n_jobs=args.n_jobs,
        checkpoint=checkpoint_path(args) if checkpointed else None,
        checkpoint_every=args.checkpoint_every if checkpointed else 1,
        engine=getattr(args, "engine", "auto"))


def train_model(data: TrainingData, args: argparse.Namespace) -> tuple[Model, dict[str, Any]]:
    """Train on ``data`` as the options say; return the model and the report of the run.
    Streamed data (a folder, a file too large for memory, or ``--stream``: whatever
    :func:`~deltaprop.cli.data.training_data` streams) train by :func:`train_streamed`."""
    if isinstance(data, StreamedData):
        return train_streamed(data, args)
    run = prepare(data, args)
    fit = _with_checkpoint_metadata(run, args)
    comm = parallel.launched_comm()  # under mpiexec -n K: data-parallel over the K ranks
    if comm is not None and comm.Get_rank() != 0:
        args.quiet, args.out, args.history = True, None, None  # rank 0 prints and writes
    start = time.perf_counter()
    run.model.net.fit(run.X[run.train], run.Y[run.train], validation_data=run.validation_data,
                      callbacks=_progress(args), comm=comm, **fit.keywords())
    model, report = _finish(run, data, args, time.perf_counter() - start)
    report["ranks"] = 1 if comm is None else comm.Get_size()
    report["silent"] = comm is not None and comm.Get_rank() != 0
    return model, report


def train_streamed(data: StreamedData, args: argparse.Namespace) -> tuple[Model, dict[str, Any]]:
    """Train on a stream (:mod:`deltaprop.cli.stream`): the network's widths, the classes and
    the scaling from the stream's pass, then the streamed fit."""
    check_options(args)
    check_streamed(args)
    loss = options.task_loss(args.loss, data.task, data.classes, FLAGS)
    fit = fit_options(args, loss)
    sizes = [len(data.feature_names), *hidden_sizes(args.hidden), _n_outputs(data, loss)]
    check_stream_memory(args, sizes[0])
    _check_memory(sizes, args.buffer_rows, fit, args)
    preprocessing = data.preprocessing(scale_targets=loss not in REGRESSION_ONLY)
    model = Model(_network(sizes, args), preprocessing, summary={"data": data.name})
    start = time.perf_counter()
    _, (X, Y) = fit_streamed(model, data.stream, data.stats.n_rows, fit, args,
                             lambda y: encode_targets(preprocessing, y, loss))
    seconds = time.perf_counter() - start
    n_rows = data.stats.n_rows
    model.summary.update({"held_out": None, "n_train": n_rows, "n_test": 0,
                          "seconds": round(seconds, 3), "streamed": True})
    report = _report(model, data, loss, seconds, (n_rows, 0, None), train_diagnosis(model.net, X, Y))
    report["streamed"] = {"rows": n_rows, "chunk_rows": args.chunk_rows,
                          "buffer_rows": args.buffer_rows}
    return model, report


def _with_checkpoint_metadata(run: Prepared, args: argparse.Namespace) -> FitOptions:
    """The options, their checkpoint (if any) storing what makes it a usable model too
    (deltaprop.load, the commands) and what deltaprop resume needs to rebuild the run."""
    if run.options.checkpoint is None:
        return run.options
    metadata = {"preprocessing": run.model.preprocessing.to_config(), "summary": run.model.summary,
                "train_options": train_options(args)}
    return run.options.replace(checkpoint=Checkpoint(checkpoint_path(args),
                                                     run.options.checkpoint_every, metadata))


def resume_model(path: str, data: TrainingData,
                 args: argparse.Namespace) -> tuple[Model, dict[str, Any]]:
    """Continue the run checkpointed at ``path`` (whose options ``args`` are) to its end."""
    run = prepare(data, args)
    start = time.perf_counter()
    net, _ = dp.resume(path, run.X[run.train], run.Y[run.train], callbacks=_progress(args),
                       epochs=args.resume_epochs, validation_data=run.validation_data)
    run.model.net = net  # type: ignore[assignment]
    return _finish(run, data, args, time.perf_counter() - start)


def _finish(run: Prepared, data: TrainingData, args: argparse.Namespace,
            seconds: float) -> tuple[Model, dict[str, Any]]:
    model = run.model
    with np.errstate(all="ignore"):  # a diverged model is reported, not warned about
        held_out = model.scores(data.rows.take(run.test), data.y[run.test]) if len(run.test) else None
    model.summary.update({"held_out": held_out, "n_train": int(len(run.train)),
                          "n_test": int(len(run.test)), "seconds": round(seconds, 3)})
    doctor = train_diagnosis(model.net, run.X[run.train], run.Y[run.train])
    return model, _report(model, data, str(run.options.loss), seconds,
                          (int(len(run.train)), int(len(run.test)), held_out), doctor)


def _report(model: Model, data: TrainingData, loss: str, seconds: float,
            split: tuple[int, int, dict[str, float] | None], doctor: dict[str, Any]) -> dict[str, Any]:
    """The report of a run: ``split`` its training and held-out rows and held-out scores."""
    history = model.net.history
    n_train, n_test, held_out = split
    return {"command": "train", "data": data.name, "task": data.task, "n_train": n_train,
            "n_test": n_test, "parameters": model.net.n_parameters, "loss": loss,
            "epochs": history.n_epochs, "seconds": seconds, "stop_reason": history.stop_reason,
            "stop_message": history.stop_message, "final_loss": history.final_loss,
            "metric": model.metric_name, "held_out": held_out, "engine": history.engine,
            "engine_reason": history.engine_reason, "doctor": doctor}


def checkpoint_path(args: argparse.Namespace) -> str:
    """``--checkpoint``, or the model file's name with ``.ckpt`` added."""
    if args.checkpoint:
        return str(args.checkpoint)
    if not args.out:  # --no-save: no model file to name it after
        raise ValueError("--checkpoint-every with --no-save needs --checkpoint FILE")
    return f"{args.out}.ckpt"


def output_files(args: argparse.Namespace) -> dict[str, str | None]:
    """The files a run writes, by option (the checkpoint's default name included)."""
    checkpoint = checkpoint_path(args) if args.checkpoint_every is not None else args.checkpoint
    model = "the default model file" if getattr(args, "default_taken", None) else "--out"
    return {model: args.out, "--history": args.history, "--checkpoint": checkpoint}


def check_options(args: argparse.Namespace) -> None:
    """Refuse bad option values with messages that name the flag (before :func:`fit_options`
    builds fit's options, which refuse any other bad value with fit's own message): each
    option by its own rule, then the rules between options."""
    for name in (*RULES, *PARSERS):
        check_option(name, getattr(args, name), rules=RULES)
    check_train_combination(args)


def check_train_combination(args: argparse.Namespace) -> None:
    """Refuse options that do not go together (each one fine on its own): the library's rules
    between options, and checkpoints, which cover one run, not restarts."""
    options.check_combination(vars(args), FLAGS)
    if args.checkpoint_every is not None and args.restarts != 1:
        raise ValueError("--checkpoint-every does not cover --restarts (each run would need its "
                         "own file)")


def _check_memory(sizes: list[int], n_train: int, fit: FitOptions,
                  args: argparse.Namespace) -> None:
    """Refuse a network too large for this machine before building it (the library's check,
    :func:`~deltaprop.tuning.budget.check_network_fits`, against cli.budget's memory), for
    each restart run at once."""
    at_once = 1 if not args.n_jobs else min(args.restarts, args.n_jobs if args.n_jobs > 0
                                             else os.cpu_count() or 1)
    check_network_fits(sizes, n_train, fit.batch_size, args.hidden, at_once=at_once,
                       wording=FLAGS, available=budget.physical_memory())


def _n_outputs(data: TrainingData, loss: str) -> int:
    """Outputs of the network: a column per target or class; one sigmoid for two classes under
    binary cross-entropy (as the estimators do)."""
    if data.classes is None:
        return data.n_targets
    return 1 if loss == "binary_cross_entropy" else len(data.classes)


def _progress(args: argparse.Namespace) -> list[Any]:
    return [] if args.quiet else [progress_callback(args.epochs)]


def split_rows(n: int, fraction: float | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random training and held-out rows (:func:`~deltaprop.tuning.trial.held_out_rows`:
    ``fraction`` of them held out, None for train's default), worded for the command line."""
    return held_out_rows(n, fraction, seed, FLAGS)
