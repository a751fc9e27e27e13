"""Lesson 6: local minima, and why we train from several starting points.

The loss of a neural network is not convex in its weights, so gradient descent ends in
whichever minimum the starting point leads to. The smallest network that can learn XOR
(2 inputs, 2 hidden sigmoid units, 1 output) shows it plainly: from most random starts it
learns XOR and the loss goes to nearly 0, but from some starts it settles where one or two of
the four points stay misclassified, and more epochs do not get it out.

The notes' remedy: run from many initial weights and keep the run with the lowest loss.
``fit(restarts=k)`` does exactly that. Started from a seed that gets stuck on its own, it
trains k times and keeps the best run, whose loss is the minimum over its k runs.

Run: ``python examples/06_local_minima_and_restarts.py [--out DIR] [--fast]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from lesson_quotes import write_quoted
from matplotlib.figure import Figure

import deltaprop as dp

LAYERS = [2, 2, 1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/out", help="folder for the PNGs")
    parser.add_argument("--fast", action="store_true", help="fewer seeds and epochs (for CI)")
    return parser.parse_args(argv)


def train(seed: int, X: np.ndarray, y: np.ndarray, epochs: int, restarts: int = 1
          ) -> tuple[dp.MLP, dp.History]:
    net = dp.MLP(LAYERS, activation="sigmoid", seed=seed)
    history = net.fit(X, y, loss="binary_cross_entropy", optimizer=dp.SGD(lr=0.5, momentum=0.9),
                      epochs=epochs, batch_size="full", restarts=restarts)
    return net, history


def plot_spread(losses: np.ndarray, solved: np.ndarray, run_losses: np.ndarray, best: int,
                seed: int, path: Path) -> None:
    """Final losses as dots on a log axis: one row for the single runs, one for the restarts."""
    fig = Figure(figsize=(8.5, 4.8), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    jitter = np.random.default_rng(0).uniform(-0.18, 0.18, losses.size)  # only spreads the dots
    ax.scatter(losses[solved], 1 + jitter[solved], s=70, color="#0072B2", edgecolors="0.1",
               label=f"learned XOR ({solved.sum()} seeds)", zorder=3)
    ax.scatter(losses[~solved], 1 + jitter[~solved], s=70, color="#D55E00", marker="s",
               edgecolors="0.1", label=f"stuck: not all 4 points right ({(~solved).sum()} seeds)",
               zorder=3)
    rows = 0.16 * (np.arange(run_losses.size) - (run_losses.size - 1) / 2)  # one run per row
    ax.scatter(run_losses, rows, s=70, color="0.6", edgecolors="0.1", marker="o",
               label=f"the {run_losses.size} runs of fit(restarts={run_losses.size})", zorder=3)
    for run, (loss, row) in enumerate(zip(run_losses, rows)):
        ax.annotate(f"run {run}", (loss, row), xytext=(12, 0), textcoords="offset points",
                    va="center", fontsize=11)
    ax.scatter([run_losses[best]], [rows[best]], s=380, marker="*", color="#009E73",
               edgecolors="0.1", label=f"kept: run {best}, loss {run_losses[best]:.2g}", zorder=4)
    ax.set_xscale("log")
    every = np.concatenate([losses, run_losses])
    ax.set_xlim(every.min() / 1.6, every.max() * 2.5)  # room for the run labels
    ax.set_yticks([0, 1])
    ax.set_yticklabels([f"restarts={run_losses.size}\nfrom seed {seed}",
                        f"{losses.size} seeds,\none run each"])
    ax.set_ylim(-0.6, 1.5)
    ax.set_xlabel("final training loss (binary cross-entropy, log scale)", fontsize=13)
    ax.tick_params(labelsize=12)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(f"XOR with a {'-'.join(map(str, LAYERS))} sigmoid net: where training ends",
                 fontsize=14)
    fig.legend(loc="outside lower center", ncols=2, fontsize=11, frameon=False)
    fig.savefig(path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n_seeds, epochs, restarts = (20, 1000, 5) if args.fast else (40, 2000, 5)
    data = dp.datasets.load("xor")
    X, y = data.X, data.y

    losses, accuracies = np.empty(n_seeds), np.empty(n_seeds)
    for seed in range(n_seeds):
        net, _ = train(seed, X, y, epochs)
        losses[seed], accuracies[seed] = dp.evaluate(net, X, y)
    solved = accuracies == 1.0
    print(f"XOR, MLP {LAYERS} sigmoid, SGD lr=0.5 momentum=0.9, full batch, {epochs} epochs")
    print(f"{n_seeds} seeds: final loss min {losses.min():.4f}  median {np.median(losses):.4f}  "
          f"max {losses.max():.4f}  (max/min {losses.max() / losses.min():.0f}x)")
    print(f"stuck (not all 4 points right): {(~solved).sum()} of {n_seeds} runs; "
          f"stuck losses {np.round(np.unique(losses[~solved].round(3)), 3).tolist()}")

    stuck_seed = int(np.flatnonzero(~solved)[0]) if (~solved).any() else 0
    net, history = train(stuck_seed, X, y, epochs, restarts=restarts)
    run_losses = np.array([run["loss"] for run in history.restarts])
    kept_loss, kept_accuracy = dp.evaluate(net, X, y)
    print(f"fit(restarts={restarts}) from seed {stuck_seed} (stuck on its own): run losses "
          + " ".join(f"{v:.4f}" for v in run_losses))
    print(f"kept run {history.best_restart}: loss {kept_loss:.6f}, accuracy {kept_accuracy:.2f}; "
          f"min over its runs {run_losses.min():.6f}; equal: {kept_loss == run_losses.min()}")

    path = out / "06_final_losses_over_seeds.png"
    plot_spread(losses, solved, run_losses, int(history.best_restart), stuck_seed, path)
    quoted = write_quoted(out, "06", {
        "n_seeds": str(n_seeds), "n_stuck": str(int((~solved).sum())),
        "stuck_loss": f"{losses[~solved].max():.3f}" if (~solved).any() else "none",
        "kept_loss": f"{kept_loss:.4f}"})
    return {
        "quoted": quoted, "n_seeds": n_seeds, "epochs": epochs, "losses": losses.tolist(),
        "min": float(losses.min()), "median": float(np.median(losses)),
        "max": float(losses.max()), "n_stuck": int((~solved).sum()),
        "restarts": {"seed": stuck_seed, "run_losses": run_losses.tolist(),
                     "best_restart": int(history.best_restart), "kept_loss": float(kept_loss),
                     "kept_accuracy": float(kept_accuracy)},
        "pngs": [str(path)],
    }


if __name__ == "__main__":
    main()
