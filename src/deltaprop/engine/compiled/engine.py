"""CompiledEngine: the training step of :mod:`deltaprop.engine.step` run by the compiled kernels
(:mod:`deltaprop.engine.compiled.run`), a whole run of minibatches per call.

The same boundary as :class:`~deltaprop.engine.step.NumpyEngine`: ``begin(Y, w)``, ``run(...)``
for each run of minibatches, ``end()`` for the epoch's loss and gradient norms. What stays in
Python is per run, not per step: the run's rows as one index array, the learning rate of each
of its steps (any schedule), and the hooks. A run without hooks is one call; with hooks (a
progress bar, a time limit) it is cut into chunks of about ``CHUNK_SECONDS`` and the hooks run
between chunks, with the count of steps done. Chunks change nothing: the same steps in the same
order give the same weights. Under a gradient reduction that is not local (data-parallel over
MPI), the steps are taken one at a time, each in parts around the all-reduce
(:mod:`.reduced`), the hooks after every one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (the kernels' BLAS: loaded now, where thread limits see it)

from deltaprop.data.batches import Minibatches
from deltaprop.engine.compiled import (
    activation,
    batchnorm,
    borrow,
    cache,
    codes,
    dense,
    dropout,
    reduced,
    run,
    update,
)
from deltaprop.engine.compiled import loss as loss_kernels
from deltaprop.engine.compiled import parts as part_kernels
from deltaprop.engine.compiled.plan import flat, largest, learning_rates, optimizer_arrays, run_plan
from deltaprop.engine.compiled.structure import units
from deltaprop.engine.epoch_loss import loss_mean
from deltaprop.engine.reduction import Hook, LocalReduction, Reduction, run_view
from deltaprop.engine.step import EpochStats, EpochTally, Trainable
from deltaprop.layers import BatchNorm, Dense
from deltaprop.losses import Loss, SquaredError
from deltaprop.optim import SGD, Optimizer
from deltaprop.parameters import bind_flat_buffers

Array = np.ndarray
CHUNK_SECONDS = 0.05  # between the hooks' calls, when a run has hooks
MASK_BYTES = 16 * 2**20  # the most dropout draws held at once (a run is cut into calls below it)
# A layer's products go to BLAS from this many multiply-adds (B n_in n_out) on: below, the
# loops win (no call, no gathered copy). Measured on tiny (64-32-10): BLAS for the first layer
# at batch 32 (65k) gave 1.69M samples/s against 1.07M by loops; at batch 1 the loops win.
BLAS_MACS = 32768


class CompiledEngine:
    """The training step compiled, over one network (of dense layers), loss and optimizer.

    Making one builds the kernels for the network's dtype, or loads them from Numba's disk
    cache (``build_seconds``), before any step.

    Parameters
    ----------
    net : Network
        A chain of dense layers with built-in activations, each optionally with a BatchNorm
        before its activation and a Dropout after it (:mod:`.structure`;
        :func:`deltaprop.engine.compiled.choice.uncovered` says what is not covered).
    loss : Loss
        A built-in loss.
    optimizer : SGD or Adam, optional
        Needed by :meth:`run` only.
    l2, l1 : float
        Weight decay on W, never on b.
    reduction : Reduction, optional
        How a minibatch's gradient is assembled (:mod:`deltaprop.engine.reduction`); default
        local (a whole run per call). Any other (MPI) takes each step in parts around it
        (:mod:`.reduced`), on networks without BatchNorm or Dropout.
    build : bool
        Build (or load) the kernels now; False for an engine that only describes arguments.
    """

    name = "compiled"

    def __init__(self, net: Trainable, loss: Loss, optimizer: Optimizer | None = None, *,
                 l2: float = 0.0, l1: float = 0.0, reduction: Reduction | None = None,
                 build: bool = True) -> None:
        self.net, self.loss, self.optimizer = net, loss, optimizer
        reduces = reduction is not None and not isinstance(reduction, LocalReduction)
        # before the run's clock
        self.build_seconds = build_kernels(net.dtype, parts=reduces) if build else 0.0
        self.l2, self.l1 = float(l2), float(l1)
        self.theta, self.grad, self.dtype = net.theta, net.grad, net.dtype
        self.layers, self.params, self.norms = layer_table(net)
        self.stats = np.zeros(2 * sum(norm.n_out for norm in self.norms), net.dtype)  # type: ignore[misc]
        self._saved_stats = np.empty_like(self.stats)
        dropped = self.layers[:, codes.DROPPED] == 1
        self.mask_width = int(self.layers[dropped, codes.N_OUT].sum())  # draws per row and step
        self.rng = next((unit.dropout.rng for unit in units(net.layers) if unit.dropout), None)  # type: ignore[union-attr]
        self._frozen_draws: Array | None = None  # the gradient check's fixed masks
        self.loss_code = codes.LOSS_CODES[loss.name]
        self.fused = bool(loss.fused and net.output_layer.activation.name == loss.output_activation)
        self.tally = EpochTally([0.0] * self.layers.shape[0])
        self.step_norms = np.zeros(self.layers.shape[0])
        self._buffers_rows = 0
        self._sums = np.zeros(4)
        self._layer_sums = np.zeros(self.layers.shape[0])
        self.parts = reduced.PartSteps(self, reduction) if reduces else None  # type: ignore[arg-type]

    # -- an epoch ------------------------------------------------------------------------------
    def begin(self, Y: Array | None, w: Array | None) -> None:
        """Start an epoch."""
        self.tally.squared_norms[:] = [0.0] * len(self.tally.squared_norms)
        self.tally.steps, self.tally.diverged = 0, False
        self._sums[:] = 0.0
        self._layer_sums[:] = 0.0

    def run(self, minibatches: Minibatches, view: Any = None, after_step: Sequence[Hook] = ()) -> bool:
        """Take a step on each minibatch (see :meth:`NumpyEngine.run
        <deltaprop.engine.step.NumpyEngine.run>`); True when every one was taken. Under a
        reduction, one step at a time (:class:`~.reduced.PartSteps`)."""
        if self.parts is not None:
            return self.parts.run(minibatches, view, after_step)
        optimizer = self.optimizer
        assert optimizer is not None, "run() needs an optimizer"
        order, starts = run_plan(minibatches)
        n_steps = starts.shape[0] - 1
        lrs = learning_rates(optimizer, n_steps)
        view = run_view(view)
        self._ensure_buffers(largest(starts))
        first, chunk = 0, n_steps if not after_step else 1
        most = self._steps_per_draw(largest(starts))
        while first < n_steps:
            last = min(first + min(chunk, most), n_steps)
            began = time.perf_counter()
            taken, status = self._call(minibatches, order, starts, first, last, lrs)
            self._advance(optimizer, taken, lrs, first)
            for hook in after_step:
                hook(view, self.tally.steps)
            if status == codes.DIVERGED:
                self.tally.diverged = True
                return False
            if view.stop_reason is not None:
                return False
            first = last
            chunk = next_chunk(chunk, time.perf_counter() - began)
        return True

    def end(self) -> EpochStats:
        """The epoch's loss and mean gradient norms (NaN and diverged after a refused step)."""
        parts = self.parts  # under a reduction, the loss over every rank's samples
        mean = self.run_loss() if parts is None else parts.reduction.epoch_mean(parts)
        squared = [float(s) for s in self._layer_sums]
        self.tally.squared_norms[:] = squared
        taken = max(self.tally.steps, 1)
        if self.tally.diverged or not math.isfinite(mean):
            return EpochStats(math.nan, np.full(len(squared), math.nan), math.nan, True)
        return EpochStats(mean, np.sqrt(np.array(squared) / taken), math.sqrt(sum(squared) / taken), False)

    def run_loss(self) -> float:
        """The loss of the steps of the runs since :meth:`begin` (one step: its loss), with the
        decay term; recorded before each update, a refused step's included."""
        total, weight, penalties, steps = map(float, self._sums)
        return loss_mean(total, weight, penalties, int(steps))

    def deltas(self, rows: int) -> list[Array]:
        """delta_l of every layer for the last minibatch (of ``rows`` rows), as copies of shape
        (rows, n_l)."""
        D = self._work[2]
        return [D[start * rows:(start + n) * rows].reshape(rows, n).copy()
                for start, n in zip(self.layers[:, codes.WORK_OFFSET], self.layers[:, codes.N_OUT])]

    # -- one batch, no update (the gradient check) ------------------------------------------
    def loss_and_gradient(self, X: Array, Y: Array, scale: Array | None = None) -> float:
        """The batch's loss (the weighted mean with ``scale``) with the decay term, and its
        gradient in ``grad``; no update."""
        rows = np.arange(X.shape[0], dtype=np.int64)
        self._ensure_buffers(X.shape[0])
        w = np.empty(0, self.dtype) if scale is None else np.ascontiguousarray(scale, self.dtype)
        self._stats_in()
        if self._frozen_draws is None or self._frozen_draws.shape[0] != X.shape[0] * self.mask_width:
            self._frozen_draws = self._draws(np.array([0, X.shape[0]]), 0, 1)[0]  # then held fixed
        total, weight = run.gradient(flat(X), Y, w, scale is not None, rows, 0, X.shape[0],
                                     self.theta, self.grad, self.layers, self.params, self.loss_code,
                                     self.fused, *self._work, self.stats, self._frozen_draws)
        penalty = run.decay_and_norms(self.theta, self.grad, self.layers, self.l2, self.l1,
                                      self.step_norms)
        return float(total / weight + penalty) if weight > 0 else float(penalty)

    # -- the kernel's arguments ------------------------------------------------------------------
    def _call(self, minibatches: Minibatches, order: Array, starts: Array, first: int, last: int,
              lrs: Array) -> tuple[int, int]:
        """One call of the run kernel over steps first..last-1."""
        draws = self._draws(starts, first, last)
        self._stats_in()
        taken, status = run.run(*self._arguments(minibatches, order, starts, first, last,
                                                 self.optimizer.t, lrs, *draws))  # type: ignore[union-attr]
        self._stats_out()
        return int(taken), int(status)

    def _arguments(self, minibatches: Minibatches, order: Array, starts: Array, first: int,
                   last: int, t: int, lrs: Array, U: Array, u_starts: Array) -> tuple[Any, ...]:
        """The run kernel's arguments for steps first..last-1 (the optimizer at step ``t``)."""
        kind, m, v, hyper = optimizer_arrays(self.optimizer, self.theta)  # type: ignore[arg-type]
        w = minibatches.w
        return (flat(minibatches.X), minibatches.Y, w if w is not None else np.empty(0, self.dtype),
                w is not None, order, starts, first, last, self.theta, self.grad, m, v, self.layers,
                self.params, self.loss_code, self.fused, kind, t, lrs, hyper, self.l2, self.l1,
                *self._work, self.stats, self._saved_stats, U, u_starts, self._sums,
                self._layer_sums, self.step_norms)

    def _steps_per_draw(self, rows: int) -> int:
        """Steps per kernel call (of up to ``rows`` rows) whose dropout draws fit in
        ``MASK_BYTES`` (all of them, without dropout)."""
        if not self.mask_width:
            return 2**62
        return max(1, MASK_BYTES // (rows * self.mask_width * self.dtype.itemsize))

    def _draws(self, starts: Array, first: int, last: int) -> tuple[Array, Array]:
        """The dropout draws of steps first..last-1, in the NumPy engine's order (step by step,
        layer by layer: one draw), and where each step's begin."""
        sizes = np.diff(starts[first:last + 1]) * self.mask_width
        u_starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        if not self.mask_width:
            return np.empty(0, self.dtype), u_starts
        return self.rng.random(int(sizes.sum()), dtype=self.dtype), u_starts  # type: ignore[union-attr]

    def _stats_in(self) -> None:
        """The BatchNorms' running statistics into the kernels' flat ``stats`` (mean, then
        variance, per layer); :meth:`_stats_out` puts them back."""
        at = 0
        for norm in self.norms:
            n = norm.running_mean.shape[0]  # type: ignore[union-attr]
            self.stats[at:at + n], self.stats[at + n:at + 2 * n] = norm.running_mean, norm.running_var
            at += 2 * n

    def _stats_out(self) -> None:
        at = 0
        for norm in self.norms:
            n = norm.running_mean.shape[0]  # type: ignore[union-attr]
            norm.running_mean[...] = self.stats[at:at + n]  # type: ignore[index]
            norm.running_var[...] = self.stats[at + n:at + 2 * n]  # type: ignore[index]
            at += 2 * n

    def arguments(self, minibatches: Minibatches) -> tuple[Any, ...]:
        """A run's kernel arguments, no step taken (for asking whether its compiled code is
        cached: their types are the kernel's signature)."""
        order, starts = run_plan(minibatches)
        self._ensure_buffers(largest(starts))
        return self._arguments(minibatches, order, starts, 0, 0, 0, np.zeros(1),
                               np.empty(0, self.dtype), np.zeros(1, np.int64))

    def _advance(self, optimizer: Optimizer, taken: int, lrs: Array, first: int) -> None:
        """The optimizer's step count and learning rate, and the tally, after ``taken`` steps."""
        if taken:
            optimizer.t += taken
            optimizer.current_lr = float(lrs[first + taken - 1])
        self.tally.steps += taken

    def _ensure_buffers(self, rows: int) -> None:
        """Workspaces for minibatches of up to ``rows`` rows."""
        if rows <= self._buffers_rows:
            return
        widths = self.layers[:, codes.N_OUT]
        n_in = self.layers[:, codes.N_IN]
        size = rows * int(widths.sum())
        # Z, A, D (z_l, a_l, delta_l of every layer), G (the gradient handed down), gathered,
        # T and S (a BatchNorm's z_tilde and 1 / sqrt(var + eps)), P (the dropped outputs)
        normalized = self.layers[:, codes.NORMALIZED] == 1
        self._work = (np.empty(size, self.dtype), np.empty(size, self.dtype), np.empty(size, self.dtype),
                      np.empty(rows * int(n_in.max()), self.dtype), np.empty(rows * int(n_in[0]), self.dtype),
                      np.empty(size if normalized.any() else 0, self.dtype),
                      np.empty(int(widths.sum()), self.dtype),
                      np.empty(size if self.mask_width else 0, self.dtype))
        self._buffers_rows = rows


def layer_table(net: Trainable) -> tuple[Array, Array, list[BatchNorm]]:
    """The kernels' table of the network's units (:func:`~.choice.units`; one row each, the
    columns of :mod:`.codes`: offsets of W and b in theta, the widths, the activation's code,
    the offset of its workspaces, the batch size from which BLAS multiplies, and the
    BatchNorm's place), each unit's parameters (the activation's; the BatchNorm's eps and
    momentum), and the BatchNorm layers in order."""
    found = units(net.layers)
    assert not isinstance(found, str), found
    slices = net.layout.slices
    rows, params, norms, work, stats, masks = [], [], [], 0, 0, 0
    for unit in found:
        layer, norm, drop, name = unit.dense, unit.norm, unit.dropout, unit.activation.name
        W, b = slices[f"layers.{unit.index}.W"], slices[f"layers.{unit.index}.b"]
        gamma = slices[f"layers.{unit.index + 1}.gamma"].start if norm else 0
        rows.append([W.start, b.start, layer.n_in, layer.n_out, codes.ACTIVATION_CODES[name], work,
                     -(-BLAS_MACS // (layer.n_in * layer.n_out)), int(norm is not None), gamma, stats,
                     int(drop is not None), masks])
        parameter = float(getattr(unit.activation, codes.ACTIVATION_PARAMETER.get(name, ""), 0.0))
        params.append([parameter, norm.eps if norm else 0.0, norm.momentum if norm else 0.0,
                       drop.p if drop else 0.0, 1.0 / (1.0 - drop.p) if drop else 0.0])
        if norm is not None:
            norms.append(norm)
            stats += 2 * layer.n_out
        masks += layer.n_out if drop else 0
        work += layer.n_out
    return np.array(rows, dtype=np.int64), np.array(params, dtype=np.float64), norms


def next_chunk(chunk: int, seconds: float) -> int:
    """Steps in the next chunk: grown or shrunk towards ``CHUNK_SECONDS`` per chunk."""
    if seconds <= 0:
        return chunk * 2
    return max(1, min(chunk * 4, int(chunk * CHUNK_SECONDS / seconds)))


def example_arguments(dtype: np.dtype[Any], parts: bool = False) -> list[tuple[Any, ...]]:
    """Arguments of the run kernel's types for a network of ``dtype`` (a 1-1 network, one
    row), and with ``parts`` those of the step in parts (:data:`.reduced.KERNELS`), for
    building or finding their compiled code before a run."""
    layer, theta, grad = Dense(1, 1), np.zeros(2, dtype), np.zeros(2, dtype)
    net = SimpleNamespace(layers=[layer], output_layer=layer, theta=theta, grad=grad, dtype=dtype,
                          layout=bind_flat_buffers([layer], theta, grad))
    engine = CompiledEngine(net, SquaredError(), SGD(), build=False)  # type: ignore[arg-type]
    X = np.zeros((1, 1), dtype)
    found = [engine.arguments(Minibatches(X, X, None, (), order=np.zeros(1, np.int64), batch=1))]
    return found + reduced.PartSteps(engine, None).arguments() if parts else found  # type: ignore[arg-type]


_TYPES: dict[tuple[str, bool], list[tuple[Any, tuple[Any, ...]]]] = {}
KERNEL_SOURCES = [Path(module.__file__)  # type: ignore[arg-type]
                  for module in (codes, borrow, activation, batchnorm, dense, dropout, loss_kernels,
                                 update, run, part_kernels)]


def kernel_types(dtype: Any, parts: bool = False) -> list[tuple[Any, tuple[Any, ...]]]:
    """The kernels a run calls, each with its argument types for networks of ``dtype`` (they
    depend on it alone): the run kernel, and with ``parts`` the step in parts. The first call
    in a process drops cached kernels that their sources no longer match."""
    key = (np.dtype(dtype).name, parts)
    if not _TYPES:
        cache.drop_stale([run.run, run.gradient, run.decay_and_norms, *reduced.KERNELS], KERNEL_SOURCES)
    if key not in _TYPES:
        kernels = (run.run, *reduced.KERNELS) if parts else (run.run,)
        _TYPES[key] = [(kernel, tuple(numba.typeof(argument) for argument in arguments))
                       for kernel, arguments in zip(kernels, example_arguments(np.dtype(dtype), parts))]
    return _TYPES[key]


def kernels_ready(dtype: Any, parts: bool = False) -> bool:
    """Whether the run kernel for ``dtype`` (and with ``parts`` the step in parts, for a
    reduction) is built, or loads from the disk cache."""
    return all(cache.is_ready(kernel, types) for kernel, types in kernel_types(dtype, parts))


def build_kernels(dtype: Any, parts: bool = False) -> float:
    """Build (or load) the run kernel for ``dtype`` (and with ``parts`` the step in parts, for
    a reduction); return the seconds it took."""
    return sum(cache.build(kernel, types) for kernel, types in kernel_types(dtype, parts))


def cache_folder() -> str:
    """Where Numba keeps the compiled kernels (beside the sources, or a per-user folder where
    those are read-only)."""
    return str(run.run._cache._cache_path)  # type: ignore[attr-defined]
