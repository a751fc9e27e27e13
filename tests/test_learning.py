"""Real learning: XOR, AND/OR/XOR with the perceptron, sin, digits, vanishing gradients."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from conftest import XOR_X, XOR_Y


def test_xor_with_2_4_1_sigmoid_for_at_least_9_of_10_seeds():
    solved = 0
    for seed in range(10):
        net = dp.MLP([2, 4, 1], activation="sigmoid", seed=seed)
        net.fit(XOR_X, XOR_Y, loss="binary_cross_entropy", optimizer=dp.SGD(lr=2.0, momentum=0.9),
                epochs=400, batch_size=4)
        solved += bool(np.array_equal(net.predict_classes(XOR_X), XOR_Y))
    assert solved >= 9


@pytest.mark.parametrize("name, y", [("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1])])
def test_perceptron_learns_and_and_or(name, y):
    perceptron = dp.Perceptron(2, seed=0).fit(XOR_X, y, epochs=50)
    assert perceptron.score(XOR_X, y) == 1.0
    assert perceptron.mistakes_per_epoch[-1] == 0  # converged: a pass without mistakes


def test_perceptron_cannot_learn_xor():
    for seed in range(5):
        perceptron = dp.Perceptron(2, seed=seed).fit(XOR_X, XOR_Y, epochs=200)
        assert perceptron.score(XOR_X, XOR_Y) <= 0.75
        assert min(perceptron.mistakes_per_epoch) > 0  # never a clean pass


def test_perceptron_updates_only_on_mistakes():
    perceptron = dp.Perceptron(2, seed=0)
    perceptron.W[...] = [[1.0, 1.0]]
    perceptron.b[...] = -1.5  # already computes AND
    perceptron.fit(XOR_X, [0, 0, 0, 1], epochs=5)
    np.testing.assert_array_equal(perceptron.W, [[1.0, 1.0]])
    assert perceptron.mistakes_per_epoch == [0]


def test_perceptron_rule_by_hand():
    perceptron = dp.Perceptron(2, lr=0.5, seed=0)
    perceptron.fit(np.array([[1.0, 2.0]]), [-1], epochs=1, shuffle=False)
    # sign(0) = +1 is a mistake for y = -1: w <- 0 + 0.5 * (-1) * x, b <- 0 + 0.5 * (-1)
    np.testing.assert_array_equal(perceptron.W, [[-0.5, -1.0]])
    np.testing.assert_array_equal(perceptron.b, [-0.5])


def test_delta_rule_is_backprop_on_one_sigmoid_unit(rng):
    X = rng.standard_normal((20, 3))
    y = (X @ [1.0, -2.0, 0.5] > 0).astype(float)
    rule = dp.DeltaRule(3, lr=0.5, seed=4).fit(X, y, epochs=3, shuffle=False)
    net = dp.Network([dp.Dense(3, 1, "sigmoid")], dtype=np.float64, seed=4)
    net.fit(X, y, loss="squared_error", optimizer=dp.SGD(lr=0.5), epochs=3, batch_size=1, shuffle=False)
    np.testing.assert_allclose(rule.net.theta, net.theta, rtol=1e-12)
    assert np.mean(rule.predict(X) == y) >= 0.9


def test_one_hidden_tanh_layer_fits_sin():
    x = np.linspace(0, 2 * np.pi, 200)[:, None]
    y = np.sin(x)
    net = dp.MLP([1, 20, 1], activation="tanh", dtype=np.float64, seed=0)
    net.fit(x, y, optimizer=dp.Adam(lr=0.01), epochs=1500, batch_size="full")
    mse = float(np.mean((net.predict(x) - y) ** 2))
    assert mse < 1e-3


def test_digits_reach_97_percent_held_out():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    test, train = order[:450], order[450:]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0) + 1e-8
    X = (X - mean) / std
    net = dp.MLP([64, 128, 10], activation="relu", seed=0)
    history = net.fit(X[train], y[train], loss="cross_entropy", optimizer=dp.Adam(lr=1e-3),
                      epochs=30, batch_size=32, validation_data=(X[test], y[test]))
    accuracy = np.mean(net.predict_classes(X[test]) == y[test])
    assert accuracy >= 0.97
    assert history.val_metric[-1] == pytest.approx(accuracy)
    assert history.loss[-1] < history.loss[0] / 10


def _first_to_last_gradient_ratio(activation, init, rng, batch_norm=False):
    X, y = rng.standard_normal((64, 20)), rng.integers(0, 5, 64)
    net = dp.MLP([20] + [64] * 10 + [5], activation=activation, init=init, dtype=np.float64, seed=0,
                 batch_norm=batch_norm)
    _, dWs, _ = net.loss_and_gradients(X, y, loss="cross_entropy")
    norms = [np.linalg.norm(dW) for dW in dWs]
    return norms[0] / norms[-1]


def test_vanishing_gradients_in_a_deep_sigmoid_net(rng):
    assert _first_to_last_gradient_ratio("sigmoid", "glorot", rng) < 1 / 100


def test_relu_with_he_init_keeps_gradients_within_10x(rng):
    ratio = _first_to_last_gradient_ratio("relu", "he", rng)
    assert 1 / 10 < ratio < 10


def test_batchnorm_rescues_the_deep_sigmoid_net(rng):
    assert _first_to_last_gradient_ratio("sigmoid", "glorot", rng, batch_norm=True) > 1 / 100


def test_history_records_per_layer_gradient_norms(rng):
    net = dp.MLP([4, 8, 8, 2], seed=0)
    history = net.fit(rng.standard_normal((32, 4)), rng.integers(0, 2, 32), loss="cross_entropy", epochs=3)
    assert history.grad_norm_matrix().shape == (3, 3)
    assert (history.grad_norm_matrix() > 0).all()
