"""Data-parallel training of BatchNorm and Dropout networks, run by tests/test_parallel_layers.py
on 3 ranks (tests/mpi_support.py: ``mpiexec -n 3 python -m mpi4py``, so that one rank's error ends
the job): the two-rank cases on ranks 0 and 1, the three-rank ones on all three; rank 0 writes
every case's weights and running statistics to the JSON file named by argv[1].

The same :func:`run` without a communicator is the one process the test compares with.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

import deltaprop as dp

# name: (ranks, rows, batch size, network options, fit options, sample weights)
#   "uneven": uneven parts (B odd) and a short last minibatch (203 = 8 * 25 + 3: parts 1 and 2)
#   "empty": a last minibatch of 1 row on 2 ranks (rank 0's part is empty), or 2 rows on 3
#   "zero": sample weights 0 on the first rows, unshuffled: rank 0's part of the first minibatch
#           weighs nothing (its pass still runs)
CASES: dict[str, tuple[int, int, int, dict, dict, str | None]] = {
    "batchnorm": (2, 203, 25, {"batch_norm": True}, {"validation_fraction": 0.2}, "random"),
    "dropout": (2, 97, 24, {"dropout": 0.3}, {}, "random"),
    "both": (2, 203, 25, {"batch_norm": True, "dropout": 0.2, "activation": "tanh"}, {}, "random"),
    "both_no_weights": (2, 203, 25, {"batch_norm": True, "dropout": 0.2}, {}, None),
    "both_zero_weight_part": (2, 120, 20, {"batch_norm": True, "dropout": 0.2},
                              {"shuffle": False}, "zero"),
    "dropout_random_sampling": (2, 97, 16, {"dropout": 0.3}, {"sampling": "random"}, None),
    "both_float32": (2, 203, 25, {"batch_norm": True, "dropout": 0.2, "dtype": "float32"}, {},
                     "random"),
    "both_three_ranks_empty_part": (3, 202, 25, {"batch_norm": True, "dropout": 0.2}, {},
                                    "random"),
}


def run(name: str, comm: object = None) -> dict[str, list[float]]:
    """Train case ``name``; its weights, BatchNorm running statistics and epoch losses."""
    _, n, batch_size, net_options, fit_options, weights = CASES[name]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 6)) * 2.0 + 3.0  # a mean far from 0: BatchNorm's sums must cope
    y = (X[:, 0] * X[:, 1] > 9.0).astype(int)
    w = {"random": rng.random(n) + 0.5, "zero": np.r_[np.zeros(15), rng.random(n - 15) + 0.5],
         None: None}[weights]
    options = {"activation": "relu", "dtype": "float64", **net_options}
    options["dtype"] = np.dtype(options["dtype"]).type
    net = dp.MLP([6, 12, 12, 2], seed=4, **options)
    history = net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(0.05, momentum=0.9), epochs=4,
                      batch_size=batch_size, l2=1e-3, sample_weight=w, threads=1, comm=comm,
                      **fit_options)
    norms = net.batchnorm_layers
    return {"theta": net.theta.astype(np.float64).tolist(),
            "running": np.concatenate([np.zeros(0)] + [np.r_[bn.running_mean, bn.running_var]
                                                       for bn in norms]).tolist(),
            "loss": list(history.loss)}


def sleepy_barrier(comm: Any) -> None:
    """A barrier that sleeps while it waits (MPICH's spins, taking a core from the others)."""
    request = comm.Ibarrier()
    while not request.Test():
        time.sleep(0.002)


def main(out: str) -> None:
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    pair = world.Split(0 if world.Get_rank() < 2 else MPI.UNDEFINED, world.Get_rank())
    results: dict[str, dict] = {}
    for size in (2, 3):  # the pair's cases first, while the third rank sleeps (2 cores here)
        comm = world if size == world.Get_size() else pair
        if comm != MPI.COMM_NULL:
            for name in (name for name, case in CASES.items() if case[0] == size):
                results[name] = {**run(name, comm), "ranks": comm.Get_size()}
        sleepy_barrier(world)
    if world.Get_rank() == 0:
        with open(out, "w") as file:
            json.dump(results, file)


if __name__ == "__main__":
    main(sys.argv[1])
