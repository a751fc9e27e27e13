"""Activations compiled: a = f(z) and delta = g * f'(z) over a block of B rows of n units.

A block is a range of a flat buffer: element (i, j) at ``offset + i n + j``. The kernels index
flat buffers instead of taking views of them: a view costs two atomic reference counts, which
at batch 1 took a quarter of the step. The common activations branch once per block, so that
their loops vectorize; the others branch per element. The formulas are those of
:mod:`deltaprop.activations`, operation for operation where the order of rounding matters
(sigmoid as (1 + tanh(z / 2)) / 2, its backward as g a - g a a), so that the engines agree to
rounding.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, uint64

from deltaprop.engine.compiled.codes import (
    ELU,
    EXP,
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
# where exp saturates, floor(log(max)) of float64 and float32 (deltaprop.activations.exp_limit;
# written out: the kernels' cache is keyed by their own sources only)
EXP_LIMIT_64, EXP_LIMIT_32 = 709.0, 88.0


@njit(fastmath=FASTMATH, inline="always")
def forward(code: int, p: float, Z: np.ndarray, A: np.ndarray, off: int, B: int, n: int) -> None:
    """A = f(Z) over the block at ``off`` (softmax: by rows)."""
    o, count = uint64(off), uint64(B * n)
    if code == RELU:
        relu(Z, A, o, count)
    elif code == SIGMOID:
        sigmoid(Z, A, o, count)
    elif code == SOFTMAX:
        softmax(Z, A, off, B, n)
    else:
        others(code, p, Z, A, o, count)


@njit(fastmath=FASTMATH)
def others(code: int, p: float, Z: np.ndarray, A: np.ndarray, o: Any, count: Any) -> None:
    """A = f(Z) for identity, tanh and exp (a loop each), and the rest (a branch per element)."""
    if code == IDENTITY:
        for t in range(count):
            A[o + t] = Z[o + t]
    elif code == TANH:
        for t in range(count):
            A[o + t] = np.tanh(Z[o + t])
    elif code == EXP:  # e^min(z, limit): saturates instead of overflowing, as Exp.forward
        limit = Z.dtype.type(EXP_LIMIT_64 if Z.itemsize == 8 else EXP_LIMIT_32)
        for t in range(count):
            A[o + t] = np.exp(min(Z[o + t], limit))
    else:
        for t in range(count):
            A[o + t] = value(code, p, Z[o + t])


@njit(fastmath=FASTMATH)
def relu(Z: np.ndarray, A: np.ndarray, o: Any, count: Any) -> None:
    """A = max(Z, 0) over ``count`` entries at ``o``."""
    zero = Z.dtype.type(0)  # typed constants: no float64 on the way
    for t in range(count):
        A[o + t] = max(Z[o + t], zero)


@njit(fastmath=FASTMATH)
def sigmoid(Z: np.ndarray, A: np.ndarray, o: Any, count: Any) -> None:
    """A = (1 + tanh(Z / 2)) / 2 over ``count`` entries at ``o``."""
    one, half = Z.dtype.type(1), Z.dtype.type(0.5)
    for t in range(count):
        A[o + t] = (np.tanh(Z[o + t] * half) + one) * half


@njit(fastmath=FASTMATH)
def value(code: int, p: float, z):  # type: ignore[no-untyped-def]
    """f(z) of one element, for the activations without a loop of their own."""
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
def softmax(Z: np.ndarray, A: np.ndarray, off: int, B: int, n: int) -> None:
    """a = exp(z - max z) / sum, row by row (one call for the block: each call costs a
    reference count per array)."""
    for i in range(B):
        start = off + i * n
        top = Z[start]
        for j in range(start + 1, start + n):
            top = max(top, Z[j])
        total = 0.0
        for j in range(start, start + n):
            A[j] = math.exp(Z[j] - top)
            total += A[j]
        for j in range(start, start + n):
            A[j] /= total


@njit(fastmath=FASTMATH, inline="always")
def backward(code: int, p: float, G: np.ndarray, g_off: int, Z: np.ndarray, A: np.ndarray,
             D: np.ndarray, off: int, B: int, n: int) -> None:
    """D = G * f'(Z) over the block at ``off`` (G's block at ``g_off``; softmax: D = A * (G -
    sum(G * A)) by rows). G may be D."""
    o, go, count = uint64(off), uint64(g_off), uint64(B * n)
    if code == RELU:
        zero = G.dtype.type(0)
        for t in range(count):
            D[o + t] = G[go + t] if Z[o + t] > zero else zero
    elif code == IDENTITY:
        for t in range(count):
            D[o + t] = G[go + t]
    elif code == TANH or code == SIGMOID:
        tanh_based_backward(code == SIGMOID, G, go, A, D, o, count)
    elif code == SOFTMAX:
        softmax_backward(G, g_off, A, D, off, B, n)
    else:
        for t in range(count):
            D[o + t] = slope_times(code, p, G[go + t], Z[o + t], A[o + t])


@njit(fastmath=FASTMATH)
def tanh_based_backward(sigmoid: bool, G: np.ndarray, go: Any, A: np.ndarray, D: np.ndarray, o: Any,
                        count: Any) -> None:
    """D = G (1 - A^2) for tanh; G A - G A A for the sigmoid, as the NumPy engine rounds it."""
    one = G.dtype.type(1)
    if sigmoid:
        for t in range(count):
            g_a = G[go + t] * A[o + t]
            D[o + t] = g_a - g_a * A[o + t]
        return
    for t in range(count):
        D[o + t] = G[go + t] * (one - A[o + t] * A[o + t])


@njit(fastmath=FASTMATH)
def softmax_backward(G: np.ndarray, g_off: int, A: np.ndarray, D: np.ndarray, off: int, B: int,
                     n: int) -> None:
    """d = a * (g - sum(g * a)) row by row (the softmax Jacobian applied to g)."""
    for i in range(B):
        g_start, start = g_off + i * n, off + i * n
        projection = 0.0
        for j in range(n):
            projection += G[g_start + j] * A[start + j]
        for j in range(n):
            D[start + j] = (G[g_start + j] - projection) * A[start + j]


@njit(fastmath=FASTMATH)
def slope_times(code: int, p: float, g, z, a):  # type: ignore[no-untyped-def]
    """g * f'(z) of one element, for the activations without a loop of their own."""
    if code == LEAKY_RELU:
        return g * (1.0 if z > 0 else p)
    if code == ELU:
        return g if z > 0 else g * (a + p)
    if code == SOFTPLUS:
        return g * ((1.0 + math.tanh(z * 0.5)) * 0.5)
    if code == EXP:
        return g * a
    return g * 0.0  # SIGN, STEP: f' = 0 almost everywhere
