"""The layer stack's rules: what makes a list of layers a network."""

from __future__ import annotations

from deltaprop.layers.activation import ActivationLayer
from deltaprop.layers.base import Layer
from deltaprop.layers.dense import Dense


def check_stack(layers: list[Layer]) -> None:
    """Raise unless ``layers`` form a network: Layers, each used once, widths that chain
    (width-agnostic layers take the width below), and an output layer that carries the output
    activation. Sets the widths of width-agnostic layers."""
    if not layers:
        raise ValueError("a Network needs at least one layer")
    width: int | None = None
    seen: set[int] = set()
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"layers[{i}] is {type(layer).__name__}, not a deltaprop Layer")
        if id(layer) in seen or layer.bound:
            raise ValueError(
                f"layers[{i}] ({layer!r}) already belongs to a network; a layer holds its own "
                "parameters, so create a new layer (or use net.copy())"
            )
        seen.add(id(layer))
        if layer.n_in is None:
            if width is None:
                raise ValueError(f"layers[{i}] ({layer!r}) cannot infer its width: put a Dense layer first")
            layer.set_width(width)
        elif width is not None and layer.n_in != width:
            raise ValueError(
                f"layers[{i}] ({layer!r}) takes {layer.n_in} inputs but layers[{i - 1}] gives {width}"
            )
        width = layer.n_out
    if not isinstance(layers[-1], (Dense, ActivationLayer)):
        raise ValueError(
            f"the last layer must be Dense or Activation (it carries the output activation), "
            f"got {layers[-1]!r}"
        )
