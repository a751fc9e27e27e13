"""The view a run hands its hooks when its caller gives none is its own: a stop reason written
into it (MPI's agreement hearing another rank's) ends that run only, never a later one in the
same process -- for the NumPy engine and the compiled one, whole or in parts."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.data.batches import Minibatches
from deltaprop.engine.reduction import MpiReduction, run_view
from deltaprop.engine.step import NumpyEngine
from mpi_support import OneRankComm

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 3))
Y = np.eye(2)[RNG.integers(0, 2, 40)]
STEPS = 8  # minibatches of 5 rows


class OtherRankStopsOnce(MpiReduction):
    """One rank of a pair whose other rank stops the first run (a time limit, Ctrl-C) and
    not the next: the agreement after each step hears its reason once."""

    def __init__(self) -> None:
        super().__init__(OneRankComm())
        self.heard = False

    def agree_to_stop(self, reason: str | None) -> str | None:
        if not self.heard:
            self.heard = True
            return "the other rank stopped"
        return reason


def _minibatches() -> Minibatches:
    return Minibatches(X, Y, None, [slice(i, i + 5) for i in range(0, 40, 5)])


def _net_loss_optimizer():
    net = dp.MLP([3, 4, 2], seed=0, dtype=np.float64)
    loss = net.check_loss("cross_entropy")
    net.use_loss(loss)
    optimizer = dp.SGD(0.1)
    optimizer.start(2)
    return net, loss, optimizer


def _two_runs(engine, after_step=()) -> list[tuple[bool, int]]:
    """(taken whole, steps) of two successive epochs' runs, neither with a view of its own."""
    ran = []
    for _ in range(2):
        engine.begin(Y, None)
        ran.append((engine.run(_minibatches(), None, after_step), engine.tally.steps))
    return ran


def test_every_call_without_a_view_gets_a_fresh_one():
    first, second = run_view(), run_view()
    assert first is not second and first.stop_reason is None and second.stop_reason is None
    mine = object()
    assert run_view(mine) is mine


def test_numpy_engine_a_stop_heard_in_one_run_does_not_stop_the_next():
    net, loss, optimizer = _net_loss_optimizer()
    engine = NumpyEngine(net, loss, optimizer, reduction=OtherRankStopsOnce())
    assert _two_runs(engine) == [(False, 1), (True, STEPS)]


def test_compiled_engine_whole_a_hooks_stop_in_one_run_does_not_stop_the_next():
    pytest.importorskip("numba")
    from deltaprop.engine.compiled.engine import CompiledEngine

    net, loss, optimizer = _net_loss_optimizer()
    engine = CompiledEngine(net, loss, optimizer)
    said = []

    def stop_once(view, step):
        if not said:
            said.append(step)
            view.stop_reason = "asked"

    assert _two_runs(engine, [stop_once]) == [(False, 1), (True, STEPS)]


def test_compiled_engine_in_parts_a_stop_heard_in_one_run_does_not_stop_the_next():
    pytest.importorskip("numba")
    pytest.importorskip("mpi4py")
    from deltaprop.engine.compiled.engine import CompiledEngine

    net, loss, optimizer = _net_loss_optimizer()
    engine = CompiledEngine(net, loss, optimizer, reduction=OtherRankStopsOnce())  # builds once
    assert engine.parts is not None
    assert _two_runs(engine) == [(False, 1), (True, STEPS)]
