"""Lesson 9: the delta rule, and backpropagation worked by hand on a 2-2-1 network.

(a) One sigmoid unit a = sigmoid(w . x + b) trained sample by sample on 1/2 (a - y)^2 follows
    the delta rule of the notes: delta = (a - y) a (1 - a), then w <- w - eta delta x and
    b <- b - eta delta. On a linearly separable problem (the AND gate) the squared error keeps
    falling towards zero.

(b) Backpropagation is the same delta computed layer after layer, from the output down. For a
    2-2-1 sigmoid network with given weights and one sample (x, y), the notes' equations are
    evaluated here one by one, with nothing but NumPy and column vectors as in the notes:

        forward:   z_l = W_l a_{l-1} + b_l,   a_l = f(z_l),   a_0 = x
        output:    delta_L = (a_L - y) * f'(z_L)
        backward:  delta_l = (W_{l+1}^T delta_{l+1}) * f'(z_l)
        gradients: dW_l = delta_l a_{l-1}^T,   db_l = delta_l

    with f = sigmoid and f'(z) = f(z) (1 - f(z)). Every number is then compared with what
    deltaprop computes for the same network (``net.loss_and_gradients`` and the stored
    ``net.zs``, ``net.activations``, ``net.deltas``): they agree to rounding (~1e-16).

Run ``python examples/09_delta_rule_and_backprop_by_hand.py [--out DIR] [--fast]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from lesson_quotes import sci, write_quoted
from matplotlib.figure import Figure

import deltaprop as dp

# The tiny network of part (b): weights chosen by hand, W_l of shape (n_out, n_in).
X_SAMPLE = np.array([1.0, 0.5])
Y_SAMPLE = 1.0
W1 = np.array([[0.2, -0.4],
               [0.7, 0.1]])
B1 = np.array([0.1, -0.3])
W2 = np.array([[0.6, -0.5]])
B2 = np.array([0.2])


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# --- (a) the delta rule ------------------------------------------------------------------------
def delta_rule(epochs: int, lr: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Train one sigmoid unit on AND; return the epochs and the mean of 1/2 (a - y)^2 after each."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 0.0, 0.0, 1.0])
    unit = dp.DeltaRule(2, lr=lr, seed=0)
    errors = [np.mean(0.5 * (unit.predict_proba(X) - y) ** 2)]
    for _ in range(epochs):
        unit.fit(X, y, epochs=1)  # continues from the current weights: one more pass
        errors.append(np.mean(0.5 * (unit.predict_proba(X) - y) ** 2))
    return np.arange(epochs + 1), np.array(errors)


def plot_delta_rule(epochs: np.ndarray, errors: np.ndarray, path: Path) -> None:
    fig = Figure(figsize=(7.0, 4.5), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(epochs[1:], errors[1:], color="#0072B2", linewidth=2.5,
            label="mean of $\\frac{1}{2}(a - y)^2$ over the 4 rows")
    ax.axhline(errors[0], color="#D55E00", linestyle="--", linewidth=1.5,
               label=f"before training: {errors[0]:.3f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("epoch (4 delta-rule updates each)", fontsize=12)
    ax.set_ylabel("squared error", fontsize=12)
    ax.set_title("Delta rule, one sigmoid unit learning AND", fontsize=14)
    ax.tick_params(which="both", labelsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=11)
    fig.savefig(path)


# --- (b) backpropagation by hand ---------------------------------------------------------------
def backprop_by_hand() -> dict[str, np.ndarray]:
    """The forward and backward pass of the 2-2-1 network, one equation per line."""
    x = X_SAMPLE[:, None]  # column vectors, as in the notes
    y = np.array([[Y_SAMPLE]])
    a0 = x
    z1 = W1 @ a0 + B1[:, None]
    a1 = sigmoid(z1)
    z2 = W2 @ a1 + B2[:, None]
    a2 = sigmoid(z2)
    loss = 0.5 * float(np.sum((a2 - y) ** 2))
    delta2 = (a2 - y) * a2 * (1.0 - a2)           # delta_L = (a_L - y) f'(z_L)
    delta1 = (W2.T @ delta2) * a1 * (1.0 - a1)    # delta_l = (W_{l+1}^T delta_{l+1}) f'(z_l)
    dW2, db2 = delta2 @ a1.T, delta2              # dW_l = delta_l a_{l-1}^T, db_l = delta_l
    dW1, db1 = delta1 @ a0.T, delta1
    return {"z1": z1[:, 0], "a1": a1[:, 0], "z2": z2[:, 0], "a2": a2[:, 0], "loss": np.array(loss),
            "delta2": delta2[:, 0], "delta1": delta1[:, 0],
            "dW2": dW2, "db2": db2[:, 0], "dW1": dW1, "db1": db1[:, 0]}


def backprop_by_library() -> dict[str, np.ndarray]:
    """The same quantities from deltaprop (batches are rows: take row 0 of each)."""
    net = dp.MLP([2, 2, 1], activation="sigmoid", output_activation="sigmoid", dtype=np.float64)
    net.weights[0][...], net.biases[0][...] = W1, B1
    net.weights[1][...], net.biases[1][...] = W2, B2
    loss, dWs, dbs = net.loss_and_gradients(X_SAMPLE[None, :], np.array([Y_SAMPLE]),
                                            loss="squared_error")
    zs, activations, deltas = net.zs, net.activations, net.deltas
    return {"z1": zs[0][0], "a1": activations[0][0], "z2": zs[1][0], "a2": activations[1][0],
            "loss": np.array(loss), "delta2": deltas[1][0], "delta1": deltas[0][0],
            "dW2": dWs[1], "db2": dbs[1], "dW1": dWs[0], "db1": dbs[0]}


def print_steps(hand: dict[str, np.ndarray], lib: dict[str, np.ndarray]) -> float:
    """Print every quantity, by hand and from the library; return the largest difference."""
    explain = {
        "z1": "W1 x + b1", "a1": "sigmoid(z1)", "z2": "W2 a1 + b2", "a2": "sigmoid(z2)",
        "loss": "1/2 (a2 - y)^2", "delta2": "(a2 - y) a2 (1 - a2)",
        "delta1": "(W2^T delta2) a1 (1 - a1)", "dW2": "delta2 a1^T", "db2": "delta2",
        "dW1": "delta1 x^T", "db1": "delta1",
    }
    print(f"x = {X_SAMPLE.tolist()}, y = {Y_SAMPLE:g}, W1 = {W1.tolist()}, b1 = {B1.tolist()}, "
          f"W2 = {W2.tolist()}, b2 = {B2.tolist()}")
    print(f"{'':7} {'equation':<27} {'by hand (matrix rows split by ;)':<42} {'|hand - library|':>16}")
    worst = 0.0
    for name, equation in explain.items():
        diff = float(np.max(np.abs(hand[name] - lib[name])))
        worst = max(worst, diff)
        rows = np.atleast_2d(hand[name]) if np.ndim(hand[name]) == 2 else [np.atleast_1d(hand[name])]
        values = "; ".join(", ".join(f"{v:.6f}" for v in row) for row in rows)  # rows by ";"
        print(f"{name:<7} {equation:<27} {values:<42} {diff:>16.1e}")
    return worst


def plot_network(hand: dict[str, np.ndarray], path: Path) -> None:
    """The 2-2-1 network with every forward and backward number written on it."""
    fig = Figure(figsize=(12.0, 6.2), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(-0.45, 2.55)
    ax.set_ylim(-0.75, 1.75)
    ax.axis("off")
    inputs, hidden, output = [(0.0, 1.0), (0.0, 0.0)], [(1.0, 1.0), (1.0, 0.0)], (2.0, 0.5)
    edge = {"color": "#999999", "linewidth": 1.5, "zorder": 1}
    box = {"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "#cccccc"}
    for k, start in enumerate(inputs):  # first layer: W1[j, k] joins input k to hidden unit j
        for j, end in enumerate(hidden):
            ax.plot([start[0], end[0]], [start[1], end[1]], **edge)
            t = 0.5 if j == k else 0.27  # crossing edges are labelled near their start
            px, py = start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])
            py += 0.12 if (j == k and k == 0) else (-0.12 if j == k else 0.0)
            ax.text(px, py, f"w={W1[j, k]:g}\ndW={hand['dW1'][j, k]:.5f}", ha="center",
                    va="center", fontsize=10, bbox=box, zorder=3)
    for j, start in enumerate(hidden):
        ax.plot([start[0], output[0]], [start[1], output[1]], **edge)
        ax.text((start[0] + output[0]) / 2, (start[1] + output[1]) / 2 + (0.1 if j == 0 else -0.1),
                f"w={W2[0, j]:g}\ndW={hand['dW2'][0, j]:.5f}", ha="center", va="center",
                fontsize=10, bbox=box, zorder=3)
    node = {"s": 2600, "zorder": 2, "edgecolors": "black", "linewidths": 1.5}
    for k, (px, py) in enumerate(inputs):
        ax.scatter([px], [py], color="#E6E6E6", **node)
        ax.text(px, py, f"$x_{k + 1}$", ha="center", va="center", fontsize=13, zorder=4)
        ax.text(px - 0.18, py, f"{X_SAMPLE[k]:g}", ha="right", va="center", fontsize=12)
    for j, (px, py) in enumerate(hidden):
        ax.scatter([px], [py], color="#BFDFF5", **node)
        ax.text(px, py, f"$h_{j + 1}$", ha="center", va="center", fontsize=13, zorder=4)
        ax.text(px, py + (0.22 if j == 0 else -0.22),
                f"b={B1[j]:g}  z={hand['z1'][j]:.4f}  a={hand['a1'][j]:.4f}\n"
                f"$\\delta$={hand['delta1'][j]:.5f}  db={hand['db1'][j]:.5f}",
                ha="center", va="bottom" if j == 0 else "top", fontsize=10.5)
    ax.scatter([output[0]], [output[1]], color="#F9D3B4", **node)
    ax.text(output[0], output[1], "$\\hat y$", ha="center", va="center", fontsize=14, zorder=4)
    ax.text(output[0], output[1] + 0.22,
            f"b={B2[0]:g}  z={hand['z2'][0]:.4f}\na={hand['a2'][0]:.4f}   y={Y_SAMPLE:g}\n"
            f"$\\delta$={hand['delta2'][0]:.5f}\nloss={float(hand['loss']):.5f}",
            ha="center", va="bottom", fontsize=10.5)
    ax.set_title("Backpropagation by hand: 2-2-1 sigmoid network, one sample, squared error",
                 fontsize=14)
    fig.savefig(path)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples/out", help="folder for the PNGs")
    parser.add_argument("--fast", action="store_true", help="fewer delta-rule epochs (for CI)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    epochs, errors = delta_rule(300 if args.fast else 2000)
    print("(a) delta rule, one sigmoid unit, AND gate, lr = 2")
    print(f"{'epoch':>6} {'mean 1/2 (a - y)^2':>19}")
    shown = sorted({0, 1, 10, 100, *[e for e in (1000,) if e < len(epochs)], len(epochs) - 1})
    for e in shown:
        print(f"{e:>6} {errors[e]:>19.6f}")
    print(f"error fell by a factor of {errors[0] / errors[-1]:.0f}\n")

    print("(b) backpropagation by hand vs deltaprop")
    hand = backprop_by_hand()
    max_diff = print_steps(hand, backprop_by_library())
    print(f"largest difference, hand vs library: {max_diff:.1e}")

    result = {
        "delta_rule_errors": errors.tolist(),
        "delta_rule_factor": float(errors[0] / errors[-1]),
        "hand": {name: np.asarray(value).tolist() for name, value in hand.items()},
        "max_difference": max_diff,
        "png_delta_rule": str(out / "09_delta_rule_error.png"),
        "png_network": str(out / "09_backprop_by_hand_network.png"),
    }
    plot_delta_rule(epochs, errors, Path(result["png_delta_rule"]))
    plot_network(hand, Path(result["png_network"]))
    result["quoted"] = write_quoted(out, "09", {"max_difference": sci(max_diff)})
    return result


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"done in {time.perf_counter() - started:.1f} s")
