"""Synchronized BatchNorm and Dropout in data-parallel training: K ranks with a global minibatch
of B rows end with the weights and the BatchNorm running statistics of one process with
minibatches of B (float64 to 1e-12, shuffled), uneven and empty parts, short last minibatches and
sample weights included; the layers' synchronized passes, checked in one process (two threads
standing in for two ranks); and the one-process path untouched."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
import mpi_layers_script as script  # the very code the ranks run (tests/ is on the path)
from deltaprop.cli import main
from deltaprop.layers import BatchNorm, Dropout
from mpi_support import OneRankComm, relative_error, run_cli_ranks, run_ranks

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def ranks_results():
    """Every case of mpi_layers_script, in one launch of 3 ranks (pairs on ranks 0 and 1)."""
    return run_ranks(3, HERE / "mpi_layers_script.py", timeout=120)


@pytest.mark.parametrize("name", list(script.CASES))
def test_ranks_end_with_the_weights_and_statistics_of_one_process(name, ranks_results):
    got, want = ranks_results[name], script.run(name)
    assert got["ranks"] == script.CASES[name][0]  # really one job of that many ranks
    # float32 rounds differently on one process and on parts (its own test, 1e-5, is the
    # plain network's); here it only has to be the same training, not a different one.
    rtol = 1e-4 if "float32" in name else 1e-12
    assert relative_error(got["theta"], want["theta"]) < rtol
    assert relative_error(got["running"], want["running"]) < rtol
    assert len(got["running"]) == (0 if "batch_norm" not in script.CASES[name][3] else 48)
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=rtol * 10)


def test_the_command_line_under_mpiexec_trains_batchnorm_and_dropout_as_one_process(tmp_path):
    # SGD: Adam would scale the rounding noise that is the whole gradient of a bias under a
    # BatchNorm (exactly 0 in exact arithmetic) to full steps, on one process as on two
    command = ["train", "--data", "moons", "--hidden", "12,12", "--batch-norm", "--dropout",
               "0.2", "--optimizer", "sgd", "--lr", "0.1", "--epochs", "4", "--batch-size", "15",
               "--quiet"]
    run_cli_ranks(2, *command, "--out", "two.dp", cwd=tmp_path, timeout=300)
    assert main([*command, "--out", str(tmp_path / "one.dp")]) == 0
    two, one = dp.load(tmp_path / "two.dp").net, dp.load(tmp_path / "one.dp").net
    assert len(one.batchnorm_layers) == 2 and any(isinstance(la, Dropout) for la in one.layers)
    # float32, as the command line trains (the plain network's command-line test: the same)
    np.testing.assert_allclose(two.theta, one.theta, rtol=1e-5, atol=1e-6)
    for a, b in zip(two.batchnorm_layers, one.batchnorm_layers):
        np.testing.assert_allclose(a.running_mean, b.running_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.running_var, b.running_var, rtol=1e-5, atol=1e-6)


# -- one rank, in this process ------------------------------------------------------------------
def train(comm, dtype=np.float64):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((61, 4)), rng.integers(0, 2, 61)
    net = dp.MLP([4, 8, 8, 2], seed=2, batch_norm=True, dropout=0.25, dtype=dtype)
    net.fit(X, y, loss="cross_entropy", epochs=3, batch_size=10, sample_weight=rng.random(61),
            threads=1, comm=comm)
    return net


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_rank_takes_the_synchronized_path_to_the_same_bits(dtype):
    pytest.importorskip("mpi4py")
    alone, one_rank = train(None, dtype), train(OneRankComm(), dtype)
    assert one_rank.history.stop_reason == "epochs" and one_rank.history.n_epochs == 3
    np.testing.assert_array_equal(one_rank.theta, alone.theta)
    for a, b in zip(one_rank.batchnorm_layers, alone.batchnorm_layers):
        np.testing.assert_array_equal(a.running_mean, b.running_mean)
        np.testing.assert_array_equal(a.running_var, b.running_var)
    # the layers are told about the parts for a step's pass only: afterwards one process again
    assert all(bn.reducer is None for bn in one_rank.batchnorm_layers)
    assert all(la.part is None for la in one_rank.layers if isinstance(la, Dropout))


# -- the layers, two threads standing in for two ranks -----------------------------------------
class ThreadSum:
    """Sums over the threads sharing ``slots`` (a rank's Reducer; bounded waits, never a hang)."""

    def __init__(self, slots, barrier, index):
        self.slots, self.barrier, self.index = slots, barrier, index

    def sum_over_ranks(self, values):
        self.slots[self.index] = np.array(values, dtype=np.float64)
        self.barrier.wait()
        total = sum(self.slots)  # the same order in every thread
        self.barrier.wait()  # all have read before anyone writes again
        return total


def batchnorm(n, seed=0):
    rng = np.random.default_rng(seed)
    bn = BatchNorm(n, momentum=0.3)
    bn.bind({"gamma": np.empty(n), "beta": np.empty(n)}, {"gamma": np.empty(n), "beta": np.empty(n)})
    bn.initialize(rng)
    bn.gamma[...], bn.beta[...] = rng.uniform(0.5, 2.0, n), rng.standard_normal(n)
    return bn


def in_parts(x, g, cuts):
    """Forward and backward of BatchNorm on the parts of (x, g) cut at ``cuts``, one thread each,
    synchronized; each part's (layer, output, dz)."""
    bounds = list(zip([0, *cuts], [*cuts, x.shape[0]]))
    slots, barrier = [None] * len(bounds), threading.Barrier(len(bounds), timeout=10)

    def part(index):
        lo, hi = bounds[index]
        bn = batchnorm(x.shape[1])
        bn.reducer = ThreadSum(slots, barrier, index)
        out = bn.forward(x[lo:hi], training=True).copy()
        return bn, out, bn.backward(g[lo:hi].copy()).copy()

    with ThreadPoolExecutor(len(bounds)) as pool:
        return [future.result() for future in [pool.submit(part, i) for i in range(len(bounds))]]


@pytest.mark.parametrize("cuts", [[4], [3], [0], [2, 5]], ids=["even", "uneven", "empty", "three"])
def test_synchronized_batchnorm_is_the_whole_batchs(cuts):
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal((8, 5)) * 3 + 7, rng.standard_normal((8, 5))
    whole = batchnorm(5)
    out, dz = whole.forward(x, training=True).copy(), whole.backward(g.copy()).copy()
    parts = in_parts(x, g, cuts)
    np.testing.assert_allclose(np.concatenate([p[1] for p in parts]), out, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(np.concatenate([p[2] for p in parts]), dz, rtol=1e-12, atol=1e-13)
    for name in ("gamma", "beta"):  # each part keeps its share: the network sums them after
        np.testing.assert_allclose(sum(p[0].grads[name] for p in parts), whole.grads[name],
                                   rtol=1e-13, atol=1e-13)
    for bn, _, _ in parts:  # the same running statistics on every rank
        np.testing.assert_allclose(bn.running_mean, whole.running_mean, rtol=1e-14)
        np.testing.assert_allclose(bn.running_var, whole.running_var, rtol=1e-14)
        np.testing.assert_array_equal(bn.running_var, parts[0][0].running_var)


def test_synchronized_variance_is_sound_when_the_mean_dwarfs_the_spread():
    # E[x^2] - mu^2 would lose every digit here (1e16 against 1); deviations from the global
    # mean keep them, as one process does
    rng = np.random.default_rng(4)
    x = 1e8 + rng.standard_normal((10, 3))
    whole = batchnorm(3)
    whole.forward(x, training=True)
    parts = in_parts(x, np.ones_like(x), [5])
    np.testing.assert_allclose(parts[0][0].running_var, whole.running_var, rtol=1e-9)


def test_synchronized_batchnorm_needs_two_rows_over_all_ranks():
    x = np.ones((1, 2))
    with pytest.raises(ValueError, match="at least 2 samples per batch.*got a batch of 1"):
        in_parts(x, x, [0])


@pytest.mark.parametrize("offset, rows, n", [(0, 7, 3), (3, 7, 4), (7, 7, 0), (2, 9, 5)])
def test_dropout_keeps_its_rows_of_the_whole_batchs_mask(offset, rows, n):
    alone, part = Dropout(0.4), Dropout(0.4)
    alone.rng, part.rng = np.random.default_rng(5), np.random.default_rng(5)
    alone.forward(np.ones((rows, 6)), training=True)
    part.part = (offset, rows)
    x = np.arange(n * 6.0).reshape(n, 6)
    out = part.forward(x, training=True)
    np.testing.assert_array_equal(out, x * alone.mask[offset:offset + n])
    np.testing.assert_array_equal(part.backward(np.ones_like(x)), alone.mask[offset:offset + n])
    assert part.rng.random() == alone.rng.random()  # the generators stay in step
