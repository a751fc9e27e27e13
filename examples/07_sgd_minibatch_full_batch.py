"""Lesson 7: online SGD, minibatch and full batch are one algorithm with three batch sizes.

Every version of gradient descent in the notes repeats the same step,
W <- W - eta * (1/|I|) sum_{i in I} dloss_i/dW, and differs only in how many samples I
holds: one (online, "stochastic" gradient descent), a few dozen (minibatch), or all n (full
batch, plain gradient descent). One epoch is one pass over the data, so in an epoch online SGD
takes n steps, minibatch n/32 steps and full batch a single step. Counted in epochs, the small
batches therefore make far more progress.

Epochs are not what we pay for, though: seconds are. A full-batch step is one large, efficient
matrix product; an online step is a tiny product plus the fixed Python and NumPy overhead of a
step, paid n times per epoch. Minibatches sit in between and are usually the best buy per
second: enough samples per step for the matrix products to be efficient, enough steps per
epoch to make progress. This script trains the same network from the same initial weights on
the digits with each batch size (each with a learning rate that suits it) and shows both views.

The loss recorded for an epoch is the mean of the per-sample losses met during that epoch (as
``fit`` records it); for online and minibatch training the weights improve during the epoch,
so this is, if anything, unfair to them.

Run ``python examples/07_sgd_minibatch_full_batch.py [--out DIR] [--fast]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from lesson_quotes import write_quoted
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

import deltaprop as dp

HIDDEN = 128
SEED = 0
# (label, batch_size, learning rate): the rate grows with the batch, since the gradient of a
# bigger batch is less noisy and its step can be longer.
METHODS = (
    ("online SGD (batch 1)", 1, 0.01),
    ("minibatch (batch 32)", 32, 0.1),
    ("full batch (1797)", "full", 1.0),
)
COLORS = ("#0072B2", "#E69F00", "#D55E00")


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 8x8 digits, each pixel standardized (so that one learning rate suits every input)."""
    data = dp.datasets.load("digits")
    X = (data.X - data.X.mean(axis=0)) / (data.X.std(axis=0) + 1e-8)
    return X, data.y


def train(X: np.ndarray, y: np.ndarray, batch_size: int | str, lr: float, *, epochs: int,
          seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Train a fresh network (same seed, so the same initial weights for every method).

    Returns the time (s) and the training loss at the start and after every epoch.
    """
    net = dp.MLP([X.shape[1], HIDDEN, 10], activation="tanh", seed=SEED)
    start_loss, _, _ = net.loss_and_gradients(X, y, loss="cross_entropy")
    history = net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(lr), epochs=epochs,
                      batch_size=batch_size, time_limit=seconds, threads=1)
    times, losses = [0.0, *history.time], [start_loss, *history.loss]
    if history.stop_reason == "time_limit":  # the last epoch was cut short: its mean is not comparable
        times, losses = times[:-1], losses[:-1]
    return np.array(times), np.array(losses)


def loss_at(times: np.ndarray, losses: np.ndarray, seconds: float) -> float:
    """The loss of the last epoch that had finished ``seconds`` after the start."""
    return float(losses[np.searchsorted(times, seconds, side="right") - 1])


def plot_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, xlabel: str, title: str,
                path: Path, marker: str | None) -> None:
    fig = Figure(figsize=(7.0, 4.5), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    for (label, (x, loss)), color in zip(curves.items(), COLORS):
        ax.plot(x, loss, label=label, color=color, marker=marker, markersize=4, linewidth=2)
    ax.set_yscale("log")
    if marker is not None:  # the epoch plot: whole epochs on the x axis
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel, fontsize=12)
    ax.set_ylabel("training loss (cross-entropy)", fontsize=12)
    ax.set_title(title, fontsize=14)
    ax.tick_params(which="both", labelsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=11)
    fig.savefig(path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/out", help="folder for the PNGs")
    parser.add_argument("--fast", action="store_true", help="fewer epochs and seconds (for CI)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs, seconds = (3, 0.2) if args.fast else (20, 0.6)

    X, y = load_digits()
    by_epoch, by_time = {}, {}
    for label, batch_size, lr in METHODS:
        by_epoch[label] = train(X, y, batch_size, lr, epochs=epochs)
        by_time[label] = train(X, y, batch_size, lr, epochs=1_000_000, seconds=seconds)

    result: dict = {"epochs": epochs, "seconds": seconds, "methods": {}}
    print(f"digits {X.shape}, MLP [64, {HIDDEN}, 10] tanh, cross-entropy, plain SGD")
    print(f"{'method':<22} {'lr':>5} {'steps/epoch':>11} {'s/epoch':>8} "
          f"{f'loss@{epochs}ep':>10} {f'loss@{seconds:g}s':>10} {'epochs in budget':>16}")
    for label, batch_size, lr in METHODS:
        times, losses = by_epoch[label]
        t_times, t_losses = by_time[label]
        n_batch = X.shape[0] if batch_size == "full" else int(batch_size)
        row = {
            "lr": lr,
            "steps_per_epoch": -(-X.shape[0] // n_batch),
            "seconds_per_epoch": float(times[-1] / epochs),
            "loss_after_epochs": float(losses[-1]),
            "loss_after_seconds": loss_at(t_times, t_losses, seconds),
            "epochs_in_budget": int(np.searchsorted(t_times, seconds, side="right") - 1),
        }
        result["methods"][label] = row
        print(f"{label:<22} {lr:>5g} {row['steps_per_epoch']:>11} {row['seconds_per_epoch']:>8.4f} "
              f"{row['loss_after_epochs']:>10.4f} {row['loss_after_seconds']:>10.4f} "
              f"{row['epochs_in_budget']:>16}")

    epoch_curves = {label: (np.arange(len(loss)), loss) for label, (_, loss) in by_epoch.items()}
    result["png_epochs"] = str(out / "07_loss_vs_epochs.png")
    result["png_seconds"] = str(out / "07_loss_vs_seconds.png")
    plot_curves(epoch_curves, xlabel="epoch (one pass over the 1797 digits)",
                title=f"Per epoch: small batches take more steps ({epochs} epochs)",
                path=Path(result["png_epochs"]), marker="o")
    plot_curves(by_time, xlabel="seconds of training", marker=None,
                title=f"Per second: minibatches are usually the best buy ({seconds:g} s each)",
                path=Path(result["png_seconds"]))
    losses = [row["loss_after_epochs"] for row in result["methods"].values()]
    result["quoted"] = write_quoted(out, "07", {"epochs": str(epochs), **{
        name: f"{loss:.3f}" for name, loss in zip(("online", "minibatch", "full_batch"), losses)}})
    return result


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"done in {time.perf_counter() - started:.1f} s")
