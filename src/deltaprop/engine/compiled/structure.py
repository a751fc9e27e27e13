"""The network as the compiled kernels see it: a chain of units, each a dense layer with its
activation, and optionally a BatchNorm between them. Pure Python (no Numba): the engine builds
its layer table from it, and :mod:`.choice` asks it whether a network is such a chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deltaprop.layers import ActivationLayer, BatchNorm, Dense, Dropout


@dataclass
class Unit:
    """What the kernels see as one layer: a dense layer (at ``index`` in the network), the
    BatchNorm after it (or None), the activation (fused in the dense layer, or an
    ActivationLayer's) and the Dropout after that (or None)."""

    index: int
    dense: Dense
    norm: BatchNorm | None
    activation: Any
    dropout: Dropout | None = None


def units(layers: Sequence[Any]) -> list[Unit] | str:
    """The network as the kernels' units: Dense, or Dense (identity) -> BatchNorm ->
    ActivationLayer, or Dense (identity) -> ActivationLayer, each optionally followed by a
    Dropout, the last unit without BatchNorm or Dropout; or why it is not such a chain."""
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
        end = after + (activation is not None)
        dropout = _at(layers, end, Dropout)
        found.append(Unit(i, dense, norm, activation.activation if activation else dense.activation,
                          dropout))
        i = end + (dropout is not None)
    if found[-1].norm is not None or found[-1].dropout is not None:
        return "the network ends with a BatchNorm or a Dropout, which only the NumPy engine runs"
    return found


def _at(layers: Sequence[Any], i: int, kind: type) -> Any:
    """``layers[i]`` if there is one and it is a ``kind``, else None."""
    return layers[i] if i < len(layers) and isinstance(layers[i], kind) else None
