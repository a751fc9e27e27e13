"""The learning-rate range test: it trains a copy, records what it says it records, and its
suggestion is a rate that trains where 100x diverges and 1/1000 barely moves."""

import math

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.tuning import LRFindResult, lr_find, suggest_rate
from deltaprop.tuning.lr_find import centred_mean


def regression(seed=0):
    """A nearly linear target: a low loss is reachable in a few epochs at the right rate."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(256, 4))
    return X, X @ np.array([1.0, -2.0, 0.5, 1.5]) + 0.5 * np.sin(2 * X[:, 0])


def test_the_network_and_the_optimizer_are_unchanged():
    X, y = regression()
    net = dp.MLP([4, 8, 1], seed=0)
    theta, rng_state = net.theta.copy(), net.rng.bit_generator.state
    optimizer = dp.Adam(lr=0.01)
    lr_find(net, X, y, loss="squared_error", optimizer=optimizer, steps=30)
    np.testing.assert_array_equal(net.theta, theta)
    assert net.rng.bit_generator.state == rng_state
    assert net.loss is None and net.history is None
    assert optimizer.lr == 0.01 and optimizer.t == 0 and optimizer.m is None


def test_a_trained_network_keeps_its_loss_and_is_tested_with_it():
    data = dp.datasets.load("moons")
    net = dp.MLP([2, 8, 2], seed=0)
    net.fit(data.X, data.y, loss="cross_entropy", epochs=2)
    theta, loss = net.theta.copy(), net.loss
    result = lr_find(net, data.X, data.y, steps=20)  # loss: the network's own
    np.testing.assert_array_equal(net.theta, theta)
    assert net.loss is loss and result.rates.size == result.losses.size == result.smoothed.size


def test_rates_grow_exponentially_and_the_smoothed_loss_is_the_bias_corrected_average():
    X, y = regression()
    result = lr_find(dp.MLP([4, 8, 1], seed=0), X, y, loss="squared_error", start=1e-6, end=1e-2,
                     steps=20, smooth=0.9)
    np.testing.assert_allclose(result.rates, 1e-6 * 1e4 ** (np.arange(20) / 19))
    average, expected = 0.0, []
    for t, loss in enumerate(result.losses, start=1):
        average = 0.9 * average + 0.1 * loss
        expected.append(average / (1 - 0.9**t))
    np.testing.assert_allclose(result.smoothed, expected, rtol=1e-12)
    assert result.smoothed[0] == result.losses[0] and result.stop_reason == "end"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_suggestion_trains_where_100x_diverges_and_a_thousandth_barely_moves(seed):
    X, y = regression()

    def train(lr):
        net = dp.MLP([4, 32, 1], activation="tanh", seed=seed)
        history = net.fit(X, y, loss="squared_error", optimizer=dp.SGD(lr=lr), epochs=20,
                          batch_size=16, engine="numpy")
        return history.loss[0], history.loss[-1], history.stop_reason

    net = dp.MLP([4, 32, 1], activation="tanh", seed=seed)
    rate = lr_find(net, X, y, loss="squared_error", optimizer="sgd", batch_size=16).suggestion
    first, last, _ = train(rate)
    assert last < 0.05 * first
    _, last_100x, reason = train(100 * rate)
    assert reason == "diverged" or not math.isfinite(last_100x) or last_100x > first
    first_slow, last_slow, _ = train(rate / 1000)
    assert last_slow > 0.9 * first_slow


def test_the_run_stops_once_the_loss_explodes():
    X, y = regression()
    result = lr_find(dp.MLP([4, 8, 1], seed=0), X, y, loss="squared_error", optimizer="sgd",
                     start=1e-4, end=1e4, steps=100, batch_size=16)
    assert result.stop_reason == "diverged" and result.rates.size < 100
    assert result.rates[-1] < 1e4 and np.isfinite(result.losses).all()


def test_the_suggestion_is_a_tenth_of_the_rate_at_the_minimum_of_a_planted_curve():
    rates = np.logspace(-6, 1, 71)
    x = np.log10(rates)
    losses = 1 + np.where(x < -2, 0.0, -(x + 2)) + np.where(x > -0.5, 10 * (x + 0.5) ** 2, 0)
    suggestion, steepest, lowest = suggest_rate(rates, losses)
    curve = centred_mean(losses, 2)
    assert lowest == pytest.approx(rates[np.argmin(curve)])
    assert suggestion == pytest.approx(lowest / 10)
    assert 1e-2 <= steepest <= lowest


def test_centred_mean_averages_the_window_and_fewer_at_the_ends():
    np.testing.assert_allclose(centred_mean(np.array([1.0, 2, 3, 4, 5]), 1), [1.5, 2, 3, 4, 4.5])


@pytest.mark.parametrize("kwargs, error, words", [
    ({"start": 1.0, "end": 0.1}, ValueError, "start must be below end"),
    ({"start": 0.0}, ValueError, "start"),
    ({"end": -1.0}, ValueError, "end"),
    ({"steps": 5}, ValueError, "at least 10"),
    ({"steps": 2.5}, (TypeError, ValueError), "steps"),
    ({"smooth": 1.0}, ValueError, "smooth"),
    ({"smooth": True}, ValueError, "smooth"),
    ({"diverge": 1.0}, ValueError, "diverge"),
    ({"optimizer": "rmsprop"}, ValueError, "rmsprop"),
    ({"batch_size": 0}, ValueError, "batch_size"),
])
def test_bad_settings_are_named(kwargs, error, words):
    X, y = regression()
    with pytest.raises(error, match=words):
        lr_find(dp.MLP([4, 8, 1], seed=0), X, y, loss="squared_error", **kwargs)


def test_bad_networks_and_data_are_named():
    X, y = regression()
    with pytest.raises(TypeError, match="Network"):
        lr_find("net", X, y, loss="squared_error")
    with pytest.raises(ValueError, match="loss="):
        lr_find(dp.MLP([4, 8, 1], seed=0), X, y)
    with pytest.raises(ValueError, match="X"):
        lr_find(dp.MLP([4, 8, 1], seed=0), X[:, :3], y, loss="squared_error")
    with pytest.raises(ValueError):
        lr_find(dp.MLP([4, 8, 1], seed=0), X, y[:10], loss="squared_error")


def test_an_immediate_explosion_asks_for_a_smaller_start():
    with pytest.raises(ValueError, match="smaller rate"):
        suggest_rate(np.array([1.0, 2.0]), np.array([1.0, 5.0]))


def test_the_plot_draws_the_curve_on_a_log_axis_with_the_suggestion_marked(tmp_path):
    pytest.importorskip("matplotlib")
    X, y = regression()
    result = lr_find(dp.MLP([4, 8, 1], seed=0), X, y, loss="squared_error", steps=40)
    path = tmp_path / "lr.png"
    fig = dp.plot.lr_find(result, path=path)
    ax = fig.axes[0]
    assert path.stat().st_size > 0 and ax.get_xscale() == "log"
    marked = [line for line in ax.get_lines() if "suggested" in line.get_label()]
    assert len(marked) == 1 and marked[0].get_xdata()[0] == pytest.approx(result.suggestion)


def test_the_plot_refuses_what_is_not_a_result():
    pytest.importorskip("matplotlib")
    with pytest.raises(TypeError, match="LRFindResult"):
        dp.plot.lr_find({"rates": [1, 2]})
    empty = LRFindResult(np.array([1.0]), np.array([1.0]), np.array([1.0]), 0.1, 0.1, 1.0, "end", "SGD")
    with pytest.raises(ValueError, match="nothing"):
        dp.plot.lr_find(empty)
