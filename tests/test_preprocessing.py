"""Preprocessing (deltaprop.data.preprocessing): standardization, one-hot categories, target names
and their JSON, as the command line, the estimators, the model and the ONNX export share them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deltaprop.data.preprocessing import (
    LabelEncoder,
    Preprocessing,
    Standardizer,
    expanded_names,
    indicators,
    source_columns,
    text_categories,
)


def test_standardizer_is_the_mean_and_deviation_and_one_for_constant_columns():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    scaling = Standardizer.fit(X)
    np.testing.assert_array_equal(scaling.mean, [3.0, 5.0])
    np.testing.assert_array_equal(scaling.scale, [np.std([1.0, 3.0, 5.0]), 1.0])
    np.testing.assert_array_equal(scaling.transform(X)[:, 1], 0.0)
    Z = np.array([[0.5], [-1.0]], dtype=np.float32)
    units = Standardizer(np.array([1.7e9]), np.array([20.0]))
    restored = units.inverse_transform(Z)  # float64: float32 could not carry 1.7e9 to the unit
    assert restored.dtype == np.float64 and restored[:, 0].tolist() == [1.7e9 + 10.0, 1.7e9 - 20.0]


def test_one_hot_names_and_their_columns():
    columns = {"size": np.array([1.0, 2.0]), "site": np.array(["south", "north"]),
               "label": np.array(["a", "b"])}
    categories = text_categories(columns, exclude=["label"])
    assert categories == {"site": ["north", "south"]}
    names = expanded_names(["size", "site"], categories)
    assert names == ["size", "site=north", "site=south"]
    assert indicators(categories) == {"site=north": ("site", "north"), "site=south": ("site", "south")}
    assert source_columns(names, categories) == ["size", "site"]


def test_preprocessing_config_round_trips_exactly_through_json():
    rng = np.random.default_rng(0)
    preprocessing = Preprocessing(
        "regress", ["a", "site=n", "site=s"], {"site": ["n", "s"]},
        Standardizer.fit(rng.standard_normal((9, 3)) * 1e-7 + 1e9), None, ["y0", "y1"],
        Standardizer.fit(rng.standard_normal((9, 2))))
    back = Preprocessing.from_config(json.loads(json.dumps(preprocessing.to_config())))
    assert back.to_config() == preprocessing.to_config() and back.columns == ["a", "site"]
    for mine, theirs in ((back.features, preprocessing.features), (back.targets, preprocessing.targets)):
        assert mine.mean.tobytes() == theirs.mean.tobytes() and mine.scale.tobytes() == theirs.scale.tobytes()


@pytest.mark.parametrize("change, message", [
    ({"task": "cluster"}, "task must be"),
    ({"classes": None, "task": "classify"}, "needs its labels"),
    ({"feature_names": [1, 2]}, "lists of strings"),
    ({"x_scale": [1.0, 0.0]}, "hold positive numbers only"),
    ({"x_scale": [1.0, -2.0]}, "hold positive numbers only"),  # would flip a feature's sign
    ({"x_scale": ["0.9", "0.5"]}, "x_scale must be a list of finite numbers"),
    ({"x_scale": [True, 1.0]}, "x_scale must be a list of finite numbers"),
    ({"x_mean": [1.0, "a"]}, "finite numbers"),
    ({"x_mean": [1.0, float("nan")]}, "finite numbers"),
    ({"categories": {"site": "north"}}, "lists of strings"),
    ({"feature_names": ["a", "a"]}, "feature names \\['a'\\] appear more than once"),
    ({"categories": {"site": ["n"]}}, "column 'site', whose indicators"),
    ({"categories": {"a": ["n"]}}, "'a' is a numeric feature"),
    ({"feature_names": ["site=s", "site=n"], "categories": {"site": ["s", "n"]}}, "sorted and distinct"),
    ({"feature_names": ["site=n", "b"], "categories": {"site": ["n", "n"]}}, "sorted and distinct"),
    ({"feature_names": None, "x_mean": None, "x_scale": None, "categories": {"site": ["n"]}},
     "need the feature names"),
])
def test_inconsistent_configs_are_named(change, message):
    config = {"task": "regress", "feature_names": ["a", "b"], "x_mean": [0.0, 1.0],
              "x_scale": [1.0, 2.0], **change}
    with pytest.raises(ValueError, match=message):
        Preprocessing.from_config(config)


@pytest.mark.parametrize("task, target_names, fits", [
    ("regress", ["y0", "y1"], True), ("regress", ["y"], False), ("regress", ["y0", "y1", "y2"], False),
    ("classify", ["species"], True), ("classify", ["a", "b", "c"], True), ("classify", ["a", "b"], False),
])
def test_target_names_fit_the_outputs(task, target_names, fits):
    """A name per regression output; the class column's name (or a name per label)."""
    labels = LabelEncoder(["x", "y", "z"]) if task == "classify" else None
    preprocessing = Preprocessing(task, labels=labels, target_names=target_names)
    if fits:
        preprocessing.check_fits(4, 2 if task == "regress" else 3)
    else:
        with pytest.raises(ValueError, match=f"target names \\({len(target_names)}\\) do not fit"):
            preprocessing.check_fits(4, 2 if task == "regress" else 3)
