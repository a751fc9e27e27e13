"""Shared fixtures and helpers: seeded data, a user-defined loss, and the Hypothesis strategies of
the property tests; warnings are errors (pyproject's filterwarnings).

The property tests are deterministic (``derandomize=True``, no example database): the same
examples run on every machine and every run. Each network's data come from a NumPy generator
seeded by a drawn integer, so Hypothesis shrinks a failure to a small architecture and a seed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

# scikit-learn's estimator checks include check_array_api_input (with NumPy as the namespace),
# which it skips unless SciPy's array API support is switched on before SciPy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import deltaprop as dp  # noqa: E402


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_Y = np.array([0, 1, 1, 0], dtype=np.float64)


class L1Loss(dp.Loss):
    """A user loss on an identity output: its own gradient must be used, not (a - y)/n."""

    name = "l1"

    def value(self, z, a, Y):
        return float(np.abs(a - Y).sum()) / a.shape[0]

    def grad_a(self, a, Y):
        return np.sign(a - Y) / a.shape[0]


# -- property tests (Hypothesis) ------------------------------------------------------------------
ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus"]
LOSS_NAMES = ["squared_error", "mse", "cross_entropy", "binary_cross_entropy"]
SEEDS = st.integers(0, 2**32 - 1)


def deterministic(max_examples: int) -> Any:
    return settings(max_examples=max_examples, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Arch:
    """An MLP architecture and the loss it is trained with."""

    n_in: int
    hidden: tuple[int, ...]
    n_out: int
    activation: str
    loss: str

    @property
    def sizes(self) -> list[int]:
        return [self.n_in, *self.hidden, self.n_out]

    def mlp(self, **options: Any) -> dp.MLP:
        return dp.MLP(self.sizes, activation=self.activation, **options)

    def targets(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """The loss's natural targets: reals, integer labels, or 0/1 per output."""
        if self.loss == "cross_entropy":
            return rng.integers(0, self.n_out, n)
        if self.loss == "binary_cross_entropy":
            return rng.integers(0, 2, (n, self.n_out)).astype(np.float64)
        return rng.standard_normal((n, self.n_out))


@st.composite
def architectures(draw: Any, max_depth: int = 3, max_width: int = 6) -> Arch:
    loss = draw(st.sampled_from(LOSS_NAMES))
    return Arch(
        n_in=draw(st.integers(1, max_width)),
        hidden=tuple(draw(st.lists(st.integers(1, max_width), max_size=max_depth))),
        n_out=draw(st.integers(2 if loss == "cross_entropy" else 1, 4)),
        activation=draw(st.sampled_from(ACTIVATIONS)),
        loss=loss,
    )


def trained_state(net: dp.Network, history: dp.History) -> tuple[Any, ...]:
    """Everything a fit leaves, as bytes: parameters, BatchNorm statistics, the recorded losses,
    the kept restart and every run's losses, and the random generator's state."""
    theta, stats = net.snapshot()
    return (
        theta.tobytes(), [(m.tobytes(), v.tobytes()) for m, v in stats],
        np.asarray(history.loss).tobytes(), history.best_restart,
        [(r["run"], r["loss"], r["epochs"], np.asarray(r["history"].loss).tobytes())
         for r in history.restarts],
        json.dumps(net.rng.bit_generator.state, default=str),
    )
