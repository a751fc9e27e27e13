"""The training step behind its boundary: a data source's runs of minibatches go to the engine
whole, and the engine takes the steps of fit, bit for bit, however the runs are cut; per-step
hooks see every step and can stop the run; a refused step is not taken, and the check covers
every gradient; the gradient reduction is a strategy (one MPI rank reduces to the local step);
the results do not depend on whether the data source gathers rows from a shuffled copy; a user's
loss is evaluated at every step."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from conftest import L1Loss
from deltaprop.data import arrays
from deltaprop.data.arrays import ArraySource
from deltaprop.data.batches import Minibatches
from deltaprop.engine.epoch_loss import EpochLoss
from deltaprop.engine.reduction import MpiReduction
from deltaprop.engine.step import NumpyEngine

RNG = np.random.default_rng(0)
X = RNG.standard_normal((45, 3))
Y = RNG.integers(0, 2, 45)
W = RNG.random(45) + 0.5


def engine_for(net, optimizer, source, **options):
    loss = net.check_loss("cross_entropy")
    net.use_loss(loss)
    epoch_loss = EpochLoss(loss, source.max_rows, net.n_outputs, net.dtype, defer=source.small_steps)
    return NumpyEngine(net, loss, optimizer, epoch_loss=epoch_loss, **options)


def source_for(net, **options):
    return ArraySource.from_data(net, net.check_loss("cross_entropy"), X, Y, W, **options)


@pytest.mark.parametrize("options", [
    {"batch_size": 4},
    {"batch_size": 4, "shuffle": False},
    {"batch_size": 7, "sampling": "random"},
    {"batch_size": "full"},
], ids=["shuffled", "in-order", "random", "full"])
@pytest.mark.parametrize("cut", [None, 2, 5], ids=["one-run", "runs-of-2", "runs-of-5"])
def test_runs_of_minibatches_take_fits_steps_however_they_are_cut(options, cut):
    # Dropout draws from the generator the shuffles come from: the rows of a shuffled epoch
    # are drawn before its steps, those of random sampling step by step (so not with dropout).
    dropout = 0.0 if options.get("sampling") == "random" else 0.1
    fitted = dp.MLP([3, 5, 2], seed=1, dropout=dropout, dtype=np.float64)
    stepped = fitted.copy()
    fitted.fit(X, Y, loss="cross_entropy", optimizer=dp.SGD(0.1, momentum=0.9), epochs=3,
               sample_weight=W, l2=1e-3, **options)
    optimizer = dp.SGD(0.1, momentum=0.9)
    source = source_for(stepped, **options).for_run()
    engine = engine_for(stepped, optimizer, source, l2=1e-3)
    optimizer.start(3)
    losses = []
    for epoch in range(3):
        optimizer.set_epoch(epoch)
        Y_epoch, w_epoch, runs = source.epoch(stepped.rng)
        engine.begin(Y_epoch, w_epoch)
        for run in runs:
            rows = list(run.rows)
            parts = [rows] if cut is None else [rows[i:i + cut] for i in range(0, len(rows), cut)]
            for part in parts:  # what a compiled engine may do: one call per part
                assert engine.run(Minibatches(run.X, run.Y, run.w, part))
        losses.append(engine.end().loss)
    np.testing.assert_array_equal(stepped.theta, fitted.theta)
    np.testing.assert_allclose(losses, fitted.history.loss, rtol=1e-12)


def test_hooks_see_every_step_and_a_stop_ends_the_run_after_that_step():
    net = dp.MLP([3, 4, 2], seed=0)
    optimizer = dp.SGD(0.1)
    source = source_for(net, batch_size=5, shuffle=False).for_run()
    engine = engine_for(net, optimizer, source)

    class View:
        stop_reason = None

    seen = []

    def hook(view, step):
        seen.append((step, optimizer.t))
        if step == 4:
            view.stop_reason = "enough"

    Y_epoch, w_epoch, runs = source.epoch(net.rng)
    engine.begin(Y_epoch, w_epoch)
    assert not engine.run(next(iter(runs)), View(), [hook])
    assert seen == [(1, 1), (2, 2), (3, 3), (4, 4)]  # after each update, counted from 1
    assert engine.tally.steps == 4 and not engine.tally.diverged


def test_a_refused_step_is_not_taken_and_ends_the_run():
    net = dp.MLP([3, 4, 2], seed=0)
    optimizer = dp.SGD(1e35)  # the first step would overflow float32 weights
    source = source_for(net, batch_size=5).for_run()
    engine = engine_for(net, optimizer, source)
    theta = net.theta.copy()
    Y_epoch, w_epoch, runs = source.epoch(net.rng)
    engine.begin(Y_epoch, w_epoch)
    with np.errstate(over="ignore", invalid="ignore"):
        assert not engine.run(next(iter(runs)))
    assert engine.tally.diverged and engine.tally.steps == 0 and optimizer.t == 0
    np.testing.assert_array_equal(net.theta, theta)
    assert engine.end().diverged


def test_the_step_check_covers_batchnorms_gamma_and_beta():
    """A step is refused when any gradient is non-finite: the layout lists the parameters
    outside the dense layers (BatchNorm's gamma and beta) so that the check sees them too."""
    net = dp.MLP([3, 8, 1], batch_norm=True, seed=0)
    assert len(net.layout.other_slices) == 2  # gamma and beta
    assert not dp.MLP([3, 8, 1], seed=0).layout.other_slices


@pytest.mark.parametrize("parameter", ["gamma", "beta"])
def test_a_step_whose_batchnorm_gradient_is_not_finite_is_not_taken(parameter, monkeypatch):
    """The check itself, not only the layout: an infinite gradient of gamma (or beta) alone ends
    the run as diverged, the weights finite, as an infinite dense gradient does."""
    backward = dp.BatchNorm.backward

    def poisoned(self, *args, **kwargs):
        out = backward(self, *args, **kwargs)
        self.grads[parameter][0] = np.inf
        return out

    monkeypatch.setattr(dp.BatchNorm, "backward", poisoned)
    rng = np.random.default_rng(0)
    net = dp.MLP([3, 4, 1], batch_norm=True, seed=0)
    history = net.fit(rng.standard_normal((16, 3)), rng.standard_normal(16), epochs=2,
                      batch_size="full")
    assert history.stop_reason == "diverged" and np.isfinite(net.theta).all()


def test_one_mpi_rank_reduces_to_the_local_step():
    pytest.importorskip("mpi4py")

    class OneRank:
        def Get_rank(self):
            return 0

        def Get_size(self):
            return 1

        def Allreduce(self, *args, **kwargs):
            pass

    local = dp.MLP([3, 6, 2], seed=3, dtype=np.float64)
    ranked = local.copy()
    for net, reduction in ((local, None), (ranked, MpiReduction(OneRank()))):
        optimizer = dp.Adam(0.01)
        source = source_for(net, batch_size=6).for_run()
        engine = engine_for(net, optimizer, source, reduction=reduction, l2=1e-2)
        optimizer.start(1)
        Y_epoch, w_epoch, runs = source.epoch(net.rng)
        engine.begin(Y_epoch, w_epoch)
        assert all(engine.run(run) for run in runs)
    np.testing.assert_array_equal(ranked.theta, local.theta)


def test_the_engines_backward_pass_is_loss_and_gradients():
    net = dp.MLP([3, 5, 4, 2], activation="tanh", seed=2, dtype=np.float64, batch_norm=True)
    value, dWs, dbs = net.loss_and_gradients(X, Y, loss="cross_entropy", l2=0.1, sample_weight=W)
    loss = net.check_loss("cross_entropy")
    with net.using_loss(loss), net.frozen_running_stats():
        engine_value = NumpyEngine(net, loss, l2=0.1).loss_and_gradient(
            X, loss.prepare_targets(Y, 2, np.float64), dp.losses.row_scale(W, np.float64))
    assert engine_value == value
    for layer, dW, db in zip(net.dense_layers, dWs, dbs):
        np.testing.assert_array_equal(layer.dW, dW)
        np.testing.assert_array_equal(layer.db, db)


@pytest.mark.parametrize(
    "options",
    [{"batch_size": "full"}, {"batch_size": "full", "dropout": 0.3}, {"batch_size": 8},
     {"batch_size": 7, "dropout": 0.3}, {"batch_size": 9, "batch_norm": True}],
    ids=["full", "full-dropout", "minibatch", "minibatch-dropout", "batchnorm"],
)
def test_results_do_not_depend_on_the_shuffled_copy(rng, monkeypatch, options):
    """Data up to SHUFFLE_COPY_BYTES are shuffled into a copy once per epoch and the minibatches
    sliced from it; with the copy switched off (rows gathered at each step) every batching,
    dropout and BatchNorm option gives the same weights, bit for bit."""
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


def test_a_user_loss_is_evaluated_at_every_step(rng):
    """The epoch's loss is deferred to one vectorized evaluation only for a loss known to be a
    mean of per-sample terms (a built-in one), never for a user's."""
    assert EpochLoss(L1Loss(), 10, 1, np.float64).rows is None
    assert EpochLoss(dp.get_loss("mse"), 10, 1, np.float64).rows is not None
