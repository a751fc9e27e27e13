"""The optimizer step compiled: weight decay, the gradient's norms, the safety check, clipping
and the update of the flat parameter vector, as :mod:`deltaprop.losses` and
:mod:`deltaprop.optim` define them.

``hyper`` holds the optimizer's constants as float64, in the order of ``HYPER``: momentum,
beta1, beta2, eps, clip_norm (0: none) and max_step (the largest safe SGD step; 0: no bound).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, uint64

from deltaprop.engine.compiled.activation import FASTMATH
from deltaprop.engine.compiled.codes import ADAM, MOMENTUM, NESTEROV, SGD

HYPER = ("momentum", "beta1", "beta2", "eps", "clip_norm", "max_step")


@njit(fastmath=FASTMATH)
def decay(theta: np.ndarray, grad: np.ndarray, w: int, n: int, l2: float, l1: float) -> float:
    """dW += l2 W + l1 sign(W) over the n weights at ``w`` (never the biases); return the
    penalty l2/2 ||W||^2 + l1 |W|_1."""
    squares, absolute = 0.0, 0.0
    c2, c1 = theta.dtype.type(l2), theta.dtype.type(l1)
    for e in range(w, w + n):
        weight = theta[e]
        squares += weight * weight
        absolute += abs(weight)
        grad[e] += c2 * weight + c1 * np.sign(weight)
    return 0.5 * l2 * squares + l1 * absolute


@njit(fastmath=FASTMATH)
def squared_norm(g: np.ndarray, lo: int, hi: int) -> float:
    """||g[lo:hi]||^2, summed in g's dtype (as the NumPy engine's ``np.dot(g, g)``: float32
    sums vectorize twice as wide) by chunks whose sums are added in float64."""
    total = 0.0
    for chunk in range(lo, hi, 4096):
        part = g.dtype.type(0)
        for e in range(uint64(chunk), uint64(min(chunk + 4096, hi))):
            part += g[e] * g[e]
        total += part
    return total


@njit(inline="always")
def is_safe(squared: float, lr: float, hyper: np.ndarray) -> bool:
    """Optimizer.step_is_safe: a finite gradient, and for SGD a step lr ||g|| / (1 - mu) (the
    norm clipped) below ``max_step``."""
    momentum, clip, max_step = hyper[0], hyper[4], hyper[5]
    norm = math.sqrt(squared)
    if not math.isfinite(norm):
        return False
    if max_step > 0:
        if clip > 0:
            norm = min(norm, clip)
        return lr * norm / (1.0 - momentum) < max_step
    return True


@njit(fastmath=FASTMATH, inline="always")
def step(kind: int, t: int, theta: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray,
         lr: float, squared: float, hyper: np.ndarray) -> None:
    """Clip, then theta <- the optimizer's update from grad (t counts the steps from 1)."""
    mu, b1, b2, eps, clip = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4]
    if clip > 0 and math.sqrt(squared) > clip:
        scale(grad, clip / math.sqrt(squared))
    eta = theta.dtype.type(lr)
    if kind == SGD:
        sgd_step(theta, grad, eta)
    elif kind == MOMENTUM or kind == NESTEROV:
        momentum_step(kind == NESTEROV, theta, grad, m, eta, theta.dtype.type(mu))
    elif kind == ADAM:
        adam_step(t, theta, grad, m, v, lr, b1, b2, eps)


@njit(fastmath=FASTMATH)
def scale(grad: np.ndarray, factor: float) -> None:
    """grad *= factor (clipping)."""
    f = grad.dtype.type(factor)
    for i in range(grad.shape[0]):
        grad[i] *= f


@njit(fastmath=FASTMATH)
def sgd_step(theta: np.ndarray, grad: np.ndarray, eta: Any) -> None:
    """theta <- theta - eta grad."""
    for i in range(theta.shape[0]):
        theta[i] -= grad[i] * eta


@njit(fastmath=FASTMATH)
def momentum_step(nesterov: bool, theta: np.ndarray, grad: np.ndarray, velocity: np.ndarray,
                  eta, mu) -> None:  # type: ignore[no-untyped-def]
    """v <- mu v + g; theta <- theta - eta v (Nesterov: eta (g + mu v))."""
    for i in range(theta.shape[0]):
        velocity[i] = velocity[i] * mu + grad[i]
        if nesterov:
            theta[i] -= (velocity[i] * mu + grad[i]) * eta
        else:
            theta[i] -= velocity[i] * eta


@njit(fastmath=FASTMATH)
def adam_step(t: int, theta: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray,
              lr: float, b1: float, b2: float, eps: float) -> None:
    """Adam as PyTorch (and :class:`deltaprop.optim.Adam`) computes it."""
    one = theta.dtype.type
    step_size = one(lr / (1.0 - b1**t))
    inv_bias2 = one(1.0 / (1.0 - b2**t))
    beta1, beta2, keep1, keep2, epsilon = one(b1), one(b2), one(1.0 - b1), one(1.0 - b2), one(eps)
    for i in range(theta.shape[0]):
        g = grad[i]
        m[i] = m[i] * beta1 + g * keep1
        v[i] = v[i] * beta2 + g * g * keep2
        theta[i] -= m[i] / (np.sqrt(v[i] * inv_bias2) + epsilon) * step_size
