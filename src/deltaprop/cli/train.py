"""``deltaprop train`` and ``deltaprop resume``: split, scale, build the MLP from the options,
fit (or continue from a checkpoint), score the held-out part."""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import deltaprop as dp
from deltaprop.activations import get_activation
from deltaprop.callbacks.checkpoint import Checkpoint
from deltaprop.callbacks.progress import progress_callback
from deltaprop.cli.budget import check_fits, network_bytes, parameter_count
from deltaprop.cli.data import REGRESSION_ONLY, StreamedData, TrainingData
from deltaprop.cli.doctor import train_diagnosis
from deltaprop.cli.resume_options import train_options
from deltaprop.cli.stream import check_stream_memory, check_streamed, fit_streamed
from deltaprop.data.labels import LabelEncoder
from deltaprop.data.preprocessing import Preprocessing, Standardizer
from deltaprop.evaluation import PREDICT_CHUNK
from deltaprop.files.codec import MAX_LAYERS
from deltaprop.files.model import Model
from deltaprop.initializers import get_initializer
from deltaprop.losses import get_loss
from deltaprop.targets import one_hot
from deltaprop.training import parallel
from deltaprop.training.options import FitOptions

_DEFAULT_LOSS = {"classify": "cross_entropy", "regress": "squared_error"}
_CLASSIFYING = ("cross_entropy", "binary_cross_entropy")  # losses' canonical names
MLP_ITEMSIZE = np.dtype(np.float32).itemsize  # dp.MLP's default dtype, the one train uses
# Each hidden layer is up to four layers (dense, BatchNorm, activation, dropout): as many as a
# model file holds.
MAX_HIDDEN_LAYERS = (MAX_LAYERS - 2) // 4
TINY = 20  # datasets smaller than this get no held-out part by default


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
    loss = task_loss(args.loss, data)
    options = fit_options(args, loss)  # a bad value is refused here, before anything is built
    fraction = args.test_fraction if args.test_fraction is not None else (
        0.0 if len(data.X) < TINY else 0.25)
    train, test = split_rows(len(data.X), fraction, args.seed)
    sizes = [data.X.shape[1], *_hidden_sizes(args.hidden), _n_outputs(data, loss)]
    _check_memory(sizes, len(train), options, args)
    net = _network(sizes, args)
    preprocessing = Preprocessing(
        data.task, data.feature_names, data.categories, Standardizer.fit(data.X[train]),
        None if data.classes is None else LabelEncoder(data.classes), data.target_names)
    model = Model(net, preprocessing, summary={"data": data.name})
    Y = _targets(data, preprocessing, train, loss)
    X = preprocessing.inputs(data.X)
    watched = None
    if not args.val_fraction and len(test) and args.restarts == 1:
        # Watched for the curves, never trained on and never used to choose (no early stopping
        # or restart selection on it: it stays an unbiased held-out score).
        watched = (X[test], Y[test])
    return Prepared(model, X, Y, train, test, options, watched)


def _network(sizes: list[int], args: argparse.Namespace) -> Any:
    return dp.MLP(sizes, activation=args.activation, init=args.init, seed=args.seed,
                  batch_norm=args.batch_norm, dropout=args.dropout)


def fit_options(args: argparse.Namespace, loss: str) -> FitOptions:
    """``fit``'s options from the command line's (checked by FitOptions, with fit's messages)."""
    optimizer = (dp.Adam(lr=args.lr) if args.optimizer == "adam"
                 else dp.SGD(lr=args.lr, momentum=args.momentum, nesterov=False))
    checkpointed = args.checkpoint_every is not None
    return FitOptions(
        loss=loss, optimizer=optimizer, epochs=args.epochs, batch_size=_batch_size(args.batch_size),
        l2=args.l2, validation_fraction=args.val_fraction, early_stopping=args.early_stopping,
        restarts=args.restarts, n_jobs=args.n_jobs,
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
    options = _with_checkpoint_metadata(run, args)
    comm = parallel.launched_comm()  # under mpiexec -n K: data-parallel over the K ranks
    if comm is not None and comm.Get_rank() != 0:
        args.quiet, args.out, args.history = True, None, None  # rank 0 prints and writes
    start = time.perf_counter()
    run.model.net.fit(run.X[run.train], run.Y[run.train], validation_data=run.validation_data,
                      callbacks=_progress(args), comm=comm, **options.keywords())
    model, report = _finish(run, data, args, time.perf_counter() - start)
    report["ranks"] = 1 if comm is None else comm.Get_size()
    report["silent"] = comm is not None and comm.Get_rank() != 0
    return model, report


def train_streamed(data: StreamedData, args: argparse.Namespace) -> tuple[Model, dict[str, Any]]:
    """Train on a stream (:mod:`deltaprop.cli.stream`): the network's widths, the classes and
    the scaling from the stream's pass, then the streamed fit."""
    check_options(args)
    check_streamed(args)
    loss = task_loss(args.loss, data)
    options = fit_options(args, loss)
    sizes = [len(data.feature_names), *_hidden_sizes(args.hidden), _n_outputs(data, loss)]
    check_stream_memory(args, sizes[0])
    _check_memory(sizes, args.buffer_rows, options, args)
    preprocessing = data.preprocessing(scale_targets=loss not in REGRESSION_ONLY)
    model = Model(_network(sizes, args), preprocessing, summary={"data": data.name})
    start = time.perf_counter()
    _, (X, Y) = fit_streamed(model, data.stream, data.stats.n_rows, options, args,
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


# Each option's own rule, whatever the other options are: a test of its value and what the
# value must be. The one place these rules live: train's flags and every value of a sweep spec
# (cli.sweep) are checked by them. A null value (an option left out) passes.
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "epochs": (lambda v: v >= 1, "must be at least 1"),
    "lr": (lambda v: v > 0, "must be positive"),
    "momentum": (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
    "l2": (lambda v: v >= 0, "must be >= 0"),
    "dropout": (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
    "restarts": (lambda v: v >= 1, "must be at least 1"),
    "n_jobs": (lambda v: v != 0, "must not be 0 (-1: every core)"),
    "seed": (lambda v: v >= 0, "must be >= 0"),
    "test_fraction": (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
    "val_fraction": (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
    "early_stopping": (lambda v: v >= 1, "must be at least 1 epoch"),
    "checkpoint_every": (lambda v: v >= 1, "must be at least 1 epoch"),
}


def check_option(name: str, value: Any, flag: str | None = None) -> None:
    """Refuse a bad value of one option, the message naming it as ``flag`` (default: the
    command line's ``--name``): its rule, its parse (widths, batch size), its name lookup
    (activation, initializer, loss)."""
    flag = flag or "--" + name.replace("_", "-")
    if value is None:
        return
    test, must = RULES.get(name, (lambda v: True, ""))
    if isinstance(value, float) and not math.isfinite(value):  # inf passes every bound
        raise ValueError(f"{flag} must be a finite number, got {value}")
    if not test(value):
        raise ValueError(f"{flag} {must}, got {value}")
    parse = _PARSERS.get(name)
    if parse is None:
        return
    try:
        parse(value)
    except (ValueError, TypeError) as error:  # its message, naming the option as asked
        message, default = str(error), "--" + name.replace("_", "-")
        raise ValueError(flag + message[len(default):] if message.startswith(default)
                         else f"{flag}: {message}") from None


def check_options(args: argparse.Namespace) -> None:
    """Refuse bad option values with messages that name the flag (before :func:`fit_options`
    builds fit's options, which refuse any other bad value with fit's own message): each
    option by its own rule, then the rules between options."""
    for name in (*RULES, *_PARSERS):
        check_option(name, getattr(args, name))
    check_combination(args)


def check_combination(args: argparse.Namespace) -> None:
    """Refuse options that do not go together (each one fine on its own)."""
    checks = [
        (args.optimizer == "sgd" or args.momentum == 0, "--momentum is for --optimizer sgd"),
        (args.early_stopping is None or args.val_fraction > 0,
         "--early-stopping needs --val-fraction (a validation split to watch)"),
        (args.checkpoint_every is None or args.restarts == 1,
         "--checkpoint-every does not cover --restarts (each run would need its own file)"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def _check_memory(sizes: list[int], n_train: int, options: FitOptions,
                  args: argparse.Namespace) -> None:
    """Refuse a network too large for this machine before building it (see cli.budget):
    the rows in flight are a batch or an evaluation chunk, for each restart run at once."""
    batch = n_train if options.batch_size == "full" else min(int(options.batch_size), n_train)
    rows = max(batch, min(n_train, PREDICT_CHUNK))
    at_once = 1 if not args.n_jobs else min(args.restarts, args.n_jobs if args.n_jobs > 0
                                             else os.cpu_count() or 1)
    needed = at_once * network_bytes(sizes, rows, MLP_ITEMSIZE)
    check_fits(needed, f"--hidden {args.hidden} ({parameter_count(sizes):,} parameters, "
                       f"{rows} rows at once)")


def task_loss(name: str | None, data: TrainingData) -> str:
    """The loss's canonical name (``--loss``, else the task's default), checked against the
    task: cross-entropies classify; binary cross-entropy takes two classes, on one output."""
    loss = get_loss(name).name if name else _DEFAULT_LOSS[data.task]
    if data.task == "regress" and loss in _CLASSIFYING:
        raise ValueError(f"--loss {name} is for classification; for --task regress use "
                         "squared_error, mse or poisson")
    if data.task == "classify" and loss in REGRESSION_ONLY:
        raise ValueError(f"--loss {name} is for regression on counts, not class labels; drop "
                         "--task classify (it then regresses)")
    n_classes = 0 if data.classes is None else len(data.classes)
    if loss == "binary_cross_entropy" and n_classes != 2:
        raise ValueError(f"--loss {name} takes two classes (on one sigmoid output); the target "
                         f"has {n_classes}: use cross_entropy")
    return loss


def _n_outputs(data: TrainingData, loss: str) -> int:
    """Outputs of the network: a column per target or class; one sigmoid for two classes under
    binary cross-entropy (as the estimators do)."""
    if data.classes is None:
        return data.n_targets
    return 1 if loss == "binary_cross_entropy" else len(data.classes)


def _targets(data: TrainingData, preprocessing: Preprocessing, train: np.ndarray, loss: str) -> np.ndarray:
    """Class indices (one-hot rows for losses other than cross-entropy), or regression targets
    standardized with the training part's statistics (kept in the preprocessing); Poisson
    counts as they are."""
    if preprocessing.labels is None and loss not in REGRESSION_ONLY:
        # counts (Poisson) stay counts: centring would make them negative
        preprocessing.targets = Standardizer.fit(data.Y[train])
    return encode_targets(preprocessing, data.y, loss)


def encode_targets(preprocessing: Preprocessing, y: np.ndarray, loss: str) -> np.ndarray:
    """The network's targets for the targets ``y`` as given: class indices (one-hot rows for
    losses other than cross-entropy; one 0/1 column for binary cross-entropy), or regression
    targets (n, k) in the preprocessing's standard units (if it scales them)."""
    if preprocessing.labels is not None:
        codes = preprocessing.labels.encode(y)
        if loss == "binary_cross_entropy":  # two classes, one output: the second class's 0/1
            return codes.astype(np.float64).reshape(-1, 1)
        return codes if loss == "cross_entropy" else one_hot(codes, len(preprocessing.labels), np.float64)
    Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    return Y if preprocessing.targets is None else preprocessing.targets.transform(Y)


def _progress(args: argparse.Namespace) -> list[Any]:
    return [] if args.quiet else [progress_callback(args.epochs)]


def split_rows(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random training and held-out rows; ``fraction`` of them held out."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(fraction * n))
    if n - n_test < 2:
        raise ValueError(f"{n} samples leave {n - n_test} for training; lower --test-fraction")
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _hidden_sizes(text: str) -> list[int]:
    """Widths from "128,64"; "" (or spaces) is no hidden layer, and an empty entry ("4,,4",
    "4,") is refused rather than dropped."""
    parts = text.replace(" ", "").split(",") if text.strip() else []
    if len(parts) > MAX_HIDDEN_LAYERS:  # each a few Python objects the memory estimate omits
        raise ValueError(f"--hidden gives {len(parts):,} hidden layers; at most "
                         f"{MAX_HIDDEN_LAYERS:,}")
    for number, part in enumerate(parts, start=1):
        if not part:
            raise ValueError(f"--hidden {text!r}: hidden layer {number} has no width (an empty "
                             "entry between commas)")
        if not (part.isascii() and part.lstrip("+-").isdigit()):
            raise ValueError(f"--hidden takes widths like 128,64; got {text!r}")
    sizes = [int(part) for part in parts]
    if any(size <= 0 for size in sizes):
        raise ValueError(f"--hidden widths must be positive; got {text!r}")
    return sizes


def _batch_size(text: str) -> int | str:
    if text == "full":
        return "full"
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise ValueError(f"--batch-size takes a positive integer or 'full'; got {text!r}")
    return size


def _name_of(lookup: Callable[[str], Any]) -> Callable[[str], Any]:
    """A name lookup that takes only names (a sweep spec's value is text by then)."""
    return lambda name: lookup(name) if isinstance(name, str) else None


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "hidden": _hidden_sizes, "batch_size": _batch_size,
    "activation": _name_of(get_activation), "init": _name_of(get_initializer),
    "loss": _name_of(get_loss)}
