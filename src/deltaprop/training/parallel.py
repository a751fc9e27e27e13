"""Data-parallel training over MPI (mpi4py): one model, its minibatches split over the ranks.

Every rank holds the same data and draws the same minibatch order (rank 0's parameters and
random state are broadcast at the start). Each global minibatch of B rows is cut into one
contiguous part per rank; a rank computes the gradient of its part's mean loss, and the flat
gradient buffer is summed over the ranks in one ``Allreduce`` after weighting each part by its
share of the batch (rows, or sample weight), so uneven parts are right: the sum is the gradient
of the global minibatch's mean. Every rank then takes the same optimizer step. The validation
data are evaluated in parts too (loss sums all-reduced, outputs gathered for the metric).
Stopping (Ctrl-C, a time limit, divergence) is decided together; a checksum after every epoch
proves the ranks still hold identical parameters.

Launch with the ``mpiexec`` of the same environment (``mpiexec -n 2 python train.py``); a
launcher from another MPI starts independent single-rank jobs.
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import Any

import numpy as np

from deltaprop.losses import add_weight_decay_gradient, row_scale
from deltaprop.network import Network

Array = np.ndarray


def launched_comm() -> Any:
    """COMM_WORLD when this process is one of several ranks started by ``mpiexec`` (MPICH's or
    Open MPI's environment says so), else None; ``deltaprop train`` uses it by itself."""
    sizes = (os.environ.get(name) for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE"))
    if max((int(size) for size in sizes if size and size.isdigit()), default=1) < 2:
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError("deltaprop was started by mpiexec but mpi4py is not installed: "
                          "pip install 'deltaprop[mpi]'") from None
    return MPI.COMM_WORLD


def check_comm(comm: Any, net: Network) -> None:
    """Raise unless ``comm`` is an MPI communicator and ``net`` can be trained data-parallel."""
    if not all(hasattr(comm, name) for name in ("Get_rank", "Get_size", "Allreduce", "Bcast")):
        raise TypeError(f"comm must be an MPI communicator (mpi4py.MPI.COMM_WORLD), got "
                        f"{type(comm).__name__}")
    if net.batchnorm_layers:
        raise ValueError("data-parallel training does not cover BatchNorm yet (its batch "
                         "statistics would be each rank's part, not the minibatch's)")
    if any(type(layer).__name__ == "Dropout" for layer in net.layers):
        raise ValueError("data-parallel training does not cover Dropout yet (each rank would "
                         "draw other masks than one process does)")


def start_together(comm: Any, net: Network) -> None:
    """Rank 0's parameters and random state on every rank."""
    comm.Bcast(net.theta, root=0)
    net.rng.bit_generator.state = comm.bcast(net.rng.bit_generator.state, root=0)
    net.set_rng(net.rng)


def local_part(comm: Any, X: Array, Y: Array, rows: Any,
               w: Array | None) -> tuple[Array, Array, Any, Array | None, float]:
    """This rank's contiguous part of a global minibatch, and its share of the batch's weight."""
    n, size, rank = X.shape[0], comm.Get_size(), comm.Get_rank()
    lo, hi = rank * n // size, (rank + 1) * n // size
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


def local_gradient(comm: Any, net: Network, loss: Any, X: Array, Y: Array, rows: Any,
                   w: Array | None, l2: float, l1: float) -> tuple[Array, Array, Any, Any, float]:
    """The global minibatch's mean gradient in ``net.grad`` on every rank, from this rank's
    part: its output deltas carry its share (cheaper than scaling the whole gradient), the
    flat buffers are summed in one all-reduce, and weight decay is added once, after it.
    Returns this rank's part (X, Y, rows, w) and its share."""
    from mpi4py import MPI

    X, Y, rows, w, share = local_part(comm, X, Y, rows, w)
    if share == 0.0:  # an empty part: this rank adds nothing
        net.grad[...] = 0.0
    else:
        scale = np.full(X.shape[0], share, dtype=net.dtype) if w is None else (
            row_scale(w, net.dtype) * share)
        net._gradient(X, Y, loss, 0.0, 0.0, scale)
    comm.Allreduce(MPI.IN_PLACE, net.grad, op=MPI.SUM)
    if l2 or l1:
        add_weight_decay_gradient(net._decayed, l2, l1)
    return X, Y, rows, w, share


def agree_to_stop(comm: Any, reason: str | None) -> str | None:
    """Stop everywhere if any rank wants to (one reason, the first rank's that has one): a
    one-number all-reduce per step, the reasons gathered only when one wants to stop."""
    from mpi4py import MPI

    wants = np.array([0 if reason is None else 1], dtype=np.int32)
    comm.Allreduce(MPI.IN_PLACE, wants, op=MPI.MAX)
    if not wants[0]:
        return None
    reasons = comm.allgather(reason)
    return next(r for r in reasons if r is not None)


def global_mean(comm: Any, epoch_loss: Any) -> float:
    """The epoch's loss over every rank's samples."""
    from mpi4py import MPI

    local = np.array(epoch_loss.sums() if epoch_loss.count else (0.0, 0.0), dtype=np.float64)
    both = np.empty(2)
    comm.Allreduce(local, both, op=MPI.SUM)
    return float(both[0] / both[1]) if both[1] > 0 else math.nan


def evaluate_split(comm: Any) -> Any:
    """An ``evaluate_arrays`` whose work is split over the ranks: each evaluates its part of
    the validation rows; the loss sums are all-reduced and the outputs gathered, so every rank
    gets the loss and metric of the whole validation set."""

    def evaluate(net: Network, loss: Any, X: Array, Y: Array, w: Array | None = None) -> tuple[float, float]:
        from mpi4py import MPI

        n, size, rank = X.shape[0], comm.Get_size(), comm.Get_rank()
        lo, hi = rank * n // size, (rank + 1) * n // size
        outputs = net.predict(X[lo:hi]) if hi > lo else np.empty((0, Y.shape[1]), net.dtype)
        z = net.predict_logits(X[lo:hi]) if hi > lo else outputs
        values = loss.sample_values(z, outputs, Y[lo:hi]) if hi > lo else np.empty(0)
        weights = np.ones(hi - lo) if w is None else w[lo:hi]
        sums = np.array([float(np.dot(values, weights)), float(weights.sum())])
        comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
        everything = np.concatenate(comm.allgather(outputs))
        metric = loss.metric(everything, Y) if w is None else loss.metric(everything, Y, w)
        return float(sums[0] / sums[1]), metric

    return evaluate


def check_identical(comm: Any, net: Network, epoch: int) -> None:
    """Raise if the ranks' parameters differ (a checksum of their bytes)."""
    mine = hashlib.blake2b(net.theta.tobytes(), digest_size=8).hexdigest()
    if len(set(comm.allgather(mine))) != 1:
        raise RuntimeError(f"the MPI ranks hold different parameters after epoch {epoch}; "
                           "data-parallel training requires the same data and options on every "
                           "rank and deterministic arithmetic (one BLAS thread per rank)")
