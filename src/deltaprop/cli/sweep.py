"""``deltaprop sweep SPEC``: grid or random search over training options, run through joblib
(local processes, or a Dask cluster with ``--scheduler tcp://HOST:PORT``), ranked by the
validation score, every result saved as it finishes, and resumable.

The spec (a JSON file) is read, checked and turned into trials by
:mod:`deltaprop.cli.sweepspec`.

Each trial is ``deltaprop train`` with those options and the command's data options; trials
are ranked by the validation split's score (never the held-out part, whose score is reported
beside it). ``--out-dir`` receives ``results.jsonl`` (a line per finished trial, written as
it finishes: a second run skips those), ``results.csv``, ``best.dp`` and ``best.json`` (the
trial best.dp holds). A trial is its options on the data's content (its fingerprint, not its
file name) with the command's and the spec's settings: a result logged for other data is set
aside and its trial run again. A failed trial is shown with its reason; the exit code is 1
when no trial succeeded.
"""

from __future__ import annotations

import argparse
import copy
import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from deltaprop.cli.data import TrainingData, training_data
from deltaprop.cli.jsonfile import MIB, parse_json, read_json
from deltaprop.cli.parser import build_parser
from deltaprop.cli.paths import check_out_dir, check_outputs
from deltaprop.cli.report import emit, finite_json
from deltaprop.cli.sweepspec import SETTINGS, as_option, distinct, read_spec, trials
from deltaprop.cli.train import (
    check_combination,
    check_options,
    is_kind,
    task_loss,
    train_model,
)
from deltaprop.data.arrays import fingerprint
from deltaprop.files.atomic import atomic_write_bytes

SHOWN = 20  # trials the table shows, of the best and of the failed ones
REASON_WIDTH = 100
MAX_LOG_LINE = MIB  # a results.jsonl line longer than this is damaged, and skipped
OUTPUTS = ("results.jsonl", "results.csv", "best.dp", "best.json")  # in --out-dir


def run_trial(base: argparse.Namespace, options: dict[str, Any]) -> dict[str, Any]:
    """Train one option set (in whichever process joblib sends it to); its result."""
    args = _trial_args(base, options)
    args.quiet, args.out, args.history, args.checkpoint_every = True, None, None, None
    data_print = None
    try:
        data = training_data(args.data, args.target, task=args.task, one_hot=args.one_hot,
                             loss=args.loss)
        data_print = data_fingerprint(data)
        model, report = train_model(data, args)
    except (ValueError, TypeError, ArithmeticError, MemoryError) as error:  # a bad combination: logged
        return _failed(options, str(error), data_print)
    history = model.net.history
    val = history.val_metric[-1] if history.val_metric else None
    return {"options": options, "validation": val, "held_out": report["held_out"],
            "epochs": report["epochs"], "stop_reason": report["stop_reason"], "model": model,
            "data": data_print}


def _failed(options: dict[str, Any], reason: str, data_print: str | None) -> dict[str, Any]:
    return {"options": options, "validation": None, "held_out": None, "epochs": 0,
            "stop_reason": "error", "error": reason, "model": None, "data": data_print}


def data_fingerprint(data: TrainingData) -> str:
    """The data as read (features, targets and their names), hashed by the fingerprint a
    checkpoint keeps of its data: a sweep's results hold for these data only."""
    y = np.asarray(data.y)
    return fingerprint(data.X, y.astype(str) if y.dtype == object else y,
                       np.asarray(data.feature_names, dtype=str),
                       np.asarray(data.target_names, dtype=str))


def _trial_args(base: argparse.Namespace, options: dict[str, Any]) -> argparse.Namespace:
    args = copy.copy(base)
    for name, value in options.items():
        setattr(args, name, as_option(name, value))
    return args


def _check_combinations(path: str, base: argparse.Namespace,
                        candidates: list[dict[str, Any]]) -> None:
    """A value that goes with none of the trials holding it (momentum where every trial uses
    adam) is a bad value, refused now; a combination refused where the value works in other
    trials (adam with momentum in a grid over both optimizers) is a failed trial, logged."""
    works: set[tuple[str, str]] = set()
    refused: dict[tuple[str, str], str] = {}
    for options in candidates:
        held = [(name, json.dumps(value, sort_keys=True)) for name, value in options.items()]
        try:
            check_combination(_trial_args(base, options))
        except ValueError as error:
            for item in held:
                refused.setdefault(item, str(error))
        else:
            works.update(held)
    for (name, value), message in refused.items():
        if (name, value) not in works:
            raise ValueError(f"{path}: params.{name} {value[:40]}: {message} (in every trial "
                             "that holds it)")


def sweep(args: argparse.Namespace) -> int:
    spec = read_spec(args.spec)
    base = _base_options(args, spec)
    candidates = trials(spec, base.seed)
    _check_combinations(args.spec, base, candidates)
    data = training_data(base.data, base.target, task=base.task, one_hot=base.one_hot, loss=base.loss)
    _check_losses(args.spec, spec, data)
    check_out_dir(args.out_dir)
    os.makedirs(args.out_dir, exist_ok=True)
    log_path, table, best_path, held_path = (os.path.join(args.out_dir, name) for name in OUTPUTS)
    check_outputs({"spec": args.spec, "--data": args.data},  # the log is read on purpose
                  dict(zip(OUTPUTS, (log_path, table, best_path, held_path))))
    # a trial is its options on these data (by content, not by file name) with these settings
    settings = {"data": data_fingerprint(data),
                **{name: getattr(base, name) for name in ("target", "task", "one_hot", *SETTINGS)}}
    log = ResultsLog.read(log_path, settings)
    held = _held(held_path) if os.path.exists(best_path) else None
    todo = [t for t in candidates if _key(t) not in log.done]
    results = [log.done[_key(t)] for t in candidates if _key(t) in log.done]
    set_aside = sum(_key(t) in log.other_data for t in todo)
    best = max(results, key=_score, default=None)
    if best is not None and _score(best) > -np.inf and held != log.trial(best):
        todo.insert(0, best["options"])  # best.dp is missing, or holds another trial (or data)
        results.remove(best)
        best = max(results, key=_score, default=None)
    for result in _run_all(base, todo, args):
        result, model = _arrived(result, log)
        results.append(result)
        if model is not None and _score(result) > _score(best):
            best = result
            _save_best(best_path, held_path, model, log.trial(result))
    ranked = sorted(results, key=_score, reverse=True)
    _write_csv(table, ranked)
    succeeded = sum(_score(r) > -np.inf for r in ranked)
    for path in (best_path, held_path) if not succeeded else ():
        if os.path.exists(path):  # another sweep's best (other data or settings), not one of these
            os.remove(path)
    report = {"command": "sweep", "trials": len(ranked), "ran": len(todo),
              "skipped": len(ranked) - len(todo), "set_aside": set_aside,
              "failed": len(ranked) - succeeded, "succeeded": succeeded,
              "best": ranked[0] if succeeded else None, "out_dir": args.out_dir}
    emit(args, report, _table(ranked, report))
    return 0 if succeeded else 1  # every trial failed: the sweep did not do its job


def _arrived(result: dict[str, Any], log: ResultsLog) -> tuple[dict[str, Any], Any]:
    """A finished trial's result and model, logged when it trained on the sweep's data. A trial
    that read other data (the file changed during the sweep) or none is failed, not logged:
    it runs again next time."""
    model, seen = result.pop("model"), result.pop("data")
    if seen != log.settings["data"]:
        reason = result.get("error") or ("the data changed while the sweep ran (its content is "
                                         "not what the sweep read first); run the sweep again")
        return {k: v for k, v in _failed(result["options"], reason, None).items()
                if k not in ("model", "data")}, None
    if _key(result["options"]) not in log.done:
        log.append(result)  # one line per finished trial
    return result, model


def _run_all(base: argparse.Namespace, todo: list[dict[str, Any]],
             args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Each trial's result as soon as it finishes, through joblib."""
    if not todo:
        return
    import joblib

    tasks = (joblib.delayed(run_trial)(base, options) for options in todo)
    if args.scheduler:
        from distributed import Client

        with Client(args.scheduler), joblib.parallel_config(backend="dask"):
            yield from joblib.Parallel(n_jobs=-1, return_as="generator_unordered")(tasks)
        return
    yield from joblib.Parallel(n_jobs=args.n_jobs or 1, return_as="generator_unordered")(tasks)


def _base_options(args: argparse.Namespace, spec: dict[str, Any]) -> argparse.Namespace:
    """``deltaprop train``'s defaults, the spec's settings and the command's data options."""
    base = build_parser().parse_args(["train"])
    for name in ("data", "target", "task", "one_hot", "seed"):
        setattr(base, name, getattr(args, name))
    base.data = os.path.abspath(base.data) if os.path.exists(base.data) else base.data
    base.val_fraction = 0.2
    for name in SETTINGS:
        if name in spec:
            setattr(base, name, spec[name])
    if not base.val_fraction:
        raise ValueError("a sweep ranks trials by a validation split: val_fraction must be > 0")
    check_options(base)  # the rules between settings (each value was checked by read_spec)
    return base


def _check_losses(path: str, spec: dict[str, Any], data: TrainingData) -> None:
    """Every loss searched (or train's default) against the data's task and classes."""
    default = build_parser().parse_args(["train"]).loss
    for loss in distinct(spec["params"].get("loss", [default])):
        try:
            task_loss(loss, data)
        except ValueError as error:
            raise ValueError(f"{path}: params.loss {loss!r}: {error}") from None


@dataclass
class ResultsLog:
    """``results.jsonl``: a line per finished trial with the settings and the data's fingerprint
    it ran with.

    ``done`` the trials logged with these settings, by their options (a torn, damaged or
    overlong line is skipped: that trial runs again); ``other_data`` the options logged with
    the same settings but other data (set aside: run again).
    """

    path: str
    settings: dict[str, Any]
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    other_data: set[str] = field(default_factory=set)

    @classmethod
    def read(cls, path: str, settings: dict[str, Any]) -> ResultsLog:
        log = cls(path, settings)
        if os.path.exists(path):
            with open(path, "rb") as stream:
                for value in _lines(stream):
                    log._take(value)
        return log

    def _take(self, value: Any) -> None:
        result = _logged(value)
        if result is None:
            return
        logged, ours = result.pop("settings", None), finite_json(self.settings)
        if logged == ours:
            self.done[_key(result["options"])] = result
        elif isinstance(logged, dict) and {**logged, "data": None} == {**ours, "data": None}:
            self.other_data.add(_key(result["options"]))

    def append(self, result: dict[str, Any]) -> None:
        """A result's line, with the settings it ran with."""
        with open(self.path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(finite_json({**result, "settings": self.settings})) + "\n")

    def trial(self, result: dict[str, Any]) -> dict[str, Any]:
        """What names ``result``'s trial in best.json: its options, the settings and the data."""
        return finite_json({"options": result["options"], "settings": self.settings})


def _save_best(best_path: str, held_path: str, model: Any, trial: dict[str, Any]) -> None:
    """best.dp, then best.json naming the trial it holds (a crash between the two leaves a
    best.json naming another trial: the next run trains the best one again)."""
    model.save(best_path)  # as soon as it is the best: a crash later keeps it
    atomic_write_bytes(held_path, json.dumps(trial, indent=1).encode("utf-8"))


def _held(path: str) -> Any:
    """The trial best.dp holds, as best.json names it (None when it names none)."""
    try:
        return read_json(path, "best.json", max_bytes=MAX_LOG_LINE)
    except (ValueError, OSError):
        return None


def _lines(stream: IO[bytes]) -> Iterator[Any]:
    """Each line of the log as JSON (None for a damaged one; an overlong one left out)."""
    while line := stream.readline(MAX_LOG_LINE + 1):
        if len(line) > MAX_LOG_LINE:  # skip the rest of it, a piece at a time
            while line and not line.endswith(b"\n"):
                line = stream.readline(MAX_LOG_LINE + 1)
            continue
        try:
            yield parse_json(line, "results.jsonl", "a result")
        except ValueError:
            yield None


def _logged(result: Any) -> dict[str, Any] | None:
    """One line of the log as a result, or None when it is not one."""
    if not (isinstance(result, dict) and isinstance(result.get("options"), dict)
            and is_kind(result.get("validation"), "number?")
            and isinstance(result.get("held_out") or {}, dict)):
        return None
    try:  # a number past floating point's range is no score either
        result["validation"] = None if result.get("validation") is None else float(result["validation"])
    except OverflowError:
        return None
    return result


def _key(options: dict[str, Any]) -> str:
    return json.dumps(options, sort_keys=True)


def _score(result: dict[str, Any] | None) -> float:
    """The validation score; -inf for none (a failed trial)."""
    value = None if result is None else result.get("validation")
    return float(value) if value is not None and np.isfinite(value) else -np.inf


def _write_csv(path: str, ranked: list[dict[str, Any]]) -> None:
    """Every result, best first, written atomically."""
    names = sorted({name for result in ranked for name in result["options"]})
    stream = io.StringIO(newline="")
    writer = csv.writer(stream)
    writer.writerow(["rank", *names, "validation", "held_out_metric", "held_out", "epochs",
                     "stop_reason", "error"])
    for rank, result in enumerate(ranked, 1):
        metric, value = next(iter((result.get("held_out") or {None: None}).items()))
        writer.writerow([rank, *(result["options"].get(n) for n in names), result["validation"],
                         metric, value, result.get("epochs"), result.get("stop_reason"),
                         result.get("error", "")])
    atomic_write_bytes(path, stream.getvalue().encode("utf-8"))


def _table(ranked: list[dict[str, Any]], report: dict[str, Any]) -> str:
    """The best trials, then every failed one with its reason (on one short line)."""
    succeeded = [r for r in ranked if _score(r) > -np.inf]
    failed = [r for r in ranked if _score(r) == -np.inf]
    aside = (f"; {report['set_aside']} earlier results set aside and run again: the data "
             "changed" if report["set_aside"] else "")
    lines = [f"{len(ranked)} trials ({report['skipped']} from an earlier run{aside}), "
             f"{len(failed)} failed, best first:"]
    for rank, result in enumerate(succeeded[:SHOWN], 1):
        lines.append(f"{rank:>3}. validation {result['validation']:.4f}  {_options_text(result)}")
    if len(succeeded) > SHOWN:
        lines.append(f"     ... {len(succeeded) - SHOWN} more in results.csv")
    for rank, result in enumerate(failed[:SHOWN], len(succeeded) + 1):
        lines.append(f"{rank:>3}. failed: {_reason(result)}  {_options_text(result)}")
    if len(failed) > SHOWN:
        lines.append(f"     ... {len(failed) - SHOWN} more failed; results.csv has every reason")
    if not succeeded:
        lines.append("no trial succeeded: no best model was written")
    return "\n".join(lines)


def _options_text(result: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(result["options"].items()))


def _reason(result: dict[str, Any]) -> str:
    """Why a trial has no score, on one line of at most REASON_WIDTH characters."""
    reason = result.get("error") or f"validation nan ({result.get('stop_reason')})"
    reason = " ".join(str(reason).split())
    return reason if len(reason) <= REASON_WIDTH else reason[: REASON_WIDTH - 3] + "..."
