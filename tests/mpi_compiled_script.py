"""Run by tests/test_compiled_mpi.py on 2 ranks (tests/mpi_support.py): each case trained
data-parallel on the NumPy engine and on the compiled engine, the same seeds; rank 0 writes one
JSON with, per case, the engines that ran, the largest relative difference of the weights and of
the epoch losses, the stop reasons and the steps of the last epoch.

    mpiexec -n 2 python -m mpi4py tests/mpi_compiled_script.py OUT.json
"""

from __future__ import annotations

import json
import sys

import numpy as np
from mpi4py import MPI

import deltaprop as dp

COMM = MPI.COMM_WORLD


class StopOnOneRank(dp.Callback):
    """Rank 1 alone asks to stop after step 7 of epoch 2: every rank must stop there."""

    needs_every_step = False

    def __init__(self) -> None:
        self.epoch, self.steps = 1, 0

    def on_epoch_end(self, trainer, epoch, logs):
        self.epoch = epoch + 1

    def on_batch_end(self, trainer, step):
        self.steps = step
        if COMM.Get_rank() == 1 and self.epoch == 2 and step == 7:
            trainer.stop_reason = "asked"


def data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6))
    y = (X[:, 0] * X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    return X, y, rng.random(n) + 0.5


def momentum_weighted(engine):
    """SGD with momentum, sample weights, L2, a validation split, 162 rows in batches of 25 (an
    uneven last minibatch of 12, and parts of 12 and 13 rows)."""
    X, y, w = data(203)
    net = dp.MLP([6, 16, 16, 3], seed=4, activation="tanh", dtype=np.float64)
    return net, net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(0.1, momentum=0.9), epochs=4,
                        batch_size=25, l2=1e-3, sample_weight=w, validation_fraction=0.2, threads=1,
                        comm=COMM, engine=engine)


def adam_l1(engine):
    """Adam, L1, a regression through relu layers, 99 rows in batches of 10 (a last one of 9)."""
    X, y, _ = data(99, seed=1)
    net = dp.MLP([6, 12, 1], seed=2, activation="relu", dtype=np.float64)
    return net, net.fit(X, X[:, :1] * 2 + y[:, None], loss="mse", optimizer=dp.Adam(0.01), epochs=3,
                        batch_size=10, l1=1e-4, threads=1, comm=COMM, engine=engine)


def online_random_sampling(engine):
    """Batches of one row, drawn at random (rank 0's part is always empty), Nesterov."""
    X, y, _ = data(30, seed=2)
    net = dp.MLP([6, 8, 3], seed=5, dtype=np.float64)
    return net, net.fit(X, y, loss="cross_entropy", sampling="random", batch_size=1, epochs=2,
                        optimizer=dp.SGD(0.05, momentum=0.5, nesterov=True), threads=1, comm=COMM,
                        engine=engine)


def stop_on_one_rank(engine):
    """Rank 1's callback stops the run after step 7 of epoch 2; clipping, float64."""
    X, y, _ = data(120, seed=3)
    net = dp.MLP([6, 8, 3], seed=6, dtype=np.float64)
    stop = StopOnOneRank()
    history = net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(0.2, clip_norm=0.5), epochs=5,
                      batch_size=8, threads=1, comm=COMM, engine=engine, callbacks=[stop])
    history.last_steps = stop.steps
    return net, history


CASES = {"momentum_weighted": momentum_weighted, "adam_l1": adam_l1,
         "online_random_sampling": online_random_sampling, "stop_on_one_rank": stop_on_one_rank}


def relative(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), np.sqrt(np.mean(b**2)))))


def compare(case) -> dict:
    (numpy_net, numpy_history), (compiled_net, compiled_history) = (case("numpy"), case("compiled"))
    return {"engines": [numpy_history.engine, compiled_history.engine],
            "reason": compiled_history.engine_reason,
            "theta": relative(compiled_net.theta, numpy_net.theta),
            "loss": relative(compiled_history.loss, numpy_history.loss),
            "epochs": [numpy_history.n_epochs, compiled_history.n_epochs],
            "stop": [numpy_history.stop_reason, compiled_history.stop_reason],
            "last_steps": [getattr(numpy_history, "last_steps", None),
                           getattr(compiled_history, "last_steps", None)]}


if __name__ == "__main__":
    results = {name: compare(case) for name, case in CASES.items()}
    results["ranks"] = COMM.Get_size()
    if COMM.Get_rank() == 0:
        with open(sys.argv[1], "w") as out:
            json.dump(results, out)
