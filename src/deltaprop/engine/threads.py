"""How many BLAS threads training uses.

Policy of ``fit(threads="auto")`` (the default):

- A network whose training step is small (under ``SMALL_STEP_FLOPS`` floating-point operations)
  trains with one BLAS thread: for small matrices extra threads cost more in synchronization
  than they save.
- A larger network uses every core the process may run on, unless other processes are keeping
  a core busy. OpenBLAS threads wait for each other by spinning; when one of them shares its
  core with another busy process, every matrix product waits for the slowest thread, and
  training with two threads was measured 1.5-2.5x slower than with one on a 2-core machine
  with the other core busy (and up to 100x on other machines). So the policy measures the CPU
  time other processes used (``/proc/stat`` minus this process's own time) for 100 ms before
  training and then over every epoch, and drops to one thread while others use more than half a
  core, returning to all cores when they use less than a quarter.

``threads=N`` fixes the count; ``threads=None`` leaves BLAS alone. Limiting needs threadpoolctl
(the ``fast`` extra); without it ``"auto"`` leaves BLAS alone.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Any

from deltaprop._validation import check_positive
from deltaprop.callbacks.base import Callback

SMALL_STEP_FLOPS = 1e9
PROBE_SECONDS = 0.1  # the first reading, before training: one MIN_WINDOW_SECONDS
BUSY_CORES = 0.5  # others' load at which "auto" drops to one thread
IDLE_CORES = 0.25  # ... and below which it returns to all cores

_controller: Any = None
_controller_saw = (False, False)  # _blas_libraries() when the controller was made
MIN_WINDOW_SECONDS = 0.1  # /proc/stat counts in 10 ms ticks: shorter windows are noise


def step_flops(net: Any, batch_size: int) -> float:
    """Floating-point operations of the matrix products of one training step (forward, dW and
    the delta handed down: 3 products of 2 n_in n_out flops per sample and layer)."""
    return 6.0 * batch_size * sum(layer.n_in * layer.n_out for layer in net.dense_layers)


def is_small_step(net: Any, batch_size: int) -> bool:
    """Whether a training step is small enough that NumPy's per-call overhead, not arithmetic,
    sets its time (one BLAS thread; the cheap-call paths of the training loop)."""
    return step_flops(net, batch_size) < SMALL_STEP_FLOPS


def _blas_libraries() -> tuple[bool, bool]:
    """Which optional BLAS libraries are loaded: MKL (deltaprop.blas) and SciPy's OpenBLAS
    (the compiled engine's products)."""
    from deltaprop import blas

    return blas._mkl is not None, "scipy.linalg.cython_blas" in sys.modules


def _blas_controller() -> Any:
    """threadpoolctl's controller, or None without threadpoolctl. Made once (scanning the loaded
    libraries takes ~1 ms), and again once MKL or SciPy's BLAS has been loaded, so that it
    limits them too."""
    global _controller, _controller_saw

    if _controller is None or _blas_libraries() != _controller_saw:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return None
        _controller = ThreadpoolController()
        _controller_saw = _blas_libraries()
    return _controller


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class _CpuClock:
    """Machine-wide busy CPU seconds and this process's own, to infer the others' load."""

    def __init__(self) -> None:
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.mark()

    @staticmethod
    def _machine_busy_ticks() -> int | None:
        try:
            with open("/proc/stat") as stat:
                fields = [int(v) for v in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]) - idle  # user..steal; guest time is already in user

    def mark(self) -> None:
        times = os.times()
        self._t = time.perf_counter()
        self._busy = self._machine_busy_ticks()
        self._own = times.user + times.system

    def others_load(self) -> float | None:
        """Cores used by other processes since the last mark, which this moves; None where
        unknown, or when less than ``MIN_WINDOW_SECONDS`` have passed (the mark then stays)."""
        if time.perf_counter() - self._t < MIN_WINDOW_SECONDS:
            return None
        t, busy, own = self._t, self._busy, self._own
        self.mark()
        if busy is None or self._busy is None or self._t <= t:
            return None
        others = (self._busy - busy) / self.hz - (self._own - own)
        return max(others, 0.0) / (self._t - t)


_held_lock = threading.Lock()
_holders = 0  # runs holding a limit now
_original: list[dict[str, Any]] = []  # each BLAS library's threads before the first of them


def _set_blas_threads(controller: Any, threads: int, filepath: str | None = None) -> None:
    """Set the BLAS libraries' thread counts (or the one at ``filepath``); call holding
    ``_held_lock``.

    threadpoolctl lets one Python thread at a time set OpenBLAS's process-wide count (the first
    to set it, for as long as it lives) and silently ignores the others. A pool's long-lived
    thread that once set a limit (a run in joblib's threading backend, scikit-learn's own
    limiting) would so keep that control, and every later setting here, the restoring of the
    user's count included, would be lost. So each setting takes the control and hands it back at
    once; settings here are serialized by ``_held_lock`` instead.
    """
    selected = controller.select(user_api="blas", **({"filepath": filepath} if filepath else {}))
    releases = [getattr(type(library), "clear_controlling_thread", None)
                for library in selected.lib_controllers]  # None: a threadpoolctl without control
    for release in filter(None, releases):
        release(force=True)
    selected.limit(limits=threads)
    for release in filter(None, releases):
        release()


class HeldLimit:
    """A BLAS thread limit held while a run trains (``limits`` None: held, not changed).

    BLAS thread counts are process-wide (OpenBLAS keeps one count for all threads), so runs
    training at once in threads of one process (joblib's threading backend, the playground's server)
    share them: the first holder saves the counts, the last one restores them, and in between
    the latest setting holds. Each run saving and restoring its own would interleave -- A saves
    2 and sets 1, B saves A's 1, A restores 2, B restores 1 -- and leave the process at one
    thread after both.
    """

    def __init__(self, controller: Any, limits: int | None) -> None:
        self.controller, self.limits = controller, limits

    def __enter__(self) -> HeldLimit:
        global _holders, _original
        with _held_lock:
            if _holders == 0:
                _original = self.controller.select(user_api="blas").info()
            _holders += 1
            if self.limits is not None:
                _set_blas_threads(self.controller, self.limits)
        return self

    def __exit__(self, *exc: Any) -> None:
        global _holders
        with _held_lock:
            _holders -= 1
            if _holders == 0:
                for library in _original:
                    _set_blas_threads(self.controller, library["num_threads"], library["filepath"])

    @staticmethod
    def allowed() -> list[int]:
        """The threads each BLAS library had before any run limited it (what the user allowed:
        OPENBLAS_NUM_THREADS and the like); call while holding."""
        return [library["num_threads"] for library in _original]


class AdaptiveThreads(Callback):
    """The ``"auto"`` policy for a large network: all cores unless others keep a core busy.

    Used as a context around training and as a callback re-deciding after every epoch.
    """

    def __init__(self, controller: Any, max_threads: int) -> None:
        self.controller, self.max_threads = controller, max_threads
        self.threads = max_threads
        self.history: list[int] = []
        self._held = HeldLimit(controller, None)

    def __enter__(self) -> AdaptiveThreads:
        self._held.__enter__()
        # Never more threads than the user allowed.
        self.max_threads = self.threads = min([self.max_threads, *HeldLimit.allowed()])
        self.clock = _CpuClock()
        time.sleep(PROBE_SECONDS)
        self._decide(self.clock.others_load())
        return self

    def __exit__(self, *exc: Any) -> None:
        self._held.__exit__(*exc)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        self._decide(self.clock.others_load())

    def _decide(self, others: float | None) -> None:
        if others is not None:
            if others > BUSY_CORES:
                self.threads = 1
            elif others < IDLE_CORES:
                self.threads = self.max_threads
        with _held_lock:
            _set_blas_threads(self.controller, self.threads)
        self.history.append(self.threads)


def planned_threads(net: Any, batch_size: int, threads: int | str | None) -> int:
    """The BLAS threads a run starts with under ``threads``: "auto" gives small steps (and
    single-core machines) one thread and large steps every core; None leaves BLAS at its own
    default, every core."""
    if isinstance(threads, int) and not isinstance(threads, bool):
        return threads
    if threads == "auto" and is_small_step(net, batch_size):
        return 1
    return available_cores()


def blas_threads_for(net: Any, batch_size: int, threads: int | str | None) -> Any:
    """The context (and, for the adaptive policy, callback) that applies ``threads`` to BLAS."""
    if threads is None:
        return contextlib.nullcontext()
    controller = _blas_controller()
    if threads == "auto":
        if controller is None:
            return contextlib.nullcontext()
        if planned_threads(net, batch_size, threads) == 1:
            return HeldLimit(controller, 1)
        return AdaptiveThreads(controller, available_cores())
    n_threads = check_positive("threads", threads, integer=True)
    if controller is None:
        raise ImportError("threads=N needs threadpoolctl: pip install 'deltaprop[fast]'")
    return HeldLimit(controller, n_threads)
