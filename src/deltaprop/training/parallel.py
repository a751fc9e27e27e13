"""Data-parallel training over MPI (mpi4py): finding the communicator and checking what it covers.

``fit(..., comm=comm)`` trains one model with each global minibatch split over the ranks of
``comm``; the splitting, the all-reduce of the gradient and the agreement between the ranks are
a gradient-reduction strategy of the training step, :class:`deltaprop.engine.reduction.MpiReduction`.
K ranks with a global minibatch of B rows end with the weights of one process with minibatches
of B: BatchNorm is synchronized (the statistics of the global minibatch, the same running
statistics on every rank) and Dropout draws the masks one process would. A layer of your own
whose training pass looks across the rows of a batch, as BatchNorm does, would see only its
rank's part: deltaprop cannot tell, so it is not refused.

Launch with the ``mpiexec`` of the same environment (``mpiexec -n 2 python train.py``); a
launcher from another MPI starts independent single-rank jobs.
"""

from __future__ import annotations

import os
from typing import Any


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


def check_comm(comm: Any, net: Any) -> None:
    """Raise unless ``comm`` is an MPI communicator (every layer of ``net`` is covered: see the
    module's docstring)."""
    if not all(hasattr(comm, name) for name in ("Get_rank", "Get_size", "Allreduce", "Bcast")):
        raise TypeError(f"comm must be an MPI communicator (mpi4py.MPI.COMM_WORLD), got "
                        f"{type(comm).__name__}")
