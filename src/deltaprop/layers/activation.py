"""An activation as a layer of its own, for placing f after a BatchNorm: z -> BN -> f."""

from __future__ import annotations

from typing import Any

from deltaprop.activations import Activation, Identity, get_activation
from deltaprop.layers.base import Array, Layer, activation_fields, activation_from_fields


class ActivationLayer(Layer):
    """Applies ``a = f(z)`` elementwise; backward ``delta = g * f'(z)``.

    Parameters
    ----------
    activation : str or Activation
        ``None`` on the last layer of a network means "chosen by the loss".
    """

    def __init__(self, activation: str | Activation | None = None) -> None:
        super().__init__()
        self.activation_is_auto = activation is None
        self.activation = get_activation(activation or "identity")
        self.z: Array | None = None
        self.a: Array | None = None

    def set_activation(self, activation: str | Activation) -> None:
        self.activation = get_activation(activation)

    def forward(self, x: Array, *, training: bool) -> Array:
        self.z = x
        if isinstance(self.activation, Identity):
            self.a = x
        else:
            self.a = self.activation.forward(x, out=self._buffer("a", x.shape, x.dtype))
        return self.a

    def backward(
        self, g: Array, *, need_input_grad: bool = True, overwrite_g: bool = False
    ) -> Array | None:
        if not need_input_grad:
            return None
        assert self.z is not None and self.a is not None, "backward before forward"
        out = g if overwrite_g else self._buffer("delta", g.shape, g.dtype)
        return self.activation.backward(g, self.z, self.a, out=out)

    def delta_buffer(self) -> Array:
        """Where the loss writes the output delta when this is the last layer."""
        assert self.a is not None, "delta_buffer before forward"
        return self._buffer("delta", self.a.shape, self.a.dtype)

    def backward_delta(self, delta: Array, *, need_input_grad: bool = True) -> Array | None:
        """The fused output delta is already dLoss/dz, the gradient for the layer below."""
        return delta if need_input_grad else None

    def to_config(self) -> dict[str, Any]:
        return {"type": "Activation", "n_features": self.n_in,
                **activation_fields(self.activation, self.activation_is_auto)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ActivationLayer:
        activation, chosen_by_loss = activation_from_fields(config)
        layer = cls(activation)
        if chosen_by_loss is not None:
            layer.set_activation(chosen_by_loss)  # still the loss's to change
        return layer

    def __repr__(self) -> str:
        return f"Activation({self.activation.name!r})"


