"""Gradient reduction: how the gradients of a minibatch's parts become the minibatch's gradient.

A strategy plugged into the training step (:mod:`deltaprop.engine.step`), so that the loop never
asks where the gradient came from (as PyTorch's DDP reduces gradients without the loop knowing):

- :class:`LocalReduction`: one process computes the whole minibatch's gradient; nothing to
  reduce.
- :class:`MpiReduction`: data-parallel over MPI ranks (mpi4py). Every rank holds the same data
  and draws the same minibatch order (rank 0's parameters and random state are broadcast at the
  start). Each global minibatch of B rows is cut into one contiguous part per rank; a rank's
  output deltas carry its share of the batch (rows, or sample weight), its backward pass gives
  the part's share of the gradient, and the flat gradient buffer is summed over the ranks in one
  ``Allreduce``: the gradient of the global minibatch's mean, uneven parts included. Weight decay
  is added once, after the sum, by the step. Every rank then takes the same optimizer step.
  Layers whose training pass looks across the rows of a batch are told, for the duration of each
  part's backward pass, that their rows are a part of the global minibatch:
  :class:`~deltaprop.layers.BatchNorm` gets the strategy as its ``reducer`` (it sums its batch
  statistics, and in the backward pass its two per-unit sums, over the ranks: synchronized
  batch normalization, the running statistics identical everywhere), and
  :class:`~deltaprop.layers.Dropout` its ``part`` (row offset, global batch size: it draws the
  whole minibatch's mask, as one process would, and keeps its rows). A rank with no rows or no
  weight in a minibatch still runs its (empty) pass then, so that the collectives match and its
  generator draws what the others draw.

A strategy also owns what else a run must do over its ranks: the epoch loss over all of them,
the validation score computed in parts, the agreement to stop (Ctrl-C, a time limit, divergence
on one rank stops all), and, after every epoch, the proof that the ranks still hold identical
parameters.

Launch with the ``mpiexec`` of the same environment (``mpiexec -n 2 python train.py``); a
launcher from another MPI starts independent single-rank jobs.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np

from deltaprop.evaluation import evaluate_arrays
from deltaprop.layers import BatchNorm, Dropout
from deltaprop.losses import Loss, row_scale

Array = np.ndarray
Hook = Callable[[Any, int], None]  # after_step(view, step)


def run_view(view: Any = None) -> Any:
    """The view a run hands its hooks: the caller's, or a fresh one with no stop reason.

    Fresh on every call, never a shared object: the hooks write ``stop_reason`` into the view
    (:meth:`MpiReduction.agree_after_step` another rank's), and a reason left in a shared one
    would stop every later run of the process after its first step."""
    return SimpleNamespace(stop_reason=None) if view is None else view


class Backprop(Protocol):
    """What a reduction asks of the engine: the backward pass of a (part of a) minibatch."""

    dtype: np.dtype[Any]
    grad: Array

    def backprop(self, X: Array, Y: Array, scale: Array | None = None) -> None: ...


class LossSums(Protocol):
    """What an epoch's loss is made of, for its mean over the ranks: an
    :class:`~deltaprop.engine.epoch_loss.EpochLoss`, or the compiled engine's steps in parts."""

    @property
    def count(self) -> int: ...  # samples seen

    def sums(self) -> tuple[float, float]: ...

    def mean(self) -> float: ...


class Reduction(Protocol):
    """A gradient-reduction strategy (see the module's docstring)."""

    stops_alone: bool  # a non-finite loss may end the run on this process alone
    after_step: tuple[Hook, ...]  # hooks the step runs after its callbacks' (agreement to stop)

    def gradient(self, engine: Backprop, X: Array, Y: Array, rows: Any,
                 w: Array | None) -> tuple[Array, Any, Array | None, float]: ...

    def start(self, net: Any) -> None: ...

    def epoch_mean(self, epoch_loss: LossSums) -> float: ...

    def evaluate(self, net: Any, loss: Loss, X: Array, Y: Array,
                 w: Array | None = None) -> tuple[float, float]: ...

    def agree_to_stop(self, reason: str | None) -> str | None: ...

    def check_identical(self, net: Any, epoch: int) -> None: ...


class LocalReduction:
    """The whole minibatch on this process: its gradient is the gradient."""

    stops_alone = True
    after_step: tuple[Hook, ...] = ()

    def gradient(self, engine: Backprop, X: Array, Y: Array, rows: Any,
                 w: Array | None) -> tuple[Array, Any, Array | None, float]:
        """Backpropagate the minibatch (sample weights as row scales of delta_L) into
        ``engine.grad``; return what the step records: (Y, rows, w, share 1.0)."""
        engine.backprop(X, Y, None if w is None else row_scale(w, engine.dtype))
        return Y, rows, w, 1.0

    def start(self, net: Any) -> None:
        """Nothing to share."""

    def epoch_mean(self, epoch_loss: LossSums) -> float:
        """The epoch's loss."""
        return epoch_loss.mean()

    def evaluate(self, net: Any, loss: Loss, X: Array, Y: Array,
                 w: Array | None = None) -> tuple[float, float]:
        """(loss, metric) on validated data, in evaluation mode."""
        return evaluate_arrays(net, loss, X, Y, w)

    def agree_to_stop(self, reason: str | None) -> str | None:
        """This process's reason is the run's."""
        return reason

    def check_identical(self, net: Any, epoch: int) -> None:
        """One copy of the parameters: identical to itself."""


class MpiReduction:
    """Data-parallel over the ranks of ``comm`` (an mpi4py communicator); see the module's
    docstring."""

    stops_alone = False  # the ranks decide together, at the epoch's end

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self.after_step: tuple[Hook, ...] = (self.agree_after_step,)
        self.norms: tuple[BatchNorm, ...] = ()  # the layers told about the parts (by start)
        self.dropouts: tuple[Dropout, ...] = ()

    def gradient(self, engine: Backprop, X: Array, Y: Array, rows: Any,
                 w: Array | None) -> tuple[Array, Any, Array | None, float]:
        """The global minibatch's mean gradient in ``engine.grad`` on every rank, from this
        rank's part; returns this rank's part (Y, rows, w) and its share."""
        from mpi4py import MPI

        n = X.shape[0]
        lo, _ = part_bounds(self.comm, n)
        X, Y, rows, w, share = local_part(self.comm, X, Y, rows, w)
        if share == 0.0 and not (self.norms or self.dropouts):  # this rank adds nothing
            engine.grad[...] = 0.0
        else:  # its output deltas carry its share: cheaper than scaling the whole gradient
            if share == 0.0:  # no rows, or no weight: its pass only keeps the ranks in step
                scale = np.zeros(X.shape[0], dtype=engine.dtype)
            elif w is None:
                scale = np.full(X.shape[0], share, dtype=engine.dtype)
            else:
                scale = row_scale(w, engine.dtype) * share
            with self.rows_of_global_batch(lo, n):
                engine.backprop(X, Y, scale)
        self.comm.Allreduce(MPI.IN_PLACE, engine.grad, op=MPI.SUM)
        return Y, rows, w, share

    @contextlib.contextmanager
    def rows_of_global_batch(self, offset: int, rows: int) -> Iterator[None]:
        """While a part's pass runs: BatchNorm sums over the ranks, Dropout keeps its rows
        (``offset`` onwards) of the global minibatch's ``rows``; both back to one process after."""
        for norm in self.norms:
            norm.reducer = self
        for dropout in self.dropouts:
            dropout.part = (offset, rows)
        try:
            yield
        finally:
            for norm in self.norms:
                norm.reducer = None
            for dropout in self.dropouts:
                dropout.part = None

    def sum_over_ranks(self, values: Array) -> Array:
        """The element-wise sum over the ranks of a float64 vector (BatchNorm's
        :class:`~deltaprop.layers.batchnorm.Reducer`)."""
        from mpi4py import MPI

        total = np.array(values, dtype=np.float64)  # a copy: the sum is taken in place
        self.comm.Allreduce(MPI.IN_PLACE, total, op=MPI.SUM)
        return total

    def start(self, net: Any) -> None:
        """Rank 0's parameters, BatchNorm running statistics and random state on every rank;
        the layers whose passes must know about the parts."""
        self.comm.Bcast(net.theta, root=0)
        for norm in net.batchnorm_layers:
            self.comm.Bcast(norm.running_mean, root=0)
            self.comm.Bcast(norm.running_var, root=0)
        net.rng.bit_generator.state = self.comm.bcast(net.rng.bit_generator.state, root=0)
        net.set_rng(net.rng)
        self.norms = tuple(layer for layer in net.layers if isinstance(layer, BatchNorm))
        self.dropouts = tuple(layer for layer in net.layers
                              if isinstance(layer, Dropout) and layer.p > 0)

    def agree_after_step(self, view: Any, step: int) -> None:
        """After every step: one rank's Ctrl-C or time limit stops them all."""
        view.stop_reason = self.agree_to_stop(view.stop_reason)

    def agree_to_stop(self, reason: str | None) -> str | None:
        """Stop everywhere if any rank wants to (one reason, the first rank's that has one): a
        one-number all-reduce, the reasons gathered only when one wants to stop."""
        from mpi4py import MPI

        wants = np.array([0 if reason is None else 1], dtype=np.int32)
        self.comm.Allreduce(MPI.IN_PLACE, wants, op=MPI.MAX)
        if not wants[0]:
            return None
        reasons = self.comm.allgather(reason)
        return next(r for r in reasons if r is not None)

    def epoch_mean(self, epoch_loss: LossSums) -> float:
        """The epoch's loss over every rank's samples."""
        from mpi4py import MPI

        local = np.array(epoch_loss.sums() if epoch_loss.count else (0.0, 0.0), dtype=np.float64)
        both = np.empty(2)
        self.comm.Allreduce(local, both, op=MPI.SUM)
        return float(both[0] / both[1]) if both[1] > 0 else math.nan

    def evaluate(self, net: Any, loss: Loss, X: Array, Y: Array,
                 w: Array | None = None) -> tuple[float, float]:
        """(loss, metric) of the whole validation set on every rank: each rank evaluates its
        part of the rows; the loss sums are all-reduced and the outputs gathered."""
        from mpi4py import MPI

        comm = self.comm
        lo, hi = part_bounds(comm, X.shape[0])
        outputs = net.predict(X[lo:hi]) if hi > lo else np.empty((0, Y.shape[1]), net.dtype)
        z = net.predict_logits(X[lo:hi]) if hi > lo else outputs
        values = loss.sample_values(z, outputs, Y[lo:hi]) if hi > lo else np.empty(0)
        weights = np.ones(hi - lo) if w is None else w[lo:hi]
        sums = np.array([float(np.dot(values, weights)), float(weights.sum())])
        comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
        everything = np.concatenate(comm.allgather(outputs))
        metric = loss.metric(everything, Y) if w is None else loss.metric(everything, Y, w)
        return float(sums[0] / sums[1]), metric

    def check_identical(self, net: Any, epoch: int) -> None:
        """Raise if the ranks' parameters or BatchNorm running statistics differ (a checksum of
        their bytes)."""
        digest = hashlib.blake2b(net.theta.tobytes(), digest_size=8)
        for norm in net.batchnorm_layers:
            digest.update(norm.running_mean.tobytes())
            digest.update(norm.running_var.tobytes())
        if len(set(self.comm.allgather(digest.hexdigest()))) != 1:
            raise RuntimeError(f"the MPI ranks hold different parameters or BatchNorm statistics "
                               f"after epoch {epoch}; data-parallel training requires the same "
                               "data and options on every rank and deterministic arithmetic (one "
                               "BLAS thread per rank)")


def part_bounds(comm: Any, n: int) -> tuple[int, int]:
    """The rows ``lo:hi`` of a global batch of ``n`` that are this rank's: one contiguous part
    per rank, in rank order, sizes differing by one at most."""
    size, rank = comm.Get_size(), comm.Get_rank()
    return rank * n // size, (rank + 1) * n // size


def local_part(comm: Any, X: Array, Y: Array, rows: Any,
               w: Array | None) -> tuple[Array, Array, Any, Array | None, float]:
    """This rank's contiguous part of a global minibatch, and its share of the batch's weight."""
    n = X.shape[0]
    lo, hi = part_bounds(comm, n)
    if isinstance(rows, slice):
        local_rows: Any = slice(rows.start + lo, rows.start + hi)
    else:
        local_rows = rows[lo:hi]
    if w is None:
        share = (hi - lo) / n
    else:
        total = float(w.sum())
        share = float(w[lo:hi].sum()) / total if total > 0 else (hi - lo) / n
    return X[lo:hi], Y[lo:hi], local_rows, None if w is None else w[lo:hi], share
