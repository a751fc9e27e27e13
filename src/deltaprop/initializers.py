"""Initial weights: the choice that breaks (or, with zeros, keeps) the symmetry of hidden units.

Every initializer draws ``W`` of shape ``(n_out, n_in)`` from an explicit
``numpy.random.Generator``; biases start at zero, except with the two ``sklearn`` initializers,
which draw ``b`` too and return ``(W, b)``. Draws are made in float64 and cast, so a seed gives
the same starting point in float32 and float64 networks, bit for bit across runs.

=================  ==========================================  ============================
name               distribution                                default for
=================  ==========================================  ============================
``zeros``          W = 0 (every hidden unit stays identical)
``uniform``        U(-scale, scale), scale = 0.05
``normal``         N(0, scale^2), scale = 0.01
``glorot``         U(-r, r), r = sqrt(6 / (n_in + n_out))      sigmoid, tanh, softmax, ...
``glorot_normal``  N(0, 2 / (n_in + n_out))
``he``             N(0, 2 / n_in)                              relu, leaky_relu, elu
``he_uniform``     U(-r, r), r = sqrt(6 / n_in)
``lecun``          N(0, 1 / n_in)
``lecun_uniform``  U(-r, r), r = sqrt(3 / n_in)
``sklearn``        W and b U(-r, r), r = sqrt(6 / (n_in + n_out))  deltaprop.sklearn estimators
``sklearn_logistic``  W and b U(-r, r), r = sqrt(2 / (n_in + n_out))  the same, logistic
=================  ==========================================  ============================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from deltaprop._validation import unknown_name_error

# f(shape, rng) -> W, or -> (W, b) for an initializer that draws the biases too
Initializer = Callable[[tuple[int, int], np.random.Generator], Any]


def zeros(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """All zeros: shows the symmetry problem (hidden units receive identical updates)."""
    return np.zeros(shape)


def uniform(shape: tuple[int, int], rng: np.random.Generator, scale: float = 0.05) -> np.ndarray:
    """U(-scale, scale)."""
    return rng.uniform(-scale, scale, size=shape)


def normal(shape: tuple[int, int], rng: np.random.Generator, scale: float = 0.01) -> np.ndarray:
    """N(0, scale^2)."""
    return rng.normal(0.0, scale, size=shape)


def glorot(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Glorot/Xavier uniform: U(-r, r) with r = sqrt(6 / (n_in + n_out))."""
    n_out, n_in = shape
    return _uniform_limit(shape, rng, np.sqrt(6.0 / (n_in + n_out)))


def glorot_normal(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Glorot/Xavier normal: N(0, 2 / (n_in + n_out))."""
    n_out, n_in = shape
    return rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), size=shape)


def he(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """He/Kaiming normal: N(0, 2 / n_in), keeps the variance of ReLU activations constant."""
    return rng.normal(0.0, np.sqrt(2.0 / shape[1]), size=shape)


def he_uniform(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """He/Kaiming uniform: U(-r, r) with r = sqrt(6 / n_in)."""
    return _uniform_limit(shape, rng, np.sqrt(6.0 / shape[1]))


def lecun(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """LeCun normal: N(0, 1 / n_in)."""
    return rng.normal(0.0, np.sqrt(1.0 / shape[1]), size=shape)


def lecun_uniform(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """LeCun uniform: U(-r, r) with r = sqrt(3 / n_in)."""
    return _uniform_limit(shape, rng, np.sqrt(3.0 / shape[1]))


def sklearn(shape: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's MLP initialization: W, then b, uniform in +-sqrt(6 / (n_in + n_out))."""
    return _weights_and_biases(shape, rng, 6.0)


def sklearn_logistic(shape: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's MLP initialization for logistic units: +-sqrt(2 / (n_in + n_out))."""
    return _weights_and_biases(shape, rng, 2.0)


def _weights_and_biases(shape: tuple[int, int], rng: np.random.Generator,
                        factor: float) -> tuple[np.ndarray, np.ndarray]:
    n_out, n_in = shape
    limit = np.sqrt(factor / (n_in + n_out))
    return _uniform_limit(shape, rng, limit), _uniform_limit((n_out,), rng, limit)


def _uniform_limit(shape: tuple[int, ...], rng: np.random.Generator, limit: float) -> np.ndarray:
    return rng.uniform(-limit, limit, size=shape)


INITIALIZERS: dict[str, Initializer] = {
    f.__name__: f
    for f in (zeros, uniform, normal, glorot, glorot_normal, he, he_uniform, lecun, lecun_uniform,
              sklearn, sklearn_logistic)
}
_ALIASES = {
    "xavier": "glorot", "glorot_uniform": "glorot", "xavier_uniform": "glorot",
    "xavier_normal": "glorot_normal", "he_normal": "he", "kaiming": "he", "lecun_normal": "lecun",
}
_DEFAULT_FOR_ACTIVATION = {"relu": "he", "leaky_relu": "he", "elu": "he"}


def default_initializer_name(activation_name: str) -> str:
    """He for the ReLU family, Glorot for everything else."""
    return _DEFAULT_FOR_ACTIVATION.get(activation_name, "glorot")


def get_initializer(spec: str | Initializer | None, activation_name: str = "identity") -> Initializer:
    """Return the initializer named by ``spec``; ``None`` picks the default for the activation.

    Parameters
    ----------
    spec : str, callable or None
        A name from the table in this module's docstring, or a callable
        ``f(shape, rng) -> W`` (or ``-> (W, b)`` to draw the biases as well).
    activation_name : str
        The layer's activation, used when ``spec`` is None: He for the ReLU family, Glorot
        otherwise.
    """
    if spec is None:
        return INITIALIZERS[default_initializer_name(activation_name)]
    if callable(spec):
        return spec
    key = _ALIASES.get(str(spec).lower(), str(spec).lower())
    if key not in INITIALIZERS:
        raise unknown_name_error("init", spec, INITIALIZERS)
    return INITIALIZERS[key]
