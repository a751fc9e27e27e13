"""Optimizer update rules and schedules, recomputed inside the tests; and the optimizer's say in
the divergence guard (step_is_safe): bounded steps pass, a schedule's next rate counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

import deltaprop as dp


def _steps(optimizer, grads, theta0):
    theta = theta0.copy()
    for g in grads:
        optimizer.step(theta, g.copy())
    return theta


@pytest.fixture
def problem(rng):
    return rng.standard_normal(6), [rng.standard_normal(6) for _ in range(5)]


def test_plain_sgd(problem):
    theta0, grads = problem
    expected = theta0 - 0.1 * sum(grads)
    np.testing.assert_allclose(_steps(dp.SGD(lr=0.1), grads, theta0), expected, rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum(problem, nesterov):
    theta0, grads = problem
    lr, mu = 0.1, 0.9
    theta, v = theta0.copy(), np.zeros_like(theta0)
    for g in grads:
        v = mu * v + g
        theta = theta - lr * ((g + mu * v) if nesterov else v)
    got = _steps(dp.SGD(lr=lr, momentum=mu, nesterov=nesterov), grads, theta0)
    np.testing.assert_allclose(got, theta, rtol=1e-12)


def test_adam(problem):
    theta0, grads = problem
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-7
    theta, m, v = theta0.copy(), 0 * theta0, 0 * theta0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    got = _steps(dp.Adam(lr=lr, beta1=b1, beta2=b2, eps=eps), grads, theta0)
    np.testing.assert_allclose(got, theta, rtol=1e-12)


def test_clipping_rescales_to_the_norm(problem):
    theta0, grads = problem
    g = grads[0] * 100
    got = _steps(dp.SGD(lr=1.0, clip_norm=0.5), [g], theta0)
    np.testing.assert_allclose(np.linalg.norm(theta0 - got), 0.5, rtol=1e-12)
    small = grads[0] * 1e-3  # below the threshold: untouched
    np.testing.assert_allclose(_steps(dp.SGD(lr=1.0, clip_norm=0.5), [small], theta0), theta0 - small)


def test_reset_forgets_state(problem):
    theta0, grads = problem
    adam = dp.Adam(lr=0.01)
    first = _steps(adam, grads, theta0)
    adam.reset()
    np.testing.assert_array_equal(_steps(adam, grads, theta0), first)


def test_inverse_scaling_schedule():
    schedule = dp.InverseScaling(power_t=0.5)
    assert [schedule(1.0, t, 0) for t in (1, 4, 100)] == [1.0, 0.5, 0.1]


def test_step_decay_schedule():
    schedule = dp.StepDecay(step_size=3, gamma=0.5)
    assert [schedule(0.8, 1, epoch) for epoch in range(7)] == [0.8] * 3 + [0.4] * 3 + [0.2]


def test_cosine_schedule():
    schedule = dp.Cosine(min_lr=0.1)
    schedule.start(10)
    assert schedule(1.0, 1, 0) == 1.0
    assert schedule(1.0, 1, 5) == pytest.approx(0.55)
    assert schedule(1.0, 1, 10) == pytest.approx(0.1)


def test_schedule_applies_inside_fit(rng):
    net = dp.MLP([3, 4, 1], seed=0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    history = net.fit(X, y, optimizer=dp.SGD(lr=0.1, schedule=dp.StepDecay(2, 0.5)), epochs=6, batch_size=5)
    assert history.lr == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    inverse = dp.SGD(lr=0.1, schedule="invscaling")
    history = net.fit(X, y, optimizer=inverse, epochs=2, batch_size=5)
    assert history.lr[-1] == pytest.approx(0.1 / math.sqrt(8))  # 8 steps taken


def test_optimizer_update_of_a_network_is_one_flat_step(rng):
    net = dp.MLP([3, 4, 2], dtype=np.float64, seed=0)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    before = [W.copy() for W in net.weights]
    _, dWs, _ = net.loss_and_gradients(X, y)
    dp.SGD(lr=0.5).step(net.theta, net.grad)
    for W, W0, dW in zip(net.weights, before, dWs):
        np.testing.assert_allclose(W, W0 - 0.5 * dW, rtol=1e-12)


def test_bounded_steps_are_not_mistaken_for_divergence(rng):
    """Adam's step and a clipped SGD step are bounded whatever the gradient's size: huge but
    finite gradients do not stop training."""
    X = rng.standard_normal((32, 3)) * 1e17  # huge features: huge but finite gradients
    y = rng.integers(0, 2, 32)
    for optimizer in (dp.Adam(lr=1e-3), dp.SGD(lr=0.1, clip_norm=1.0)):
        net = dp.MLP([3, 4, 2], dtype=np.float64, seed=0)
        history = net.fit(X, y, loss="cross_entropy", optimizer=optimizer, epochs=2, batch_size=8)
        assert history.stop_reason == "epochs", optimizer
        assert np.isfinite(net.theta).all()


def test_a_warm_up_schedule_cannot_step_past_the_guard(rng):
    """The guard judges a step by the rate the schedule gives that step, not the last one."""

    class WarmUp(dp.Schedule):
        def __call__(self, lr0, step, epoch):
            return lr0 * 10.0**step  # grows without bound

    X, y = rng.standard_normal((32, 3)), rng.standard_normal(32)
    net = dp.MLP([3, 8, 1], seed=0)
    history = net.fit(X, y, optimizer=dp.SGD(lr=1.0, schedule=WarmUp()), epochs=50, batch_size=4)
    assert history.stop_reason == "diverged"
    assert np.isfinite(net.theta).all()


@pytest.mark.parametrize("nesterov", ["no", 1, None, "False"])
def test_nesterov_is_true_or_false_not_anything_truthy(nesterov):
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        dp.SGD(lr=0.1, momentum=0.9, nesterov=nesterov)
