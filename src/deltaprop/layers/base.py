"""What every layer shares: parameter slots in the network's flat buffers, and workspaces.

A layer declares its parameters with :meth:`Layer.parameter_specs`; the network lays all of them
out in one flat parameter vector ``theta`` and one flat gradient vector ``grad`` and hands each
layer views into both (:meth:`Layer.bind`). So ``layer.W`` *is* a slice of ``theta`` and
``layer.dW`` a slice of ``grad``: the optimizer updates every parameter with one vectorized
operation, and a checkpoint is one array.

Forward and backward write into per-layer workspaces that are reused from batch to batch (and
reallocated only when the batch size changes), so the training step allocates almost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop.activations import ACTIVATIONS, Activation, get_activation

Array = np.ndarray


@dataclass(frozen=True)
class ParameterSpec:
    """A parameter a layer owns: its local name, shape, and whether L2/L1 decay applies."""

    name: str
    shape: tuple[int, ...]
    decay: bool


class Layer:
    """Base class of all layers.

    Subclasses implement :meth:`forward` and :meth:`backward`, and may declare parameters.
    ``n_in``/``n_out`` are the widths of input and output (``None`` while unknown: a BatchNorm,
    Dropout or Activation layer takes its width from the layer before it).
    """

    n_in: int | None = None
    n_out: int | None = None

    _hot_rows = -1  # batch size the hot-path workspaces of a subclass are sized for
    _hot_dtype: Any = None

    def __init__(self) -> None:
        self._workspace: dict[str, Array] = {}
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.rng: np.random.Generator | None = None
        self.bound = False

    # -- parameters -------------------------------------------------------------------------
    def parameter_specs(self) -> list[ParameterSpec]:
        """The parameters this layer owns (none by default)."""
        return []

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:
        """Receive views into the network's flat parameter and gradient buffers."""
        self.params, self.grads = params, grads
        self.bound = True

    def initialize(self, rng: np.random.Generator) -> None:
        """Set initial parameter values (in place, into the bound views)."""

    def set_width(self, n_features: int) -> None:
        """Called by the network with the width of the layer below, for width-agnostic layers."""
        if self.n_in is None:
            self.n_in = self.n_out = n_features
        elif self.n_in != n_features:
            raise ValueError(
                f"{self!r} expects {self.n_in} inputs but the layer below gives {n_features}"
            )

    # -- passes -----------------------------------------------------------------------------
    def forward(self, x: Array, *, training: bool) -> Array:
        """Map the input ``x`` of shape (n_samples, n_in) to the output (n_samples, n_out)."""
        raise NotImplementedError

    def backward(
        self, g: Array, *, need_input_grad: bool = True, overwrite_g: bool = False
    ) -> Array | None:
        """Given ``g = dLoss/d(output)``, fill ``self.grads`` and return ``dLoss/d(input)``.

        The return is skipped (``None``) when ``need_input_grad`` is false: the first layer never
        needs the gradient with respect to the data. ``overwrite_g`` allows the layer to use g's
        memory for its own results (the network passes scratch buffers).
        """
        raise NotImplementedError

    def to_config(self) -> dict[str, Any]:
        """The type and arguments that rebuild this layer (without its parameter values), as
        JSON; :func:`deltaprop.layers.registry.layer_from_config` reads it back."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """The layer :meth:`to_config` described (parameters not drawn: the network binds and
        fills them)."""
        raise NotImplementedError

    # -- workspaces -------------------------------------------------------------------------
    def _buffer(self, key: str, shape: tuple[int, ...], dtype: Any) -> Array:
        """A reusable array for ``key``; reallocated only when the shape or dtype changes."""
        buffer = self._workspace.get(key)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            buffer = np.empty(shape, dtype=dtype)
            self._workspace[key] = buffer
        return buffer


# -- the activation inside a layer's config ----------------------------------------------------
def activation_config(activation: Activation) -> dict[str, Any]:
    """The activation by name and parameters (:meth:`Activation.to_config`).

    Raises
    ------
    ValueError
        For a user-defined activation: configs hold names, never code, so it cannot be stored.
    """
    if ACTIVATIONS.get(activation.name) is not type(activation):
        raise ValueError(
            f"the user-defined activation {activation.name!r} cannot be described by name; the safe "
            "model format stores deltaprop's own activations only (pickle this network instead)"
        )
    return activation.to_config()


def activation_fields(activation: Activation, is_auto: bool) -> dict[str, Any]:
    """The config fields of a layer's activation. One left to the loss (``is_auto``) is stored
    too: it is the one the loss chose, and it stays the loss's to change after loading."""
    return {"activation": activation_config(activation), "activation_is_auto": is_auto}


def activation_from_fields(config: dict[str, Any]) -> tuple[Activation | None, Activation | None]:
    """(the activation to construct the layer with, or None when the loss chooses it; the
    activation to set afterwards, or None), from :func:`activation_fields`' output."""
    stored = config.get("activation")
    activation = None if stored is None else get_activation(stored)
    if config.get("activation_is_auto", stored is None):
        return None, activation
    return activation, None
