"""Shared fixtures: seeded data; warnings are errors (pyproject's filterwarnings)."""

from __future__ import annotations

import os

# scikit-learn's estimator checks include check_array_api_input (with NumPy as the namespace),
# which it skips unless SciPy's array API support is switched on before SciPy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_Y = np.array([0, 1, 1, 0], dtype=np.float64)
