"""The run kernel: a whole run of minibatches in one compiled call, no Python per step.

For each step s (its rows ``order[starts[s]:starts[s + 1]]``), as the NumPy engine
(:mod:`deltaprop.engine.step`) does it::

    forward     z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l)           (rows of X read in place)
    delta_L     dLoss/dz_L (1/B included), rows scaled by the sample weights; the loss recorded
    recursion   dW_l = delta_l^T a_{l-1},  db_l = sum delta_l,
                delta_{l-1} = (delta_l W_l) * f'(z_{l-1})
    decay       dW_l += l2 W_l + l1 sign(W_l)
    safety      a non-finite loss or an unsafe step ends the run, that step not taken
    update      theta <- the optimizer's step from grad (clipped)

Layer ``i`` (0-based) is layer l = i + 1 of the notes. Buffers are flat and cut into per-layer
(B, n) views (:func:`block`): the layer table's ``WORK_OFFSET`` places z_l, a_l and delta_l in
``Z``, ``A`` and ``D``; ``G`` holds the gradient handed down, ``gathered`` the first layer's rows
where BLAS multiplies them.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from deltaprop.engine.compiled import activation, dense, loss, update

# Only the entry points called from Python (run, gradient, decay_and_norms) are cached on disk:
# the functions they call are compiled into them (see cache.drop_stale for keeping that fresh).
from deltaprop.engine.compiled.codes import (
    ACTIVATION,
    B_OFFSET,
    BLAS_ROWS,
    DIVERGED,
    N_IN,
    N_OUT,
    RAN,
    W_OFFSET,
    WORK_OFFSET,
)


@njit
def block(buffer: np.ndarray, column: int, B: int, n: int) -> np.ndarray:
    """The (B, n) view of ``buffer`` for a layer whose workspace starts at ``column`` (the
    widths of the layers before it): B rows of each earlier layer come first."""
    start = column * B
    return buffer[start:start + B * n].reshape((B, n))


@njit
def weights(flat: np.ndarray, layer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A layer's (W, b) views (or (dW, db) of the gradient) in the flat vector."""
    n_in, n_out = layer[N_IN], layer[N_OUT]
    W = flat[layer[W_OFFSET]:layer[W_OFFSET] + n_out * n_in].reshape((n_out, n_in))
    return W, flat[layer[B_OFFSET]:layer[B_OFFSET] + n_out]


@njit
def forward(X, rows, theta, layers, params, Z, A, gathered, ident):  # type: ignore[no-untyped-def]
    """z_l and a_l of every layer for the minibatch X[rows]."""
    B = rows.shape[0]
    src, src_rows, in_order = X, rows, False
    for i in range(layers.shape[0]):
        layer = layers[i]
        W, b = weights(theta, layer)
        Z_i = block(Z, layer[WORK_OFFSET], B, layer[N_OUT])
        A_i = block(A, layer[WORK_OFFSET], B, layer[N_OUT])
        dense.forward(src, src_rows, in_order, W, b, Z_i, gathered, B >= layer[BLAS_ROWS])
        activation.forward(layer[ACTIVATION], params[i], Z_i, A_i)
        src, src_rows, in_order = A_i, ident, True


@njit
def backward(X, rows, theta, grad, layers, params, Z, A, D, G, gathered, ident):  # type: ignore[no-untyped-def]
    """From delta_L (already in D): dW_l, db_l of every layer, and delta_l of the layers below."""
    B = rows.shape[0]
    for i in range(layers.shape[0] - 1, -1, -1):
        layer = layers[i]
        D_i = block(D, layer[WORK_OFFSET], B, layer[N_OUT])
        dW, db = weights(grad, layer)
        blas = B >= layer[BLAS_ROWS]
        if i == 0:
            dense.weight_gradient(D_i, X, rows, False, dW, db, gathered, blas)
            return
        below, width = layers[i - 1], layers[i - 1][N_OUT]
        A_below = block(A, below[WORK_OFFSET], B, width)
        dense.weight_gradient(D_i, A_below, ident, True, dW, db, gathered, blas)
        W, _ = weights(theta, layer)
        G_i = block(G, 0, B, layer[N_IN])
        dense.input_gradient(D_i, W, G_i, blas)  # then delta below = G * f'(z below)
        activation.backward(below[ACTIVATION], params[i - 1], G_i, block(Z, below[WORK_OFFSET], B, width),
                            A_below, block(D, below[WORK_OFFSET], B, width))


@njit(cache=True)
def gradient(X, Y, w, weighted, rows, theta, grad, layers, params, loss_code, fused,
             Z, A, D, G, gathered, ident):  # type: ignore[no-untyped-def]
    """Forward, delta_L and the recursion for one minibatch: grad holds its gradient (without
    decay); return its (sum of w_i loss_i, sum of w_i) before any update."""
    B = rows.shape[0]
    forward(X, rows, theta, layers, params, Z, A, gathered, ident)
    out = layers[layers.shape[0] - 1]
    Z_L = block(Z, out[WORK_OFFSET], B, out[N_OUT])
    A_L = block(A, out[WORK_OFFSET], B, out[N_OUT])
    D_L = block(D, out[WORK_OFFSET], B, out[N_OUT])
    loss.output_delta(loss_code, fused, out[ACTIVATION], params[layers.shape[0] - 1], Z_L, A_L, Y, rows, D_L)
    total, weight = loss.record(loss_code, Z_L, A_L, Y, rows, w, weighted, D_L)
    backward(X, rows, theta, grad, layers, params, Z, A, D, G, gathered, ident)
    return total, weight


@njit(cache=True)
def decay_and_norms(theta, grad, layers, l2, l1, step_norms):  # type: ignore[no-untyped-def]
    """Weight decay into dW (returns the penalty), and ||(dW_l, db_l)||^2 into step_norms."""
    penalty = 0.0
    for i in range(layers.shape[0]):
        layer = layers[i]
        if l2 != 0 or l1 != 0:
            W, _ = weights(theta, layer)
            dW, _ = weights(grad, layer)
            penalty += update.decay(W, dW, l2, l1)
        end = layer[B_OFFSET] + layer[N_OUT]
        step_norms[i] = update.squared_norm(grad[layer[W_OFFSET]:end])
    return penalty


@njit(cache=True)
def run(X, Y, w, weighted, order, starts, first, last, theta, grad, m, v, layers, params,
        loss_code, fused, kind, t, lrs, hyper, l2, l1, Z, A, D, G, gathered, ident,
        sums, layer_sums, step_norms):  # type: ignore[no-untyped-def]
    """Steps ``first..last-1`` of the run; return (steps taken, RAN or DIVERGED).

    ``sums`` gathers the epoch loss's [sum of w_i loss_i plus the penalty per unit of weight,
    sum of w_i, sum of the penalties, steps]; ``layer_sums`` the squared gradient norms of the
    steps taken, per layer; ``t`` is the optimizer's step count before the run.
    """
    for s in range(first, last):
        rows = order[starts[s]:starts[s + 1]]
        total, weight = gradient(X, Y, w, weighted, rows, theta, grad, layers, params,
                                 loss_code, fused, Z, A, D, G, gathered, ident)
        penalty = decay_and_norms(theta, grad, layers, l2, l1, step_norms)
        sums[0] += total + penalty * weight
        sums[1] += weight
        sums[2] += penalty
        sums[3] += 1
        squared = step_norms.sum()
        if not math.isfinite(total + penalty) or not update.is_safe(squared, lrs[s], hyper):
            return s - first, DIVERGED
        layer_sums += step_norms
        update.step(kind, t + s - first + 1, theta, grad, m, v, lrs[s], squared, hyper)
    return last - first, RAN
