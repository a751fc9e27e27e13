"""Batch normalization, as the notes give it, with its own exact backward pass; over several
processes, the statistics of their global batch (a :class:`Reducer` sums over them)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from deltaprop._validation import check_fraction, check_positive
from deltaprop.layers.base import Array, Layer, ParameterSpec


class Reducer(Protocol):
    """Sums over the processes that share a batch (data-parallel training's ranks)."""

    def sum_over_ranks(self, values: Array) -> Array:
        """The element-wise sum of ``values`` (a float64 vector) over every process, on every
        process."""
        ...


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

    Synchronized (``reducer`` set, by data-parallel training): the batch is the global one whose
    rows are spread over the processes, B the sum of their row counts. The forward pass sums
    (row count, sum of z) over them for mu, then the squared deviations from that global mu for
    sigma^2 -- two passes, as on one process: ``E[z^2] - mu^2`` would cancel catastrophically
    when a unit's mean is large against its spread. The backward pass sums ``dbeta`` and
    ``dgamma`` over them for ``dz``; ``grads`` keep this process's part of both (the network's
    whole gradient is summed afterwards). So every process normalizes with the global batch's
    statistics and updates the same running statistics.
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
        self.reducer: Reducer | None = None  # set while the batch is spread over processes
        self._cache: tuple[Array, Array, bool] | None = None
        self._rows = 0  # the batch's row count in the last training forward (over all processes)

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
        centered = self._buffer("z_tilde", x.shape, x.dtype)
        if training:
            mean, var, n = self._batch_statistics(x, centered)
            self._rows = n
            if self.update_running_stats:
                self._update_running(mean, var, n)
        else:
            mean, var = self.running_mean, self.running_var
            np.subtract(x, mean, out=centered)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        z_tilde = np.multiply(centered, inv_std, out=centered)
        out = np.multiply(z_tilde, self.gamma, out=self._buffer("out", x.shape, x.dtype))
        out += self.beta
        self._cache = (z_tilde, inv_std.astype(x.dtype, copy=False), training)
        return out

    def _batch_statistics(self, x: Array, centered: Array) -> tuple[Array, Array, int]:
        """(mu, sigma^2, B) of the batch, with ``centered = x - mu`` written in place; the global
        batch's when a reducer is set."""
        if self.reducer is None:
            n = x.shape[0]
            _check_rows(n)
            mean = x.mean(axis=0)
            np.subtract(x, mean, out=centered)
            return mean, np.einsum("ij,ij->j", centered, centered) / n, n
        # Each part summed in x's dtype, as one process sums the batch; the parts' sums added
        # in float64 (exact for one part: one process's bits, float32 too).
        count_and_sum = self.reducer.sum_over_ranks(
            np.concatenate(([x.shape[0]], x.sum(axis=0)), dtype=np.float64))
        n = int(round(count_and_sum[0]))
        _check_rows(n)
        mean = (count_and_sum[1:] / n).astype(x.dtype, copy=False)
        np.subtract(x, mean, out=centered)
        squares = self.reducer.sum_over_ranks(
            np.einsum("ij,ij->j", centered, centered).astype(np.float64, copy=False))
        return mean, (squares / n).astype(x.dtype, copy=False), n

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
        dgamma = np.einsum("ij,ij->j", g, z_tilde, out=self.grads["gamma"])
        dbeta = np.sum(g, axis=0, out=self.grads["beta"])
        if not need_input_grad:
            return None
        n = g.shape[0]
        if training and self.reducer is not None:  # dz needs the global batch's sums
            n = self._rows
            both = self.reducer.sum_over_ranks(np.concatenate((dgamma, dbeta)).astype(np.float64))
            dgamma, dbeta = (part.astype(g.dtype, copy=False) for part in np.split(both, 2))
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


def _check_rows(n: int) -> None:
    """Batch statistics need two rows at least (one row's variance is 0: z_tilde would be 0)."""
    if n < 2:
        raise ValueError(
            "batch normalization needs at least 2 samples per batch in training "
            f"(got a batch of {n}); use batch_size >= 2 or drop the last partial batch"
        )
