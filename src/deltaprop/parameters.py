"""One flat vector for every parameter, and one for every gradient; layers hold views.

Layer ``i``'s parameters are laid end to end in declaration order (a Dense layer's ``W`` then
``b``), named ``layers.{i}.{name}``. Views are not pickled: a copied network rebinds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from deltaprop.layers import Dense, Layer

Array = np.ndarray


class HasDenseLayers(Protocol):
    """A network, as far as :class:`ParameterList` reads it."""

    dense_layers: list[Dense]


@dataclass
class FlatLayout:
    """Where each parameter lives in the flat vectors.

    Attributes
    ----------
    slices : dict of str to slice
        Dotted name -> its slice of ``theta`` and ``grad``.
    decayed : list of (W, dW) views
        The parameters L2/L1 weight decay applies to (dense weights, never biases).
    dense_slices : list of slice
        Each dense layer's (W, b) block, for per-layer gradient norms.
    other_slices : list of slice
        Each parameter outside the dense layers (BatchNorm's gamma and beta), one by one: their
        gradients count in the safety check of a step, not in the per-layer norms.
    """

    slices: dict[str, slice]
    decayed: list[tuple[Array, Array]]
    dense_slices: list[slice]
    other_slices: list[slice]


def flat_size(layers: Sequence[Layer]) -> int:
    """Number of parameters of all layers together."""
    return sum(int(np.prod(spec.shape)) for layer in layers for spec in layer.parameter_specs())


def bind_flat_buffers(layers: Sequence[Layer], theta: Array, grad: Array) -> FlatLayout:
    """Give every layer views into ``theta`` and ``grad`` and return the layout."""
    layout = FlatLayout({}, [], [], [])
    offset = 0
    for i, layer in enumerate(layers):
        params, grads, start = {}, {}, offset
        for spec in layer.parameter_specs():
            part = slice(offset, offset + int(np.prod(spec.shape)))
            params[spec.name] = theta[part].reshape(spec.shape)
            grads[spec.name] = grad[part].reshape(spec.shape)
            layout.slices[f"layers.{i}.{spec.name}"] = part
            if spec.decay:
                layout.decayed.append((params[spec.name], grads[spec.name]))
            offset = part.stop
        layer.bind(params, grads)
        if isinstance(layer, Dense):
            layout.dense_slices.append(slice(start, offset))
        else:
            layout.other_slices += [layout.slices[f"layers.{i}.{spec.name}"]
                                    for spec in layer.parameter_specs()]
    return layout


class ParameterList(Sequence):
    """The weights (or biases) of the dense layers as views; ``net.weights[i] = W`` copies in."""

    def __init__(self, network: HasDenseLayers, name: str) -> None:
        self._network, self._name = network, name

    def _views(self) -> list[Array]:
        return [layer.params[self._name] for layer in self._network.dense_layers]

    def __getitem__(self, index: Any) -> Any:
        return self._views()[index]

    def __len__(self) -> int:
        return len(self._network.dense_layers)

    def __setitem__(self, index: int, value: Any) -> None:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"assign one layer's {self._name} at a time (an int index), got {index!r}")
        view = self._views()[index]
        value = np.asarray(value)
        if value.shape != view.shape:
            raise ValueError(f"{self._name}[{index}] has shape {view.shape}, got {value.shape}")
        np.copyto(view, value)

    def __repr__(self) -> str:
        return f"[{', '.join(f'array{v.shape}' for v in self._views())}]"


_TRANSIENT = ("params", "grads", "_workspace", "a_prev", "z", "a", "delta", "_cache", "mask", "rng")


def layer_state(layer: Layer) -> tuple[type, dict[str, Any]]:
    """A layer's attributes without views, caches and workspaces (rebuilt on unpickling)."""
    state = {k: v for k, v in layer.__dict__.items() if k not in _TRANSIENT and not k.startswith("_hot_")}
    state.update({k: None for k in _TRANSIENT if k in layer.__dict__})
    state["params"], state["grads"], state["_workspace"] = {}, {}, {}
    return type(layer), state


def network_state(net: Any) -> dict[str, Any]:
    """A network's attributes for pickling: layers as :func:`layer_state`, without what
    ``__setstate__`` rebuilds (the dense-layer list, the output layer, the layout's views)."""
    derived = ("dense_layers", "output_layer", "layout")
    state = {k: v for k, v in net.__dict__.items() if k not in derived}
    state["layers"] = [layer_state(layer) for layer in net.layers]
    return state


def restore_network_state(net: Any, state: dict[str, Any]) -> None:
    """Put back :func:`network_state` (the caller rebinds the flat buffers)."""
    state = dict(state)
    layer_states = state.pop("layers")
    net.__dict__.update(state)
    net.layers = []
    for layer_class, layer_dict in layer_states:
        layer = layer_class.__new__(layer_class)
        layer.__dict__.update(layer_dict)
        net.layers.append(layer)
