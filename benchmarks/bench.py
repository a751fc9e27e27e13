"""Training and inference benchmark: deltaprop's engines against JAX, PyTorch and scikit-learn.

Run ``python benchmarks/bench.py --help``; benchmarks/README.md explains every column. For each
thread count and configuration the frameworks run interleaved (deltaprop per engine, JAX's scan
and step recipes, PyTorch, scikit-learn on float32 and on float64 input, then both predicts;
repeat), after one warm-up call each (timed apart: the "first call"), and each column is the
median of the repeats. Peak memory is measured in a fresh subprocess per framework.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE slow NumPy down and are read when OpenBLAS loads, so if
either is set the script re-executes itself without them before importing NumPy; with ``--pin``
the same re-execution runs it under ``taskset -c 0`` (one core).
"""

import os
import shutil
import sys

_SLOW_BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_UNSET_MARKER = "DELTAPROP_BENCH_UNSET"  # what the re-exec removed, for the report
_PIN_MARKER = "DELTAPROP_BENCH_PINNED"  # how the re-exec pinned the process, for the report


def _reexec_clean_and_pinned() -> None:
    """Re-execute this script without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE and, with ``--pin``,
    under ``taskset -c 0`` (``sched_setaffinity`` if there is no taskset): one exec for both."""
    found = {name: os.environ[name] for name in _SLOW_BLAS_VARIABLES if name in os.environ}
    pin = "--pin" in sys.argv[1:] and _PIN_MARKER not in os.environ
    if not found and not pin:
        return
    env = {key: value for key, value in os.environ.items() if key not in found}
    if found:
        env[_UNSET_MARKER] = " ".join(f"{name}={value}" for name, value in found.items())
    argv = [sys.executable, os.path.abspath(__file__), *sys.argv[1:]]
    if pin and shutil.which("taskset"):
        env[_PIN_MARKER], argv = "taskset -c 0", ["taskset", "-c", "0", *argv]
    elif pin:
        os.sched_setaffinity(0, {0})
        env[_PIN_MARKER] = "os.sched_setaffinity(0, {0})"
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    _reexec_clean_and_pinned()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import importlib.metadata  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import asdict, dataclass, replace  # noqa: E402
from typing import Any  # noqa: E402

import jax_recipes  # noqa: E402
import numpy as np  # noqa: E402
import report  # noqa: E402
import sklearn  # noqa: E402
import threadpoolctl  # noqa: E402
import torch  # noqa: E402
from peak_memory import proc_status_kib, reset_peak  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

import deltaprop as dp  # noqa: E402

LEARNING_RATE = 0.01
PREDICT_CHUNK = 4096  # rows per forward, for both deltaprop (its own predict chunk) and PyTorch
MIB = 1024 * 1024
ENGINE_PARAMETER = "engine" in inspect.signature(dp.fit).parameters  # issue 16's engine choice


# -- configurations -----------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """One benchmark network (ReLU hidden layers, softmax cross-entropy) and its timed epochs.

    One timed run is one epoch. ``samples`` feed the frameworks that compile the epoch (JAX's scan
    recipe, deltaprop's compiled engine); those with Python per minibatch (deltaprop's NumPy
    engine, JAX's step recipe, PyTorch) get ``loop_samples``; scikit-learn ``sk_samples``.
    Samples/s stay comparable; each count is a multiple of ``batch``.
    """

    name: str
    sizes: tuple[int, ...]
    batch: int
    samples: int
    loop_samples: int
    sk_samples: int

    @property
    def weight_count(self) -> int:
        """sum of n_in * n_out over the layers: multiply-adds of one sample's forward pass."""
        return sum(n_in * n_out for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]))

    @property
    def train_flops_per_sample(self) -> int:
        """Matrix FLOPs of one sample's training step: forward, dW and the delta handed down for
        every layer but the first (no gradient with respect to the input data)."""
        return 2 * (3 * self.weight_count - self.sizes[0] * self.sizes[1])


CONFIGS = {
    c.name: c
    for c in (
        Config("xor", (2, 4, 2), 4, 131072, 8192, 8192),
        Config("tiny", (64, 32, 10), 32, 262144, 32768, 32768),
        Config("online", (64, 32, 10), 1, 131072, 4096, 512),
        Config("small", (100, 128, 64, 10), 64, 131072, 32768, 16384),
        Config("medium", (784, 256, 256, 10), 128, 16384, 16384, 8192),
        Config("deep", (256, *[256] * 6, 10), 128, 16384, 16384, 4096),
        Config("large", (784, 1024, 1024, 10), 256, 4096, 4096, 2048),
    )
}

ENGINES = ("numpy", "compiled")
LOAD_CONFIGS = ("medium", "large")


def quick_config(config: Config) -> Config:
    """A much smaller version of ``config`` for the --quick smoke run."""

    def shrink(samples: int) -> int:
        return max(2 * config.batch, samples // 16 // config.batch * config.batch)

    return replace(config, samples=shrink(config.samples), loop_samples=shrink(config.loop_samples),
                   sk_samples=shrink(config.sk_samples))


# -- data and models ----------------------------------------------------------------------------
def make_data(config: Config, samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random float32 inputs and integer class labels."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((samples, config.sizes[0]), dtype=np.float32)
    return X, rng.integers(0, config.sizes[-1], size=samples)


def dp_model(config: Config, output_activation: str | None = None) -> dp.MLP:
    """The deltaprop network; without ``output_activation`` fit's loss (softmax) chooses it."""
    return dp.MLP(list(config.sizes), activation="relu", output_activation=output_activation, seed=0)


def torch_model(config: Config) -> torch.nn.Sequential:
    """nn.Linear layers with ReLU between them; outputs are logits."""
    modules: list[torch.nn.Module] = []
    for n_in, n_out in zip(config.sizes[:-2], config.sizes[1:-1]):
        modules += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    modules.append(torch.nn.Linear(config.sizes[-2], config.sizes[-1]))
    return torch.nn.Sequential(*modules)


def sklearn_model(config: Config) -> MLPClassifier:
    """Plain minibatch SGD for exactly one epoch: no momentum, no early stop, no L2."""
    return MLPClassifier(
        hidden_layer_sizes=config.sizes[1:-1], activation="relu", solver="sgd", batch_size=config.batch,
        learning_rate_init=LEARNING_RATE, momentum=0.0, nesterovs_momentum=False, max_iter=1, tol=0.0,
        n_iter_no_change=10**9, shuffle=True, random_state=0, alpha=0.0,
    )


# -- training and inference, one timed epoch each -------------------------------------------------
def dp_train(config: Config, X: np.ndarray, y: np.ndarray, threads: int | str,
             engine: str | None = None) -> tuple[float, str | None]:
    """Seconds of one deltaprop ``fit`` epoch (the network is built before the clock starts), and
    the engine the history says ran (None if it does not say).

    ``threads="auto"`` leaves fit's ``threads`` at its default; ``engine=None`` fit's ``engine``.
    """
    net = dp_model(config)
    options: dict[str, Any] = {} if threads == "auto" else {"threads": threads}
    if engine is not None and ENGINE_PARAMETER:
        options["engine"] = engine
    start = time.perf_counter()
    history = dp.fit(net, X, y, loss="cross_entropy", optimizer=dp.SGD(lr=LEARNING_RATE), epochs=1,
                     batch_size=config.batch, **options)
    seconds = time.perf_counter() - start
    ran = getattr(history, "engine", None)
    return seconds, None if ran is None else str(ran)


def torch_train_epoch(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, batch: int) -> None:
    """The idiomatic fast PyTorch loop: randperm, index the preloaded tensors, step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    order = torch.randperm(X.shape[0])
    for start in range(0, X.shape[0], batch):
        index = order[start:start + batch]
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(X[index]), y[index]).backward()
        optimizer.step()


def torch_train(config: Config, X: torch.Tensor, y: torch.Tensor) -> float:
    """Seconds of one PyTorch training epoch (the model is built before the clock starts)."""
    torch.manual_seed(0)
    model = torch_model(config)
    start = time.perf_counter()
    torch_train_epoch(model, X, y, config.batch)
    return time.perf_counter() - start


def sklearn_train(config: Config, X: np.ndarray, y: np.ndarray) -> float:
    """Seconds of one MLPClassifier.fit (it initializes its weights inside fit)."""
    model = sklearn_model(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - start


def torch_predict(model: torch.nn.Module, X: torch.Tensor, out: torch.Tensor) -> None:
    """no_grad forward plus softmax in chunks of PREDICT_CHUNK rows, into ``out``."""
    with torch.no_grad():
        for start in range(0, X.shape[0], PREDICT_CHUNK):
            out[start:start + PREDICT_CHUNK] = torch.softmax(model(X[start:start + PREDICT_CHUNK]), dim=1)


def throughput(run: Callable[[], Any], rows: int, min_seconds: float) -> float:
    """Rows per second of ``run()`` called repeatedly for at least ``min_seconds``."""
    calls, start = 0, time.perf_counter()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return rows * calls / elapsed
# -- CPU used by other processes ----------------------------------------------------------------
def cpu_snapshot(whole_machine: bool = False) -> tuple[float, float, float]:
    """(wall clock, CPU seconds the CPUs this process may run on (all of them with
    ``whole_machine``) were busy or stolen by the hypervisor, CPU seconds of this process and its
    waited-for children). Pinned (--pin), a neighbour busy on another core does not count."""
    cpus = {"cpu"} if whole_machine else {f"cpu{i}" for i in os.sched_getaffinity(0)}
    busy = 0
    with open("/proc/stat") as stat:
        for name, *fields in map(str.split, stat):
            if name in cpus:
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
                busy += user + nice + system + irq + softirq + steal
    own = os.times()
    return (time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"),
            own.user + own.system + own.children_user + own.children_system)


def other_load(since: tuple[float, float, float], whole_machine: bool = False) -> float:
    """Cores kept busy on average by other processes (or the hypervisor) since ``since``."""
    wall, busy, own = (now - then for now, then in zip(cpu_snapshot(whole_machine), since))
    return max(0.0, (busy - own) / wall)


# -- GEMM peak ------------------------------------------------------------------------------------
def gemm_gflops(shapes: list[tuple[int, int, int]], repeats: int,
                multiply: Callable[[Any, Any, Any], Any] = lambda a, b, c: np.matmul(a, b, out=c)) -> float:
    """Best GFLOP/s of float32 ``multiply(a, b, out)`` over the (m, k, n) products, back to back."""
    rng = np.random.default_rng(0)
    operands = [(rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32),
                 np.empty((m, n), np.float32)) for m, k, n in shapes]
    flops = sum(2.0 * m * k * n for m, k, n in shapes)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for a, b, c in operands:
            multiply(a, b, c)
        best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def network_gemm_shapes(config: Config) -> list[tuple[int, int, int]]:
    """The (m, k, n) matrix products of one training step of ``config``, as deltaprop does them."""
    shapes = []
    for i, (n_in, n_out) in enumerate(zip(config.sizes[:-1], config.sizes[1:])):
        shapes.append((config.batch, n_in, n_out))      # z = a_prev @ W.T
        shapes.append((n_out, config.batch, n_in))      # dW = delta.T @ a_prev
        if i > 0:
            shapes.append((config.batch, n_out, n_in))  # delta handed down: delta @ W
    return shapes


def measure_gemm(threads: int, size: int, repeats: int, names: list[str]) -> dict[str, Any]:
    """float32 GEMM GFLOP/s at ``threads`` BLAS threads: a square ``size`` product and each
    configuration's own step products, with NumPy's matmul and, if deltaprop multiplies with MKL,
    with MKL too; each figure is the best of the backends (the machine's best GEMM)."""
    since = cpu_snapshot()
    multipliers = {"numpy": lambda a, b, c: np.matmul(a, b, out=c)}
    if dp.blas.backend() == "mkl":
        multipliers["mkl"] = dp.blas.matmul
    result: dict[str, Any] = {"square_size": size, "backends": list(multipliers), "step_gflops": {}}
    with threadpool_limits(limits=threads):
        result["square_gflops"] = max(gemm_gflops([(size, size, size)], repeats, m)
                                      for m in multipliers.values())
        for name in (name for name in names if name in report.GEMM_BOUND):
            shapes = network_gemm_shapes(CONFIGS[name])
            result["step_gflops"][name] = max(gemm_gflops(shapes, repeats, m) for m in multipliers.values())
    result["other_load"] = other_load(since)
    return result


# -- one configuration at one thread count -------------------------------------------------------
PREDICTORS = ("deltaprop_predict", "torch_predict")


def training_runs(config: Config, threads: int, engines: list[str],
                  use_jax: bool) -> dict[str, tuple[Callable[[], Any], int]]:
    """Per framework: (run() -> seconds or (seconds, engine ran), samples of the epoch)."""
    X, y = make_data(config, config.samples)
    X_loop, y_loop = X[:config.loop_samples], y[:config.loop_samples]
    X_sk, y_sk = X[:config.sk_samples], y[:config.sk_samples]
    Xt, yt = torch.from_numpy(X_loop), torch.from_numpy(y_loop.astype(np.int64))
    runs: dict[str, tuple[Callable[[], Any], int]] = {}
    for engine in engines:
        X_e, y_e = (X, y) if engine == "compiled" else (X_loop, y_loop)
        runs[f"deltaprop_{engine}"] = (lambda X_e=X_e, y_e=y_e, engine=engine:
                                       dp_train(config, X_e, y_e, threads, engine), len(X_e))
    if use_jax:
        args = (config.sizes, config.batch, LEARNING_RATE)
        runs["jax_scan"] = (jax_recipes.runner("scan", *args, X, y), len(X))
        runs["jax_step"] = (jax_recipes.runner("step", *args, X_loop, y_loop), len(X_loop))
    runs["torch"] = (lambda: torch_train(config, Xt, yt), len(X_loop))
    runs["sklearn32"] = (lambda: sklearn_train(config, X_sk, y_sk), len(X_sk))
    X_sk64 = X_sk.astype(np.float64)
    runs["sklearn64"] = (lambda: sklearn_train(config, X_sk64, y_sk), len(X_sk))
    return runs


def predict_runs(config: Config, rows: int) -> dict[str, Callable[[], Any]]:
    """Per framework: one predict over ``rows`` random rows with an untrained network."""
    X, _ = make_data(config, rows, seed=1)
    net = dp_model(config, "softmax")  # what fit with cross_entropy would choose
    torch.manual_seed(0)
    model = torch_model(config).eval()
    Xt, out = torch.from_numpy(X), torch.empty((rows, config.sizes[-1]))
    return {"deltaprop_predict": lambda: net.predict(X),
            "torch_predict": lambda: torch_predict(model, Xt, out)}


def warm_up(trainers: dict[str, tuple[Callable[[], Any], int]]) -> tuple[dict[str, float], dict[str, str]]:
    """Run every trainer once (compiles JAX and the compiled engine, or loads its disk cache):
    seconds of each first call, and the error of any that failed (then dropped from ``trainers``)."""
    first_call, errors = {}, {}
    for name, (run, _) in list(trainers.items()):
        start = time.perf_counter()
        try:
            run()
        except Exception as error:  # a framework that cannot run this configuration is reported
            errors[name] = f"{type(error).__name__}: {error}"
            print(f"  {name} failed, skipped: {errors[name]}", file=sys.stderr, flush=True)
            del trainers[name]
            continue
        first_call[name] = time.perf_counter() - start
    return first_call, errors


def bench_config(config: Config, threads: int, args: argparse.Namespace) -> dict[str, Any]:
    """Samples/s of every framework (medians over interleaved repeats), the raw rates, first-call
    seconds, the engine deltaprop's history reported, and the CPU other processes used meanwhile."""
    since = cpu_snapshot()
    trainers = training_runs(config, threads, args.engine_names, args.jax_version is not None)
    predictors = predict_runs(config, args.predict_rows)
    first_call, errors = warm_up(trainers)
    for predict in predictors.values():
        predict()
    rates: dict[str, list[float]] = {name: [] for name in (*trainers, *PREDICTORS)}
    engine_ran: dict[str, str | None] = {}
    for _ in range(args.repeats):
        for name, (run, samples) in trainers.items():
            result = run()
            seconds, engine_ran[name] = result if isinstance(result, tuple) else (result, None)
            rates[name].append(samples / seconds)
        for name, predict in predictors.items():
            rates[name].append(throughput(predict, args.predict_rows, args.predict_seconds))
    return {"config": asdict(config), "repeats": rates, "first_call_s": first_call, "errors": errors,
            "engine_ran": {k: v for k, v in engine_ran.items() if v is not None},
            "other_load": other_load(since),
            "median": {name: statistics.median(values) for name, values in rates.items()}}


@contextlib.contextmanager
def thread_count(threads: int) -> Iterator[None]:
    """Every BLAS and OpenMP pool (threadpoolctl) and PyTorch's intra-op pool at ``threads``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)


# -- peak memory, in a fresh subprocess per framework ---------------------------------------------
def memory_child(request: dict[str, Any]) -> dict[str, Any]:
    """Runs in the subprocess: MiB of peak RSS above the data during one epoch of training.

    Everything is imported, the data and labels are made and a deltaprop engine has trained once
    on two batches (the compiled engine compiles or loads its kernels) before the baseline; then
    the peak (VmHWM) is reset to the current RSS by writing 5 to /proc/self/clear_refs.
    """
    config, framework, threads = CONFIGS[request["config"]], request["framework"], request["threads"]
    dp.blas.set_backend(request["gemm"])
    X, y = make_data(config, request["samples"])
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    engine = framework.removeprefix("deltaprop_")
    with thread_count(threads):
        if framework.startswith("deltaprop"):
            dp_train(config, X[:2 * config.batch], y[:2 * config.batch], threads, engine)
        baseline = proc_status_kib("VmRSS")
        reset_peak()
        if framework.startswith("deltaprop"):
            dp_train(config, X, y, threads, engine)
        else:
            torch.manual_seed(0)
            torch_train_epoch(torch_model(config), Xt, yt, config.batch)
        peak = proc_status_kib("VmHWM")
    return {"mib_above_data": (peak - baseline) / 1024, "baseline_mib": baseline / 1024,
            "data_mib": (X.nbytes + y.nbytes) / MIB}


def measure_memory(config: Config, framework: str, threads: int, samples: int) -> dict[str, Any]:
    """Run :func:`memory_child` in a fresh interpreter (same affinity) and return its result."""
    request = json.dumps({"config": config.name, "framework": framework, "threads": threads,
                          "samples": samples, "gemm": dp.blas.backend()})
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", request],
                          capture_output=True, text=True)
    if done.returncode:  # reported in the table, with the error's last line
        return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- default settings under load ------------------------------------------------------------------
@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """Another process keeping one core busy for the duration."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    neighbours = set(range(os.cpu_count() or 1)) - os.sched_getaffinity(0)
    if neighbours:  # pinned: the busy core is a neighbour, not our own
        os.sched_setaffinity(spinner.pid, neighbours)
    try:
        time.sleep(0.3)  # let it start spinning
        yield
    finally:
        spinner.kill()
        spinner.wait()


def bench_load(config: Config, repeats: int) -> dict[str, Any]:
    """deltaprop samples/s with default settings (fit without ``threads=`` or ``engine=``), idle
    and with one core busy, interleaved; the slowdown is the ratio of the medians."""
    since = cpu_snapshot(whole_machine=True)  # the spinner is a waited-for child: our own CPU
    X, y = make_data(config, config.samples)
    dp_train(config, X, y, "auto")  # warm-up
    idle, loaded = [], []
    for _ in range(repeats):
        idle.append(config.samples / dp_train(config, X, y, "auto")[0])
        with busy_core():
            loaded.append(config.samples / dp_train(config, X, y, "auto")[0])
    idle_median, loaded_median = statistics.median(idle), statistics.median(loaded)
    return {"idle": idle, "loaded": loaded, "idle_median": idle_median, "loaded_median": loaded_median,
            "slowdown": idle_median / loaded_median, "other_load": other_load(since, whole_machine=True)}


# -- environment ----------------------------------------------------------------------------------
def numpy_blas() -> dict[str, Any]:
    """The BLAS NumPy itself is linked against (the one deltaprop and scikit-learn use)."""
    pools = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    return next((pool for pool in pools if "numpy" in pool.get("filepath", "")), pools[0] if pools else {})


def package_version(name: str) -> str | None:
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        return importlib.metadata.version(name)
    return None


def machine_info(jax_version: str | None) -> dict[str, Any]:
    """CPU model and core count (lscpu), affinity, versions, the BLAS kernels, the date."""
    lscpu: dict[str, str] = {}
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        lscpu = dict((key.strip(), value.strip()) for key, _, value in
                     (line.partition(":") for line in out.splitlines()))
    return {
        "cpu": lscpu.get("Model name", platform.processor()),
        "cpus": lscpu.get("CPU(s)", str(os.cpu_count())),
        "cores_per_socket": lscpu.get("Core(s) per socket"),
        "threads_per_core": lscpu.get("Thread(s) per core"),
        "affinity": sorted(os.sched_getaffinity(0)), "pinned_by": os.environ.get(_PIN_MARKER, ""),
        "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
        "sklearn": sklearn.__version__, "jax": jax_version, "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "numba": package_version("numba"), "threadpoolctl": threadpoolctl.__version__,
        "deltaprop": dp.__version__, "deltaprop_gemm": dp.blas.backend(),
        "engine_parameter": ENGINE_PARAMETER,
        "numpy_blas": {key: numpy_blas().get(key) for key in ("internal_api", "version", "architecture",
                                                              "num_threads", "filepath")},
        "torch_parallel": torch.__config__.parallel_info().splitlines()[-1].strip(),
        "unset_for_this_process": os.environ.get(_UNSET_MARKER, ""),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


# -- main -----------------------------------------------------------------------------------------
def parse_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add = parser.add_argument
    add("--threads", default="1,2", help="comma-separated BLAS/PyTorch/deltaprop thread counts")
    add("--configs", default=",".join(CONFIGS), help="comma-separated configurations")
    add("--engines", default=",".join(ENGINES), help="deltaprop engines, one column each")
    add("--pin", action="store_true", help="run pinned to one core (re-executes under taskset -c 0)")
    add("--repeats", type=int, default=5, help="interleaved timed repeats per framework")
    add("--memory-configs", default=None,
        help="configurations whose peak memory is measured (default: all of --configs; 'none' skips)")
    add("--memory-samples", type=int, default=60_000, help="samples of the memory epoch")
    add("--predict-seconds", type=float, default=0.25, help="minimum seconds of each predict timing")
    add("--predict-rows", type=int, default=16_384, help="rows per predict call")
    add("--gemm-size", type=int, default=2048, help="side of the square GEMM")
    add("--gemm", choices=("auto", "numpy", "mkl"), default="numpy",
        help="deltaprop's GEMM backend (deltaprop.blas.set_backend; mkl needs deltaprop[mkl])")
    add("--load", action="store_true", help="also time deltaprop medium and large, default settings, "
                                            "under one busy core")
    add("--quick", action="store_true",
        help="smoke run: sizes / 16, 1 repeat, memory of large only, on 6,000 samples")
    add("--json", metavar="PATH", help="write every number as JSON")
    add("--markdown", metavar="PATH", help="write a markdown report (for RESULTS.md)")
    add("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.thread_counts = [int(t) for t in parse_list(args.threads)]
    args.config_names, args.engine_names = parse_list(args.configs), parse_list(args.engines)
    for kind, names, known in (("configurations", args.config_names, CONFIGS),
                               ("engines", args.engine_names, ENGINES)):
        if not names or set(names) - set(known):
            parser.error(f"unknown {kind} {sorted(set(names) - set(known))}; choose from {list(known)}")
    if not ENGINE_PARAMETER:
        args.engine_names = ["numpy"] if "numpy" in args.engine_names else []
    if args.quick:
        args.repeats, args.predict_seconds, args.predict_rows, args.gemm_size = 1, 0.02, 4096, 1024
        args.memory_samples = 6_000
        args.memory_configs = "large" if args.memory_configs is None else args.memory_configs
    memory = parse_list(args.memory_configs) if args.memory_configs is not None else args.config_names
    args.memory_names = [] if memory == ["none"] else memory
    if set(args.memory_names) - set(CONFIGS):
        parser.error(f"unknown memory configurations {sorted(set(args.memory_names) - set(CONFIGS))}")
    return args


def run_thread_count(threads: int, configs: list[Config], args: argparse.Namespace) -> dict[str, Any]:
    """Every table of one thread count: GEMM rates, interleaved benchmarks, memory."""
    gemm = measure_gemm(threads, args.gemm_size, 3 if args.quick else 10, [c.name for c in configs])
    rows, raw = [], {}
    for config in configs:
        print(f"[{threads} thread(s)] {config.name} ...", file=sys.stderr, flush=True)
        with thread_count(threads):
            raw[config.name] = bench_config(config, threads, args)
        rows.append(report.summarize(config.name, threads, raw[config.name], gemm,
                                     config.train_flops_per_sample))
    memory = {}
    for name in args.memory_names:
        print(f"[{threads} thread(s)] memory {name} ...", file=sys.stderr, flush=True)
        memory[name] = {fw: measure_memory(CONFIGS[name], fw, threads, args.memory_samples)
                        for fw in (*(f"deltaprop_{e}" for e in args.engine_names), "torch")}
    return {"threads": threads, "gemm": gemm, "rows": rows, "raw": raw, "memory": memory}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(json.loads(args.memory_child))))
        return
    dp.blas.set_backend(args.gemm)
    one_core = max(args.thread_counts) == 1 or len(os.sched_getaffinity(0)) == 1
    args.jax_version = jax_recipes.load(single_thread=one_core)
    if args.jax_version is None:
        print("JAX is not installed: its columns are skipped", file=sys.stderr, flush=True)
    started = time.perf_counter()
    configs = [quick_config(CONFIGS[n]) if args.quick else CONFIGS[n] for n in args.config_names]
    results: dict[str, Any] = {"machine": machine_info(args.jax_version), "runs": [], "load": {}}
    for threads in args.thread_counts:
        results["runs"].append(run_thread_count(threads, configs, args))
    for name in LOAD_CONFIGS if args.load else ():
        print(f"[default settings] load {name} ...", file=sys.stderr, flush=True)
        results["load"][name] = bench_load(quick_config(CONFIGS[name]) if args.quick else CONFIGS[name],
                                           max(args.repeats, 3))
    results["seconds"] = time.perf_counter() - started
    results["settings"] = {key: value for key, value in vars(args).items() if key != "memory_child"}
    results["settings"]["command"] = " ".join(["python benchmarks/bench.py", *sys.argv[1:]])
    print(report.report_text(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report.report_markdown(results))


if __name__ == "__main__":
    main()
