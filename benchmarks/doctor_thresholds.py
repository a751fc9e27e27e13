"""The doctor on healthy runs: how many get a warning or an error, and which (the measurement
behind deltaprop/doctor/thresholds.py, repeatable).

216 runs: 6 data sets (digits, iris, wine, moons, breast_cancer, circles; features standardized)
x 3 seeds x 3 activations (relu, tanh, sigmoid) x 2 optimizers (Adam lr 0.01, SGD lr 0.1) x 2
depths (one or two hidden layers of 32); 40 epochs, batch 32, a 25% validation split with early
stopping (patience 10). ``--rate-factor 10`` trains every run at ten times its rate, to see how
often the doctor then speaks (many small problems still train well at 10x).

    python benchmarks/doctor_thresholds.py [--rate-factor 1] [--seeds 3]
"""

from __future__ import annotations

import argparse
import collections
import itertools
import time

import numpy as np

import deltaprop as dp

DATASETS = ("digits", "iris", "wine", "moons", "breast_cancer", "circles")
RATES = {"adam": 0.01, "sgd": 0.1}


def run(name: str, seed: int, activation: str, optimizer: str, depth: int,
        factor: float) -> tuple[dp.Diagnosis, float]:
    """One healthy run (at ``factor`` times its rate) and the doctor's diagnosis of it, with the
    held-out accuracy."""
    data = dp.datasets.load(name, seed=seed) if name in ("moons", "circles") else dp.datasets.load(name)
    X = (data.X - data.X.mean(0)) / np.where(data.X.std(0) > 0, data.X.std(0), 1.0)
    y = np.unique(data.y, return_inverse=True)[1]
    order = np.random.default_rng(seed).permutation(len(X))
    train, held = order[: len(X) * 3 // 4], order[len(X) * 3 // 4:]
    net = dp.MLP([X.shape[1], *[32] * depth, int(y.max()) + 1], activation=activation, seed=seed)
    rate = RATES[optimizer] * factor
    net.fit(X[train], y[train], loss="cross_entropy", epochs=40, batch_size=32,
            optimizer=dp.Adam(lr=rate) if optimizer == "adam" else dp.SGD(lr=rate),
            validation_data=(X[held], y[held]), early_stopping=10)
    accuracy = float((net.predict_classes(X[held]) == y[held]).mean())
    return dp.diagnose(net, X[train], y[train]), accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate-factor", type=float, default=1.0, help="times each run's rate")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per configuration")
    args = parser.parse_args()
    start, runs = time.perf_counter(), 0
    by_code: collections.Counter[str] = collections.Counter()
    flagged = []
    for config in itertools.product(DATASETS, range(args.seeds), ("relu", "tanh", "sigmoid"),
                                    ("adam", "sgd"), (1, 2)):
        diagnosis, accuracy = run(*config, args.rate_factor)
        runs += 1
        problems = [f for f in diagnosis.findings if f.severity in ("warning", "error")]
        by_code.update(f"{f.code} ({f.severity})" for f in problems)
        if problems:
            flagged.append(("/".join(map(str, config)), accuracy, [f.code for f in problems]))
    print(f"{runs} runs at {args.rate_factor:g}x their rate, {time.perf_counter() - start:.0f} s: "
          f"{len(flagged)} with a warning or an error")
    for code, count in by_code.most_common():
        print(f"  {code}: {count}")
    for case, accuracy, codes in flagged:
        print(f"  {case}: held-out accuracy {accuracy:.3f}, {', '.join(codes)}")


if __name__ == "__main__":
    main()
