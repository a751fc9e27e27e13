"""The measuring behind benchmarks/scaling_model.py: the benchmark configurations, their
parameter counts, and the timings the model reads (saved by ``scaling_model.py --measure``).

Measuring launches every timed process itself (this file with ``--worker NAME``), with
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset and one BLAS thread: the one-rank step times pinned
to core 0 (taskset), the same steps on both cores at once and the shared-memory all-reduce under
this environment's ``mpiexec -n 2``, and benchmarks/mpi_bench.py's 1- and 2-process runs for the
validation. Each round runs all of them in turn; the saved inputs are per-quantity medians over
the rounds. The all-reduce's alpha and beta are the model's fit to the times measured here
(scaling_model.fit_alpha_beta), added by scaling_model.py.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BYTES_PER_ENTRY = 4  # float32 parameters and gradients (deltaprop's default dtype)


# The benchmark configurations of bench.py (ReLU hidden layers, softmax cross-entropy): layer
# sizes and minibatch. online is tiny's network at batch 1, so the two share their measurements.
CONFIGS: dict[str, tuple[tuple[int, ...], int]] = {
    "xor": ((2, 4, 2), 4),
    "tiny": ((64, 32, 10), 32),
    "online": ((64, 32, 10), 1),
    "small": ((100, 128, 64, 10), 64),
    "medium": ((784, 256, 256, 10), 128),
    "deep": ((256, *[256] * 6, 10), 128),
    "large": ((784, 1024, 1024, 10), 256),
}
ROWS_MEASURED = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)  # per-rank batch sizes timed
VALIDATION = "large"  # the configuration of benchmarks/mpi_bench.py


def parameter_count(sizes: Sequence[int]) -> int:
    """P: every W (n_out x n_in) and b (n_out) of the dense layers."""
    return sum(n_out * (n_in + 1) for n_in, n_out in zip(sizes[:-1], sizes[1:]))


# -- measuring (workers run in their own processes) ----------------------------------------------
# The compute, update and additions are timed in CPU seconds of their (one-threaded) process: on a
# machine shared with other work, time-sliced away does not count, while the memory bandwidth
# shared with a busy neighbour core still does. The all-reduce and the validation runs wait on
# each other and are timed by the wall clock.
cpu_clock = time.process_time


def clean_env() -> dict[str, str]:
    """This environment without the variables that slow OpenBLAS here, one BLAS thread."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def launch(worker: str, ranks: int = 1, pin: bool = False) -> dict:
    """Run ``--worker NAME`` (under ``mpiexec -n ranks`` or pinned to core 0); its JSON line."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", worker]
    if ranks > 1:
        command = [str(Path(sys.executable).with_name("mpiexec")), "-n", str(ranks), *command]
    elif pin and shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    done = subprocess.run(command, capture_output=True, text=True, env=clean_env(), check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def step_seconds(sizes: Sequence[int], rows: int, repeats: int = 5, target: float = 0.1) -> float:
    """Median seconds per step of fit (NumPy engine, SGD with momentum, one thread) at batch
    ``rows``: epochs of about ``target`` seconds, after a warm-up epoch."""
    import numpy as np

    import deltaprop as dp

    def epochs(steps: int, count: int) -> list[float]:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((steps * rows, sizes[0]), dtype=np.float32)
        y = rng.integers(0, sizes[-1], steps * rows)
        ends: list[float] = []

        class Clock(dp.Callback):
            def on_epoch_end(self, trainer, epoch, logs):
                ends.append(cpu_clock())

        start = cpu_clock()
        dp.MLP(list(sizes), seed=0).fit(X, y, loss="cross_entropy", optimizer=dp.SGD(0.01, momentum=0.9),
                                        epochs=count, batch_size=rows, threads=None, engine="numpy",
                                        callbacks=[Clock()])
        return [(b - a) / steps for a, b in zip([start, *ends], ends)][1:]

    probe = statistics.median(epochs(10, 3))
    steps = max(10, min(20000, round(target / probe)))
    return statistics.median(epochs(steps, repeats + 1))


def update_seconds(parameters: int, repeats: int = 51) -> float:
    """Median seconds of one SGD-with-momentum step on flat float32 vectors of ``parameters``."""
    import numpy as np

    import deltaprop as dp

    theta, grad = np.zeros(parameters, np.float32), np.full(parameters, 1e-3, np.float32)
    optimizer = dp.SGD(0.01, momentum=0.9)
    calls = max(1, 2_000_000 // parameters)
    times = []
    for _ in range(repeats):
        start = cpu_clock()
        for _ in range(calls):
            optimizer.step(theta, grad)
        times.append((cpu_clock() - start) / calls)
    return statistics.median(times)


def gamma_seconds(entries: int = 1 << 19, repeats: int = 51) -> float:
    """Seconds per byte of the all-reduce's additions (a += b, float32, one core), on a
    message of 2 MiB: a ring's chunk of the large gradient on a few ranks."""
    import numpy as np

    a, b = np.ones(entries, np.float32), np.ones(entries, np.float32)
    times = []
    for _ in range(repeats):
        start = cpu_clock()
        np.add(a, b, out=a)
        times.append(cpu_clock() - start)
    return statistics.median(times) / (BYTES_PER_ENTRY * entries)


def distinct_networks() -> dict[tuple[int, ...], list[str]]:
    """Each network of CONFIGS once, with the configurations that use it."""
    networks: dict[tuple[int, ...], list[str]] = {}
    for name, (sizes, _) in CONFIGS.items():
        networks.setdefault(sizes, []).append(name)
    return networks


def worker_steps() -> dict:
    """Pinned, one process: t(b) + u for every network and batch size, u(P), gamma."""
    from threadpoolctl import threadpool_limits

    out: dict = {"steps": {}, "update": {}}
    with threadpool_limits(1):
        for sizes in distinct_networks():
            key = "-".join(map(str, sizes))
            out["steps"][key] = {str(rows): step_seconds(sizes, rows) for rows in ROWS_MEASURED}
            out["update"][key] = update_seconds(parameter_count(sizes))
        out["gamma"] = gamma_seconds()
    return out


def worker_contended() -> dict:
    """Under mpiexec -n 2, each rank alone (no communication while timing), both at once: the
    validation configuration's step at B/2 and B with both cores busy; the slower rank's."""
    from mpi4py import MPI
    from threadpoolctl import threadpool_limits

    comm = MPI.COMM_WORLD
    sizes, batch = CONFIGS[VALIDATION]
    times = {}
    with threadpool_limits(1):
        for rows in (batch // 2, batch):
            comm.Barrier()
            times[str(rows)] = max(comm.allgather(step_seconds(sizes, rows)))
    return times


def worker_allreduce() -> dict:
    """Under mpiexec -n 2: median seconds of an in-place float32 Allreduce (SUM) per size, the
    slower rank's."""
    import numpy as np
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    entries = sorted({1, 16, 256, 4096, 65536, 262144, 1 << 20,
                      *(parameter_count(sizes) for sizes in distinct_networks())})
    result = {}
    for n in entries:
        buffer = np.ones(n, np.float32)
        calls = max(3, min(2000, 2_000_000 // n))
        loops = []
        for _ in range(9):
            comm.Barrier()
            start = time.perf_counter()
            for _ in range(calls):
                comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            loops.append((time.perf_counter() - start) / calls)
        result[str(BYTES_PER_ENTRY * n)] = max(comm.allgather(statistics.median(loops)))
    return result


WORKERS: dict[str, Callable[[], dict]] = {"steps": worker_steps, "contended": worker_contended,
                                          "allreduce": worker_allreduce}


def run_worker(name: str) -> None:
    """Run a worker; rank 0 (or the single process) prints its JSON."""
    result = WORKERS[name]()
    rank = int(os.environ.get("PMI_RANK", "0"))
    if rank == 0:
        print(json.dumps(result))


def measure_round() -> dict:
    """One round of every measurement, in turn."""
    sys.path.insert(0, str(HERE))
    import mpi_bench  # benchmarks/mpi_bench.py: its runs are the validation's measurement

    stamp = lambda what: print(f"{time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)
    stamp("one-rank steps, pinned to core 0")
    steps = launch("steps", pin=True)
    stamp("steps with both cores busy (mpiexec -n 2)")
    contended = launch("contended", ranks=2)
    stamp("shared-memory all-reduce (mpiexec -n 2)")
    allreduce = launch("allreduce", ranks=2)
    stamp("mpi_bench.py: 1 process, then 2 ranks")
    # run(ranks) on main; run(ranks, config, engine) once mpi_bench.py takes --config and --engine
    extra = (VALIDATION, "numpy") if len(inspect.signature(mpi_bench.run).parameters) >= 3 else ()
    bench = {ranks: mpi_bench.SAMPLES / mpi_bench.run(ranks, *extra)["epoch_seconds"] for ranks in (1, 2)}
    return {"steps": steps, "contended": contended, "allreduce": allreduce, "bench": bench}


def median_at(rounds: list[dict], *keys: object) -> float:
    """The median over the rounds of ``round[keys[0]][keys[1]]...``."""
    values = []
    for one in rounds:
        value: Any = one
        for key in keys:
            value = value[key]
        values.append(float(value))
    return statistics.median(values)


def assemble(rounds: list[dict], loads: list[str]) -> dict:
    """The saved inputs: per-quantity medians over the rounds (the all-reduce's alpha and beta
    are scaling_model.py's to fit)."""
    configs = {}
    for name, (sizes, batch) in CONFIGS.items():
        key = "-".join(map(str, sizes))
        config = {"sizes": list(sizes), "batch": batch, "parameters": parameter_count(sizes),
                  "update_seconds": median_at(rounds, "steps", "update", key),
                  "step_seconds": {rows: median_at(rounds, "steps", "steps", key, rows)
                                   for rows in rounds[0]["steps"]["steps"][key]}}
        if name == VALIDATION:
            config["step_seconds_contended"] = {rows: median_at(rounds, "contended", rows)
                                                for rows in rounds[0]["contended"]}
        configs[name] = config
    shm_bytes = sorted(rounds[0]["allreduce"], key=int)
    shm_seconds = [median_at(rounds, "allreduce", size) for size in shm_bytes]
    return {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": " -> ".join(loads),
            "rounds": len(rounds), "engine": "numpy", "configs": configs,
            "gamma": median_at(rounds, "steps", "gamma"),
            "allreduce_shm": {"ranks": 2, "bytes": [int(size) for size in shm_bytes],
                              "seconds": shm_seconds},
            "validation": {"rounds": len(rounds),
                           "samples_per_s_1": median_at(rounds, "bench", 1),
                           "samples_per_s_2": median_at(rounds, "bench", 2),
                           "each_round": [[r["bench"][1], r["bench"][2]] for r in rounds]}}


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def measure(rounds: int) -> dict:
    loads, results = [load_average()], []
    for i in range(rounds):
        print(f"round {i + 1} of {rounds}, load average {load_average()}", file=sys.stderr, flush=True)
        results.append(measure_round())
    loads.append(load_average())
    return assemble(results, loads)


# -- the saved inputs --------------------------------------------------------------------------
def save(inputs: dict, path: Path) -> None:
    """Write the inputs as scaling_model.py reads them."""
    path.write_text(json.dumps(inputs, indent=1) + "\n", encoding="utf-8")


def read_saved(path: Path) -> dict:
    """The saved inputs, checked to be a --measure output (the model checks its numbers)."""
    try:
        inputs = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(inputs, dict):
        raise ValueError(f"{path} is not a --measure output (a JSON object)")
    missing = [key for key in ("configs", "allreduce_shm", "gamma") if key not in inputs]
    if missing:
        raise ValueError(f"{path} is not a --measure output (missing {', '.join(missing)})")
    return inputs


def check_saved_numbers(inputs: dict) -> None:
    """The all-reduce's alpha and beta, gamma and the validation's rates are numbers > 0, else a
    ValueError naming them."""
    shm = inputs["allreduce_shm"]
    if not positive(shm, "alpha") or not positive(shm, "beta") or not positive(inputs, "gamma"):
        raise ValueError("the inputs' allreduce_shm alpha and beta and gamma must be numbers > 0")
    measured = inputs.get("validation")
    if measured is not None and not all(positive(measured, key) for key in
                                        ("rounds", "samples_per_s_1", "samples_per_s_2")):
        raise ValueError("the inputs' validation needs rounds, samples_per_s_1 and samples_per_s_2 > 0")


def positive(record: object, key: str) -> bool:
    """Whether ``record[key]`` is a finite number > 0."""
    value = record.get(key) if isinstance(record, dict) else None
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and value > 0)


def main(argv: Sequence[str]) -> int:
    """``--worker NAME``: run one worker (how :func:`launch` starts the timed processes)."""
    if len(argv) != 2 or argv[0] != "--worker" or argv[1] not in WORKERS:
        print(f"usage: scaling_measure.py --worker {{{','.join(sorted(WORKERS))}}} "
              "(measure with scaling_model.py --measure)", file=sys.stderr)
        return 2
    run_worker(argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
