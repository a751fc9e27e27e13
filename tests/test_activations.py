"""Activations: a user's activation object must be elementwise; bad parameters of a named
activation are refused by name."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp


def test_a_custom_activation_of_the_wrong_shape_is_rejected(rng):
    """An f(z) that does not keep z's shape is refused with the shape it returned, before it
    can break the delta recursion."""

    class Collapsing:
        def f(self, z):
            return z.sum(axis=1, keepdims=True)

        def df(self, z):
            return np.ones_like(z)

    net = dp.MLP([3, 4, 1], activation=Collapsing(), seed=0)
    with pytest.raises(ValueError, match=r"f\(z\) returned shape \(5, 1\).*elementwise"):
        net.fit(rng.standard_normal((5, 3)), np.zeros(5), epochs=1)


def test_a_leaky_relu_slope_must_be_a_number():
    with pytest.raises(TypeError, match="slope"):
        dp.get_activation({"name": "leaky_relu", "slope": "x"})
