"""Auto-fit: an MLP trained without hand tuning, with a report of what was chosen and why.

The recipe, each step one of the notes' lessons:

1. standardize the inputs (and a regression's targets) on the training rows;
2. hold out a validation split (stratified for classes) for early stopping, the best
   epoch's weights restored, and for every choice below;
3. for each network on the ladder :data:`LADDER` (one or two hidden ReLU layers of 32 to 256
   units), find the learning rate with the range test (:func:`~deltaprop.tuning.lr_find`), and
   train it with Adam at that rate, early stopping on the validation loss;
4. keep the rung with the lowest validation loss (smoother than accuracy on small splits);
5. train it again from a few other initializations (restarts);
6. train each run again on every row (the validation rows too), from its initialization, for
   the epochs early stopping kept (``refit``): a small data set cannot spare a fifth of its rows;
7. return the runs as one network that averages their logits
   (:func:`~deltaprop.tuning.ensemble.average_networks`).

Steps 6 and 7 are there by measurement (``benchmarks/auto_bench.py``, 3 splits each): without
them auto_fit lost to scikit-learn's ``MLPClassifier()`` on wine, iris, breast_cancer and
digits; refitting raised wine from 0.933 to 0.978 and iris from 0.904 to 0.921, averaging the
runs raised diabetes' R^2 from 0.34 to 0.40 and digits from 0.980 to 0.983.

Every fit shares one time budget; a rung or restart that would start after it is skipped, and
the report says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deltaprop._validation import check_count, check_flag, check_fraction, check_positive
from deltaprop.evaluation import evaluate
from deltaprop.files.model import Model
from deltaprop.mlp import MLP
from deltaprop.optim import Adam
from deltaprop.tuning.data import Split, arrays, check_inputs, preprocessing_for, validation_parts
from deltaprop.tuning.ensemble import average_networks
from deltaprop.tuning.lr_find import lr_find

Array = np.ndarray
# Hidden widths tried, smallest first (a tie goes to the smaller network).
LADDER: tuple[tuple[int, ...], ...] = ((32,), (128,), (256,), (64, 64), (256, 256))
MAX_EPOCHS = 400
# Epochs without a better validation loss; 50 scored the same held out on breast_cancer, iris,
# digits, wine, diabetes and moons (3 splits each) and took longer.
PATIENCE = 25
ENSEMBLE = True  # False: return the best run alone (how the measurement without averaging ran)
LADDER_SHARE = 0.75  # of the time budget; the restarts get the rest
# Adam's rates are held to this range: on small data the range test's minimum is noisy (it once
# suggested 3e-5 for 256,256 units on spirals, which stopped early at 56% validation accuracy).
# The best of 11 rates over 30 epochs lay between 3e-3 and 1 on eight data sets; above 0.1 only
# the 2-D toys gained, and with early stopping over up to 400 epochs a lower rate costs time,
# not the result. (Caps of 3e-3 and 1e-2 scored within one test row per split on breast_cancer,
# wine, iris and digits, and within 0.025 R^2 on diabetes.)
LR_RANGE = (3e-4, 0.1)
# The ladder judged on one validation split by default. Judging it over 3 folds (each rung
# trained on each fold, the fold runs then the restarts) was measured against one split on the
# ten bundled data sets, 20 paired seeds each, against scikit-learn's defaults: 3 folds did
# better on sine (+0.005 R^2), iris (+0.003) and breast_cancer (+0.001), worse on spirals
# (-0.027), blobs (-0.005) and wine (-0.007), and left more data sets behind scikit-learn
# (blobs, wine, breast_cancer against iris, breast_cancer). So ``folds`` is an option.
FOLDS = 1


@dataclass
class Trial:
    """One network trained: its hidden widths, rate, seed and what it scored on validation."""

    hidden: tuple[int, ...]
    lr: float
    seed: int
    val_loss: float
    val_score: float
    epochs: int
    best_epoch: int | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"hidden": list(self.hidden), "lr": self.lr, "seed": self.seed,
                "val_loss": self.val_loss, "val_score": self.val_score, "epochs": self.epochs,
                "best_epoch": self.best_epoch, "seconds": self.seconds}


@dataclass
class AutoReport:
    """What :func:`auto_fit` chose and why.

    Attributes
    ----------
    task : {"classify", "regress"}
    metric : {"accuracy", "r2"}
        The validation score of every trial (``val_score``).
    ladder : list of Trial
        One per rung tried, with its learning rate from the range test.
    restarts : list of Trial
        The chosen rung trained again from other initializations.
    chosen : Trial
        The run with the lowest validation loss: the settings chosen (the network returned
        averages every run of its rung whose loss stayed finite).
    reasons : list of str
        One line per choice, with its measured figure.
    seconds : float
    """

    task: str
    metric: str
    ladder: list[Trial] = field(default_factory=list)
    restarts: list[Trial] = field(default_factory=list)
    chosen: Trial | None = None
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON."""
        return {"task": self.task, "metric": self.metric,
                "ladder": [t.to_dict() for t in self.ladder],
                "restarts": [t.to_dict() for t in self.restarts],
                "chosen": None if self.chosen is None else self.chosen.to_dict(),
                "reasons": list(self.reasons), "seconds": self.seconds}

    def __str__(self) -> str:
        return "\n".join(self.reasons)


def auto_fit(X: Any, y: Any, *, task: str | None = None, time_budget: float = 120.0,
             validation_fraction: float = 0.2, restarts: int = 3, seed: int = 0,
             ladder: Sequence[Sequence[int]] = LADDER, max_epochs: int = MAX_EPOCHS,
             refit: bool = True, folds: int = FOLDS, feature_names: Sequence[str] | None = None,
             categories: dict[str, list[str]] | None = None,
             target_names: Sequence[str] | None = None) -> tuple[Model, AutoReport]:
    """Train an MLP on (X, y) with settings chosen by measurement; return it and the report.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
        Numbers, finite; standardized here (the model standardizes new rows the same way).
    y : array-like, shape (n_samples,)
        Class labels (classify) or numbers (regress).
    task : {"classify", "regress"}, optional
        Default: classify for text labels or a whole-number target with at most 20 values.
    time_budget : float
        Seconds for the whole search (a guide: the fit under way when it runs out finishes its
        epoch).
    validation_fraction : float in (0, 1)
        Held out for early stopping and the choices.
    restarts : int
        Runs of the chosen network in all (its ladder runs included: over k folds its k fold
        runs, the best ``restarts`` of them when k is larger), averaged into the one returned.
    seed : int
        Seeds the split, the weights and the minibatches.
    ladder : sequence of sequences of int
        The hidden widths to try, smallest first (default :data:`LADDER`).
    max_epochs : int
        Per training; early stopping usually ends it sooner.
    refit : bool
        Train the chosen network once more on every row (the validation rows too), from the
        kept run's initialization, for its best number of epochs: the validation rows are
        data a small data set cannot spare (see the notes of ``benchmarks/auto_bench.py``).
    folds : int
        1 (default, :data:`FOLDS`): the ladder judged on one split of ``validation_fraction``.
        k > 1: by k-fold cross-validation: each rung trained on k folds and judged by the
        folds' mean validation loss, the chosen rung's fold runs then being its restarts.
    feature_names, categories, target_names : optional
        Stored in the model's :class:`~deltaprop.data.preprocessing.Preprocessing` (what
        ``deltaprop train`` knows of a table: its columns, one-hot text columns and target name),
        so that the model takes rows by column name; checked before any training.

    Returns
    -------
    model : Model
        Predicts from raw rows (``model.predict(X)``, ``model.score(X, y)``).
    report : AutoReport

    Examples
    --------
    >>> import deltaprop as dp
    >>> from deltaprop.tuning import auto_fit
    >>> data = dp.datasets.load("iris")
    >>> model, report = auto_fit(data.X, data.y, time_budget=10)   # doctest: +SKIP
    >>> print(report)                                               # doctest: +SKIP
    """
    start = time.perf_counter()
    X, labels, task = check_inputs(X, y, task)
    budget = check_positive("time_budget", time_budget)
    fraction = check_fraction("validation_fraction", validation_fraction)
    if fraction == 0:  # (checked though folds may not use it: an error does not hide behind them)
        raise ValueError("validation_fraction must be in (0, 1): a share of the rows held out, got 0")
    restarts = check_count("restarts", restarts)
    rungs = _check_ladder(ladder)
    epochs = check_count("max_epochs", max_epochs)
    refit = check_flag("refit", refit)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {seed!r}")
    rng = np.random.default_rng(seed)
    parts = validation_parts(labels, task, fraction, check_count("folds", folds), rng)
    # one split: standardized on its training rows; folds: on every row (each is trained on)
    preprocessing = preprocessing_for(X[parts[0][0]] if len(parts) == 1 else X, labels, task)
    preprocessing.feature_names = None if feature_names is None else [str(n) for n in feature_names]
    preprocessing.categories = dict(categories or {})
    preprocessing.target_names = None if target_names is None else [str(n) for n in target_names]
    preprocessing.__post_init__()  # the names checked, before any training
    preprocessing.check_fits(X.shape[1], 1 if task == "regress" else len(np.unique(labels)))
    splits = [arrays(X, labels, preprocessing, train, val) for train, val in parts]
    report = AutoReport(task, "accuracy" if task == "classify" else "r2")
    deadline = start + budget
    search = _Search(splits, report, rungs, epochs)
    runs, rung = search.climb(int(seed), start + LADDER_SHARE * budget)
    runs = search.restart(runs, rung, restarts, deadline)
    # over folds the chosen rung's mean; on one split its best run (restarts included)
    best = rung if len(splits) > 1 else min((trial for _, trial in runs), key=lambda t: t.val_loss)
    report.chosen = best
    net = _combine(search, runs, refit)
    report.seconds = time.perf_counter() - start
    model = Model(net, preprocessing, summary={"auto": True, "hidden": list(best.hidden),
                                               "lr": best.lr, "val_score": best.val_score})
    return model, report


# -- the search ----------------------------------------------------------------------------------
def _check_ladder(ladder: Any) -> list[tuple[int, ...]]:
    if isinstance(ladder, (str, bytes)) or not isinstance(ladder, Sequence) or not ladder:
        raise TypeError(f"ladder must be a list of hidden widths like [(32,), (64, 64)], got {ladder!r}")
    rungs = []
    for i, rung in enumerate(ladder):
        if isinstance(rung, (str, bytes)) or not isinstance(rung, Sequence):
            raise TypeError(f"ladder[{i}] must be a list of hidden widths like (64, 64) (or () "
                            f"for none), got {rung!r}")
        rungs.append(tuple(check_count(f"ladder[{i}][{j}]", width) for j, width in enumerate(rung)))
    return rungs


@dataclass
class _Search:
    """The ladder, then the restarts, over one split or k folds, writing to one report."""

    splits: list[Split]
    report: AutoReport
    ladder: list[tuple[int, ...]]
    max_epochs: int

    def climb(self, seed: int, deadline: float) -> tuple[list[tuple[MLP, Trial]], Trial]:
        """Train each rung of the ladder (once per fold); return the runs of the best rung and
        its trial (over folds: the folds' mean validation loss and score)."""
        best_runs: list[tuple[MLP, Trial]] = []
        best: Trial | None = None
        for i, hidden in enumerate(self.ladder):
            left = deadline - time.perf_counter()
            if i > 0 and left <= 0:
                self.report.reasons.append(f"ladder: the time budget ran out before hidden "
                                           f"{_widths(hidden)} and the rungs after it")
                break
            runs = self.rung(hidden, seed, max(left / (len(self.ladder) - i), 1.0))
            trial = _over_folds([trial for _, trial in runs])
            self.report.ladder.append(trial)
            self.report.reasons.append(
                f"ladder: hidden {_widths(hidden)}, lr {trial.lr:.3g} (range test): validation "
                f"loss {trial.val_loss:.4f}, {self.report.metric} {trial.val_score:.4f}{self._of()}, "
                f"best epoch {trial.best_epoch} of {trial.epochs}")
            if best is None or trial.val_loss < best.val_loss:
                best_runs, best = runs, trial
        assert best is not None
        self.report.reasons.append(f"chose hidden {_widths(best.hidden)}: the lowest validation "
                                   f"loss ({best.val_loss:.4f}{self._of()}) on the ladder")
        return best_runs, best

    def rung(self, hidden: tuple[int, ...], seed: int, seconds: float) -> list[tuple[MLP, Trial]]:
        """One rung: its rate from the range test (on the first split), then one run per split,
        fold j from seed + 1000 j."""
        lr = self.rate(hidden, seed)
        share = seconds / len(self.splits)
        return [self.train(hidden, seed + 1000 * j, share, lr, split)
                for j, split in enumerate(self.splits)]

    def restart(self, runs: list[tuple[MLP, Trial]], best: Trial, restarts: int,
                deadline: float) -> list[tuple[MLP, Trial]]:
        """``restarts`` runs of the chosen rung: its runs (over k folds, the k fold runs; the best
        ``restarts`` by validation loss when there are more), then more on the first split from
        other initializations until there are ``restarts``."""
        runs = sorted(runs, key=lambda run: run[1].val_loss)[:restarts] if len(runs) > restarts \
            else list(runs)
        for k in range(len(runs), restarts):
            left = deadline - time.perf_counter()
            if left <= 0:
                self.report.reasons.append(f"restarts: the time budget ran out after {k - 1} "
                                           f"of {restarts - 1}")
                break
            net, trial = self.train(best.hidden, best.seed + 1000 * k, left / (restarts - k),
                                    best.lr, self.splits[0])
            self.report.restarts.append(trial)
            self.report.reasons.append(f"restart {k}: seed {trial.seed}: validation loss "
                                       f"{trial.val_loss:.4f}, {self.report.metric} {trial.val_score:.4f}")
            runs.append((net, trial))
        return runs

    def refit(self, chosen: Trial) -> MLP:
        """The chosen network trained on the training and validation rows together, from the
        same initialization and rate, for the epochs early stopping kept."""
        split = self.splits[0]
        X, Y = np.concatenate([split.X, split.X_val]), np.concatenate([split.Y, split.Y_val])
        net = MLP([X.shape[1], *chosen.hidden, split.n_outputs], activation="relu", seed=chosen.seed)
        epochs = max(chosen.best_epoch or chosen.epochs, 1)
        net.fit(X, Y, loss=split.loss, optimizer=Adam(lr=chosen.lr), epochs=epochs,
                batch_size=_batch_size(split.X.shape[0]))
        return net

    def rate(self, hidden: tuple[int, ...], seed: int) -> float:
        """Adam's rate for these widths: the range test's suggestion on the first split, held
        to :data:`LR_RANGE`."""
        split = self.splits[0]
        net = MLP([split.X.shape[1], *hidden, split.n_outputs], activation="relu", seed=seed)
        found = lr_find(net, split.X, split.Y, loss=split.loss, optimizer=Adam(),
                        batch_size=_batch_size(split.X.shape[0])).suggestion
        return float(np.clip(found, *LR_RANGE))

    def train(self, hidden: tuple[int, ...], seed: int, seconds: float, lr: float,
              split: Split) -> tuple[MLP, Trial]:
        """One network of these widths trained with early stopping on the split's validation
        loss (the best epoch's weights restored)."""
        start = time.perf_counter()
        net = MLP([split.X.shape[1], *hidden, split.n_outputs], activation="relu", seed=seed)
        history = net.fit(split.X, split.Y, loss=split.loss, optimizer=Adam(lr=lr),
                          epochs=self.max_epochs, batch_size=_batch_size(split.X.shape[0]),
                          validation_data=(split.X_val, split.Y_val), early_stopping=PATIENCE,
                          time_limit=seconds)
        val_loss, val_score = _validation(net, split)
        return net, Trial(hidden, float(lr), seed, val_loss, val_score, history.n_epochs,
                          history.best_epoch, time.perf_counter() - start)

    def _of(self) -> str:
        return f", mean of {len(self.splits)} folds" if len(self.splits) > 1 else ""


def _over_folds(trials: list[Trial]) -> Trial:
    """One trial for a rung trained on several folds: the first fold's seed, the mean validation
    loss and score, the mean epochs (rounded)."""
    if len(trials) == 1:
        return trials[0]
    best_epochs = [t.best_epoch for t in trials if t.best_epoch is not None]
    return Trial(trials[0].hidden, trials[0].lr, trials[0].seed,
                 float(np.mean([t.val_loss for t in trials])),
                 float(np.mean([t.val_score for t in trials])),
                 round(float(np.mean([t.epochs for t in trials]))),
                 round(float(np.mean(best_epochs))) if best_epochs else None,
                 sum(t.seconds for t in trials))


def _combine(search: _Search, runs: list[tuple[MLP, Trial]], refit: bool) -> MLP:
    """The returned network: each finite run (refit on every row if asked), their logits
    averaged into one network when there are several."""
    kept = [(net, trial) for net, trial in runs if math.isfinite(trial.val_loss)] or runs[:1]
    report = search.report
    if refit:
        nets = [search.refit(trial) for _, trial in kept]
        report.reasons.append(f"refit: each of the {len(kept)} runs on all "
                              f"{search.splits[0].X.shape[0] + search.splits[0].X_val.shape[0]} rows "
                              "(validation rows too), from its initialization, for its best epochs")
    else:
        nets = [net for net, _ in kept]
    if len(nets) == 1 or not ENSEMBLE:
        best = min(range(len(kept)), key=lambda i: kept[i][1].val_loss)
        report.reasons.append(f"kept: the run of seed {kept[best][1].seed}")
        return nets[best]
    report.reasons.append(f"kept: the {len(nets)} runs (seeds "
                          f"{', '.join(str(t.seed) for _, t in kept)}) averaged into one network "
                          "(the mean of their logits; see deltaprop.tuning.ensemble)")
    return average_networks(nets)


def _validation(net: MLP, split: Split) -> tuple[float, float]:
    """Validation loss (infinite when not finite) and accuracy or R^2."""
    loss, score = evaluate(net, split.X_val, split.Y_val, loss=split.loss)
    return (float(loss) if math.isfinite(loss) else math.inf), float(score)


def _batch_size(n_rows: int) -> int:
    """32 rows a step up to 2,000 rows (many steps an epoch on small data), then up to 128:
    an epoch of 10,000 rows in 80 steps rather than 313."""
    return int(min(128, max(32, n_rows // 64)))


def _widths(hidden: tuple[int, ...]) -> str:
    return ",".join(map(str, hidden)) or "none (a linear model)"
