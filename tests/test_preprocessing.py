"""Preprocessing (deltaprop.data.preprocessing): standardization, one-hot categories, labels, and
their JSON, as the command line, the estimators, the model and the ONNX export share them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deltaprop.data.preprocessing import (
    LabelEncoder,
    Preprocessing,
    Standardizer,
    canonical_labels,
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


def test_canonical_labels():
    assert canonical_labels([2.0, 1.0]).dtype == np.int64
    assert canonical_labels(np.array(["a", "b"], dtype=object)).dtype.kind == "U"
    assert canonical_labels([0.5, 1.0]).dtype == np.float64


def test_label_encoder_encodes_in_canonical_form_and_names_unknown_labels():
    encoder = LabelEncoder.fit(["2", "10", "2", "x"])
    assert encoder.classes.tolist() == ["10", "2", "x"]
    assert encoder.encode(np.array([2.0, 10.0])).tolist() == [1, 0]  # numbers read as text match
    assert encoder.decode([2, 0]).tolist() == ["x", "10"]
    with pytest.raises(ValueError, match=r"labels \['7'\] never appeared in training; the model knows"):
        encoder.encode(["7"])
    integers = LabelEncoder.fit(np.array([3.0, -1.0]))
    assert integers.classes.dtype == np.int64 and integers.encode([3]).tolist() == [1]


@pytest.mark.parametrize("classes", [
    np.array(["a", "bb"]), np.array(["a", "bb"], dtype=object), np.array([-3, 7]),
    np.array([False, True]), np.array([0.5, 1.5]),
])
def test_label_encoder_config_keeps_the_dtype(classes):
    config = json.loads(json.dumps(LabelEncoder(classes).to_config()))
    back = LabelEncoder.from_config(config).classes
    assert back.dtype == classes.dtype and back.tolist() == classes.tolist()


def test_labels_that_are_no_strings_or_numbers_are_refused():
    with pytest.raises(ValueError, match="not strings or numbers"):
        LabelEncoder(np.array([(1, 2), "a"], dtype=object)).to_config()
    with pytest.raises(ValueError, match="strings or numbers"):
        LabelEncoder.from_config({"dtype": "object", "values": [{"a": 1}]})


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
    ({"x_scale": [1.0, 0.0]}, "no zeros"),
    ({"x_mean": [1.0, "a"]}, "could not convert|finite numbers"),
    ({"x_mean": [1.0, float("nan")]}, "finite numbers"),
    ({"categories": {"site": "north"}}, "lists of strings"),
])
def test_inconsistent_configs_are_named(change, message):
    config = {"task": "regress", "feature_names": ["a", "b"], "x_mean": [0.0, 1.0],
              "x_scale": [1.0, 2.0], **change}
    with pytest.raises(ValueError, match=message):
        Preprocessing.from_config(config)
