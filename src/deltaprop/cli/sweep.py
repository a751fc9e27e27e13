"""``deltaprop sweep SPEC``: grid or random search over training options, run through joblib
(local processes, or a Dask cluster with ``--scheduler tcp://HOST:PORT``), ranked by the
validation score, every result saved as it finishes, and resumable.

A spec is a JSON file::

    {"search": "grid",                 # or "random", with "trials": N
     "params": {"hidden": ["16", "32,16"], "activation": ["relu", "tanh"],
                "lr": [0.01, 0.001], "l2": [0, 0.0001], "batch_size": ["32"],
                "batch_norm": [false, true], "dropout": [0, 0.1]},
     "epochs": 30, "val_fraction": 0.2}

Each trial is ``deltaprop train`` with those options and the command's data options; trials
are ranked by the validation split's score (never the held-out part, whose score is reported
beside it). ``--out-dir`` receives ``results.jsonl`` (a line per finished trial, written as
it finishes: a second run skips those), ``results.csv`` and ``best.dp``.
"""

from __future__ import annotations

import argparse
import copy
import csv
import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from deltaprop.cli.data import training_data
from deltaprop.cli.parser import build_parser
from deltaprop.cli.report import emit, finite_json
from deltaprop.cli.train import train_model

SEARCHED = ("hidden", "activation", "lr", "l2", "batch_size", "batch_norm", "dropout",
            "optimizer", "momentum", "init", "loss")
SETTINGS = ("epochs", "val_fraction", "early_stopping", "seed", "test_fraction")


def read_spec(path: str) -> dict[str, Any]:
    """The spec, checked: a search kind, lists of values for known options."""
    try:
        with open(path, encoding="utf-8") as stream:
            spec = json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a JSON sweep spec ({error})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("params"), dict) or not spec["params"]:
        raise ValueError(f"{path}: a sweep spec needs \"params\": {{option: [values, ...]}}")
    unknown = sorted(set(spec["params"]) - set(SEARCHED))
    if unknown:
        raise ValueError(f"{path}: cannot search {unknown}; searchable: {', '.join(SEARCHED)}")
    for name, values in spec["params"].items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{path}: params.{name} must be a non-empty list of values")
    if spec.get("search", "grid") not in ("grid", "random"):
        raise ValueError(f"{path}: search must be 'grid' or 'random', got {spec.get('search')!r}")
    return spec


def trials(spec: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """The option sets to try: every combination (grid), or ``trials`` drawn at random."""
    names = sorted(spec["params"])
    grid = [dict(zip(names, values)) for values in itertools.product(*(spec["params"][n] for n in names))]
    if spec.get("search", "grid") == "grid":
        return grid
    count = min(int(spec.get("trials", 10)), len(grid))  # distinct combinations
    rng = np.random.default_rng(seed)
    return [grid[i] for i in rng.choice(len(grid), size=count, replace=False)]


def run_trial(base: argparse.Namespace, options: dict[str, Any]) -> dict[str, Any]:
    """Train one option set (in whichever process joblib sends it to); its result."""
    args = copy.copy(base)
    for name, value in options.items():
        setattr(args, name, str(value) if name in ("hidden", "batch_size") else value)
    args.quiet, args.out, args.history, args.checkpoint_every = True, None, None, None
    try:
        data = training_data(args.data, args.target, task=args.task, one_hot=args.one_hot)
        model, report = train_model(data, args)
    except (ValueError, TypeError, ArithmeticError) as error:  # a bad combination: logged
        return {"options": options, "validation": None, "held_out": None, "epochs": 0,
                "stop_reason": "error", "error": str(error), "model": None}
    history = model.net.history
    val = history.val_metric[-1] if history.val_metric else None
    return {"options": options, "validation": val, "held_out": report["held_out"],
            "epochs": report["epochs"], "stop_reason": report["stop_reason"], "model": model}


def sweep(args: argparse.Namespace) -> int:
    spec = read_spec(args.spec)
    base = _base_options(args, spec)
    os.makedirs(args.out_dir, exist_ok=True)
    log, best_path = os.path.join(args.out_dir, "results.jsonl"), os.path.join(args.out_dir, "best.dp")
    settings = {name: getattr(base, name) for name in ("data", "target", "task", "one_hot", *SETTINGS)}
    done = _finished(log, settings)
    candidates = trials(spec, base.seed)
    todo = [t for t in candidates if _key(t) not in done]
    results = [done[_key(t)] for t in candidates if _key(t) in done]
    best = max(results, key=_score, default=None)
    if best is not None and not os.path.exists(best_path) and _score(best) > -np.inf:
        todo.insert(0, best["options"])  # the best so far ran before best.dp was written
        results.remove(best)
        best = max(results, key=_score, default=None)
    for result in _run_all(base, todo, args):
        model = result.pop("model")
        if _key(result["options"]) not in done:
            with open(log, "a", encoding="utf-8") as stream:  # one line per finished trial
                stream.write(json.dumps(finite_json({**result, "settings": settings})) + "\n")
        results.append(result)
        if model is not None and _score(result) > _score(best):
            best = result
            model.save(best_path)  # as soon as it is the best: a crash later keeps it
    ranked = sorted(results, key=_score, reverse=True)
    _write_csv(os.path.join(args.out_dir, "results.csv"), ranked)
    failed = [r for r in ranked if r.get("error")]
    report = {"command": "sweep", "trials": len(ranked), "ran": len(todo),
              "skipped": len(ranked) - len(todo), "failed": len(failed),
              "best": ranked[0] if ranked else None, "out_dir": args.out_dir}
    emit(args, report, _table(ranked, report["skipped"]))
    return 0


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
    return base


def _finished(log: str, settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Trials already in the log with the same data and settings, by their options (a torn
    last line is ignored)."""
    done: dict[str, dict[str, Any]] = {}
    if os.path.exists(log):
        with open(log, encoding="utf-8") as stream:
            for line in stream:
                try:
                    result = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if result.pop("settings", None) == finite_json(settings):
                    done[_key(result["options"])] = result
    return done


def _key(options: dict[str, Any]) -> str:
    return json.dumps(options, sort_keys=True)


def _score(result: dict[str, Any] | None) -> float:
    """The validation score; -inf for none (a failed trial)."""
    value = None if result is None else result.get("validation")
    return float(value) if value is not None and np.isfinite(value) else -np.inf


def _write_csv(path: str, ranked: list[dict[str, Any]]) -> None:
    names = sorted({name for result in ranked for name in result["options"]})
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["rank", *names, "validation", "held_out_metric", "held_out", "epochs",
                         "stop_reason", "error"])
        for rank, result in enumerate(ranked, 1):
            metric, value = next(iter((result.get("held_out") or {None: None}).items()))
            writer.writerow([rank, *(result["options"].get(n) for n in names), result["validation"],
                             metric, value, result["epochs"], result["stop_reason"],
                             result.get("error", "")])


def _table(ranked: list[dict[str, Any]], skipped: int) -> str:
    lines = [f"{len(ranked)} trials ({skipped} from an earlier run), best first:"]
    for rank, result in enumerate(ranked[:20], 1):
        options = ", ".join(f"{k}={v}" for k, v in sorted(result["options"].items()))
        val = "nan" if result["validation"] is None else f"{result['validation']:.4f}"
        lines.append(f"{rank:>3}. validation {val}  {options}")
    return "\n".join(lines)
