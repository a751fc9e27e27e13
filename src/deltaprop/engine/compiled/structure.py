"""The network as the compiled kernels see it: a chain of units, each a dense layer with its
activation, and optionally a BatchNorm between them. Pure Python (no Numba): the engine builds
its layer table from it, and :mod:`.choice` asks it whether a network is such a chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deltaprop.layers import ActivationLayer, BatchNorm, Dense


@dataclass
class Unit:
    """What the kernels see as one layer: a dense layer (at ``index`` in the network), the
    BatchNorm after it (or None) and the activation that ends it (fused in the dense layer,
    or an ActivationLayer's)."""

    index: int
    dense: Dense
    norm: BatchNorm | None
    activation: Any


def units(layers: Sequence[Any]) -> list[Unit] | str:
    """The network as the kernels' units: Dense, or Dense (identity) -> BatchNorm ->
    ActivationLayer, or Dense (identity) -> ActivationLayer, the last without BatchNorm; or
    why it is not such a chain (in words)."""
    found, i = [], 0
    while i < len(layers):
        dense = layers[i]
        if not isinstance(dense, Dense):
            return f"the network has a {type(dense).__name__} layer, which only the NumPy engine runs"
        norm = _at(layers, i + 1, BatchNorm)
        after = i + 1 + (norm is not None)
        activation = _at(layers, after, ActivationLayer)
        if (norm or activation) and dense.activation.name != "identity":
            return "the network has an activation both in a dense layer and after it"
        found.append(Unit(i, dense, norm, activation.activation if activation else dense.activation))
        i = after + (activation is not None)
    if found[-1].norm is not None:
        return "the network ends with a BatchNorm, which only the NumPy engine runs"
    return found


def _at(layers: Sequence[Any], i: int, kind: type) -> Any:
    """``layers[i]`` if there is one and it is a ``kind``, else None."""
    return layers[i] if i < len(layers) and isinstance(layers[i], kind) else None
