"""Sparse input: a scipy.sparse X (CSR, CSC, COO, matrix or array) trains, predicts and evaluates
as its dense twin does, to rounding, without ever being made dense; what cannot take it refuses
it by name.

The reference is always the same call on ``X.toarray()`` with the same seed: the dense path is
the one the gradient checks and the PyTorch reference prove, so equality to it (1e-10 in float64)
carries those proofs over to the sparse products of the first layer.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import deltaprop as dp
from deltaprop._validation import as_sparse_rows, is_sparse
from deltaprop.data.arrays import fingerprint
from deltaprop.data.preprocessing import Standardizer
from deltaprop.engine.compiled import choice
from deltaprop.layers import BatchNorm, Dense
from deltaprop.optim import OPTIMIZERS

sp = pytest.importorskip("scipy.sparse")

N, N_IN, N_CLASSES = 60, 40, 3
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def sparse_data(density=0.1, seed=0, n=N, n_in=N_IN):
    """A seeded CSR X with about ``density`` non-zeros (some rows empty), class labels and
    regression targets that depend on it."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(-2.0, 2.0, (n, n_in)) * (rng.random((n, n_in)) < density)
    values[3] = 0.0  # an empty row
    values[:, -3:] = 0.0  # empty columns: their weights get no gradient but decay's
    scores = values @ rng.standard_normal((n_in, N_CLASSES))
    return sp.csr_matrix(values), np.argmax(scores, axis=1), scores[:, 0]


X_SPARSE, Y_CLASS, Y_REAL = sparse_data()
X_DENSE = X_SPARSE.toarray()


def net(dtype=np.float64, sizes=(N_IN, 8, N_CLASSES), **options):
    return dp.MLP(list(sizes), seed=3, dtype=dtype, **options)


def fit_twins(X, y=Y_CLASS, *, dtype=np.float64, sizes=(N_IN, 8, N_CLASSES), mlp=None, **options):
    """(sparse-trained net, dense-trained net, their histories): the same seed and options."""
    options = {"loss": "cross_entropy", "epochs": 3, "engine": "numpy", **options}
    nets = [net(dtype, sizes, **(mlp or {})) for _ in range(2)]
    dense_options = dict(options)
    if callable(options.get("optimizer")):  # an optimizer object keeps its state: one per net
        options["optimizer"], dense_options["optimizer"] = options["optimizer"](), options["optimizer"]()
    if "validation_data" in options:
        X_val, *rest = options["validation_data"]
        dense_options["validation_data"] = (X_val.toarray() if is_sparse(X_val) else X_val, *rest)
    histories = [nets[0].fit(X, y, **options), nets[1].fit(X.toarray(), y, **dense_options)]
    return nets[0], nets[1], histories


def assert_same_training(sparse_net, dense_net, histories, dtype=np.float64):
    tol = TOL[dtype]
    np.testing.assert_allclose(sparse_net.theta, dense_net.theta, rtol=tol, atol=tol)
    np.testing.assert_allclose(histories[0].loss, histories[1].loss, rtol=tol, atol=tol)
    for name in ("val_loss", "val_metric", "metric"):
        first, second = getattr(histories[0], name, None), getattr(histories[1], name, None)
        if first is not None:
            np.testing.assert_allclose(first, second, rtol=tol, atol=tol)


# -- training equals training on X.toarray() ------------------------------------------------------
@pytest.mark.parametrize("kind", ["csr_matrix", "csc_matrix", "coo_matrix", "csr_array", "csc_array"])
@pytest.mark.parametrize("batch_size", [1, 7, "full"])
def test_training_on_each_format_equals_training_on_the_dense_array(kind, batch_size):
    X = getattr(sp, kind)(X_SPARSE)
    assert_same_training(*fit_twins(X, batch_size=batch_size, epochs=2 if batch_size == 1 else 4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", [*sorted(OPTIMIZERS), "sgd_nesterov", "adam_clipped"])
def test_every_optimizer_in_both_dtypes_trains_as_on_the_dense_array(optimizer, dtype):
    made = {"sgd_nesterov": lambda: dp.SGD(lr=0.05, momentum=0.9, nesterov=True),
            "adam_clipped": lambda: dp.Adam(lr=0.01, clip_norm=0.5)}
    batch = "full" if optimizer == "lbfgs" else 16
    sparse_net, dense_net, histories = fit_twins(
        X_SPARSE, dtype=dtype, batch_size=batch, l2=1e-3,
        optimizer=made.get(optimizer, optimizer))
    assert sparse_net.theta.dtype == dtype
    assert_same_training(sparse_net, dense_net, histories, dtype)


def test_sample_weights_validation_data_and_regression_train_as_on_the_dense_array():
    w = np.random.default_rng(5).uniform(0.0, 3.0, N)
    X_val, y_val, _ = sparse_data(seed=9, n=20)
    twins = fit_twins(X_SPARSE, sample_weight=w, validation_data=(X_val.tocsc(), y_val),
                      batch_size=8, l1=1e-4)
    assert_same_training(*twins)
    assert np.isfinite(twins[2][0].val_loss).all()
    regression = fit_twins(X_SPARSE, Y_REAL, sizes=(N_IN, 6, 1), loss="squared_error", batch_size=5,
                           sampling="random")
    assert_same_training(*regression)


def test_a_validation_fraction_splits_the_sparse_rows_as_it_splits_the_dense_ones():
    twins = fit_twins(X_SPARSE.tocoo(), validation_fraction=0.25, batch_size=10, early_stopping=2)
    assert_same_training(*twins)
    assert len(twins[2][0].val_loss) == len(twins[2][1].val_loss) > 0


def test_restarts_batchnorm_and_dropout_after_the_first_layer_train_as_on_the_dense_array():
    """BatchNorm sees the first layer's dense z; dropout draws its masks from the network's
    generator in the same order; restarts re-train on the same sparse rows."""
    assert_same_training(*fit_twins(X_SPARSE, batch_size=12, mlp={"batch_norm": True, "dropout": 0.2}))
    sparse_net, dense_net, histories = fit_twins(X_SPARSE, batch_size=12, restarts=3)
    assert_same_training(sparse_net, dense_net, histories)
    assert [run["loss"] for run in histories[0].restarts] == pytest.approx(
        [run["loss"] for run in histories[1].restarts], rel=1e-10)


def test_integer_and_boolean_sparse_inputs_train_as_float():
    counts = sp.random(N, N_IN, density=0.1, format="csr", random_state=2,
                       data_rvs=lambda k: np.random.default_rng(0).integers(1, 5, k)).astype(np.int64)
    assert counts.dtype == np.int64
    assert_same_training(*fit_twins(counts, batch_size=9))
    flags = counts.astype(bool)
    assert_same_training(*fit_twins(flags, batch_size=9))


# -- queries --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["csr_matrix", "csc_array", "coo_matrix"])
def test_predictions_forward_and_evaluation_equal_the_dense_arrays(kind):
    trained = net()
    trained.fit(X_DENSE, Y_CLASS, loss="cross_entropy", epochs=2, engine="numpy")
    X = getattr(sp, kind)(X_SPARSE)
    for query in ("predict", "predict_logits", "predict_classes"):
        np.testing.assert_allclose(getattr(trained, query)(X), getattr(trained, query)(X_DENSE),
                                   rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(trained.forward(X).copy(), trained.forward(X_DENSE), rtol=1e-12, atol=1e-12)
    w = np.arange(N) % 4
    np.testing.assert_allclose(dp.evaluate(trained, X, Y_CLASS, sample_weight=w),
                               dp.evaluate(trained, X_DENSE, Y_CLASS, sample_weight=w), rtol=1e-12)


def test_predict_over_several_chunks_equals_the_dense_prediction(monkeypatch):
    import deltaprop.evaluation as evaluation

    monkeypatch.setattr(evaluation, "PREDICT_CHUNK", 7)  # 60 rows: 9 chunks, the last of 4
    trained = net()
    np.testing.assert_allclose(trained.predict(X_SPARSE), trained.predict(X_DENSE), rtol=1e-12)


def test_loss_and_gradients_of_sparse_rows_equal_the_dense_ones():
    """The first layer's sparse dW = (X^T delta)^T against delta^T X, every layer's gradient."""
    model = net()
    w = np.linspace(0.0, 2.0, N)
    empty_columns = np.flatnonzero(X_SPARSE.getnnz(axis=0) == 0)
    for options in ({}, {"l2": 0.1, "l1": 0.01, "sample_weight": w}):
        sparse_value, sparse_dWs, sparse_dbs = model.loss_and_gradients(
            X_SPARSE.tocsc(), Y_CLASS, loss="cross_entropy", **options)
        value, dWs, dbs = model.loss_and_gradients(X_DENSE, Y_CLASS, loss="cross_entropy", **options)
        assert sparse_value == pytest.approx(value, rel=1e-12)
        for got, want in zip(sparse_dWs + sparse_dbs, dWs + dbs):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
        if not options:  # no decay: a column that is all zeros gets no gradient
            assert empty_columns.size and not sparse_dWs[0][:, empty_columns].any()


def test_the_dense_layer_takes_sparse_rows_forward_and_backward():
    """Dense alone: z = X W^T + b and dW = delta^T X from CSR rows, written by hand in the test."""
    layer_net = dp.Network([Dense(N_IN, 5, "tanh")], dtype=np.float64, seed=0)
    layer = layer_net.layers[0]
    X = X_SPARSE[:10]
    a = layer.forward(X, training=True).copy()
    z = X_DENSE[:10] @ layer.W.T + layer.b
    np.testing.assert_allclose(a, np.tanh(z), rtol=1e-12)
    g = np.random.default_rng(0).standard_normal((10, 5))
    layer.backward(g.copy(), need_input_grad=False)
    delta = g * (1.0 - np.tanh(z) ** 2)
    np.testing.assert_allclose(layer.dW, delta.T @ X_DENSE[:10], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(layer.db, delta.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.forward(X.tocsc(), training=False), np.tanh(z), rtol=1e-12)


# -- never dense ----------------------------------------------------------------------------------
class NeverDense(sp.csr_matrix):
    """A CSR matrix that refuses to be made dense, and whose row slices are NeverDense too."""

    def toarray(self, *args, **kwargs):
        raise AssertionError("made dense")

    todense = toarray

    def __array__(self, *args, **kwargs):
        raise AssertionError("made dense")


def test_no_path_makes_the_sparse_rows_dense():
    X = NeverDense(X_SPARSE)
    X_val = NeverDense(sparse_data(seed=4, n=15)[0])
    model = net()
    model.fit(X, Y_CLASS, loss="cross_entropy", epochs=2, batch_size=7, validation_data=(X_val, Y_CLASS[:15]),
              engine="numpy")
    model.fit(X, Y_CLASS, loss="cross_entropy", epochs=1, batch_size="full", validation_fraction=0.2,
              sample_weight=np.ones(N), engine="numpy")
    model.predict(X), model.predict_classes(X), dp.evaluate(model, X, Y_CLASS)
    model.loss_and_gradients(X, Y_CLASS, loss="cross_entropy")


def test_a_wide_sparse_x_trains_in_a_fraction_of_its_dense_size():
    """1,000,000 features, 64 rows, 3 non-zeros each: dense it would be 256 MB in float32; the
    traced peak of a fit and a predict stays under a quarter of that (the parameters, their
    gradient, Adam's moments and the per-step products are about 50 MB)."""
    rows, features = 64, 1_000_000
    rng = np.random.default_rng(0)
    X = sp.csr_matrix((rng.random(3 * rows).astype(np.float32), rng.integers(0, features, 3 * rows),
                       np.arange(0, 3 * rows + 1, 3)), shape=(rows, features))
    y = np.arange(rows) % 2
    model = dp.MLP([features, 2, 2], seed=0, dtype=np.float32)
    dense_bytes = rows * features * 4
    tracemalloc.start()
    try:
        model.fit(X, y, loss="cross_entropy", epochs=1, batch_size=32, engine="numpy")
        model.predict(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < dense_bytes / 4, f"traced peak {peak / 2**20:.0f} MiB"


def test_importing_deltaprop_and_training_on_arrays_does_not_import_scipy():
    code = ("import sys, numpy as np, deltaprop as dp; "
            "dp.MLP([2, 2], seed=0).fit(np.eye(2), [0, 1], loss='cross_entropy', epochs=1); "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'scipy'], 'scipy imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -- the compiled engine does not take sparse rows ------------------------------------------------
def test_the_compiled_engine_refuses_sparse_input_by_name():
    with pytest.raises(ValueError, match="engine='compiled' cannot train this model: the input X is sparse"):
        net().fit(X_SPARSE, Y_CLASS, loss="cross_entropy", epochs=1, engine="compiled")
    reason = choice.uncovered(net(), dp.losses.CrossEntropy(), dp.SGD(), sparse=True)
    assert reason is not None and "sparse" in reason
    assert choice.choose("auto", net(), dp.losses.CrossEntropy(), dp.SGD(), batch_size=32,
                         steps=10**9, sparse=True)[0] == "numpy"


def test_auto_runs_sparse_input_on_numpy_and_says_why():
    history = net().fit(X_SPARSE, Y_CLASS, loss="cross_entropy", epochs=1, engine="auto")
    assert history.engine == "numpy"
    assert "sparse" in history.engine_reason


# -- what is refused, named -----------------------------------------------------------------------
def with_value(value, row=2):
    X = X_SPARSE.copy()
    X.data[X.indptr[row]] = value
    return X


@pytest.mark.parametrize("make, error, message", [
    (lambda: with_value(np.nan), ValueError, "X contains NaN or infinity"),
    (lambda: with_value(-np.inf), ValueError, "X contains NaN or infinity"),
    (lambda: sp.csr_matrix((0, N_IN)), ValueError, r"X has zero samples \(shape \(0, 40\)\)"),
    (lambda: sp.csr_matrix((N, N_IN + 1)), ValueError, "X has 41 features but the network expects 40"),
    (lambda: X_SPARSE.astype(np.complex128), TypeError, "X must hold numbers, got a sparse matrix of "
                                                        "dtype complex128"),
    (lambda: sp.coo_array(np.ones(N_IN)), ValueError, r"X must be 2-D \(n_samples, n_features\)"),
])
def test_bad_sparse_x_is_refused_as_the_dense_path_names_it(make, error, message):
    with pytest.raises(error, match=message):
        net().fit(make(), Y_CLASS, loss="cross_entropy", epochs=1, engine="numpy")
    with pytest.raises(error, match=message):
        net().predict(make())


def test_a_value_beyond_float32_is_named_as_the_dense_path_names_it():
    with pytest.raises(ValueError, match="X holds 1e[+]?39, beyond the largest float32"):
        net(np.float32).fit(with_value(1e39), Y_CLASS, loss="cross_entropy", epochs=1, engine="numpy")
    with pytest.raises(ValueError, match="validation X contains NaN or infinity"):
        net().fit(X_SPARSE, Y_CLASS, loss="cross_entropy", epochs=1, engine="numpy",
                  validation_data=(with_value(np.nan), Y_CLASS))


def test_what_cannot_take_sparse_rows_refuses_them_by_name():
    batchnorm_first = dp.Network([BatchNorm(N_IN), Dense(N_IN, N_CLASSES)], dtype=np.float64, seed=0)
    with pytest.raises(TypeError, match="only a network whose first layer is Dense takes"):
        batchnorm_first.predict(X_SPARSE)
    with pytest.raises(TypeError, match=r"y is a scipy.sparse matrix; .* y.toarray\(\)"):
        net().fit(X_SPARSE, sp.csr_matrix(np.eye(N_CLASSES)[Y_CLASS]), loss="cross_entropy", epochs=1)
    with pytest.raises(TypeError, match="standardizing subtracts each column's mean"):
        Standardizer.fit(X_SPARSE)
    with pytest.raises(TypeError, match="standardizing subtracts each column's mean"):
        Standardizer.fit(X_DENSE).transform(X_SPARSE)
    with pytest.raises(TypeError, match=r"X is a scipy.sparse matrix; .* X.toarray\(\)"):
        dp.BatchStepper(net(), X_SPARSE, Y_CLASS, loss="cross_entropy")


# -- the checked rows and their fingerprint -------------------------------------------------------
def test_the_checked_rows_are_csr_of_the_dtype_shared_when_already_so():
    same = as_sparse_rows(X_SPARSE, "X", np.float64)
    assert same is X_SPARSE
    converted = as_sparse_rows(X_SPARSE.tocsc(), "X", np.float32)
    assert converted.format == "csr" and converted.dtype == np.float32
    duplicated = sp.csr_matrix((np.array([1.0, 2.0]), np.array([1, 1]), np.array([0, 2])), shape=(1, 3))
    summed = as_sparse_rows(duplicated, "X", np.float64)
    assert summed.nnz == 1 and summed[0, 1] == 3.0 and duplicated.nnz == 2  # the user's left alone


def test_a_checkpointed_sparse_run_resumes_on_the_same_rows_in_any_format(tmp_path):
    assert fingerprint(X_SPARSE) == fingerprint(X_SPARSE.tocsc()) == fingerprint(X_SPARSE.tocoo())
    assert fingerprint(X_SPARSE) != fingerprint(with_value(7.0))
    assert fingerprint(X_SPARSE) != fingerprint(X_DENSE)
    path = tmp_path / "run.ckpt"
    options = {"loss": "cross_entropy", "batch_size": 10, "engine": "numpy", "validation_fraction": 0.2}
    whole = net()
    whole.fit(X_SPARSE, Y_CLASS, epochs=5, **options)
    part = net()
    part.fit(X_SPARSE, Y_CLASS, epochs=2, checkpoint=path, **options)
    resumed, history = dp.resume(path, X_SPARSE.tocsc(), Y_CLASS, epochs=5)
    np.testing.assert_array_equal(resumed.theta, whole.theta)
    assert history.val_loss == whole.history.val_loss
    with pytest.raises(ValueError, match="these data differ from the checkpointed run's"):
        dp.resume(path, with_value(7.0), Y_CLASS, epochs=6)  # (a finished run, resumed further)
