"""Lesson 4: vanishing gradients, and three ways out.

Backpropagation multiplies the error signal by W_l^T and by f'(z_l) once per layer on its way
down to the input. The sigmoid's derivative is at most 1/4, so in a deep sigmoid network the
signal shrinks by a constant factor at every layer: the layers near the input receive
gradients thousands of times smaller than the output layer and hardly learn at all.

We train the same deep network (8 hidden layers of 32 units) on the same data with the same
optimizer four times and compare the gradient norm of the first layer with that of the last:

- sigmoid, Glorot initialization: the ratio is tiny (the gradient vanishes);
- tanh, Glorot: f'(0) = 1, and the signal keeps its size;
- ReLU, He initialization: f' is 0 or 1 and He's variance 2/n_in keeps the scale;
- sigmoid with batch normalization: each layer's z is re-centred and re-scaled, so the
  units stay where the sigmoid is steep.

Run: ``python examples/04_vanishing_gradients.py [--out DIR] [--fast]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from lesson_quotes import sci, write_quoted
from matplotlib.figure import Figure

import deltaprop as dp

HIDDEN = [32] * 8
VARIANTS = {  # name -> MLP keyword arguments; everything else is shared
    "sigmoid": {"activation": "sigmoid"},
    "tanh": {"activation": "tanh"},
    "relu_he": {"activation": "relu", "init": "he"},
    "sigmoid_bn": {"activation": "sigmoid", "batch_norm": True},
}
LABELS = {"sigmoid": "sigmoid (Glorot)", "tanh": "tanh (Glorot)", "relu_he": "ReLU (He)",
          "sigmoid_bn": "sigmoid + batch norm"}
COLORS = {"sigmoid": "#D55E00", "tanh": "#E69F00", "relu_he": "#0072B2", "sigmoid_bn": "#009E73"}
MARKERS = {"sigmoid": "o", "tanh": "s", "relu_he": "^", "sigmoid_bn": "D"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/out", help="folder for the PNGs")
    parser.add_argument("--fast", action="store_true", help="fewer epochs (for CI), same lesson")
    return parser.parse_args(argv)


def train_variant(kwargs: dict[str, Any], X: np.ndarray, y: np.ndarray, epochs: int) -> dp.History:
    net = dp.MLP([X.shape[1], *HIDDEN, 2], seed=0, **kwargs)
    return net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(lr=0.1), epochs=epochs,
                   batch_size=32)


def plot_by_layer(norms: dict[str, np.ndarray], path: Path) -> None:
    """Typical gradient norm of each layer, input to output, one line per variant."""
    fig = Figure(figsize=(8.0, 5.0), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    for name, per_layer in norms.items():
        layers = np.arange(1, per_layer.size + 1)
        ax.plot(layers, per_layer, color=COLORS[name], marker=MARKERS[name], ms=7, lw=2.4,
                label=LABELS[name])
    ax.set_yscale("log")
    ax.set_xticks(np.arange(1, len(HIDDEN) + 2))
    ax.set_xlabel("layer l  (1 = input side, 9 = output)", fontsize=13)
    ax.set_ylabel(r"gradient norm $\|(dW_l,\ db_l)\|$ (log scale)", fontsize=13)
    ax.tick_params(labelsize=12)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(f"Vanishing gradients: {len(HIDDEN)} hidden layers, same data and optimizer",
                 fontsize=14)
    fig.legend(loc="outside lower center", ncols=2, fontsize=12, frameon=False)
    fig.savefig(path)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    epochs = 6 if args.fast else 30
    data = dp.datasets.load("moons", n_samples=400, seed=0)

    results: dict[str, Any] = {"epochs": epochs, "pngs": []}
    typical: dict[str, np.ndarray] = {}
    print(f"{len(HIDDEN)} hidden layers of {HIDDEN[0]}, moons (400 points), SGD lr=0.1, "
          f"{epochs} epochs")
    print(f"{'variant':<22}{'|grad| layer 1':>16}{'|grad| layer 9':>16}{'ratio 1/9':>12}"
          f"{'final loss':>12}")
    for name, kwargs in VARIANTS.items():
        history = train_variant(kwargs, data.X, data.y, epochs)
        norms = history.grad_norm_matrix()  # (epochs, dense layers)
        # the geometric mean over the epochs: one number per layer that a single epoch's
        # fluctuation does not dominate
        typical[name] = np.exp(np.log(norms).mean(axis=0))
        ratio = float(np.median(norms[:, 0] / norms[:, -1]))
        results[name] = {"first": float(typical[name][0]), "last": float(typical[name][-1]),
                         "ratio": ratio, "final_loss": float(history.loss[-1])}
        print(f"{LABELS[name]:<22}{typical[name][0]:>16.3g}{typical[name][-1]:>16.3g}"
              f"{ratio:>12.3g}{history.loss[-1]:>12.3f}")
        path = out / f"04_gradnorm_{name}.png"
        dp.plot.gradnorm(history, path=path, title=f"Gradient norm per layer: {LABELS[name]}")
        results["pngs"].append(str(path))
    path = out / "04_gradnorm_by_layer.png"
    plot_by_layer(typical, path)
    results["pngs"].append(str(path))
    print("ratio 1/9: median over the epochs of |grad layer 1| / |grad layer 9| "
          "(1 = every layer learns at the same pace)")
    results["quoted"] = write_quoted(out, "04", {
        "sigmoid": sci(results["sigmoid"]["ratio"]), "relu_he": f"{results['relu_he']['ratio']:#.2g}",
        "sigmoid_bn": f"{results['sigmoid_bn']['ratio']:#.2g}"})
    return results


if __name__ == "__main__":
    main()
