"""The unit detectors: ReLU units that never fire, sigmoid/tanh units pinned where f' is 0,
and units that compute the same thing as another (symmetry never broken). Each reads the
hidden layers of :class:`~deltaprop.doctor.observe.Observations`, never the output layer."""

from __future__ import annotations

import numpy as np

from deltaprop.doctor import thresholds as t
from deltaprop.doctor.findings import Finding
from deltaprop.doctor.observe import HiddenLayer, Observations

Array = np.ndarray


def dead_units(obs: Observations) -> list[Finding]:
    """``dead_units``: ReLU-family units whose z <= 0 on every sampled row (f'(z) = 0 there for
    ReLU, so no gradient ever reaches their weights again)."""
    found = []
    for layer in obs.hidden:
        if layer.activation not in t.DEAD_FAMILY:
            continue
        dead = np.flatnonzero((layer.z <= 0).all(axis=0))
        fraction = dead.size / layer.z.shape[1]
        if dead.size == 0:
            continue
        evidence = {"dead": int(dead.size), "units": int(layer.z.shape[1]),
                    "fraction": round(fraction, 4), "first_dead_units": dead[:10].tolist(),
                    "rows": int(layer.z.shape[0])}
        severity = ("error" if fraction == 1.0 else "warning" if fraction >= t.DEAD_FRACTION
                    else "info")
        found.append(Finding(
            "dead_units", severity, layer.index,
            f"{dead.size} of {layer.z.shape[1]} {layer.activation} units ({fraction:.0%}) never "
            "activate on these data, so they pass on nothing and learn nothing",
            evidence,
            "lower the learning rate (a large step pushes biases far negative), use "
            "leaky_relu or He initialization, or standardize the inputs"))
    return found


def _slope(name: str, z: Array) -> Array:
    """f'(z) / f'(0): 1 where the unit is steepest, 0 where it is flat."""
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))
        return 4.0 * s * (1.0 - s)
    return 1.0 - np.tanh(z) ** 2


def saturated_units(obs: Observations) -> list[Finding]:
    """``saturated_units``: sigmoid/tanh units with f'(z) below SATURATED_SLOPE of its peak on
    at least SATURATED_ROWS of the rows; reported when they are SATURATED_FRACTION of a layer."""
    found = []
    for layer in obs.hidden:
        if layer.activation not in t.SATURATING:
            continue
        flat_rows = (_slope(layer.activation, layer.z) < t.SATURATED_SLOPE).mean(axis=0)
        saturated = np.flatnonzero(flat_rows >= t.SATURATED_ROWS)
        fraction = saturated.size / layer.z.shape[1]
        if fraction < t.SATURATED_FRACTION:
            continue
        found.append(Finding(
            "saturated_units", "warning", layer.index,
            f"{saturated.size} of {layer.z.shape[1]} {layer.activation} units ({fraction:.0%}) "
            "sit where the curve is flat on most rows, so almost no gradient passes through them",
            {"saturated": int(saturated.size), "units": int(layer.z.shape[1]),
             "fraction": round(fraction, 4), "median_abs_z": round(float(np.median(np.abs(layer.z))), 4)},
            "standardize the inputs, use a smaller initialization (glorot) or a smaller learning "
            "rate, or add batch normalization"))
    return found


def _twins(layer: HiddenLayer) -> Array:
    """Which units have a near-twin: another unit whose incoming weights and bias (W_j, b_j)
    lie within TWIN_DISTANCE of the layer's typical row norm."""
    rows = np.hstack([layer.W, layer.b[:, None]])[: t.MAX_TWIN_UNITS]
    squared = np.einsum("ij,ij->i", rows, rows)
    gram = rows @ rows.T
    distance = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2.0 * gram, 0.0))
    scale = float(np.sqrt(squared.mean()))
    close = distance <= t.TWIN_DISTANCE * scale + 1e-12
    np.fill_diagonal(close, False)
    return close.any(axis=1)


def symmetric_units(obs: Observations) -> list[Finding]:
    """``symmetric_units``: units of a hidden layer with (near-)identical incoming weights and
    biases: they compute the same function and receive the same updates forever."""
    found = []
    for layer in obs.hidden:
        n_units = layer.W.shape[0]
        if n_units < 2:
            continue
        twins = _twins(layer)
        fraction = float(twins.mean())
        if fraction < t.TWIN_FRACTION:
            continue
        severity = "error" if fraction == 1.0 else "warning"
        found.append(Finding(
            "symmetric_units", severity, layer.index,
            f"{int(twins.sum())} of {twins.size} units have the same incoming weights as another "
            "unit, so they compute the same thing and the layer is narrower than it looks",
            {"units_with_twin": int(twins.sum()), "units": int(twins.size),
             "fraction": round(fraction, 4)},
            "initialize the weights randomly (the default glorot or he), never with one "
            "constant; symmetric units stay symmetric under gradient descent"))
    return found
