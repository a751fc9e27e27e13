"""MLP: the multilayer perceptron of the notes, built from layer widths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deltaprop._validation import check_count, check_flag, check_fraction
from deltaprop.activations import Activation, get_activation
from deltaprop.initializers import default_initializer_name
from deltaprop.layers import ActivationLayer, BatchNorm, Dense, Dropout, Layer
from deltaprop.network import Network


class MLP(Network):
    """A multilayer perceptron: dense layers of the given widths, one activation for the hidden
    layers, the output activation chosen by the loss unless given.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_inputs, hidden_1, ..., n_outputs]``; at least two entries.
    activation : str or Activation
        f of every hidden layer.
    output_activation : str or Activation, optional
        f of the output layer; ``None`` lets the loss choose (softmax for cross-entropy, sigmoid
        for binary cross-entropy, identity for squared error and MSE).
    init : str or callable, optional
        Weight initializer; default He for the ReLU family, Glorot otherwise.
    dtype, seed
        See :class:`Network`.
    batch_norm : bool
        Insert BatchNorm between each hidden layer's z and its activation (the notes' placement).
    dropout : float in [0, 1)
        Inverted dropout after each hidden activation.

    Examples
    --------
    >>> net = MLP([2, 4, 1], activation="sigmoid", seed=0)
    >>> [W.shape for W in net.weights]
    [(4, 2), (1, 4)]
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        *,
        activation: str | Activation = "relu",
        output_activation: str | Activation | None = None,
        init: Any = None,
        dtype: Any = np.float32,
        seed: Any = None,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        sizes = check_layer_sizes(layer_sizes)
        batch_norm = check_flag("batch_norm", batch_norm)
        dropout = check_fraction("dropout", dropout)
        hidden_activation = get_activation(activation)
        hidden_init = init if init is not None else default_initializer_name(hidden_activation.name)
        layers: list[Layer] = []
        for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
            if batch_norm:
                layers += [Dense(n_in, n_out, "identity", init=hidden_init), BatchNorm(n_out),
                           ActivationLayer(hidden_activation)]
            else:
                layers.append(Dense(n_in, n_out, hidden_activation, init=hidden_init))
            if dropout:
                layers.append(Dropout(dropout))
        layers.append(Dense(sizes[-2], sizes[-1], output_activation, init=init))
        self.layer_sizes = sizes
        super().__init__(layers, dtype=dtype, seed=seed)


def check_layer_sizes(layer_sizes: Any, name: str = "layer_sizes", minimum: int = 2) -> list[int]:
    """Return the widths as Python ints, or raise naming the first that is not an integer > 0.

    Only integers are widths, as in scikit-learn: ``True`` is not a width of 1, nor ``4.0``
    one of 4. ``minimum`` is the number of widths needed (an input and an output size).
    """
    if isinstance(layer_sizes, (str, bytes)):
        raise TypeError(f"{name} must be a list of ints like [64, 128, 10], got {layer_sizes!r}")
    try:
        sizes = list(layer_sizes)
    except TypeError:
        raise TypeError(
            f"{name} must be a list of ints like [64, 128, 10], got {layer_sizes!r}"
        ) from None
    if len(sizes) < minimum:
        raise ValueError(f"{name} needs at least an input and an output size, got {sizes}")
    return [check_count(f"{name}[{i}]", size) for i, size in enumerate(sizes)]
