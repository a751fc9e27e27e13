"""Files of the first format (deltaprop 0.1, written by every writer of that release) keep
loading, and predict what they predicted then, to the rounding of their dtype.

The files and the predictions they gave were made once by
``tests/fixtures/model_files_v1/make_model_files.py`` with that release; see its docstring.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.data.tables import read_table
from deltaprop.files.container import read_archive

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "model_files_v1"
EXPECTED = np.load(FIXTURES / "expected.npz")
LABELS = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
X4 = np.load(FIXTURES / "X4.npy")
KINDS = {"mlp.dp": "network", "network.dp": "network", "classifier.dp": "estimator",
         "regressor.dp": "estimator", "cli_classifier.dp": "model", "cli_regressor.dp": "model",
         "checkpoint.ckpt": "checkpoint", "cli_regressor.ckpt": "checkpoint"}


def assert_equal_to_rounding(actual, expected, dtype) -> None:
    """Equal but for the last bits of ``dtype``: OpenBLAS's kernels for different CPUs (Haswell,
    SkylakeX) sum a product's terms in different orders, so the same file predicts slightly
    differently on another machine (float32 CLI models: 2e-8 of the outputs' size seen); a wrong
    weight, scaling or layer moves the outputs by far more."""
    expected = np.asarray(expected)
    tolerance = 8 * np.finfo(dtype).eps * np.abs(expected).max()
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tolerance)


def assert_same_printout(printed: str, expected: str, dtype) -> None:
    """The same lines of the same comma-separated fields, numbers equal to the rounding of
    ``dtype``, every other field (labels, the header) exactly."""
    printed_fields = [line.split(",") for line in printed.splitlines()]
    expected_fields = [line.split(",") for line in expected.splitlines()]
    assert [len(line) for line in printed_fields] == [len(line) for line in expected_fields]
    for line, want in zip(printed_fields, expected_fields):
        for field, wanted in zip(line, want):
            try:
                value, wanted_value = float(field), float(wanted)
            except ValueError:
                assert field == wanted
            else:
                assert_equal_to_rounding(value, wanted_value, dtype)


def test_the_fixtures_are_format_1():
    for name in KINDS:
        with zipfile.ZipFile(FIXTURES / name) as archive:
            assert json.loads(archive.read("metadata.json"))["format_version"] == 1, name


@pytest.mark.parametrize("name, kind", KINDS.items())
def test_each_file_reads_as_its_kind(name, kind):
    archive = read_archive(FIXTURES / name)
    assert archive.kind == kind and archive.format_version == 1


def test_networks_predict_as_they_did():
    mlp, net = dp.load(FIXTURES / "mlp.dp"), dp.load(FIXTURES / "network.dp")
    assert type(mlp) is dp.MLP and mlp.layer_sizes == [4, 5, 3]
    assert type(net) is dp.Network and [type(layer).__name__ for layer in net.layers] == [
        "Dense", "BatchNorm", "ActivationLayer", "Dropout", "Dense"]
    assert_equal_to_rounding(mlp.predict(X4), EXPECTED["mlp"], mlp.dtype)
    assert_equal_to_rounding(net.predict(X4), EXPECTED["network"], net.dtype)


def test_a_checkpoint_gives_its_network():
    net = dp.load(FIXTURES / "checkpoint.ckpt")
    assert isinstance(net, dp.MLP) and net.history.n_epochs == 2
    assert_equal_to_rounding(net.predict(X4), EXPECTED["checkpoint"], net.dtype)


def test_estimators_come_back_as_estimators():
    pytest.importorskip("sklearn")
    from deltaprop.sklearn import MLPClassifier, MLPRegressor

    classifier = dp.load(FIXTURES / "classifier.dp")
    assert isinstance(classifier, MLPClassifier) and classifier.classes_.dtype == np.dtype("<U10")
    assert_equal_to_rounding(classifier.predict_proba(X4), EXPECTED["classifier_proba"], np.float64)
    assert classifier.predict(X4).tolist() == LABELS["classifier"]
    regressor = MLPRegressor.load(FIXTURES / "regressor.dp")
    assert_equal_to_rounding(regressor.predict(X4), EXPECTED["regressor"], np.float64)


@pytest.mark.parametrize("name, data", [("cli_classifier", "iris.csv"), ("cli_regressor", "sine.csv")])
def test_command_line_models_predict_as_they_did_from_python_and_the_command_line(name, data, monkeypatch):
    model = dp.load(FIXTURES / f"{name}.dp")
    assert isinstance(model, dp.Model)
    rows = read_table(FIXTURES / data)
    assert_equal_to_rounding(model.outputs(rows), EXPECTED[name], model.net.dtype)
    if model.task == "regress":  # numbers, to rounding
        assert_equal_to_rounding(model.predict(rows), LABELS[name], model.net.dtype)
    else:  # labels, exactly
        assert model.predict(rows).tolist() == LABELS[name]
    monkeypatch.chdir(FIXTURES)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["predict", f"{name}.dp", "--data", data]) == 0
    assert_same_printout(out.getvalue(), LABELS[f"{name}_stdout"], model.net.dtype)


def test_a_command_line_checkpoint_is_its_model():
    model = dp.load(FIXTURES / "cli_regressor.ckpt")
    assert isinstance(model, dp.Model) and model.task == "regress"
    assert model.summary["data"] == "sine.csv" and model.net.history.n_epochs == 5
    final = dp.load(FIXTURES / "cli_regressor.dp")  # the checkpoint of the run's last epoch
    rows = read_table(FIXTURES / "sine.csv")
    np.testing.assert_array_equal(model.outputs(rows), final.outputs(rows))
    assert read_archive(FIXTURES / "cli_regressor.ckpt").metadata["train_options"]["hidden"] == "6"
