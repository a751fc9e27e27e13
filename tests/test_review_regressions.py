"""Regressions for defects found in review: each test failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp


class L1Loss(dp.Loss):
    """A user loss on an identity output: its own gradient must be used, not (a - y)/n."""

    name = "l1"

    def value(self, z, a, Y):
        return float(np.abs(a - Y).sum()) / a.shape[0]

    def grad_a(self, a, Y):
        return np.sign(a - Y) / a.shape[0]


def test_a_custom_loss_gets_its_own_gradient(rng):
    net = dp.MLP([3, 5, 1], activation="tanh", dtype=np.float64, seed=0)
    X, y = rng.standard_normal((6, 3)), rng.standard_normal(6) + 3.0
    assert dp.gradcheck(net, X, y, loss=L1Loss()).passed
    history = net.fit(X, y, loss=L1Loss(), optimizer=dp.SGD(lr=0.05), epochs=30, batch_size="full")
    assert history.loss[-1] < history.loss[0]


@pytest.fixture
def exploding(rng):
    return rng.standard_normal((40, 3)) * 100, rng.standard_normal(40) * 1e6


def test_divergence_with_early_stopping_and_tolerance_reports_diverged(exploding):
    X, y = exploding
    net = dp.MLP([3, 32, 1], seed=0)
    history = net.fit(X, y, optimizer=dp.SGD(lr=10.0), epochs=50, batch_size=4,
                      validation_data=(X[:5], y[:5]), early_stopping=3, tol=1e-3)
    assert history.stop_reason == "diverged"
    assert np.isfinite(net.theta).all()
    assert np.isnan(history.loss[-1]) and np.isnan(history.val_loss[-1])
    assert len(history.val_loss) == len(history.loss)


def test_divergence_restores_batchnorm_statistics(exploding):
    X, y = exploding
    net = dp.MLP([3, 32, 1], batch_norm=True, seed=0)
    history = net.fit(X, y, optimizer=dp.SGD(lr=1e3), epochs=50, batch_size=8)
    assert history.stop_reason == "diverged"
    bn = net.layers[1]
    assert np.isfinite(bn.running_var).all() and np.isfinite(bn.running_mean).all()
    assert np.isfinite(net.predict(X)).all()


def test_divergence_in_a_full_batch_step_keeps_finite_weights(rng):
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    net = dp.MLP([3, 8, 1], seed=0)
    history = net.fit(X, y, optimizer=dp.SGD(lr=3e38), epochs=5, batch_size="full")
    assert history.stop_reason == "diverged"
    assert np.isfinite(net.theta).all()


def test_restarts_never_keep_a_non_finite_run(rng):
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 2, 30)

    class SpoilFirstRun(dp.Callback):
        def on_train_end(self, trainer):
            if trainer.run_index == 0:
                trainer.net.theta[...] = np.nan

    net = dp.MLP([3, 4, 2], seed=0)
    history = net.fit(X, y, loss="cross_entropy", epochs=2, restarts=3, callbacks=[SpoilFirstRun()])
    assert history.best_restart != 0
    assert np.isfinite(net.theta).all()


def test_repeated_restarts_explore_new_starting_points(rng):
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 2, 30)
    net = dp.MLP([3, 4, 2], seed=0)
    first = net.fit(X, y, loss="cross_entropy", epochs=1, restarts=3)
    second = net.fit(X, y, loss="cross_entropy", epochs=1, restarts=3)
    assert first.restarts[1]["history"].loss[0] != second.restarts[1]["history"].loss[0]


def test_time_limit_covers_all_restarts(rng):
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 2, 30)
    history = dp.MLP([3, 4, 2], seed=0).fit(X, y, loss="cross_entropy", epochs=10**6, batch_size=1,
                                            restarts=3, time_limit=0.2)
    assert len(history.restarts) == 1
    assert history.restarts[0]["stop_reason"] == "time_limit"


def test_final_loss_is_that_of_the_restored_epoch(rng):
    X, y = rng.standard_normal((60, 4)), rng.integers(0, 2, 60)
    history = dp.MLP([4, 16, 2], seed=0).fit(X, y, loss="cross_entropy", optimizer=dp.Adam(lr=0.05),
                                             epochs=200, validation_data=(X[:20], 1 - y[:20]),
                                             early_stopping=3)
    assert history.final_loss == history.loss[history.best_epoch - 1]


def test_float_epochs_are_accepted():
    net = dp.MLP([2, 1], seed=0)
    assert net.fit(np.ones((4, 2)), np.ones(4), epochs=3.0).n_epochs == 3


def test_custom_activation_of_the_wrong_shape_is_rejected(rng):
    class Collapsing:
        def f(self, z):
            return z.sum(axis=1, keepdims=True)

        def df(self, z):
            return np.ones_like(z)

    net = dp.MLP([3, 4, 1], activation=Collapsing(), seed=0)
    with pytest.raises(ValueError, match=r"f\(z\) returned shape \(5, 1\).*elementwise"):
        net.fit(rng.standard_normal((5, 3)), np.zeros(5), epochs=1)


def test_delta_rule_is_stable_for_huge_inputs():
    X = np.array([[1e4], [-1e4]])
    rule = dp.DeltaRule(1, seed=0).fit(X, [1, 0], epochs=2)  # warnings are errors here
    assert np.isfinite(rule.w).all()
    with pytest.raises(ValueError, match="NaN"):
        dp.DeltaRule(1).fit(X, [np.nan, 0])
    with pytest.raises(TypeError, match="numbers"):
        dp.DeltaRule(1).fit(X, ["yes", "no"])
    with pytest.raises(TypeError, match="0/1 or -1/"):
        dp.Perceptron(1).fit(X, ["yes", "no"])


def test_a_layer_cannot_serve_two_networks():
    shared = dp.Dense(3, 3, "tanh")
    with pytest.raises(ValueError, match="already belongs to a network"):
        dp.Network([shared, shared, dp.Dense(3, 1)])
    dense = dp.Dense(3, 1)
    dp.Network([dense])
    with pytest.raises(ValueError, match="already belongs to a network"):
        dp.Network([dense])


def test_evaluate_validates_its_input(rng):
    net = dp.MLP([3, 4, 3], seed=0)
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    with pytest.raises(ValueError, match="not been trained; give loss="):
        dp.evaluate(net, X, y)
    net.fit(X, y, loss="cross_entropy", epochs=1)
    loss, accuracy = dp.evaluate(net, X.tolist(), y)
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    with pytest.raises(ValueError, match="has 2 features"):
        dp.evaluate(net, X[:, :2], y)
    assert dp.evaluate(net, X, rng.standard_normal((6, 3)), loss="squared_error")[0] > 0
    assert net.output_layer.activation.name == "softmax"


def test_predict_classes_is_multilabel_for_sigmoid_outputs(rng):
    net = dp.MLP([2, 2], dtype=np.float64, seed=0)
    net.fit(np.zeros((2, 2)), [[1, 0], [0, 1]], loss="binary_cross_entropy", epochs=1)
    net.weights[0][...] = np.eye(2)
    net.biases[0][...] = 0.0
    classes = net.predict_classes(np.array([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]))
    np.testing.assert_array_equal(classes, [[1, 1], [0, 1], [1, 0], [0, 0]])


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: dp.MLP([2, 1]).fit(np.ones((2, 2)) * 1j, np.ones(2)), TypeError, "must hold numbers"),
        (lambda: dp.MLP([2, 1]).fit(np.ones((2, 2)), np.ones(2) * 1j), TypeError, "numeric"),
        (lambda: dp.MLP([2, 1], seed=-1), TypeError, "seed must be"),
        (lambda: dp.MLP([2, 1], seed="abc"), TypeError, "seed must be"),
        (lambda: dp.MLP([2, 1]).fit(np.ones((2, 2)), np.ones(2), callbacks=dp.TimeLimit(1)),
         TypeError, "callbacks must be a list"),
        (lambda: dp.Network(dp.Dense(2, 1)), TypeError, "list of layers"),
        (lambda: dp.get_activation({"name": "leaky_relu", "slope": "x"}), TypeError, "slope"),
        (lambda: dp.gradcheck(dp.MLP([2, 1]), np.ones((2, 2)), np.ones(2), l2=-1), ValueError, "l2"),
    ],
)
def test_more_bad_input_names_the_problem(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_weights_slice_assignment_is_refused():
    net = dp.MLP([2, 2, 1], seed=0)
    with pytest.raises(TypeError, match="one layer"):
        net.weights[0:1] = [np.zeros((2, 2))]


def test_a_generator_seeds_a_network_reproducibly():
    a = dp.MLP([3, 4, 1], seed=np.random.default_rng(5))
    b = dp.MLP([3, 4, 1], seed=np.random.default_rng(5))
    np.testing.assert_array_equal(a.theta, b.theta)


def test_saved_state_does_not_change_with_training(rng):
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    net = dp.MLP([3, 4, 1], batch_norm=True, seed=0)
    optimizer = dp.Adam()
    net.fit(X, y, optimizer=optimizer, epochs=1)
    saved, stats = optimizer.state_dict(), net.layers[1].state()
    m, mean = saved["m"].copy(), stats["running_mean"].copy()
    net.fit(X, y, optimizer=optimizer, epochs=1)
    np.testing.assert_array_equal(saved["m"], m)
    np.testing.assert_array_equal(stats["running_mean"], mean)


@pytest.mark.parametrize(
    "options",
    [{"batch_size": "full"}, {"batch_size": "full", "dropout": 0.3}, {"batch_size": 8},
     {"batch_size": 7, "dropout": 0.3}, {"batch_size": 9, "batch_norm": True}],
    ids=["full", "full-dropout", "minibatch", "minibatch-dropout", "batchnorm"],
)
def test_results_do_not_depend_on_the_shuffled_copy(rng, monkeypatch, options):
    from deltaprop.data import arrays

    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    options = dict(options)
    mlp = {k: options.pop(k) for k in ("dropout", "batch_norm") if k in options}

    def train():
        net = dp.MLP([3, 6, 2], seed=3, **mlp)
        net.fit(X, y, loss="cross_entropy", epochs=3, **options)
        return net.theta.copy()

    with_copy = train()
    monkeypatch.setattr(arrays, "SHUFFLE_COPY_BYTES", 0)
    np.testing.assert_array_equal(with_copy, train())


def test_a_callback_can_change_the_learning_rate(rng):
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)

    class Freeze(dp.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            trainer.optimizer.lr = 1e-300

    net = dp.MLP([3, 4, 1], dtype=np.float64, seed=0)
    optimizer = dp.SGD(lr=0.5)
    net.fit(X, y, optimizer=optimizer, epochs=1, batch_size=5)
    after_one = net.theta.copy()
    history = net.fit(X, y, optimizer=optimizer, epochs=3, batch_size=5, callbacks=[Freeze()])
    assert history.lr[1:] == [1e-300, 1e-300]
    assert np.abs(net.theta - after_one).max() > 0  # the first epoch moved ...
    moved_once = net.theta.copy()
    net.fit(X, y, optimizer=optimizer, epochs=1, batch_size=5)
    np.testing.assert_allclose(net.theta, moved_once, rtol=0, atol=1e-250)  # ... then nothing


def test_bounded_steps_are_not_mistaken_for_divergence(rng):
    X = rng.standard_normal((32, 3)) * 1e17  # huge features: huge but finite gradients
    y = rng.integers(0, 2, 32)
    for optimizer in (dp.Adam(lr=1e-3), dp.SGD(lr=0.1, clip_norm=1.0)):
        net = dp.MLP([3, 4, 2], dtype=np.float64, seed=0)
        history = net.fit(X, y, loss="cross_entropy", optimizer=optimizer, epochs=2, batch_size=8)
        assert history.stop_reason == "epochs", optimizer
        assert np.isfinite(net.theta).all()


def test_a_warm_up_schedule_cannot_step_past_the_guard(rng):
    class WarmUp(dp.Schedule):
        def __call__(self, lr0, step, epoch):
            return lr0 * 10.0**step  # grows without bound

    X, y = rng.standard_normal((32, 3)), rng.standard_normal(32)
    net = dp.MLP([3, 8, 1], seed=0)
    history = net.fit(X, y, optimizer=dp.SGD(lr=1.0, schedule=WarmUp()), epochs=50, batch_size=4)
    assert history.stop_reason == "diverged"
    assert np.isfinite(net.theta).all()


def test_batchnorm_gradients_are_guarded_too(rng):
    net = dp.MLP([3, 8, 1], batch_norm=True, seed=0)
    assert len(net.layout.other_slices) == 2  # gamma and beta
    assert not dp.MLP([3, 8, 1], seed=0).layout.other_slices


def test_user_losses_are_evaluated_every_step(rng):
    from deltaprop.engine.epoch_loss import EpochLoss

    assert EpochLoss(L1Loss(), 10, 1, np.float64).rows is None
    assert EpochLoss(dp.get_loss("mse"), 10, 1, np.float64).rows is not None
