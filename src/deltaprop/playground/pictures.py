"""The pictures of the input plane: every unit's output and the decision map (or fitted curve),
from one forward pass over a grid computed once per run.

In evaluation mode a BatchNorm is an affine map of each unit,
``gamma (z - mean) / sqrt(var + eps) + beta``, so it folds into the dense layer before it:
the network becomes a chain of stages ``a = f(a_prev W'^T + b')``, one per dense layer, and
the pictures are that chain run once over the unit maps' grid and the big picture's grid
stacked together (float32 for the maps of a classifier: a byte per pixel needs no more; float64
for the fitted curve, whose values are sent as numbers). The library's layer-by-layer forward
pass on the 100 x 100 grid took most of an update's time: each dense layer's product reads W
through a transposed view, which is several times slower than a copy laid out for it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop.activations import Activation
from deltaprop.layers import ActivationLayer, BatchNorm, Dense, Dropout
from deltaprop.network import Network

Array = np.ndarray
MAP_SIZE = 32  # neuron maps: MAP_SIZE x MAP_SIZE (classify) or MAP_SIZE points (regress)
OUTPUT_SIZE = 100  # the decision map's side
CURVE_POINTS = 200  # the fitted curve's points (regress)
Extent = tuple[float, float, float, float]


@dataclass
class Stage:
    """One dense layer in evaluation mode, any BatchNorm after it folded in:
    ``a = activation(a_prev @ W.T + b)``."""

    W: Array  # (n_out, n_in)
    b: Array  # (n_out,)
    activation: Activation


def stages(net: Network) -> list[Stage]:
    """The network in evaluation mode as a chain of :class:`Stage` (float64 copies)."""
    chain: list[Stage] = []
    for layer in net.layers:
        if isinstance(layer, Dense):
            chain.append(Stage(np.array(layer.W, np.float64), np.array(layer.b, np.float64),
                               layer.activation))
        elif isinstance(layer, BatchNorm):  # folded into the dense layer before it
            assert layer.running_var is not None and layer.running_mean is not None
            scale = layer.gamma / np.sqrt(layer.running_var + layer.eps)
            last = chain[-1]
            last.W = last.W * scale[:, None]
            last.b = (last.b - layer.running_mean) * scale + layer.beta
        elif isinstance(layer, ActivationLayer):
            assert chain[-1].activation.name == "identity", "one activation per stage"
            chain[-1].activation = layer.activation
        elif not isinstance(layer, Dropout):  # dropout is the identity in evaluation mode
            raise TypeError(f"the playground cannot draw a {type(layer).__name__} layer")
    return chain


def run_stages(chain: list[Stage], X: Array) -> tuple[list[Array], Array]:
    """``a`` of every stage for the rows of ``X`` (computed in X's dtype), and the last ``z``."""
    outputs, a, z = [], X, X
    for stage in chain:
        WT = np.ascontiguousarray(stage.W.T, dtype=X.dtype)  # laid out for the product
        z = a @ WT
        z += stage.b.astype(X.dtype)
        a = z if stage.activation.name == "identity" else stage.activation.forward(z)
        outputs.append(a)
    return outputs, z


def grid(extent: Extent, task: str, size: int) -> Array:
    """Points of the input plane (row 0 at ymax), or of the x axis (regress), one per row."""
    xmin, xmax, ymin, ymax = extent
    xs = np.linspace(xmin, xmax, size)
    if task == "regress":
        return xs[:, None]
    gx, gy = np.meshgrid(xs, np.linspace(ymax, ymin, size))
    return np.column_stack([gx.ravel(), gy.ravel()])


def encode(values: Array) -> dict[str, Any]:
    """A map as bytes: q = round(255 (v - min) / (max - min)), base64, with min and max."""
    return encode_columns(np.reshape(values, (-1, 1)))[0]


def encode_columns(values: Array) -> list[dict[str, Any]]:
    """:func:`encode` of each column of ``values`` (n_points, n_units), all at once."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=1e300, neginf=-1e300)
    low, high = values.min(axis=0), values.max(axis=0)
    span = high - low
    scale = np.divide(255.0, span, out=np.zeros_like(span), where=span > 0)  # flat: all 0
    q = np.ascontiguousarray(np.round((values - low) * scale).astype(np.uint8).T)
    return [{"min": float(lo), "max": float(hi), "data": base64.b64encode(row.tobytes()).decode("ascii")}
            for lo, hi, row in zip(low, high, q)]


class PlanePictures:
    """The pictures of one run's input plane: its grids are made once, and the pictures of the
    weights after a given number of steps are kept until the next step.

    Parameters
    ----------
    extent : (xmin, xmax, ymin, ymax)
    task : {"classify", "regress"}
    """

    def __init__(self, extent: Extent, task: str) -> None:
        self.task = task
        small = grid(extent, task, MAP_SIZE)
        self.big = grid(extent, task, CURVE_POINTS if task == "regress" else OUTPUT_SIZE)
        self.dtype = np.float64 if task == "regress" else np.float32
        self.points = np.vstack([small, self.big]).astype(self.dtype)
        self.n_small = len(small)
        self.input_maps = encode_columns(small)  # the inputs never change
        self._drawn_at: int | None = None
        self._drawn: tuple[list[list[dict[str, Any]]], dict[str, Any]] = ([], {})

    def draw(self, net: Network, steps: int) -> tuple[list[list[dict[str, Any]]], dict[str, Any]]:
        """Each dense layer's unit maps (after BatchNorm and f), and the big picture: P(class
        1) as bytes (classify) or the fitted curve (regress); redrawn only after a step."""
        if self._drawn_at != steps:
            with np.errstate(all="ignore"):  # a diverging run's pictures: NaN and inf encoded
                outputs, _ = run_stages(stages(net), self.points)
            maps = [encode_columns(a[:self.n_small]) for a in outputs]
            self._drawn = maps, self._output(outputs[-1][self.n_small:])
            self._drawn_at = steps
        return self._drawn

    def _output(self, a: Array) -> dict[str, Any]:
        if self.task == "regress":
            return {"x": self.big[:, 0].tolist(), "y": a[:, 0].tolist()}
        # P(class 1), or the single output clipped to [0, 1] (squared error)
        probability = np.clip(a[:, 1] if a.shape[1] == 2 else a[:, 0], 0.0, 1.0)
        q = np.round(np.nan_to_num(probability, nan=0.5) * 255.0).astype(np.uint8)
        return {"size": OUTPUT_SIZE, "data": base64.b64encode(q.tobytes()).decode("ascii")}

