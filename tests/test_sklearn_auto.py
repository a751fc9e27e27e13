"""auto=True on the estimators: auto_fit's network folded into a plain network over raw X."""

from functools import partial

import numpy as np
import pytest
from sklearn.base import clone

from deltaprop.sklearn import MLPClassifier, MLPRegressor
from deltaprop.sklearn.auto import raw_network
from deltaprop.tuning import auto_fit

QUICK = {"ladder": [(4,), (3, 3)], "restarts": 2, "max_epochs": 4}


@pytest.fixture
def quick_auto(monkeypatch):
    """The estimators' auto_fit on a short ladder and fewer epochs: the same path, faster."""
    import deltaprop.sklearn.auto as route

    monkeypatch.setattr(route, "auto_fit", partial(auto_fit, ladder=[(8,)], restarts=2, max_epochs=80))


def blobs(n=80, classes=2, seed=0, scale=50.0):
    """Separable classes on features of very different scales and offsets."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    X = rng.normal(size=(n, 3)) + 3.0 * y[:, None]
    return X * np.array([scale, 1.0, 0.01]) + np.array([100.0, -5.0, 2.0]), y


@pytest.mark.parametrize("classes", [2, 3])
def test_the_folded_network_gives_the_models_probabilities_on_raw_rows(classes):
    X, y = blobs(classes=classes)
    model, _ = auto_fit(X, y, task="classify", seed=1, **QUICK)
    raw = raw_network(model, two_classes=classes == 2)
    # the model's own path (standardize, then its network) in float64: the folded network is
    # float64 whatever auto_fit trained in
    expected = model.net.astype(np.float64).predict(model.preprocessing.inputs(X))
    got = raw.predict(X)
    if classes == 2:
        assert got.shape == (len(X), 1)
        np.testing.assert_allclose(got[:, 0], expected[:, 1], rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_the_folded_network_gives_the_models_values_on_raw_rows():
    X, _ = blobs()
    y = 1000.0 + 30.0 * X[:, 1] - 0.5 * X[:, 0]
    model, _ = auto_fit(X, y, task="regress", seed=2, **QUICK)
    t = model.net.astype(np.float64).predict(model.preprocessing.inputs(X))
    expected = model.preprocessing.targets.inverse_transform(t)[:, 0]
    np.testing.assert_allclose(raw_network(model, two_classes=False).predict(X)[:, 0], expected,
                               rtol=1e-10)


def test_a_classifier_with_auto_predicts_its_labels_and_reports_its_choices(quick_auto):
    X, y = blobs(n=60)
    labels = np.array(["no", "yes"])[y]
    est = MLPClassifier(auto=True, random_state=0, time_budget=60).fit(X, labels)
    assert list(est.classes_) == ["no", "yes"] and est.n_outputs_ == 1
    assert est.out_activation_ == "logistic"
    assert est.score(X, labels) >= 0.95  # two blobs 3 standard deviations apart
    proba = est.predict_proba(X)
    assert proba.shape == (60, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    report = est.auto_report_
    assert report.chosen is not None and report.ladder
    assert est.coefs_[0].shape[0] == 3  # raw features in
    assert est.n_iter_ >= 1 and np.isfinite(est.loss_)


def test_a_regressor_with_auto_scores_on_raw_targets(quick_auto):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 2)) * [10.0, 0.1]
    y = 500.0 + 3.0 * X[:, 0] + 200.0 * X[:, 1]
    est = MLPRegressor(auto=True, random_state=0).fit(X, y)
    assert est.score(X, y) > 0.95
    assert est.predict(X).shape == (120,)


def test_auto_is_an_ordinary_parameter():
    est = MLPClassifier(auto=True, time_budget=5.0)
    params = clone(est).get_params()
    assert params["auto"] is True and params["time_budget"] == 5.0


@pytest.mark.parametrize("params, named", [
    ({"hidden_layer_sizes": (50,)}, "hidden_layer_sizes"),
    ({"learning_rate_init": 0.1}, "learning_rate_init"),
    ({"max_iter": 500}, "max_iter"),
    ({"warm_start": True}, "warm_start"),
    ({"batch_norm": True}, "batch_norm"),
    ({"class_weight": "balanced"}, "class_weight"),
])
def test_a_parameter_auto_would_ignore_is_refused_by_name(params, named):
    X, y = blobs(n=30)
    with pytest.raises(ValueError, match=named):
        MLPClassifier(auto=True, **params).fit(X, y)


def test_what_auto_does_not_take_is_refused():
    X, y = blobs(n=30)
    with pytest.raises(ValueError, match="sample_weight"):
        MLPClassifier(auto=True).fit(X, y, sample_weight=np.ones(30))
    with pytest.raises(ValueError, match="partial_fit"):
        MLPClassifier(auto=True).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="several outputs"):
        MLPClassifier(auto=True).fit(X, np.stack([y, 1 - y, y], axis=1))
    with pytest.raises(ValueError, match="several outputs"):
        MLPRegressor(auto=True).fit(X, np.stack([X[:, 0], X[:, 1]], axis=1))
    with pytest.raises(ValueError, match="time_budget"):
        MLPClassifier(auto=True, time_budget=0).fit(X, y)


def test_a_refused_auto_fit_leaves_the_fitted_estimator_as_it_was():
    X, y = blobs(n=40)
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    before = est.predict_proba(X)
    est.set_params(auto=True)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.predict_proba(X), before)


def test_an_auto_estimator_saves_and_loads(tmp_path, quick_auto):
    X, y = blobs(n=60, classes=3)
    est = MLPClassifier(auto=True, random_state=0).fit(X, y)
    est.save(tmp_path / "auto.dp")
    again = MLPClassifier.load(tmp_path / "auto.dp")
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    assert again.auto is True


def test_a_network_auto_chose_is_not_continued_by_a_warm_start(quick_auto):
    X, y = blobs(n=40)
    est = MLPClassifier(auto=True, random_state=0).fit(X, y)
    est.set_params(auto=False, warm_start=True)
    with pytest.raises(ValueError, match="auto=True"):
        est.fit(X, y)
    with pytest.raises(ValueError, match="partial_fit"):
        est.partial_fit(X, y)
    est.set_params(warm_start=False, max_iter=2)
    with pytest.warns(Warning):  # 2 epochs do not converge
        est.fit(X, y)
    assert est.auto_report_ is None and est.coefs_[0].shape == (3, 100)
