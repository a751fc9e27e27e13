"""The loss compiled: each sample's loss and the output delta delta_L = dLoss/dz_L, the 1/B of
the batch mean included, fused for the canonical pairs as :mod:`deltaprop.losses` fuses them.

=========================  ==================  ====================================
loss                       output activation   delta_L (fused)
=========================  ==================  ====================================
squared_error              identity            (a - y) / B
mse                        identity            2 (a - y) / (B k)
cross_entropy              softmax             (a - y) / B
binary_cross_entropy       sigmoid             (a - y) / B
poisson                    exp                 (a - y) / B
=========================  ==================  ====================================

Any other output activation under the squared errors goes through dLoss/da and the activation's
own backward. Sample weights scale row i of delta_L by B w_i / sum(w). The output block (z, a,
delta) is the B x k block at ``off`` of the flat buffers; the targets are rows
``rows[start:start + B]`` of Y.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from deltaprop.engine.compiled import activation
from deltaprop.engine.compiled.activation import FASTMATH
from deltaprop.engine.compiled.codes import BINARY_CROSS_ENTROPY, CROSS_ENTROPY, MSE, POISSON


@njit(fastmath=FASTMATH, inline="always")
def sample_loss(loss: int, Z: np.ndarray, A: np.ndarray, at: int, k: int, Y: np.ndarray, r: int) -> float:
    """One sample's loss from its output row at ``at`` and target row r of Y, in float64."""
    total = 0.0
    if loss == CROSS_ENTROPY:  # logsumexp(z) - y . z, from the softmax already in A
        return log_sum_exp(Z, A, at, k) - dot(Y, r, Z, at, k)
    if loss == BINARY_CROSS_ENTROPY:  # sum softplus(z) - y z
        for j in range(k):
            z = Z[at + j]
            total += max(z, 0.0) + math.log1p(math.exp(-abs(z))) - Y[r, j] * z
        return total
    if loss == POISSON:
        return half_poisson_deviance(Z, A, at, k, Y, r)
    for j in range(k):
        diff = A[at + j] - Y[r, j]
        total += diff * diff
    return total / k if loss == MSE else 0.5 * total


@njit(fastmath=FASTMATH, inline="always")
def half_poisson_deviance(Z: np.ndarray, A: np.ndarray, at: int, k: int, Y: np.ndarray, r: int) -> float:
    """sum_j (a - y) + y (log y - z) of the row at ``at`` (0 log 0 = 0), as Poisson computes it."""
    total = 0.0
    for j in range(k):
        y = Y[r, j]
        total += A[at + j] - y
        if y > 0:
            total += y * (math.log(y) - Z[at + j])
    return total


@njit(fastmath=FASTMATH, inline="always")
def log_sum_exp(Z: np.ndarray, A: np.ndarray, at: int, k: int) -> float:
    """log sum_j exp(z_j) of the row at ``at``, from its softmax a: at the largest z, a is
    exp(0) / sum_j exp(z_j - max z), so the sum is max z - log a there (a >= 1/k: no
    underflow), and no exponential is taken again."""
    top = at
    for j in range(at + 1, at + k):
        if Z[j] > Z[top]:
            top = j
    return float(Z[top]) - math.log(A[top])


@njit(fastmath=FASTMATH, inline="always")
def dot(Y: np.ndarray, r: int, Z: np.ndarray, at: int, k: int) -> float:
    """y_r . z of the row at ``at``, in float64."""
    total = 0.0
    for j in range(k):
        total += Y[r, j] * Z[at + j]
    return total


@njit(fastmath=FASTMATH)
def output_delta(loss, fused, code, p, Z, A, D, off, B, k, Y, rows, start):  # type: ignore[no-untyped-def]
    """D = delta_L for the targets; fused, or dLoss/da times f'(z)."""
    for i in range(B):
        r, at = rows[start + i], off + i * k
        for j in range(k):
            if fused:
                D[at + j] = (A[at + j] - Y[r, j]) * (2.0 / (B * k) if loss == MSE else 1.0 / B)
            elif loss == MSE:  # the squared errors' dLoss/da (as Loss.grad_a rounds it)
                D[at + j] = (A[at + j] - Y[r, j]) * (2.0 / (B * k))
            else:
                D[at + j] = (A[at + j] - Y[r, j]) / B
    if not fused:
        activation.backward(code, p, D, off, Z, A, D, off, B, k)


@njit(fastmath=FASTMATH)
def record(loss, Z, A, D, off, B, k, Y, rows, start, w, weighted):  # type: ignore[no-untyped-def]
    """The batch's (sum of w_i loss_i, sum of w_i) before the update; with weights, row i of
    delta_L is scaled by B w_i / sum(w) (0 for a batch whose weights are all 0)."""
    total, weight = 0.0, 0.0
    for i in range(B):
        r = rows[start + i]
        value = sample_loss(loss, Z, A, off + i * k, k, Y, r)
        total += value * w[r] if weighted else value
        weight += w[r] if weighted else 1.0
    if weighted:
        to_scale = B / weight if weight > 0 else 0.0
        for i in range(B):
            scale = D.dtype.type(w[rows[start + i]] * to_scale)
            for j in range(k):
                D[off + i * k + j] *= scale
    return total, weight
