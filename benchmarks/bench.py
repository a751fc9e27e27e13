"""Training and inference benchmark: deltaprop against PyTorch and scikit-learn (issue 3).

Run ``python benchmarks/bench.py --help``; benchmarks/README.md explains every column. For each
thread count and configuration the frameworks run interleaved (deltaprop, PyTorch, scikit-learn
on float32 input, scikit-learn on float64 input, then both predicts; repeat), and each column is
the median of the repeats. Peak memory is measured in a fresh subprocess per framework.

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE slow NumPy down and are read when OpenBLAS loads, so if
either is set the script re-executes itself without them before importing NumPy.
"""

import os
import sys

_SLOW_BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_UNSET_MARKER = "DELTAPROP_BENCH_UNSET"  # what the re-exec removed, for the report


def _reexec_without_slow_blas_variables() -> None:
    """Re-execute this script with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed, if set."""
    found = {name: os.environ[name] for name in _SLOW_BLAS_VARIABLES if name in os.environ}
    if not found:
        return
    env = {key: value for key, value in os.environ.items() if key not in found}
    env[_UNSET_MARKER] = " ".join(f"{name}={value}" for name, value in found.items())
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env)


if __name__ == "__main__":
    _reexec_without_slow_blas_variables()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
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

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import threadpoolctl  # noqa: E402
import torch  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

import deltaprop as dp  # noqa: E402

LEARNING_RATE = 0.01
PREDICT_CHUNK = 4096  # rows per forward, for both deltaprop (its own predict chunk) and PyTorch
MIB = 1024 * 1024


# -- configurations and targets -----------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """One benchmark network and how much training each timed run does.

    ``samples`` x ``epochs`` is one timed ``fit``; scikit-learn, much slower on the big networks,
    may get its own (smaller) ``sk_samples`` x ``sk_epochs``: samples/s stay comparable.
    """

    name: str
    sizes: tuple[int, ...]
    activation: str
    batch: int
    samples: int
    epochs: int
    sk_samples: int
    sk_epochs: int

    @property
    def binary(self) -> bool:
        """One sigmoid output trained with binary cross-entropy (xor) instead of softmax."""
        return self.sizes[-1] == 1

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
        Config("xor", (2, 4, 1), "sigmoid", 4, 4096, 8, 4096, 4),
        Config("tiny", (64, 32, 10), "relu", 32, 32768, 8, 32768, 2),
        Config("small", (784, 128, 10), "relu", 64, 16384, 3, 16384, 1),
        Config("medium", (784, 256, 256, 10), "relu", 128, 16384, 2, 8192, 1),
        Config("large", (784, 1024, 1024, 10), "relu", 256, 8192, 1, 2048, 1),
        Config("deep", (256, *[256] * 8, 10), "tanh", 128, 16384, 1, 4096, 1),
    )
}

TORCH_RATIO_TARGETS = {"xor": 8.0, "tiny": 8.0, "small": 2.0, "medium": 1.4, "large": 1.15, "deep": 1.15}
SKLEARN_RATIO_TARGET = 3.0  # deltaprop / scikit-learn on float32 input, every configuration
GEMM_FRACTION_TARGETS = {("large", 1): 0.80}  # (config, threads) -> fraction of the GEMM peak
PREDICT_RATIO_TARGET = 1.0  # deltaprop predict / PyTorch no_grad forward, every configuration
MEMORY_TARGETS_MIB = {"large": 30.0}  # one epoch of --memory-samples, above the data
LOAD_SLOWDOWN_TARGET = 2.0
LOAD_CONFIGS = ("medium", "large")
BUSY_MACHINE_CORES = 0.1  # other processes' average CPU above which a table gets a warning


def quick_config(config: Config) -> Config:
    """A much smaller version of ``config`` for the --quick smoke run."""

    def shrink(samples: int) -> int:
        return max(2 * config.batch, samples // 16 // config.batch * config.batch)

    return replace(config, samples=shrink(config.samples), epochs=1,
                   sk_samples=shrink(config.sk_samples), sk_epochs=1)


# -- data and models ----------------------------------------------------------------------------
def make_data(config: Config, samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random float32 inputs and integer class labels (0/1 for a single output)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((samples, config.sizes[0]), dtype=np.float32)
    y = rng.integers(0, max(config.sizes[-1], 2), size=samples)
    return X, y


def dp_loss(config: Config) -> str:
    return "binary_cross_entropy" if config.binary else "cross_entropy"


def dp_model(config: Config, output_activation: str | None = None) -> dp.MLP:
    """The deltaprop network; without ``output_activation`` fit's loss chooses it."""
    return dp.MLP(list(config.sizes), activation=config.activation, output_activation=output_activation,
                  seed=0)


def output_activation(config: Config) -> str:
    """What the loss puts on the output layer: predict returns probabilities."""
    return "sigmoid" if config.binary else "softmax"


TORCH_ACTIVATIONS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}


def torch_model(config: Config) -> torch.nn.Sequential:
    """nn.Linear layers with the hidden activation between them; outputs are logits."""
    activation = TORCH_ACTIVATIONS[config.activation]
    modules: list[torch.nn.Module] = []
    for n_in, n_out in zip(config.sizes[:-2], config.sizes[1:-1]):
        modules += [torch.nn.Linear(n_in, n_out), activation()]
    modules.append(torch.nn.Linear(config.sizes[-2], config.sizes[-1]))
    return torch.nn.Sequential(*modules)


def torch_targets(config: Config, y: np.ndarray) -> torch.Tensor:
    """Labels as BCEWithLogitsLoss (float, one column) or CrossEntropyLoss (int64) wants them."""
    if config.binary:
        return torch.from_numpy(y.astype(np.float32).reshape(-1, 1))
    return torch.from_numpy(y.astype(np.int64))


def torch_output(config: Config, logits: torch.Tensor) -> torch.Tensor:
    """Probabilities, as deltaprop's predict returns them: the same work for both."""
    return torch.sigmoid(logits) if config.binary else torch.softmax(logits, dim=1)


def sklearn_model(config: Config, epochs: int) -> MLPClassifier:
    """Plain minibatch SGD for exactly ``epochs`` epochs: no momentum, no early stop, no L2."""
    return MLPClassifier(
        hidden_layer_sizes=config.sizes[1:-1],
        activation={"sigmoid": "logistic"}.get(config.activation, config.activation),
        solver="sgd", batch_size=config.batch, learning_rate_init=LEARNING_RATE,
        momentum=0.0, nesterovs_momentum=False, max_iter=epochs, tol=0.0,
        n_iter_no_change=10**9, shuffle=True, random_state=0, alpha=0.0,
    )


# -- training and inference, one timed run each --------------------------------------------------
def dp_train(config: Config, X: np.ndarray, y: np.ndarray, epochs: int, threads: int | str) -> float:
    """Seconds of one deltaprop ``fit`` (the network is built before the clock starts).

    ``threads="auto"`` leaves fit's ``threads`` at its default.
    """
    net = dp_model(config)
    options: dict[str, Any] = {} if threads == "auto" else {"threads": threads}
    start = time.perf_counter()
    net.fit(X, y, loss=dp_loss(config), optimizer=dp.SGD(lr=LEARNING_RATE), epochs=epochs,
            batch_size=config.batch, **options)
    return time.perf_counter() - start


def torch_train_epochs(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, config: Config,
                       epochs: int) -> None:
    """The idiomatic fast PyTorch loop: randperm, index the preloaded tensors, step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.BCEWithLogitsLoss() if config.binary else torch.nn.CrossEntropyLoss()
    model.train()
    n = X.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n)
        for start in range(0, n, config.batch):
            index = order[start:start + config.batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[index]), y[index])
            loss.backward()
            optimizer.step()


def torch_train(config: Config, X: torch.Tensor, y: torch.Tensor, epochs: int) -> float:
    """Seconds of one PyTorch training run (the model is built before the clock starts)."""
    torch.manual_seed(0)
    model = torch_model(config)
    start = time.perf_counter()
    torch_train_epochs(model, X, y, config, epochs)
    return time.perf_counter() - start


def sklearn_train(config: Config, X: np.ndarray, y: np.ndarray, epochs: int) -> float:
    """Seconds of one MLPClassifier.fit (it initializes its weights inside fit)."""
    model = sklearn_model(config, epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - start


def torch_predict(config: Config, model: torch.nn.Module, X: torch.Tensor, out: torch.Tensor) -> None:
    """no_grad forward plus softmax/sigmoid in chunks of PREDICT_CHUNK rows, into ``out``."""
    with torch.no_grad():
        for start in range(0, X.shape[0], PREDICT_CHUNK):
            out[start:start + PREDICT_CHUNK] = torch_output(config, model(X[start:start + PREDICT_CHUNK]))


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
def cpu_snapshot() -> tuple[float, float, float]:
    """(wall clock, CPU seconds the whole machine was busy or stolen by the hypervisor, CPU
    seconds of this process and its waited-for children)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    own = os.times()
    return (time.perf_counter(), (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK"),
            own.user + own.system + own.children_user + own.children_system)


def other_load(since: tuple[float, float, float]) -> float:
    """Cores kept busy on average by other processes (or the hypervisor) since ``since``."""
    wall, busy, own = (now - then for now, then in zip(cpu_snapshot(), since))
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


def measure_gemm_peak(threads: int, size: int, repeats: int) -> dict[str, float]:
    """float32 GEMM GFLOP/s at ``threads`` BLAS threads: square ``size`` and the large network's
    own step, with NumPy's matmul and, if deltaprop multiplies with MKL, with MKL too; the peak
    is the best of them all (the machine's best GEMM, whoever provides it)."""
    since = cpu_snapshot()
    multipliers = {"numpy": lambda a, b, c: np.matmul(a, b, out=c)}
    if dp.blas.backend() == "mkl":
        multipliers["mkl"] = dp.blas.matmul
    result: dict[str, Any] = {"square_size": size}
    with threadpool_limits(limits=threads):
        for name, multiply in multipliers.items():
            result[f"square_gflops_{name}"] = gemm_gflops([(size, size, size)], repeats, multiply)
            result[f"large_step_gflops_{name}"] = gemm_gflops(
                network_gemm_shapes(CONFIGS["large"]), repeats, multiply)
    result["square_gflops"] = max(v for k, v in result.items() if k.startswith("square_gflops_"))
    result["large_step_gflops"] = max(v for k, v in result.items() if k.startswith("large_step_gflops_"))
    result["peak_gflops"] = max(result["square_gflops"], result["large_step_gflops"])
    result["other_load"] = other_load(since)
    return result


# -- one configuration at one thread count -------------------------------------------------------
FRAMEWORKS = ("deltaprop", "torch", "sklearn32", "sklearn64")
PREDICTORS = ("deltaprop_predict", "torch_predict")


def training_runs(config: Config, threads: int) -> dict[str, tuple[Callable[[int], float], int, int]]:
    """Per framework: (run(epochs) -> seconds, samples, epochs) on freshly made data."""
    X, y = make_data(config, config.samples)
    Xt, yt = torch.from_numpy(X), torch_targets(config, y)
    X_sk, y_sk = X[:config.sk_samples], y[:config.sk_samples]
    X_sk64 = X_sk.astype(np.float64)
    return {
        "deltaprop": (lambda e: dp_train(config, X, y, e, threads), config.samples, config.epochs),
        "torch": (lambda e: torch_train(config, Xt, yt, e), config.samples, config.epochs),
        "sklearn32": (lambda e: sklearn_train(config, X_sk, y_sk, e), config.sk_samples, config.sk_epochs),
        "sklearn64": (lambda e: sklearn_train(config, X_sk64, y_sk, e), config.sk_samples, config.sk_epochs),
    }


def predict_runs(config: Config, rows: int) -> dict[str, Callable[[], Any]]:
    """Per framework: one predict over ``rows`` random rows with an untrained network."""
    X, _ = make_data(config, rows, seed=1)
    net = dp_model(config, output_activation(config))  # what fit with the loss would choose
    torch.manual_seed(0)
    model = torch_model(config).eval()
    Xt, out = torch.from_numpy(X), torch.empty((rows, config.sizes[-1]))
    return {"deltaprop_predict": lambda: net.predict(X),
            "torch_predict": lambda: torch_predict(config, model, Xt, out)}


def bench_config(config: Config, threads: int, repeats: int, predict_rows: int,
                 predict_seconds: float) -> dict[str, Any]:
    """Samples/s of every framework (medians over interleaved repeats), the raw rates, and the
    CPU other processes used meanwhile."""
    since = cpu_snapshot()
    trainers = training_runs(config, threads)
    predictors = predict_runs(config, predict_rows)
    for run, _, _ in trainers.values():  # warm-up: one epoch each
        run(1)
    for predict in predictors.values():
        predict()
    rates: dict[str, list[float]] = {name: [] for name in (*FRAMEWORKS, *PREDICTORS)}
    for _ in range(repeats):
        for name, (run, samples, epochs) in trainers.items():
            rates[name].append(samples * epochs / run(epochs))
        for name, predict in predictors.items():
            rates[name].append(throughput(predict, predict_rows, predict_seconds))
    return {"config": asdict(config), "repeats": rates, "other_load": other_load(since),
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
def proc_status_kib(field: str) -> int:
    """A ``kB`` field (VmRSS, VmHWM) of /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(request: dict[str, Any]) -> dict[str, Any]:
    """Runs in the subprocess: MiB of peak RSS above the data during one epoch of training.

    Everything is imported and the data and labels are made before the baseline; then the peak
    (VmHWM) is reset to the current RSS by writing 5 to /proc/self/clear_refs.
    """
    config, framework, threads = CONFIGS[request["config"]], request["framework"], request["threads"]
    dp.blas.set_backend(request["gemm"])
    X, y = make_data(config, request["samples"])
    Xt, yt = torch.from_numpy(X), torch_targets(config, y)
    with thread_count(threads):
        baseline = proc_status_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        if framework == "deltaprop":
            dp_train(config, X, y, 1, threads)
        else:
            torch.manual_seed(0)
            torch_train_epochs(torch_model(config), Xt, yt, config, 1)
        peak = proc_status_kib("VmHWM")
    return {"mib_above_data": (peak - baseline) / 1024, "baseline_mib": baseline / 1024,
            "data_mib": (X.nbytes + y.nbytes) / MIB}


def measure_memory(config: Config, framework: str, threads: int, samples: int) -> dict[str, Any]:
    """Run :func:`memory_child` in a fresh interpreter and return its result."""
    request = json.dumps({"config": config.name, "framework": framework, "threads": threads,
                          "samples": samples, "gemm": dp.blas.backend()})
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", request],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- default settings under load ------------------------------------------------------------------
@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """Another process keeping one core busy for the duration."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        yield
    finally:
        spinner.kill()
        spinner.wait()


def bench_load(config: Config, repeats: int) -> dict[str, Any]:
    """deltaprop samples/s with default thread settings (fit without ``threads=``), idle and with
    one core busy, interleaved; the slowdown is the ratio of the medians."""
    since = cpu_snapshot()  # the spinner is a waited-for child: it counts as our own CPU
    X, y = make_data(config, config.samples)
    dp_train(config, X, y, 1, "auto")  # warm-up
    idle, loaded = [], []
    samples = config.samples * config.epochs
    for _ in range(repeats):
        idle.append(samples / dp_train(config, X, y, config.epochs, "auto"))
        with busy_core():
            loaded.append(samples / dp_train(config, X, y, config.epochs, "auto"))
    idle_median, loaded_median = statistics.median(idle), statistics.median(loaded)
    return {"idle": idle, "loaded": loaded, "idle_median": idle_median, "loaded_median": loaded_median,
            "slowdown": idle_median / loaded_median, "other_load": other_load(since)}


# -- environment ----------------------------------------------------------------------------------
def blas_info() -> list[dict[str, Any]]:
    """internal_api, architecture, version, num_threads of every BLAS threadpoolctl sees."""
    keys = ("internal_api", "architecture", "version", "num_threads", "prefix")
    return [{key: pool.get(key) for key in keys} for pool in threadpool_info() if pool["user_api"] == "blas"]


def numpy_blas() -> dict[str, Any]:
    """The BLAS NumPy itself is linked against (the one deltaprop and scikit-learn use)."""
    for pool in threadpool_info():
        if pool["user_api"] == "blas" and "numpy" in pool.get("filepath", ""):
            return pool
    return blas_info()[0] if blas_info() else {}


def machine_info() -> dict[str, Any]:
    """CPU model and core count (lscpu), versions, the BLAS kernels, the date."""
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
        "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
        "sklearn": sklearn.__version__, "threadpoolctl": threadpoolctl.__version__,
        "deltaprop": dp.__version__, "deltaprop_gemm": dp.blas.backend(), "blas": blas_info(),
        "numpy_blas": numpy_blas(),
        "torch_parallel": torch.__config__.parallel_info().splitlines()[-1].strip(),
        "unset_for_this_process": os.environ.get(_UNSET_MARKER, ""),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


# -- verdicts and tables --------------------------------------------------------------------------
def verdict(value: float, target: float | None, at_most: bool = False) -> str:
    """"PASS"/"FAIL" against a target (at least, or at most), "" without one."""
    if target is None:
        return ""
    return "PASS" if (value <= target if at_most else value >= target) else "FAIL"


def summarize(name: str, threads: int, measured: dict[str, Any], peak_gflops: float) -> dict[str, Any]:
    """The derived columns of one configuration: ratios, GEMM fraction, verdicts."""
    config, median = CONFIGS[name], measured["median"]
    dp_rate = median["deltaprop"]
    row: dict[str, Any] = {
        "config": name, **{f"{key}_samples_s": value for key, value in median.items()},
        "dp_torch": dp_rate / median["torch"], "dp_torch_target": TORCH_RATIO_TARGETS.get(name),
        "dp_sk32": dp_rate / median["sklearn32"], "dp_sk32_target": SKLEARN_RATIO_TARGET,
        "dp_sk64": dp_rate / median["sklearn64"],
        "gemm_fraction": dp_rate * config.train_flops_per_sample / (peak_gflops * 1e9),
        "gemm_fraction_target": GEMM_FRACTION_TARGETS.get((name, threads)),
        "predict_ratio": median["deltaprop_predict"] / median["torch_predict"],
        "predict_ratio_target": PREDICT_RATIO_TARGET, "other_load": measured["other_load"],
    }
    for key in ("dp_torch", "dp_sk32", "gemm_fraction", "predict_ratio"):
        row[f"{key}_verdict"] = verdict(row[key], row[f"{key}_target"])
    return row


def rate(value: float) -> str:
    return f"{value:,.0f}"


def ratio_cell(value: float, verdict_text: str, suffix: str = "x") -> str:
    return f"{value:.2f}{suffix} {verdict_text}".strip()


def training_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the per-configuration table."""
    header = ["config", "deltaprop/s", "torch/s", "sklearn32/s", "sklearn64/s", "dp/torch", "dp/sk32",
              "GEMM frac", "dp predict/s", "torch no_grad/s", "predict ratio", "others' CPU"]
    cells = [[
        r["config"], rate(r["deltaprop_samples_s"]), rate(r["torch_samples_s"]),
        rate(r["sklearn32_samples_s"]), rate(r["sklearn64_samples_s"]),
        ratio_cell(r["dp_torch"], f'{r["dp_torch_verdict"]} (>={r["dp_torch_target"]:g})'),
        ratio_cell(r["dp_sk32"], r["dp_sk32_verdict"]),
        f'{r["gemm_fraction"]:.0%} {r["gemm_fraction_verdict"]}'.strip(),
        rate(r["deltaprop_predict_samples_s"]), rate(r["torch_predict_samples_s"]),
        ratio_cell(r["predict_ratio"], r["predict_ratio_verdict"]), f'{r["other_load"]:.2f}',
    ] for r in rows]
    return header, cells


def memory_table(memory: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["config", "deltaprop MiB", "torch MiB", "target", "data MiB"]
    cells = []
    for name, result in memory.items():
        target = MEMORY_TARGETS_MIB.get(name)
        dp_mib = result["deltaprop"]["mib_above_data"]
        cells.append([name, f"{dp_mib:.1f}", f'{result["torch"]["mib_above_data"]:.1f}',
                      f"<= {target:g} {verdict(dp_mib, target, at_most=True)}" if target else "",
                      f'{result["deltaprop"]["data_mib"]:.1f}'])
    return header, cells


def load_table(load: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["config", "idle/s", "one core busy/s", "slowdown", "others' CPU"]
    cells = [[name, rate(r["idle_median"]), rate(r["loaded_median"]),
              f'{r["slowdown"]:.2f}x (< {LOAD_SLOWDOWN_TARGET:g}) '
              f'{verdict(r["slowdown"], LOAD_SLOWDOWN_TARGET, at_most=True)}', f'{r["other_load"]:.2f}']
             for name, r in load.items()]
    return header, cells


def format_text(header: list[str], cells: list[list[str]]) -> str:
    """A plain-text table, first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, cells)])


def format_markdown(header: list[str], cells: list[list[str]]) -> str:
    rows = [header, ["---"] + ["---:"] * (len(header) - 1), *cells]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


TARGETS_LINE = (f"Targets: dp/torch as shown; dp/sk32 >= {SKLEARN_RATIO_TARGET:g}x; GEMM frac >= "
                f"{GEMM_FRACTION_TARGETS[('large', 1)]:.0%} on large at 1 thread; predict ratio >= "
                f"{PREDICT_RATIO_TARGET:g}x")


def gemm_line(gemm: dict[str, Any]) -> str:
    backends = [key.removeprefix("square_gflops_") for key in gemm if key.startswith("square_gflops_")]
    measured = "; ".join(f'{name}: {gemm["square_size"]}^3 {gemm["square_gflops_" + name]:.1f}, large '
                         f'network step {gemm["large_step_gflops_" + name]:.1f}' for name in backends)
    return (f'GEMM float32 GFLOP/s ({measured}); peak {gemm["peak_gflops"]:.1f} GFLOP/s '
            f'(others\' CPU {gemm["other_load"]:.2f})')


def busy_warning(loads: dict[str, float]) -> list[str]:
    """A warning line if other processes kept the machine busy during any of the measurements."""
    busiest = max(loads, key=loads.__getitem__)
    if loads[busiest] <= BUSY_MACHINE_CORES:
        return []
    return [f"WARNING: other processes kept {loads[busiest]:.2f} cores busy during {busiest}; "
            "these numbers are not reliable"]


def sections(results: dict[str, Any]) -> Iterator[tuple[str, str | None, tuple[list[str], list[list[str]]]]]:
    """(title, note, table) of every table of the report, in order."""
    for run in results["runs"]:
        threads = run["threads"]
        loads = {"the GEMM peak": run["gemm"]["other_load"],
                 **{row["config"]: row["other_load"] for row in run["rows"]}}
        notes = [gemm_line(run["gemm"]), TARGETS_LINE, *busy_warning(loads)]
        yield (f"{threads} thread{'s' if threads > 1 else ''}: training and inference samples/s",
               "\n".join(notes), training_table(run["rows"]))
        if run["memory"]:
            yield (f"{threads} thread{'s' if threads > 1 else ''}: peak memory above the data, one epoch of "
                   f"{results['settings']['memory_samples']:,} samples", None, memory_table(run["memory"]))
    if results["load"]:
        loads = {name: r["other_load"] for name, r in results["load"].items()}
        yield ("deltaprop default thread settings, idle vs. another process keeping one core busy",
               "\n".join(busy_warning(loads)) or None, load_table(results["load"]))


def machine_lines(machine: dict[str, Any]) -> list[str]:
    blas = machine["numpy_blas"]
    unset = machine["unset_for_this_process"] or "neither was set"
    return [
        f'Machine: {machine["cpu"]}, {machine["cpus"]} CPUs ({machine["cores_per_socket"]} cores/socket, '
        f'{machine["threads_per_core"]} thread/core)',
        f'Python {machine["python"]}, numpy {machine["numpy"]}, torch {machine["torch"]}, '
        f'scikit-learn {machine["sklearn"]}, threadpoolctl {machine["threadpoolctl"]}, '
        f'deltaprop {machine["deltaprop"]} (large products by {machine["deltaprop_gemm"]})',
        f'NumPy BLAS: {blas.get("internal_api")} {blas.get("version")}, kernel {blas.get("architecture")}, '
        f'{blas.get("num_threads")} threads by default; PyTorch: {machine["torch_parallel"]}',
        f"OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for this process: {unset}",
        f'Date: {machine["date"]}',
    ]


def report_text(results: dict[str, Any]) -> str:
    parts = ["\n".join(machine_lines(results["machine"]))]
    for title, note, table in sections(results):
        parts.append("\n".join([f"== {title} ==", *([note] if note else []), format_text(*table)]))
    parts.append(f'Total time: {results["seconds"]:.0f} s')
    return "\n\n".join(parts)


def report_markdown(results: dict[str, Any]) -> str:
    settings = results["settings"]
    parts = ["# deltaprop benchmark results",
             "\n".join(f"- {line}" for line in machine_lines(results["machine"])),
             f'Command: `{settings["command"]}` (medians of {settings["repeats"]} interleaved repeats; '
             f'{results["seconds"]:.0f} s in total). Columns: see benchmarks/README.md.']
    for title, note, table in sections(results):
        notes = note.splitlines() if note else []
        parts.append("\n\n".join([f"## {title}", *notes, format_markdown(*table)]))
    return "\n\n".join(parts) + "\n"


# -- main -----------------------------------------------------------------------------------------
def parse_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="comma-separated BLAS/PyTorch thread counts")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated configurations")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed repeats per framework")
    parser.add_argument("--memory-configs", default=None,
                        help="configurations whose peak memory is measured (default: all of --configs; "
                             "'none' skips)")
    parser.add_argument("--memory-samples", type=int, default=60_000, help="samples of the memory epoch")
    parser.add_argument("--predict-seconds", type=float, default=0.25,
                        help="minimum seconds of each predict timing")
    parser.add_argument("--predict-rows", type=int, default=16_384, help="rows per predict call")
    parser.add_argument("--gemm-size", type=int, default=2048, help="side of the square GEMM peak")
    parser.add_argument("--gemm", choices=("auto", "numpy", "mkl"), default="numpy",
                        help="deltaprop's GEMM backend (deltaprop.blas.set_backend; NumPy is "
                             "deltaprop's default, mkl needs deltaprop[mkl])")
    parser.add_argument("--load", action="store_true",
                        help="also time deltaprop medium and large with default threads under one busy core")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny sizes, 1 repeat, memory of large only on 6,000 samples")
    parser.add_argument("--json", metavar="PATH", help="write every number as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write a markdown report (for RESULTS.md)")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.thread_counts = [int(t) for t in parse_list(args.threads)]
    args.config_names = parse_list(args.configs)
    unknown = set(args.config_names) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configurations {sorted(unknown)}; choose from {list(CONFIGS)}")
    if args.quick:
        args.repeats, args.predict_seconds, args.predict_rows, args.gemm_size = 1, 0.02, 4096, 1024
        args.memory_samples = 6_000
        if args.memory_configs is None:
            args.memory_configs = "large"
    memory = parse_list(args.memory_configs) if args.memory_configs is not None else args.config_names
    args.memory_names = [] if memory == ["none"] else memory
    return args


def run_thread_count(threads: int, configs: list[Config], args: argparse.Namespace) -> dict[str, Any]:
    """Every table of one thread count: GEMM peak, interleaved benchmarks, memory."""
    gemm = measure_gemm_peak(threads, args.gemm_size, repeats=3 if args.quick else 10)
    rows, raw = [], {}
    for config in configs:
        print(f"[{threads} thread(s)] {config.name} ...", file=sys.stderr, flush=True)
        with thread_count(threads):
            raw[config.name] = bench_config(config, threads, args.repeats, args.predict_rows,
                                            args.predict_seconds)
        rows.append(summarize(config.name, threads, raw[config.name], gemm["peak_gflops"]))
    memory = {}
    for name in args.memory_names:
        print(f"[{threads} thread(s)] memory {name} ...", file=sys.stderr, flush=True)
        memory[name] = {fw: measure_memory(CONFIGS[name], fw, threads, args.memory_samples)
                        for fw in ("deltaprop", "torch")}
    return {"threads": threads, "gemm": gemm, "rows": rows, "raw": raw, "memory": memory}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(json.loads(args.memory_child))))
        return
    dp.blas.set_backend(args.gemm)
    started = time.perf_counter()
    configs = [quick_config(CONFIGS[n]) if args.quick else CONFIGS[n] for n in args.config_names]
    results: dict[str, Any] = {"machine": machine_info(), "runs": [], "load": {}}
    for threads in args.thread_counts:
        results["runs"].append(run_thread_count(threads, configs, args))
    if args.load:
        for name in LOAD_CONFIGS:
            print(f"[default threads] load {name} ...", file=sys.stderr, flush=True)
            config = quick_config(CONFIGS[name]) if args.quick else CONFIGS[name]
            results["load"][name] = bench_load(config, max(args.repeats, 3))
    results["seconds"] = time.perf_counter() - started
    results["settings"] = {key: value for key, value in vars(args).items() if key != "memory_child"}
    results["settings"]["command"] = " ".join(["python benchmarks/bench.py", *sys.argv[1:]])
    print(report_text(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report_markdown(results))


if __name__ == "__main__":
    main()
