"""The loss compiled: each sample's loss and the output delta delta_L = dLoss/dz_L, the 1/B of
the batch mean included, fused for the canonical pairs as :mod:`deltaprop.losses` fuses them.

=========================  ==================  ====================================
loss                       output activation   delta_L (fused)
=========================  ==================  ====================================
squared_error              identity            (a - y) / B
mse                        identity            2 (a - y) / (B k)
cross_entropy              softmax             (a - y) / B
binary_cross_entropy       sigmoid             (a - y) / B
=========================  ==================  ====================================

Any other output activation under the squared errors goes through dLoss/da and the activation's
own backward. Sample weights scale row i of delta_L by B w_i / sum(w) (``scale``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from deltaprop.engine.compiled import activation
from deltaprop.engine.compiled.activation import FASTMATH
from deltaprop.engine.compiled.codes import BINARY_CROSS_ENTROPY, CROSS_ENTROPY, MSE


@njit(fastmath=FASTMATH)
def sample_loss(loss: int, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> float:
    """One sample's loss from its output row (z, a) and target row y, in float64."""
    k = z.shape[0]
    total = 0.0
    if loss == CROSS_ENTROPY:  # logsumexp(z) - y . z
        top = z[0]
        for j in range(1, k):
            top = max(top, z[j])
        for j in range(k):
            total += math.exp(z[j] - top)
        value = math.log(total) + top
        for j in range(k):
            value -= y[j] * z[j]
        return value
    if loss == BINARY_CROSS_ENTROPY:  # sum softplus(z) - y z
        for j in range(k):
            total += max(z[j], 0.0) + math.log1p(math.exp(-abs(z[j]))) - y[j] * z[j]
        return total
    for j in range(k):
        diff = a[j] - y[j]
        total += diff * diff
    return total / k if loss == MSE else 0.5 * total


@njit(fastmath=FASTMATH)
def output_delta(loss: int, fused: bool, code: int, p: float, Z: np.ndarray, A: np.ndarray,
                 Y: np.ndarray, rows: np.ndarray, D: np.ndarray) -> None:
    """D = delta_L (B, k) for the targets Y[rows]; fused, or dLoss/da times f'(z)."""
    B, k = A.shape
    if fused:
        factor = 2.0 / (B * k) if loss == MSE else 1.0 / B
        for i in range(B):
            y = Y[rows[i]]
            for j in range(k):
                D[i, j] = (A[i, j] - y[j]) * factor
        return
    for i in range(B):  # the squared errors' dLoss/da, then the activation's backward
        y = Y[rows[i]]
        for j in range(k):
            D[i, j] = (A[i, j] - y[j]) * (2.0 / (B * k)) if loss == MSE else (A[i, j] - y[j]) / B
    activation.backward(code, p, D, Z, A, D)


@njit(fastmath=FASTMATH)
def record(loss: int, Z: np.ndarray, A: np.ndarray, Y: np.ndarray, rows: np.ndarray,
           w: np.ndarray, weighted: bool, D: np.ndarray) -> tuple[float, float]:
    """The batch's (sum of w_i loss_i, sum of w_i) before the update; with weights, row i of
    the delta D is scaled by B w_i / sum(w) (0 for a batch whose weights are all 0)."""
    B = A.shape[0]
    total, weight = 0.0, 0.0
    for i in range(B):
        value = sample_loss(loss, Z[i], A[i], Y[rows[i]])
        if weighted:
            total += value * w[rows[i]]
            weight += w[rows[i]]
        else:
            total += value
    if not weighted:
        return total, float(B)
    to_scale = B / weight if weight > 0 else 0.0
    for i in range(B):
        scale = D.dtype.type(w[rows[i]] * to_scale)
        for j in range(D.shape[1]):
            D[i, j] *= scale
    return total, weight
