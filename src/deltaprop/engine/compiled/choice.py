"""Which engine a training run gets, and why: ``fit(engine="auto" | "numpy" | "compiled")``.

The compiled engine (:mod:`deltaprop.engine.compiled.engine`) covers networks of dense layers
with built-in activations (and BatchNorm between a dense layer and its activation), the
built-in losses, SGD (momentum, Nesterov) and Adam with any schedule and clipping, L2 and L1,
sample weights, float32 and float64, every batch size and both samplings, on dense inputs (a
scipy.sparse X trains on NumPy, whose first layer takes sparse rows), in one process or
data-parallel over MPI (``comm=``: each step in parts around the all-reduce, :mod:`.reduced`;
there without BatchNorm or Dropout, whose synchronized statistics and masks are the NumPy
engine's). The rest runs on the NumPy engine, the reference: :func:`uncovered` names what a
model has that the kernels do not.

``"auto"`` runs the compiled engine where it is covered and worth it. Compiling the kernels
takes seconds the first time (then they load from Numba's disk cache in a fraction of one), so
while they are not compiled, a run that the NumPy engine would finish sooner than the compile
stays with NumPy. The history records the engine that ran and, when "auto" chose NumPy, why.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from deltaprop.callbacks.base import Callback
from deltaprop.callbacks.stopping import TimeLimit
from deltaprop.engine.compiled.codes import ACTIVATION_CODES, LOSS_CODES
from deltaprop.engine.compiled.structure import units
from deltaprop.engine.threads import planned_threads, step_flops
from deltaprop.losses import LOSSES
from deltaprop.optim import SGD, Adam

ENGINES = ("auto", "numpy", "compiled")
COMPILE_SECONDS = 9.0  # building the kernels of one dtype, once per install (measured: 7.0-11.3 s)
LOAD_SECONDS = 0.4  # importing Numba and loading the kernels from its disk cache (measured: 0.3-0.4 s)
NUMPY_STEP_SECONDS = 20e-6  # a NumPy step's call overhead per dense layer (measured: digits, tiny)
NUMPY_FLOPS_PER_SECOND = 30e9  # ... and its arithmetic, one core
# The compiled run itself is not free: it pays back a cost c only where NumPy would take more
# than 2c (the compiled engine measured 1-8x faster, so its run takes up to the NumPy time).
PAYBACK = 2.0


def check_engine(engine: Any) -> str:
    """``engine`` if it is one of :data:`ENGINES`, else a ValueError naming them."""
    if not isinstance(engine, str) or engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    return engine


def numba_installed() -> bool:
    """Whether Numba can be imported (the ``fast`` extra)."""
    return importlib.util.find_spec("numba") is not None


def uncovered(net: Any, loss: Any, optimizer: Any, reduction: Any = None,
              callbacks: Sequence[Any] = (), rows_drawn_in_run: bool = False,
              sparse: bool = False) -> str | None:
    """Why the compiled engine cannot train this model, in words; None when it can (the
    optimizer None: a backward pass without updates). ``rows_drawn_in_run``: the minibatches'
    rows are drawn while the steps run (random sampling), from the generator dropout draws
    from too. ``sparse``: the training inputs are a scipy.sparse matrix."""
    if sparse:  # the kernels gather dense rows; densifying X is what sparse input avoids
        return "the input X is sparse (scipy.sparse), and the compiled kernels take dense rows"
    if not numba_installed():
        return "Numba is not installed (pip install 'deltaprop[fast]')"
    found = units(net.layers)
    if isinstance(found, str):
        return found
    layers = _layers_uncovered(found, reduction, rows_drawn_in_run)
    if layers:
        return layers
    custom = [unit.activation.name for unit in found if unit.activation.name not in ACTIVATION_CODES
              or type(unit.activation).__module__ != "deltaprop.activations"]
    if custom:
        return f"the activation {custom[0]!r} is user-defined"
    if type(loss) not in LOSSES.values() or loss.name not in LOSS_CODES:
        return f"the loss {getattr(loss, 'name', loss)!r} is user-defined"
    if optimizer is not None and type(optimizer) not in (SGD, Adam):
        return f"the optimizer {type(optimizer).__name__} is user-defined"
    return _run_uncovered(net, reduction, callbacks)


def _layers_uncovered(found: list[Any], reduction: Any, rows_drawn_in_run: bool) -> str | None:
    """What of the BatchNorm and Dropout layers the kernels do not cover in this run: their
    draws in turn with the rows', and either under a reduction."""
    if rows_drawn_in_run and any(unit.dropout for unit in found):
        return ("random sampling with Dropout: rows and masks are drawn in turn from one "
                "generator, step by step")
    if reduces(reduction) and any(unit.norm for unit in found):
        return ("data-parallel training (comm=) with BatchNorm runs on the NumPy engine (which "
                "synchronizes its batch statistics over the ranks)")
    if reduces(reduction) and any(unit.dropout for unit in found):
        return ("data-parallel training (comm=) with Dropout runs on the NumPy engine (which "
                "draws its masks as one process would)")
    return None


def _run_uncovered(net: Any, reduction: Any, callbacks: Sequence[Any]) -> str | None:
    """What of the run the kernels do not cover: the dtype, a callback of every step (but
    under a reduction, where the steps are taken one by one, it sees every step)."""
    if np.dtype(net.dtype) not in (np.float32, np.float64):
        return f"the network's dtype is {np.dtype(net.dtype).name}"
    every_step = [type(c).__name__ for c in callbacks if not reduces(reduction)
                  and _has_batch_hook(c) and getattr(c, "needs_every_step", True)]
    if every_step:
        return f"the callback {every_step[0]} must see every step (on_batch_end)"
    return None


def reduces(reduction: Any) -> bool:
    """Whether ``reduction`` sums gradients over processes (any but the local one)."""
    return reduction is not None and type(reduction).__name__ != "LocalReduction"


def _has_batch_hook(callback: Any) -> bool:
    """Whether the callback really has an ``on_batch_end`` (not the base class's no-op)."""
    hook = getattr(type(callback), "on_batch_end", None)
    return hook is not None and hook is not Callback.on_batch_end


def choose(engine: str, net: Any, loss: Any, optimizer: Any, *, batch_size: int, steps: int,
           reduction: Any = None, callbacks: Sequence[Any] = (), build: bool = True,
           rows_drawn_in_run: bool = False, threads: int | str | None = "auto",
           sparse: bool = False) -> tuple[str, str]:
    """The engine that runs (``"numpy"`` or ``"compiled"``) and why "auto" chose NumPy ("" when
    it did not, or when it was asked for). ``steps`` is the run's length (what it would cost
    on NumPy); with ``build=False`` "auto" takes the compiled engine only when its kernels are
    built (then whatever ``steps``), never building them. ``threads`` is fit's BLAS policy: a
    step bound by its matrix products that NumPy's BLAS runs on several threads stays on NumPy
    (the compiled engine's loops run on one; measured on large at two threads: NumPy 22.5k
    samples/s, compiled 16.4k). ``sparse``: the training X is a scipy.sparse matrix, which
    only the NumPy engine takes.

    Raises
    ------
    ValueError
        For ``engine="compiled"`` on a model the kernels do not cover, naming what.
    """
    engine = check_engine(engine)
    if engine == "numpy":
        return "numpy", ""
    reason = uncovered(net, loss, optimizer, reduction, callbacks, rows_drawn_in_run, sparse)
    if engine == "compiled":
        reason = _agreed(reduction, reason)
        if reason is not None:
            raise ValueError(f"engine='compiled' cannot train this model: {reason}; use "
                             "engine='auto' (or 'numpy') for the NumPy engine")
        return _loaded("compiled", "")
    blas_threads = planned_threads(net, batch_size, threads)
    if reason is None and blas_threads > 1:
        reason = (f"the step is bound by its matrix products, which NumPy's BLAS runs on "
                  f"{blas_threads} threads (the compiled engine's own loops run on one)")
    parts = reduces(reduction)  # then the kernels of the step in parts are needed too
    if not build and reason is None and not _ready(net.dtype, parts):
        reason = "the compiled kernels are not built yet (`deltaprop build-kernels` builds them)"
    limits = [c.seconds for c in callbacks if isinstance(c, TimeLimit)]
    if build:
        reason = reason or _worth_compiling(net, batch_size, steps, min(limits, default=math.inf),
                                            parts)
    reason = _agreed(reduction, reason)
    return ("numpy", reason) if reason else _loaded("compiled", "")


def _agreed(reduction: Any, reason: str | None) -> str | None:
    """This process's reason to stay on NumPy, or under a reduction the first reason of any
    process: every rank must run the same engine, or their updates would round differently
    and the ranks part ways. (The reduction's agreement to stop is that very agreement.)"""
    return reduction.agree_to_stop(reason) if reduces(reduction) else reason


def _worth_compiling(net: Any, batch_size: int, steps: int, time_limit: float,
                     parts: bool = False) -> str | None:
    """Why "auto" keeps a covered run on NumPy: the compiled kernels would cost more to load
    (Numba's import and the disk cache) or to build than the whole run costs with NumPy (its
    steps, or its time limit). The choice depends on the run and on whether the kernels are
    built, never on what this process did before (Numba imported already or not): the same
    call gives the same weights."""
    numpy_seconds = min(time_limit, steps * (NUMPY_STEP_SECONDS * len(net.layers)
                                             + step_flops(net, batch_size) / NUMPY_FLOPS_PER_SECOND))
    about = f"this run (about {numpy_seconds:.2g} s with NumPy)"
    if numpy_seconds < PAYBACK * LOAD_SECONDS:
        return (f"{about} is too short to pay for the compiled kernels (loading them takes about "
                f"{LOAD_SECONDS:g} s, building them once per install about {COMPILE_SECONDS:g} s)")
    if numpy_seconds < PAYBACK * COMPILE_SECONDS and not _ready(net.dtype, parts):
        return (f"the compiled kernels are not built yet, and {about} is too short to pay for "
                f"building them (about {COMPILE_SECONDS:g} s, once per install; `deltaprop "
                "build-kernels` builds them ahead)")
    return None


def compiled_engine(net: Any, loss: Any, optimizer: Any, *, l2: float, l1: float,
                    reduction: Any = None) -> Any:
    """A :class:`~deltaprop.engine.compiled.engine.CompiledEngine` (imports Numba), its steps
    reduced by ``reduction`` (default local)."""
    from deltaprop.engine.compiled.engine import CompiledEngine

    return CompiledEngine(net, loss, optimizer, l2=l2, l1=l1, reduction=reduction)


def _ready(dtype: Any, parts: bool) -> bool:
    """Whether the kernels a run calls are built or cached: the run kernel, and with ``parts``
    (under a reduction) those of the step in parts too."""
    return _kernels_ready(dtype) and (not parts or _part_kernels_ready(dtype))


def _kernels_ready(dtype: Any) -> bool:
    """Whether the compiled run kernel for ``dtype`` is built or cached (imports Numba)."""
    from deltaprop.engine.compiled.engine import kernels_ready

    return kernels_ready(dtype)


def _part_kernels_ready(dtype: Any) -> bool:
    """Whether the kernels of the step in parts for ``dtype`` are built or cached."""
    from deltaprop.engine.compiled.engine import kernels_ready

    return kernels_ready(dtype, parts=True)


def _loaded(*choice: str) -> tuple[str, str]:
    """``choice``, once the compiled engine's module is imported (Numba, and SciPy's BLAS, which
    the BLAS thread policy must see loaded to limit it)."""
    import deltaprop.engine.compiled.engine  # noqa: F401

    return choice  # type: ignore[return-value]
