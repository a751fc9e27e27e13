"""Stochastic gradient descent, with optional momentum and Nesterov momentum."""

from __future__ import annotations

import math

import numpy as np

from deltaprop._validation import check_flag, check_fraction
from deltaprop.optim.base import Array, Optimizer
from deltaprop.optim.schedules import Schedule

MAX_STEP = 1e30  # a larger step is divergence: float32 overflows at 3.4e38


class SGD(Optimizer):
    """Gradient descent on the minibatch gradient g (one sample, a minibatch or the full batch,
    as chosen by ``fit``'s ``batch_size``).

    Update rule (PyTorch's momentum convention: the velocity accumulates gradients and the
    learning rate multiplies it at the step, so changing eta does not rescale old velocity)::

        plain:     theta <- theta - eta g
        momentum:  v <- mu v + g;          theta <- theta - eta v
        nesterov:  v <- mu v + g;          theta <- theta - eta (g + mu v)

    Parameters
    ----------
    lr : float
        eta_0.
    momentum : float in [0, 1)
        mu.
    nesterov : bool
        Use Nesterov's look-ahead form (needs momentum > 0).
    schedule, clip_norm
        See :class:`~deltaprop.optim.base.Optimizer`.
    """

    name = "sgd"

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        *,
        schedule: str | Schedule | None = None,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(lr, schedule, clip_norm)
        self.momentum = check_fraction("momentum", momentum)
        self.nesterov = check_flag("nesterov", nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.velocity: Array | None = None

    state_arrays = ("velocity",)

    def reset(self) -> None:
        super().reset()
        self.velocity = None

    def step_is_safe(self, grad_norm: float) -> bool:
        """Finite, and eta * ||g|| (clipped, and grown by momentum's 1 / (1 - mu)) below 1e30."""
        if not math.isfinite(grad_norm):
            return False
        if self.clip_norm is not None:
            grad_norm = min(grad_norm, self.clip_norm)
        return self.lr_at(self.t + 1) * grad_norm / (1.0 - self.momentum) < MAX_STEP

    def _update(self, theta: Array, grad: Array, lr: float) -> None:
        mu = self.momentum
        if not mu:
            for w, g, scratch in self._chunks(theta, grad):
                np.multiply(g, lr, out=scratch)
                w -= scratch
            return
        for w, g, v, scratch in self._chunks(theta, grad, self._workspace("velocity", theta)):
            v *= mu
            v += g
            if self.nesterov:
                np.multiply(v, mu, out=scratch)
                scratch += g
                scratch *= lr
            else:
                np.multiply(v, lr, out=scratch)
            w -= scratch

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov})"


