"""How many BLAS threads training uses.

Policy: with ``threads="auto"`` (the default of ``fit``), a network whose per-step matrix work
is small trains with one BLAS thread, because for small matrices extra threads cost more in
synchronization than they save; larger networks keep the BLAS default (all cores). The switch
point ``SMALL_STEP_FLOPS`` was measured on a 2-core machine (see README, "Threads").
threadpoolctl does the limiting; without it ``"auto"`` leaves BLAS alone.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

SMALL_STEP_FLOPS = 1e9


def step_flops(net: Any, batch_size: int) -> float:
    """Multiply-adds x 2 of one training step: forward, dW and the delta handed down (x3)."""
    return 6.0 * batch_size * sum(layer.n_in * layer.n_out for layer in net.dense_layers)


def blas_threads_for(net: Any, batch_size: int, threads: int | str | None) -> AbstractContextManager[Any]:
    """A context that applies the thread policy to BLAS for one training run."""
    if threads is None:
        return contextlib.nullcontext()
    auto = threads == "auto"
    if auto:
        if step_flops(net, batch_size) >= SMALL_STEP_FLOPS:
            return contextlib.nullcontext()
        threads = 1
    from deltaprop._validation import check_positive

    n_threads = check_positive("threads", threads, integer=True)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        if auto:  # without threadpoolctl, auto leaves BLAS as it is
            return contextlib.nullcontext()
        raise ImportError("threads=N needs threadpoolctl: pip install 'deltaprop[fast]'") from None
    return threadpool_limits(limits=n_threads, user_api="blas")
