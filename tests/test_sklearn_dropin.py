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
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from deltaprop.callbacks.base import Callback  # noqa: E402
from deltaprop.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def _blobs(n: int = 90, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    return rng.normal(size=(n, 4)) + y[:, None], y


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("ours, theirs", [(MLPClassifier, sk.MLPClassifier),
                                          (MLPRegressor, sk.MLPRegressor)])
def test_every_scikit_learn_parameter_is_accepted(ours, theirs, solver):
    params = theirs(solver=solver).get_params()
    assert set(params) <= set(ours().get_params())
    X, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        target = y.astype(float) if ours is MLPRegressor else y
        fitted = ours(**{**params, "max_iter": 3, "random_state": 0}).fit(X, target)
    assert fitted.n_iter_ == 3


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
                         "consecutive epochs. Stopping.")  # scikit-learn's line
    # epoch 1 sets the best; epochs 2-4 fail to beat it by tol, a count of 3 > 2: stop after 4
    assert len(lines) == 5 and err == ""
    MLPClassifier((4,), max_iter=2, early_stopping=True, verbose=True, random_state=0).fit(X, y)
    out, _ = capsys.readouterr()
    assert out.splitlines()[1].startswith("Validation score: ")
    MLPClassifier((4,), max_iter=2, verbose=2, random_state=0).fit(X, y)
    out, err = capsys.readouterr()
    assert out.startswith("Iteration 1") and "epoch" in err  # 2: deltaprop's lines on stderr too


# -- the early-stopping split ---------------------------------------------------------------------
def test_the_validation_split_is_stratified_as_scikit_learns():
    """Two classes: stratified, as scikit-learn does (its n_outputs_ is 1); the split is
    train_test_split's with a generator seeded by random_state."""
    X, y = _blobs(n=60, classes=2)
    y[:45] = 0  # 45 against 15: a random split could miss the minority's share
    clf = MLPClassifier((6,), max_iter=1, early_stopping=True, validation_fraction=0.2,
                        n_iter_no_change=50, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    _, X_val, _, y_val = train_test_split(X, y, test_size=0.2, random_state=np.random.RandomState(3),
                                          stratify=y)
    assert clf.validation_scores_ == [clf.score(X_val, y_val)]
    assert clf.t_ == 48  # trained on the other 48 rows


def test_a_class_with_one_sample_is_refused_only_where_scikit_learn_stratifies():
    X, y = _blobs(n=30, classes=2)
    y[7] = 9  # three classes, one of a single sample: not stratified, trains (as scikit-learn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for cls in (MLPClassifier, sk.MLPClassifier):
            cls(hidden_layer_sizes=(3,), max_iter=2, early_stopping=True).fit(X, y)
    y = (np.arange(30) == 7).astype(int)  # two classes, one of a single sample: refused, named
    with pytest.raises(ValueError, match=r"Classes with too few members are: \['True'\]"):
        sk.MLPClassifier(early_stopping=True).fit(X, y)  # (its binarized label)
    with pytest.raises(ValueError, match=r"Classes with too few members are: \[np.int64\(1\)\]|\[1\]"):
        MLPClassifier(early_stopping=True).fit(X, y)  # (the label itself)


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


# -- found by a review: each as scikit-learn does it ----------------------------------------------
@pytest.mark.parametrize("alpha", [0.0, 1e-2])
def test_several_outputs_report_scikit_learns_loss_and_take_its_steps(alpha):
    """scikit-learn's squared loss for k outputs: it steps along the gradient of the sum over
    outputs (with alpha / n for L2) and reports the mean. From the same weights, full-batch SGD
    gives the same weights; the reported losses are equal without L2 (with it, ours divides
    the L2 term by k too)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    Y = np.column_stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2], X[:, 0] - X[:, 2]])
    params = dict(hidden_layer_sizes=(6,), solver="sgd", momentum=0.0, batch_size=80, max_iter=1,
                  learning_rate_init=0.05, shuffle=False, random_state=0, alpha=alpha)
    theirs, ours = sk.MLPRegressor(**params), MLPRegressor(**params, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, Y)
        ours.fit(X, Y)
        ours.coefs_, ours.intercepts_ = theirs.coefs_, theirs.intercepts_
        theirs.set_params(warm_start=True, max_iter=3).fit(X, Y)
        ours.set_params(warm_start=True, max_iter=3).fit(X, Y)
    for mine, its in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(mine, its, rtol=1e-10, atol=1e-12)
    if alpha == 0:
        np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-10)


def test_a_failed_refit_leaves_the_estimator_as_it_was():
    X, _ = _blobs(n=40)
    labels = np.array(["cat", "dog"] * 20)
    clf = MLPClassifier((4,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, labels)
    before = clf.predict(X)
    with pytest.raises(ValueError):  # 10 rows: a validation set of 1
        clf.set_params(early_stopping=True).fit(X[:10, :2], np.array(["yes", "no"] * 5))
    assert clf.classes_.tolist() == ["cat", "dog"] and clf.n_features_in_ == 4
    np.testing.assert_array_equal(clf.predict(X), before)


def test_bad_parameters_are_caught_as_value_or_type_errors_like_scikit_learns():
    X, y = _blobs()
    for estimator in (MLPClassifier(max_fun=2.5), sk.MLPClassifier(max_fun=2.5)):
        for kind in (ValueError, TypeError):
            with pytest.raises(kind, match="max_fun"):
                estimator.fit(X, y)


def test_a_sparse_multilabel_indicator_is_taken():
    sparse = pytest.importorskip("scipy.sparse")
    X, y = _blobs()
    indicator = np.column_stack([y == 0, y == 1, y > 0]).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier((4,), max_iter=3, random_state=0).fit(X, indicator)
        held = MLPClassifier((4,), max_iter=3, random_state=0).fit(X, sparse.csr_matrix(indicator))
    np.testing.assert_array_equal(held.predict(X), dense.predict(X))


def test_partial_fit_with_other_classes_says_what_scikit_learn_says():
    X, y = _blobs()
    for cls in (MLPClassifier, sk.MLPClassifier):
        clf = cls(hidden_layer_sizes=(4,)).partial_fit(X, y, classes=[0, 1, 2])
        with pytest.raises(ValueError, match=r"`classes=\[0, 1, 3\]` is not the same as on last call "
                                             "to partial_fit, was:"):
            clf.partial_fit(X, y, classes=[0, 1, 3])


def test_early_stopping_watches_the_validation_score_as_scikit_learn(capsys):
    from types import SimpleNamespace

    from deltaprop.sklearn.rules import NoImprovementRule

    rule = NoImprovementRule(patience=2, tol=0.01, monitor="val_metric", adaptive=False, verbose=True)
    trainer = SimpleNamespace(stop_reason=None, snapshot=lambda: epoch)
    rule.on_train_begin(trainer)
    # scores 0.5, 0.7, then three that do not beat 0.7 by tol (0.705 is higher, but not by 0.01)
    for epoch, score in enumerate([0.5, 0.7, 0.705, 0.69, 0.7], start=1):
        rule.on_epoch_end(trainer, epoch, {"val_metric": score, "loss": 1.0})
        if trainer.stop_reason:
            break
    assert (epoch, trainer.stop_reason, rule.best_epoch, rule.best_state) == (5, "early_stopping", 3, 3)
    assert capsys.readouterr().out == ("Validation score did not improve more than tol=0.010000 for 2 "
                                       "consecutive epochs. Stopping.\n")


def test_estimators_diagnose_their_training():
    X, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        raw = MLPClassifier((8,), max_iter=20, random_state=0).fit(X * 1000, y)
    assert "unscaled_inputs" in raw.diagnose(X * 1000, y).codes
    with pytest.raises(NotFittedError):
        MLPClassifier().diagnose(X, y)
