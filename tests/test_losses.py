"""Losses: a user's own loss (a subclass of dp.Loss with value and grad_a) is trained with its
own gradient."""

from __future__ import annotations

import re

import numpy as np
import pytest

import deltaprop as dp
from conftest import L1Loss
from deltaprop.targets import one_hot


def test_a_user_loss_is_trained_with_its_own_gradient(rng):
    """On an identity output the built-in losses' delta is (a - y)/n; a user's loss must get the
    delta from its own grad_a instead: gradcheck passes and fit lowers the loss."""
    net = dp.MLP([3, 5, 1], activation="tanh", dtype=np.float64, seed=0)
    X, y = rng.standard_normal((6, 3)), rng.standard_normal(6) + 3.0
    assert dp.gradcheck(net, X, y, loss=L1Loss()).passed
    history = net.fit(X, y, loss=L1Loss(), optimizer=dp.SGD(lr=0.05), epochs=30, batch_size="full")
    assert history.loss[-1] < history.loss[0]


@pytest.mark.parametrize("labels, shown", [([0, 1, 2e19], "2e+19"), ([0, -1], "-1"),
                                           ([0, 3], "3"), ([0.0, 2.0**63], "9.22337e+18")])
def test_one_hot_names_a_label_outside_the_classes_as_it_was_given(labels, shown):
    # A cast before the range check once showed 2e19 as -9223372036854775808.
    with pytest.raises(ValueError, match=rf"label {re.escape(shown)} is outside 0\.\.2"):
        one_hot(np.array(labels), 3)


@pytest.mark.parametrize("loss", ["squared_error", "mse"])
def test_targets_whose_squares_overflow_the_dtype_are_named_not_called_divergence(loss):
    X = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(ValueError, match=r"hold 1e\+20: squared over 20 rows they overflow float32"):
        dp.MLP([3, 4, 1], dtype=np.float32, seed=0).fit(X, np.full(20, 1e20), loss=loss, epochs=1)
    # The same targets in float64, and large ones whose squares fit float32, train.
    assert dp.MLP([3, 4, 1], dtype=np.float64, seed=0).fit(
        X, np.full(20, 1e20), loss=loss, epochs=1).stop_reason == "epochs"
    assert dp.MLP([3, 4, 1], dtype=np.float32, seed=0).fit(
        X, np.full(20, 1e17), loss=loss, epochs=1).stop_reason == "epochs"


def test_the_advice_for_overflowing_squares_fits_the_network():
    X = np.random.default_rng(0).standard_normal((20, 3))
    with pytest.raises(ValueError, match=r"hold 1e\+300: .*overflow float64 .*standardize it\)$"):
        dp.MLP([3, 4, 1], dtype=np.float64, seed=0).fit(X, np.full(20, 1e300), epochs=1)
