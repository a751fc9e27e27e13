"""Lesson 5: batch normalization lets a deep sigmoid network train.

Batch normalization standardizes each unit's z over the minibatch (subtract the batch mean,
divide by the batch standard deviation) and then lets the network choose a new scale gamma and
shift beta. The units of every layer then see inputs of a steady, moderate size, where the
sigmoid is steep, whatever the layers below them are doing.

We train one deep sigmoid network (6 hidden layers of 32 units) on the two moons twice, from
the same seed, with the same data, minibatches and plain SGD; the only difference is the
BatchNorm between each hidden layer's z and its sigmoid. Without it the loss sits at ln 2
(the network guesses); with it the loss falls within a few epochs.

Run: ``python examples/05_batch_normalization.py [--out DIR] [--fast]``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
from lesson_quotes import write_quoted
from matplotlib.figure import Figure

import deltaprop as dp

HIDDEN = [32] * 6
LR = 0.1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/out", help="folder for the PNGs")
    parser.add_argument("--fast", action="store_true", help="fewer epochs (for CI), same lesson")
    return parser.parse_args(argv)


def train(batch_norm: bool, X: np.ndarray, y: np.ndarray, epochs: int) -> tuple[dp.MLP, dp.History]:
    net = dp.MLP([X.shape[1], *HIDDEN, 2], activation="sigmoid", batch_norm=batch_norm, seed=0)
    history = net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(lr=LR), epochs=epochs,
                      batch_size=32)
    return net, history


def accuracy(net: dp.MLP, X: np.ndarray, y: np.ndarray) -> float:
    return float((net.predict(X).argmax(axis=1) == y).mean())


def plot_curves(histories: dict[str, dp.History], path: Path) -> None:
    fig = Figure(figsize=(8.0, 5.0), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    styles = {"without batch norm": ("#D55E00", "-"), "with batch norm": ("#009E73", "-")}
    for label, history in histories.items():
        color, ls = styles[label]
        ax.plot(history.epoch, history.loss, color=color, ls=ls, lw=2.6, label=label)
    ax.axhline(math.log(2), color="0.4", ls="--", lw=1.4, label="ln 2: guessing between 2 classes")
    top = max(max(h.loss) for h in histories.values())
    ax.set_ylim(0, 1.05 * max(top, math.log(2)))
    ax.set_xlim(1, max(histories["with batch norm"].epoch))
    ax.set_xlabel("epoch", fontsize=13)
    ax.set_ylabel("training loss (cross-entropy)", fontsize=13)
    ax.tick_params(labelsize=12)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"Deep sigmoid net ({len(HIDDEN)} hidden layers) on moons, SGD lr={LR}",
                 fontsize=14)
    fig.legend(loc="outside lower center", ncols=2, fontsize=12, frameon=False)
    fig.savefig(path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs = 15 if args.fast else 100
    data = dp.datasets.load("moons", n_samples=400, seed=0)

    histories: dict[str, dp.History] = {}
    results: dict[str, Any] = {"epochs": epochs}
    checkpoints = [e for e in (5, 10, 25, 50, 100) if e <= epochs]
    if epochs not in checkpoints:
        checkpoints.append(epochs)
    print(f"sigmoid MLP {[2, *HIDDEN, 2]}, moons (400 points), seed 0, SGD lr={LR}, batch 32")
    print(f"{'':<20}" + "".join(f"{'epoch ' + str(e):>10}" for e in checkpoints) + f"{'accuracy':>10}")
    for key, batch_norm in (("no_bn", False), ("bn", True)):
        label = "with batch norm" if batch_norm else "without batch norm"
        net, history = train(batch_norm, data.X, data.y, epochs)
        histories[label] = history
        acc = accuracy(net, data.X, data.y)
        results[key] = {"final_loss": float(history.loss[-1]), "accuracy": acc,
                        "loss": [float(v) for v in history.loss]}
        print(f"{label:<20}" + "".join(f"{history.loss[e - 1]:>10.3f}" for e in checkpoints)
              + f"{acc:>10.2f}")
    print(f"ln 2 = {math.log(2):.3f} is the loss of a network that guesses")
    path = out / "05_batch_norm_loss.png"
    plot_curves(histories, path)
    results["pngs"] = [str(path)]
    results["quoted"] = write_quoted(out, "05", {"epochs": str(epochs),
                                           "no_bn": f"{results['no_bn']['final_loss']:.3f}",
                                           "bn": f"{results['bn']['final_loss']:.3f}"})
    return results


if __name__ == "__main__":
    main()
