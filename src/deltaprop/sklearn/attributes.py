"""``coefs_`` and ``intercepts_``: the network's parameters in scikit-learn's layout, writable.

scikit-learn keeps plain lists of arrays, so ``est.coefs_[0] = W`` and ``est.coefs_ = [...]``
change the model. Here the parameters live in the network (``net_``): each list holds views of
its W.T (shape (n_in, n_out)) and b (shape (n_out,)), and assigning an item, or the whole list,
checks the new array and writes it into the network, so the next ``predict`` uses it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np


class WrittenThrough(list):  # type: ignore[type-arg]
    """A list of arrays whose item assignment writes into the network (``write(i, value)``)."""

    def __init__(self, arrays: list[np.ndarray], write: Callable[[int, Any], None]) -> None:
        super().__init__(arrays)
        self._write = write

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            raise TypeError("assign the layers one by one (est.coefs_[i] = W) or the whole list "
                            "(est.coefs_ = [...]); a slice cannot change their number")
        i = operator.index(index)
        if not -len(self) <= i < len(self):
            raise IndexError(f"layer index {index} out of range for {len(self)} layers")
        i %= len(self)
        self._write(i, value)
        super().__setitem__(i, self[i])  # the view stays; it now shows the new values


def checked_parameter(name: str, value: Any, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """``value`` as a finite array of ``shape`` in ``dtype``, or a ValueError naming ``name``."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(value).__name__}") from None
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (as the fitted network's layer), got "
                         f"{array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array.astype(dtype)


def write_coef(net: Any, i: int, value: Any) -> None:
    """W_i of the network from scikit-learn's coefs_[i], shape (n_in, n_out)."""
    W = net.weights[i]
    W[...] = checked_parameter(f"coefs_[{i}]", value, W.T.shape, W.dtype).T


def write_intercept(net: Any, i: int, value: Any) -> None:
    """b_i of the network from scikit-learn's intercepts_[i], shape (n_out,)."""
    b = net.biases[i]
    b[...] = checked_parameter(f"intercepts_[{i}]", value, b.shape, b.dtype)


def write_all(name: str, net: Any, values: Any, write: Callable[[Any, int, Any], None]) -> None:
    """Every layer's array from a list of ``len(net.weights)``, checked before any is written."""
    n = len(net.weights)
    if isinstance(values, np.ndarray) or not hasattr(values, "__len__") or len(values) != n:
        raise ValueError(f"{name} must be a list of {n} arrays, one per layer")
    saved = [(W.copy(), b.copy()) for W, b in zip(net.weights, net.biases)]
    try:
        for i, value in enumerate(values):
            write(net, i, value)
    except ValueError:
        for (W, b), (W_saved, b_saved) in zip(zip(net.weights, net.biases), saved):
            W[...], b[...] = W_saved, b_saved
        raise
