"""Lesson 3: start every weight at zero and the hidden units stay clones; random starts break it.

Among the training issues the notes list is "weight symmetries and symmetry breaking". If all
the weights start equal (zero, say), every hidden unit computes the same z and the same
activation, the output layer sends the same delta back to each of them, so each receives the
same gradient and takes the same step. Gradient descent never separates them: after any
number of steps the rows of W_1 (one per hidden unit) are still identical, and a layer of N
hidden units behaves like a layer of one. One hidden unit cannot represent XOR, so the network
does not learn it. Drawing the initial weights at random gives the units different starting
lines; backpropagation then pushes them apart, and the same network learns XOR.

The network is 2-4-1: sigmoid hidden units (with tanh, zero weights would give zero hidden
outputs and no gradient at all, a less telling failure), a linear output trained on the
squared error, full-batch gradient descent with momentum. The spread reported is the largest,
over the columns of [W_1 | b_1], of max minus min across the hidden units: 0 means all hidden
units are the same unit.

Run::

    python examples/03_symmetry_breaking.py --out examples/out

Writes ``03_hidden_weights.png`` (the learned hidden weights, zero vs random start) and
``03_weight_trajectories.png`` (each hidden unit's weights during training).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from lesson_quotes import write_quoted

import deltaprop as dp

SEED = 0
N_HIDDEN = 4
UNIT_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7")
COLUMNS = ("$w_{j1}$", "$w_{j2}$", "$b_j$")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/out", help="folder for the PNGs")
    parser.add_argument("--fast", action="store_true", help="fewer epochs and seeds (for CI), same lesson")
    return parser.parse_args(argv)


class RecordHidden:
    """Callback: after each epoch, a copy of the hidden layer's [W_1 | b_1], shape (N, 3)."""

    def __init__(self) -> None:
        self.snapshots: list[np.ndarray] = []

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        net = trainer.net
        self.snapshots.append(np.column_stack([net.weights[0], net.biases[0]]).copy())


def train(init: str | None, seed: int, epochs: int) -> tuple[dp.MLP, RecordHidden]:
    """A 2-4-1 sigmoid network on XOR; ``init=None`` is the default (Glorot, random)."""
    xor = dp.datasets.load("xor")
    net = dp.MLP([2, N_HIDDEN, 1], activation="sigmoid", init=init, seed=seed, dtype=np.float64)
    record = RecordHidden()
    net.fit(xor.X, xor.y, loss="squared_error", optimizer=dp.SGD(lr=0.5, momentum=0.9),
            epochs=epochs, batch_size="full", callbacks=[record])
    return net, record


def spread(net: dp.MLP) -> float:
    """Largest difference between two hidden units' incoming weights (or biases)."""
    hidden = np.column_stack([net.weights[0], net.biases[0]])
    return float(np.ptp(hidden, axis=0).max())


def xor_accuracy(net: dp.MLP) -> float:
    xor = dp.datasets.load("xor")
    return float(np.mean((net.predict(xor.X)[:, 0] > 0.5) == xor.y))


def plot_heatmaps(nets: dict[str, dp.MLP], path: Path) -> None:
    """[W_1 | b_1] after training as two annotated heatmaps on one colour scale."""
    from matplotlib.figure import Figure

    matrices = {name: np.column_stack([net.weights[0], net.biases[0]]) for name, net in nets.items()}
    limit = max(float(np.abs(m).max()) for m in matrices.values())
    fig = Figure(figsize=(10, 5), dpi=150, layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, (name, matrix) in zip(axes, matrices.items()):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        for (row, col), value in np.ndenumerate(matrix):
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=12,
                    color="white" if abs(value) > 0.6 * limit else "black")
        ax.set_xticks(range(3), COLUMNS, fontsize=13)
        ax.set_yticks(range(N_HIDDEN), [f"unit {j + 1}" for j in range(N_HIDDEN)], fontsize=12)
        ax.set_xlabel("incoming weight", fontsize=13)
        ax.set_title(f"{name} start: XOR accuracy {xor_accuracy(nets[name]):.2f}\n"
                     f"spread across units {spread(nets[name]):.1e}", fontsize=14)
    bar = fig.colorbar(image, ax=list(axes), shrink=0.85)
    bar.set_label("weight value", fontsize=12)
    bar.ax.tick_params(labelsize=11)
    fig.suptitle("Hidden-layer weights after training on XOR", fontsize=15)
    fig.savefig(path, dpi=150)


def plot_trajectories(records: dict[str, RecordHidden], path: Path) -> None:
    """Each hidden unit's w_j1 and b_j against the epoch: zero start (top), random (bottom)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 7), dpi=150, layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    for row, (name, record) in enumerate(records.items()):
        history = np.stack(record.snapshots)  # (epochs, N, 3)
        epochs = np.arange(1, history.shape[0] + 1)
        for col, (column, label) in enumerate(((0, COLUMNS[0]), (2, COLUMNS[2]))):
            ax = axes[row, col]
            for j in range(N_HIDDEN):  # later units dashed and thinner, so clones stay visible
                ax.plot(epochs, history[:, j, column], color=UNIT_COLORS[j], lw=3 - 0.6 * j,
                        ls=("-", "--", "-.", ":")[j], label=f"unit {j + 1}")
            ax.set_xscale("log")
            ax.set_title(f"{name} start: {label} of each hidden unit", fontsize=13)
            ax.set_ylabel(label, fontsize=13)
            ax.tick_params(labelsize=11)
            ax.grid(True, alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("epoch (log scale)", fontsize=13)
    handles, labels = axes[1, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=N_HIDDEN, fontsize=12, frameon=False)
    fig.suptitle("Zero start: the four units move as one. Random start: they separate.", fontsize=15)
    fig.savefig(path, dpi=150)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs, seeds = (1000, [SEED]) if args.fast else (2000, list(range(5)))

    zero_net, zero_record = train("zeros", SEED, epochs)
    random_runs = {seed: train(None, seed, epochs) for seed in seeds}
    random_net, random_record = random_runs[SEED]
    result = {
        "zero_spread": spread(zero_net),
        "zero_accuracy": xor_accuracy(zero_net),
        "zero_weights_moved": float(np.abs(zero_net.weights[0]).max()),
        "random_spread": spread(random_net),
        "random_accuracy": xor_accuracy(random_net),
        "random_accuracy_by_seed": {seed: xor_accuracy(net) for seed, (net, _) in random_runs.items()},
    }

    print(f"{'initialization':<16}{'seed':>5}{'hidden spread':>15}{'XOR accuracy':>14}")
    print(f"{'zeros':<16}{SEED:>5}{result['zero_spread']:>15.2e}{result['zero_accuracy']:>14.2f}")
    for seed, (net, _) in random_runs.items():
        print(f"{'random (Glorot)':<16}{seed:>5}{spread(net):>15.2e}{xor_accuracy(net):>14.2f}")
    print(f"zero start: the hidden weights did move (max |W_1| = {result['zero_weights_moved']:.2f}), "
          "but all rows are the same")
    print("zero-start outputs on (0,0) (0,1) (1,0) (1,1):",
          np.round(zero_net.predict(dp.datasets.load("xor").X)[:, 0], 3).tolist())

    figures = [out / "03_hidden_weights.png", out / "03_weight_trajectories.png"]
    plot_heatmaps({"zero": zero_net, "random": random_net}, figures[0])
    plot_trajectories({"zero": zero_record, "random": random_record}, figures[1])
    result["figures"] = [str(path) for path in figures]
    result["quoted"] = write_quoted(out, "03", {
        "zero_spread": f"{result['zero_spread']:.2g}", "zero_accuracy": f"{result['zero_accuracy']:.2f}",
        "random_accuracy": f"{min(result['random_accuracy_by_seed'].values()):.2f}"})
    return result


if __name__ == "__main__":
    main()
