"""``deltaprop sweep SPEC``: grid or random search over training options, run through joblib
(local processes, or a Dask cluster with ``--scheduler tcp://HOST:PORT``), ranked by the
validation score, every result saved as it finishes, and resumable.

The spec (a JSON file) is read by :mod:`deltaprop.cli.sweepspec`; checking it, making its
trials, running them, refusing a value no trial can use, ranking and the table are the library's
(:mod:`deltaprop.tuning.sweep`, whose :func:`~deltaprop.tuning.sweep.sweep` is the same search on
arrays). What is the command's own: the data read from a file in each trial (``deltaprop
train``'s pipeline, its checks of memory included), the results log and the files.

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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import IO, Any

import numpy as np

from deltaprop.cli.data import TrainingData, training_data
from deltaprop.cli.jsonfile import MIB, parse_json, read_json
from deltaprop.cli.parser import build_parser
from deltaprop.cli.paths import check_out_dir, check_outputs
from deltaprop.cli.report import emit, finite_json
from deltaprop.cli.sweepspec import read_spec
from deltaprop.cli.train import check_options, check_train_combination, train_model
from deltaprop.data.arrays import fingerprint
from deltaprop.files.atomic import atomic_write_bytes
from deltaprop.tuning.options import FLAGS, is_kind, task_loss
from deltaprop.tuning.sweep import SweepResult, check_combinations, run_trials
from deltaprop.tuning.sweepspec import SETTINGS, VAL_FRACTION, as_option, distinct, trials
from deltaprop.tuning.trial import SweepTrial

CONNECT_SECONDS = 10  # a scheduler that has not answered by then is not there (Dask waits 30 s)
MAX_LOG_LINE = MIB  # a results.jsonl line longer than this is damaged, and skipped
OUTPUTS = ("results.jsonl", "results.csv", "best.dp", "best.json")  # in --out-dir
Arrived = tuple[SweepTrial, "str | None"]  # a trial and the fingerprint of the data it read


def run_trial(base: argparse.Namespace, options: dict[str, Any]) -> Arrived:
    """Train one option set (in whichever process joblib sends it to) as ``deltaprop train``
    would, on the data as read now; the trial and the data's fingerprint."""
    args = _trial_args(base, options)
    args.quiet, args.out, args.history, args.checkpoint_every = True, None, None, None
    data_print, start = None, time.perf_counter()
    try:
        data = _read_data(args)
        data_print = data_fingerprint(data)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence: reported, not warned
            model, report = train_model(data, args)
    except (ValueError, TypeError, ArithmeticError, MemoryError) as error:  # a bad combination: logged
        return SweepTrial.failure(options, str(error), time.perf_counter() - start), data_print
    history = model.net.history
    val = history.val_metric[-1] if history.val_metric else None
    return SweepTrial(options, val, report["held_out"], report["epochs"], report["stop_reason"],
                      seconds=time.perf_counter() - start, model=model), data_print


def _read_data(args: argparse.Namespace) -> TrainingData:
    """The data as ``deltaprop train`` reads them, whole (each trial reads its data whole: a
    folder that fits in memory is read, data that do not fit are refused before a pass)."""
    return training_data(args.data, args.target, task=args.task, one_hot=args.one_hot,
                         loss=args.loss, whole=True)


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


def sweep(args: argparse.Namespace) -> int:
    spec = read_spec(args.spec)
    base = _base_options(args, spec)
    candidates = trials(spec, base.seed)
    try:  # train's own rules between options, by the flags' names
        check_combinations(candidates,
                           lambda options: check_train_combination(_trial_args(base, options)))
    except ValueError as error:
        raise ValueError(f"{args.spec}: {error}") from None
    data = _read_data(base)
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
        todo.insert(0, best.options)  # best.dp is missing, or holds another trial (or data)
        results.remove(best)
        best = max(results, key=_score, default=None)
    with _scheduler(args.scheduler if todo else None) as scheduler:
        for arrived in run_trials(partial(run_trial, base), todo, n_jobs=args.n_jobs,
                                  scheduler=scheduler):
            result, model = _arrived(arrived, log)
            results.append(result)
            if model is not None and _score(result) > _score(best):
                best = result
                _save_best(best_path, held_path, model, log.trial(result))
    ranked = SweepResult.ranked(results, reused=len(results) - len(todo), set_aside=set_aside)
    _write_csv(table, ranked)
    succeeded = len(ranked.succeeded)
    for path in (best_path, held_path) if not succeeded else ():
        if os.path.exists(path):  # another sweep's best (other data or settings), not one of these
            os.remove(path)
    best_trial = ranked.best_trial
    report = {"command": "sweep", "trials": len(ranked.trials), "ran": len(todo),
              "skipped": ranked.reused, "set_aside": set_aside,
              "failed": len(ranked.trials) - succeeded, "succeeded": succeeded,
              "best": None if best_trial is None else best_trial.record(), "out_dir": args.out_dir}
    text = ranked.table(everything="results.csv")
    emit(args, report, text if succeeded else text + "\nno trial succeeded: no best model was written")
    return 0 if succeeded else 1  # every trial failed: the sweep did not do its job


@contextmanager
def _scheduler(address: str | None) -> Iterator[Any]:
    """A client of the Dask scheduler at ``address`` (None for none), closed after; a
    scheduler that does not answer within :data:`CONNECT_SECONDS` is refused in one line."""
    if address is None:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("--scheduler needs Dask's distributed (pip install "
                          "'deltaprop[dask]')") from None
    try:
        client = Client(address, timeout=CONNECT_SECONDS)
    except (OSError, ValueError, TypeError) as error:
        raise ValueError(f"--scheduler {address}: no Dask scheduler answered ({error})") from None
    with client:
        yield client


def _arrived(arrived: Arrived, log: ResultsLog) -> tuple[SweepTrial, Any]:
    """A finished trial and its model, logged when it trained on the sweep's data. A trial
    that read other data (the file changed during the sweep) or none is failed, not logged:
    it runs again next time."""
    result, seen = arrived
    model, result = result.model, result.without_model()
    if seen != log.settings["data"]:
        reason = result.error or ("the data changed while the sweep ran (its content is not "
                                  "what the sweep read first); run the sweep again")
        return SweepTrial.failure(result.options, reason, result.seconds), None
    if _key(result.options) not in log.done:
        log.append(result)  # one line per finished trial
    return result, model


def _base_options(args: argparse.Namespace, spec: dict[str, Any]) -> argparse.Namespace:
    """``deltaprop train``'s defaults, the spec's settings and the command's data options."""
    base = build_parser().parse_args(["train"])
    for name in ("data", "target", "task", "one_hot", "seed"):
        setattr(base, name, getattr(args, name))
    base.data = os.path.abspath(base.data) if os.path.exists(base.data) else base.data
    base.val_fraction = VAL_FRACTION
    for name in SETTINGS:
        if name in spec:
            setattr(base, name, spec[name])
    check_options(base)  # the rules between settings (each value was checked with the spec)
    return base


def _check_losses(path: str, spec: dict[str, Any], data: TrainingData) -> None:
    """Every loss searched (or train's default) against the data's task and classes."""
    default = build_parser().parse_args(["train"]).loss
    for loss in distinct(spec["params"].get("loss", [default])):
        try:
            task_loss(loss, data.task, data.classes, FLAGS)
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
    done: dict[str, SweepTrial] = field(default_factory=dict)
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
            self.done[_key(result["options"])] = SweepTrial.from_record(result)
        elif isinstance(logged, dict) and {**logged, "data": None} == {**ours, "data": None}:
            self.other_data.add(_key(result["options"]))

    def append(self, result: SweepTrial) -> None:
        """A result's line, with the settings it ran with."""
        with open(self.path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(finite_json({**result.record(), "settings": self.settings}))
                         + "\n")

    def trial(self, result: SweepTrial) -> dict[str, Any]:
        """What names ``result``'s trial in best.json: its options, the settings and the data."""
        return finite_json({"options": result.options, "settings": self.settings})


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


def _score(result: SweepTrial | None) -> float:
    """The validation score; -inf for none (a failed trial, or no trial)."""
    return -np.inf if result is None else result.score


def _write_csv(path: str, ranked: SweepResult) -> None:
    """Every result, best first, written atomically."""
    stream = io.StringIO(newline="")
    csv.writer(stream).writerows(ranked.rows())
    atomic_write_bytes(path, stream.getvalue().encode("utf-8"))
