"""Lesson 1: a single perceptron draws one straight line; XOR needs a hidden layer.

The notes introduce the perceptron as one unit that outputs sign(w . x + b): SGD on the
squared error with sigma = sign gives the perceptron rule, which only changes the weights on a
mistake. Whatever its weights, such a unit splits the plane with one straight line, so it can
only learn labels that a line separates. AND and OR are such labels and the rule finds a line
after a few passes. XOR is not: the two positive corners (0, 1) and (1, 0) sit on one diagonal
and the two negative ones on the other, and any line gets at least one of the four wrong, so
the rule keeps making mistakes forever (the logistic neuron has the same limitation). Putting
a layer of hidden units between input and output fixes it: each hidden unit draws its own
line, and the output unit combines them into a region no single line could bound.

Two things a class may notice in the figure. The rule starts at zero weights and, with 0/1
inputs, takes whole-number steps, so a corner can end up exactly on the line: sign(0) counts
as +1, which is why (1, 1) on AND's line is still classed 1. On XOR the weights go round in a
cycle (here back to w = 0, b = 0 after 100 epochs), never settling on a line.

Run::

    python examples/01_perceptron_and_xor.py --out examples/out

Prints the accuracy of the perceptron on AND, OR and XOR and of a 2-4-1 MLP on XOR; writes
``01_decision_boundaries.png`` (the four decision regions side by side) and
``01_mlp_xor_boundary.png`` (the MLP's regions, shaded by its confidence).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from lesson_quotes import write_quoted

import deltaprop as dp

SEED = 0
GATES = ("and", "or", "xor")
COLORS = ("#0072B2", "#E69F00")  # Okabe-Ito blue (class 0) and orange (class 1)
MARKERS = ("o", "s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/out", help="folder for the PNGs")
    parser.add_argument("--fast", action="store_true", help="fewer epochs (for CI), same lesson")
    return parser.parse_args(argv)


def train_perceptrons(epochs: int) -> dict[str, dp.Perceptron]:
    """One perceptron per logic gate, trained by the perceptron rule from zero weights."""
    models = {}
    for gate in GATES:
        data = dp.datasets.load(gate)
        models[gate] = dp.Perceptron(2, lr=1.0, seed=SEED).fit(data.X, data.y, epochs=epochs)
    return models


def train_mlp_on_xor(epochs: int) -> dp.MLP:
    """A 2-4-1 network: tanh hidden units, one sigmoid output trained on cross-entropy."""
    data = dp.datasets.load("xor")
    net = dp.MLP([2, 4, 1], activation="tanh", seed=SEED, dtype=np.float64)
    net.fit(data.X, data.y, loss="binary_cross_entropy", optimizer=dp.Adam(lr=0.05),
            epochs=epochs, batch_size="full")
    return net


def accuracy(labels: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.asarray(labels).ravel() == np.asarray(y).ravel()))


def draw_panel(ax: Any, score: Any, X: np.ndarray, y: np.ndarray, title: str) -> None:
    """Regions where ``score`` >= 0 (class 1) and < 0 (class 0), the line score = 0, the data."""
    from matplotlib.colors import ListedColormap

    grid = np.linspace(-0.5, 1.5, 301)
    xx, yy = np.meshgrid(grid, grid)
    values = score(np.column_stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)
    pale = ListedColormap(["#cce3f0", "#fae6c2"])  # the class colours mixed with white
    ax.imshow((values >= 0).astype(int), origin="lower", extent=(-0.5, 1.5, -0.5, 1.5),
              cmap=pale, vmin=0, vmax=1, interpolation="nearest")
    if values.min() < 0 < values.max():  # else there is no boundary and contour() warns
        ax.contour(xx, yy, values, levels=[0.0], colors="0.1", linewidths=2)
    for label in (0, 1):
        rows = y == label
        ax.scatter(X[rows, 0], X[rows, 1], s=220, color=COLORS[label], marker=MARKERS[label],
                   edgecolors="0.1", linewidths=1.2, zorder=3, label=f"target {label}")
    ax.set_title(title, fontsize=14)
    ax.set_xlabel("$x_1$", fontsize=13)
    ax.set_ylabel("$x_2$", fontsize=13)
    ax.set_xticks([0, 1])
    ax.set_yticks([0, 1])
    ax.tick_params(labelsize=12)
    ax.set_aspect("equal")


def line_equation(unit: dp.Perceptron) -> str:
    """The perceptron's weights as text: w = (w1, w2), b = b."""
    w1, w2 = unit.W[0]
    return f"w = ({w1:g}, {w2:g}), b = {unit.b[0]:g}"


def plot_boundaries(perceptrons: dict[str, dp.Perceptron], mlp: dp.MLP, scores: dict[str, float],
                    path: Path) -> None:
    """A 2x2 slide: the perceptron on AND, OR, XOR, and the MLP on XOR."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 10.4), dpi=150, layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    for ax, gate in zip(axes, GATES):
        data, unit = dp.datasets.load(gate), perceptrons[gate]
        draw_panel(ax, lambda Z, u=unit: Z @ u.W[0] + u.b[0], data.X, data.y,
                   f"Perceptron on {gate.upper()}: accuracy {scores[gate]:.2f}\n"
                   f"after {len(unit.mistakes_per_epoch)} epochs: {line_equation(unit)}")
    xor = dp.datasets.load("xor")
    draw_panel(axes[3], lambda Z: mlp.predict(Z)[:, 0] - 0.5, xor.X, xor.y,
               f"MLP 2-4-1 on XOR: accuracy {scores['mlp_xor']:.2f}\n4 tanh units, 1 sigmoid output")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=13, frameon=False,
               markerscale=0.7)
    fig.suptitle("One line separates AND and OR, but not XOR; a hidden layer bends the boundary",
                 fontsize=15)
    fig.savefig(path, dpi=150)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    perceptrons = train_perceptrons(epochs=20 if args.fast else 100)
    mlp = train_mlp_on_xor(epochs=300 if args.fast else 500)

    scores = {gate: perceptrons[gate].score(dp.datasets.load(gate).X, dp.datasets.load(gate).y)
              for gate in GATES}
    xor = dp.datasets.load("xor")
    scores["mlp_xor"] = accuracy(mlp.predict_classes(xor.X), xor.y)
    epochs_run = {gate: len(perceptrons[gate].mistakes_per_epoch) for gate in GATES}
    last_mistakes = {gate: perceptrons[gate].mistakes_per_epoch[-1] for gate in GATES}

    print(f"{'model':<18}{'task':<6}{'accuracy':>9}{'epochs':>8}{'last-epoch mistakes':>21}  final weights")
    for gate in GATES:
        print(f"{'perceptron':<18}{gate.upper():<6}{scores[gate]:>9.2f}{epochs_run[gate]:>8}"
              f"{last_mistakes[gate]:>21}  {line_equation(perceptrons[gate])}")
    print(f"{'MLP 2-4-1 (tanh)':<18}{'XOR':<6}{scores['mlp_xor']:>9.2f}")
    print("MLP outputs on (0,0) (0,1) (1,0) (1,1):", np.round(mlp.predict(xor.X)[:, 0], 3).tolist())

    figures = [out / "01_decision_boundaries.png", out / "01_mlp_xor_boundary.png"]
    plot_boundaries(perceptrons, mlp, scores, figures[0])
    dp.plot.boundary(mlp, xor.X, xor.y, path=figures[1], title="MLP 2-4-1 learns XOR",
                     class_names=["XOR = 0", "XOR = 1"])
    quoted = write_quoted(out, "01", {**{gate: f"{scores[gate]:.2f}" for gate in GATES},
                                "mlp_xor": f"{scores['mlp_xor']:.2f}"})
    return {
        "quoted": quoted,
        "perceptron_accuracy": {gate: scores[gate] for gate in GATES},
        "perceptron_epochs": epochs_run,
        "perceptron_last_mistakes": last_mistakes,
        "mlp_xor_accuracy": scores["mlp_xor"],
        "figures": [str(path) for path in figures],
    }


if __name__ == "__main__":
    main()
