"""A dense layer compiled: z = a_prev W^T + b forward, dW = delta^T a_prev, db = sum delta and
g = delta W backward, over the views the run kernel hands it.

Two forms of each product. Small layers use loops ordered for SIMD (a dot product per output,
an axpy per row, every inner loop over contiguous memory); their time is the arithmetic, with
no call into a library. Layers large enough to be bound by the product itself call BLAS
(NumPy's ``dot`` compiled by Numba: SciPy's BLAS), which blocks for the cache as no plain loop
does. A layer's input is ``src[rows]``: the first layer reads its rows of X in place through the
minibatch's row indices on the loop path (no gathered copy); BLAS needs them gathered, once per
step, into ``gathered``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from deltaprop.engine.compiled.activation import FASTMATH


@njit(fastmath=FASTMATH)
def forward(src: np.ndarray, rows: np.ndarray, in_order: bool, W: np.ndarray, b: np.ndarray,
            Z: np.ndarray, gathered: np.ndarray, blas: bool) -> None:
    """Z = src[rows] W^T + b, shape (B, n_out). With BLAS and rows not in order, the rows are
    gathered into ``gathered`` (B, n_in), which :func:`weight_gradient` then reuses."""
    B, n_out = Z.shape
    if blas:
        if in_order:
            np.dot(src[:B], W.T, Z)
        else:
            for i in range(B):
                gathered[i] = src[rows[i]]
            np.dot(gathered[:B], W.T, Z)
        for i in range(B):
            for j in range(n_out):
                Z[i, j] += b[j]
        return
    n_in = W.shape[1]
    zero = Z.dtype.type(0)
    for i in range(B):  # (2-D indexing, not row views: a view costs a reference count)
        r = rows[i]
        for j in range(n_out):
            s = zero
            for k in range(n_in):
                s += src[r, k] * W[j, k]
            Z[i, j] = s + b[j]


@njit(fastmath=FASTMATH)
def weight_gradient(D: np.ndarray, src: np.ndarray, rows: np.ndarray, in_order: bool,
                    dW: np.ndarray, db: np.ndarray, gathered: np.ndarray, blas: bool) -> None:
    """dW = D^T src[rows] (n_out, n_in), db = the sum of D's rows (n_out,)."""
    B, n_out = D.shape
    n_in = dW.shape[1]
    db[:] = 0
    for i in range(B):
        for j in range(n_out):
            db[j] += D[i, j]
    if blas:
        np.dot(D.T, src[:B] if in_order else gathered[:B], dW)
        return
    dW[:] = 0
    for i in range(B):
        r = rows[i]
        for j in range(n_out):
            d = D[i, j]
            for k in range(n_in):
                dW[j, k] += d * src[r, k]


@njit(fastmath=FASTMATH)
def input_gradient(D: np.ndarray, W: np.ndarray, G: np.ndarray, blas: bool) -> None:
    """G = D W, shape (B, n_in): the gradient handed down, W_l^T delta_l by rows."""
    if blas:
        np.dot(D, W, G)
        return
    B, n_out = D.shape
    n_in = W.shape[1]
    G[:] = 0
    for i in range(B):
        for j in range(n_out):
            d = D[i, j]
            for k in range(n_in):
                G[i, k] += d * W[j, k]
