"""Restarts run through joblib (n_jobs): the same result as serially, wherever joblib's active
backend runs them (also, as a property, for random architectures and options), and the budget
of a time limit shared by all runs."""

from __future__ import annotations

import copy
import os
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import deltaprop as dp
from conftest import SEEDS, architectures, deterministic, trained_state

joblib = pytest.importorskip("joblib")

THREADS_SEEN: list[int] = []  # module level: callbacks in workers are copies


class RecordThread(dp.Callback):
    def on_train_begin(self, trainer):
        THREADS_SEEN.append(threading.get_ident())


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return X, y, rng.random(120) + 0.1


def train(data, n_jobs, **options):
    X, y, w = data
    net = dp.MLP([6, 8, 2], seed=3, batch_norm=True, dropout=0.1)
    optimizer = dp.Adam(0.01)
    history = net.fit(X, y, loss="cross_entropy", optimizer=optimizer, epochs=4, batch_size=16,
                      restarts=4, n_jobs=n_jobs, sample_weight=w, validation_fraction=0.25,
                      **options)
    return net, optimizer, history


class RecordProcess(dp.Callback):
    def on_train_begin(self, trainer):
        trainer.history.process = os.getpid()  # comes back with the run's History


def assert_same_result(first, second):
    (net_a, opt_a, hist_a), (net_b, opt_b, hist_b) = first, second
    assert hist_a.best_restart == hist_b.best_restart
    assert [r["val_loss"] for r in hist_a.restarts] == [r["val_loss"] for r in hist_b.restarts]
    np.testing.assert_array_equal(net_a.theta, net_b.theta)
    for bn_a, bn_b in zip(net_a.batchnorm_layers, net_b.batchnorm_layers):
        np.testing.assert_array_equal(bn_a.running_mean, bn_b.running_mean)
    np.testing.assert_array_equal(opt_a.m, opt_b.m)  # the kept run's Adam moments
    assert opt_a.t == opt_b.t
    assert net_a.rng.integers(2**62) == net_b.rng.integers(2**62)  # the kept run's generator


def test_parallel_restarts_in_processes_equal_serial(data):
    serial = train(data, n_jobs=1, callbacks=[RecordProcess()])
    assert len({r["val_loss"] for r in serial[2].restarts}) == 4  # four different runs
    parallel = train(data, n_jobs=2, callbacks=[RecordProcess()])
    assert {r["history"].process for r in serial[2].restarts} == {os.getpid()}
    assert os.getpid() not in {r["history"].process for r in parallel[2].restarts}
    assert_same_result(serial, parallel)


def test_restarts_go_where_joblibs_active_backend_sends_them(data):
    """n_jobs=None follows joblib's configuration: here its threading backend."""
    THREADS_SEEN.clear()
    serial = train(data, n_jobs=None, callbacks=[RecordThread()])
    assert set(THREADS_SEEN) == {threading.get_ident()}  # no configuration: in this thread
    THREADS_SEEN.clear()
    with joblib.parallel_config(backend="threading", n_jobs=2):
        threaded = train(data, n_jobs=None, callbacks=[RecordThread()])
    assert len(THREADS_SEEN) == 4 and threading.get_ident() not in THREADS_SEEN
    assert_same_result(serial, threaded)


def test_repeated_parallel_restarts_explore_new_starting_points(data):
    X, y, _ = data
    net = dp.MLP([6, 8, 2], seed=3)
    first = net.fit(X, y, loss="cross_entropy", epochs=1, restarts=3, n_jobs=2)
    second = net.fit(X, y, loss="cross_entropy", epochs=1, restarts=3, n_jobs=2)
    assert first.restarts[1]["loss"] != second.restarts[1]["loss"]


def test_a_spent_time_budget_drops_the_later_runs_as_serially(data):
    X, y, _ = data
    for n_jobs in (1, 2):
        net = dp.MLP([6, 8, 2], seed=3)
        history = net.fit(X, y, loss="cross_entropy", epochs=50, batch_size=4, restarts=3,
                          n_jobs=n_jobs, time_limit=1e-9)
        assert [r["stop_reason"] for r in history.restarts] == ["time_limit"]
        assert history.restarts[0]["history"].n_epochs == 1


@pytest.mark.parametrize("n_jobs", [0, 1.5, "two", True])
def test_bad_n_jobs_is_named(data, n_jobs):
    X, y, _ = data
    with pytest.raises(ValueError, match="n_jobs must be None or a nonzero integer"):
        dp.MLP([6, 2]).fit(X, y, loss="cross_entropy", n_jobs=n_jobs)


def test_restarts_on_a_dask_cluster_equal_serial(data):
    """joblib's dask backend sends the runs to a Dask cluster's worker processes unchanged."""
    distributed = pytest.importorskip("distributed")
    serial = train(data, n_jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster, \
            distributed.Client(cluster), joblib.parallel_config(backend="dask"):
        on_dask = train(data, n_jobs=-1, callbacks=[RecordProcess()])
        workers = set(cluster.scheduler_info["workers"])
    assert len(workers) == 2
    assert os.getpid() not in {r["history"].process for r in on_dask[2].restarts}
    assert_same_result(serial, on_dask)


def test_parallel_runs_share_one_deadline_set_when_they_are_handed_out(data):
    """Runs 0 and 1 train side by side until the shared deadline; runs 2 and 3 start after it
    (they wait for a free worker), meet it in their first epoch and are dropped, as serially
    they would never have started. A TimeLimit reused from an earlier fit gets a fresh clock."""
    X, y, _ = data
    limit = dp.TimeLimit(0.4)
    dp.MLP([6, 8, 2], seed=3).fit(X, y, loss="cross_entropy", epochs=1, callbacks=[limit])
    net = dp.MLP([6, 8, 2], seed=3)
    history = net.fit(X, y, loss="cross_entropy", epochs=10**6, batch_size=4, restarts=4,
                      n_jobs=2, callbacks=[limit])
    assert [r["run"] for r in history.restarts] == [0, 1]
    assert all(r["stop_reason"] == "time_limit" and r["epochs"] > 1 for r in history.restarts)


# -- a property: parallel restarts equal serial ----------------------------------------------------
@deterministic(max_examples=8)
@given(arch=architectures(max_depth=2, max_width=5), batch_norm=st.booleans(),
       dropout=st.sampled_from([0.0, 0.3]), dtype=st.sampled_from([np.float32, np.float64]),
       optimizer=st.sampled_from(["sgd", "adam"]), seed=SEEDS)
def test_threaded_restarts_equal_serial_for_any_architecture(arch, batch_norm, dropout, dtype,
                                                             optimizer, seed):
    """fit(restarts=3) with n_jobs=2 (joblib's threading backend) leaves bit for bit the
    parameters, BatchNorm statistics, random generator state and every run's losses that
    n_jobs=1 leaves."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((12, arch.n_in))
    Y = arch.targets(rng, 12)
    options = dict(loss=arch.loss, epochs=2, batch_size=4, optimizer=optimizer, restarts=3)
    serial = arch.mlp(dtype=dtype, seed=seed, batch_norm=batch_norm, dropout=dropout)
    parallel = copy.deepcopy(serial)
    serial_history = serial.fit(X, Y, n_jobs=1, **options)
    with joblib.parallel_config(backend="threading"):
        parallel_history = parallel.fit(X, Y, n_jobs=2, **options)
    assert len(serial_history.restarts) == 3
    assert trained_state(parallel, parallel_history) == trained_state(serial, serial_history)
    assert parallel.predict(X).tobytes() == serial.predict(X).tobytes()



def test_restart_seeds_are_made_one_run_at_a_time_and_the_root_moves_past_all_of_them():
    """A hundred million restarts under a time limit allocate no seed list up front; the seeds
    are the children spawn() would give, and the next call starts after all of them."""
    import tracemalloc

    from deltaprop.training.restarts import _restart_seeds

    net = dp.MLP([3, 4, 1], seed=0)
    twin = copy.deepcopy(net.restart_seeds)
    seeds = list(_restart_seeds(net, 4))
    assert seeds[0] is None
    for lazy, spawned in zip(seeds[1:], twin.spawn(3)):
        assert lazy.spawn_key == spawned.spawn_key
        np.testing.assert_array_equal(lazy.generate_state(4), spawned.generate_state(4))
    assert net.restart_seeds.n_children_spawned == twin.n_children_spawned == 3
    assert next(_restart_seeds(net, 2)) is None and net.restart_seeds.n_children_spawned == 4

    X = np.random.default_rng(0).standard_normal((20, 3))
    tracemalloc.start()
    try:
        history = net.fit(X, X[:, 0], epochs=1, restarts=10**8, time_limit=1.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 1 < len(history.restarts) < 10**8 and peak < 64 * 2**20
    assert net.restart_seeds.n_children_spawned == 4 + 10**8 - 1


def test_more_restarts_than_seeds_a_network_can_spawn_are_refused_before_any_run():
    X = np.random.default_rng(0).standard_normal((20, 3))
    net = dp.MLP([3, 4, 1], seed=0)
    start = net.theta.copy()
    with pytest.raises(ValueError, match=r"restarts=10000000000 would take this network's restart seeds"):
        net.fit(X, X[:, 0], epochs=1, restarts=10**10)
    np.testing.assert_array_equal(net.theta, start)
