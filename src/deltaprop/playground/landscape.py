"""A slice of the loss landscape: the training loss on a plane through the current weights.

The plane is ``theta + alpha d1 + beta d2`` for two random directions, each dense layer's part
of a direction scaled to the norm of that layer's W (the "filter normalization" of Li et al.,
Visualizing the Loss Landscape of Neural Nets, 2018, here per layer), so that a step of 1
along it changes every layer as much as its weights are large, whatever their scale. As there,
biases and BatchNorm's gamma and beta stay where they are (their part of d1 and d2 is 0).
The loss is the training loss the page reports: the mean over the training rows in evaluation
mode, without the L2 term.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop.losses import Loss
from deltaprop.network import Network
from deltaprop.playground.config import ConfigError
from deltaprop.playground.pictures import run_stages, stages
from deltaprop.playground.trace import finite, numbers

Array = np.ndarray
SIZES = (5, 41)  # points along each side
MAX_RADIUS = 10.0


def check_size(raw: Any) -> int:
    """Points along each side of the slice: a whole number in [5, 41]."""
    low, high = SIZES
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise ConfigError("size", f"size must be a whole number from {low} to {high}, got "
                          f"{_short(raw)}")
    return raw


def check_radius(raw: Any) -> float:
    """How far along each direction: a number in (0, 10]."""
    if (isinstance(raw, bool) or not isinstance(raw, (int, float))
            or not 0 < raw <= MAX_RADIUS or not math.isfinite(raw)):
        raise ConfigError("radius", f"radius must be a number in (0, {MAX_RADIUS:g}], got "
                          f"{_short(raw)}")
    return float(raw)


def _short(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def directions(net: Network, seed: int) -> list[tuple[Array, Array]]:
    """(d1, d2) parts of each dense layer's W: Gaussian, scaled to the norm of that W."""
    rng = np.random.default_rng([seed, 2])  # its own stream: the data and split use [seed], [seed, 1]
    parts = []
    for layer in net.dense_layers:
        norm = float(np.linalg.norm(layer.W))
        pair = []
        for _ in range(2):
            d = rng.standard_normal(layer.W.shape)
            pair.append(d * (norm / max(float(np.linalg.norm(d)), 1e-300)))
        parts.append((pair[0], pair[1]))
    return parts


def landscape(net: Network, loss: Loss, X: Array, Y: Array, *, seed: int, size: Any,
              radius: Any, centre: float) -> dict[str, Any]:
    """The training loss on a ``size`` x ``size`` grid of (alpha, beta) in [-radius, radius]^2.

    Parameters
    ----------
    net : Network
        Not changed: the weights of the plane are set on a copy.
    loss : Loss
    X, Y : ndarray
        The training rows and their targets as the loss takes them (the stepper's).
    seed : int
        The run's seed: the directions are the same for the same run.
    size, radius
        As the request gives them (checked here).
    centre : float
        The loss at theta, as reported (the grid's own centre is computed like every point).

    Returns
    -------
    dict
        ``size``, ``radius``, ``loss`` (rows from beta = +radius down to -radius, columns from
        alpha = -radius to +radius), ``centre``, ``min`` and ``max`` (of the finite values).
    """
    size, radius = check_size(size), check_radius(radius)
    probe = net.astype(np.float64)
    weights = [np.array(layer.W, copy=True) for layer in probe.dense_layers]
    parts = directions(probe, seed)
    steps = np.linspace(-radius, radius, size)
    losses = np.empty((size, size))
    with np.errstate(all="ignore"):  # far from theta the loss may overflow: sent as null
        for i, beta in enumerate(steps[::-1]):
            for j, alpha in enumerate(steps):
                for layer, W, (d1, d2) in zip(probe.dense_layers, weights, parts):
                    np.add(W, alpha * d1 + beta * d2, out=layer.W)
                outputs, z = run_stages(stages(probe), X)
                losses[i, j] = loss.value(z, outputs[-1], Y)
    finite_values = losses[np.isfinite(losses)]
    return {"size": size, "radius": radius, "loss": numbers(losses), "centre": finite(centre),
            "min": finite(finite_values.min()) if finite_values.size else None,
            "max": finite(finite_values.max()) if finite_values.size else None}
