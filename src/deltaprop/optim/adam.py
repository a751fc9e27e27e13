"""Adam: per-parameter steps from running first and second moments of the gradient."""

from __future__ import annotations

import numpy as np

from deltaprop._validation import check_fraction, check_positive
from deltaprop.optim.base import Array, Optimizer
from deltaprop.optim.schedules import Schedule


class Adam(Optimizer):
    """Adam (Kingma & Ba), as PyTorch implements it.

    Update rule at step t = 1, 2, ...::

        m <- beta1 m + (1 - beta1) g
        v <- beta2 v + (1 - beta2) g^2
        theta <- theta - eta * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    Parameters
    ----------
    lr : float
        eta_0.
    beta1, beta2 : float in [0, 1)
        Decay rates of the first and second moments.
    eps : float
        Added to the denominator for stability.
    schedule, clip_norm
        See :class:`~deltaprop.optim.base.Optimizer`.
    """

    name = "adam"

    def __init__(
        self,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        *,
        schedule: str | Schedule | None = None,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(lr, schedule, clip_norm)
        self.beta1 = check_fraction("beta1", beta1)
        self.beta2 = check_fraction("beta2", beta2)
        self.eps = check_positive("eps", eps)
        self.m: Array | None = None
        self.v: Array | None = None

    state_arrays = ("m", "v")

    def reset(self) -> None:
        super().reset()
        self.m = self.v = None

    def _update(self, theta: Array, grad: Array, lr: float) -> None:
        b1, b2 = self.beta1, self.beta2
        bias1 = 1.0 - b1**self.t
        inv_bias2 = 1.0 / (1.0 - b2**self.t)
        step = lr / bias1
        state = (self._workspace("m", theta), self._workspace("v", theta))
        for w, g, m, v, scratch in self._chunks(theta, grad, *state):
            m *= b1
            np.multiply(g, 1.0 - b1, out=scratch)
            m += scratch
            v *= b2
            np.multiply(g, g, out=scratch)
            scratch *= 1.0 - b2
            v += scratch
            # theta -= eta / bias1 * m / (sqrt(v / bias2) + eps)
            np.multiply(v, inv_bias2, out=scratch)
            np.sqrt(scratch, out=scratch)
            scratch += self.eps
            np.divide(m, scratch, out=scratch)
            scratch *= step
            w -= scratch

    def __repr__(self) -> str:
        return f"Adam(lr={self.lr}, beta1={self.beta1}, beta2={self.beta2}, eps={self.eps})"
