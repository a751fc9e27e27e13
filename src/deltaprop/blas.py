"""The matrix products of the hot path: NumPy's ``matmul``, or Intel MKL's GEMM when installed.

Training and inference of all but the smallest networks are bound by matrix products. NumPy's
PyPI wheels multiply with OpenBLAS; Intel's MKL (``pip install 'deltaprop[mkl]'``, the PyPI
``mkl`` package, about 1 GB installed) was measured 13-35% faster in float32 on the shapes of
MLP training on this project's machine (784-1024-1024-10 at batch 256, one thread: 177 against
154 GFLOP/s for the first layer). So a product large enough to be worth a foreign call goes to
MKL's ``cblas_?gemm`` through ctypes once it is switched on; everything else, and every operand
layout GEMM cannot take without a copy, goes to ``np.matmul``. Results agree with NumPy's to
rounding (tests compare both).

NumPy is the default, and MKL is loaded only when asked for, because loading it has costs of its
own: MKL's packing buffers and Intel's OpenMP runtime add 3-6 MiB to the peak memory of
training (the 784-1024-1024-10 epoch of the benchmark went from 27 to 31-34 MiB above the data),
and the OpenMP runtime it brings shares the process with any other (PyTorch's, for one).
:func:`set_backend` chooses: ``"numpy"`` (default), ``"mkl"`` (raises if MKL is not installed)
or ``"auto"`` (MKL if it loads, else NumPy). MKL's threads follow the same limits as
OpenBLAS's: threadpoolctl sees both. MKL's results can depend on its thread count (OpenBLAS's
were identical for the shapes tested), and ``fit(threads="auto")`` changes the count with the
machine's load: for bit-identical runs with MKL, fix ``threads=N``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from typing import Any

import numpy as np

Array = np.ndarray

MIN_FLOPS = 2e6  # smaller products stay with NumPy: its call is cheaper than a ctypes call
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


class _Gemm:
    """``cblas_sgemm`` and ``cblas_dgemm`` of a loaded MKL runtime."""

    def __init__(self, path: str) -> None:
        self.path = path
        library = ctypes.CDLL(path)
        c_int, c_void_p = ctypes.c_int, ctypes.c_void_p
        self.functions: dict[Any, Any] = {}
        for name, dtype, scalar in (("cblas_sgemm", np.float32, ctypes.c_float),
                                    ("cblas_dgemm", np.float64, ctypes.c_double)):
            function = getattr(library, name)
            function.restype = None
            function.argtypes = [c_int, c_int, c_int, c_int, c_int, c_int, scalar, c_void_p, c_int,
                                 c_void_p, c_int, scalar, c_void_p, c_int]
            self.functions[np.dtype(dtype)] = function


def _find_mkl() -> str | None:
    """The MKL runtime library: next to this Python's packages (the PyPI wheel), or the system's."""
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        for path in sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*"))):
            return path
    return ctypes.util.find_library("mkl_rt")


def _load_mkl() -> _Gemm | None:
    path = _find_mkl()
    if path is None:
        return None
    try:
        return _Gemm(path)
    except (OSError, AttributeError):  # a broken or foreign library: NumPy it is
        return None


_mkl: _Gemm | None = None
_mkl_tried = False
_use_mkl = False


def mkl_available() -> bool:
    """Whether MKL's runtime can be loaded (loads it on the first call)."""
    global _mkl, _mkl_tried
    if not _mkl_tried:
        _mkl, _mkl_tried = _load_mkl(), True
    return _mkl is not None


def set_backend(name: str) -> str:
    """Choose who multiplies the large products: ``"numpy"``, ``"mkl"`` or ``"auto"``.

    Returns the backend now in use. ``"mkl"`` raises ``ImportError`` when MKL is not installed;
    ``"auto"`` takes MKL when it loads and NumPy otherwise.
    """
    global _use_mkl
    if name not in ("auto", "mkl", "numpy"):
        raise ValueError(f"unknown GEMM backend {name!r}; valid names are: auto, mkl, numpy")
    if name == "numpy":
        _use_mkl = False
    elif mkl_available():
        _use_mkl = True
    elif name == "mkl":
        raise ImportError("MKL's runtime was not found: pip install 'deltaprop[mkl]'")
    else:
        _use_mkl = False
    return backend()


def backend() -> str:
    """``"mkl"`` or ``"numpy"``: who multiplies the large products now."""
    return "mkl" if _use_mkl else "numpy"


def _operand(x: Array) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) for a 2-D operand GEMM can read in place, else None."""
    item = x.itemsize
    rows, cols = x.shape
    row_stride, col_stride = x.strides
    if col_stride == item and row_stride % item == 0 and row_stride // item >= cols:
        return _NO_TRANS, row_stride // item
    if row_stride == item and col_stride % item == 0 and col_stride // item >= rows:
        return _TRANS, col_stride // item  # the transpose of a row-major matrix
    return None


def matmul(a: Array, b: Array, out: Array) -> Array:
    """``out = a @ b`` for 2-D float arrays (``out`` C-contiguous), by MKL when worth it.

    Parameters
    ----------
    a : ndarray, shape (M, K)
    b : ndarray, shape (K, N)
    out : ndarray, shape (M, N)
    """
    M, K = a.shape
    N = b.shape[1]
    if not _use_mkl or 2.0 * M * N * K < MIN_FLOPS:
        return np.matmul(a, b, out=out)
    gemm = _mkl.functions.get(out.dtype) if _mkl is not None else None
    layout_a, layout_b = _operand(a), _operand(b)
    if (gemm is None or layout_a is None or layout_b is None or not out.flags.c_contiguous
            or a.dtype != out.dtype or b.dtype != out.dtype):
        return np.matmul(a, b, out=out)
    gemm(_ROW_MAJOR, layout_a[0], layout_b[0], M, N, K, 1.0, a.ctypes.data, layout_a[1],
         b.ctypes.data, layout_b[1], 0.0, out.ctypes.data, N)
    return out
