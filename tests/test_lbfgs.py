"""Full-batch L-BFGS (deltaprop.optim.LBFGS, deltaprop.training.lbfgs): the objective handed to
SciPy is the loss and gradient of minibatch fit in full batch, proved by central differences; it
minimizes (least squares, a nonconvex net) and agrees with scikit-learn's lbfgs solver; what it
records; and every option it refuses, by its message."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

import deltaprop as dp
import deltaprop.training.lbfgs as lbfgs
from deltaprop.engine.step import NumpyEngine
from deltaprop.training.options import FitOptions

H = 1e-6  # central differences in float64: truncation ~h^2, rounding ~1e-16 |f| / h


def _regression(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 - X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=n)
    return X, y


def _classes(n=45, d=3, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int) + (X[:, 2] > 0.5)
    return X, y


@pytest.fixture
def handed_to_scipy(monkeypatch):
    """The objective and starting point fit hands to scipy.optimize.minimize, captured on the
    way (the minimization itself runs unchanged)."""
    real = lbfgs.scipy_minimize()
    seen: dict = {}

    def minimize(fun, x0, **kwargs):
        seen.setdefault("fun", fun)
        seen.setdefault("x0", x0.copy())
        seen.setdefault("options", kwargs["options"])
        return real(fun, x0, **kwargs)

    monkeypatch.setattr(lbfgs, "scipy_minimize", lambda: minimize)
    return seen


# -- the objective -------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("loss", ["squared_error", "cross_entropy"])
def test_the_objective_handed_to_scipy_passes_central_differences(handed_to_scipy, loss, activation):
    X, y = _classes() if loss == "cross_entropy" else _regression()
    w = np.random.default_rng(2).uniform(0.2, 3.0, size=len(y))
    net = dp.MLP([3, 4, 3 if loss == "cross_entropy" else 1], activation=activation,
                 dtype=np.float64, seed=3)
    dp.fit(net, X, y, loss=loss, optimizer="lbfgs", epochs=1, l2=0.05, sample_weight=w)
    fun, x0 = handed_to_scipy["fun"], handed_to_scipy["x0"]
    assert x0.dtype == np.float64
    value, grad = fun(x0)
    assert grad.dtype == np.float64 and grad.shape == x0.shape
    numeric = np.empty_like(x0)
    for j in range(x0.size):
        step = np.zeros_like(x0)
        step[j] = H
        numeric[j] = (fun(x0 + step)[0] - fun(x0 - step)[0]) / (2 * H)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_the_objective_is_minibatch_fits_loss_in_full_batch(handed_to_scipy):
    X, y = _regression()
    w = np.random.default_rng(4).uniform(0.0, 2.0, size=len(y))
    net = dp.MLP([3, 5, 1], activation="tanh", dtype=np.float64, seed=5)
    start = net.copy()
    dp.fit(net, X, y, optimizer="lbfgs", epochs=1, l2=0.1, sample_weight=w)
    value, grad = handed_to_scipy["fun"](handed_to_scipy["x0"])
    # the network's one backward pass (Network.loss_and_gradients), same l2 and weights
    reference, _, _ = start.loss_and_gradients(X, y, l2=0.1, sample_weight=w)
    assert value == pytest.approx(reference, rel=1e-12)
    np.testing.assert_allclose(grad, start.grad, rtol=1e-12, atol=1e-15)
    # and by hand: sum_i w_i 1/2 (a_i - y_i)^2 / sum_i w_i + l2/2 sum ||W||^2
    a = start.predict(X)[:, 0]
    by_hand = np.sum(w * 0.5 * (a - y) ** 2) / w.sum() + 0.05 * sum(np.sum(W**2) for W in start.weights)
    assert value == pytest.approx(by_hand, rel=1e-12)


# -- it minimizes --------------------------------------------------------------------------------
def test_it_finds_the_weighted_least_squares_solution():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(50, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.7 + 0.3 * rng.normal(size=50)
    w = rng.uniform(0.5, 2.0, size=50)
    net = dp.MLP([4, 1], dtype=np.float64, seed=0)  # no hidden layer: a convex quadratic
    history = dp.fit(net, X, y, optimizer=dp.LBFGS(tol=1e-10, ftol=0.0), epochs=200,
                     sample_weight=w)
    assert history.stop_reason == "converged"
    A = np.c_[X, np.ones(50)] * np.sqrt(w)[:, None]
    solution = np.linalg.lstsq(A, y * np.sqrt(w), rcond=None)[0]
    np.testing.assert_allclose(np.r_[net.weights[0][0], net.biases[0]], solution, rtol=0, atol=1e-8)


def test_it_reaches_a_much_lower_loss_than_a_few_epochs_of_sgd():
    X, y = _regression(n=60)
    sgd, quasi_newton = (dp.MLP([3, 8, 1], activation="tanh", dtype=np.float64, seed=7) for _ in range(2))
    sgd_loss = dp.fit(sgd, X, y, optimizer=dp.SGD(0.05), epochs=20, batch_size=10).final_loss
    history = dp.fit(quasi_newton, X, y, optimizer="lbfgs", epochs=200)
    assert history.final_loss < sgd_loss / 10
    assert np.all(np.diff(history.loss) <= 0)  # the line search only accepts decreases


def test_a_float32_network_is_trained_through_float64_and_stays_float32():
    X, y = _regression(n=60)
    net = dp.MLP([3, 8, 1], activation="tanh", dtype=np.float32, seed=7)
    before = dp.fit(net.copy(), X, y, optimizer=dp.SGD(0.05), epochs=20, batch_size=10).final_loss
    history = dp.fit(net, X, y, optimizer="lbfgs", epochs=200)
    assert net.theta.dtype == np.float32 and net.grad.dtype == np.float32
    assert history.final_loss < before / 10
    assert net.loss_and_gradients(X, y)[0] == pytest.approx(history.final_loss, rel=1e-6)


def _sklearn_twin(estimator, net, X, y, max_iter):
    """``estimator`` (solver lbfgs) from ``net``'s initial weights: one warm-started fit makes
    its coefs_, which are then overwritten with ours (its W is our W transposed)."""
    estimator.set_params(max_iter=1, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 1-iteration fit's ConvergenceWarning
        estimator.fit(X, y)
        estimator.coefs_ = [W.T.copy() for W in net.weights]
        estimator.intercepts_ = [b.copy() for b in net.biases]
        estimator.set_params(max_iter=max_iter)
        estimator.fit(X, y)
    return estimator


# Both sides evaluate the same float64 objective, differing only in the order of summations
# (relative rounding ~1e-16). L-BFGS-B is deterministic given f and g, so both runs follow the same
# iterates, the rounding differences growing through the curvature pairs: after 50 iterations the
# final losses differ by 8e-11 (regressor) and 2e-13 (classifier), measured; after 200 iterations
# of a nonconvex regressor they can reach 0.5%, so the runs are kept at 50. rel=1e-8 leaves a
# margin of 100 over the larger; the weights (whose directions of low curvature the loss barely
# pins) agree to 1e-6.
@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_the_final_loss_matches_scikit_learns_lbfgs(kind):
    neural_network = pytest.importorskip("sklearn.neural_network")
    alpha, iterations = 1e-2, 50
    if kind == "regressor":
        X, y = _regression(n=80, d=4)
        net = dp.MLP([4, 6, 1], activation="tanh", dtype=np.float64, seed=0)
        estimator = neural_network.MLPRegressor(hidden_layer_sizes=(6,), activation="tanh",
                                                solver="lbfgs", alpha=alpha)
        loss = "squared_error"  # scikit-learn's squared loss: mean of (y - a)^2 / 2
    else:
        X, y = _classes(n=90, d=4)
        net = dp.MLP([4, 5, 3], activation="relu", dtype=np.float64, seed=1)
        estimator = neural_network.MLPClassifier(hidden_layer_sizes=(5,), activation="relu",
                                                 solver="lbfgs", alpha=alpha)
        loss = "cross_entropy"
    estimator = _sklearn_twin(estimator, net, X, y, iterations)
    # scikit-learn's penalty alpha/(2n) ||W||^2 is our l2/2 ||W||^2 with l2 = alpha/n
    history = dp.fit(net, X, y, loss=loss, optimizer="lbfgs", epochs=iterations, l2=alpha / len(y))
    assert history.n_epochs == estimator.n_iter_ == iterations
    assert history.final_loss == pytest.approx(estimator.loss_, rel=1e-8)
    for ours, theirs in zip(net.weights, estimator.coefs_):
        np.testing.assert_allclose(ours, theirs.T, rtol=0, atol=1e-6)


# -- what it records ---------------------------------------------------------------------------
def test_the_history_holds_each_iteration_and_why_scipy_stopped(handed_to_scipy):
    X, y = _classes()
    net = dp.MLP([3, 6, 3], activation="tanh", dtype=np.float64, seed=2)
    history = dp.fit(net, X, y, loss="cross_entropy", optimizer=dp.LBFGS(max_fun=500, tol=1e-3),
                     epochs=7, validation_data=(X[:10], y[:10]))
    assert handed_to_scipy["options"] == {"maxiter": 7, "maxfun": 500, "gtol": 1e-3,
                                          "ftol": 2.2204460492503131e-09, "maxcor": 10}
    assert history.stop_reason == "epochs" and history.n_epochs == 7 and history.epoch == list(range(1, 8))
    assert history.final_loss == history.loss[-1] and history.kept_epoch == 7
    assert history.n_fun >= 8  # x0 and at least one evaluation per iteration
    assert history.engine == "numpy" and "L-BFGS" in history.engine_reason
    assert len(history.val_loss) == len(history.val_metric) == 7 and np.all(np.isnan(history.lr))
    assert history.grad_norm_matrix().shape == (7, 2)
    assert history.val_loss[-1] == pytest.approx(dp.evaluate(net, X[:10], y[:10],
                                                             loss="cross_entropy")[0])
    # the loss of each iteration is the objective (with the L2 term) at its iterate
    assert history.loss[-1] == pytest.approx(net.loss_and_gradients(X, y, loss="cross_entropy")[0])
    history.check()
    json.dumps(history.to_dict(), allow_nan=True)
    assert "ran all 7 iterations" in history.stop_message


def test_it_stops_for_max_fun_and_for_convergence():
    X, y = _regression()
    net = dp.MLP([3, 6, 1], activation="tanh", dtype=np.float64, seed=2)
    history = dp.fit(net.copy(), X, y, optimizer=dp.LBFGS(max_fun=5), epochs=100)
    assert history.stop_reason == "max_fun" and history.n_fun >= 6 and history.n_epochs < 100
    assert "max_fun=5" in history.stop_message
    history = dp.fit(net, X, y, optimizer=dp.LBFGS(tol=1e-2), epochs=1000)
    assert history.stop_reason == "converged" and "PROJECTED GRADIENT <= PGTOL" in history.stop_message
    _, dWs, dbs = net.loss_and_gradients(X, y)
    assert max(np.abs(g).max() for g in (*dWs, *dbs)) <= 1e-2  # gtol: the largest entry


def test_it_keeps_the_last_finite_iterate_when_the_loss_turns_non_finite(monkeypatch):
    X, y = _regression()
    net = dp.MLP([3, 6, 1], activation="tanh", dtype=np.float64, seed=2)
    real, calls = NumpyEngine.loss_and_gradient, []

    def failing_after_ten(self, *args):
        calls.append(1)
        value = real(self, *args)
        if len(calls) > 10:
            self.grad[0] = np.nan  # a non-finite gradient with a finite loss
        return value

    monkeypatch.setattr(NumpyEngine, "loss_and_gradient", failing_after_ten)
    history = dp.fit(net, X, y, optimizer="lbfgs", epochs=100, validation_data=(X, y))
    monkeypatch.undo()
    assert history.stop_reason == "diverged" and np.isnan(history.loss[-1])
    assert np.isnan(history.val_loss[-1]) and history.kept_epoch == history.n_epochs - 1 > 0
    assert history.final_loss == history.loss[-2]
    assert history.n_fun == 11  # stopped at the first non-finite evaluation
    assert net.loss_and_gradients(X, y)[0] == pytest.approx(history.final_loss, rel=1e-12)
    assert "diverged" in history.stop_message and np.all(np.isfinite(net.theta))


def test_a_non_finite_start_diverges_at_once_and_keeps_the_start():
    X, y = _regression()
    net = dp.MLP([3, 4, 1], dtype=np.float64, seed=0)
    start = net.theta.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported as divergence, not as overflow warnings
        history = dp.fit(net, X * 1e200, y, optimizer="lbfgs", epochs=10)
    assert history.stop_reason == "diverged" and history.n_epochs == 1 and history.kept_epoch == 0
    assert history.final_loss is None and np.array_equal(net.theta, start)


# -- callbacks and the options that still apply ---------------------------------------------------
def test_callbacks_see_each_iteration_and_their_stop_ends_the_minimization():
    X, y = _regression()

    class StopAtThree(dp.Callback):
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, trainer, epoch, logs):
            self.seen.append((epoch, logs["loss"], trainer.batches_per_epoch))
            if epoch == 3:
                trainer.stop_reason = "enough"

    callback = StopAtThree()
    net = dp.MLP([3, 6, 1], activation="tanh", dtype=np.float64, seed=2)
    history = dp.fit(net, X, y, optimizer="lbfgs", epochs=50, callbacks=[callback])
    assert history.stop_reason == "enough" and history.n_epochs == 3
    assert [(e, b) for e, _, b in callback.seen] == [(1, 1), (2, 1), (3, 1)]
    assert [loss for _, loss, _ in callback.seen] == history.loss
    assert net.loss_and_gradients(X, y)[0] == pytest.approx(history.loss[-1], rel=1e-12)


def test_early_stopping_and_the_gradient_tolerance_work_per_iteration():
    X, y = _regression(n=60)
    net = dp.MLP([3, 16, 1], activation="tanh", dtype=np.float64, seed=2)
    history = dp.fit(net, X, y, optimizer="lbfgs", epochs=300, validation_fraction=0.3,
                     early_stopping=3)
    assert history.stop_reason == "early_stopping"
    assert history.kept_epoch == history.best_epoch == int(np.argmin(history.val_loss)) + 1
    net = dp.MLP([3, 4, 1], activation="tanh", dtype=np.float64, seed=2)
    history = dp.fit(net, X, y, optimizer=dp.LBFGS(tol=0.0, ftol=0.0), epochs=300, tol=1e-2)
    assert history.stop_reason == "converged" and history.grad_norm[-1] < 1e-2
    assert all(norm >= 1e-2 for norm in history.grad_norm[:-1])


def test_restarts_keep_the_best_run():
    X, y = _regression()
    net = dp.MLP([3, 5, 1], activation="tanh", dtype=np.float64, seed=4)
    history = dp.fit(net, X, y, optimizer="lbfgs", epochs=15, restarts=3)
    losses = [run["loss"] for run in history.restarts]
    assert len(losses) == 3 and history.best_restart == int(np.argmin(losses))
    assert net.loss_and_gradients(X, y)[0] == pytest.approx(min(losses), rel=1e-12)


def test_verbose_prints_one_line_per_iteration(capsys):
    X, y = _regression()
    dp.fit(dp.MLP([3, 4, 1], seed=0), X, y, optimizer="lbfgs", epochs=4, verbose=True)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split()[:2] for line in lines] == [["epoch", str(e)] for e in range(1, 5)]


def test_batchnorm_ends_with_the_full_batchs_statistics():
    X, y = _regression(n=30)
    net = dp.MLP([3, 6, 1], activation="tanh", dtype=np.float64, seed=1, batch_norm=True)
    history = dp.fit(net, X, y, optimizer="lbfgs", epochs=20)
    assert history.n_epochs > 1
    bn = net.batchnorm_layers[0]
    z = X @ net.weights[0].T + net.biases[0]  # what the BatchNorm normalizes, at the final weights
    np.testing.assert_allclose(bn.running_mean, z.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(bn.running_var, z.var(axis=0, ddof=1), rtol=1e-10)


# -- names, files, defaults ------------------------------------------------------------------------
def test_lbfgs_by_name_and_through_fit_options_and_json():
    assert isinstance(dp.optim.get_optimizer("LBFGS"), dp.LBFGS)
    optimizer = dp.optim.get_optimizer("lbfgs", max_fun=50, tol=1e-6, ftol=1e-12, memory=5)
    config = json.loads(json.dumps(optimizer.to_config()))
    again = dp.optim.optimizer_from_config(config)
    assert (again.max_fun, again.tol, again.ftol, again.memory) == (50, 1e-6, 1e-12, 5)
    options = FitOptions(optimizer=optimizer, batch_size="full", epochs=3)
    read = FitOptions.from_dict(json.loads(json.dumps(options.to_dict())))
    X, y = _regression()
    history = dp.fit(dp.MLP([3, 4, 1], seed=0), X, y, **read.keywords())
    assert history.n_epochs <= 3 and history.stop_reason in ("epochs", "converged")


def test_the_default_batch_size_is_32_for_the_others_and_full_for_lbfgs():
    X, y = _regression(n=100)
    optimizer = dp.SGD(0.01)
    dp.fit(dp.MLP([3, 4, 1], seed=0), X, y, optimizer=optimizer, epochs=1)
    assert optimizer.t == 4  # ceil(100 / 32) steps: the default is still 32
    for spelled in ({}, {"batch_size": "full"}, {"batch_size": 100}, {"batch_size": 500}):
        assert dp.fit(dp.MLP([3, 4, 1], seed=0), X, y, optimizer="lbfgs", epochs=2, **spelled).n_epochs
    # an explicit 32 covering every sample is the full batch too
    assert dp.fit(dp.MLP([3, 4, 1], seed=0), X[:30], y[:30], optimizer="lbfgs", epochs=2,
                  batch_size=32).n_epochs


def test_importing_deltaprop_does_not_import_scipy():
    code = "import sys, deltaprop; assert 'scipy' not in sys.modules, 'scipy imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- refusals --------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    ({"l1": 0.01}, "l1=0.01 (|W| has no gradient at 0"),
    ({"sampling": "random"}, "sampling='random'"),
    ({"batch_size": 32}, "batch_size=32 (minibatches of the 40 training samples: L-BFGS is full batch"),
    ({"batch_size": 8, "validation_fraction": 0.5}, "batch_size=8 (minibatches of the 20 training"),
    ({"engine": "compiled"}, "engine='compiled'"),
    ({"comm": object()}, "comm (data-parallel"),
])
def test_options_that_make_no_sense_with_lbfgs_are_refused_by_name(options, message):
    X, y = _regression()
    net = dp.MLP([3, 4, 1], seed=0)
    start = net.theta.copy()
    with pytest.raises(ValueError, match="optimizer LBFGS cannot train with") as error:
        dp.fit(net, X, y, optimizer="lbfgs", **options)
    assert message in str(error.value)
    assert np.array_equal(net.theta, start) and net.history is None


def test_every_refused_option_is_named_at_once(tmp_path):
    X, y = _regression()
    net = dp.MLP([3, 4, 1], seed=0, dropout=0.2)
    with pytest.raises(ValueError) as error:
        dp.fit(net, X, y, optimizer=dp.LBFGS(), l1=0.1, batch_size=4, checkpoint=tmp_path / "run.ckpt")
    text = str(error.value)
    for name in ("l1=0.1", "Dropout layers ['layers.1']", "batch_size=4", "checkpoint"):
        assert name in text
    assert not (tmp_path / "run.ckpt").exists()
    # Dropout with p=0 is the identity: a deterministic objective, accepted
    dp.fit(dp.MLP([3, 4, 1], seed=0, dropout=0.0), X, y, optimizer="lbfgs", epochs=2)


def test_a_stream_is_refused(tmp_path):
    X, y = _regression()
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    np.save(tmp_path / "y.npy", y.astype(np.float32))
    source = dp.stream.NpyShards([(str(tmp_path / "X.npy"), str(tmp_path / "y.npy"))])
    with pytest.raises(ValueError, match="arrays in memory .* not on a stream"):
        dp.stream.fit_stream(dp.MLP([3, 4, 1], seed=0), source, optimizer="lbfgs")


def test_lbfgs_takes_no_steps():
    X, y = _regression()
    optimizer = dp.LBFGS()
    with pytest.raises(ValueError, match="not a per-step optimizer"):
        dp.BatchStepper(dp.MLP([3, 4, 1], seed=0), X, y, optimizer=optimizer)
    with pytest.raises(ValueError, match="not a per-step optimizer"):
        optimizer.step(np.zeros(3), np.zeros(3))


@pytest.mark.parametrize("params, error, message", [
    ({"max_fun": 0}, ValueError, "max_fun must be an integer > 0"),
    ({"max_fun": 2.5}, TypeError, "max_fun must be an integer"),
    ({"max_fun": True}, TypeError, "max_fun must be an integer"),
    ({"tol": -1.0}, ValueError, "tol must be a number >= 0"),
    ({"tol": float("nan")}, ValueError, "tol must be a number >= 0"),
    ({"tol": "small"}, TypeError, "tol must be a number"),
    ({"ftol": -1e-9}, ValueError, "ftol must be a number >= 0"),
    ({"memory": 0}, ValueError, "memory must be an integer > 0"),
    ({"memory": 10**6}, ValueError, "memory must be at most 1000"),
])
def test_bad_settings_are_refused_by_name(params, error, message):
    with pytest.raises(error, match=message):
        dp.LBFGS(**params)


def test_a_missing_or_old_scipy_names_the_extra(monkeypatch):
    import scipy

    X, y = _regression()
    monkeypatch.setattr(scipy, "__version__", "1.10.1")
    with pytest.raises(ImportError, match=r"needs scipy >= 1.11, found 1.10.1"):
        dp.fit(dp.MLP([3, 4, 1], seed=0), X, y, optimizer="lbfgs")
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"not installed: pip install 'deltaprop\[fast\]'"):
        dp.fit(dp.MLP([3, 4, 1], seed=0), X, y, optimizer="lbfgs")


def test_ctrl_c_ends_the_minimization_after_the_iteration():
    import signal

    class CtrlC(dp.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 2:
                signal.raise_signal(signal.SIGINT)

    X, y = _regression()
    net = dp.MLP([3, 4, 1], dtype=np.float64, seed=0)
    history = dp.fit(net, X, y, optimizer="lbfgs", epochs=50, callbacks=[CtrlC()])
    assert history.stop_reason == "interrupted" and history.n_epochs == 2
    assert history.stop_message.startswith("interrupted (Ctrl-C) in iteration 2")
