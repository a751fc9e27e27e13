"""The training loop: batching modes, validation, callbacks, restarts, divergence, threads, and
(a property, Hypothesis) training as a pure function of the seed, the data and the options."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import deltaprop as dp
from conftest import SEEDS, architectures, deterministic, trained_state


@pytest.fixture
def data(rng):
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


@pytest.mark.parametrize("batch_size, steps", [(1, 60), (16, 4), ("full", 1), (1000, 1)])
def test_batch_modes_take_the_expected_number_of_steps(data, batch_size, steps):
    net = dp.MLP([4, 8, 2], seed=0)
    optimizer = dp.SGD(lr=0.01)
    net.fit(*data, loss="cross_entropy", optimizer=optimizer, epochs=2, batch_size=batch_size)
    assert optimizer.t == 2 * steps


def test_full_batch_step_is_exact_gradient_descent(data):
    X, y = data
    net = dp.MLP([4, 8, 2], dtype=np.float64, seed=0)
    reference = net.copy()
    net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(lr=0.3), epochs=1, batch_size="full")
    _, dWs, dbs = reference.loss_and_gradients(X, y, loss="cross_entropy")
    np.testing.assert_allclose(net.weights[0], reference.weights[0] - 0.3 * dWs[0], rtol=1e-12)
    np.testing.assert_allclose(net.biases[1], reference.biases[1] - 0.3 * dbs[1], rtol=1e-12)


def test_random_sampling_draws_with_replacement(data):
    net = dp.MLP([4, 8, 2], seed=0)
    optimizer = dp.SGD(lr=0.05)
    history = net.fit(*data, loss="cross_entropy", optimizer=optimizer, epochs=30, batch_size=1,
                      sampling="random")
    assert optimizer.t == 30 * 60
    assert history.loss[-1] < history.loss[0]


def test_validation_fraction_and_metric(data):
    net = dp.MLP([4, 8, 2], seed=0)
    history = net.fit(*data, loss="cross_entropy", epochs=5, validation_fraction=0.25)
    assert len(history.val_loss) == 5 and 0.0 <= history.val_metric[-1] <= 1.0


def test_early_stopping_restores_the_best_weights(data):
    X, y = data
    Xv, yv = X[:20], 1 - y[:20]  # validation labels flipped: validation loss gets worse
    net = dp.MLP([4, 16, 2], seed=0)
    history = net.fit(X, y, loss="cross_entropy", optimizer=dp.Adam(lr=0.05), epochs=200,
                      validation_data=(Xv, yv), early_stopping=3)
    assert history.stop_reason == "early_stopping"
    assert history.n_epochs < 200
    best = int(np.argmin(history.val_loss))
    assert history.best_epoch == best + 1
    restored, _ = dp.evaluate(net, Xv, yv)
    assert restored == pytest.approx(history.val_loss[best], rel=1e-5)


def test_final_loss_is_that_of_the_restored_epoch(rng):
    """After early stopping restores the best epoch, final_loss is that epoch's training loss."""
    X, y = rng.standard_normal((60, 4)), rng.integers(0, 2, 60)
    history = dp.MLP([4, 16, 2], seed=0).fit(X, y, loss="cross_entropy", optimizer=dp.Adam(lr=0.05),
                                             epochs=200, validation_data=(X[:20], 1 - y[:20]),
                                             early_stopping=3)
    assert history.final_loss == history.loss[history.best_epoch - 1]


def test_gradient_tolerance_stops_at_convergence(rng):
    X = rng.standard_normal((30, 2))
    y = X @ [1.0, -1.0] + 0.5
    net = dp.MLP([2, 1], dtype=np.float64, seed=0)  # linear regression: a convex problem
    history = net.fit(X, y, optimizer=dp.SGD(lr=0.3), epochs=10_000, batch_size="full", tol=1e-6)
    assert history.stop_reason == "converged"
    assert history.grad_norm[-1] < 1e-6
    np.testing.assert_allclose(net.weights[0][0], [1.0, -1.0], atol=1e-5)


def test_time_limit(data):
    net = dp.MLP([4, 8, 2], seed=0)
    history = net.fit(*data, loss="cross_entropy", epochs=1_000_000, batch_size=1, time_limit=0.2)
    assert history.stop_reason == "time_limit"
    assert history.time[-1] < 2.0


def test_divergence_is_caught_and_the_last_finite_weights_kept(rng):
    X, y = rng.standard_normal((40, 3)) * 100, rng.standard_normal(40) * 1e6
    net = dp.MLP([3, 32, 1], seed=0)
    history = net.fit(X, y, optimizer=dp.SGD(lr=10.0), epochs=50, batch_size=4)
    assert history.stop_reason == "diverged"
    assert np.isfinite(net.theta).all()


@pytest.fixture
def exploding(rng):
    return rng.standard_normal((40, 3)) * 100, rng.standard_normal(40) * 1e6


def test_divergence_with_early_stopping_and_a_tolerance_stops_as_diverged(exploding):
    """Divergence wins over the other stopping rules, and the history stays aligned: the
    diverged epoch's training and validation losses are both NaN."""
    X, y = exploding
    net = dp.MLP([3, 32, 1], seed=0)
    history = net.fit(X, y, optimizer=dp.SGD(lr=10.0), epochs=50, batch_size=4,
                      validation_data=(X[:5], y[:5]), early_stopping=3, tol=1e-3)
    assert history.stop_reason == "diverged"
    assert np.isfinite(net.theta).all()
    assert np.isnan(history.loss[-1]) and np.isnan(history.val_loss[-1])
    assert len(history.val_loss) == len(history.loss)


def test_divergence_restores_batchnorm_statistics(exploding):
    """The epoch's start is restored with BatchNorm's running statistics, so the kept network
    still predicts finite values."""
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


def test_restarts_keep_the_best_run(data):
    X, y = data
    net = dp.MLP([4, 3, 2], seed=0)
    history = net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(lr=0.05), epochs=5, restarts=4)
    assert len(history.restarts) == 4
    losses = [run["loss"] for run in history.restarts]
    assert len(set(losses)) == 4  # the runs started from different weights
    assert history.best_restart == int(np.argmin(losses))
    final, _ = dp.evaluate(net, X, y)
    assert final == pytest.approx(min(losses), rel=1e-5)


def test_restarts_are_reproducible(data):
    def run():
        net = dp.MLP([4, 3, 2], seed=5)
        net.fit(*data, loss="cross_entropy", epochs=3, restarts=3)
        return net.theta.copy()

    np.testing.assert_array_equal(run(), run())


def test_first_restart_equals_a_plain_run(data):
    plain = dp.MLP([4, 3, 2], seed=1)
    plain.fit(*data, loss="cross_entropy", epochs=3)
    restarted = dp.MLP([4, 3, 2], seed=1)
    history = restarted.fit(*data, loss="cross_entropy", epochs=3, restarts=2)
    np.testing.assert_array_equal(history.restarts[0]["history"].loss, plain.history.loss)


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
    """A second fit with restarts draws new starting points rather than replaying the first's."""
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 2, 30)
    net = dp.MLP([3, 4, 2], seed=0)
    first = net.fit(X, y, loss="cross_entropy", epochs=1, restarts=3)
    second = net.fit(X, y, loss="cross_entropy", epochs=1, restarts=3)
    assert first.restarts[1]["history"].loss[0] != second.restarts[1]["history"].loss[0]


def test_a_time_limit_is_one_budget_for_all_restarts(rng):
    """Not one budget per run: once the time is spent, the later runs are not started."""
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 2, 30)
    history = dp.MLP([3, 4, 2], seed=0).fit(X, y, loss="cross_entropy", epochs=10**6, batch_size=1,
                                            restarts=3, time_limit=0.2)
    assert len(history.restarts) == 1
    assert history.restarts[0]["stop_reason"] == "time_limit"


def test_callbacks_see_every_epoch_and_can_stop(data):
    seen = []

    class StopAtThree:
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append((epoch, logs["loss"]))
            if epoch == 3:
                trainer.stop_reason = "enough"

    history = dp.MLP([4, 8, 2], seed=0).fit(*data, loss="cross_entropy", epochs=10, callbacks=[StopAtThree()])
    assert [e for e, _ in seen] == [1, 2, 3]
    assert history.stop_reason == "enough"


def test_verbose_prints_one_line_per_epoch(data, monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    dp.MLP([4, 8, 2], seed=0).fit(*data, loss="cross_entropy", epochs=3, verbose=True,
                                  validation_fraction=0.2)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1") and "val_accuracy" in lines[0]


def test_threads_policy(data):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    net = dp.MLP([4, 8, 2], seed=0)
    seen = []

    def blas_threads():  # numpy's BLAS (torch, if imported, brings its own)
        return max(i["num_threads"] for i in threadpoolctl.threadpool_info()
                   if i["user_api"] == "blas" and "numpy" in i["filepath"])

    class Probe:
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append(blas_threads())

    net.fit(*data, loss="cross_entropy", epochs=1, callbacks=[Probe()])  # small: auto -> 1
    net.fit(*data, loss="cross_entropy", epochs=1, callbacks=[Probe()], threads=None)
    assert seen[0] == 1
    assert seen[1] == blas_threads()
    with pytest.raises(ValueError, match="threads"):
        net.fit(*data, loss="cross_entropy", epochs=1, threads=0)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"epochs": 0}, "epochs must be an integer > 0"),
        ({"batch_size": 0}, "batch_size must be an integer > 0"),
        ({"batch_size": "half"}, "batch_size must be a positive integer or 'full'"),
        ({"sampling": "bootstrap"}, "sampling must be one of"),
        ({"l2": -1.0}, "l2 must be a number >= 0"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; valid names are: adam, lbfgs, sgd"),
        ({"validation_fraction": 1.0}, r"validation_fraction must lie in \[0, 1\)"),
        ({"validation_data": (np.ones((3, 4)),)}, r"validation_data must be \(X_val, y_val\)"),
        ({"early_stopping": 0}, "patience must be an integer > 0"),
        ({"restarts": 0}, "restarts must be an integer > 0"),
    ],
)
def test_bad_options_name_the_problem(data, options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        dp.MLP([4, 8, 2], seed=0).fit(*data, loss="cross_entropy", **options)


def test_callbacks_must_be_given_as_a_list():
    with pytest.raises(TypeError, match="callbacks must be a list"):
        dp.MLP([2, 1]).fit(np.ones((2, 2)), np.ones(2), callbacks=dp.TimeLimit(1))


def test_batchnorm_with_batch_of_one_is_a_clear_error(data):
    net = dp.MLP([4, 8, 2], batch_norm=True, seed=0)
    with pytest.raises(ValueError, match="at least 2 samples per batch"):
        net.fit(*data, loss="cross_entropy", epochs=1, batch_size=1)


def test_batchnorm_skips_a_last_batch_of_one(data):
    X, y = data  # 60 samples, batches of 59: the last batch would hold one sample
    net = dp.MLP([4, 8, 2], batch_norm=True, seed=0)
    optimizer = dp.SGD(lr=0.01)
    net.fit(X, y, loss="cross_entropy", optimizer=optimizer, epochs=3, batch_size=59)
    assert optimizer.t == 3


def test_adaptive_threads_drop_to_one_while_another_process_is_busy(monkeypatch):
    pytest.importorskip("threadpoolctl")
    from deltaprop.engine import threads

    if threads.available_cores() < 2:
        pytest.skip("needs two cores")
    loads = iter([0.0, 0.9, 0.9, 0.1, 0.6])  # the probe, then one reading per epoch
    monkeypatch.setattr(threads._CpuClock, "others_load", lambda self: next(loads))
    monkeypatch.setattr(threads, "SMALL_STEP_FLOPS", 0.0)  # treat this small net as large
    monkeypatch.setattr(threads, "PROBE_SECONDS", 0.0)
    seen = []

    class Probe:
        def on_epoch_end(self, trainer, epoch, logs):
            policy = next(c for c in trainer.callbacks if isinstance(c, threads.AdaptiveThreads))
            seen.append(policy.history[:])

    import threadpoolctl

    def numpy_blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if "numpy" in i["filepath"]]

    before = numpy_blas_threads()
    rng = np.random.default_rng(0)
    history = dp.MLP([4, 8, 2], seed=0).fit(rng.standard_normal((20, 4)), rng.integers(0, 2, 20),
                                            loss="cross_entropy", epochs=4, callbacks=[Probe()])
    cores = threads.available_cores()
    # probe idle -> all cores; busy -> 1; busy -> 1; idle -> all; 0.6 busy -> 1
    assert seen[-1] == [cores, 1, 1, cores]
    assert history.blas_threads == [cores, 1, 1, cores, 1]
    assert numpy_blas_threads() == before  # the original limits are back


def blas_thread_counts():
    import threadpoolctl

    return [(i["filepath"], i["num_threads"]) for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]


@pytest.mark.parametrize("last_out", ["first_in", "second_in"])
def test_overlapping_blas_limits_leave_the_threads_as_they_were(last_out):
    """Two runs holding limits at once (threads of one process): whichever leaves last, the
    counts are those before both (each run restoring what it saw left one thread behind)."""
    pytest.importorskip("threadpoolctl")
    from deltaprop.engine import threads

    before = blas_thread_counts()
    if max((n for _, n in before), default=1) < 2:
        pytest.skip("BLAS runs one thread here already")
    controller = threads._blas_controller()
    first, second = threads.HeldLimit(controller, 1), threads.HeldLimit(controller, 1)
    first.__enter__()
    second.__enter__()
    assert all(n == 1 for _, n in blas_thread_counts())
    (first if last_out == "second_in" else second).__exit__(None, None, None)
    assert all(n == 1 for _, n in blas_thread_counts())  # the other still holds its limit
    (second if last_out == "second_in" else first).__exit__(None, None, None)
    assert blas_thread_counts() == before


def test_fits_in_threads_at_once_leave_the_blas_threads_as_they_were():
    joblib = pytest.importorskip("joblib")
    pytest.importorskip("threadpoolctl")
    before = blas_thread_counts()
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((200, 4)), rng.integers(0, 2, 200)

    def train(seed):
        return dp.MLP([4, 8, 2], seed=seed).fit(X, y, loss="cross_entropy", epochs=5, batch_size=8)

    joblib.Parallel(n_jobs=4, backend="threading")(joblib.delayed(train)(s) for s in range(16))
    assert blas_thread_counts() == before


def test_a_thread_holding_threadpoolctl_control_does_not_freeze_the_limits():
    """threadpoolctl gives OpenBLAS's count to the first thread that sets it, for its lifetime;
    a pool thread that limited once must not make later limits (and restores) silent no-ops."""
    import threading

    threadpoolctl = pytest.importorskip("threadpoolctl")
    from deltaprop.engine import threads

    before = blas_thread_counts()
    if max((n for _, n in before), default=1) < 2:
        pytest.skip("BLAS runs one thread here already")
    limited, finish = threading.Event(), threading.Event()

    def pool_thread():
        threadpoolctl.ThreadpoolController().select(user_api="blas").limit(limits=before[0][1])
        limited.set()
        finish.wait(10)

    keeper = threading.Thread(target=pool_thread)
    keeper.start()
    try:
        limited.wait(10)
        with threads.HeldLimit(threads._blas_controller(), 1):
            assert all(n == 1 for _, n in blas_thread_counts())
        assert blas_thread_counts() == before
    finally:
        finish.set()
        keeper.join()


def test_cpu_clock_sees_another_busy_process():
    import subprocess
    import sys
    import time

    from deltaprop.engine import threads

    clock = threads._CpuClock()
    if clock._busy is None:
        pytest.skip("no /proc/stat")
    spin = "import time\nt = time.time()\nwhile time.time() - t < 5: pass"
    spinner = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(0.3)
        clock.mark()
        busy_before = clock._busy
        time.sleep(0.5)
        if clock._machine_busy_ticks() == busy_before:
            pytest.skip("/proc/stat does not count CPU time in this sandbox")
        load = clock.others_load()
    finally:
        spinner.kill()
        spinner.wait()
    assert load is not None and load > 0.5


def test_adaptive_threads_never_exceed_the_users_limit(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from deltaprop.engine import threads

    monkeypatch.setattr(threads, "SMALL_STEP_FLOPS", 0.0)  # treat this small net as large
    monkeypatch.setattr(threads, "PROBE_SECONDS", 0.0)
    rng = np.random.default_rng(0)
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):  # as OPENBLAS_NUM_THREADS=1
        history = dp.MLP([4, 8, 2], seed=0).fit(rng.standard_normal((20, 4)), rng.integers(0, 2, 20),
                                                loss="cross_entropy", epochs=2)
    assert history.blas_threads and set(history.blas_threads) == {1}


def test_an_overflow_restores_the_state_at_the_epochs_start(rng):
    """A learning rate of 1e30 throws the float32 weights so far that the squared error
    overflows within the first epoch: the epoch's updates and its BatchNorm statistics are
    undone, and the message advises a smaller rate. (Targets whose squares overflow on their
    own are refused before training: test_losses.)"""
    X = rng.standard_normal((32, 3))
    y = np.full(32, 3.0)
    net = dp.MLP([3, 4, 1], seed=0, batch_norm=True)
    start = net.copy()
    with np.errstate(over="raise"):  # no overflow warning escapes (warnings are errors here)
        history = net.fit(X, y, optimizer=dp.SGD(1e30), epochs=3, batch_size=8)
    assert history.stop_reason == "diverged" and history.n_epochs == 1
    np.testing.assert_array_equal(net.theta, start.theta)
    np.testing.assert_array_equal(net.batchnorm_layers[0].running_mean,
                                  start.batchnorm_layers[0].running_mean)
    assert "try a smaller learning rate" in history.stop_message


def test_a_non_finite_loss_stops_at_its_step_where_losses_are_per_step():
    """Where the loss is evaluated at every step (large steps), a non-finite one is reported at
    that step, before the update; where it is deferred, at the end of the epoch."""
    from deltaprop.engine.epoch_loss import EpochLoss

    Y = np.zeros((4, 1), np.float32)
    finite, huge = np.ones((2, 1), np.float32), np.full((2, 1), 1e30, np.float32)
    per_step = EpochLoss(dp.get_loss("squared_error"), 4, 1, np.float32, defer=False)
    per_step.start(Y)
    with np.errstate(over="ignore"):
        assert per_step.record(finite, finite, slice(0, 2), Y[:2], 0.0) is True
        assert per_step.record(huge, huge, slice(2, 4), Y[2:], 0.0) is False
    deferred = EpochLoss(dp.get_loss("squared_error"), 4, 1, np.float32, defer=True)
    deferred.start(Y)
    assert deferred.record(huge, huge, slice(0, 2), Y[:2], 0.0) is True


# -- a property: deterministic training -----------------------------------------------------------
@deterministic(max_examples=60)
@given(arch=architectures(max_depth=2), batch_norm=st.booleans(), dropout=st.sampled_from([0.0, 0.3]),
       dtype=st.sampled_from([np.float32, np.float64]),
       batch_size=st.sampled_from([1, 2, 3, 4, 10, "full"]), sampling=st.sampled_from(["epoch", "random"]),
       shuffle=st.booleans(), optimizer=st.sampled_from(["sgd", "adam"]), l2=st.sampled_from([0.0, 0.01]),
       weighted=st.booleans(), seed=SEEDS)
def test_the_same_seed_data_and_options_train_bit_identically(arch, batch_norm, dropout, dtype,
                                                               batch_size, sampling, shuffle,
                                                               optimizer, l2, weighted, seed):
    """Two networks built with the same seed and trained on the same data with the same options
    (any batch size, sampling "epoch" or "random", shuffle or not, SGD or Adam, L2, sample
    weights, BatchNorm, dropout, float32 or float64) end with bit-identical parameters,
    BatchNorm statistics, random state and recorded losses."""
    batch_norm = batch_norm and batch_size != 1  # BatchNorm trains on >= 2 rows
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((10, arch.n_in))
    Y = arch.targets(rng, 10)
    w = rng.uniform(0.0, 2.0, 10) if weighted else None
    states = []
    for _ in range(2):
        net = arch.mlp(dtype=dtype, seed=seed, batch_norm=batch_norm, dropout=dropout)
        history = net.fit(X, Y, loss=arch.loss, epochs=3, batch_size=batch_size, sampling=sampling,
                          shuffle=shuffle, optimizer=optimizer, l2=l2, sample_weight=w)
        states.append(trained_state(net, history))
    assert states[0] == states[1]
