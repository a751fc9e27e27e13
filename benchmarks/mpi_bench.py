"""Data-parallel training over MPI against one process: the large configuration of bench.py
(784-1024-1024-10 ReLU, minibatch 256, float32), one BLAS thread per process.

    python benchmarks/mpi_bench.py            # launches both runs itself, prints the table

Each run trains on the same random data for a few epochs after a warm-up epoch; the median
epoch time gives training samples/s. The speedup is samples/s with 2 ranks over 1 process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SAMPLES, EPOCHS, BATCH = 10240, 4, 256


def worker() -> None:
    """One rank (or the single process): train, print the epoch times as JSON on rank 0."""
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    import deltaprop as dp
    from deltaprop.training.parallel import launched_comm

    comm = launched_comm()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((SAMPLES, 784), dtype=np.float32)
    y = rng.integers(0, 10, SAMPLES)
    net = dp.MLP([784, 1024, 1024, 10], seed=0)
    with threadpool_limits(1):
        epoch_times: list[float] = []

        class Clock(dp.Callback):
            def on_epoch_end(self, trainer, epoch, logs):
                epoch_times.append(time.perf_counter())

        start = time.perf_counter()
        net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(0.01, momentum=0.9),
                epochs=EPOCHS + 1, batch_size=BATCH, threads=None, comm=comm, callbacks=[Clock()])
    if comm is None or comm.Get_rank() == 0:
        times = [b - a for a, b in zip([start, *epoch_times], epoch_times)][1:]  # no warm-up
        blas = [f"{i['internal_api']} {i.get('architecture', '')}" for i in threadpool_info()
                if i["user_api"] == "blas"]
        print(json.dumps({"epoch_seconds": statistics.median(times), "blas": blas,
                          "ranks": 1 if comm is None else comm.Get_size()}))


def run(ranks: int) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}  # they slow NumPy here
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"
    command = [sys.executable, __file__, "--worker"]
    if ranks > 1:
        command = [str(Path(sys.executable).with_name("mpiexec")), "-n", str(ranks), *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    rows = []
    for _ in range(2):  # interleaved repeats: the machine is shared
        for ranks in (1, 2):
            rows.append(run(ranks))
    best = {r: min(row["epoch_seconds"] for row in rows if row["ranks"] == r) for r in (1, 2)}
    rate = {r: SAMPLES / best[r] for r in best}
    print(f"large 784-1024-1024-10 relu, batch {BATCH}, float32, 1 BLAS thread per process "
          f"({rows[0]['blas']})")
    print("| processes | samples/s | speedup |")
    print("|---|---|---|")
    for r in (1, 2):
        print(f"| {r} | {rate[r]:,.0f} | {rate[r] / rate[1]:.2f}x |")


if __name__ == "__main__":
    worker() if "--worker" in sys.argv else main()
