"""Activation functions f(z) and their derivatives f'(z), side by side.

Every activation maps the pre-activation ``z`` of shape ``(n_samples, n_units)`` to the
activation ``a = f(z)`` of the same shape (the notes' ``a_l = f(z_l)``), and turns the gradient
``g = dLoss/da`` handed down from the layer above into the layer's delta::

    delta = g * f'(z)          (the notes' delta_l = (W_{l+1}^T delta_{l+1}) * f'(z_l))

Derivatives are written in terms of ``z`` and ``a`` together because several are cheapest from
the output (sigmoid: a (1 - a); tanh: 1 - a^2). Every formula is stable for |z| up to 1e4 and
beyond: no overflow, no warning, no NaN (the exponential saturates at the largest whole power
of e its dtype holds, see :class:`Exp`).

Softmax is the one activation that is not elementwise; its backward applies the Jacobian,
``delta = a * (g - sum(g * a, axis=1))``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from deltaprop._validation import check_fraction, check_positive, unknown_name_error
from deltaprop.activation_base import Activation as Activation  # (re-exported: its home for users)
from deltaprop.activation_base import select as _select

Array = np.ndarray


class Identity(Activation):
    """f(z) = z, f'(z) = 1. The output unit of regression (the notes' y_hat = a^(L+1))."""

    name = "identity"

    def forward(self, z: Array, out: Array | None = None) -> Array:
        if out is None:
            return z.copy()
        if out is not z:
            np.copyto(out, z)
        return out

    def derivative(self, z: Array, a: Array) -> Array:
        return np.ones_like(z)

    def backward(self, g: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        if out is None:
            return g.copy()
        if out is not g:
            np.copyto(out, g)
        return out


class Sigmoid(Activation):
    """The logistic function f(z) = 1 / (1 + e^-z), f'(z) = a (1 - a).

    Notes
    -----
    Computed as ``(1 + tanh(z / 2)) / 2``, an identity of the logistic function: no
    exponential, so nothing overflows for any z, and four cheap in-place passes. Outputs are
    exact to the dtype's absolute precision (an output below about 1e-8 in float32 rounds to
    0); the cross-entropy losses never take the log of it, they work from z.
    """

    name = "sigmoid"

    def forward(self, z: Array, out: Array | None = None) -> Array:
        out = np.multiply(z, 0.5, out=out)
        np.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        return out

    def derivative(self, z: Array, a: Array) -> Array:
        return a * (1.0 - a)

    def backward(self, g: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        # g a (1 - a) = g a - g a a: two products and a subtraction, no temporary beyond one
        out = np.multiply(g, a, out=out)
        g_a_a = np.multiply(out, a)
        return np.subtract(out, g_a_a, out=out)


class Tanh(Activation):
    """f(z) = tanh(z), f'(z) = 1 - a^2."""

    name = "tanh"

    def forward(self, z: Array, out: Array | None = None) -> Array:
        return np.tanh(z, out=out)

    def derivative(self, z: Array, a: Array) -> Array:
        return 1.0 - a * a

    def backward(self, g: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        a_squared = np.multiply(a, a)
        np.subtract(1.0, a_squared, out=a_squared)
        return np.multiply(g, a_squared, out=out)


class ReLU(Activation):
    """f(z) = max(z, 0), f'(z) = 1 if z > 0 else 0 (0 at the kink, as PyTorch)."""

    name = "relu"
    kinks = (0.0,)

    def forward(self, z: Array, out: Array | None = None) -> Array:
        return np.maximum(z, 0.0, out=out)

    def derivative(self, z: Array, a: Array) -> Array:
        return (z > 0).astype(z.dtype)

    def backward(self, g: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        # Multiplying by the boolean mask is about 5x faster than copyto(..., where=z <= 0).
        return np.multiply(g, z > 0, out=out)


class LeakyReLU(Activation):
    """f(z) = z if z > 0 else slope * z; f'(z) = 1 or slope."""

    name = "leaky_relu"
    kinks = (0.0,)

    def __init__(self, slope: float = 0.01) -> None:
        self.slope = check_fraction("leaky_relu slope", slope, high_inclusive=True)

    def forward(self, z: Array, out: Array | None = None) -> Array:
        # max(z, slope z) is z for z > 0 and slope z otherwise, because 0 <= slope <= 1.
        return np.maximum(z, np.multiply(z, self.slope), out=out)

    def derivative(self, z: Array, a: Array) -> Array:
        return np.where(z > 0, 1.0, self.slope).astype(z.dtype)

    def backward(self, g: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        slopes = np.greater(z, 0).astype(g.dtype)
        slopes *= 1.0 - self.slope
        slopes += self.slope
        return np.multiply(g, slopes, out=out)

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "slope": self.slope}

    def __repr__(self) -> str:
        return f"LeakyReLU(slope={self.slope})"


class ELU(Activation):
    """f(z) = z if z > 0 else alpha (e^z - 1); f'(z) = 1 or a + alpha.

    ``expm1`` is taken of ``min(z, 0)`` so large positive z never overflow.
    """

    name = "elu"
    kinks = (0.0,)

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = check_positive("elu alpha", alpha)

    def forward(self, z: Array, out: Array | None = None) -> Array:
        negative_part = np.expm1(np.minimum(z, 0.0))
        negative_part *= self.alpha
        return _select(z > 0, z, negative_part, z.dtype, out)

    def derivative(self, z: Array, a: Array) -> Array:
        return np.where(z > 0, 1.0, a + self.alpha).astype(z.dtype, copy=False)

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "alpha": self.alpha}

    def __repr__(self) -> str:
        return f"ELU(alpha={self.alpha})"


class Softplus(Activation):
    """f(z) = log(1 + e^z), computed as max(z, 0) + log1p(e^-|z|); f'(z) = sigmoid(z)."""

    name = "softplus"

    def forward(self, z: Array, out: Array | None = None) -> Array:
        soft = np.log1p(np.exp(-np.abs(z)))
        return np.add(np.maximum(z, 0.0), soft, out=out)

    def derivative(self, z: Array, a: Array) -> Array:
        return Sigmoid().forward(z)


class Exp(Activation):
    """f(z) = e^z, f'(z) = e^z = a: the inverse of the log link, the output of Poisson regression.

    Notes
    -----
    ``z`` is clipped at ``floor(log(max))`` of its dtype (709 in float64, 88 in float32, 11 in
    float16) before the exponential, so f saturates at e^709 = 8.2e307 (float32: 1.7e38)
    instead of overflowing to infinity with a warning; the derivative there is taken as ``a``
    (that of e^z, not of the clipped function, which would stop all learning). scikit-learn's
    ``exp`` output does not clip (``np.exp`` gives inf and a RuntimeWarning); below the clip,
    where every finite fit lives, the two are the same. A Poisson loss past the clip is of
    order 1e307 (float32: 1e38) per sample: a few sum to infinity, and the run is reported as
    diverged, as after a NaN.
    """

    name = "exp"

    def forward(self, z: Array, out: Array | None = None) -> Array:
        out = np.minimum(z, exp_limit(z.dtype), out=out)
        return np.exp(out, out=out)

    def derivative(self, z: Array, a: Array) -> Array:
        return a.copy()

    def backward(self, g: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        return np.multiply(g, a, out=out)


_EXP_LIMITS: dict[Any, float] = {}


def exp_limit(dtype: Any) -> float:
    """The largest whole number z whose e^z the dtype holds (floor(log(max))); float64's for
    a dtype that is not floating (whose exponential NumPy computes in float64)."""
    if dtype not in _EXP_LIMITS:  # remembered: finfo and a log cost more than the step's exp
        floating = dtype if np.issubdtype(dtype, np.floating) else np.float64
        _EXP_LIMITS[dtype] = float(np.floor(np.log(np.finfo(floating).max)))
    return _EXP_LIMITS[dtype]


class Sign(Activation):
    """The perceptron's unit: f(z) = +1 if z >= 0 else -1; f'(z) = 0 almost everywhere.

    Its derivative carries no gradient, which is why the perceptron algorithm
    (:class:`deltaprop.classic.Perceptron`) updates on mistakes instead of by gradient.
    """

    name = "sign"
    kinks = (0.0,)

    def forward(self, z: Array, out: Array | None = None) -> Array:
        return _select(z >= 0, 1.0, -1.0, z.dtype, out)

    def derivative(self, z: Array, a: Array) -> Array:
        return np.zeros_like(z)


class Step(Activation):
    """The unit step: f(z) = 1 if z >= 0 else 0; f'(z) = 0 almost everywhere."""

    name = "step"
    kinks = (0.0,)

    def forward(self, z: Array, out: Array | None = None) -> Array:
        return _select(z >= 0, 1.0, 0.0, z.dtype, out)

    def derivative(self, z: Array, a: Array) -> Array:
        return np.zeros_like(z)


class Softmax(Activation):
    """a_k = e^{z_k} / sum_j e^{z_j} over each row, with the row maximum subtracted first.

    Not elementwise: ``backward`` applies the Jacobian ``diag(a) - a a^T`` to each row of ``g``,
    ``delta = a * (g - sum(g * a, axis=1))``. With cross-entropy the loss fuses this into
    ``delta = (a - y) / n`` (see :mod:`deltaprop.losses`).
    """

    name = "softmax"

    def forward(self, z: Array, out: Array | None = None) -> Array:
        out = np.subtract(z, row_max(z)[:, None], out=out)
        np.exp(out, out=out)
        out /= np.matmul(out, _ones(out.shape[1], out.dtype))[:, None]  # row sums, by BLAS
        return out

    def derivative(self, z: Array, a: Array) -> Array:
        raise TypeError("softmax has a Jacobian, not an elementwise derivative; use backward()")

    def backward(self, g: Array, z: Array, a: Array, out: Array | None = None) -> Array:
        projection = np.einsum("ij,ij->i", g, a)[:, None]
        out = np.subtract(g, projection, out=out)
        return np.multiply(out, a, out=out)


class CustomActivation(Activation):
    """Wraps a user object that has ``f(z)`` and a derivative ``df(z)`` (or ``fprime(z)``)."""

    name = "custom"

    def __init__(self, f: Callable[[Array], Array], df: Callable[[Array], Array], name: str):
        self._f, self._df, self.name = f, df, name

    def forward(self, z: Array, out: Array | None = None) -> Array:
        a = self._checked(self._f(z), z, "f")
        if out is None:
            return a
        np.copyto(out, a)
        return out

    def derivative(self, z: Array, a: Array) -> Array:
        return self._checked(self._df(z), z, "df")

    def _checked(self, result: Any, z: Array, what: str) -> Array:
        """The user function's result as an array shaped like ``z``, or a clear error."""
        try:
            array = np.asarray(result, dtype=z.dtype)
        except (TypeError, ValueError):
            raise TypeError(f"activation {self.name!r}: {what}(z) returned {type(result).__name__}, "
                            "not an array of numbers") from None
        if array.shape != z.shape:
            raise ValueError(f"activation {self.name!r}: {what}(z) returned shape {array.shape} "
                             f"for z of shape {z.shape}; it must act elementwise")
        return array

    def __repr__(self) -> str:
        return f"CustomActivation({self.name!r})"


_ONES: dict[tuple[int, Any], Array] = {}


def _ones(n: int, dtype: Any) -> Array:
    """A cached read-only vector of n ones (row sums as a matrix-vector product)."""
    key = (n, np.dtype(dtype))
    if key not in _ONES:
        ones = np.ones(n, dtype)
        ones.flags.writeable = False
        _ONES[key] = ones
    return _ONES[key]


def row_max(z: Array) -> Array:
    """max(z, axis=1) for a 2-D array, fast also for few columns.

    NumPy reduces along a short contiguous axis one row at a time (14 us for 256 x 10); for
    narrow arrays the transposed copy reduced along its first axis is vectorized (2 us).
    """
    if z.shape[1] > 64:
        return np.maximum.reduce(z, axis=1)
    return np.maximum.reduce(np.ascontiguousarray(z.T), axis=0)


ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls
    for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus, Exp, Sign, Step, Softmax)
}
_ALIASES = {"linear": "identity", "logistic": "sigmoid", "none": "identity"}
_DERIVATIVE_ATTRIBUTES = ("df", "fprime", "f_prime", "derivative")


def get_activation(spec: str | Activation | dict[str, Any] | Any) -> Activation:
    """Return the activation named by ``spec``.

    Parameters
    ----------
    spec : str, Activation, dict or object
        A name (``"relu"``; the valid names are listed on error), an :class:`Activation`, a
        config dict from :meth:`Activation.to_config`, or any object with a callable ``f`` and a
        callable derivative ``df`` (also accepted: ``fprime``, ``f_prime``, ``derivative``).

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones.
    TypeError
        For an object that is none of the above.
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, dict):
        params = {k: v for k, v in spec.items() if k != "name"}
        return _from_name(spec.get("name", ""), **params)
    if isinstance(spec, str):
        return _from_name(spec)
    f = getattr(spec, "f", None)
    df = next((getattr(spec, n) for n in _DERIVATIVE_ATTRIBUTES if callable(getattr(spec, n, None))), None)
    if callable(f) and df is not None:
        return CustomActivation(f, df, name=getattr(spec, "name", type(spec).__name__))
    raise TypeError(
        f"activation must be a name ({', '.join(sorted(ACTIVATIONS))}), an Activation, or an "
        f"object with callables f and df; got {type(spec).__name__}"
    )


def _from_name(name: str, **params: Any) -> Activation:
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key not in ACTIVATIONS:
        raise unknown_name_error("activation", name, ACTIVATIONS)
    return ACTIVATIONS[key](**params)
