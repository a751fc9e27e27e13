"""Lesson 8: L2 weight decay trades fitting the noise for smaller weights.

The notes add lambda/2 sum_l ||W_l||^2 to the loss (weights only, never the biases), which adds
lambda * W to every weight gradient: each step shrinks the weights a little towards zero
("weight decay"). A network much wider than its data needs can pass through every noisy
training point, and it does so with large weights that bend the curve sharply between points.

Here 20 noisy samples of y = sin(2 pi x) are fitted by a 1-100-100-1 tanh network, trained the
same way from the same initial weights for each lambda in 0, 1e-4, ..., 1. Two things happen:

- the sum of squared weights falls steadily as lambda grows;
- the error on fresh x (against the noise-free sine) is worst with no decay (the wiggly curve
  that chases the noise), best at a middle lambda, and bad again when lambda is so large that
  the weights are crushed and the network can only draw a flat line (underfitting).

Run ``python examples/08_l2_regularization.py [--out DIR] [--fast]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from lesson_quotes import sci, write_quoted
from matplotlib.figure import Figure

import deltaprop as dp

L2_VALUES = (0.0, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
N_TRAIN, NOISE, SEED = 20, 0.3, 1
WIDTHS = [1, 100, 100, 1]


def make_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """20 noisy training points, and 1000 noise-free points of the true curve for testing."""
    train = dp.datasets.load("sine", n_samples=N_TRAIN, noise=NOISE, seed=SEED)
    test = dp.datasets.load("sine", n_samples=1000, noise=0.0, seed=SEED + 1)
    return train.X, train.y, test.X, test.y


def fit_one(l2: float, X: np.ndarray, y: np.ndarray, epochs: int) -> dp.MLP:
    # float64 and full batch: nothing but lambda changes between runs. The rate is annealed to
    # zero (cosine) so that every run settles; with a constant Adam rate the crushed weights of
    # a large lambda keep jittering around zero at the scale of the step size.
    net = dp.MLP(WIDTHS, activation="tanh", seed=0, dtype=np.float64)
    optimizer = dp.Adam(lr=1e-2, schedule=dp.Cosine())
    net.fit(X, y, loss="squared_error", optimizer=optimizer, epochs=epochs,
            batch_size="full", l2=l2, threads=1)
    return net


def weight_norm(net: dp.MLP) -> float:
    """sum over layers of ||W_l||^2, the quantity the penalty charges lambda/2 for."""
    return float(sum(np.sum(W**2) for W in net.weights))


def lambda_label(l2: float) -> str:
    return "0" if l2 == 0 else f"{l2:g}"


def plot_tradeoff(result: dict, path: Path) -> None:
    """Weight norm and held-out error against lambda; lambda = 0 is drawn at the left edge."""
    # a log axis has no 0: put lambda = 0 one decade left of the smallest positive lambda
    x = np.array([L2_VALUES[1] / 10 if l2 == 0 else l2 for l2 in L2_VALUES])
    fig = Figure(figsize=(11.0, 4.3), dpi=150, layout="constrained")
    panels = fig.subplots(1, 2)
    series = (("weight_norm", "sum of squared weights  $\\sum_l ||W_l||^2$", "#0072B2",
               "Weights shrink as $\\lambda$ grows"),
              ("test_mse", "held-out mean squared error", "#D55E00",
               "Held-out error: best at a middle $\\lambda$"))
    for ax, (key, ylabel, color, title) in zip(panels, series):
        values = np.array([row[key] for row in result["runs"]])
        ax.plot(x, values, marker="o", color=color, linewidth=2, markersize=7)
        ax.set_xscale("log")
        if key == "weight_norm":  # log above 1, linear near 0: the crushed weights show as 0
            ax.set_yscale("symlog", linthresh=1.0)
            ax.set_ylim(bottom=0.0)
        ax.set_xticks(x, [lambda_label(l2) for l2 in L2_VALUES])
        ax.minorticks_off()
        ax.set_xlabel("L2 strength $\\lambda$", fontsize=12)
        ax.set_ylabel(ylabel, fontsize=12)
        ax.set_title(title, fontsize=14)
        ax.tick_params(labelsize=11)
        ax.grid(True, alpha=0.3)
    best = L2_VALUES.index(result["best_l2"])
    panels[1].plot(x[best], result["runs"][best]["test_mse"], marker="*", markersize=20,
                   color="#009E73", linestyle="none", label=f"best: $\\lambda$ = {result['best_l2']:g}")
    panels[1].legend(fontsize=11)
    fig.savefig(path)


def plot_fits(nets: dict[float, dp.MLP], X: np.ndarray, y: np.ndarray, path: Path) -> None:
    """The fitted curves for no decay, the best lambda and the largest lambda."""
    grid = np.linspace(0.0, 1.0, 400)[:, None]
    fig = Figure(figsize=(7.0, 4.5), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(grid[:, 0], np.sin(2 * np.pi * grid[:, 0]), color="black", linestyle="--",
            linewidth=1.5, label="true curve sin(2$\\pi$x)")
    for (l2, net), color in zip(nets.items(), ("#D55E00", "#009E73", "#0072B2")):
        ax.plot(grid[:, 0], net.predict(grid)[:, 0], color=color, linewidth=2,
                label=f"$\\lambda$ = {lambda_label(l2)}")
    ax.scatter(X[:, 0], y, color="black", s=30, zorder=3, label=f"{len(y)} noisy training points")
    ax.set_ylim(-2.0, 2.0)
    ax.set_xlabel("x", fontsize=12)
    ax.set_ylabel("y", fontsize=12)
    ax.set_title("No decay chases the noise; too much flattens the curve", fontsize=14)
    ax.tick_params(labelsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=10, loc="lower left")
    fig.savefig(path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/out", help="folder for the PNGs")
    parser.add_argument("--fast", action="store_true", help="fewer epochs (for CI)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs = 1000 if args.fast else 3000

    X, y, X_test, y_test = make_data()
    result: dict = {"epochs": epochs, "l2": list(L2_VALUES), "runs": []}
    nets = {}
    print(f"{N_TRAIN} samples of sin(2 pi x) + N(0, {NOISE}^2), MLP {WIDTHS} tanh, "
          f"Adam with cosine decay, full batch, {epochs} epochs")
    print(f"{'lambda':>8} {'sum ||W||^2':>12} {'train MSE':>10} {'held-out MSE':>13}")
    for l2 in L2_VALUES:
        nets[l2] = net = fit_one(l2, X, y, epochs)
        row = {
            "l2": l2,
            "weight_norm": weight_norm(net),
            "train_mse": float(np.mean((net.predict(X)[:, 0] - y) ** 2)),
            "test_mse": float(np.mean((net.predict(X_test)[:, 0] - y_test) ** 2)),
        }
        result["runs"].append(row)
        print(f"{lambda_label(l2):>8} {row['weight_norm']:>12.4g} {row['train_mse']:>10.4f} "
              f"{row['test_mse']:>13.4f}")
    best = min(result["runs"], key=lambda row: row["test_mse"])
    result["best_l2"] = best["l2"]
    print(f"best held-out error at lambda = {best['l2']:g}: {best['test_mse']:.4f} "
          f"(lambda = 0: {result['runs'][0]['test_mse']:.4f})")

    result["png_tradeoff"] = str(out / "08_l2_weight_norm_and_error.png")
    result["png_fits"] = str(out / "08_l2_fitted_curves.png")
    plot_tradeoff(result, Path(result["png_tradeoff"]))
    shown = {l2: nets[l2] for l2 in (0.0, best["l2"], L2_VALUES[-1])}
    plot_fits(shown, X, y, Path(result["png_fits"]))
    result["quoted"] = write_quoted(out, "08", {"best_l2": sci(best["l2"]).replace(".0e", "e")})
    return result


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"done in {time.perf_counter() - started:.1f} s")
