"""The gradient detectors: per-layer gradient norms that fall (vanishing) or grow (exploding)
by orders of magnitude from the output layer down to the first, and a gradient norm that grows
by orders of magnitude as training goes on."""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.doctor import thresholds as t
from deltaprop.doctor.findings import Finding
from deltaprop.doctor.observe import Observations

Array = np.ndarray
TINY = 1e-30  # a norm of exactly 0 (no gradient at all) counts as this, for the logarithms


def layer_norms(obs: Observations) -> tuple[Array, str]:
    """One gradient norm per dense layer and where it comes from: the geometric mean over the
    recorded epochs (History.grad_norms: what training saw, one odd epoch does not dominate), or
    the norm at the current weights when there is no history."""
    history = obs.history
    if history is not None and len(history.grad_norms):
        norms = history.grad_norm_matrix()
        norms = norms[np.isfinite(norms).all(axis=1)]
        if len(norms) and norms.shape[1] == obs.grad_norms.size:
            return np.exp(np.log(np.maximum(norms, TINY)).mean(axis=0)), "history"
    return obs.grad_norms, "current weights"


def _ratios(obs: Observations) -> tuple[Array, dict[str, Any]] | None:
    norms, source = layer_norms(obs)
    if norms.size < 2 or not np.isfinite(norms).all() or norms[-1] <= TINY:
        return None  # one layer, or no gradient at the output to compare with
    ratios = np.maximum(norms, TINY) / norms[-1]
    evidence = {"grad_norms": [float(f"{g:.4g}") for g in norms],
                "ratio_to_output": [float(f"{r:.4g}") for r in ratios], "source": source}
    return ratios, evidence


def vanishing_gradients(obs: Observations) -> list[Finding]:
    """``vanishing_gradients``: a layer whose gradient norm is below VANISHING_RATIO times the
    output layer's; the layer named is the one with the smallest ratio."""
    measured = _ratios(obs)
    if measured is None:
        return []
    ratios, evidence = measured
    layer = int(np.argmin(ratios[:-1]))
    if ratios[layer] >= t.VANISHING_RATIO:
        return []
    return [Finding(
        "vanishing_gradients", "warning", layer,
        f"the gradient reaching layer {layer} is {ratios[layer]:.1e} times the output layer's, "
        "so the layers near the input hardly learn",
        evidence,
        "use relu (with he initialization) or tanh instead of sigmoid in the hidden layers, "
        "fewer layers, or batch normalization")]


def exploding_gradients(obs: Observations) -> list[Finding]:
    """``exploding_gradients``: a layer whose gradient norm is above EXPLODING_RATIO times the
    output layer's, or one that grew to EXPLODING_GROWTH times the first epoch's largest; and
    weights that are no longer numbers (where exploding steps end)."""
    broken = [i for i, layer in enumerate(obs.net.dense_layers)
              if not (np.isfinite(layer.W).all() and np.isfinite(layer.b).all())]
    if broken:
        return [Finding(
            "exploding_gradients", "error", broken[0],
            f"the weights of layer {broken[0]} hold NaN or infinity, so the network computes "
            "nothing", {"layers_not_finite": broken},
            "start again from fresh weights with a learning rate 10x smaller, or clip the "
            "gradients")]
    found = []
    measured = _ratios(obs)
    if measured is not None:
        ratios, evidence = measured
        layer = int(np.argmax(ratios[:-1]))
        if ratios[layer] > t.EXPLODING_RATIO:
            found.append(Finding(
                "exploding_gradients", "warning", layer,
                f"the gradient reaching layer {layer} is {ratios[layer]:.1e} times the output "
                "layer's, so one step moves that layer far more than the others",
                evidence,
                "check that layer's initialization (too small weights under batch norm, too "
                "large ones without), lower the learning rate, or clip gradients"))
    return found + _growth(obs)


def _growth(obs: Observations) -> list[Finding]:
    """Each layer's largest gradient norm over the epochs against the largest norm of any
    layer in the first epoch: a layer that starts small (vanishing) and grows as it begins to
    learn is not exploding, one that outgrows the whole first epoch by orders of magnitude is."""
    history = obs.history
    if history is None or len(history.grad_norms) < 2:
        return []
    norms = history.grad_norm_matrix()
    norms = norms[np.isfinite(norms).all(axis=1)]
    if len(norms) < 2 or not norms[0].max() > TINY:
        return []
    growth = norms.max(axis=0) / norms[0].max()
    layer = int(np.argmax(growth))
    if growth[layer] < t.EXPLODING_GROWTH:
        return []
    return [Finding(
        "exploding_gradients", "error", layer,
        f"the gradient of layer {layer} grew to {growth[layer]:.1e} times the first epoch's "
        "largest, the sign of steps that overshoot further each time",
        {"growth": [float(f"{g:.4g}") for g in growth],
         "first_epoch": [float(f"{g:.4g}") for g in norms[0]],
         "largest": [float(f"{g:.4g}") for g in norms.max(axis=0)]},
        "lower the learning rate (by 10x), clip the gradients, or standardize the inputs")]
