"""BatchStepper: fit's loop one minibatch at a time, with the deltas of each step."""

import numpy as np
import pytest

import deltaprop as dp


def _moons(n=100):
    data = dp.datasets.load("moons", n_samples=n, noise=0.1, seed=1)
    return data.X, data.y


@pytest.mark.parametrize(("batch_norm", "batch_size", "optimizer", "dtype", "engine"), [
    (False, 10, "sgd", np.float64, "numpy"),
    (True, 7, "adam", np.float64, "numpy"),
    (False, "full", "sgd", np.float32, "numpy"),
    (True, 9, "sgd", np.float32, "numpy"),  # 100 = 11 * 9 + 1: BatchNorm skips the 1-sample batch
    (False, 1, "adam", np.float32, "numpy"),
    (False, 10, "sgd", np.float64, "compiled"),  # the kernel's steps, one call each: fit's
    (False, 7, "adam", np.float32, "compiled"),
    (True, 9, "sgd", np.float32, "compiled"),  # BatchNorm, its 1-sample batch skipped, compiled
])
def test_whole_epochs_of_steps_equal_fit_bit_for_bit(batch_norm, batch_size, optimizer, dtype, engine):
    if engine == "compiled":
        pytest.importorskip("numba")
    X, y = _moons()
    fitted = dp.MLP([2, 5, 4, 1], activation="tanh", seed=3, batch_norm=batch_norm, dtype=dtype)
    stepped = fitted.copy()
    fitted.fit(X, y, loss="binary_cross_entropy", optimizer=dp.optim.get_optimizer(optimizer, lr=0.05),
               engine=engine, batch_size=batch_size, epochs=3, l2=1e-3)
    stepper = dp.BatchStepper(stepped, X, y, loss="binary_cross_entropy",
                              optimizer=dp.optim.get_optimizer(optimizer, lr=0.05),
                              batch_size=batch_size, l2=1e-3, engine=engine)
    for _ in range(3 * stepper.batches_per_epoch):
        assert stepper.step().taken
    assert stepper.epoch == 3 and stepper.epochs_done == 3.0
    np.testing.assert_array_equal(stepped.theta, fitted.theta)
    for a, b in zip(stepped.batchnorm_layers, fitted.batchnorm_layers):
        np.testing.assert_array_equal(a.running_mean, b.running_mean)
        np.testing.assert_array_equal(a.running_var, b.running_var)


def test_batches_per_epoch_and_each_epoch_visits_every_row_once():
    X, y = _moons(23)
    net = dp.MLP([2, 3, 1], seed=0, dtype=np.float64)
    stepper = dp.BatchStepper(net, X, y, optimizer=dp.SGD(lr=0.01), batch_size=5)
    assert stepper.batches_per_epoch == 5
    for _ in range(2):
        rows = np.concatenate([stepper.step().rows for _ in range(5)])
        assert sorted(rows.tolist()) == list(range(23))
    assert stepper.epoch == 2 and stepper.steps == 10


def test_a_step_reports_the_deltas_and_gradients_the_network_computes_before_its_update():
    X, y = _moons()
    net = dp.MLP([2, 6, 3, 1], activation="sigmoid", seed=5, dtype=np.float64)
    before = net.copy()
    stepper = dp.BatchStepper(net, X, y, loss="squared_error", optimizer=dp.SGD(lr=0.5),
                              batch_size=8, l2=0.01)
    result = stepper.step()
    loss, dWs, dbs = before.loss_and_gradients(X[result.rows], y[result.rows],
                                               loss="squared_error", l2=0.01)
    assert result.rows.shape == (8,)
    assert result.loss == pytest.approx(loss, rel=1e-14)
    for delta, expected in zip(result.deltas, before.deltas):
        np.testing.assert_allclose(delta, expected, rtol=1e-13, atol=1e-16)
    norms = [np.sqrt(np.sum(dW**2) + np.sum(db**2)) for dW, db in zip(dWs, dbs)]
    np.testing.assert_allclose(result.grad_norms, norms, rtol=1e-12)
    # SGD: theta moved by -lr * gradient
    np.testing.assert_allclose(net.weights[0], before.weights[0] - 0.5 * dWs[0], rtol=1e-12)
    # the deltas are copies: the next step does not overwrite them
    kept = [d.copy() for d in result.deltas]
    stepper.step()
    for delta, copy in zip(result.deltas, kept):
        np.testing.assert_array_equal(delta, copy)


def test_a_step_that_would_overflow_is_not_taken():
    X, y = _moons()
    net = dp.MLP([2, 4, 1], activation="relu", seed=0, dtype=np.float32)
    theta = net.theta.copy()
    stepper = dp.BatchStepper(net, X * 1e30, y, optimizer=dp.SGD(lr=1e30), batch_size=10)
    result = stepper.step()
    assert not result.taken
    np.testing.assert_array_equal(net.theta, theta)


def test_a_refused_step_leaves_batchnorm_statistics_as_they_were():
    X, y = _moons()
    net = dp.MLP([2, 4, 1], activation="relu", seed=0, batch_norm=True, dtype=np.float64)
    optimizer = dp.SGD(lr=0.1)
    stepper = dp.BatchStepper(net, X, y, optimizer=optimizer, batch_size=10)
    assert stepper.step().taken
    bn = net.batchnorm_layers[0]
    theta, mean, var = net.theta.copy(), bn.running_mean.copy(), bn.running_var.copy()
    optimizer.lr = 1e300  # the next step would overflow the weights
    assert not stepper.step().taken
    np.testing.assert_array_equal(net.theta, theta)
    np.testing.assert_array_equal(bn.running_mean, mean)
    np.testing.assert_array_equal(bn.running_var, var)


def test_a_cosine_schedule_given_total_epochs_follows_fit():
    X, y = _moons()
    fitted = dp.MLP([2, 4, 1], activation="tanh", seed=1, dtype=np.float64)
    stepped = fitted.copy()
    fitted.fit(X, y, engine="numpy", optimizer=dp.SGD(lr=0.2, schedule="cosine"), batch_size=25, epochs=4)
    stepper = dp.BatchStepper(stepped, X, y, optimizer=dp.SGD(lr=0.2, schedule="cosine"),
                              batch_size=25, total_epochs=4, engine="numpy")
    lrs = []
    for _ in range(16):
        stepper.step()
        lrs.append(stepper.optimizer.current_lr)
    np.testing.assert_array_equal(stepped.theta, fitted.theta)
    assert lrs[0] == 0.2 and lrs[-1] < lrs[4] < lrs[0]  # it decays over the 4 epochs


@pytest.mark.parametrize(("options", "message"), [
    ({"batch_size": 0}, "batch_size"),
    ({"l2": -1.0}, "l2"),
    ({"loss": "hinge"}, "loss"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"total_epochs": 0}, "total_epochs"),
    ({"total_epochs": "3"}, "total_epochs"),
])
def test_bad_options_are_refused_by_name(options, message):
    X, y = _moons()
    net = dp.MLP([2, 3, 1], seed=0)
    with pytest.raises((ValueError, TypeError), match=message):
        dp.BatchStepper(net, X, y, **options)


def test_bad_data_and_batch_norm_with_one_row_batches_are_refused():
    X, y = _moons()
    with pytest.raises(ValueError, match="X has 100 samples but y has 99"):
        dp.BatchStepper(dp.MLP([2, 3, 1], seed=0), X, y[:-1])
    with pytest.raises(ValueError, match="X"):
        dp.BatchStepper(dp.MLP([2, 3, 1], seed=0), X[:, :1], y)
    with pytest.raises(ValueError, match="batch normalization needs at least 2"):
        dp.BatchStepper(dp.MLP([2, 3, 1], seed=0, batch_norm=True), X, y, batch_size=1)


# -- several steps at once: BatchStepper.run ---------------------------------------------------
def _stepper(engine, seed=4):
    X, y = np.random.default_rng(seed).normal(size=(50, 2)), np.arange(50) % 2
    net = dp.MLP([2, 6, 1], activation="tanh", seed=seed, dtype=np.float64)
    return dp.BatchStepper(net, X, y, loss="binary_cross_entropy", optimizer=dp.SGD(lr=0.1, momentum=0.5),
                           batch_size=8, engine=engine), X, y


def test_a_run_takes_the_steps_of_as_many_step_calls():
    stepped, _, _ = _stepper("numpy")
    run, _, _ = _stepper("numpy")
    norms = [stepped.step().grad_norms for _ in range(17)]
    result = run.run(17)
    assert result.steps == 17 and result.taken and run.steps == 17 and run.epoch == stepped.epoch == 2
    np.testing.assert_array_equal(run.net.theta, stepped.net.theta)
    np.testing.assert_allclose(result.grad_norms, np.sqrt(np.mean(np.square(norms), axis=0)), rtol=1e-12)


def test_a_compiled_run_crosses_epochs_as_fit_does():
    pytest.importorskip("numba")
    from deltaprop.engine.compiled.engine import build_kernels

    build_kernels(np.float64)  # "auto" in a stepper uses the kernels only once built
    run, X, y = _stepper("auto")
    assert run.engine_name == "compiled"
    results = [run.run(k) for k in (3, 9, 9, 14)]  # 35 steps = 5 epochs of 7, cut anywhere
    assert [r.steps for r in results] == [3, 9, 9, 14] and run.epoch == 5 and run.steps == 35
    fitted = dp.MLP([2, 6, 1], activation="tanh", seed=4, dtype=np.float64)
    fitted.fit(X, y, loss="binary_cross_entropy", optimizer=dp.SGD(lr=0.1, momentum=0.5), batch_size=8,
               epochs=5, engine="numpy")
    np.testing.assert_allclose(run.net.theta, fitted.theta, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("engine", ["numpy", "auto"])
def test_a_run_ends_at_a_refused_step_or_its_time(engine):
    stepper, _, _ = _stepper(engine)
    assert stepper.run(10**6, seconds=0.05).steps < 10**6  # the time budget ends it
    X, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    net = dp.MLP([2, 6, 1], seed=0, dtype=np.float64)
    diverging = dp.BatchStepper(net, X, y * 1e6, loss="squared_error", optimizer=dp.SGD(lr=1e30),
                                batch_size=4, engine=engine)
    result = diverging.run(100)
    assert not result.taken and result.steps >= 1 and diverging.steps == result.steps


def test_a_compiled_stepper_draws_fits_dropout_masks():
    pytest.importorskip("numba")
    X, y = _moons()
    fitted = dp.MLP([2, 6, 5, 1], activation="relu", dropout=0.25, seed=3, dtype=np.float64)
    stepped = fitted.copy()
    fitted.fit(X, y, loss="binary_cross_entropy", optimizer=dp.SGD(lr=0.1), batch_size=8, epochs=3,
               engine="compiled")
    stepper = dp.BatchStepper(stepped, X, y, loss="binary_cross_entropy", optimizer=dp.SGD(lr=0.1),
                              batch_size=8, engine="compiled")
    for k in (5, 20, 14):  # 39 steps = 3 epochs of 13, cut anywhere
        assert stepper.run(k).taken
    np.testing.assert_array_equal(stepped.theta, fitted.theta)
