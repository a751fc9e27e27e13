"""The model object (deltaprop.Model): a network with its preprocessing, taking rows as users have
them, predicting labels in their own type and values in their own units, saved and loaded as
what it is."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.data.labels import LabelEncoder
from deltaprop.data.preprocessing import Preprocessing, Standardizer
from deltaprop.data.tables import DataFileError, Table

SPECIES = np.array(["setosa", "versicolor", "virginica"])


@pytest.fixture
def iris_like():
    """Rows with four measurements and a text column, string labels; a model trained on them
    the way the command line does (standardized features, one-hot site, label encoder)."""
    rng = np.random.default_rng(0)
    centers = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    codes = np.arange(60) % 3
    X = centers[codes] + 0.3 * rng.standard_normal((60, 4))
    site = np.where(np.arange(60) % 2, "north", "south")
    table = Table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "d": X[:, 3], "site": site,
                   "species": SPECIES[codes]}, "iris")
    features, y, names, _ = table.split("species", one_hot=True)
    preprocessing = Preprocessing("classify", names, table.categories(exclude=["species"]),
                                  Standardizer.fit(features), LabelEncoder.fit(y), ["species"])
    net = dp.MLP([6, 8, 3], seed=0, dtype=np.float64)
    net.fit(preprocessing.inputs(features), preprocessing.labels.encode(y), loss="cross_entropy",
            epochs=30, optimizer=dp.Adam(0.05), threads=None)
    return dp.Model(net, preprocessing, {"data": "iris"}), table


def test_rows_in_every_form_give_the_same_labels(iris_like):
    model, table = iris_like
    expected = model.predict(table)
    assert expected.dtype.kind == "U" and set(expected) <= set(SPECIES)
    columns = {name: table.columns[name] for name in ("a", "b", "c", "d", "site")}
    as_rows = [[*map(float, row[:4]), str(row[4])] for row in zip(*columns.values())]
    assert model.columns == ["a", "b", "c", "d", "site"]
    np.testing.assert_array_equal(model.predict(columns), expected)
    np.testing.assert_array_equal(model.predict(as_rows), expected)
    np.testing.assert_array_equal(model.predict(np.array(as_rows, dtype=object)), expected)
    pd = pytest.importorskip("pandas")
    np.testing.assert_array_equal(model.predict(pd.DataFrame(columns)), expected)


def test_predict_proba_and_score(iris_like):
    model, table = iris_like
    probabilities = model.predict_proba(table)
    assert probabilities.shape == (60, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_array_equal(SPECIES[probabilities.argmax(axis=1)], model.predict(table))
    y = table.columns["species"]
    accuracy = float(np.mean(model.predict(table) == y))
    assert model.score(table, y) == accuracy > 0.9
    scores = model.scores(table, y)
    picked = probabilities[np.arange(60), np.searchsorted(SPECIES, y)]
    assert scores == {"accuracy": accuracy, "log_loss": float(-np.mean(np.log(picked)))}


def test_regression_predicts_in_the_targets_units():
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, (80, 1))
    y = 1.7e9 + 50 * np.sin(x[:, 0])
    targets = Standardizer.fit(y[:, None])
    preprocessing = Preprocessing("regress", ["x"], features=Standardizer.fit(x), target_names=["y"],
                                  targets=targets)
    net = dp.MLP([1, 16, 1], activation="tanh", seed=0)
    net.fit(preprocessing.inputs(x), targets.transform(y[:, None]), epochs=200,
            optimizer=dp.Adam(0.01), threads=None)
    model = dp.Model(net, preprocessing)
    predicted = model.predict(x)
    assert predicted.shape == (80,) and predicted.dtype == np.float64
    assert np.abs(predicted - y).mean() < 0.1 * y.std()
    np.testing.assert_array_equal(predicted, net.predict(preprocessing.inputs(x))[:, 0] * targets.scale
                                  + targets.mean)
    assert model.score(x, y) > 0.9 and set(model.scores(x, y)) == {"r2", "mse"}
    with pytest.raises(AttributeError, match="for classifiers"):
        model.predict_proba(x)


@pytest.mark.parametrize("rows, message", [
    ([5.1, 3.5, 1.4, 0.2, "north"], r"2-D .*\[row\]"),
    ([[5.1, 3.5, 1.4, 0.2]], "4 columns, but the model takes 5"),
    ({"a": [5.1], "b": [3.5], "c": [1.4], "site": ["north"]}, "'d' the model was trained on are missing"),
    ([[5.1, 3.5, 1.4, 0.2, "east"]], "'east'.* not seen in training"),
    ([[5.1, "wide", 1.4, 0.2, "north"]], "'b' holds text"),
    ([[5.1, None, 1.4, 0.2, "north"]], "'b' has 1 missing value"),
    ({"a": [1.0, 2.0], "b": [1.0]}, "different lengths"),
])
def test_bad_rows_are_named(iris_like, rows, message):
    model, _ = iris_like
    with pytest.raises(ValueError, match=message):
        model.predict(rows)


def test_an_unseen_label_is_named(iris_like):
    model, table = iris_like
    with pytest.raises(ValueError, match=r"labels \['rosa'\] never appeared in training"):
        model.score(table, np.where(table.columns["species"] == "setosa", "rosa", table.columns["species"]))


def test_save_and_load_round_trip(iris_like, tmp_path):
    model, table = iris_like
    model.save(tmp_path / "iris.dp")
    loaded = dp.load(tmp_path / "iris.dp")
    assert isinstance(loaded, dp.Model) and loaded.summary == {"data": "iris"}
    assert repr(loaded) == repr(model) == ("Model(classify 3 classes (setosa, versicolor, virginica); "
                                           "5 columns, standardized; MLP of 2 layers, 83 parameters)")
    np.testing.assert_array_equal(loaded.predict_proba(table), model.predict_proba(table))
    np.testing.assert_array_equal(loaded.preprocessing.features.mean, model.preprocessing.features.mean)
    assert loaded.preprocessing.to_config() == model.preprocessing.to_config()
    dp.save(loaded, tmp_path / "again.dp")  # dp.save takes a model too
    assert isinstance(dp.load(tmp_path / "again.dp"), dp.Model)


def test_a_bare_network_as_a_model_takes_numbers_and_says_output_indices():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 3, 30)
    net = dp.MLP([3, 5, 3], seed=0)
    net.fit(X, y, loss="cross_entropy", epochs=2, threads=None)
    model = dp.Model.from_network(net)
    assert model.columns is None and model.classes.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(model.predict(X), net.predict_classes(X))
    np.testing.assert_array_equal(model.predict_proba(X), net.predict(X))
    assert repr(model).startswith("Model(classify 3 classes (0, 1, 2); 3 inputs by position, as given")
    binary = dp.MLP([3, 4, 1], seed=0)
    binary.fit(X, (y > 0).astype(float), loss="binary_cross_entropy", epochs=2, threads=None)
    as_model = dp.Model.from_network(binary)
    np.testing.assert_array_equal(as_model.predict(X), binary.predict_classes(X))
    np.testing.assert_allclose(as_model.predict_proba(X)[:, 1], binary.predict(X)[:, 0], rtol=1e-6)
    untrained = dp.Model.from_network(dp.MLP([3, 2]))
    assert untrained.task == "regress" and untrained.target_names == ["y0", "y1"]


def test_an_estimator_as_a_model_predicts_as_the_estimator():
    pytest.importorskip("sklearn")
    from deltaprop.sklearn import MLPClassifier

    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    labels = np.array(["no", "yes"], dtype=object)[y]
    estimator = MLPClassifier((4,), max_iter=5).fit(X, labels)
    model = dp.Model.from_estimator(estimator)
    np.testing.assert_array_equal(model.predict(X), estimator.predict(X))
    np.testing.assert_array_equal(model.predict_proba(X), estimator.predict_proba(X))
    assert model.score(X, labels) == estimator.score(X, labels)


def test_the_preprocessing_must_fit_the_network():
    net = dp.MLP([3, 2])
    with pytest.raises(ValueError, match="feature names .2. does not fit the network's 3 inputs"):
        dp.Model(net, Preprocessing("regress", ["a", "b"]))
    with pytest.raises(ValueError, match="4 classes do not fit the network's 2 outputs"):
        dp.Model(net, Preprocessing("classify", labels=LabelEncoder(["a", "b", "c", "d"])))
    with pytest.raises(TypeError, match="Network"):
        dp.Model("net", Preprocessing())
    with pytest.raises(DataFileError, match="no data"):
        dp.Model.from_network(net).predict(np.zeros((0, 3)))


def test_a_classifier_without_probabilities_says_so_instead_of_printing_scores(tmp_path, monkeypatch, capsys):
    """squared_error on identity outputs gives scores (negative ones too), not probabilities:
    predict_proba refuses, the scores leave out the log loss, predict prints no p(...) columns."""
    from deltaprop.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "iris", "--loss", "squared_error", "--epochs", "3", "--quiet",
                 "--out", "sq.dp"]) == 0
    model = dp.load("sq.dp")
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    assert not model.has_probabilities and model.predict(rows).shape == (2,)
    with pytest.raises(AttributeError, match="outputs are not probabilities .*identity.*squared_error"):
        model.predict_proba(rows)
    assert set(model.scores(rows, ["setosa", "virginica"])) == {"accuracy"}
    capsys.readouterr()
    assert main(["predict", "sq.dp", "--data", "iris"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction" and lines[1] in ("setosa", "versicolor", "virginica")
    assert main(["train", "--data", "iris", "--epochs", "1", "--quiet", "--out", "ce.dp"]) == 0
    assert dp.load("ce.dp").has_probabilities


def test_scores_name_targets_that_do_not_fit_the_rows(tmp_path, monkeypatch):
    """A single label, a few labels for many rows, or a NaN target is a ValueError naming it,
    not a broadcast score; a column of labels counts as labels."""
    from deltaprop.cli import main
    from deltaprop.data import datasets

    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "iris", "--epochs", "3", "--quiet", "--out", "iris.dp"]) == 0
    model, iris = dp.load("iris.dp"), datasets.load("iris")
    X, labels = iris.X[:10], np.asarray(iris.y[:10])
    assert model.score(X, labels[:, None]) == model.score(X, labels)
    for y in (["setosa"], "setosa", labels[:3]):
        with pytest.raises(ValueError, match="y has shape .* but the predictions have shape"):
            model.score(X, y)
    assert main(["train", "--data", "sine", "--epochs", "3", "--quiet", "--out", "sine.dp"]) == 0
    sine, data = dp.load("sine.dp"), datasets.load("sine")
    y = np.asarray(data.y[:10], dtype=float)
    y[3] = np.nan
    with pytest.raises(ValueError, match="y holds NaN or infinity"):
        sine.score(data.X[:10], y)
    with pytest.raises(ValueError, match="y has shape"):
        sine.score(data.X[:10], np.column_stack([y, y]))


@pytest.mark.parametrize("summary, message", [
    ({"held_out": [1, 2]}, r"summary's held_out is \[1, 2\], not an object of scores"),
    ({"held_out": {"accuracy": "x"}}, "summary's held_out .* not an object of scores"),
    ({"data": 3}, "summary's data is 3, not text"),
    ({"n_train": -1}, "summary's n_train is -1, not a count"),
    ({"seconds": "fast"}, "summary's seconds is 'fast', not a number"),
])
def test_a_tampered_summary_is_a_model_file_error_naming_the_field(tmp_path, summary, message):
    """``info`` prints the summary: a tampered one is refused when the file is read."""
    from deltaprop.files.container import read_archive, write_archive

    path = tmp_path / "m.dp"
    dp.Model(dp.MLP([2, 3, 1], seed=0), Preprocessing(task="regress"), summary={"data": "d"}).save(path)
    archive = read_archive(path)
    archive.sections["summary"] = summary
    write_archive(path, archive.kind, archive.sections, archive.arrays)
    with pytest.raises(dp.ModelFileError, match=message):
        dp.load(path)
