"""The gradient check tells the truth on networks with kinks (ReLU and its family, L1): it
passes on every correct network, trained or not, whatever the seed, and still fails on every
planted bug. (Before, a finite difference straddling a ReLU kink made correct trained networks
fail: three seeds in ten on digits.)"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.activations import Activation, ReLU

pytest.importorskip("sklearn")
from sklearn.datasets import load_digits  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0), y


def _trained(X, y, seed, activation="relu", hidden=(32,), epochs=10):
    net = dp.MLP([64, *hidden, 10], activation=activation, seed=seed)  # float32, as trained
    net.fit(X, y, loss="cross_entropy", optimizer=dp.Adam(1e-3), epochs=epochs, batch_size=32,
            engine="numpy")
    return net


def _check(net, X, y, seed, **options):
    rows = np.random.default_rng(seed).choice(len(X), 8, replace=False)
    return dp.gradcheck(net, X[rows], y[rows], loss="cross_entropy", seed=seed, **options)


def test_trained_relu_networks_pass_for_ten_seeds(digits, monkeypatch):
    X, y = digits
    nets = [_trained(X, y, seed) for seed in range(10)]
    reports = [_check(net, X, y, seed, directions=4) for seed, net in enumerate(nets)]
    assert all(report.passed for report in reports), [report.max_error for report in reports]
    assert max(report.max_error for report in reports) < 0.5e-6  # with room: never a false alarm
    # Without the kink handling the same checks straddle kinks and cry wolf (the old failure):
    monkeypatch.setattr(ReLU, "kinks", ())
    blind = [_check(net, X, y, seed).max_error for seed, net in enumerate(nets[:4])]
    assert max(blind) > 1e-3, blind


def test_a_kink_within_the_step_is_stepped_around():
    """z of one unit 3e-5 from its kink on one row: the stencil (+-2h = 2e-4) straddles it."""
    net = dp.MLP([2, 3, 1], activation="relu", dtype=np.float64, seed=0)
    X = np.array([[1.0, 0.5], [-0.3, 0.8], [0.7, -1.2]])
    Y = np.array([[0.3], [-0.2], [0.5]])
    W, b = net.weights[0], net.biases[0]
    b[0] = 3e-5 - W[0] @ X[1]  # z[1, 0] = 3e-5
    report = dp.gradcheck(net, X, Y, loss="squared_error")
    assert report.passed and not report.skipped, report
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ReLU, "kinks", ())
        assert not dp.gradcheck(net, X, Y, loss="squared_error").passed


def test_entries_on_a_kink_are_counted_not_compared():
    """A unit with W = 0 and b = 0 has z = 0 exactly: its b and weights sit on the kink, where
    backprop's f'(0) = 0 is a convention no difference can confirm."""
    net = dp.MLP([2, 3, 1], activation="relu", dtype=np.float64, seed=0)
    net.weights[0][1] = 0.0
    net.biases[0][1] = 0.0
    X = np.array([[1.0, 0.5], [-0.3, 0.8], [0.7, -1.2]])
    report = dp.gradcheck(net, X, np.array([[0.3], [-0.2], [0.5]]), loss="squared_error")
    assert report.passed
    assert report.skipped == {"layers.0.W": 2, "layers.0.b": 1}
    assert "1 entry at a kink, not compared" in repr(report)


def test_l1_weights_at_zero_are_kinks_too():
    net = dp.MLP([3, 4, 2], activation="tanh", dtype=np.float64, seed=1)
    net.weights[0][0, 0] = 2e-5  # |W| kinks at 0, within the stencil
    X = np.random.default_rng(0).standard_normal((5, 3))
    report = dp.gradcheck(net, X, np.array([0, 1, 1, 0, 1]), loss="cross_entropy", l1=0.3)
    assert report.passed, report


def test_the_command_line_check_passes_on_the_issues_digits_model(tmp_path, capsys):
    from deltaprop.cli import main

    model = str(tmp_path / "digits.dp")
    assert main(["train", "--data", "digits", "--hidden", "128", "--epochs", "30", "--out", model,
                 "--quiet"]) == 0
    code = main(["gradcheck", model, "--quiet"])
    assert code == 0, capsys.readouterr().out


# -- planted bugs in ReLU networks are still caught ------------------------------------------------
class _LeakyMask(ReLU):
    """ReLU whose derivative lets through z a little below 0 (a shifted kink)."""

    def derivative(self, z, a):
        return (z > -0.3).astype(z.dtype)

    def backward(self, g, z, a, out=None):
        return np.multiply(g, z > -0.3, out=out)


class _NoMask(ReLU):
    """ReLU whose backward forgot the mask: f'(z) = 1 everywhere."""

    def derivative(self, z, a):
        return np.ones_like(z)

    def backward(self, g, z, a, out=None):
        return np.multiply(g, 1.0, out=out)


@pytest.mark.parametrize("wrong", [_LeakyMask, _NoMask])
def test_a_wrong_relu_derivative_is_caught_on_a_trained_network(digits, wrong):
    X, y = digits
    net = _trained(X, y, seed=3)
    net.dense_layers[0].set_activation(wrong())
    report = _check(net, X, y, seed=3)
    assert not report.passed and report.errors["layers.0.W"] > 1e-3, report


def test_a_missing_mean_in_the_output_delta_is_caught_on_relu(digits, monkeypatch):
    X, y = digits
    net = _trained(X, y, seed=0)

    def without_the_mean(self, a, Y, out):
        return np.subtract(a, Y, out=out)

    monkeypatch.setattr(dp.losses.CrossEntropy, "_fused_delta", without_the_mean)
    assert not _check(net, X, y, seed=0).passed


def test_a_missing_weight_decay_gradient_is_caught(digits, monkeypatch):
    X, y = digits
    net = _trained(X, y, seed=1)
    assert _check(net, X, y, seed=1, l2=0.01).passed
    monkeypatch.setattr("deltaprop.engine.step.add_weight_decay_gradient", lambda decayed, l2, l1: None)
    report = _check(net, X, y, seed=1, l2=0.01)
    assert not report.passed and report.errors["layers.1.b"] < 1e-6  # biases never decay


def test_a_custom_activation_without_kinks_is_checked_as_smooth():
    class Cube(Activation):
        name = "cube"

        def forward(self, z, out=None):
            return np.power(z, 3, out=out)

        def derivative(self, z, a):
            return 3 * z**2

    net = dp.Network([dp.Dense(3, 4, Cube()), dp.Dense(4, 2)], dtype=np.float64, seed=0)
    X = np.random.default_rng(0).standard_normal((4, 3))
    report = dp.gradcheck(net, X, np.random.default_rng(1).standard_normal((4, 2)))
    assert report.passed and Cube.kinks == ()
