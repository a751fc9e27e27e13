"""Restarts: the notes' answer to local minima. Train from several random initializations and
keep the parameters with the lowest final loss.

Each run is a pure function of the network's starting state, its seed and the data, so the runs
can go to other processes: with ``n_jobs`` they are handed to joblib, whose active backend
decides where they run (local processes by default; a Dask cluster under
``joblib.parallel_config(backend="dask")``). Serial and parallel runs give identical results.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from deltaprop.callbacks.stopping import TimeLimit
from deltaprop.evaluation import evaluate_arrays
from deltaprop.files.codec import MAX_CHILDREN_SPAWNED
from deltaprop.history import History
from deltaprop.optim import Optimizer

Array = np.ndarray


class Restartable(Protocol):
    """What restarts read of a network (a :class:`~deltaprop.network.Network`)."""

    loss: Any
    rng: np.random.Generator
    restart_seeds: np.random.SeedSequence

    def initialize(self, rng: np.random.Generator) -> None: ...

    def set_rng(self, rng: np.random.Generator) -> None: ...

    def snapshot(self) -> Any: ...

    def restore(self, state: Any) -> None: ...

    def weight_penalty(self, l2: float, l1: float = 0.0) -> float: ...


@dataclass
class RunResult:
    """What one run leaves: its summary (with its History), score and, if kept, its state."""

    record: dict[str, Any]
    score: float
    state: Any = None  # Network.snapshot() of the run's final parameters
    rng: np.random.Generator | None = None
    optimizer: Optimizer | None = None


def fit_restarts(net: Restartable, optimizer: Optimizer, make_trainer: Any, restarts: int,
                 n_jobs: int | None = None) -> History:
    """Run ``restarts`` trainings from different initializations; keep the best parameters.

    Parameters
    ----------
    net : Network
        Run 0 trains from its current parameters; at the end it holds the best run's
        parameters, BatchNorm statistics and random generator.
    optimizer : Optimizer
        Every run starts from a reset copy; at the end it holds the best run's state.
    make_trainer : TrainerFactory
        Makes each run's Trainer; its ``source`` holds the data (X, Y, w) and the validation
        data. Runs are scored by the final validation loss if there is validation data, else by
        the final training loss (with weight decay) over all training data in evaluation mode,
        both weighted by ``w`` if given; a non-finite score counts as infinitely bad.
    restarts : int
    n_jobs : int or None
        Runs at once through joblib (None: joblib's active setting, 1 without one).

    Notes
    -----
    The seeds of runs 1, 2, ... are spawned from the network's ``restart_seeds``, so they do
    not depend on run 0, and repeated calls explore new starting points, reproducibly. A
    ``time_limit`` covers all runs: serially, the runs after the one that hit it are not
    started; in parallel, every run shares one deadline, and the runs that met it in their first
    epoch (they started too late) are dropped.
    """
    assert net.loss is not None
    seeds = _restart_seeds(net, restarts)
    args = (make_trainer,)
    jobs = effective_jobs(n_jobs)
    if jobs == 1:
        results = _serial_runs(net, optimizer, seeds, args)
    else:
        results = _parallel_runs(net, optimizer, seeds, args, jobs)
    best = min(range(len(results)), key=lambda r: (results[r].score, r))
    kept = results[best]
    net.restore(kept.state)
    assert kept.rng is not None and kept.optimizer is not None
    net.set_rng(kept.rng)
    optimizer.__dict__.update(kept.optimizer.__dict__)
    runs = [result.record for result in results]
    history: History = runs[best]["history"]
    history.restarts, history.best_restart = runs, best
    if runs[-1]["stop_reason"] == "interrupted":  # Ctrl-C ends the restarts, not one run only
        history.stop_reason = "interrupted"
        history.stop_message = (f"interrupted (Ctrl-C) in run {runs[-1]['run']}; the best of the "
                                f"{len(runs)} runs so far (run {best}) was kept")
    return history


def _restart_seeds(net: Restartable, restarts: int) -> Iterator[np.random.SeedSequence | None]:
    """None (run 0 keeps the network's own start), then the seeds of runs 1, 2, ...: the
    children ``net.restart_seeds.spawn(restarts - 1)`` would give, made one at a time so that
    a huge ``restarts`` allocates nothing up front; the root is advanced past all of them at
    once, so the next call explores new starting points whether or not every run ran."""
    root = net.restart_seeds
    first, last = root.n_children_spawned, root.n_children_spawned + restarts - 1
    if last > MAX_CHILDREN_SPAWNED:  # NumPy counts a seed's children in 32 bits
        raise ValueError(f"restarts={restarts} would take this network's restart seeds past "
                         f"{MAX_CHILDREN_SPAWNED:,} ({first:,} used so far); ask for fewer")
    net.restart_seeds = np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key,
                                               pool_size=root.pool_size, n_children_spawned=last)
    yield None
    for i in range(first, last):
        yield np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, i), pool_size=root.pool_size)


def run_once(net: Restartable, optimizer: Optimizer, run: int, seed: np.random.SeedSequence | None,
             make_trainer: Any, in_worker: bool = False) -> RunResult:
    """Train ``net`` once (re-initialized from ``seed`` unless None) with a reset copy of
    ``optimizer``; return the run's record, score and final state."""
    if in_worker:  # own copies, also where workers are threads sharing the arguments
        net = copy.deepcopy(net)
        make_trainer = dataclasses.replace(make_trainer, callbacks=copy.deepcopy(make_trainer.callbacks))
    if seed is not None:
        init_seed, train_seed = seed.spawn(2)
        net.initialize(np.random.default_rng(init_seed))
        net.set_rng(np.random.default_rng(train_seed))
    run_optimizer = copy.deepcopy(optimizer)
    run_optimizer.reset()
    trainer = make_trainer(run, net, run_optimizer)
    trainer.in_worker = in_worker
    history = trainer.run()
    assert net.loss is not None
    data, validation = make_trainer.source, make_trainer.source.validation
    train_loss = (evaluate_arrays(net, net.loss, data.X, data.Y, data.w)[0]  # type: ignore[arg-type]
                  + net.weight_penalty(make_trainer.l2, make_trainer.l1))
    val_loss = (evaluate_arrays(net, net.loss, *validation)[0]  # type: ignore[arg-type]
                if validation is not None else None)
    record = {"run": run, "loss": train_loss, "val_loss": val_loss, "epochs": history.n_epochs,
              "stop_reason": history.stop_reason, "history": history}
    score = val_loss if val_loss is not None else train_loss
    return RunResult(record, score if math.isfinite(score) else math.inf, net.snapshot(),
                     copy.deepcopy(net.rng), run_optimizer)


def _serial_runs(net: Restartable, optimizer: Optimizer, seeds: Iterable[Any],
                 args: tuple) -> list[RunResult]:
    results: list[RunResult] = []
    best_score = math.inf
    for run, seed in enumerate(seeds):
        result = run_once(net, optimizer, run, seed, *args)
        if run > 0 and not result.score < best_score:
            result.state = result.rng = result.optimizer = None  # only the best run's is kept
        else:
            best_score = result.score
            for earlier in results:
                earlier.state = earlier.rng = earlier.optimizer = None
        results.append(result)
        if result.record["stop_reason"] in ("time_limit", "interrupted"):  # no more runs
            break
    return results


def _parallel_runs(net: Restartable, optimizer: Optimizer, seeds: Iterable[Any], args: tuple,
                   jobs: int) -> list[RunResult]:
    import joblib

    for callback in args[0].callbacks:
        if isinstance(callback, TimeLimit):
            callback.start()  # one wall-clock deadline for every run, wherever it runs
    tasks = (joblib.delayed(run_once)(net, optimizer, run, seed, *args, in_worker=True)
             for run, seed in enumerate(seeds))
    results: list[RunResult] = list(joblib.Parallel(n_jobs=jobs)(tasks))
    # Runs that met the deadline in their first epoch started after the budget ran out: serially
    # they would not have run. Run 0 always counts.
    return [result for result in results if result.record["run"] == 0
            or not (result.record["stop_reason"] == "time_limit" and result.record["epochs"] == 1)]


def check_n_jobs(n_jobs: Any) -> None:
    """Raise unless ``n_jobs`` is None or a nonzero integer."""
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer))
                               or n_jobs == 0):
        raise ValueError(f"n_jobs must be None or a nonzero integer (-1: every core), got {n_jobs!r}")


def effective_jobs(n_jobs: int | None) -> int:
    """How many runs at once: ``n_jobs`` as joblib reads it (None: its active configuration);
    1 without joblib unless more were asked for."""
    check_n_jobs(n_jobs)
    try:
        import joblib
    except ImportError:
        if n_jobs in (None, 1):
            return 1
        raise ImportError(
            f"n_jobs={n_jobs} runs restarts through joblib, which is not installed: "
            "pip install 'deltaprop[parallel]'"
        ) from None
    return int(joblib.effective_n_jobs(n_jobs))


def wall_clock() -> float:
    """Seconds since the epoch: comparable between the processes of one machine."""
    return time.time()
