"""The Poisson loss (half the Poisson deviance, log link) and its ``exp`` output.

As specifications: a hand-worked value; scikit-learn's definitions (its MLPRegressor's
``loss_curve_`` on the same weights, its HalfPoissonLoss plus the constant terms, its
``mean_poisson_deviance``); the gradient by central differences and by PyTorch autograd on a
two-hidden-layer network with L2 and sample weights; a GLM fit (no hidden layer) reaching
scikit-learn's PoissonRegressor; bad targets named; the compiled engine equal to the NumPy
engine; model files and ONNX export.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.activations import Exp, exp_limit
from deltaprop.losses import Poisson


def _counts(n: int = 60, n_in: int = 3, n_out: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features and Poisson counts from a log-linear model (zeros included)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    coef = rng.normal(scale=0.4, size=(n_in, n_out))
    return X, rng.poisson(np.exp(X @ coef + 0.3)).astype(np.float64)


def _problem(n: int = 7, sizes: tuple[int, ...] = (3, 5, 4, 2), seed: int = 0, **mlp):
    """A float64 network with biases off zero, counts and sample weights for it."""
    X, Y = _counts(n, sizes[0], sizes[-1], seed)
    net = dp.MLP(list(sizes), activation="tanh", dtype=np.float64, seed=seed, **mlp)
    rng = np.random.default_rng(seed + 1)
    for b in net.biases:
        b[...] = rng.uniform(-0.5, 0.5, b.shape)
    return net, X, Y, rng.uniform(0.2, 3.0, n)


# -- the exp activation ------------------------------------------------------------------------
def test_exp_is_e_to_the_z_with_derivative_e_to_the_z():
    z = np.array([[-3.0, 0.0, 0.5, 2.0]])
    exp = dp.get_activation("exp")
    a = exp.forward(z)
    np.testing.assert_array_equal(a, np.exp(z))
    np.testing.assert_array_equal(exp.derivative(z, a), np.exp(z))
    g = np.array([[1.0, -2.0, 0.5, 3.0]])
    np.testing.assert_array_equal(exp.backward(g, z, a), g * np.exp(z))
    assert exp.to_config() == {"name": "exp"} and isinstance(dp.get_activation({"name": "exp"}), Exp)


@pytest.mark.parametrize("dtype, limit", [(np.float64, 709.0), (np.float32, 88.0), (np.float16, 11.0)])
def test_exp_saturates_below_overflow_without_a_warning(dtype, limit):
    """z is clipped at floor(log(max)): e^z stays finite, no overflow warning."""
    assert exp_limit(dtype) == limit
    z = np.array([[-1e4, limit - 1, limit, limit + 0.5, 1e4]], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = Exp().forward(z)
    assert a.dtype == dtype and np.isfinite(a).all()
    assert a[0, 0] == 0 and a[0, 2] == a[0, 3] == a[0, 4] == np.exp(dtype(limit))
    assert a[0, 1] < a[0, 2] < np.finfo(dtype).max


def test_the_compiled_kernels_saturate_where_the_activation_does():
    pytest.importorskip("numba")
    from deltaprop.engine.compiled import activation as kernels

    assert (kernels.EXP_LIMIT_64, kernels.EXP_LIMIT_32) == (exp_limit(np.float64), exp_limit(np.float32))


# -- the value ---------------------------------------------------------------------------------
def test_a_hand_worked_value():
    # y = 0, mu = 1:        0 log 0 - 0 + 1                = 1
    # y = 1, mu = 2:        1 log(1/2) - 1 + 2             = 1 - log 2
    # y = 3, mu = 3:        3 log(3/3) - 3 + 3             = 0       (a perfect fit: 0)
    # the mean over the three samples: (2 - log 2) / 3
    z = np.log(np.array([[1.0], [2.0], [3.0]]))
    Y = np.array([[0.0], [1.0], [3.0]])
    loss = dp.get_loss("poisson")
    a = Exp().forward(z)
    np.testing.assert_allclose(loss.sample_values(z, a, Y), [1.0, 1.0 - math.log(2.0), 0.0], atol=1e-15)
    assert loss.value(z, a, Y) == pytest.approx((2.0 - math.log(2.0)) / 3.0, rel=1e-15)


def test_the_value_is_scikit_learns_half_deviance_with_its_constant_terms():
    from sklearn._loss.loss import HalfPoissonLoss
    from sklearn.metrics import mean_poisson_deviance

    rng = np.random.default_rng(3)
    z = rng.normal(scale=1.5, size=(50, 1))
    Y = rng.poisson(3.0, size=(50, 1)).astype(float)
    w = rng.uniform(0.1, 2.0, 50)
    half = HalfPoissonLoss()
    per_sample = half.loss(Y[:, 0], z[:, 0]) + half.constant_to_optimal_zero(Y[:, 0])
    loss = Poisson()
    a = Exp().forward(z)
    np.testing.assert_allclose(loss.sample_values(z, a, Y), per_sample, rtol=1e-12)
    assert loss.value(z, a, Y) == pytest.approx(mean_poisson_deviance(Y, a) / 2, rel=1e-12)
    scale = w * (50 / w.sum())
    expected = mean_poisson_deviance(Y, a, sample_weight=w) / 2
    assert loss.weighted_value(z, a, Y, scale) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_the_value_is_scikit_learns_mlp_loss_curve_on_the_same_weights(weighted):
    """A scikit-learn MLPRegressor(loss="poisson") trained one epoch; its next full-batch epoch
    records in loss_curve_ the loss at those weights (alpha = 0: no decay term), which a
    deltaprop network given the same weights must compute."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    X, y = _counts(60)
    y = y[:, 0]
    w = np.random.default_rng(4).uniform(0.2, 3.0, 60) if weighted else None
    est = MLPRegressor(loss="poisson", hidden_layer_sizes=(6, 4), activation="tanh", solver="sgd",
                       batch_size=60, alpha=0.0, max_iter=1, shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y, sample_weight=w)
        coefs = [(W.T.copy(), b.copy()) for W, b in zip(est.coefs_, est.intercepts_)]
        est.set_params(warm_start=True).fit(X, y, sample_weight=w)
    net = dp.MLP([3, 6, 4, 1], activation="tanh", dtype=np.float64, seed=0)
    for i, (W, b) in enumerate(coefs):
        net.weights[i][...], net.biases[i][...] = W, b
    value, _, _ = net.loss_and_gradients(X, y, loss="poisson", sample_weight=w)
    assert value == pytest.approx(est.loss_curve_[-1], rel=1e-12)


# -- the gradient ------------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("hidden", ["tanh", "exp"])
def test_gradient_matches_central_differences(batch, hidden):
    _, X, Y, w = _problem(batch)
    net = dp.MLP([3, 5, 4, 2], activation=hidden, dtype=np.float64, seed=1)
    for W in net.weights:
        W *= 0.5  # exp hidden units: keep z of order 1
    report = dp.gradcheck(net, X, Y, loss="poisson", l2=0.3, sample_weight=w)
    assert report.passed, report
    assert set(report.errors) == set(net.parameter_slices)


def test_gradcheck_rejects_a_wrong_poisson_delta(monkeypatch):
    """The check has teeth: an output delta off by the factor of y fails it."""
    net, X, Y, w = _problem(7)
    def wrong(self, a, Y, out):
        return np.multiply(a - 0.5 * Y, 1 / a.shape[0], out=out)

    monkeypatch.setattr(Poisson, "_fused_delta", wrong)
    assert not dp.gradcheck(net, X, Y, loss="poisson", sample_weight=w).passed


def test_value_and_gradients_against_torch_autograd():
    torch = pytest.importorskip("torch")
    net, X, Y, w = _problem(9)
    l2 = 0.2
    value, dWs, dbs = net.loss_and_gradients(X, Y, loss="poisson", l2=l2, sample_weight=w)

    params = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
              for W, b in zip(net.weights, net.biases)]
    a = torch.tensor(X)
    for i, (W, b) in enumerate(params):
        z = a @ W.T + b
        a = torch.tanh(z) if i < len(params) - 1 else z
    target = torch.tensor(Y)
    nll = torch.nn.PoissonNLLLoss(log_input=True, full=False, reduction="none")(a, target)  # e^z - y z
    constant = torch.special.xlogy(target, target) - target
    per_sample = (nll + constant).sum(dim=1)
    weights = torch.tensor(w)
    t_value = (weights * per_sample).sum() / weights.sum()
    t_value = t_value + 0.5 * l2 * sum((W * W).sum() for W, _ in params)
    t_value.backward()

    assert value == pytest.approx(t_value.item(), rel=1e-12)
    for (W, b), dW, db in zip(params, dWs, dbs):
        np.testing.assert_allclose(dW, W.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(db, b.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_a_saturated_output_gives_a_finite_loss_and_gradient():
    net = dp.MLP([2, 1], output_activation="exp", dtype=np.float64, seed=0)
    net.weights[0][...] = [[1e4, 0.0]]
    X, y = np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([2.0, 0.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value, dWs, dbs = net.loss_and_gradients(X, y, loss="poisson")
    assert np.isfinite(value) and value > 1e300  # confidently wrong: a huge but finite loss
    assert all(np.isfinite(dW).all() for dW in dWs)


# -- fitting -----------------------------------------------------------------------------------
def test_a_glm_fit_reaches_poisson_regressors_deviance():
    """No hidden layer: exp(X w + b), the Poisson GLM. Its deviance is convex in (w, b) and
    smooth, so full-batch gradient descent converges linearly to the one optimum that
    PoissonRegressor(alpha=0) finds by Newton's method; 200 steps of lr 0.1 on these data
    bring the deviance to it within rounding (measured: equal to 1e-16 relative), so the bound
    is 1e-9 on the deviance and 1e-6 on the coefficients."""
    from sklearn.linear_model import PoissonRegressor
    from sklearn.metrics import mean_poisson_deviance

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = rng.poisson(np.exp(X @ [0.4, -0.3, 0.2, 0.1] + 0.5)).astype(float)
    reference = PoissonRegressor(alpha=0.0, tol=1e-12, max_iter=1000).fit(X, y)
    net = dp.MLP([4, 1], dtype=np.float64, seed=0)
    net.fit(X, y, loss="poisson", optimizer=dp.SGD(lr=0.1), epochs=200, batch_size="full",
            engine="numpy", threads=None)
    assert net.output_layer.activation.name == "exp"
    deviance = mean_poisson_deviance(y, net.predict(X)[:, 0])
    best = mean_poisson_deviance(y, reference.predict(X))
    assert deviance == pytest.approx(best, rel=1e-9)
    np.testing.assert_allclose(net.weights[0][0], reference.coef_, atol=1e-6)
    assert net.biases[0][0] == pytest.approx(reference.intercept_, abs=1e-6)
    assert net.history.loss[-1] == pytest.approx(best / 2, rel=1e-6)  # the half deviance


def test_all_zero_targets_are_fitted_towards_zero():
    X, _ = _counts(40)
    net = dp.MLP([3, 4, 1], dtype=np.float64, seed=0)
    history = net.fit(X, np.zeros(40), loss="poisson", optimizer=dp.Adam(lr=0.05), epochs=30,
                      engine="numpy", threads=None)
    assert history.stop_reason != "diverged" and np.isfinite(history.loss).all()
    # with y = 0 the loss is the mean of mu itself, which the fit drives towards 0
    assert history.loss[-1] < 0.1 * history.loss[0]
    assert np.mean(net.predict(X)) == pytest.approx(history.loss[-1], rel=0.5)


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("y, error, message", [
    (np.array([1.0, 2.0, -0.5, 3.0]), ValueError, r"must be non-negative .*row 2 holds -0\.5"),
    (np.array([1.0, np.nan, 0.0, 3.0]), ValueError, "NaN or infinity"),
    (np.array([1.0, np.inf, 0.0, 3.0]), ValueError, "NaN or infinity"),
    (np.array(["1", "2", "3", "4"]), TypeError, "targets must be numbers"),
    (np.ones((4, 2)), ValueError, r"targets have shape \(4, 2\) but the network has 1 output"),
])
def test_bad_targets_are_named(y, error, message):
    net = dp.MLP([2, 1], dtype=np.float64, seed=0)
    X = np.ones((4, 2))
    with pytest.raises(error, match=message):
        net.fit(X, y, loss="poisson", epochs=1)
    with pytest.raises(error, match=message):
        net.loss_and_gradients(X, y, loss="poisson")


def test_targets_whose_deviance_overflows_the_dtype_are_named():
    net = dp.MLP([2, 1], dtype=np.float32, seed=0)
    with pytest.raises(ValueError, match="Poisson deviance over 4 rows overflows float32.*float64"):
        net.fit(np.ones((4, 2)), [1.0, 2.0, 3e36, 0.0], loss="poisson", epochs=1)
    dp.MLP([2, 1], dtype=np.float64, seed=0).loss_and_gradients(
        np.ones((4, 2)), [1.0, 2.0, 3e36, 0.0], loss="poisson")  # float64 holds it


def test_an_output_other_than_exp_is_refused():
    net = dp.MLP([2, 1], output_activation="identity", dtype=np.float64, seed=0)
    with pytest.raises(ValueError, match="poisson needs an exp output layer, not 'identity'"):
        net.fit(np.ones((4, 2)), np.ones(4), loss="poisson", epochs=1)


# -- the compiled engine -----------------------------------------------------------------------
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss, hidden, n_out, batch_size, weighted", [
    ("poisson", "tanh", 1, 8, False), ("poisson", "relu", 3, 1, True), ("poisson", "exp", 2, "full", True),
    ("squared_error", "tanh", 2, 8, True)])
def test_the_compiled_engine_gives_the_numpy_engines_weights(dtype, loss, hidden, n_out, batch_size,
                                                             weighted):
    """Three epochs from the same seed on each engine: the same weights and loss history, to
    1e-12 relative in float64 and 1e-5 in float32 (as tests/test_compiled_engine.py). The
    squared error on an exp output goes through the chain rule (exp's compiled backward)."""
    pytest.importorskip("numba")
    X, Y = _counts(90, 5, n_out, seed=2)
    w = np.random.default_rng(5).uniform(0.0, 3.0, 90) if weighted else None
    nets, histories = [], []
    for engine in ("numpy", "compiled"):
        net = dp.MLP([5, 6, n_out], activation=hidden, output_activation="exp", dtype=dtype, seed=3)
        for W in net.weights:
            W *= 0.5
        histories.append(dp.fit(net, X, Y, loss=loss, optimizer=dp.Adam(lr=0.01), epochs=3,
                                batch_size=batch_size, l2=1e-3, engine=engine, threads=1,
                                sample_weight=w))
        nets.append(net)
    assert [h.engine for h in histories] == ["numpy", "compiled"]
    tol = TOLERANCE[dtype]
    difference = np.abs(nets[0].theta.astype(float) - nets[1].theta.astype(float)).max()
    assert difference / np.abs(nets[0].theta).max() <= tol
    np.testing.assert_allclose(histories[1].loss, histories[0].loss, rtol=100 * tol)


def test_the_compiled_backward_pass_passes_the_gradient_check():
    pytest.importorskip("numba")
    net, X, Y, w = _problem(7, output_activation="exp")
    assert dp.gradcheck(net, X, Y, loss="poisson", l2=0.1, sample_weight=w, engine="compiled").passed


# -- files -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_poisson_network_round_trips_through_its_model_file(dtype, tmp_path: Path):
    X, Y = _counts(40)
    net = dp.MLP([3, 5, 1], activation="exp", dtype=dtype, seed=1)
    net.fit(X, Y, loss="poisson", epochs=3, threads=None)
    path = tmp_path / "poisson.dp"
    dp.save(net, path)
    loaded = dp.load(path)
    assert loaded.loss.name == "poisson" and loaded.output_layer.activation.name == "exp"
    assert repr(loaded) == repr(net) and loaded.history.loss == net.history.loss
    np.testing.assert_array_equal(loaded.theta, net.theta)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    for network in (net, loaded):  # the same next epochs, to the bit
        network.fit(X, Y, loss="poisson", epochs=2, threads=None)
    np.testing.assert_array_equal(loaded.theta, net.theta)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_onnx_export_of_exp_units_equals_predict(dtype, tmp_path: Path):
    """Exp(Min(z, limit)): equal to predict, saturated outputs included, where ONNX's Exp
    alone would give infinity. The relative error of e^z is the absolute error of z, a few
    eps |z| from the Gemm's rounding: the bound is 32 eps max|z|."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from deltaprop.files.onnx import export_onnx

    net = dp.MLP([3, 4, 2], activation="exp", output_activation="exp", dtype=dtype, seed=0)
    net.weights[1][...] *= 60.0  # some outputs past the clip
    X = np.random.default_rng(0).normal(scale=2.0, size=(50, 3)).astype(dtype)
    export_onnx(net, tmp_path / "poisson.onnx")
    session = ort.InferenceSession(str(tmp_path / "poisson.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"X": X})
    expected = net.predict(X)
    assert got.dtype == dtype and np.isfinite(got).all()
    assert np.any(expected == np.exp(dtype(exp_limit(dtype))))  # the clip is exercised
    net.forward(X)
    z_max = float(np.abs(net.zs[-1]).max())
    np.testing.assert_allclose(got, expected, rtol=32 * np.finfo(dtype).eps * z_max, atol=0)
