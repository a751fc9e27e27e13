"""ONNX export: the exported graph, run in onnxruntime, reproduces net.predict."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import deltaprop as dp  # noqa: E402
from deltaprop.activations import ReLU  # noqa: E402
from deltaprop.files.onnx import export_onnx  # noqa: E402
from deltaprop.layers import ActivationLayer, BatchNorm, Dense, Dropout, Layer  # noqa: E402

DTYPES = (np.float32, np.float64)
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}  # max abs difference from net.predict
ACTIVATIONS: list[Any] = [
    "identity", "sigmoid", "tanh", "relu", "leaky_relu", {"name": "leaky_relu", "slope": 0.3},
    "elu", {"name": "elu", "alpha": 0.4}, "softplus", "sign", "step", "softmax",
]


def _id(spec: Any) -> str:
    return spec if isinstance(spec, str) else "-".join(str(v) for v in spec.values())


def run_onnx(path: Path, X: np.ndarray, input_name: str = "X") -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {input_name: X})
    return output


def assert_parity(net: dp.Network, path: Path, X: np.ndarray, **export_options: Any) -> float:
    """Export, run the file on X, compare with predict; returns the max abs difference."""
    export_onnx(net, path, **export_options)
    X = np.ascontiguousarray(X, dtype=net.dtype)
    expected = net.predict(X)
    got = run_onnx(path, X, export_options.get("input_name", "X"))
    assert got.dtype == net.dtype and got.shape == expected.shape
    difference = float(np.max(np.abs(got - expected)))
    assert difference < TOLERANCE[net.dtype.type], difference
    return difference


@pytest.fixture
def X(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(scale=2.0, size=(37, 5))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=_id)
def test_every_activation_hidden(activation: Any, dtype: Any, X: np.ndarray, tmp_path: Path) -> None:
    net = dp.MLP([5, 8, 6, 3], activation=activation, output_activation="identity", dtype=dtype, seed=1)
    assert_parity(net, tmp_path / "net.onnx", X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=_id)
def test_every_activation_as_output(activation: Any, dtype: Any, X: np.ndarray, tmp_path: Path) -> None:
    net = dp.MLP([5, 8, 3], activation="tanh", output_activation=activation, dtype=dtype, seed=2)
    assert_parity(net, tmp_path / "net.onnx", X)


@pytest.mark.parametrize("activation", ["sigmoid", "softplus", "elu", "softmax", "tanh"])
def test_large_pre_activations_do_not_overflow(activation: str, X: np.ndarray, tmp_path: Path) -> None:
    # |z| in the hundreds: e^z overflows float32 unless computed in the stable forms
    net = dp.MLP([5, 3], output_activation=activation, seed=3)
    net.weights[0][...] *= 200.0
    path = tmp_path / "net.onnx"
    export_onnx(net, path)
    X32 = X.astype(np.float32)
    got, expected = run_onnx(path, X32), net.predict(X32)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["sign", "step"])
def test_sign_and_step_at_exactly_zero(activation: str, dtype: Any, tmp_path: Path) -> None:
    net = dp.Network([Dense(3, 4, activation)], dtype=dtype, seed=0)
    net.weights[0][:2] = 0.0  # units 0 and 1 get z = 0 exactly: sign(0) = +1, step(0) = 1
    net.biases[0][...] = 0.0
    X = np.array([[1.0, -2.0, 3.0], [-1.0, 0.5, 0.0], [0.0, 0.0, 0.0]])
    assert_parity(net, tmp_path / "net.onnx", X)
    assert np.all(run_onnx(tmp_path / "net.onnx", X.astype(dtype))[:, :2] == 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_after_training(dtype: Any, rng: np.random.Generator, tmp_path: Path) -> None:
    X = rng.normal(loc=1.5, scale=3.0, size=(64, 5))
    y = rng.integers(0, 3, size=64)
    net = dp.MLP([5, 12, 8, 3], activation="relu", batch_norm=True, dtype=dtype, seed=4)
    net.fit(X, y, loss="cross_entropy", epochs=2, batch_size=16, threads=None)
    batchnorm = net.batchnorm_layers[0]
    assert batchnorm.running_mean is not None and batchnorm.running_var is not None
    assert np.abs(batchnorm.running_mean).max() > 1e-2  # the statistics moved off (0, 1)
    assert np.abs(batchnorm.running_var - 1.0).max() > 1e-2
    assert_parity(net, tmp_path / "net.onnx", X)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_is_removed(dtype: Any, rng: np.random.Generator, tmp_path: Path) -> None:
    X = rng.normal(size=(40, 5))
    y = rng.normal(size=(40, 2))
    net = dp.MLP([5, 10, 10, 2], activation="elu", dropout=0.4, dtype=dtype, seed=5)
    net.fit(X, y, loss="mse", epochs=2, batch_size=8, threads=None)
    assert_parity(net, tmp_path / "net.onnx", X)
    model = onnx.load(str(tmp_path / "net.onnx"))
    assert not any(node.op_type == "Dropout" for node in model.graph.node)


@pytest.mark.parametrize("dtype", DTYPES)
def test_explicit_activation_layers(dtype: Any, rng: np.random.Generator, tmp_path: Path) -> None:
    X = rng.normal(size=(37, 4))
    y = rng.integers(0, 3, size=37)
    net = dp.Network([
        Dense(4, 6), BatchNorm(), ActivationLayer("leaky_relu"), Dropout(0.2),
        Dense(6, 5, "softplus"), ActivationLayer("tanh"), Dense(5, 3), ActivationLayer("softmax"),
    ], dtype=dtype, seed=6)
    net.fit(X, y, loss="cross_entropy", epochs=2, batch_size=8, threads=None)
    assert_parity(net, tmp_path / "net.onnx", X)
    model = onnx.load(str(tmp_path / "net.onnx"))
    assert [output.name for output in model.graph.output] == ["probabilities"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_standardization_prepended(dtype: Any, rng: np.random.Generator, tmp_path: Path) -> None:
    raw = rng.normal(loc=[10.0, -3.0, 0.0, 100.0, 1.0], scale=[2.0, 0.5, 1.0, 30.0, 4.0], size=(37, 5))
    mean, scale = raw.mean(axis=0), raw.std(axis=0) + 1e-8
    net = dp.MLP([5, 8, 2], activation="tanh", dtype=dtype, seed=7)
    path = tmp_path / "net.onnx"
    export_onnx(net, path, input_mean=mean, input_scale=scale)
    got = run_onnx(path, raw.astype(dtype))
    expected = net.predict((raw - mean) / scale)
    assert float(np.max(np.abs(got - expected))) < TOLERANCE[dtype]
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["standardized"] == "yes"


@pytest.mark.parametrize("batch", [1, 37])
def test_symbolic_batch_dimension(batch: int, rng: np.random.Generator, tmp_path: Path) -> None:
    net = dp.MLP([5, 8, 3], activation="relu", output_activation="softmax", seed=8)
    path = tmp_path / "net.onnx"
    export_onnx(net, path)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 5
    X = rng.normal(size=(batch, 5)).astype(np.float32)
    got = run_onnx(path, X)
    assert got.shape == (batch, 3)
    assert float(np.max(np.abs(got - net.predict(X)))) < 1e-5


@pytest.mark.parametrize("dtype", DTYPES)
def test_opset_ir_and_metadata(dtype: Any, tmp_path: Path) -> None:
    net = dp.MLP([3, 4, 1], output_activation="sigmoid", dtype=dtype, seed=9)
    path = tmp_path / "net.onnx"
    export_onnx(net, path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert model.ir_version == 8
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    props = {p.key: p.value for p in model.metadata_props}
    assert props["deltaprop_version"] == dp.__version__
    assert props["dtype"] == np.dtype(dtype).name
    assert props["standardized"] == "no"
    assert model.producer_name == "deltaprop" and "net.predict" in model.doc_string
    element = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    assert model.graph.input[0].type.tensor_type.elem_type == element
    assert [o.name for o in model.graph.output] == ["probabilities"]


def test_output_scaling_appended(rng: np.random.Generator, tmp_path: Path) -> None:
    net = dp.MLP([3, 5, 2], seed=4, dtype=np.float64)
    X = rng.standard_normal((7, 3))
    mean, scale = np.array([100.0, -3.0]), np.array([2.0, 0.5])
    export_onnx(net, tmp_path / "net.onnx", output_mean=mean, output_scale=scale)
    session = ort.InferenceSession(str(tmp_path / "net.onnx"), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"X": X})
    np.testing.assert_allclose(out, net.predict(X) * scale + mean, rtol=1e-12)


def test_extra_metadata_is_stored_beside_ours(tmp_path: Path) -> None:
    export_onnx(dp.MLP([3, 2], seed=1), tmp_path / "net.onnx", metadata={"classes": '["a", "b"]'})
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "net.onnx")).metadata_props}
    assert props["classes"] == '["a", "b"]' and props["deltaprop_version"] == dp.__version__


def test_names_and_another_opset(X: np.ndarray, tmp_path: Path) -> None:
    net = dp.MLP([5, 8, 3], activation="sigmoid", seed=10)
    path = tmp_path / "net.onnx"
    assert_parity(net, path, X, input_name="features", output_name="y_hat", opset=13)
    model = onnx.load(str(path))
    assert model.graph.input[0].name == "features" and model.graph.output[0].name == "y_hat"
    assert model.opset_import[0].version == 13
    export_onnx(net, path)
    assert onnx.load(str(path)).graph.output[0].name == "outputs"  # identity output
    # names that inner tensors would otherwise take
    assert_parity(net, path, X, input_name="layers.0.W", output_name="tanh")


class _Square(Layer):
    """A layer the export does not know."""

    def forward(self, x: np.ndarray, *, training: bool) -> np.ndarray:
        return x * x


class _MyReLU(ReLU):
    """A subclass of a built-in: its forward could be anything, so it is refused too."""


def _custom_activation() -> Any:
    class Cube:
        name = "cube"

        def f(self, z: np.ndarray) -> np.ndarray:
            return z**3

        def df(self, z: np.ndarray) -> np.ndarray:
            return 3 * z**2

    return Cube()


@pytest.mark.parametrize("layers, message", [
    (lambda: [Dense(3, 4, _custom_activation()), Dense(4, 2)], r"layers\[0\].*user-defined.*'cube'"),
    (lambda: [Dense(3, 4), ActivationLayer(_MyReLU()), Dense(4, 2)], r"layers\[1\].*user-defined"),
    (lambda: [Dense(3, 4), _Square(), Dense(4, 2)], r"layers\[1\].*_Square"),
], ids=["custom-activation", "builtin-subclass", "unknown-layer"])
def test_refusals_write_nothing(layers: Any, message: str, tmp_path: Path) -> None:
    net = dp.Network(layers(), seed=11)
    path = tmp_path / "net.onnx"
    with pytest.raises(ValueError, match=message):
        export_onnx(net, path)
    assert os.listdir(tmp_path) == []  # neither the file nor a leftover temporary


def test_failed_export_leaves_existing_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "net.onnx"
    path.write_bytes(b"the previous model")
    net = dp.Network([Dense(3, 4, _custom_activation()), Dense(4, 2)], seed=12)
    with pytest.raises(ValueError, match="user-defined"):
        export_onnx(net, path)
    with pytest.raises(ValueError, match="input_mean"):
        export_onnx(dp.MLP([3, 2], seed=12), path, input_mean=np.zeros(4))
    assert path.read_bytes() == b"the previous model"
    assert sorted(os.listdir(tmp_path)) == ["net.onnx"]


@pytest.mark.parametrize("options, error, message", [
    ({"input_mean": np.zeros((3, 1))}, ValueError, r"input_mean must have shape \(3,\)"),
    ({"input_scale": [1.0, 0.0, 2.0]}, ValueError, "input_scale has zeros"),
    ({"input_scale": [1.0, np.nan, 2.0]}, ValueError, "non-finite"),
    ({"input_mean": ["a", "b", "c"]}, TypeError, "input_mean must be an array of numbers"),
    ({"opset": 12}, ValueError, "opset must be an integer from 13"),
    ({"output_name": "X"}, ValueError, "distinct"),
    ({"metadata": {"classes": 3}}, TypeError, "metadata must map strings to strings"),
])
def test_bad_arguments(options: dict[str, Any], error: type, message: str, tmp_path: Path) -> None:
    with pytest.raises(error, match=message):
        export_onnx(dp.MLP([3, 2], seed=13), tmp_path / "net.onnx", **options)
    assert os.listdir(tmp_path) == []


def test_not_a_network(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Network"):
        export_onnx(Dense(3, 2), tmp_path / "net.onnx")  # type: ignore[arg-type]


def test_missing_onnx_gives_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'deltaprop\[onnx\]'"):
        export_onnx(dp.MLP([3, 2], seed=14), tmp_path / "net.onnx")


def test_a_model_exports_with_its_preprocessing(rng: np.random.Generator, tmp_path: Path) -> None:
    import json

    from deltaprop.data.preprocessing import Preprocessing, Standardizer

    X = rng.normal(loc=100.0, scale=5.0, size=(20, 3))
    preprocessing = Preprocessing("regress", ["a", "b", "c"], features=Standardizer.fit(X),
                                  target_names=["price"],
                                  targets=Standardizer(np.array([1e4]), np.array([50.0])))
    model = dp.Model(dp.MLP([3, 4, 1], dtype=np.float64, seed=0), preprocessing)
    export_onnx(model, tmp_path / "model.onnx")
    np.testing.assert_allclose(run_onnx(tmp_path / "model.onnx", X)[:, 0], model.predict(X), rtol=1e-12)
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    assert json.loads(props["feature_names"]) == ["a", "b", "c"] and props["task"] == "regress"
    assert json.loads(props["output_columns"]) == ["price"]
    with pytest.raises(TypeError, match="carries its own standardization"):
        export_onnx(model, tmp_path / "again.onnx", input_mean=np.zeros(3))
    net = dp.MLP([3, 1], seed=0)
    net.use_loss(dp.get_loss("binary_cross_entropy"))  # one sigmoid output: p(class 1)
    export_onnx(dp.Model.from_network(net), tmp_path / "binary.onnx")
    session = ort.InferenceSession(str(tmp_path / "binary.onnx"), providers=["CPUExecutionProvider"])
    assert json.loads(session.get_modelmeta().custom_metadata_map["output_columns"]) == ["1"]


def test_weights_that_are_not_finite_are_never_exported(tmp_path):
    net = dp.MLP([3, 4, 2], seed=0)
    net.theta[0] = np.nan
    with pytest.raises(ValueError, match="theta holds 1 NaN or infinite value"):
        dp.export_onnx(net, tmp_path / "nan.onnx")
    assert not (tmp_path / "nan.onnx").exists()
