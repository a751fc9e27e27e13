"""One function per command: parsed arguments in, exit code out; results on stdout."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from typing import Any

import numpy as np

import deltaprop as dp
from deltaprop import plot as plots
from deltaprop.cli.auto import auto_train, check_auto
from deltaprop.cli.budget import check_fits, network_bytes
from deltaprop.cli.data import labelled_rows, model_rows, training_data
from deltaprop.cli.jsonfile import MIB, read_json
from deltaprop.cli.paths import MODEL_SUFFIX, check_outputs, data_stem, unused_path
from deltaprop.cli.report import emit, finite_json
from deltaprop.cli.resume_options import stored_options
from deltaprop.cli.stream import check_streamed, streams
from deltaprop.cli.summary import architecture, epochs_words, train_text
from deltaprop.cli.train import check_options, output_files, resume_model, train_model
from deltaprop.data import datasets as embedded
from deltaprop.files.atomic import atomic_write, atomic_write_bytes
from deltaprop.files.container import KINDS, Archive, read_archive
from deltaprop.files.load import as_model, load_from
from deltaprop.files.model import Model
from deltaprop.files.onnx import export_onnx
from deltaprop.history import History
from deltaprop.tuning.options import check_option

MAX_HISTORY_BYTES = 256 * MIB  # a million epochs of a deep network's history fit in this


def read_model(path: str) -> tuple[Model, Archive]:
    """Any file that holds a network, as a model (a bare network takes its inputs by position
    and says classes as output indices), and the file as read."""
    archive = read_archive(path)
    return as_model(load_from(archive)), archive


def train(args: argparse.Namespace) -> int:
    check_options(args)  # a bad value is named first, before the files are looked at
    args.out = model_out(args)
    check_outputs({"--data": args.data}, output_files(args))
    if args.auto:
        check_auto(args)
    # Whether the data stream is decided before anything is read (a file that streams is never
    # read whole first), and the options a stream does not take refused before its pass.
    # --auto reads its data whole (a folder too, if it fits), unless --stream asks otherwise.
    streamed = args.stream or (not args.auto and streams(args.data))
    if streamed:
        check_streamed(args)
    data = training_data(args.data, args.target, task=args.task, one_hot=args.one_hot,
                         loss=args.loss, stream=streamed, whole=not streamed and args.auto)
    model, report = (auto_train if args.auto else train_model)(data, args)
    return _conclude(args, model, report)


def model_out(args: argparse.Namespace) -> str | None:
    """The model file ``train`` writes: ``--out``, none with ``--no-save``, else a file named
    after the data that does not exist yet (``args.default_taken`` keeps the name it would
    have had, for the report)."""
    args.default_taken = None
    if args.no_save:
        return None
    if args.out == "":
        raise ValueError("--out is empty; name a file, or write none with --no-save")
    if args.out == "-":
        raise ValueError("--out - names no file (a model file is not written to stdout); to "
                         "write none, use --no-save")
    if args.out is not None:
        return str(args.out)
    stem = data_stem(args.data)
    args.default_taken = stem + MODEL_SUFFIX
    # The checkpoint is named after the model too (unless --checkpoint names it): both free.
    companions = (".ckpt",) if args.checkpoint_every is not None and not args.checkpoint else ()
    return unused_path(stem, companions=companions, reserved=(args.history, args.checkpoint))


def resume(args: argparse.Namespace) -> int:
    archive = read_archive(args.checkpoint)
    archive.expect(("checkpoint",), "a checkpoint of a training run",
                   " (fit(..., checkpoint=...) and train --checkpoint-every write those)")
    options = stored_options(archive.metadata, args.checkpoint)
    options.out = args.out or options.out
    # The checkpoint is read, and written again as the run goes on (dp.resume's business):
    # an input here, which no other output may be.
    check_outputs({"checkpoint": args.checkpoint, "the run's --data": options.data},
                  {"--out" if args.out else "the run's --out": options.out,
                   "the run's --history": options.history})
    options.quiet, options.json, options.resume_epochs = args.quiet, args.json, args.resume_epochs
    data = training_data(options.data, options.target, task=options.task, one_hot=options.one_hot,
                         loss=options.loss, whole=True)  # a checkpointed run trained in memory
    model, report = resume_model(args.checkpoint, data, options)
    report["command"] = "resume"
    return _conclude(options, model, report)


def _conclude(args: argparse.Namespace, model: Model, report: dict[str, Any]) -> int:
    """Save what training left (not a diverged model), report, and choose the exit code."""
    reason = report["stop_reason"]
    if report.pop("silent", False):  # another MPI rank than 0: rank 0 reports and writes
        return {"diverged": 1, "interrupted": 130}.get(reason, 0)
    report["architecture"] = architecture(model.net, args)
    if args.out and reason != "diverged":
        if getattr(args, "default_taken", None) and os.path.lexists(args.out):
            # a file of the default name appeared while training (another run?): not overwritten
            args.out = unused_path(data_stem(args.data), reserved=(args.history, args.checkpoint))
        model.save(args.out)
        report["model"] = args.out
    if args.history:
        _write_json(args.history, finite_json(model.net.history.to_dict()))
        report["history"] = args.history
    emit(args, report, train_text(report, args))
    return {"diverged": 1, "interrupted": 130}.get(reason, 0)


def evaluate(args: argparse.Namespace) -> int:
    model, _ = read_model(args.model)
    rows, y = labelled_rows(args.data, args.target, model)
    scores = model.scores(rows, y)
    report = {"command": "evaluate", "model": args.model, "data": args.data, "n": len(y), **scores}
    text = f"{args.data}: {len(y)} samples; " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
    emit(args, report, text)
    return 0


def predict(args: argparse.Namespace) -> int:
    check_outputs({"model": args.model, "--data": args.data}, {"--out": args.out})
    model, _ = read_model(args.model)
    rows = model_rows(args.data, args.target, model)
    header, predictions = _prediction_rows(model, rows)
    if args.out:
        _write_predictions(args.out, header, predictions)
        emit(args, {"command": "predict", "model": args.model, "n": len(predictions), "out": args.out},
             f"{len(predictions)} predictions written to {args.out}")
    elif args.json:
        print(json.dumps([dict(zip(header, row)) for row in predictions]))
    else:
        _write_csv(sys.stdout, header, predictions)
    return 0


def _prediction_rows(model: Model, rows: Any) -> tuple[list[str], list[list[Any]]]:
    """The CSV: the prediction, then (classify, with probabilities) each class's probability;
    Model.predict's and Model.predict_proba's values, so Python and the command line agree."""
    if model.task == "regress":
        return list(model.target_names), [list(map(float, row)) for row in model.outputs(rows)]
    assert model.classes is not None
    predicted = model.predict(rows)
    if model.multilabel:  # one 0/1 column per label
        return [f"prediction({c})" for c in model.classes.tolist()], predicted.tolist()
    if not model.has_probabilities:  # scores, not probabilities: no p(...) columns
        return ["prediction"], [[label] for label in predicted.tolist()]
    header = ["prediction"] + [f"p({label})" for label in model.classes.tolist()]
    probabilities = model.predict_proba(rows)
    return header, [[label, *map(float, p)] for label, p in zip(predicted.tolist(), probabilities)]


def gradcheck(args: argparse.Namespace) -> int:
    check_option("seed", args.seed)
    rng = np.random.default_rng(args.seed)
    if args.rows < 1:
        raise ValueError(f"--rows must be at least 1, got {args.rows}")
    net, loss, X = _gradcheck_batch(args, rng)
    targets = _random_targets(net, loss, len(X), rng)
    report = dp.gradcheck(net, X, targets, loss=loss, directions=4, seed=args.seed)
    result = {"command": "gradcheck", "passed": report.passed, "max_error": report.max_error,
              "tolerance": report.tolerance, "errors": report.errors, "skipped": report.skipped,
              "checked": report.checked}
    emit(args, result, repr(report))
    return 0 if report.passed else 1


def _gradcheck_batch(args: argparse.Namespace, rng: np.random.Generator) -> tuple[Any, Any, np.ndarray]:
    """The network, its loss and the rows to check on, their memory estimated first."""
    if not args.model:
        small = dp.MLP([4, 6, 5, 3], activation="tanh", dtype=np.float64, seed=args.seed)
        _check_gradcheck_memory(small, args.rows)
        return small, "cross_entropy", rng.standard_normal((args.rows, 4))
    model, _ = read_model(args.model)
    net, loss = model.net, model.net.loss or "squared_error"
    # The model's own data by default: the rows it was trained on (and will see), not random
    # inputs far outside them.
    spec = args.data or model.summary.get("data")
    if args.data or (isinstance(spec, str) and (os.path.exists(spec) or spec in embedded.names())):
        inputs = model.network_inputs(model_rows(spec, args.target, model))
        chosen = rng.permutation(len(inputs))[: args.rows]
        _check_gradcheck_memory(net, len(chosen))
        return net, loss, inputs[chosen]
    _check_gradcheck_memory(net, args.rows)
    return net, loss, rng.standard_normal((args.rows, net.n_inputs))


def _check_gradcheck_memory(net: Any, rows: int) -> None:
    """The check runs every row at once, in float64 (see cli.budget)."""
    sizes = [net.n_inputs, *(layer.n_out for layer in net.dense_layers)]
    check_fits(network_bytes(sizes, rows, np.dtype(np.float64).itemsize),
               f"gradcheck --rows {rows} (a batch of {rows:,} rows, float64)")


def _random_targets(net: Any, loss: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    name = loss if isinstance(loss, str) else loss.name
    if name == "cross_entropy":
        return rng.integers(0, net.n_outputs, n)
    if name == "binary_cross_entropy":
        return rng.integers(0, 2, (n, net.n_outputs)).astype(float)
    return rng.standard_normal((n, net.n_outputs))


def plot(args: argparse.Namespace) -> int:
    check_outputs({"source": args.source, "--data": args.data}, {"--out": args.out})
    if args.source.endswith(".json"):
        history, model = _read_history(args.source), None
    else:
        model = read_model(args.source)[0]
        history = model.net.history
    if args.kind in ("loss", "gradnorm"):
        if history is None or not history.loss:
            raise ValueError(f"{args.source} holds no training history to plot")
        figure = getattr(plots, args.kind)(history)
    elif model is None:
        raise ValueError(f"--kind {args.kind} needs a model file, not a history")
    else:
        figure = _plot_model(plots, model, args)
    # Saved atomically (a full disk leaves the old picture), in the format the name says.
    extension = os.path.splitext(args.out)[1].lstrip(".").lower() or None
    atomic_write(args.out, lambda stream: figure.savefig(stream, format=extension, dpi=figure.dpi))
    emit(args, {"command": "plot", "kind": args.kind, "out": args.out},
         f"{args.kind} plot written to {args.out}")
    return 0


def _plot_model(plots: Any, model: Model, args: argparse.Namespace) -> Any:
    """The decision regions of a 2-feature classifier, or the fit of a 1-feature regressor."""
    wanted = ("classify", 2) if args.kind == "boundary" else ("regress", 1)
    width = model.net.n_inputs if model.columns is None else len(model.columns)
    if (model.task, width, model.net.n_inputs) != (*wanted, wanted[1]):
        raise ValueError(f"--kind {args.kind} draws a {wanted[0]} model of {wanted[1]} "
                         f"feature(s); {args.source} is a {model.task} model of {width}")
    spec = args.data or model.summary.get("data")
    if not args.data:  # the model's own data, read too: never drawn over
        check_outputs({"the model's data": spec}, {"--out": args.out})
    rows, y = labelled_rows(spec, args.target, model)
    X = model.features(rows)
    names = model.feature_names or [f"x{j}" for j in range(width)]
    title = f"{model.summary.get('data', '')}"
    if args.kind == "boundary":
        shading = model.predict_proba if model.has_probabilities else model.outputs
        return plots.boundary(shading, X, y, title=title, classes=model.classes,
                              feature_names=names)
    return plots.fit1d(model.predict, X, y, title=title, xlabel=names[0],
                       ylabel=model.target_names[0])


def export(args: argparse.Namespace) -> int:
    check_outputs({"model": args.model}, {"--onnx": args.onnx})
    model, _ = read_model(args.model)
    export_onnx(model, args.onnx)
    emit(args, {"command": "export", "model": args.model, "onnx": args.onnx},
         f"ONNX model written to {args.onnx}")
    return 0


def info(args: argparse.Namespace) -> int:
    model, archive = read_model(args.model)
    net, history = model.net, model.net.history
    report = {
        "command": "info", "model": args.model, "bytes": os.path.getsize(args.model),
        "kind": archive.kind, "format_version": archive.format_version, "task": model.task,
        "layers": [repr(layer) for layer in net.layers], "parameters": net.n_parameters,
        "dtype": net.dtype.name, "loss": None if net.loss is None else net.loss.name,
        "features": model.feature_names, "targets": model.target_names,
        "classes": None if model.classes is None else model.classes.tolist(),
        "epochs": None if history is None else history.n_epochs,
        "final_loss": None if history is None else history.final_loss,
        "stop_reason": None if history is None else history.stop_reason, **model.summary,
    }
    emit(args, report, _info_text(args.model, archive, model, report))
    return 0


def _info_text(path: str, archive: Archive, model: Model, report: dict[str, Any]) -> str:
    net, history, names = model.net, model.net.history, model.feature_names
    lines = [f"{path}: {_kind_text(archive)}",
             f"{model.task} model, {net.n_parameters} parameters ({net.dtype.name})",
             *(f"  {line}" for line in report["layers"])]
    if names is None:
        lines.append(f"inputs: {net.n_inputs} numbers by position, used as given (no preprocessing)")
    else:
        lines.append(f"features ({len(names)}): {', '.join(names[:8])}" + (" ..." if len(names) > 8 else ""))
    if model.classes is not None:
        indices = " (output indices)" if archive.kind in ("network", "checkpoint") and names is None else ""
        lines.append(f"classes: {', '.join(map(str, model.classes.tolist()))}{indices}")
    if history is not None:
        data = f" on {model.summary['data']}" if model.summary.get("data") else ""
        ended = "" if history.stop_reason == "epochs" else f"; {history.stop_message}"
        lines.append(f"trained {epochs_words(history.n_epochs)}{data}, loss {report['loss']} "
                     f"{history.final_loss:.4g}{ended}")
    if model.summary.get("held_out"):
        lines.append("held-out: " + ", ".join(f"{k} {v:.4f}" for k, v in model.summary["held_out"].items()))
    return "\n".join(lines)


def _kind_text(archive: Archive) -> str:
    """What the file holds, in words."""
    if archive.kind == "estimator":
        return f"a scikit-learn estimator, {archive.sections['estimator'].get('class')} (its save)"
    if archive.kind == "checkpoint":
        run = archive.sections["run"]
        state = "finished" if run.get("finished") else "to resume"
        return f"a checkpoint of a training run after epoch {run.get('epoch')} ({state})"
    return KINDS[archive.kind]


def build_kernels(args: argparse.Namespace) -> int:
    """Build the compiled engine's kernels (float32 and float64; whole runs and MPI steps) into
    Numba's disk cache."""
    from deltaprop.engine.compiled.choice import numba_installed

    if not numba_installed():
        raise ImportError("the compiled engine needs Numba: pip install 'deltaprop[fast]'")
    from deltaprop.engine.compiled.engine import build_kernels as build
    from deltaprop.engine.compiled.engine import cache_folder

    # the whole-run kernels and the step in parts that data-parallel (MPI) runs take
    seconds = {dtype: round(build(dtype, parts=True), 3) for dtype in ("float32", "float64")}
    report = {"command": "build-kernels", "seconds": seconds, "cache": cache_folder()}
    emit(args, report, "\n".join([*(f"{dtype}: {value:.2f} s" for dtype, value in seconds.items()),
                                  f"cached in {report['cache']}"]))
    return 0


def datasets(args: argparse.Namespace) -> int:
    rows = embedded.describe()
    report = {"command": "datasets", "datasets": [
        {"name": name, "task": task, "description": text} for name, task, text in rows]}
    width = max(len(name) for name, _, _ in rows)
    emit(args, report, "\n".join(f"{name:<{width}}  {task:<8}  {text}" for name, task, text in rows))
    return 0


def playground(args: argparse.Namespace) -> int:
    from deltaprop.playground import serve  # the web server's modules: loaded for this command only

    def ready(server: Any) -> None:
        if server.loopback:
            print(f"deltaprop playground: open {server.url} in a browser (Ctrl-C stops it)",
                  file=sys.stderr, flush=True)
        else:
            print(f"deltaprop playground: listening on {server.url} (Ctrl-C stops it); "
                  "warning: every machine that reaches this address can use it", file=sys.stderr,
                  flush=True)

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be from 0 to 65535, got {args.port}")
    try:
        serve(args.port, args.host, verbose=args.verbose, ready=ready)
    except OSError as error:  # the port is taken, or the host is not this machine's
        raise ValueError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    except KeyboardInterrupt:  # the way to stop a server: not an interrupted job
        print("deltaprop playground: stopped", file=sys.stderr)
    return 0


def _read_history(path: str) -> History:
    what = "a training history written by train --history"
    data = read_json(path, what, max_bytes=MAX_HISTORY_BYTES)
    try:
        return History.from_dict(data)
    except (TypeError, ValueError, AttributeError, OverflowError) as error:
        raise ValueError(f"{path} is not {what} ({error})") from None


def _write_json(path: str, data: Any) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=1).encode("utf-8"))


def _write_csv(stream: Any, header: list[str], rows: list[list[Any]]) -> None:
    writer = csv.writer(stream)
    writer.writerow(header)
    writer.writerows(rows)


def _write_predictions(path: str, header: list[str], rows: list[list[Any]]) -> None:
    """The CSV written atomically: a full disk or a file-size limit leaves the old file."""
    text = io.StringIO(newline="")
    _write_csv(text, header, rows)
    atomic_write_bytes(path, text.getvalue().encode("utf-8"))
