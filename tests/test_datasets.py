"""Datasets by name: shapes, names, tasks, seeding, errors, and that a small MLP learns them."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.data import datasets

GENERATED = ["xor", "and", "or", "moons", "circles", "spirals", "blobs", "sine"]
BUNDLED = ["digits", "iris", "wine", "breast_cancer", "diabetes", "linnerud"]
# name: (X shape, y shape, task, number of classes or None)
EXPECTED = {
    "xor": ((4, 2), (4,), "classify", 2),
    "and": ((4, 2), (4,), "classify", 2),
    "or": ((4, 2), (4,), "classify", 2),
    "moons": ((200, 2), (200,), "classify", 2),
    "circles": ((200, 2), (200,), "classify", 2),
    "spirals": ((300, 2), (300,), "classify", 2),
    "blobs": ((200, 2), (200,), "classify", 2),
    "sine": ((200, 1), (200,), "regress", None),
    "digits": ((1797, 64), (1797,), "classify", 10),
    "iris": ((150, 4), (150,), "classify", 3),
    "wine": ((178, 13), (178,), "classify", 3),
    "breast_cancer": ((569, 30), (569,), "classify", 2),
    "diabetes": ((442, 10), (442,), "regress", None),
    "linnerud": ((20, 3), (20, 3), "regress", None),
}


def test_names_lists_every_dataset_and_describe_follows_them():
    assert datasets.names() == GENERATED + BUNDLED
    rows = datasets.describe()
    assert [name for name, _, _ in rows] == datasets.names()
    for name, task, description in rows:
        X_shape = EXPECTED[name][0]
        assert task == EXPECTED[name][2]
        assert f"{X_shape[0]} x {X_shape[1]}" in description  # the shape is in the one line
        assert "\n" not in description


@pytest.mark.parametrize("name", GENERATED + BUNDLED)
def test_every_dataset_loads_with_its_shapes_names_and_task(name):
    if name in BUNDLED:
        pytest.importorskip("sklearn")
    data = datasets.load(name)
    X_shape, y_shape, task, n_classes = EXPECTED[name]
    assert data.name == name and data.task == task
    assert data.X.dtype == np.float64 and data.X.shape == X_shape and data.X.flags.c_contiguous
    assert np.isfinite(data.X).all()
    assert data.y.shape == y_shape
    assert len(data.feature_names) == X_shape[1] and all(isinstance(f, str) for f in data.feature_names)
    assert len(data.target_names) == (1 if data.y.ndim == 1 else data.y.shape[1])
    assert data.description == dict((n, d) for n, _, d in datasets.describe())[name]
    if task == "classify":
        assert data.target_names == ["class"]
        assert len(np.unique(data.y)) == n_classes
    else:
        assert data.y.dtype == np.float64 and np.isfinite(data.y).all()


def test_label_types_ints_for_digits_and_generated_names_for_iris_wine_breast_cancer():
    pytest.importorskip("sklearn")
    assert datasets.load("digits").y.dtype == np.int64
    assert datasets.load("moons").y.dtype == np.int64
    assert set(datasets.load("iris").y) == {"setosa", "versicolor", "virginica"}
    assert set(datasets.load("wine").y) == {"class_0", "class_1", "class_2"}
    cancer = datasets.load("breast_cancer")
    assert cancer.y.dtype.kind == "U" and set(cancer.y) == {"malignant", "benign"}
    assert (cancer.y == "benign").sum() == 357  # the mapping keeps scikit-learn's label order
    linnerud = datasets.load("linnerud")
    assert linnerud.target_names == ["Weight", "Waist", "Pulse"]
    assert datasets.load("diabetes").target_names == ["progression"]


@pytest.mark.parametrize("name, y", [("xor", [0, 1, 1, 0]), ("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1])])
def test_truth_tables_and_their_repetition_with_noise(name, y):
    data = datasets.load(name)
    np.testing.assert_array_equal(data.X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(data.y, y)
    noisy = datasets.load(name, n_samples=10, noise=0.05, seed=3)
    assert noisy.X.shape == (10, 2)
    np.testing.assert_array_equal(noisy.y, np.tile(y, 3)[:10])
    assert 0 < np.abs(noisy.X - np.tile(data.X, (3, 1))[:10]).max() < 0.5


@pytest.mark.parametrize("name", GENERATED)
def test_generated_datasets_are_deterministic_per_seed_and_differ_between_seeds(name):
    first = datasets.load(name, noise=0.1, seed=7)
    again = datasets.load(name, noise=0.1, seed=7)
    other = datasets.load(name, noise=0.1, seed=8)
    np.testing.assert_array_equal(first.X, again.X)
    np.testing.assert_array_equal(first.y, again.y)
    assert not np.array_equal(first.X, other.X)


@pytest.mark.parametrize("name", ["moons", "circles", "spirals", "blobs", "sine"])
def test_n_samples_and_noise_can_be_overridden(name):
    data = datasets.load(name, n_samples=51, noise=0.0)
    assert data.X.shape[0] == data.y.shape[0] == 51
    assert "51 x" in data.description and "noise 0" in data.description
    if data.task == "classify":
        assert sorted(np.bincount(data.y)) == [25, 26]  # balanced classes, both present


def test_noise_free_shapes_are_the_documented_curves():
    circles = datasets.load("circles", noise=0.0)
    radius = np.hypot(circles.X[:, 0], circles.X[:, 1])
    np.testing.assert_allclose(radius, np.where(circles.y == 0, 1.0, 0.5))
    moons = datasets.load("moons", noise=0.0)
    upper = moons.X[moons.y == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    assert (upper[:, 1] >= -1e-12).all()
    blobs = datasets.load("blobs", noise=0.0)  # each cloud shrinks to its centre
    np.testing.assert_array_equal(blobs.X, np.where(blobs.y[:, None] == 0, -1.0, 1.0) * np.ones((200, 2)))
    spread = datasets.load("blobs", n_samples=4000, noise=0.3, seed=1)
    np.testing.assert_allclose(spread.X[spread.y == 1].mean(axis=0), [1, 1], atol=0.03)
    np.testing.assert_allclose(spread.X[spread.y == 0].std(axis=0), [0.3, 0.3], rtol=0.06)
    sine = datasets.load("sine", noise=0.0)
    assert sine.X.min() >= 0 and sine.X.max() <= 1
    np.testing.assert_allclose(sine.y, np.sin(2 * np.pi * sine.X[:, 0]))


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown dataset 'moon'; valid names are: .*moons.*spirals"):
        datasets.load("moon")


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"n_samples": 0}, ValueError, r"n_samples must be an integer > 0, got 0"),
    ({"n_samples": 2.5}, TypeError, r"n_samples must be an integer"),
    ({"noise": -0.1}, ValueError, r"noise must be a number >= 0"),
])
def test_bad_size_or_noise_is_named(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        datasets.load("moons", **kwargs)


def test_truth_tables_need_all_four_rows():
    with pytest.raises(ValueError, match=r"xor needs n_samples >= 4"):
        datasets.load("xor", n_samples=3)


def test_bundled_datasets_refuse_n_samples_and_noise():
    with pytest.raises(ValueError, match=r"n_samples and noise apply only to the generated datasets"):
        datasets.load("iris", n_samples=10)


def test_missing_scikit_learn_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(ImportError, match=re.escape("pip install 'deltaprop[datasets]'")):
        datasets.load("digits")
    assert datasets.load("moons").X.shape == (200, 2)  # the generated ones need only NumPy


@pytest.mark.parametrize("name, hidden, epochs", [
    ("xor", [8], 300), ("moons", [16], 300), ("circles", [16], 300), ("spirals", [16, 16], 400),
    ("blobs", [4], 100),
])
def test_a_small_tanh_mlp_learns_the_generated_classification_sets(name, hidden, epochs):
    data = datasets.load(name)
    net = dp.MLP([2, *hidden, 2], activation="tanh", seed=0)
    net.fit(data.X, data.y, loss="cross_entropy", epochs=epochs, optimizer=dp.Adam(0.01), batch_size=32)
    assert (net.predict(data.X).argmax(axis=1) == data.y).mean() >= 0.95


def test_a_small_mlp_fits_the_sine():
    data = datasets.load("sine")
    net = dp.MLP([1, 16, 1], activation="tanh", seed=0)
    net.fit(data.X, data.y, loss="mse", epochs=400, optimizer=dp.Adam(0.01), batch_size=32)
    residual = net.predict(data.X)[:, 0] - data.y
    assert np.sqrt(np.mean(residual**2)) < 0.2  # the noise alone is 0.1
