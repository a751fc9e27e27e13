"""auto_fit against the defaults: held-out score and seconds on every bundled data set.

Three contenders, each trained on the same 75% of the rows and scored on the other 25%
(accuracy for classes, R^2 for regression), for a few split seeds:

- ``auto``: :func:`deltaprop.tuning.auto_fit` (its own validation split comes out of the 75%);
- ``cli``: what ``deltaprop train`` does with no options (src/deltaprop/cli/parser.py): inputs
  (and regression targets) standardized on the training rows, one hidden layer of 128 ReLU
  units, Adam at 1e-3, 30 epochs of 32-row minibatches, seed = the split's seed;
- ``sklearn``: ``make_pipeline(StandardScaler(), MLPClassifier())`` (``MLPRegressor()`` for
  regression), every default, ``random_state`` = the split's seed.

Then the time of ``auto_fit`` on 10,000 rows x 100 features (scikit-learn's
``make_classification``). Run: ``python benchmarks/auto_bench.py [--seeds 3] [--budget 60]``.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import deltaprop as dp
from deltaprop.data.preprocessing import Standardizer
from deltaprop.tuning import auto_fit

# linnerud (20 rows, 3 targets) and the 4-row truth tables have no room for a held-out split
DATASETS = ("moons", "circles", "spirals", "blobs", "sine", "iris", "wine", "breast_cancer",
            "digits", "diabetes")


def split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cut = int(0.75 * n)
    return order[:cut], order[cut:]


def score(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if task == "classify":
        return float(np.mean(y_true == y_pred))
    return 1 - float(np.sum((y_true - y_pred) ** 2) / np.sum((y_true - y_true.mean()) ** 2))


def run_auto(data, train, test, seed, budget):
    model, _ = auto_fit(data.X[train], data.y[train], task=data.task, time_budget=budget, seed=seed)
    return score(data.task, data.y[test], model.predict(data.X[test]))


def run_cli(data, train, test, seed, budget):
    scale = Standardizer.fit(data.X[train])
    X_train, X_test = scale.transform(data.X[train]), scale.transform(data.X[test])
    if data.task == "classify":
        classes, codes = np.unique(data.y[train], return_inverse=True)
        net = dp.MLP([X_train.shape[1], 128, len(classes)], seed=seed)
        net.fit(X_train, codes, loss="cross_entropy", optimizer=dp.Adam(lr=1e-3), epochs=30, batch_size=32)
        return score("classify", data.y[test], classes[net.predict_classes(X_test)])
    mean, std = data.y[train].mean(), data.y[train].std()
    net = dp.MLP([X_train.shape[1], 128, 1], seed=seed)
    net.fit(X_train, (data.y[train] - mean) / std, loss="squared_error", optimizer=dp.Adam(lr=1e-3),
            epochs=30, batch_size=32)
    return score("regress", data.y[test], net.predict(X_test)[:, 0] * std + mean)


def run_sklearn(data, train, test, seed, budget):
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    estimator = (MLPClassifier(random_state=seed) if data.task == "classify"
                 else MLPRegressor(random_state=seed))
    pipe = make_pipeline(StandardScaler(), estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter=200: part of the defaults
        pipe.fit(data.X[train], data.y[train])
    return score(data.task, data.y[test], pipe.predict(data.X[test]))


CONTENDERS = {"auto": run_auto, "cli": run_cli, "sklearn": run_sklearn}


def compare(seeds: int, budget: float) -> None:
    print("| data set | task | " + " | ".join(f"{c} score" for c in CONTENDERS) + " | "
          + " | ".join(f"{c} s" for c in CONTENDERS) + " | auto best? |")
    print("|---|---|" + "---|" * (2 * len(CONTENDERS) + 1))
    for name in DATASETS:
        data = dp.datasets.load(name)
        scores = {c: [] for c in CONTENDERS}
        seconds = {c: [] for c in CONTENDERS}
        for seed in range(seeds):
            train, test = split(len(data.X), seed)
            for contender, run in CONTENDERS.items():
                start = time.perf_counter()
                scores[contender].append(run(data, train, test, seed, budget))
                seconds[contender].append(time.perf_counter() - start)
        mean = {c: float(np.mean(v)) for c, v in scores.items()}
        best = "yes" if mean["auto"] > max(mean["cli"], mean["sklearn"]) else (
            "tie" if mean["auto"] >= max(mean["cli"], mean["sklearn"]) else "no")
        print(f"| {name} | {data.task} | " + " | ".join(f"{mean[c]:.4f}" for c in CONTENDERS) + " | "
              + " | ".join(f"{np.mean(seconds[c]):.1f}" for c in CONTENDERS) + f" | {best} |", flush=True)


def large(budget: float) -> None:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=12500, n_features=100, n_informative=30, n_classes=4,
                               random_state=0)
    train, test = np.arange(10000), np.arange(10000, 12500)
    start = time.perf_counter()
    model, report = auto_fit(X[train], y[train], time_budget=budget, seed=0)
    seconds = time.perf_counter() - start
    print(f"\n10,000 x 100 (make_classification, 4 classes): auto_fit {seconds:.1f} s "
          f"(time_budget {budget:g}), held-out accuracy {model.score(X[test], y[test]):.4f}; "
          f"chose hidden {report.chosen.hidden}, lr {report.chosen.lr:.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0, help="auto_fit's time_budget per fit")
    parser.add_argument("--large-budget", type=float, default=120.0)
    args = parser.parse_args()
    compare(args.seeds, args.budget)
    large(args.large_budget)


if __name__ == "__main__":
    main()
