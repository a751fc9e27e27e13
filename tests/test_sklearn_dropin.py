"""The estimators as drop-ins for scikit-learn's MLPClassifier and MLPRegressor: every parameter
of theirs, their observable behaviour (stdout of ``verbose``, the stratified validation split,
writable ``coefs_``, warm starts, error texts their users match on), checked against
scikit-learn itself where it can run the same thing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import sklearn.neural_network as sk  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from deltaprop.callbacks.base import Callback  # noqa: E402
from deltaprop.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def _blobs(n: int = 90, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    return rng.normal(size=(n, 4)) + y[:, None], y


@pytest.mark.parametrize("ours, theirs", [(MLPClassifier, sk.MLPClassifier),
                                          (MLPRegressor, sk.MLPRegressor)])
def test_every_scikit_learn_parameter_is_accepted(ours, theirs):
    params = theirs().get_params()
    assert set(params) <= set(ours().get_params())
    X, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        target = y.astype(float) if ours is MLPRegressor else y
        ours(**{**params, "max_iter": 3, "random_state": 0}).fit(X, target)


def test_n_iter_no_change_inf_never_stops():
    X, y = _blobs()
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier((4,), max_iter=8, tol=1e9, n_iter_no_change=np.inf, random_state=0).fit(X, y)
    assert clf.n_iter_ == 8 and clf.history_.stop_reason == "epochs"
    with pytest.raises(ValueError, match="n_iter_no_change"):
        MLPClassifier(n_iter_no_change=0).fit(X, y)
    with pytest.raises(TypeError, match="n_iter_no_change"):
        MLPClassifier(n_iter_no_change=2.5).fit(X, y)


# -- coefs_ and intercepts_ write into the network ------------------------------------------------
def test_assigned_coefs_and_intercepts_are_used_as_scikit_learns_are():
    X, y = _blobs()
    y = X @ np.array([1.0, -2.0, 0.5, 0.0])
    theirs = sk.MLPRegressor(hidden_layer_sizes=(5, 3), max_iter=50, random_state=1).fit(X, y)
    ours = MLPRegressor((5, 3), max_iter=1, random_state=0).fit(X, y)
    assert not np.allclose(ours.predict(X), theirs.predict(X))
    for i in range(3):
        ours.coefs_[i] = theirs.coefs_[i]
        ours.intercepts_[i] = theirs.intercepts_[i]
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ours.net_.weights[1], theirs.coefs_[1].T)
    fresh = MLPRegressor((5, 3), max_iter=1, random_state=2).fit(X, y)
    fresh.coefs_, fresh.intercepts_ = theirs.coefs_, theirs.intercepts_
    np.testing.assert_allclose(fresh.predict(X), theirs.predict(X), rtol=1e-12, atol=1e-12)


def test_bad_coefs_are_refused_and_leave_the_network_unchanged():
    X, y = _blobs()
    clf = MLPClassifier((5,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    before = [W.copy() for W in clf.net_.weights]
    for value, match in [(np.zeros((5, 4)), r"coefs_\[0\] must have shape \(4, 5\)"),
                         (np.full((4, 5), np.nan), "NaN"), ("weights", "array of numbers")]:
        with pytest.raises(ValueError, match=match):
            clf.coefs_[0] = value
    with pytest.raises(ValueError, match="list of 2 arrays"):
        clf.coefs_ = [np.zeros((4, 5))]
    with pytest.raises(ValueError, match=r"coefs_\[1\]"):  # the first is not written either
        clf.coefs_ = [np.ones((4, 5)), np.ones((3, 3))]
    with pytest.raises(IndexError):
        clf.coefs_[2] = np.zeros((5, 3))
    for W, saved in zip(clf.net_.weights, before):
        np.testing.assert_array_equal(W, saved)


# -- verbose: scikit-learn's lines on stdout ------------------------------------------------------
def test_verbose_prints_scikit_learns_lines_to_stdout(capsys):
    X, y = _blobs()
    MLPClassifier((4,), max_iter=30, tol=1e9, n_iter_no_change=2, verbose=True, random_state=0).fit(X, y)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("Iteration 1, loss = ") and len(lines[0].split("= ")[1]) == 10
    assert lines[-1] == ("Training loss did not improve more than tol=1000000000.000000 for 2 "
                         "consecutive epochs. Stopping.")
    # epoch 1 sets the best; epochs 2-4 fail to beat it by tol, a count of 3 > 2: stop after 4
    assert len(lines) == 5 and err == ""
    MLPClassifier((4,), max_iter=2, early_stopping=True, verbose=True, random_state=0).fit(X, y)
    out, _ = capsys.readouterr()
    assert out.splitlines()[1].startswith("Validation score: ")
    MLPClassifier((4,), max_iter=2, verbose=2, random_state=0).fit(X, y)
    out, err = capsys.readouterr()
    assert out.startswith("Iteration 1") and "epoch" in err  # 2: deltaprop's lines on stderr too


# -- the early-stopping split ---------------------------------------------------------------------
def test_the_validation_split_is_scikit_learns_stratified_split():
    X, y = _blobs(n=60)
    clf = MLPClassifier((6,), max_iter=1, early_stopping=True, validation_fraction=0.2,
                        n_iter_no_change=50, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    _, X_val, _, y_val = train_test_split(X, y, test_size=0.2, random_state=np.random.RandomState(3),
                                          stratify=y)
    assert clf.validation_scores_ == [clf.score(X_val, y_val)]
    assert clf.t_ == 48  # trained on the other 48 rows


def test_a_class_with_one_sample_is_named():
    X, y = _blobs(n=30)
    y[7] = 9
    with pytest.raises(ValueError, match="class 9 has a single sample"):
        MLPClassifier(early_stopping=True).fit(X, y)
    MLPRegressor((3,), max_iter=2, early_stopping=True, n_iter_no_change=5).fit(X, y.astype(float))


def test_a_validation_set_under_two_rows_is_refused_with_scikit_learns_text():
    X, y = _blobs(n=10, classes=2)
    for ours, theirs in [(MLPRegressor, sk.MLPRegressor)]:
        for estimator in (ours(early_stopping=True), theirs(early_stopping=True)):
            with pytest.raises(ValueError, match="The validation set is too small"):
                estimator.fit(X, y.astype(float))


def test_validation_scores_continue_over_warm_starts():
    X, y = _blobs()
    clf = MLPClassifier((4,), max_iter=3, warm_start=True, early_stopping=True, n_iter_no_change=50,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        clf.set_params(max_iter=2).fit(X, y)
    assert len(clf.validation_scores_) == 5 == len(clf.loss_curve_) and clf.n_iter_ == 2
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_warm_start_on_other_classes_is_refused_as_scikit_learn_does():
    X, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for cls in (MLPClassifier, sk.MLPClassifier):
            clf = cls(hidden_layer_sizes=(4,), max_iter=2, warm_start=True, random_state=0).fit(X, y)
            with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same "
                                                 "classes as in the previous call to fit"):
                clf.fit(X, np.where(y == 2, 5, y))


# -- divergence -----------------------------------------------------------------------------------
class _RaiseTheRate(Callback):
    """After epoch 2, a learning rate that makes the next epoch diverge."""

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == 2:
            trainer.optimizer.lr = 1e6


def test_divergence_raises_scikit_learns_error_or_keeps_the_best_epoch():
    X, _ = _blobs()
    y = X[:, 0] * 100
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights.*deltaprop: "
                                         "training diverged"):
        MLPRegressor((8,), solver="sgd", max_iter=5, callbacks=[_RaiseTheRate()], random_state=0).fit(X, y)
    reg = MLPRegressor((8,), solver="sgd", max_iter=5, early_stopping=True, n_iter_no_change=50,
                       callbacks=[_RaiseTheRate()], random_state=0)
    with pytest.warns(ConvergenceWarning, match="the weights of epoch 2, the best on the validation split"):
        reg.fit(X, y)
    assert reg.history_.stop_reason == "diverged" and np.isfinite(reg.predict(X)).all()


# -- lbfgs, sparse input, poisson -----------------------------------------------------------------
def test_lbfgs_matches_scikit_learns_from_the_same_weights():
    X, y = _blobs(n=60)
    y = np.sin(X[:, 0]) + X[:, 1] ** 2 / 4
    theirs = sk.MLPRegressor(hidden_layer_sizes=(6,), solver="lbfgs", max_iter=1, alpha=1e-3,
                             random_state=0)
    ours = MLPRegressor((6,), solver="lbfgs", max_iter=1, alpha=1e-3, random_state=0, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
        ours.fit(X, y)
        ours.coefs_, ours.intercepts_ = theirs.coefs_, theirs.intercepts_
        theirs.set_params(warm_start=True, max_iter=40).fit(X, y)
        ours.set_params(warm_start=True, max_iter=40).fit(X, y)
    # the same objective and the same SciPy minimizer from the same point: the same iterates
    # (to rounding, which L-BFGS's line search amplifies over 40 iterations: 1e-6 relative)
    assert ours.n_iter_ == theirs.n_iter_ == 40
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-6)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-4, atol=1e-6)


def test_lbfgs_warns_as_scikit_learn_and_has_no_partial_fit():
    X, y = _blobs()
    with pytest.warns(ConvergenceWarning, match=r"lbfgs failed to converge after 3 iteration\(s\) "
                                                r"\(status=1\)(.|\n)*max_iter=3"):
        clf = MLPClassifier((4,), solver="lbfgs", max_iter=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3 and clf.validation_scores_ is None and not hasattr(clf, "partial_fit")
    for estimator in (clf, sk.MLPClassifier(solver="lbfgs")):  # as scikit-learn's
        with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
            estimator.partial_fit(X, y)


def test_sparse_input_trains_and_predicts_as_its_dense_copy():
    sparse = pytest.importorskip("scipy.sparse")
    X, y = _blobs()
    X[X < 0.5] = 0.0  # mostly zeros
    for make in (sparse.csr_matrix, sparse.csc_array):
        for solver in ("adam", "lbfgs"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                dense = MLPClassifier((5,), solver=solver, max_iter=5, random_state=0).fit(X, y)
                held = MLPClassifier((5,), solver=solver, max_iter=5, random_state=0).fit(make(X), y)
            np.testing.assert_allclose(held.predict_proba(make(X)), dense.predict_proba(X), rtol=1e-10)
            np.testing.assert_array_equal(held.predict(make(X)), dense.predict(X))


def test_poisson_regression_on_counts():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1]))
    ours = MLPRegressor((8,), loss="poisson", solver="lbfgs", max_iter=200, random_state=0).fit(X, y)
    theirs = sk.MLPRegressor(hidden_layer_sizes=(8,), loss="poisson", solver="lbfgs", max_iter=200,
                             random_state=0).fit(X, y)
    assert ours.out_activation_ == theirs.out_activation_ == "exp"
    assert (ours.predict(X) > 0).all()
    assert abs(ours.score(X, y) - theirs.score(X, y)) < 0.05  # the same model class and objective
    with pytest.raises(ValueError, match="poisson targets must be non-negative"):
        MLPRegressor(loss="poisson").fit(X, y - 2.0)
