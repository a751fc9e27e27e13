"""Held-out scores of deltaprop's estimators beside scikit-learn's, per solver and data set.

For each bundled data set, each solver and each seed: a 70/30 split (stratified for the
classifiers), a StandardScaler and the estimator in a pipeline, the same parameters for both
libraries (hidden layers, max_iter, learning_rate_init for the stochastic solvers, random_state
the seed). Prints one markdown row per (data set, solver): mean and standard deviation of the
held-out accuracy (R^2 for the regressors) of each library over the seeds, and the paired mean
difference with its standard error.

    python benchmarks/sklearn_side_by_side.py [--seeds 20] [--solvers adam,lbfgs]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import sklearn.neural_network as sk
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_linnerud,
    load_wine,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from deltaprop.sklearn import MLPClassifier, MLPRegressor


def linnerud_standardized() -> tuple[np.ndarray, np.ndarray]:
    """linnerud's three targets on one scale (their variances differ 100-fold)."""
    X, y = load_linnerud(return_X_y=True)
    return X, (y - y.mean(axis=0)) / y.std(axis=0)


DATASETS: dict[str, tuple[Callable[[], Any], str, tuple[int, ...]]] = {
    "iris": (lambda: load_iris(return_X_y=True), "classifier", (16,)),
    "wine": (lambda: load_wine(return_X_y=True), "classifier", (16,)),
    "breast_cancer": (lambda: load_breast_cancer(return_X_y=True), "classifier", (16,)),
    "digits": (lambda: load_digits(return_X_y=True), "classifier", (64,)),
    "diabetes": (lambda: load_diabetes(return_X_y=True), "regressor", (32,)),
    "linnerud": (linnerud_standardized, "regressor", (16,)),
}
CLASSES = {"classifier": (sk.MLPClassifier, MLPClassifier), "regressor": (sk.MLPRegressor, MLPRegressor)}


def held_out_scores(name: str, solver: str, seeds: range, max_iter: int) -> dict[str, np.ndarray]:
    """Each library's held-out score per seed, over the same splits and parameters."""
    load, kind, hidden = DATASETS[name]
    X, y = load()
    scores: dict[str, list[float]] = {"sklearn": [], "deltaprop": []}
    for seed in seeds:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.3, random_state=seed, stratify=y if kind == "classifier" else None)
        for library, cls in zip(("sklearn", "deltaprop"), CLASSES[kind]):
            params: dict[str, Any] = {"hidden_layer_sizes": hidden, "max_iter": max_iter,
                                      "solver": solver, "random_state": seed}
            if solver != "lbfgs":
                params["learning_rate_init"] = 0.01
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # either library, at max_iter
                model = make_pipeline(StandardScaler(), cls(**params)).fit(X_train, y_train)
            scores[library].append(model.score(X_test, y_test))
    return {library: np.array(values) for library, values in scores.items()}


def row(name: str, solver: str, scores: dict[str, np.ndarray], seconds: float) -> str:
    """One markdown row: each library's mean (std), the paired difference (standard error)."""
    difference = scores["deltaprop"] - scores["sklearn"]
    error = difference.std(ddof=1) / np.sqrt(difference.size) if difference.size > 1 else float("nan")
    metric = "accuracy" if DATASETS[name][1] == "classifier" else "R^2"
    cells = [name, solver, metric,
             f"{scores['sklearn'].mean():.4f} ({scores['sklearn'].std(ddof=1):.4f})",
             f"{scores['deltaprop'].mean():.4f} ({scores['deltaprop'].std(ddof=1):.4f})",
             f"{difference.mean():+.4f} ({error:.4f})", f"{seconds:.0f}"]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds (splits and initializations)")
    parser.add_argument("--solvers", default="adam,lbfgs", help="comma-separated solvers")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated data sets")
    parser.add_argument("--max-iter", type=int, default=200, help="max_iter of both libraries")
    args = parser.parse_args(argv)
    print(f"Held-out score over {args.seeds} seeds (70/30 splits), max_iter={args.max_iter}; "
          "mean (standard deviation); difference = deltaprop - scikit-learn, paired by seed "
          "(standard error)\n")
    print("| data set | solver | score | scikit-learn | deltaprop | difference | seconds |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for name in args.datasets.split(","):
        for solver in args.solvers.split(","):
            start = time.perf_counter()
            scores = held_out_scores(name, solver, range(args.seeds), args.max_iter)
            print(row(name, solver, scores, time.perf_counter() - start), flush=True)


if __name__ == "__main__":
    main()
