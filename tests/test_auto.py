"""auto_fit: standardize, find the rate, climb the ladder, restart, and say why; and beat the
defaults held out."""

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.data.preprocessing import Standardizer
from deltaprop.tuning import LADDER, auto_fit
from deltaprop.tuning.ensemble import average_networks

FAST = {"ladder": [(32,), (16, 16)], "restarts": 2, "max_epochs": 150, "time_budget": 600}


def held_out(data, seed=0):
    order = np.random.default_rng(seed).permutation(len(data.X))
    cut = int(0.75 * len(order))
    return order[:cut], order[cut:]


def cli_defaults_accuracy(data, train, test):
    """What ``deltaprop train`` does with no options: standardized inputs, 128 ReLU units,
    Adam at 1e-3, 30 epochs of 32 rows (src/deltaprop/cli/parser.py)."""
    scale = Standardizer.fit(data.X[train])
    classes, codes = np.unique(data.y[train], return_inverse=True)
    net = dp.MLP([data.X.shape[1], 128, len(classes)], seed=0)
    net.fit(scale.transform(data.X[train]), codes, loss="cross_entropy", optimizer=dp.Adam(lr=1e-3),
            epochs=30, batch_size=32)
    return float(np.mean(classes[net.predict_classes(scale.transform(data.X[test]))] == data.y[test]))


def sklearn_defaults_accuracy(data, train, test):
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), MLPClassifier(random_state=0))
    with pytest.warns(ConvergenceWarning):  # 200 iterations, the default, do not converge here
        pipe.fit(data.X[train], data.y[train])
    return float(pipe.score(data.X[test], data.y[test]))


@pytest.mark.parametrize("name", ["moons", "spirals"])
def test_auto_beats_the_cli_and_sklearn_defaults_held_out(name):
    data = dp.datasets.load(name)
    train, test = held_out(data)
    model, _ = auto_fit(data.X[train], data.y[train], seed=0, **FAST)
    auto = model.score(data.X[test], data.y[test])
    assert auto > cli_defaults_accuracy(data, train, test)
    assert auto > sklearn_defaults_accuracy(data, train, test)


def test_the_report_names_each_choice_with_its_validation_figure():
    data = dp.datasets.load("moons")
    model, report = auto_fit(data.X, data.y, seed=0, folds=1, **FAST)
    assert report.task == "classify" and report.metric == "accuracy"
    assert [trial.hidden for trial in report.ladder] == [(32,), (16, 16)]
    assert len(report.restarts) == 1
    trials = report.ladder + report.restarts
    assert report.chosen in trials
    assert report.chosen.val_loss == min(trial.val_loss for trial in trials)
    for trial in report.ladder:
        assert 3e-4 <= trial.lr <= 0.1 and 0 <= trial.val_score <= 1 and trial.best_epoch >= 1
    text = str(report)
    assert "ladder: hidden 32, lr" in text and "chose hidden" in text and "restart 1" in text
    assert "refit: each of the 2 runs on all 200 rows" in text and "kept: the 2 runs" in text
    assert json.loads(json.dumps(report.to_dict()))["chosen"]["hidden"] == list(report.chosen.hidden)
    # the model averages the chosen rung's two runs, with its preprocessing: raw rows in, labels out
    assert model.net.layer_sizes == [2, *(2 * w for w in report.chosen.hidden), 2]
    assert model.summary["auto"] and set(model.predict(data.X[:5])) <= {0, 1}


def test_over_folds_the_ladder_is_judged_by_their_mean_and_their_runs_are_the_restarts():
    data = dp.datasets.load("moons")
    model, report = auto_fit(data.X, data.y, seed=0, folds=3, **{**FAST, "restarts": 3})
    assert report.restarts == []  # the chosen rung's 3 fold runs are its restarts
    text = str(report)
    assert "mean of 3 folds" in text and "refit: each of the 3 runs on all 200 rows" in text
    assert model.net.layer_sizes == [2, *(3 * w for w in report.chosen.hidden), 2]
    assert report.chosen.val_loss == min(trial.val_loss for trial in report.ladder)


def test_restarts_count_the_runs_returned_over_folds_too():
    data = dp.datasets.load("moons")
    model, report = auto_fit(data.X, data.y, seed=0, folds=3, **{**FAST, "restarts": 1, "ladder": [(8,)]})
    assert model.net.layer_sizes == [2, 8, 2]  # the best fold run alone, not 3 averaged
    assert "kept: the run of seed" in str(report)
    model, _ = auto_fit(data.X, data.y, seed=0, folds=2, **{**FAST, "restarts": 3, "ladder": [(8,)]})
    assert model.net.layer_sizes == [2, 24, 2]  # 2 fold runs and 1 restart


def test_folds_are_stratified_and_cover_every_row_once():
    from deltaprop.tuning.data import fold_rows

    labels = np.repeat([0, 1, 2], [30, 12, 7])
    pairs = fold_rows(labels, "classify", 3, np.random.default_rng(0))
    held = np.concatenate([val for _, val in pairs])
    assert sorted(held.tolist()) == list(range(labels.size))
    for train, val in pairs:
        assert np.intersect1d(train, val).size == 0 and train.size + val.size == labels.size
        for c, count in zip((0, 1, 2), (30, 12, 7)):  # each class split as evenly as it can be
            assert abs(np.sum(labels[val] == c) - count / 3) < 1
    with pytest.raises(ValueError, match="folds"):
        fold_rows(np.array([0, 1]), "classify", 3, np.random.default_rng(0))


@pytest.mark.parametrize("hidden, loss", [((), "cross_entropy"), ((5,), "cross_entropy"),
                                          ((4, 3), "cross_entropy"), ((4, 3, 2), "squared_error")])
def test_averaged_networks_output_the_mean_of_the_members_pre_activations(hidden, loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    y = rng.integers(0, 2, 12) if loss == "cross_entropy" else rng.normal(size=12)
    nets = []
    for seed in range(3):
        net = dp.MLP([3, *hidden, 2 if loss == "cross_entropy" else 1], dtype=np.float64, seed=seed)
        net.fit(X, y, loss=loss, epochs=2)
        nets.append(net)
    merged = average_networks(nets)
    expected = np.mean([net.predict_logits(X) for net in nets], axis=0)
    np.testing.assert_allclose(merged.predict_logits(X), expected, rtol=1e-12, atol=1e-12)
    assert merged.layer_sizes == [3, *(3 * w for w in hidden), nets[0].n_outputs]
    assert merged.loss is nets[0].loss


def test_only_plain_mlps_of_one_shape_are_averaged():
    with pytest.raises(ValueError, match="at least one"):
        average_networks([])
    with pytest.raises(ValueError, match="same layer sizes"):
        average_networks([dp.MLP([2, 3, 1]), dp.MLP([2, 4, 1])])
    with pytest.raises(ValueError, match="BatchNorm or dropout"):
        average_networks([dp.MLP([2, 3, 1], dropout=0.5)] * 2)


def test_text_labels_come_back_as_text():
    iris = dp.datasets.load("iris")
    model, _ = auto_fit(iris.X, iris.y, seed=0, **FAST)
    assert set(model.predict(iris.X)) == set(iris.y) and model.score(iris.X, iris.y) > 0.9


def test_regression_targets_come_back_in_their_units():
    sine = dp.datasets.load("sine")
    y = 100 + 50 * sine.y  # far from standard units: the model must scale back
    model, report = auto_fit(sine.X, y, seed=0, **FAST)
    assert report.task == "regress" and report.metric == "r2"
    assert model.preprocessing.targets is not None and model.score(sine.X, y) > 0.8


def test_the_same_seed_gives_the_same_choices_and_weights():
    data = dp.datasets.load("blobs")
    options = {**FAST, "ladder": [(8,)], "restarts": 1, "max_epochs": 30}
    (first, r1), (second, r2) = (auto_fit(data.X, data.y, seed=3, **options) for _ in range(2))
    np.testing.assert_array_equal(first.net.theta, second.net.theta)
    assert r1.chosen.lr == r2.chosen.lr


def test_a_spent_budget_is_reported_not_silently_cut():
    data = dp.datasets.load("moons")
    _, report = auto_fit(data.X, data.y, time_budget=1e-3, seed=0, ladder=LADDER[:3], restarts=3,
                         max_epochs=5, folds=1)
    assert len(report.ladder) == 1 and report.chosen is report.ladder[0]
    assert "time budget ran out before hidden 128" in str(report)
    assert "restarts: the time budget ran out after 0 of 2" in str(report)


def test_the_default_ladder_is_one_or_two_layers_of_32_to_256_units():
    assert all(len(rung) in (1, 2) and all(32 <= w <= 256 for w in rung) for rung in LADDER)


@pytest.mark.parametrize("X, y, kwargs, error, words", [
    (np.full((20, 2), np.nan), np.arange(20) % 2, {}, ValueError, "NaN"),
    (np.zeros(20), np.arange(20) % 2, {}, ValueError, "shape"),
    (np.zeros((20, 2)), np.arange(19) % 2, {}, ValueError, "one value per row"),
    (np.zeros((5, 2)), np.arange(5) % 2, {}, ValueError, "at least 10 rows"),
    (np.zeros((20, 2)), np.zeros(20), {}, ValueError, "single class"),
    ([["a", "b"]] * 20, np.arange(20) % 2, {}, TypeError, "numbers"),
    (np.eye(20, 2), np.arange(20) % 2, {"sparse": True}, TypeError, "toarray"),
    (np.zeros((20, 2)), np.arange(20) % 2, {"task": "cluster"}, ValueError, "task"),
    (np.zeros((20, 2)), np.array(["a", "b"] * 10), {"task": "regress"}, ValueError, "numeric"),
    (np.zeros((20, 2)), np.arange(20) % 2, {"time_budget": 0}, ValueError, "time_budget"),
    (np.zeros((20, 2)), np.arange(20) % 2, {"validation_fraction": 0.0}, ValueError, "validation"),
    (np.zeros((20, 2)), np.arange(20) % 2, {"restarts": 0}, ValueError, "restarts"),
    (np.zeros((20, 2)), np.arange(20) % 2, {"ladder": []}, TypeError, "ladder"),
    (np.zeros((20, 2)), np.arange(20) % 2, {"ladder": "32"}, TypeError, "ladder"),
    (np.zeros((20, 2)), np.arange(20) % 2, {"ladder": [(0,)]}, ValueError, r"ladder\[0\]\[0\]"),
    (np.zeros((20, 2)), np.arange(20) % 2, {"max_epochs": -1}, ValueError, "max_epochs"),
    (np.zeros((20, 2)), np.arange(20) % 2, {"seed": "zero"}, TypeError, "seed"),
])
def test_bad_input_is_named(X, y, kwargs, error, words):
    if kwargs.pop("sparse", False):
        X = pytest.importorskip("scipy.sparse").csr_matrix(X)
    with pytest.raises(error, match=words):
        auto_fit(X, y, **kwargs)


def test_names_given_are_stored_so_the_model_takes_rows_by_column_name():
    iris = dp.datasets.load("iris")
    model, _ = auto_fit(iris.X, iris.y, ladder=[(8,)], restarts=1, max_epochs=20,
                        feature_names=iris.feature_names, target_names=["species"])
    rows = {name: iris.X[:, j] for j, name in reversed(list(enumerate(iris.feature_names)))}
    np.testing.assert_array_equal(model.predict(rows), model.predict(iris.X))
    assert model.target_names == ["species"]
    with pytest.raises(ValueError, match="feature names"):
        auto_fit(iris.X, iris.y, feature_names=["a"])
