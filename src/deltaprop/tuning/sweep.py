"""Sweeps: grid or random search over training options, every trial trained with the library's
``fit``, run through joblib (local processes, or a Dask cluster), ranked by the validation
split's score.

:func:`sweep` is the whole of it on arrays. Its parts are shared with ``deltaprop sweep``, whose
trials read their data from a file and whose results are saved as they finish:
:mod:`deltaprop.tuning.sweepspec` checks the spec and makes the trials, :func:`run_trials`
runs them, :func:`check_combinations` refuses a value no trial can use, and
:class:`SweepResult` ranks them and shows the table.

The estimator route is scikit-learn's own search over deltaprop's estimators::

    from sklearn.model_selection import GridSearchCV
    from deltaprop.sklearn import MLPClassifier

    search = GridSearchCV(MLPClassifier(max_iter=50),
                          {"hidden_layer_sizes": [(16,), (32, 16)],
                           "learning_rate_init": [1e-3, 1e-2]}, cv=3)
    search.fit(X, y)          # search.best_params_, search.best_estimator_

(cross-validated, scikit-learn's parameter names); :func:`sweep` takes ``deltaprop train``'s
options and the same spec as ``deltaprop sweep``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np

from deltaprop.files.model import Model
from deltaprop.training.restarts import check_n_jobs
from deltaprop.tuning.options import DEFAULTS, check_combination, check_option, task_loss
from deltaprop.tuning.sweepspec import SETTINGS, VAL_FRACTION, check_spec, distinct, trials
from deltaprop.tuning.trial import SweepData, SweepTrial, fit_trial, sweep_data

T = TypeVar("T")
SHOWN = 20  # trials the table shows, of the best and of the failed ones
REASON_WIDTH = 100


@dataclass
class SweepResult:
    """A sweep's trials, best first, and the best trial's model.

    Attributes
    ----------
    trials : list of SweepTrial
        Every trial, ranked by validation score, best first; the failed ones (no score, or a
        diverged one's NaN) last, each with its ``error`` or ``stop_reason``.
    best_model : Model or None
        The best trial's model (the network with its standardization and classes:
        ``best_model.predict(X)``, ``best_model.net``); None when no trial succeeded.
    reused : int
        Trials taken from an earlier run (``deltaprop sweep`` resuming), not run again.
    set_aside : int
        Earlier results set aside (other data) and run again.
    """

    trials: list[SweepTrial]
    best_model: Model | None = None
    reused: int = 0
    set_aside: int = 0

    @classmethod
    def ranked(cls, results: Sequence[SweepTrial], best_model: Model | None = None,
               **counts: int) -> SweepResult:
        """``results`` best first (a stable sort: ties keep their order)."""
        return cls(sorted(results, key=lambda t: t.score, reverse=True), best_model, **counts)

    @property
    def succeeded(self) -> list[SweepTrial]:
        return [t for t in self.trials if not t.failed]

    @property
    def failed(self) -> list[SweepTrial]:
        return [t for t in self.trials if t.failed]

    @property
    def best_trial(self) -> SweepTrial | None:
        """The trial with the best validation score (None when every trial failed)."""
        return self.trials[0] if self.trials and not self.trials[0].failed else None

    @property
    def best(self) -> dict[str, Any] | None:
        """The best trial's options (None when every trial failed)."""
        return None if self.best_trial is None else self.best_trial.options

    def table(self, shown: int = SHOWN, everything: str = "SweepResult.trials") -> str:
        """The best ``shown`` trials, then the failed ones with their reasons (on one short
        line each); ``everything`` names where the trials left out are."""
        succeeded, failed = self.succeeded, self.failed
        aside = (f"; {self.set_aside} earlier results set aside and run again: the data "
                 "changed" if self.set_aside else "")
        lines = [f"{len(self.trials)} trials ({self.reused} from an earlier run{aside}), "
                 f"{len(failed)} failed, best first:"]
        for rank, trial in enumerate(succeeded[:shown], 1):
            lines.append(f"{rank:>3}. validation {trial.validation:.4f}  {_options_text(trial)}")
        if len(succeeded) > shown:
            lines.append(f"     ... {len(succeeded) - shown} more in {everything}")
        for rank, trial in enumerate(failed[:shown], len(succeeded) + 1):
            lines.append(f"{rank:>3}. failed: {_reason(trial)}  {_options_text(trial)}")
        if len(failed) > shown:
            lines.append(f"     ... {len(failed) - shown} more failed; {everything} has every reason")
        return "\n".join(lines)

    def rows(self) -> list[list[Any]]:
        """Every trial as a table's rows, best first, after a header: rank, each option,
        validation, held-out metric and score, epochs, stop reason, error (a CSV file's rows)."""
        names = sorted({name for trial in self.trials for name in trial.options})
        rows: list[list[Any]] = [["rank", *names, "validation", "held_out_metric", "held_out",
                                  "epochs", "stop_reason", "error"]]
        for rank, trial in enumerate(self.trials, 1):
            metric, value = next(iter(trial.held_out.items())) if trial.held_out else (None, None)
            rows.append([rank, *(trial.options.get(n) for n in names), trial.validation, metric,
                         value, trial.epochs, trial.stop_reason, trial.error or ""])
        return rows

    def __str__(self) -> str:
        return self.table()


def sweep(spec: dict[str, Any], X: Any, y: Any, *, task: str | None = None, seed: int = 0,
          n_jobs: int | None = 1, scheduler: Any = None) -> SweepResult:
    """Train every trial of ``spec`` on ``X``, ``y``; the trials ranked and the best model.

    Parameters
    ----------
    spec : dict
        The search, as ``deltaprop sweep``'s JSON file holds it: ``{"search": "grid" |
        "random", "trials": N, "params": {option: [values, ...]}, "epochs": .., "val_fraction":
        .., "early_stopping": .., "seed": .., "test_fraction": ..}``. Options searched: hidden
        (widths as text, ``"32,16"``), activation, lr, l2, batch_size, batch_norm, dropout,
        optimizer, momentum, init, loss; the others keep ``deltaprop train``'s defaults
        (:data:`deltaprop.tuning.options.DEFAULTS`), with a validation split of 0.2.
    X : array-like of shape (n_samples, n_features)
        Numbers (standardized in each trial with its training rows' statistics).
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Class labels of any type, or regression targets.
    task : {"classify", "regress"} or None
        None: classify text labels or one column of at most 20 whole numbers, else regress.
    seed : int
        Draws the random search's trials and seeds each trial's split and initialization
        (the spec's ``"seed"``, if it has one, takes precedence, as in ``deltaprop sweep``).
    n_jobs : int or None
        Trials run at once by joblib (-1: every core; None or 1: one after another).
    scheduler : str or distributed.Client or None
        A Dask scheduler's address (``"tcp://host:8786"``) or client: the trials run on its
        workers.

    Returns
    -------
    SweepResult
        ``.trials`` ranked best first (options, validation and held-out scores, epochs,
        seconds, the failures with their reasons), ``.best`` the best options,
        ``.best_model`` its trained model, ``.table()`` the ranking as text. The same spec and
        data give the same results as ``deltaprop sweep`` (and the same again each run).

    Raises
    ------
    ValueError
        A bad spec (naming the key or value), a loss that does not fit the task, a value that
        goes with none of the trials holding it, or bad ``X``, ``y``. A trial that cannot
        train, or diverges, is not raised: it is a failed trial of the result.

    See Also
    --------
    sklearn.model_selection.GridSearchCV : the estimator route, cross-validated: a search over
        :class:`deltaprop.sklearn.MLPClassifier` (or ``MLPRegressor``) with scikit-learn's
        parameter names (``hidden_layer_sizes``, ``learning_rate_init``, ``alpha``, ...),
        ``best_params_`` and ``best_estimator_`` (the module's docstring has an example).

    Examples
    --------
    >>> from deltaprop.data.datasets import load
    >>> from deltaprop.tuning.sweep import sweep
    >>> data = load("moons")
    >>> spec = {"params": {"hidden": ["8", "16"], "lr": [0.01, 0.05]}, "epochs": 10}
    >>> result = sweep(spec, data.X, data.y)
    >>> len(result.trials), sorted(result.best)
    (4, ['hidden', 'lr'])
    >>> result.best_model.predict(data.X[:3]).shape
    (3,)
    >>> print(result.table())  # doctest: +ELLIPSIS
    4 trials (0 from an earlier run), 0 failed, best first:
      1. validation 0.9... hidden=..., lr=...
    ...
    """
    check_spec(spec)
    check_n_jobs(n_jobs)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be a whole number, got {seed!r}")
    check_option("seed", int(seed), "seed")
    settings = {**DEFAULTS, "seed": int(seed), "val_fraction": VAL_FRACTION,
                **{name: spec[name] for name in SETTINGS if name in spec}}
    check_combination(settings)  # between the settings (each one checked with the spec)
    data = sweep_data(X, y, task)
    for loss in distinct(spec["params"].get("loss", [DEFAULTS["loss"]])):
        try:
            task_loss(loss, data.task, data.classes)
        except ValueError as error:
            raise ValueError(f"params.loss {loss!r}: {error}") from None
    candidates = trials(spec, settings["seed"])
    check_combinations(candidates, lambda options: check_combination({**settings, **options}))
    return _ranked(candidates, run_trials(partial(fit_trial, data=data, settings=settings),
                                          candidates, n_jobs=n_jobs, scheduler=scheduler))


def _ranked(candidates: list[dict[str, Any]], finished: Iterator[SweepTrial]) -> SweepResult:
    """The trials in the order of the spec (whatever order they finished in: ties rank the
    same on every run), ranked, keeping only the best one's model."""
    order = {_key(options): index for index, options in enumerate(candidates)}
    results: list[SweepTrial] = []
    best: SweepTrial | None = None
    for trial in finished:
        if not trial.failed and (best is None or (trial.score, -order[_key(trial.options)])
                                 > (best.score, -order[_key(best.options)])):
            best = trial
        results.append(trial.without_model())
    results.sort(key=lambda t: order[_key(t.options)])
    return SweepResult.ranked(results, None if best is None else best.model)


def run_trials(trial: Callable[[dict[str, Any]], T], candidates: Sequence[dict[str, Any]], *,
               n_jobs: int | None = 1, scheduler: Any = None) -> Iterator[T]:
    """``trial(options)`` for each of ``candidates`` through joblib, each result as soon as it
    finishes (in any order): ``n_jobs`` at once here, or on the workers of the Dask
    ``scheduler`` (an address or a ``distributed.Client``)."""
    if not candidates:
        return
    import joblib

    tasks = (joblib.delayed(trial)(options) for options in candidates)
    if scheduler is None:
        yield from joblib.Parallel(n_jobs=n_jobs or 1, return_as="generator_unordered")(tasks)
        return
    from distributed import Client

    if isinstance(scheduler, Client):
        with joblib.parallel_config(backend="dask", client=scheduler):
            yield from joblib.Parallel(n_jobs=-1, return_as="generator_unordered")(tasks)
        return
    with Client(scheduler), joblib.parallel_config(backend="dask"):
        yield from joblib.Parallel(n_jobs=-1, return_as="generator_unordered")(tasks)


def check_combinations(candidates: list[dict[str, Any]],
                       check: Callable[[dict[str, Any]], None]) -> None:
    """Refuse a value that goes with none of the trials holding it (momentum where every trial
    uses adam): a bad value. A combination ``check`` refuses where the value works in other
    trials (adam with momentum in a grid over both optimizers) is left to fail as a trial."""
    works: set[tuple[str, str]] = set()
    refused: dict[tuple[str, str], str] = {}
    for options in candidates:
        held = [(name, json.dumps(value, sort_keys=True)) for name, value in options.items()]
        try:
            check(options)
        except ValueError as error:
            for item in held:
                refused.setdefault(item, str(error))
        else:
            works.update(held)
    for (name, value), message in refused.items():
        if (name, value) not in works:
            raise ValueError(f"params.{name} {value[:40]}: {message} (in every trial that holds it)")


def _key(options: dict[str, Any]) -> str:
    return json.dumps(options, sort_keys=True)


def _options_text(trial: SweepTrial) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(trial.options.items()))


def _reason(trial: SweepTrial) -> str:
    """Why a trial has no score, on one line of at most REASON_WIDTH characters."""
    reason = trial.error or f"validation nan ({trial.stop_reason})"
    reason = " ".join(str(reason).split())
    return reason if len(reason) <= REASON_WIDTH else reason[: REASON_WIDTH - 3] + "..."


__all__ = ["SweepData", "SweepResult", "SweepTrial", "check_combinations", "run_trials", "sweep"]
