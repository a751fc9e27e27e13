"""The compiled engine under MPI (``fit(..., comm=comm, engine="compiled")``): each step in parts
around the all-reduce (deltaprop.engine.compiled.reduced), equal to the NumPy engine under MPI.

Two ranks, float64, the same seeds: the compiled engine ends with the NumPy engine's weights and
epoch losses to 1e-12 (relative) with momentum and with Adam, sample weights, an uneven last
minibatch, parts of one row and none, and a stop asked by one rank (tests/mpi_compiled_script.py,
one mpiexec launch). In this process, a one-rank communicator: the step in parts gives the
local compiled run's weights. What it does not cover (BatchNorm, Dropout) is named, and every
rank runs the engine that all of them can."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.engine.compiled import choice
from mpi_support import OneRankComm, mpiexec_or_skip, run_ranks

pytest.importorskip("numba")
SCRIPT = Path(__file__).with_name("mpi_compiled_script.py")


class OtherRankSays:
    """A reduction whose other rank has a reason of its own to stay on NumPy."""

    def __init__(self, reason):
        self.reason = reason

    def agree_to_stop(self, reason):
        return reason or self.reason


def _data(n=90, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1), rng.random(n) + 0.5


def _relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def test_two_ranks_of_the_compiled_engine_give_the_numpy_engines_weights():
    mpiexec_or_skip()  # before the kernels are built for nothing
    from deltaprop.engine.compiled.engine import build_kernels

    build_kernels(np.float64, parts=True)  # here, once, so that the ranks only load them
    results = run_ranks(2, SCRIPT, timeout=300)
    assert results.pop("ranks") == 2  # really two ranks of one job, not two single-rank jobs
    assert set(results) == {"momentum_weighted", "adam_l1", "online_random_sampling",
                            "stop_on_one_rank"}
    for name, case in results.items():
        assert case["engines"] == ["numpy", "compiled"], (name, case["reason"])
        assert case["theta"] < 1e-12 and case["loss"] < 1e-12, (name, case)
        assert case["epochs"][0] == case["epochs"][1] and case["stop"][0] == case["stop"][1], name
    # rank 1 alone asked to stop after step 7 of epoch 2: both engines stopped there
    assert results["stop_on_one_rank"]["stop"] == ["asked", "asked"]
    assert results["stop_on_one_rank"]["epochs"] == [2, 2]
    assert results["stop_on_one_rank"]["last_steps"] == [7, 7]


@pytest.mark.parametrize("optimizer", [lambda: dp.SGD(0.1, momentum=0.9), lambda: dp.Adam(0.01)])
def test_the_step_in_parts_gives_the_whole_runs_weights(optimizer):
    pytest.importorskip("mpi4py")
    X, y, w = _data()
    nets = []
    for engine, comm in (("compiled", None), ("compiled", OneRankComm()), ("numpy", OneRankComm())):
        net = dp.MLP([5, 8, 8, 3], seed=1, dtype=np.float64, activation="tanh")
        net.fit(X, y, loss="cross_entropy", optimizer=optimizer(), epochs=3, batch_size=16,
                sample_weight=w, l2=1e-3, l1=1e-4, threads=1, comm=comm, engine=engine)
        assert net.history.engine == engine
        nets.append(net)
    whole, parts, numpy = nets
    assert _relative(parts.theta, whole.theta) < 1e-12
    assert _relative(parts.theta, numpy.theta) < 1e-12
    np.testing.assert_allclose(parts.history.loss, numpy.history.loss, rtol=1e-12)
    np.testing.assert_allclose(parts.history.grad_norm_matrix(), numpy.history.grad_norm_matrix(),
                               rtol=1e-10)


def test_every_step_is_seen_under_a_reduction():
    pytest.importorskip("mpi4py")

    class EveryStep(dp.Callback):  # must see every step: the whole run's kernel would not
        def __init__(self):
            self.steps = []

        def on_batch_end(self, trainer, step):
            self.steps.append(step)

    X, y, _ = _data(n=50)
    hook = EveryStep()
    net = dp.MLP([5, 4, 3], seed=0, dtype=np.float64)
    net.fit(X, y, loss="cross_entropy", epochs=2, batch_size=10, engine="compiled", threads=1,
            comm=OneRankComm(), callbacks=[hook])
    assert net.history.engine == "compiled" and hook.steps == [1, 2, 3, 4, 5] * 2


@pytest.mark.parametrize("layers, name", [
    (lambda: [dp.Dense(5, 4), dp.BatchNorm(4), dp.ActivationLayer("tanh"), dp.Dense(4, 3)], "BatchNorm"),
    (lambda: [dp.Dense(5, 4, "relu"), dp.Dropout(0.2), dp.Dense(4, 3)], "Dropout"),
])
def test_batchnorm_and_dropout_under_a_reduction_are_named(layers, name):
    net, loss = dp.Network(layers(), seed=0), dp.losses.CrossEntropy()
    assert choice.uncovered(net, loss, dp.SGD()) is None  # in one process: covered
    reason = choice.uncovered(net, loss, dp.SGD(), reduction=OtherRankSays(None))
    assert f"data-parallel training (comm=) with {name} runs on the NumPy engine" in reason
    engine, why = choice.choose("auto", net, loss, dp.SGD(), batch_size=8, steps=10**6,
                                reduction=OtherRankSays(None))
    assert engine == "numpy" and name in why
    with pytest.raises(ValueError, match=f"engine='compiled' cannot train this model: .*{name}"):
        choice.choose("compiled", net, loss, dp.SGD(), batch_size=8, steps=10, reduction=OtherRankSays(None))


def test_the_compiled_engine_itself_refuses_batchnorm_under_a_reduction():
    from deltaprop.engine.compiled.engine import CompiledEngine

    net = dp.MLP([5, 4, 3], batch_norm=True, seed=0)
    with pytest.raises(ValueError, match="does not cover BatchNorm or Dropout under a gradient "
                                         "reduction"):
        CompiledEngine(net, dp.losses.CrossEntropy(), dp.SGD(), reduction=OtherRankSays(None),
                       build=False)


def test_every_rank_runs_the_engine_all_of_them_can():
    net, loss = dp.MLP([5, 4, 3], seed=0), dp.losses.CrossEntropy()
    elsewhere = OtherRankSays("Numba is not installed (pip install 'deltaprop[fast]')")
    assert choice.uncovered(net, loss, dp.SGD(), reduction=elsewhere) is None  # here it could
    engine, why = choice.choose("auto", net, loss, dp.SGD(), batch_size=8, steps=10**6,
                                reduction=elsewhere)
    assert (engine, why) == ("numpy", elsewhere.reason)
    with pytest.raises(ValueError, match="cannot train this model: Numba is not installed"):
        choice.choose("compiled", net, loss, dp.SGD(), batch_size=8, steps=10, reduction=elsewhere)


class NoAgreement:
    """A reduction the engine only holds (its gradient is never asked for here)."""

    stops_alone, after_step = False, ()


def test_a_parts_gradient_is_the_numpy_engines_for_any_row_scales():
    from deltaprop.engine.compiled.engine import CompiledEngine
    from deltaprop.engine.step import NumpyEngine

    net, loss = dp.MLP([5, 7, 6, 3], seed=2, dtype=np.float64, activation="elu"), dp.losses.CrossEntropy()
    net.use_loss(loss)
    X, y, scale = _data(n=9)
    Y = np.eye(3)[y]
    parts = CompiledEngine(net, loss, dp.SGD(), reduction=NoAgreement()).parts
    parts.backprop(X, Y, scale)  # the Backprop protocol, as MpiReduction.gradient calls it
    compiled = net.grad.copy()
    NumpyEngine(net, loss).backprop(X, Y, scale)
    np.testing.assert_allclose(compiled, net.grad, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(parts._values[:9], loss.sample_values(net.layers[-1].z, net.layers[-1].a, Y),
                               rtol=1e-13)
    parts.backprop(X[:0], Y[:0], scale[:0])  # a rank's empty part: no rows, no gradient
    assert not net.grad.any()
