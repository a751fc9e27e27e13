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


@njit(cache=True, fastmath=FASTMATH)
def forward(code: int, p: float, Z: np.ndarray, A: np.ndarray) -> None:
    """A = f(Z), elementwise (softmax: by rows)."""
    B, n = Z.shape
    if code == SOFTMAX:
        for b in range(B):
            softmax_row(Z[b], A[b])
        return
    for b in range(B):
        z, a = Z[b], A[b]
        for j in range(n):
            a[j] = value(code, p, z[j])


@njit(cache=True, fastmath=FASTMATH, inline="always")
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


@njit(cache=True, fastmath=FASTMATH)
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


@njit(cache=True, fastmath=FASTMATH)
def backward(code: int, p: float, G: np.ndarray, Z: np.ndarray, A: np.ndarray, D: np.ndarray) -> None:
    """D = G * f'(Z) (softmax: D = A * (G - sum(G * A)) by rows); D may be G."""
    B, n = G.shape
    if code == SOFTMAX:
        for b in range(B):
            projection = 0.0
            for j in range(n):
                projection += G[b, j] * A[b, j]
            for j in range(n):
                D[b, j] = (G[b, j] - projection) * A[b, j]
        return
    for b in range(B):
        g, z, a, d = G[b], Z[b], A[b], D[b]
        for j in range(n):
            d[j] = slope_times(code, p, g[j], z[j], a[j])


@njit(cache=True, fastmath=FASTMATH, inline="always")
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
