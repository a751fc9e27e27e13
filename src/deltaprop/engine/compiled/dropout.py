"""Dropout compiled, as :class:`deltaprop.layers.Dropout` computes it: the mask of a unit is
``[u >= p] / (1 - p)`` from uniform draws u, drawn in Python before the run from the network's
generator, in the order the NumPy engine draws them (step by step, layer by layer; one draw of
many values gives the same numbers as the same values drawn in parts).

Forward, a_l's block of ``A`` at ``off`` (kept: the activation's backward reads it) dropped into
the same block of ``P``, which the layer above reads; backward, the gradient handed down times
the same mask. ``U`` holds the step's draws, a B x n block per dropout at ``u_off``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from deltaprop.engine.compiled.activation import FASTMATH


@njit(fastmath=FASTMATH)
def forward(A: np.ndarray, P: np.ndarray, off: int, U: np.ndarray, u_off: int, count: int, p: float,
            scale: float) -> None:
    """P = A * mask over ``count`` entries."""
    keep, zero = A.dtype.type(scale), A.dtype.type(0)
    for t in range(count):
        P[off + t] = A[off + t] * (keep if U[u_off + t] >= p else zero)


@njit(fastmath=FASTMATH)
def backward(G: np.ndarray, U: np.ndarray, u_off: int, count: int, p: float, scale: float) -> None:
    """G *= mask over the first ``count`` entries of G."""
    keep, zero = G.dtype.type(scale), G.dtype.type(0)
    for t in range(count):
        G[t] = G[t] * (keep if U[u_off + t] >= p else zero)
