"""Batch normalization compiled, as :class:`deltaprop.layers.BatchNorm` computes it.

Forward, over the B x n block of ``Z`` at ``off`` (the dense layer's z, overwritten)::

    mu      = mean(z, axis=0)            var = mean((z - mu)^2, axis=0)
    z_tilde = (z - mu) / sqrt(var + eps)  -> T         1 / sqrt(var + eps) -> S
    z_hat   = gamma z_tilde + beta        -> Z
    running = (1 - momentum) running + momentum (mu, var B / (B - 1)), when finite

Backward, with g = dLoss/dz_hat in ``D`` (overwritten by dLoss/dz)::

    dgamma = sum(g z_tilde, axis=0),  dbeta = sum(g, axis=0)
    dz     = gamma / sqrt(var + eps) (g - dbeta / B - z_tilde dgamma / B)

``S`` holds each layer's 1 / sqrt(var + eps) at its ``WORK_OFFSET`` (n entries), ``stats`` the
running mean (n) then the running variance (n) at its ``STATS_OFFSET``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from deltaprop.engine.compiled.activation import FASTMATH


@njit(fastmath=FASTMATH)
def forward(Z: np.ndarray, T: np.ndarray, S: np.ndarray, off: int, s_off: int, B: int, n: int,
            theta: np.ndarray, gamma: int, stats: np.ndarray, at: int, eps: float, momentum: float,
            update: bool) -> None:
    """Normalize the block of Z at ``off`` over its B rows; scale by gamma, shift by beta."""
    zero = Z.dtype.type(0)
    for j in range(n):
        mean = zero
        for i in range(B):
            mean += Z[off + i * n + j]
        mean /= B
        var = zero
        for i in range(B):
            centered = Z[off + i * n + j] - mean
            T[off + i * n + j] = centered
            var += centered * centered
        var /= B
        inv_std = Z.dtype.type(1.0 / math.sqrt(var + eps))
        S[s_off + j] = inv_std
        for i in range(B):
            e = off + i * n + j
            T[e] *= inv_std
            Z[e] = T[e] * theta[gamma + j] + theta[gamma + n + j]
        if update and math.isfinite(mean + var):
            running(stats, at, n, j, mean, var * (B / (B - 1)), momentum)


@njit(fastmath=FASTMATH, inline="always")
def running(stats: np.ndarray, at: int, n: int, j: int, mean: Any, unbiased_var: Any,
            momentum: float) -> None:
    """One unit's running mean and variance moved towards this batch's."""
    keep, take = stats.dtype.type(1.0 - momentum), stats.dtype.type(momentum)
    stats[at + j] = stats[at + j] * keep + mean * take
    stats[at + n + j] = stats[at + n + j] * keep + unbiased_var * take


@njit(fastmath=FASTMATH)
def backward(D: np.ndarray, T: np.ndarray, S: np.ndarray, off: int, s_off: int, B: int, n: int,
             theta: np.ndarray, grad: np.ndarray, gamma: int) -> None:
    """dgamma and dbeta into ``grad``; D (dLoss/dz_hat) becomes dLoss/dz, in place."""
    zero = D.dtype.type(0)
    for j in range(n):
        dgamma, dbeta = zero, zero
        for i in range(B):
            dgamma += D[off + i * n + j] * T[off + i * n + j]
            dbeta += D[off + i * n + j]
        grad[gamma + j], grad[gamma + n + j] = dgamma, dbeta
        scale = theta[gamma + j] * S[s_off + j]
        for i in range(B):
            e = off + i * n + j
            D[e] = (D[e] - T[e] * (dgamma / B) - dbeta / B) * scale


@njit(fastmath=FASTMATH)
def squared_norm(grad: np.ndarray, gamma: int, n: int) -> float:
    """||(dgamma, dbeta)||^2 (checked with the step, not reported per layer)."""
    total = 0.0
    for e in range(gamma, gamma + 2 * n):
        total += float(grad[e]) * float(grad[e])
    return total
