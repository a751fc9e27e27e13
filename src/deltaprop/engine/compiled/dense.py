"""A dense layer compiled: z = a_prev W^T + b forward, dW = delta^T a_prev, db = sum delta and
g = delta W backward, on the flat buffers the run kernel hands it.

W is the (n_out, n_in) block of the flat ``theta`` at ``w`` (row-major), b the n_out entries at
``b``; dW and db sit at the same places in ``grad``. A layer's input is row i of ``src`` at
:func:`row_start`: the first layer reads its minibatch's rows of X in place through the row
indices (no gathered copy); a hidden layer reads the block its lower layer wrote.

Two forms of each product. Small ones use loops ordered for SIMD (a dot product per output, an
axpy per row, every inner loop over contiguous memory) with no call into a library. Products
of ``BLAS_MACS`` multiply-adds and more call BLAS (NumPy's ``dot`` compiled by Numba: SciPy's
BLAS), which blocks for the cache as no plain loop does; the first layer's rows are then
gathered once per step into ``gathered``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from deltaprop.engine.compiled.activation import FASTMATH

# Inner loops index with unsigned integers: a signed index may be negative (counted from the
# end), and the check for it, in every iteration, keeps the loop from vectorizing (measured:
# 9.1 us against 3.2 us for a 32 x 64 x 32 product).


@njit(inline="always")
def row_start(rows: np.ndarray, start: int, indexed: bool, s_off: int, i: int, n_in: int) -> int:
    """Where row i of the input begins: X's row ``rows[start + i]``, or row i of a block."""
    return rows[start + i] * n_in if indexed else s_off + i * n_in


@njit(inline="always")
def input_block(src: np.ndarray, rows: np.ndarray, start: int, indexed: bool, s_off: int, B: int,
                n_in: int, gathered: np.ndarray) -> np.ndarray:
    """The (B, n_in) input as one matrix for BLAS: gathered from X, or the block itself."""
    if not indexed:
        return src[s_off:s_off + B * n_in].reshape((B, n_in))
    for i in range(B):  # (a loop: slice assignment copies element by element, unvectorized)
        base, row = uint64(rows[start + i] * n_in), uint64(i * n_in)
        for k in range(uint64(n_in)):
            gathered[row + k] = src[base + k]
    return gathered[:B * n_in].reshape((B, n_in))


@njit(fastmath=FASTMATH, inline="always")
def forward(src, rows, start, indexed, s_off, theta, w, b, n_in, n_out, Z, z_off, B,  # type: ignore[no-untyped-def]
            gathered, blas):
    """Z = input W^T + b, the (B, n_out) block at ``z_off``. (The BLAS form is a function of
    its own: its views cost reference counts that the loops must not pay.)"""
    if blas:
        forward_blas(src, rows, start, indexed, s_off, theta, w, b, n_in, n_out, Z, z_off, B, gathered)
    else:
        forward_loops(src, rows, start, indexed, s_off, theta, w, b, n_in, n_out, Z, z_off, B)


@njit(fastmath=FASTMATH)
def forward_blas(src, rows, start, indexed, s_off, theta, w, b, n_in, n_out, Z, z_off, B,  # type: ignore[no-untyped-def]
                 gathered):
    """:func:`forward` by BLAS, the bias added after."""
    X = input_block(src, rows, start, indexed, s_off, B, n_in, gathered)
    W = theta[w:w + n_out * n_in].reshape((n_out, n_in))
    np.dot(X, W.T, Z[z_off:z_off + B * n_out].reshape((B, n_out)))
    for i in range(B):
        z = uint64(z_off + i * n_out)
        for j in range(uint64(n_out)):
            Z[z + j] += theta[uint64(b) + j]


@njit(fastmath=FASTMATH)
def forward_loops(src, rows, start, indexed, s_off, theta, w, b, n_in, n_out, Z, z_off, B):  # type: ignore[no-untyped-def]
    """:func:`forward` by loops: a dot product per output, over contiguous memory."""
    zero = Z.dtype.type(0)
    for i in range(B):
        x = uint64(row_start(rows, start, indexed, s_off, i, n_in))
        for j in range(n_out):
            s, row = zero, uint64(w + j * n_in)
            for k in range(uint64(n_in)):
                s += src[x + k] * theta[row + k]
            Z[z_off + i * n_out + j] = s + theta[b + j]


@njit(fastmath=FASTMATH, inline="always")
def weight_gradient(D, d_off, src, rows, start, indexed, s_off, grad, w, b, n_in, n_out, B,  # type: ignore[no-untyped-def]
                    gathered, blas):
    """dW = D^T input (n_out, n_in) at ``w``, db = the sum of D's rows at ``b``, in ``grad``.
    With BLAS on the first layer, ``gathered`` holds the rows :func:`forward` gathered."""
    ub = uint64(b)
    for j in range(uint64(n_out)):  # (loops, not slices: a slice is a view, with its reference count)
        grad[ub + j] = 0
    for i in range(B):
        d = uint64(d_off + i * n_out)
        for j in range(uint64(n_out)):
            grad[ub + j] += D[d + j]
    if blas:
        weight_gradient_blas(D, d_off, src, indexed, s_off, grad, w, n_in, n_out, B, gathered)
    else:
        weight_gradient_loops(D, d_off, src, rows, start, indexed, s_off, grad, w, n_in, n_out, B)


@njit(fastmath=FASTMATH)
def weight_gradient_blas(D, d_off, src, indexed, s_off, grad, w, n_in, n_out, B, gathered):  # type: ignore[no-untyped-def]
    """dW by BLAS (the first layer's rows as :func:`forward` gathered them)."""
    X = src[s_off:s_off + B * n_in].reshape((B, n_in)) if not indexed else \
        gathered[:B * n_in].reshape((B, n_in))
    dW = grad[w:w + n_out * n_in].reshape((n_out, n_in))
    np.dot(D[d_off:d_off + B * n_out].reshape((B, n_out)).T, X, dW)


@njit(fastmath=FASTMATH)
def weight_gradient_loops(D, d_off, src, rows, start, indexed, s_off, grad, w, n_in, n_out, B):  # type: ignore[no-untyped-def]
    """dW by loops: an axpy per row and output."""
    for e in range(uint64(w), uint64(w + n_out * n_in)):
        grad[e] = 0
    for i in range(B):
        x = uint64(row_start(rows, start, indexed, s_off, i, n_in))
        for j in range(n_out):
            d, row = D[d_off + i * n_out + j], uint64(w + j * n_in)
            for k in range(uint64(n_in)):
                grad[row + k] += d * src[x + k]


@njit(fastmath=FASTMATH, inline="always")
def input_gradient(D, d_off, theta, w, n_in, n_out, G, B, blas):  # type: ignore[no-untyped-def]
    """G = D W, the (B, n_in) block at 0: the gradient handed down, W_l^T delta_l by rows."""
    if blas:
        input_gradient_blas(D, d_off, theta, w, n_in, n_out, G, B)
    else:
        input_gradient_loops(D, d_off, theta, w, n_in, n_out, G, B)


@njit(fastmath=FASTMATH)
def input_gradient_blas(D, d_off, theta, w, n_in, n_out, G, B):  # type: ignore[no-untyped-def]
    """G by BLAS."""
    W = theta[w:w + n_out * n_in].reshape((n_out, n_in))
    np.dot(D[d_off:d_off + B * n_out].reshape((B, n_out)), W, G[:B * n_in].reshape((B, n_in)))


@njit(fastmath=FASTMATH)
def input_gradient_loops(D, d_off, theta, w, n_in, n_out, G, B):  # type: ignore[no-untyped-def]
    """G by loops: an axpy per row and output."""
    for e in range(uint64(B * n_in)):
        G[e] = 0
    for i in range(B):
        g = uint64(i * n_in)
        for j in range(n_out):
            d, row = D[d_off + i * n_out + j], uint64(w + j * n_in)
            for k in range(uint64(n_in)):
                G[g + k] += d * theta[row + k]
