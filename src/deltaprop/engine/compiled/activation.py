"""Activations compiled: a = f(z) and delta = g * f'(z) over a (B, n) block, one branch per block.

The formulas are those of :mod:`deltaprop.activations`, operation for operation where the order
of rounding matters (sigmoid as (1 + tanh(z / 2)) / 2, its backward as g a - g a a), so that the
engines agree to rounding.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from deltaprop.engine.compiled.codes import (
    ELU,
    IDENTITY,
    LEAKY_RELU,
    RELU,
    SIGMOID,
    SIGN,
    SOFTMAX,
    SOFTPLUS,
    TANH,
)

# reassociation (SIMD sums) and fused multiply-adds; never "no NaNs" or "no infinities": the
# kernels must see a diverging run's NaN to refuse its step
FASTMATH = {"reassoc", "contract", "nsz"}


@njit(fastmath=FASTMATH)
def forward(code: int, p: float, Z: np.ndarray, A: np.ndarray) -> None:
    """A = f(Z), elementwise (softmax: by rows). The common activations branch once per block,
    so that their loops vectorize; the others branch per element (:func:`value`)."""
    if code == RELU:
        relu(Z, A)
    elif code == IDENTITY:
        A[:] = Z
    elif code == TANH or code == SIGMOID:
        tanh_based(code == SIGMOID, Z, A)
    elif code == SOFTMAX:
        for i in range(Z.shape[0]):
            softmax_row(Z[i], A[i])
    else:
        for i in range(Z.shape[0]):
            for j in range(Z.shape[1]):
                A[i, j] = value(code, p, Z[i, j])


@njit(fastmath=FASTMATH)
def relu(Z: np.ndarray, A: np.ndarray) -> None:
    """A = max(Z, 0)."""
    zero = Z.dtype.type(0)  # typed constants: no float64 on the way
    for i in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            A[i, j] = max(Z[i, j], zero)


@njit(fastmath=FASTMATH)
def tanh_based(sigmoid: bool, Z: np.ndarray, A: np.ndarray) -> None:
    """A = tanh(Z), or the sigmoid (1 + tanh(Z / 2)) / 2."""
    one, half = Z.dtype.type(1), Z.dtype.type(0.5)
    for i in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            A[i, j] = (np.tanh(Z[i, j] * half) + one) * half if sigmoid else np.tanh(Z[i, j])


@njit(fastmath=FASTMATH, inline="always")
def value(code: int, p: float, z):  # type: ignore[no-untyped-def]
    """f(z) of one element (not softmax)."""
    if code == RELU:
        return max(z, 0.0)
    if code == IDENTITY:
        return z
    if code == SIGMOID:
        return (1.0 + math.tanh(z * 0.5)) * 0.5
    if code == TANH:
        return math.tanh(z)
    if code == LEAKY_RELU:
        return max(z, z * p)
    if code == ELU:
        return z if z > 0 else p * math.expm1(min(z, 0.0))
    if code == SOFTPLUS:
        return max(z, 0.0) + math.log1p(math.exp(-abs(z)))
    if code == SIGN:
        return 1.0 if z >= 0 else -1.0
    return 1.0 if z >= 0 else 0.0  # STEP


@njit(fastmath=FASTMATH)
def softmax_row(z: np.ndarray, a: np.ndarray) -> None:
    """a = exp(z - max z) / sum, one row."""
    top = z[0]
    for j in range(1, z.shape[0]):
        top = max(top, z[j])
    total = 0.0
    for j in range(z.shape[0]):
        a[j] = math.exp(z[j] - top)
        total += a[j]
    for j in range(z.shape[0]):
        a[j] /= total


@njit(fastmath=FASTMATH)
def backward(code: int, p: float, G: np.ndarray, Z: np.ndarray, A: np.ndarray, D: np.ndarray) -> None:
    """D = G * f'(Z) (softmax: D = A * (G - sum(G * A)) by rows); D may be G. Branched once
    per block for the common activations, as :func:`forward`."""
    if code == RELU:
        relu_backward(G, Z, D)
    elif code == IDENTITY:
        D[:] = G
    elif code == TANH or code == SIGMOID:
        tanh_based_backward(code == SIGMOID, G, A, D)
    elif code == SOFTMAX:
        for i in range(G.shape[0]):
            softmax_backward_row(G[i], A[i], D[i])
    else:
        for i in range(G.shape[0]):
            for j in range(G.shape[1]):
                D[i, j] = slope_times(code, p, G[i, j], Z[i, j], A[i, j])


@njit(fastmath=FASTMATH)
def relu_backward(G: np.ndarray, Z: np.ndarray, D: np.ndarray) -> None:
    """D = G where Z > 0, else 0."""
    zero = G.dtype.type(0)
    for i in range(G.shape[0]):
        for j in range(G.shape[1]):
            D[i, j] = G[i, j] if Z[i, j] > zero else zero


@njit(fastmath=FASTMATH)
def tanh_based_backward(sigmoid: bool, G: np.ndarray, A: np.ndarray, D: np.ndarray) -> None:
    """D = G (1 - A^2) for tanh; G A - G A A for the sigmoid, as the NumPy engine rounds it."""
    one = G.dtype.type(1)
    for i in range(G.shape[0]):
        for j in range(G.shape[1]):
            if sigmoid:
                g_a = G[i, j] * A[i, j]
                D[i, j] = g_a - g_a * A[i, j]
            else:
                D[i, j] = G[i, j] * (one - A[i, j] * A[i, j])


@njit(fastmath=FASTMATH)
def softmax_backward_row(g: np.ndarray, a: np.ndarray, d: np.ndarray) -> None:
    """d = a * (g - sum(g * a)), one row (the softmax Jacobian applied to g)."""
    projection = 0.0
    for j in range(g.shape[0]):
        projection += g[j] * a[j]
    for j in range(g.shape[0]):
        d[j] = (g[j] - projection) * a[j]


@njit(fastmath=FASTMATH, inline="always")
def slope_times(code: int, p: float, g, z, a):  # type: ignore[no-untyped-def]
    """g * f'(z) of one element, f' from z or a as the NumPy engine takes it."""
    if code == RELU:
        return g if z > 0 else g * 0.0
    if code == IDENTITY:
        return g
    if code == SIGMOID:
        g_a = g * a
        return g_a - g_a * a
    if code == TANH:
        return g * (1.0 - a * a)
    if code == LEAKY_RELU:
        return g * (1.0 if z > 0 else p)
    if code == ELU:
        return g if z > 0 else g * (a + p)
    if code == SOFTPLUS:
        return g * ((1.0 + math.tanh(z * 0.5)) * 0.5)
    return g * 0.0  # SIGN, STEP: f' = 0 almost everywhere
