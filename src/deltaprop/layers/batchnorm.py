"""Batch normalization, as the notes give it, with its own exact backward pass."""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop._validation import check_fraction, check_positive
from deltaprop.layers.base import Array, Layer, ParameterSpec


class BatchNorm(Layer):
    """Normalize each unit over the batch, then scale and shift by learned gamma and beta.

    Parameters
    ----------
    n_features : int, optional
        Width; taken from the layer below when omitted.
    eps : float
        The notes' small epsilon > 0 under the square root.
    momentum : float
        Weight of the newest batch in the running statistics (PyTorch's convention):
        ``running = (1 - momentum) * running + momentum * batch``.

    Notes
    -----
    Training mode, for a batch of B rows (the notes' section 5)::

        mu      = mean(z, axis=0)                      mu_q = 1/B sum_i z_iq
        var     = mean((z - mu)^2, axis=0)             sigma_q^2
        z_tilde = (z - mu) / sqrt(var + eps)
        z_hat   = gamma * z_tilde + beta

    and its backward, with ``g = dLoss/dz_hat``::

        dgamma = sum(g * z_tilde, axis=0),  dbeta = sum(g, axis=0)
        dz     = gamma / sqrt(var + eps) * (g - dbeta / B - z_tilde * dgamma / B)

    Evaluation mode uses the running mean and the running (unbiased) variance instead, so each
    sample's output does not depend on the rest of its batch.
    """

    def __init__(
        self, n_features: int | None = None, *, eps: float = 1e-5, momentum: float = 0.1
    ) -> None:
        super().__init__()
        if n_features is not None:
            self.n_in = self.n_out = check_positive("n_features", n_features, integer=True)
        self.eps = check_positive("eps", eps)
        self.momentum = check_fraction("momentum", momentum, high_inclusive=True)
        self.running_mean: Array | None = None
        self.running_var: Array | None = None
        self.update_running_stats = True
        self._cache: tuple[Array, Array, bool] | None = None

    @property
    def gamma(self) -> Array:
        return self.params["gamma"]

    @property
    def beta(self) -> Array:
        return self.params["beta"]

    def parameter_specs(self) -> list[ParameterSpec]:
        assert self.n_in is not None, "BatchNorm width unknown"
        return [
            ParameterSpec("gamma", (self.n_in,), decay=False),
            ParameterSpec("beta", (self.n_in,), decay=False),
        ]

    def initialize(self, rng: np.random.Generator) -> None:
        self.gamma[...] = 1.0
        self.beta[...] = 0.0
        self.running_mean = np.zeros_like(self.gamma)
        self.running_var = np.ones_like(self.gamma)

    def forward(self, x: Array, *, training: bool) -> Array:
        assert self.running_mean is not None and self.running_var is not None
        n = x.shape[0]
        if training:
            if n < 2:
                raise ValueError(
                    "batch normalization needs at least 2 samples per batch in training "
                    f"(got a batch of {n}); use batch_size >= 2 or drop the last partial batch"
                )
            mean = x.mean(axis=0)
            centered = np.subtract(x, mean, out=self._buffer("z_tilde", x.shape, x.dtype))
            var = np.einsum("ij,ij->j", centered, centered) / n
            if self.update_running_stats:
                self._update_running(mean, var, n)
        else:
            mean, var = self.running_mean, self.running_var
            centered = np.subtract(x, mean, out=self._buffer("z_tilde", x.shape, x.dtype))
        inv_std = 1.0 / np.sqrt(var + self.eps)
        z_tilde = np.multiply(centered, inv_std, out=centered)
        out = np.multiply(z_tilde, self.gamma, out=self._buffer("out", x.shape, x.dtype))
        out += self.beta
        self._cache = (z_tilde, inv_std.astype(x.dtype, copy=False), training)
        return out

    def _update_running(self, mean: Array, var: Array, n: int) -> None:
        assert self.running_mean is not None and self.running_var is not None
        if not np.isfinite(var.sum() + mean.sum()):
            return  # a diverging step must not poison the statistics evaluation relies on
        m = self.momentum
        unbiased_var = var * (n / (n - 1))
        self.running_mean *= 1.0 - m
        self.running_mean += m * mean
        self.running_var *= 1.0 - m
        self.running_var += m * unbiased_var

    def backward(
        self, g: Array, *, need_input_grad: bool = True, overwrite_g: bool = False
    ) -> Array | None:
        assert self._cache is not None, "backward before forward"
        z_tilde, inv_std, training = self._cache
        n = g.shape[0]
        dgamma = np.einsum("ij,ij->j", g, z_tilde, out=self.grads["gamma"])
        dbeta = np.sum(g, axis=0, out=self.grads["beta"])
        if not need_input_grad:
            return None
        scale = self.gamma * inv_std
        dz = self._buffer("dz", g.shape, g.dtype)
        if training:
            np.multiply(z_tilde, dgamma / n, out=dz)
            np.subtract(g, dz, out=dz)
            dz -= dbeta / n
        else:
            np.copyto(dz, g)
        dz *= scale
        return dz

    def state(self) -> dict[str, Array]:
        """Copies of the running statistics (buffers, not parameters), for saving."""
        assert self.running_mean is not None and self.running_var is not None
        return {"running_mean": self.running_mean.copy(), "running_var": self.running_var.copy()}

    def to_config(self) -> dict[str, Any]:
        return {"type": "BatchNorm", "n_features": self.n_in, "eps": self.eps, "momentum": self.momentum}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BatchNorm:
        if config["n_features"] is None:  # its parameters' size must be known before loading them
            raise ValueError("a BatchNorm config needs its width, n_features")
        return cls(config["n_features"], eps=config["eps"], momentum=config["momentum"])

    def __repr__(self) -> str:
        return f"BatchNorm({self.n_in})"
