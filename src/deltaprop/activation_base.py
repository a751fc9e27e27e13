"""The base class of the activations (:mod:`deltaprop.activations` holds them all): an
elementwise f(z) with its derivative f'(z), and the backward pass delta = g * f'(z)."""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray


def select(condition: Array, if_true: Any, if_false: Any, dtype: Any, out: Array | None) -> Array:
    """``np.where`` that keeps the dtype of ``z`` and can write into ``out``."""
    selected = np.where(condition, if_true, if_false).astype(dtype, copy=False)
    if out is None:
        return selected
    np.copyto(out, selected)
    return out


class Activation:
    """Base class: an elementwise function and its derivative.

    Subclasses implement :meth:`forward` and :meth:`derivative`; :meth:`backward` multiplies.
    ``out=`` arguments let the hot path reuse preallocated buffers. ``kinks`` lists the values
    of z where f or f' jumps (the gradient check keeps its differences off them).
    """

    name = "activation"
    kinks: tuple[float, ...] = ()

    def forward(self, z: Array, out: Array | None = None) -> Array:
        """Return ``a = f(z)``, written into ``out`` when given (``out`` may be ``z``)."""
        raise NotImplementedError

    def derivative(self, z: Array, a: Array) -> Array:
        """Return ``f'(z)`` elementwise, given ``z`` and ``a = f(z)``."""
        raise NotImplementedError

    def backward(self, g: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        """Return ``delta = g * f'(z)``, written into ``out`` when given (``out`` may be ``g``)."""
        return np.multiply(g, self.derivative(z, a), out=out)

    def __call__(self, z: Array) -> Array:
        return self.forward(np.asarray(z))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def to_config(self) -> dict[str, Any]:
        """The name and parameters that rebuild this activation with :func:`get_activation`."""
        return {"name": self.name}
