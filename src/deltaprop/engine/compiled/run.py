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

Layer ``i`` (0-based) is layer l = i + 1 of the notes. Every array is flat (X too): z_l, a_l and
delta_l are the B x n_l blocks at ``WORK_OFFSET * B`` of ``Z``, ``A`` and ``D``; ``G`` holds the
gradient handed down; the layer table gives each W and b's offset in theta and grad. A layer with
a BatchNorm before its activation (:mod:`.batchnorm`) keeps z_tilde in ``T`` and 1/sqrt(var +
eps) in ``S``, z_l in ``Z`` becoming z_hat, and its running statistics in ``stats``; a layer
with a Dropout after its activation (:mod:`.dropout`) writes its dropped output to ``P`` (what
the layer above reads), from the step's draws in ``U`` at ``u_off``.
"""

from __future__ import annotations

import math

from numba import njit

from deltaprop.engine.compiled import activation, batchnorm, dense, dropout, loss, update
from deltaprop.engine.compiled.borrow import borrowed
from deltaprop.engine.compiled.codes import (
    ACTIVATION,
    B_OFFSET,
    BLAS_ROWS,
    DIVERGED,
    DROP_P,
    DROP_SCALE,
    DROPPED,
    EPS,
    GAMMA_OFFSET,
    MASK_OFFSET,
    MOMENTUM,
    N_IN,
    N_OUT,
    NORMALIZED,
    RAN,
    STATS_OFFSET,
    W_OFFSET,
    WORK_OFFSET,
)

# Only the entry points called from Python (run, gradient, decay_and_norms) are cached on disk:
# the functions they call are compiled into them (see cache.drop_stale for keeping that fresh).
# Those are inlined ("always"): a call passing arrays costs two atomic reference counts per
# array, which at batch 1 took over a third of the step.


@njit(inline="always")
def forward(X, order, start, B, theta, layers, params, Z, A, gathered, T, S, stats, update, P, U, u_off):  # type: ignore[no-untyped-def]
    """z_l and a_l of every layer for the minibatch (rows order[start:start + B] of X). (Each
    input array is named at its own call: an array variable reassigned in the loop would cost
    a reference count per layer and step.)"""
    for i in range(layers.shape[0]):
        n_in, n_out, off = layers[i, N_IN], layers[i, N_OUT], layers[i, WORK_OFFSET] * B
        w, b, blas = layers[i, W_OFFSET], layers[i, B_OFFSET], B >= layers[i, BLAS_ROWS]
        below = layers[i - 1, WORK_OFFSET] * B if i > 0 else 0
        if i == 0:
            dense.forward(X, order, start, True, 0, theta, w, b, n_in, n_out, Z, off, B, gathered, blas)
        elif layers[i - 1, DROPPED]:
            dense.forward(P, order, start, False, below, theta, w, b, n_in, n_out, Z, off, B, gathered, blas)
        else:
            dense.forward(A, order, start, False, below, theta, w, b, n_in, n_out, Z, off, B, gathered, blas)
        if layers[i, NORMALIZED]:
            batchnorm.forward(Z, T, S, off, layers[i, WORK_OFFSET], B, n_out, theta, layers[i, GAMMA_OFFSET],
                              stats, layers[i, STATS_OFFSET], params[i, EPS], params[i, MOMENTUM], update)
        activation.forward(layers[i, ACTIVATION], params[i, 0], Z, A, off, B, n_out)
        if layers[i, DROPPED]:
            dropout.forward(A, P, off, U, u_off + layers[i, MASK_OFFSET] * B, B * n_out,
                            params[i, DROP_P], params[i, DROP_SCALE])


@njit(inline="always")
def backward(X, order, start, B, theta, grad, layers, params, Z, A, D, G, gathered, T, S, P, U, u_off):  # type: ignore[no-untyped-def]
    """From delta_L (already in D): dW_l, db_l of every layer, and delta_l of the layers below."""
    for i in range(layers.shape[0] - 1, -1, -1):
        n_in, n_out, off = layers[i, N_IN], layers[i, N_OUT], layers[i, WORK_OFFSET] * B
        w, b, blas = layers[i, W_OFFSET], layers[i, B_OFFSET], B >= layers[i, BLAS_ROWS]
        if i == 0:
            dense.weight_gradient(D, off, X, order, start, True, 0, grad, w, b, n_in, n_out, B,
                                  gathered, blas)
            return
        below, dropped = layers[i - 1, WORK_OFFSET] * B, layers[i - 1, DROPPED]
        if dropped:
            dense.weight_gradient(D, off, P, order, start, False, below, grad, w, b, n_in, n_out, B,
                                  gathered, blas)
        else:
            dense.weight_gradient(D, off, A, order, start, False, below, grad, w, b, n_in, n_out, B,
                                  gathered, blas)
        dense.input_gradient(D, off, theta, w, n_in, n_out, G, B, blas)  # delta below = G f'(z below)
        if dropped:
            dropout.backward(G, U, u_off + layers[i - 1, MASK_OFFSET] * B, B * n_in,
                             params[i - 1, DROP_P], params[i - 1, DROP_SCALE])
        activation.backward(layers[i - 1, ACTIVATION], params[i - 1, 0], G, 0, Z, A, D, below, B, n_in)
        if layers[i - 1, NORMALIZED]:  # then back through the BatchNorm to the dense layer's z
            batchnorm.backward(D, T, S, below, layers[i - 1, WORK_OFFSET], B, n_in, theta, grad,
                               layers[i - 1, GAMMA_OFFSET])


@njit(cache=True)
def gradient(X, Y, w, weighted, order, start, B, theta, grad, layers, params, loss_code, fused,  # type: ignore[no-untyped-def]
             Z, A, D, G, gathered, T, S, P, stats, U):
    """:func:`step_gradient`, called from Python (the gradient check: the running statistics
    are left alone, the dropout draws are given)."""
    return step_gradient(X, Y, w, weighted, order, start, B, theta, grad, layers, params, loss_code,
                         fused, Z, A, D, G, gathered, T, S, P, stats, False, U, 0)


@njit(inline="always")
def step_gradient(X, Y, w, weighted, order, start, B, theta, grad, layers, params, loss_code, fused,  # type: ignore[no-untyped-def]
                  Z, A, D, G, gathered, T, S, P, stats, update, U, u_off):
    """Forward, delta_L and the recursion for one minibatch: grad holds its gradient (without
    decay); return its (sum of w_i loss_i, sum of w_i) before any update."""
    forward(X, order, start, B, theta, layers, params, Z, A, gathered, T, S, stats, update, P, U, u_off)
    out = layers.shape[0] - 1
    k, off = layers[out, N_OUT], layers[out, WORK_OFFSET] * B
    loss.output_delta(loss_code, fused, layers[out, ACTIVATION], params[out, 0], Z, A, D, off, B, k, Y,
                      order, start)
    total, weight = loss.record(loss_code, Z, A, D, off, B, k, Y, order, start, w, weighted)
    backward(X, order, start, B, theta, grad, layers, params, Z, A, D, G, gathered, T, S, P, U, u_off)
    return total, weight


@njit(cache=True)
def decay_and_norms(theta, grad, layers, l2, l1, step_norms):  # type: ignore[no-untyped-def]
    """:func:`step_decay_and_norms`, called from Python (the gradient check)."""
    return step_decay_and_norms(theta, grad, layers, l2, l1, step_norms)[0]


@njit(inline="always")
def step_decay_and_norms(theta, grad, layers, l2, l1, step_norms):  # type: ignore[no-untyped-def]
    """Weight decay into dW; ||(dW_l, db_l)||^2 into step_norms. Returns the penalty and the
    BatchNorms' ||(dgamma, dbeta)||^2 (checked with the step, not reported)."""
    penalty, other = 0.0, 0.0
    for i in range(layers.shape[0]):
        w, n_w = layers[i, W_OFFSET], layers[i, N_IN] * layers[i, N_OUT]
        if l2 != 0 or l1 != 0:
            penalty += update.decay(theta, grad, w, n_w, l2, l1)
        step_norms[i] = update.squared_norm(grad, w, layers[i, B_OFFSET] + layers[i, N_OUT])
        if layers[i, NORMALIZED]:
            other += batchnorm.squared_norm(grad, layers[i, GAMMA_OFFSET], layers[i, N_OUT])
    return penalty, other


@njit(cache=True)
def run(X, Y, w, weighted, order, starts, first, last, theta, grad, m, v, layers, params,  # type: ignore[no-untyped-def]
        loss_code, fused, kind, t, lrs, hyper, l2, l1, Z, A, D, G, gathered, T, S, P, stats, saved,
        U, u_starts, sums, layer_sums, step_norms):
    """Steps ``first..last-1`` of the run; return (steps taken, RAN or DIVERGED).

    ``sums`` gathers the epoch loss's [sum of w_i loss_i plus the penalty per unit of weight,
    sum of w_i, sum of the penalties, steps]; ``layer_sums`` the squared gradient norms of the
    steps taken, per layer; ``t`` is the optimizer's step count before the run. A refused
    step leaves the running statistics as before it (``saved``). Step s's dropout draws start
    at ``u_starts[s - first]`` of ``U``.
    """
    # Borrowed views of every array (no reference count: they live as long as this call): each
    # call below passes them on, and each array passed with a count costs two atomic
    # operations per call, which took a third of a step at batch 1.
    X, Y, w, order, starts, theta, grad, m, v = (borrowed(X), borrowed(Y), borrowed(w), borrowed(order),
                                                 borrowed(starts), borrowed(theta), borrowed(grad),
                                                 borrowed(m), borrowed(v))
    layers, params, lrs, hyper, Z, A, D, G = (borrowed(layers), borrowed(params), borrowed(lrs),
                                              borrowed(hyper), borrowed(Z), borrowed(A), borrowed(D),
                                              borrowed(G))
    gathered, T, S, P, stats, saved, U, u_starts = (borrowed(gathered), borrowed(T), borrowed(S),
                                                    borrowed(P), borrowed(stats), borrowed(saved),
                                                    borrowed(U), borrowed(u_starts))
    sums, layer_sums, step_norms = borrowed(sums), borrowed(layer_sums), borrowed(step_norms)
    for s in range(first, last):
        start, B = starts[s], starts[s + 1] - starts[s]
        for e in range(stats.shape[0]):  # (a loop: a slice would be a view, reference-counted)
            saved[e] = stats[e]
        total, weight = step_gradient(X, Y, w, weighted, order, start, B, theta, grad, layers, params,
                                      loss_code, fused, Z, A, D, G, gathered, T, S, P, stats, True,
                                      U, u_starts[s - first])
        penalty, other = step_decay_and_norms(theta, grad, layers, l2, l1, step_norms)
        sums[0] += total + penalty * weight
        sums[1] += weight
        sums[2] += penalty
        sums[3] += 1
        squared = other
        for i in range(step_norms.shape[0]):
            squared += step_norms[i]
        if not math.isfinite(total + penalty) or not update.is_safe(squared, lrs[s], hyper):
            for e in range(stats.shape[0]):
                stats[e] = saved[e]
            return s - first, DIVERGED
        for i in range(step_norms.shape[0]):
            layer_sums[i] += step_norms[i]
        update.step(kind, t + s - first + 1, theta, grad, m, v, lrs[s], squared, hyper)
    return last - first, RAN
