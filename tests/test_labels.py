"""Class labels (deltaprop.data.labels): which values are labels, their canonical form, the
encoder between labels and output indices, and its JSON checked against an allow-list."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deltaprop.data.labels import LabelEncoder, canonical_labels


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
    with pytest.raises(ValueError, match="must be strings or numbers, not tuple"):
        LabelEncoder(np.array([(1, 2), "a"], dtype=object)).to_config()
    with pytest.raises(ValueError, match="strings or numbers"):
        LabelEncoder.from_config({"dtype": "object", "values": [{"a": 1}]})


@pytest.mark.parametrize("y, dtype", [
    (np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[D]"), "datetime64"),
    (np.array([1, 2], dtype="timedelta64[s]"), "timedelta64"),
    (np.array([1 + 0j, 2]), "complex128"),
    (np.zeros(2, dtype=[("a", "<i4")]), r"\[\('a', '<i4'\)\]"),
    (np.array([b"\x00" * 3, b"\x01"], dtype="V3"), "void|V3"),
])
def test_labels_outside_numbers_and_text_are_refused_naming_the_dtype(y, dtype):
    for make in (canonical_labels, LabelEncoder.fit, LabelEncoder):
        with pytest.raises(ValueError, match=f"of dtype {dtype}.* not supported: labels must be numbers"):
            make(y)


@pytest.mark.parametrize("y, kind", [
    (np.array([object(), "a"], dtype=object), "object"),
    (np.array([None, 1], dtype=object), "NoneType"),
    (np.array([np.datetime64("2020-01-01"), 1], dtype=object), "datetime64"),
    (np.array([1 + 2j, 3], dtype=object), "complex"),
])
def test_object_labels_must_be_strings_or_numbers(y, kind):
    with pytest.raises(ValueError, match=f"must be strings or numbers, not {kind}"):
        canonical_labels(y)


def test_labels_of_every_number_and_text_dtype_are_taken():
    assert canonical_labels(np.array([True, False])).dtype == bool
    assert canonical_labels(np.array([3, 1], dtype=np.uint8)).tolist() == [3, 1]
    assert canonical_labels(np.array([b"a", b"b"])).tolist() == ["a", "b"]
    assert canonical_labels(np.array([b"a", "b", 2.0, 3.5, 7], dtype=object)).tolist() == [
        "a", "b", "2", "3.5", "7"]  # numbers among text written as a text column writes them
    numbers = canonical_labels(np.array([2.0, np.int64(1), np.float32(3)], dtype=object))
    assert numbers.dtype == np.int64 and numbers.tolist() == [2, 1, 3]
    with pytest.raises(ValueError, match="NaN or infinity"):
        canonical_labels([1.0, np.nan])
    with pytest.raises(ValueError, match="not UTF-8"):
        canonical_labels(np.array([b"\xff", "a"], dtype=object))


def test_a_label_beyond_int64_keeps_its_value():
    y = np.array([2e19, 1.0, 2e19])
    labels = canonical_labels(y)  # a cast to int64 would wrap 2e19 to -9223372036854775808
    assert labels.dtype == np.float64 and labels.tolist() == [2e19, 1.0, 2e19]
    encoder = LabelEncoder.fit(y)
    assert encoder.decode([1, 0]).tolist() == [2e19, 1.0]
    with pytest.raises(ValueError, match=r"labels \['3e\+19'\] never appeared.* knows \['1.0', '2e\+19'\]"):
        encoder.encode([3e19])
    config = json.loads(json.dumps(encoder.to_config()))
    assert LabelEncoder.from_config(config).classes.tolist() == [1.0, 2e19]
    assert canonical_labels([-(2.0**63), 5.0]).dtype == np.int64  # the edge still fits


@pytest.mark.parametrize("classes, message", [
    (["b", "a"], "sorted and distinct"),
    ([1, 1, 2], "sorted and distinct"),
    (np.array(["a", 1], dtype=object), "mix text and numbers"),
    ([], "non-empty"),
    ([[1, 2]], "non-empty list"),
])
def test_classes_must_be_sorted_distinct_labels(classes, message):
    with pytest.raises(ValueError, match=message):
        LabelEncoder(classes)


@pytest.mark.parametrize("config, message", [
    ({"dtype": "<M8[D]", "values": [0, 1]}, r"dtype '<M8\[D\]'; class labels are numbers"),
    ({"dtype": "<c16", "values": [0, 1]}, "dtype '<c16'"),
    ({"dtype": "|V8", "values": [0, 1]}, "dtype '|V8'"),
    ({"dtype": [["a", "<i4"]], "values": [0, 1]}, "dtype"),
    ({"dtype": "<U99999999999", "values": ["a"]}, "dtype '<U99999999999'"),
    ({"dtype": "<i8", "values": "ab"}, "must be a list"),
    ({"dtype": "<i8", "values": [1, 2.5]}, "must all be int"),
    ({"dtype": "<i8", "values": [True, 2]}, "must all be int"),
    ({"dtype": "|i1", "values": [1, 300]}, "outside the range of |i1"),
    ({"dtype": "<u8", "values": [-1, 2]}, "outside the range"),
    ({"dtype": "<f8", "values": [1.0, "2"]}, "must all be int or float"),
    ({"dtype": "<f8", "values": [1.0, float("nan")]}, "NaN or infinity"),
    ({"dtype": "<U3", "values": ["b", "a"]}, "sorted and distinct"),
    ({"dtype": "<i8", "values": [1, 1]}, "sorted and distinct"),
    ({"dtype": "object", "values": ["a", 1]}, "mix text and numbers"),
    ({"dtype": "<i8", "values": list(range(1_000_001))}, "at most 1000000"),
    ({"dtype": "<i8"}, "'dtype': ..., 'values'"),
    (["<i8", [1, 2]], "'dtype': ..., 'values'"),
])
def test_stored_classes_are_checked_against_an_allow_list(config, message):
    with pytest.raises(ValueError, match=message):
        LabelEncoder.from_config(config)


def test_stored_classes_of_every_allowed_dtype_load():
    for name in ("bool", "|b1", "int8", "|u1", "<i2", "<u4", "<i8", "<u8", "<f4", "float64"):
        values = [False, True] if "b" in name else [0, 1]
        assert LabelEncoder.from_config({"dtype": name, "values": values}).classes.dtype == np.dtype(name)
    assert LabelEncoder.from_config({"dtype": "str", "values": ["a", "bcd"]}).classes.dtype == "<U3"
    huge = LabelEncoder.from_config({"dtype": "<U268435455", "values": ["a", "bc"]})
    assert huge.classes.dtype == "<U2"  # allocated as wide as the labels, not as declared
    wide = LabelEncoder(np.array(["a", "b"], dtype="<U50")).to_config()
    assert wide["dtype"] == "<U1"  # stored as wide as its longest label
    with pytest.raises(ValueError, match="bytes"):
        LabelEncoder(np.array([b"a", b"b"])).to_config()


@pytest.mark.parametrize("classes", [np.array([1, 2], "<f2"), np.array([1, 2], ">i8"),
                                     np.array([1.5, 2.0], ">f8"), np.array([1, 7], ">u4")])
def test_classes_of_any_number_dtype_are_written_as_a_dtype_the_reader_takes(classes):
    """float16 and big-endian labels (which an estimator fits happily) once made files the
    reader refused: they are stored in an allowed dtype, the values kept."""
    config = json.loads(json.dumps(LabelEncoder(classes).to_config()))
    back = LabelEncoder.from_config(config).classes
    assert back.tolist() == classes.tolist() and back.dtype.isnative
