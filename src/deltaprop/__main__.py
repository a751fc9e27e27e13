"""``python -m deltaprop`` / ``deltaprop``: train an MLP on scikit-learn's bundled digits and print
the held-out accuracy. (The full command line is planned; this is the demonstration job.)"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import deltaprop as dp


def train_digits(epochs: int = 30, seed: int = 0, verbose: bool = True) -> float:
    """Train 64-128-10 ReLU with Adam on digits (standardized, 75/25 split); return accuracy."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("the digits demo needs scikit-learn: pip install 'deltaprop[datasets]'") from None
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    n_test = len(X) // 4
    test, train = order[:n_test], order[n_test:]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0) + 1e-8
    X = (X - mean) / std
    net = dp.MLP([64, 128, 10], activation="relu", seed=seed)
    start = time.perf_counter()
    history = net.fit(X[train], y[train], loss="cross_entropy", optimizer=dp.Adam(lr=1e-3),
                      epochs=epochs, batch_size=32, validation_data=(X[test], y[test]), verbose=verbose)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(net.predict_classes(X[test]) == y[test]))
    if verbose:
        print(f"digits: {len(train)} training, {len(test)} held-out samples; {net.n_parameters} parameters")
        print(f"trained {history.n_epochs} epochs in {seconds:.2f}s; held-out accuracy {accuracy:.4f}")
    return accuracy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deltaprop", description=__doc__)
    parser.add_argument("command", nargs="?", default="train", choices=["train"])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    train_digits(epochs=args.epochs, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
