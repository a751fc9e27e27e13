"""The GEMM backend: MKL's products agree with NumPy's, odd layouts fall back, and a whole
training run gives the same weights with either backend (to rounding)."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop import blas


@pytest.fixture
def mkl():
    if not blas.mkl_available():
        pytest.skip("MKL is not installed (pip install 'deltaprop[mkl]')")
    previous = blas.backend()
    blas.set_backend("mkl")
    yield
    blas.set_backend(previous)


def _layouts(array):
    """The array as row-major, as the transpose of a row-major array, and as a row slice."""
    transposed = np.ascontiguousarray(array.T).T
    padded = np.zeros((array.shape[0], array.shape[1] + 3), array.dtype)
    padded[:, : array.shape[1]] = array
    return {"C": array, "T": transposed, "strided": padded[:, : array.shape[1]]}


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_mkl_products_match_numpy_in_every_layout(mkl, dtype, rtol):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((130, 150)).astype(dtype)
    B = rng.standard_normal((150, 170)).astype(dtype)
    expected = A.astype(np.float64) @ B.astype(np.float64)
    for name_a, a in _layouts(A).items():
        for name_b, b in _layouts(B).items():
            out = np.full((130, 170), np.nan, dtype)
            assert blas.matmul(a, b, out) is out
            message = f"{name_a} @ {name_b}"
            np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * 10, err_msg=message)


def test_layouts_gemm_cannot_read_fall_back_to_numpy(mkl):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((200, 300)).astype(np.float32)[:, ::2]  # every other column
    B = rng.standard_normal((150, 120)).astype(np.float32)
    out = np.empty((200, 120), np.float32)
    np.testing.assert_allclose(blas.matmul(A, B, out), A @ B, rtol=1e-5)
    mixed = np.empty((200, 120), np.float64)  # dtypes differ: NumPy casts
    np.testing.assert_allclose(blas.matmul(A, B, mixed), A @ B, rtol=1e-5)


def test_training_agrees_across_backends(mkl):
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((256, 300)), rng.integers(0, 5, 256)

    def train():
        net = dp.MLP([300, 400, 5], dtype=np.float64, seed=0)  # products above MIN_FLOPS
        net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(lr=0.05), epochs=2, batch_size=128)
        return net.theta.copy()

    with_mkl = train()
    blas.set_backend("numpy")
    with_numpy = train()
    np.testing.assert_allclose(with_mkl, with_numpy, rtol=1e-10, atol=1e-12)


def test_numpy_is_the_default_and_the_choice_is_explicit():
    assert blas.backend() == "numpy"  # MKL only when asked for
    try:
        expected = "mkl" if blas.mkl_available() else "numpy"
        assert blas.set_backend("auto") == expected
        assert blas.set_backend("numpy") == "numpy"
        with pytest.raises(ValueError, match="valid names are: auto, mkl, numpy"):
            blas.set_backend("cublas")
        if not blas.mkl_available():
            with pytest.raises(ImportError, match=r"deltaprop\[mkl\]"):
                blas.set_backend("mkl")
    finally:
        blas.set_backend("numpy")
