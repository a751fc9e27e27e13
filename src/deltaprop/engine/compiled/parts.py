"""The step kernel in two parts, for a gradient reduction between them (data-parallel over MPI).

The run kernel (:mod:`.run`) takes a whole run of steps in one call; a reduction that sums the
ranks' gradients must instead come back to Python at every step, between the gradient and the
update. So each step is two calls here, around the all-reduce that
:class:`~deltaprop.engine.reduction.MpiReduction` does in Python::

    part_gradient   forward, delta_L (1/B of the part included) with row i scaled by
                    scale_i (the part's share of the minibatch: the reduction's), each
                    row's loss into ``values``, the recursion: dW_l, db_l into grad
    (all-reduce)    grad summed over the ranks
    reduced_step    dW_l += l2 W_l + l1 sign(W_l); ||(dW_l, db_l)||^2; the safety check; the
                    optimizer's update of theta

The same inlined pieces as the run kernel (its forward, backward, decay and update), so the two
paths compute the same arithmetic.
"""

from __future__ import annotations

import math

from numba import njit

from deltaprop.engine.compiled import loss, update
from deltaprop.engine.compiled.borrow import borrowed
from deltaprop.engine.compiled.codes import ACTIVATION, DIVERGED, N_OUT, RAN, WORK_OFFSET
from deltaprop.engine.compiled.run import backward, forward, step_decay_and_norms


@njit(cache=True)
def part_gradient(X, Y, scale, scaled, order, theta, grad, layers, params, loss_code, fused,  # type: ignore[no-untyped-def]
                  Z, A, D, G, gathered, T, S, P, stats, U, values):
    """The gradient of the rows ``order`` of X and Y (every row of a part: ``order`` is
    0..B-1) into grad, delta_L's row i times ``scale[i]`` when ``scaled``; row i's loss into
    ``values[i]``. No BatchNorm statistics are updated and no dropout drawn (the reduced
    step covers neither)."""
    X, Y, scale, order, theta, grad = (borrowed(X), borrowed(Y), borrowed(scale), borrowed(order),
                                       borrowed(theta), borrowed(grad))
    layers, params, Z, A, D, G, gathered = (borrowed(layers), borrowed(params), borrowed(Z),
                                            borrowed(A), borrowed(D), borrowed(G), borrowed(gathered))
    T, S, P, stats, U, values = (borrowed(T), borrowed(S), borrowed(P), borrowed(stats), borrowed(U),
                                 borrowed(values))
    B = order.shape[0]
    forward(X, order, 0, B, theta, layers, params, Z, A, gathered, T, S, stats, False, P, U, 0)
    out = layers.shape[0] - 1
    k, off = layers[out, N_OUT], layers[out, WORK_OFFSET] * B
    loss.output_delta(loss_code, fused, layers[out, ACTIVATION], params[out, 0], Z, A, D, off, B, k, Y,
                      order, 0)
    for i in range(B):
        values[i] = loss.sample_loss(loss_code, Z, A, off + i * k, k, Y, order[i])
        if scaled:  # as the NumPy engine's delta_L *= scale[:, None], in the network's dtype
            factor = D.dtype.type(scale[i])
            for j in range(k):
                D[off + i * k + j] *= factor
    backward(X, order, 0, B, theta, grad, layers, params, Z, A, D, G, gathered, T, S, P, U, 0)


@njit(cache=True)
def reduced_step(theta, grad, m, v, layers, kind, t, lr, hyper, l2, l1, loss_sum, step_norms,  # type: ignore[no-untyped-def]
                 layer_sums):
    """From the summed gradient in grad: the weight decay, ||(dW_l, db_l)||^2 into
    ``step_norms``, the safety check (a non-finite ``loss_sum`` plus penalty, or an unsafe
    step: no update, DIVERGED), the norms added to ``layer_sums`` and the optimizer's step
    ``t`` (counted from 1). Returns (the penalty, RAN or DIVERGED)."""
    penalty, squared = step_decay_and_norms(theta, grad, layers, l2, l1, step_norms)
    for i in range(step_norms.shape[0]):
        squared += step_norms[i]
    if not math.isfinite(loss_sum + penalty) or not update.is_safe(squared, lr, hyper):
        return penalty, DIVERGED
    for i in range(step_norms.shape[0]):
        layer_sums[i] += step_norms[i]
    update.step(kind, t, theta, grad, m, v, lr, squared, hyper)
    return penalty, RAN
