"""What Python hands the compiled kernels for a run of minibatches: its rows as one index array
(:func:`run_plan`), the learning rate of each of its steps, and the optimizer as the kernels see
it (a code, its state arrays, its constants). Shared by the run kernel's calls
(:mod:`.engine`) and the step taken in parts around an all-reduce (:mod:`.reduced`).
"""

from __future__ import annotations

import numpy as np

from deltaprop.data.batches import Minibatches
from deltaprop.engine.compiled import codes
from deltaprop.engine.compiled.update import HYPER
from deltaprop.optim import SGD, Adam, Optimizer
from deltaprop.optim.schedules import Constant, Cosine, InverseScaling, StepDecay
from deltaprop.optim.sgd import MAX_STEP

Array = np.ndarray


def largest(starts: Array) -> int:
    """The most rows of a minibatch of the run whose minibatches begin at ``starts``."""
    return int(np.max(np.diff(starts))) if starts.shape[0] > 1 else 1


def flat(X: Array) -> Array:
    """X as the kernels read it: one flat C-ordered vector, row r at r * n_inputs (a view)."""
    return np.ascontiguousarray(X).reshape(-1)


def run_plan(minibatches: Minibatches) -> tuple[Array, Array]:
    """The run's rows as one index array and where each minibatch starts in it (and the end)."""
    if minibatches.order is not None:
        order = np.ascontiguousarray(minibatches.order, dtype=np.int64)
        n, batch = order.shape[0], minibatches.batch
        starts = np.minimum(np.arange(0, -(-n // batch) + 1, dtype=np.int64) * batch, n)
        return order, starts
    parts = [np.arange(r.start, r.stop) if isinstance(r, slice) else np.asarray(r)
             for r in minibatches.rows]
    lengths = np.array([0] + [p.shape[0] for p in parts], dtype=np.int64)
    order = np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)
    return order, np.cumsum(lengths)


def learning_rates(optimizer: Optimizer, n_steps: int) -> Array:
    """eta of each of the run's next ``n_steps`` steps, as the optimizer's own step would read
    it: constant within a run for the schedules of epochs, 1/t^p for inverse scaling, and any
    other schedule asked step by step."""
    t = np.arange(optimizer.t + 1, optimizer.t + n_steps + 1, dtype=np.float64)
    schedule = optimizer.schedule
    if type(schedule) in (Constant, Cosine, StepDecay):  # they read the epoch only
        return np.full(n_steps, optimizer.lr_at(optimizer.t + 1))
    if type(schedule) is InverseScaling:
        return optimizer.lr / t ** schedule.power_t
    return np.array([optimizer.lr_at(int(step)) for step in t], dtype=np.float64)


def optimizer_arrays(optimizer: Optimizer, theta: Array) -> tuple[int, Array, Array, Array]:
    """The kernel's optimizer code, its state arrays (the optimizer's own, so that checkpoints
    and later NumPy steps see them) and its constants (``HYPER``)."""
    empty = np.empty(0, theta.dtype)
    clip = float(optimizer.clip_norm or 0.0)
    if type(optimizer) is Adam:
        m, v = optimizer._workspace("m", theta), optimizer._workspace("v", theta)
        return codes.ADAM, m, v, _hyper(0.0, optimizer.beta1, optimizer.beta2, optimizer.eps, clip, 0.0)
    assert type(optimizer) is SGD
    hyper = _hyper(optimizer.momentum, 0.0, 0.0, 0.0, clip, MAX_STEP)
    if not optimizer.momentum:
        return codes.SGD, empty, empty, hyper
    kind = codes.NESTEROV if optimizer.nesterov else codes.MOMENTUM
    return kind, optimizer._workspace("velocity", theta), empty, hyper


def _hyper(*values: float) -> Array:
    assert len(values) == len(HYPER)
    return np.array(values, dtype=np.float64)
