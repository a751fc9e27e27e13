"""Data-parallel training over MPI: 2 ranks give the weights of one process with the same
minibatches (float64 to 1e-12 relative, float32 to 1e-5), with uneven parts, sample weights,
weight decay, momentum and a validation split evaluated half by each rank; what is not
covered is refused by name."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.engine import reduction
from mpi_support import OneRankComm, relative_error, run_cli_ranks, run_ranks

RUN = textwrap.dedent("""
    import numpy as np
    import deltaprop as dp

    def run(dtype, comm):
        rng = np.random.default_rng(0)
        X = rng.standard_normal((203, 6))
        y = (X[:, 0] * X[:, 1] > 0).astype(int)
        w = rng.random(203) + 0.5
        net = dp.MLP([6, 16, 16, 2], seed=4, dtype=dtype, activation="tanh")
        history = net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(0.1, momentum=0.9),
                          epochs=6, batch_size=25, l2=1e-3, sample_weight=w,
                          validation_fraction=0.2, threads=1, comm=comm)
        return net.theta, np.array(history.loss), np.array([history.val_loss, history.val_metric])
""")
SCRIPT = RUN + textwrap.dedent("""
    import json, sys
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    theta, losses, validation = run(np.float64 if sys.argv[2] == "float64" else np.float32, comm)
    if comm.Get_rank() == 0:
        with open(sys.argv[1], "w") as out:
            json.dump({"world": comm.Get_size(), "theta": theta.tolist(), "loss": losses.tolist(),
                       "val": validation.tolist()}, out)
""")


def one_process(dtype):
    """The same run in this process, without MPI (the very code the ranks execute)."""
    namespace: dict = {}
    exec(RUN, namespace)
    return namespace["run"](dtype, None)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_two_ranks_give_the_weights_of_one_process(dtype, rtol, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    got = run_ranks(2, script, np.dtype(dtype).name, timeout=300)
    assert got["world"] == 2  # really two ranks of one job, not two single-rank jobs
    theta, losses, validation = one_process(dtype)
    assert relative_error(got["theta"], theta) < rtol
    np.testing.assert_allclose(got["loss"], losses, rtol=rtol * 10)
    # The validation split's loss and metric, each rank evaluating half of it.
    np.testing.assert_allclose(got["val"], validation, rtol=rtol * 10)


def test_what_data_parallel_training_does_not_cover_is_named():
    # (BatchNorm and Dropout are covered: tests/test_parallel_layers.py)
    X, y = np.ones((8, 3)), np.arange(8) % 2
    with pytest.raises(ValueError, match="restarts with comm"):
        dp.MLP([3, 4, 2]).fit(X, y, loss="cross_entropy", restarts=2, comm=OneRankComm())
    with pytest.raises(TypeError, match="comm must be an MPI communicator"):
        dp.MLP([3, 4, 2]).fit(X, y, loss="cross_entropy", comm="COMM_WORLD")


def test_ranks_that_drift_apart_are_caught():
    net = dp.MLP([3, 4, 2])
    reduction.MpiReduction(OneRankComm()).check_identical(net, 1)
    with pytest.raises(RuntimeError, match="hold different parameters or BatchNorm statistics "
                                           "after epoch 3"):
        reduction.MpiReduction(OneRankComm(gathered=["a", "b"])).check_identical(net, 3)


class Recorded(OneRankComm):
    """One rank that hears another rank's checksum besides its own."""

    def __init__(self, other=None):
        super().__init__()
        self.other, self.sent = other, None

    def allgather(self, value):
        self.sent = value
        return [value] if self.other is None else [value, self.other]


def test_ranks_whose_batchnorm_statistics_drift_apart_are_caught():
    def checksum(net):
        heard = Recorded()
        reduction.MpiReduction(heard).check_identical(net, 1)
        return heard.sent

    one, two = (dp.MLP([3, 4, 2], batch_norm=True, seed=0, dtype=np.float64) for _ in range(2))
    reduction.MpiReduction(Recorded(checksum(two))).check_identical(one, 1)  # the same: agreed
    two.batchnorm_layers[0].running_var[1] += 1e-12  # the same parameters, other statistics
    np.testing.assert_array_equal(one.theta, two.theta)
    with pytest.raises(RuntimeError, match="BatchNorm statistics after epoch 2"):
        reduction.MpiReduction(Recorded(checksum(two))).check_identical(one, 2)


def test_uneven_parts_weigh_by_their_share():
    X, Y = np.arange(10.0).reshape(5, 2), np.zeros((5, 1))

    class Rank:
        def __init__(self, rank):
            self.rank = rank

        def Get_rank(self):
            return self.rank

        def Get_size(self):
            return 2

    parts = [reduction.local_part(Rank(r), X, Y, slice(10, 15), None) for r in (0, 1)]
    assert [p[0].shape[0] for p in parts] == [2, 3] and [p[4] for p in parts] == [0.4, 0.6]
    assert parts[1][2] == slice(12, 15)
    weighted = [reduction.local_part(Rank(r), X, Y, np.arange(5), np.array([1.0, 1, 2, 2, 4]))
                for r in (0, 1)]
    assert [p[4] for p in weighted] == [0.2, 0.8]


def test_the_command_line_under_mpiexec_trains_on_all_ranks_and_writes_once(tmp_path):
    command = ["train", "--data", "moons", "--epochs", "5", "--batch-size", "15", "--json"]
    done = run_cli_ranks(2, *command, "--out", "two.dp", cwd=tmp_path, timeout=300)
    reports = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == 1 and '"ranks": 2' in reports[0]  # rank 0 alone reports
    assert main([*command, "--quiet", "--out", str(tmp_path / "one.dp")]) == 0
    np.testing.assert_allclose(dp.load(tmp_path / "two.dp").net.theta, dp.load(tmp_path / "one.dp").net.theta,
                               rtol=1e-5, atol=1e-6)


STOP_ON_ONE_RANK = textwrap.dedent("""
    import json, os, signal, sys
    import numpy as np
    import deltaprop as dp
    from mpi4py import MPI

    comm = MPI.COMM_WORLD

    class CtrlCOnRankOne(dp.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if comm.Get_rank() == 1 and epoch == 2:
                os.kill(os.getpid(), signal.SIGINT)  # arrives at the epoch's end, on one rank

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    history = dp.MLP([3, 4, 2], seed=0).fit(X, y, loss="cross_entropy", epochs=10, threads=1,
                                             comm=comm, callbacks=[CtrlCOnRankOne()])
    outcomes = comm.gather((comm.Get_rank(), history.stop_reason, history.n_epochs))
    if comm.Get_rank() == 0:  # one writer
        with open(sys.argv[1], "w") as out:
            json.dump(outcomes, out)
""")


def test_a_stop_wanted_by_one_rank_at_an_epochs_end_stops_all(tmp_path):
    script = tmp_path / "stop.py"
    script.write_text(STOP_ON_ONE_RANK)
    outcomes = run_ranks(2, script, timeout=120)  # a deadlock would hang
    assert outcomes == [[0, "interrupted", 2], [1, "interrupted", 2]]
