"""The compiled engine under a gradient reduction that is not local (data-parallel over MPI).

The run kernel takes a whole run of minibatches in one call; a reduction must come back to
Python at every step to sum the ranks' gradients. So under one, each step is taken in parts,
as :meth:`NumpyEngine.run <deltaprop.engine.step.NumpyEngine.run>` takes it::

    gather      X_b, Y_b, w_b = X[rows], Y[rows], w[rows]           (NumPy, into reused buffers)
    gradient    reduction.gradient(self, X_b, Y_b, rows, w_b): the reduction cuts this rank's
                part and its share (the one owner of both) and calls :meth:`PartSteps.backprop`,
                the compiled part_gradient; then its all-reduce sums grad over the ranks
    update      the compiled reduced_step: weight decay, norms, safety, the optimizer's step
    loss        the part's loss, recorded as the NumPy engine records it (only a part with a
                share), summed over the ranks at the epoch's end by the reduction
    hooks       after every step: the callbacks', then the reduction's (the agreement to stop)

:class:`PartSteps` is what the reduction sees as the engine (the
:class:`~deltaprop.engine.reduction.Backprop` protocol: ``dtype``, ``grad``, ``backprop``).
BatchNorm (statistics synchronized over the ranks) and Dropout (masks drawn as one process
would) are not covered here: they run on the NumPy engine (:mod:`.choice` says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from deltaprop.data.batches import Minibatches
from deltaprop.engine.compiled import codes, parts
from deltaprop.engine.compiled.plan import flat, learning_rates, optimizer_arrays, run_plan
from deltaprop.engine.reduction import Hook, Reduction, run_view

Array = np.ndarray
KERNELS = (parts.part_gradient, parts.reduced_step)


class PartSteps:
    """The steps of a :class:`~deltaprop.engine.compiled.engine.CompiledEngine` taken in parts
    around ``reduction`` (see the module's docstring); they share the engine's parameters,
    workspaces, optimizer state and epoch tallies."""

    def __init__(self, engine: Any, reduction: Reduction) -> None:
        if engine.norms or engine.mask_width:
            raise ValueError("the compiled engine does not cover BatchNorm or Dropout under a "
                             "gradient reduction (comm=): train with engine='numpy'")
        self.engine, self.reduction = engine, reduction
        self.dtype, self.grad = engine.dtype, engine.grad
        self._buffers: dict[int, tuple[Array, Array, Array | None]] = {}
        self._orders: dict[int, Array] = {}
        self._values = np.empty(0)  # each row's loss in the last part
        self._no_draws = np.empty(0, engine.dtype)

    # -- the gradient of a part (what the reduction calls) ---------------------------------
    def backprop(self, X: Array, Y: Array, scale: Array | None = None) -> None:
        """The gradient of rows X, Y (this rank's part of a minibatch) into ``grad``, row i of
        delta_L times ``scale[i]``: the compiled part_gradient. A part of no rows has the
        gradient 0."""
        if X.shape[0] == 0:
            self.grad[...] = 0.0
            return
        self.engine._ensure_buffers(X.shape[0])
        parts.part_gradient(*self._gradient_arguments(X, Y, scale))

    def _gradient_arguments(self, X: Array, Y: Array, scale: Array | None) -> tuple[Any, ...]:
        engine, n = self.engine, X.shape[0]
        if n not in self._orders:
            self._orders[n] = np.arange(n, dtype=np.int64)
        if self._values.shape[0] < n:
            self._values = np.empty(n)
        factors = self._no_draws if scale is None else np.ascontiguousarray(scale, self.dtype)
        return (flat(X), np.ascontiguousarray(Y), factors, scale is not None, self._orders[n],
                engine.theta, engine.grad, engine.layers, engine.params, engine.loss_code,
                engine.fused, *engine._work, engine.stats, self._no_draws, self._values)

    # -- a run of steps ----------------------------------------------------------------------
    def run(self, minibatches: Minibatches, view: Any = None, after_step: Sequence[Hook] = ()) -> bool:
        """A step on each minibatch in turn, the hooks after each; True when every one was
        taken (see :meth:`CompiledEngine.run
        <deltaprop.engine.compiled.engine.CompiledEngine.run>`)."""
        engine = self.engine
        optimizer, tally = engine.optimizer, engine.tally
        assert optimizer is not None, "run() needs an optimizer"
        order, starts = run_plan(minibatches)
        lrs = learning_rates(optimizer, starts.shape[0] - 1)
        state = optimizer_arrays(optimizer, engine.theta)
        hooks = (*after_step, *self.reduction.after_step)
        view = run_view(view)
        for s in range(starts.shape[0] - 1):
            status = self.step(minibatches, order[starts[s]:starts[s + 1]], lrs[s], state)
            if status == codes.DIVERGED:
                tally.diverged = True
                return False
            engine._advance(optimizer, 1, lrs, s)
            for hook in hooks:
                hook(view, tally.steps)
            if view.stop_reason is not None:
                return False
        return True

    def step(self, minibatches: Minibatches, rows: Array, lr: float,
             state: tuple[int, Array, Array, Array]) -> int:
        """One step on the minibatch ``rows``: its gradient over the ranks, the update; the
        part's loss recorded. Returns RAN or DIVERGED (no update)."""
        engine, reduction = self.engine, self.reduction
        X_b, Y_b, w_b = self._gather(minibatches, rows)
        Y_p, _, w_p, share = reduction.gradient(self, X_b, Y_b, rows, w_b)
        total, weight = self._part_loss(Y_p.shape[0], w_p) if share else (0.0, 0.0)
        kind, m, v, hyper = state
        penalty, status = parts.reduced_step(
            engine.theta, engine.grad, m, v, engine.layers, kind, engine.optimizer.t + 1, lr, hyper,
            engine.l2, engine.l1, total if reduction.stops_alone else 0.0, engine.step_norms,
            engine._layer_sums)
        if share:  # as EpochLoss.record: the loss sum with the decay term per unit of weight
            engine._sums += (total + penalty * weight, weight, penalty, 1.0)
        return int(status)

    def _part_loss(self, n: int, w: Array | None) -> tuple[float, float]:
        """The last part's (sum of w_i loss_i, sum of w_i): its n rows' losses, weighted."""
        values = self._values[:n]
        if w is None:
            return float(values.sum()), float(n)
        return float(np.dot(values, w)), float(w.sum())

    def _gather(self, minibatches: Minibatches, rows: Array) -> tuple[Array, Array, Array | None]:
        """The minibatch's rows of X, Y and w, gathered into buffers reused for each size."""
        X, Y, w = minibatches.X, minibatches.Y, minibatches.w
        n = rows.shape[0]
        if n not in self._buffers:
            self._buffers[n] = (np.empty((n, X.shape[1]), X.dtype), np.empty((n, Y.shape[1]), Y.dtype),
                                None if w is None else np.empty(n, w.dtype))
        X_b, Y_b, w_b = self._buffers[n]
        X.take(rows, axis=0, out=X_b)
        Y.take(rows, axis=0, out=Y_b)
        if w is not None:
            w.take(rows, out=w_b)
        return X_b, Y_b, w_b

    # -- the epoch's loss, as the reduction sums it over the ranks -----------------------------
    @property
    def count(self) -> int:
        """Parts recorded since the epoch began (0: this rank adds nothing to the loss)."""
        return int(self.engine._sums[3])

    def sums(self) -> tuple[float, float]:
        """This rank's (weighted loss sum with the decay terms, weight sum) of the epoch."""
        return float(self.engine._sums[0]), float(self.engine._sums[1])

    def mean(self) -> float:
        """This rank's epoch loss alone."""
        return float(self.engine.run_loss())

    # -- building ------------------------------------------------------------------------------
    def arguments(self) -> list[tuple[Any, ...]]:
        """Arguments of :data:`KERNELS`' types, no step taken (their types are the kernels'
        signatures: for building or finding their compiled code)."""
        engine = self.engine
        n_in, n_out = int(engine.layers[0, codes.N_IN]), int(engine.layers[-1, codes.N_OUT])
        engine._ensure_buffers(1)
        X, Y = np.zeros((1, n_in), self.dtype), np.zeros((1, n_out), self.dtype)
        kind, m, v, hyper = optimizer_arrays(engine.optimizer, engine.theta)
        return [self._gradient_arguments(X, Y, np.ones(1, self.dtype)),
                (engine.theta, engine.grad, m, v, engine.layers, kind, 1, 0.0, hyper, engine.l2,
                 engine.l1, 0.0, engine.step_norms, engine._layer_sums)]
