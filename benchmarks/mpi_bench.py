"""Data-parallel training over MPI against one process: the large configuration of bench.py
(784-1024-1024-10 ReLU, minibatch 256, float32), or a small one (784-128-10, minibatch 64), one
BLAS thread per process, on the NumPy engine, the compiled engine or both.

    python benchmarks/mpi_bench.py                                  # large, NumPy
    python benchmarks/mpi_bench.py --config small --engine both     # each engine, 1 and 2 ranks

Each run trains on the same random data for a few epochs after a warm-up epoch (which also
loads the compiled kernels); the median epoch time gives training samples/s. The speedup is
samples/s with 2 ranks over 1 process of the same engine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SAMPLES, EPOCHS = 10240, 4
CONFIGS = {"large": ([784, 1024, 1024, 10], 256), "small": ([784, 128, 10], 64)}


def worker(config: str, engine: str) -> None:
    """One rank (or the single process): train, print the epoch times as JSON on rank 0."""
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    import deltaprop as dp
    from deltaprop.training.parallel import launched_comm

    comm = launched_comm()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((SAMPLES, 784), dtype=np.float32)
    y = rng.integers(0, 10, SAMPLES)
    sizes, batch = CONFIGS[config]
    net = dp.MLP(sizes, seed=0)
    with threadpool_limits(1):
        epoch_times: list[float] = []

        class Clock(dp.Callback):
            def on_epoch_end(self, trainer, epoch, logs):
                epoch_times.append(time.perf_counter())

        start = time.perf_counter()
        net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(0.01, momentum=0.9),
                epochs=EPOCHS + 1, batch_size=batch, threads=None, comm=comm, callbacks=[Clock()],
                engine=engine)
    if comm is None or comm.Get_rank() == 0:
        times = [b - a for a, b in zip([start, *epoch_times], epoch_times)][1:]  # no warm-up
        blas = [f"{i['internal_api']} {i.get('architecture', '')}" for i in threadpool_info()
                if i["user_api"] == "blas"]
        print(json.dumps({"epoch_seconds": statistics.median(times), "blas": blas,
                          "ranks": 1 if comm is None else comm.Get_size(),
                          "engine": net.history.engine}))


def run(ranks: int, config: str, engine: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}  # they slow NumPy here
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"
    command = [sys.executable, __file__, "--worker", config, engine]
    if ranks > 1:
        command = [str(Path(sys.executable).with_name("mpiexec")), "-n", str(ranks), *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(config: str, engines: list[str], repeats: int = 2) -> None:
    rows = []
    for _ in range(repeats):  # interleaved repeats: the machine is shared
        for engine in engines:
            for ranks in (1, 2):
                rows.append(run(ranks, config, engine))
    sizes, batch = CONFIGS[config]
    print(f"{config} {'-'.join(map(str, sizes))} relu, batch {batch}, float32, 1 BLAS thread "
          f"per process ({rows[0]['blas']})")
    print("| engine | processes | samples/s | speedup |")
    print("|---|---|---|---|")
    for engine in engines:
        mine = [row for row in rows if row["engine"] == engine]
        assert len(mine) == 2 * repeats, f"the runs asked for engine={engine!r} ran on another one"
        rate = {r: SAMPLES / min(row["epoch_seconds"] for row in mine if row["ranks"] == r)
                for r in (1, 2)}
        for r in (1, 2):
            print(f"| {engine} | {r} | {rate[r]:,.0f} | {rate[r] / rate[1]:.2f}x |")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="large")
    parser.add_argument("--engine", choices=("numpy", "compiled", "both"), default="numpy")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each (best kept)")
    return parser.parse_args()


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker(*sys.argv[sys.argv.index("--worker") + 1:][:2])
    else:
        options = arguments()
        main(options.config, ["numpy", "compiled"] if options.engine == "both" else [options.engine],
             options.repeats)
