"""ONNX export: a trained network as an ONNX graph computing exactly ``net.predict(X)``.

The graph takes ``X`` of shape (batch, n_inputs) with a symbolic batch dimension, in the
network's dtype (float32 or float64), and optionally standardizes it first. Each layer kind has
one function below that writes its evaluation-mode forward pass as ONNX nodes, following the
same arithmetic as the NumPy code, operation for operation, so results agree to rounding:

    Dense        z = X W^T + b                       Gemm(X, W, b, transB=1), then f(z)
    BatchNorm    (z - running_mean) * inv_std * gamma + beta     Sub, Mul, Mul, Add
    Activation   a = f(z)
    Dropout      the identity at inference: no node

ONNX's own ``BatchNormalization`` would give the same values (in inference mode it uses the
variance input as given, and ours is the stored running variance), but ``inv_std`` is computed
here exactly as :class:`~deltaprop.layers.BatchNorm` computes it, so the constants are
bit-identical; onnxruntime's CPU BatchNormalization and several activation operators also accept
float32 only. Activations are likewise composed from elementary operators in the overflow-free
forms of :mod:`deltaprop.activations` (ONNX's ``Softplus``, log(exp(z) + 1), overflows in
float32 for z > 88; ``Sign`` gives 0 at 0 where ours gives +1).

``onnx`` is an optional dependency: ``pip install 'deltaprop[onnx]'``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from deltaprop._version import __version__
from deltaprop.activations import ACTIVATIONS, Activation
from deltaprop.files.atomic import atomic_write
from deltaprop.files.codec import network_arrays
from deltaprop.files.model import Model
from deltaprop.layers import ActivationLayer, BatchNorm, Dense, Dropout, Layer
from deltaprop.network import Network

Array = np.ndarray

MIN_OPSET = 13  # Softmax over one axis (not a flattened tail) is opset 13's
_INSTALL_HINT = "ONNX export needs the onnx package: pip install 'deltaprop[onnx]'"


def export_onnx(
    net: Network | Model,
    path: str | os.PathLike[str],
    *,
    input_mean: Any = None,
    input_scale: Any = None,
    input_name: str = "X",
    output_name: str | None = None,
    opset: int = 17,
    metadata: dict[str, str] | None = None,
    output_mean: Any = None,
    output_scale: Any = None,
) -> None:
    """Write ``net`` as an ONNX model computing ``net.predict(X)``.

    Parameters
    ----------
    net : Network or Model
        A network of Dense, BatchNorm (exported in evaluation mode, with its running
        statistics), Dropout (dropped) and Activation layers, with deltaprop's own activations.
        A :class:`~deltaprop.Model` brings its preprocessing: the graph takes the features
        (one-hot indicators included, in ``feature_names`` order) unscaled and outputs class
        probabilities or targets in their units; its feature names, output columns and task
        go into the metadata. Give no standardization arguments with a Model.
    path : str or path-like
        Where to write the ``.onnx`` file; written atomically (an existing file there is left
        untouched when export fails).
    input_mean, input_scale : array-like of shape (n_inputs,), optional
        Prepend the standardization ``(X - input_mean) / input_scale`` to the graph, so the
        model takes raw features.
    input_name : str
        Name of the graph input, shape (batch, n_inputs).
    output_name : str, optional
        Name of the graph output, shape (batch, n_outputs); default ``"probabilities"`` for a
        softmax or sigmoid output layer, ``"outputs"`` otherwise.
    opset : int
        ONNX operator set version (at least 13). The IR version is the lowest that carries it:
        8 for the default opset 17, which onnxruntime 1.12 and later load.
    output_mean, output_scale : array-like of shape (n_outputs,), optional
        Append ``outputs * output_scale + output_mean`` to the graph (the command line's
        regression models are trained on standardized targets).
    metadata : dict of str to str, optional
        Extra ``metadata_props`` (the command line stores the feature order and the class
        labels of the output columns there).

    Raises
    ------
    ImportError
        If the ``onnx`` package is not installed.
    TypeError
        If ``net`` is not a :class:`~deltaprop.network.Network`, or a standardization array
        does not hold numbers.
    ValueError
        For a layer type or activation the export does not know (user-defined activations
        cannot be translated), weights or statistics holding NaN or infinity, a bad
        standardization array, or an unsupported opset. Nothing is written then.
    """
    onnx = _import_onnx()
    if isinstance(net, Model):
        net, input_mean, input_scale, output_mean, output_scale, metadata = _model_arguments(
            net, (input_mean, input_scale, output_mean, output_scale), metadata)
    if not isinstance(net, Network):
        raise TypeError(f"export_onnx takes a deltaprop Network, got {type(net).__name__}")
    network_arrays(net)  # finite weights and statistics, or a ValueError naming them
    _check_opset(opset, onnx.defs.onnx_opset_version())
    _check_translatable(net.layers)
    mean = _scaling_vector(input_mean, "input_mean", net.n_inputs, "input")
    scale = _scaling_vector(input_scale, "input_scale", net.n_inputs, "input")
    if scale is not None and not np.all(scale != 0):
        raise ValueError("input_scale has zeros; standardization would divide by them")
    output_name = _output_name(net, input_name, output_name)

    out_scale, out_mean = (_scaling_vector(v, name, net.n_outputs, "output") for v, name in
                           ((output_scale, "output_scale"), (output_mean, "output_mean")))
    graph = _Graph(onnx, net.dtype, reserved=(input_name, output_name))
    graph.output(_forward(graph, net, input_name, (mean, scale), (out_mean, out_scale)), output_name)
    model = graph.model(net, input_name, output_name, opset, standardized=(mean, scale))
    _add_metadata(onnx, model, metadata)
    onnx.checker.check_model(model)
    payload = model.SerializeToString()

    def write(stream: IO[bytes]) -> None:
        stream.write(payload)

    atomic_write(path, write)


def _forward(graph: _Graph, net: Network, a: str, inputs: tuple[Array | None, Array | None],
             outputs: tuple[Array | None, Array | None]) -> str:
    """The nodes from the input ``a`` to the output: standardization, each layer's evaluation
    forward pass, the outputs back in the targets' units; the last node's name."""
    (mean, scale), (out_mean, out_scale) = inputs, outputs
    if mean is not None:
        a = graph.op("Sub", [a, graph.const("input_mean", mean)])
    if scale is not None:
        a = graph.op("Div", [a, graph.const("input_scale", scale)])
    for i, layer in enumerate(net.layers):
        a = _LAYER_EXPORTERS[type(layer)](graph, a, layer, f"layers.{i}")
    if out_scale is not None:
        a = graph.op("Mul", [a, graph.const("output_scale", out_scale)])
    if out_mean is not None:
        a = graph.op("Add", [a, graph.const("output_mean", out_mean)])
    return a


def _output_name(net: Network, input_name: str, output_name: str | None) -> str:
    """``output_name``, by default ``"probabilities"`` or ``"outputs"`` by the output layer's
    activation; checked to be a name other than the input's."""
    if output_name is None:
        probabilities = net.output_layer.activation.name in ("softmax", "sigmoid")
        output_name = "probabilities" if probabilities else "outputs"
    if not input_name or not output_name or input_name == output_name:
        raise ValueError(f"input_name ({input_name!r}) and output_name ({output_name!r}) must be "
                         "distinct non-empty names")
    return output_name


def _add_metadata(onnx: Any, model: Any, metadata: dict[str, str] | None) -> None:
    """Add ``metadata`` (strings to strings) to the model's ``metadata_props``."""
    if not metadata:
        return
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("metadata must map strings to strings")
    props = {p.key: p.value for p in model.metadata_props} | metadata
    onnx.helper.set_model_props(model, props)


def _model_arguments(model: Model, scaling: tuple[Any, ...],
                     metadata: dict[str, str] | None) -> tuple[Any, ...]:
    """(network, input mean and scale, output mean and scale, metadata) of a Model, which
    refuses any other ``scaling`` (input mean and scale, output mean and scale)."""
    if any(v is not None for v in scaling):
        raise TypeError("a Model carries its own standardization; give input_mean, "
                        "input_scale, output_mean and output_scale only with a Network")
    features, targets = model.preprocessing.features, model.preprocessing.targets
    if model.classes is None:
        columns = model.target_names
    else:  # one sigmoid output is p(the second class)
        columns = [str(c) for c in (model.classes[1:] if model.net.n_outputs == 1 else model.classes)]
    described = {"feature_names": json.dumps(model.feature_names), "output_columns": json.dumps(columns),
                 "task": model.task}
    return (model.net, None if features is None else features.mean,
            None if features is None else features.scale, None if targets is None else targets.mean,
            None if targets is None else targets.scale, {**described, **(metadata or {})})


def _import_onnx() -> Any:
    try:
        import onnx
        import onnx.checker
        import onnx.helper
        import onnx.numpy_helper
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return onnx


# -- checks, all before anything is built or written -------------------------------------------
def _check_opset(opset: int, newest: int) -> None:
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not (
            MIN_OPSET <= opset <= newest):
        raise ValueError(f"opset must be an integer from {MIN_OPSET} to {newest} (the installed "
                         f"onnx's newest), got {opset!r}")


def _check_translatable(layers: list[Layer]) -> None:
    """Raise a ValueError naming the first layer the export cannot write exactly."""
    for i, layer in enumerate(layers):
        if type(layer) not in _LAYER_EXPORTERS:
            known = ", ".join(cls.__name__ for cls in _LAYER_EXPORTERS)
            raise ValueError(f"layers[{i}] ({layer!r}) is a {type(layer).__name__}, which ONNX "
                             f"export does not know; it exports {known}")
        activation = getattr(layer, "activation", None)
        if activation is not None and not (
                _is_builtin(activation) and activation.name in _ACTIVATION_EXPORTERS):
            raise ValueError(
                f"layers[{i}] ({layer!r}) has the user-defined activation {activation.name!r}, "
                f"which cannot be written as ONNX; use one of {', '.join(sorted(ACTIVATIONS))}")


def _is_builtin(activation: Activation) -> bool:
    # The exact class, not isinstance: a subclass may override forward with anything.
    return ACTIVATIONS.get(activation.name) is type(activation)


def _scaling_vector(values: Any, name: str, length: int, per: str) -> Array | None:
    """A finite float64 vector of ``length`` values (one per input or output), or None."""
    if values is None:
        return None
    try:
        vector = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers, got {type(values).__name__}") from None
    if vector.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},) (one value per {per}), "
                         f"got shape {vector.shape}")
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"{name} has non-finite values")
    return vector


# -- the graph under construction --------------------------------------------------------------
class _Graph:
    """Nodes and constants (initializers) of the graph being built, in the network's dtype."""

    def __init__(self, onnx: Any, dtype: np.dtype[Any], *, reserved: tuple[str, ...]) -> None:
        self.onnx, self.dtype = onnx, dtype
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names = set(reserved)  # the graph's input and output: no inner tensor takes them
        self._scalars: dict[float, str] = {}

    def _unique(self, stem: str) -> str:
        name, k = stem, 1
        while name in self._names:
            name, k = f"{stem}_{k}", k + 1
        self._names.add(name)
        return name

    def const(self, stem: str, value: Any) -> str:
        """A constant tensor of ``value`` cast to the network's dtype; returns its name."""
        array = np.ascontiguousarray(np.asarray(value, dtype=np.float64).astype(self.dtype))
        name = self._unique(stem)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name=name))
        return name

    def scalar(self, value: float) -> str:
        """A shared 0-d constant (broadcasts against any tensor)."""
        if value not in self._scalars:
            self._scalars[value] = self.const(f"c{value:g}".replace("-", "minus"), value)
        return self._scalars[value]

    def op(self, op_type: str, inputs: list[str], *, output: str | None = None,
           **attributes: Any) -> str:
        """Append one node; returns the name of its single output."""
        output = self._unique(output or f"{op_type.lower()}")
        self.nodes.append(self.onnx.helper.make_node(
            op_type, inputs, [output], name=f"{op_type}_{len(self.nodes)}", **attributes))
        return output

    def output(self, value: str, name: str) -> None:
        """Make ``value`` the graph output ``name`` (a reserved name, so taken as is)."""
        self.nodes.append(self.onnx.helper.make_node("Identity", [value], [name], name="output"))

    def model(self, net: Network, input_name: str, output_name: str, opset: int, *,
              standardized: tuple[Array | None, Array | None]) -> Any:
        helper = self.onnx.helper
        element = helper.np_dtype_to_tensor_dtype(self.dtype)
        graph = helper.make_graph(
            self.nodes, "deltaprop_network",
            [helper.make_tensor_value_info(input_name, element, ["batch", net.n_inputs])],
            [helper.make_tensor_value_info(output_name, element, ["batch", net.n_outputs])],
            initializer=self.initializers)
        opsets = [helper.make_opsetid("", opset)]
        model = helper.make_model(
            graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets),
            producer_name="deltaprop", producer_version=__version__, doc_string=_doc(net, standardized))
        helper.set_model_props(model, {
            "deltaprop_version": __version__,
            "dtype": self.dtype.name,
            "layers": " -> ".join(repr(layer) for layer in net.layers),
            "standardized": "yes" if any(v is not None for v in standardized) else "no",
        })
        return model



def _doc(net: Network, standardized: tuple[Array | None, Array | None]) -> str:
    first = "(X - input_mean) / input_scale, then " if any(v is not None for v in standardized) else ""
    return (f"deltaprop network exported for inference: {first}"
            f"{' -> '.join(repr(layer) for layer in net.layers)}. Computes net.predict(X) for X of "
            f"shape (batch, {net.n_inputs}) in {net.dtype.name}; output (batch, {net.n_outputs}).")


# -- layers: each writes its evaluation-mode forward pass and returns its output's name ---------
def _dense(graph: _Graph, x: str, layer: Dense, name: str) -> str:
    """z = x W^T + b (W stored as (n_out, n_in), hence transB), then a = f(z)."""
    W, b = graph.const(f"{name}.W", layer.W), graph.const(f"{name}.b", layer.b)
    z = graph.op("Gemm", [x, W, b], output=f"{name}.z", transB=1)
    return _activation(graph, z, layer.activation)


def _batchnorm(graph: _Graph, z: str, layer: BatchNorm, name: str) -> str:
    """z_hat = (z - running_mean) * inv_std * gamma + beta, as the layer's forward evaluates it."""
    assert layer.running_mean is not None and layer.running_var is not None
    inv_std = 1.0 / np.sqrt(layer.running_var + layer.eps)  # the layer's own expression and dtype
    centered = graph.op("Sub", [z, graph.const(f"{name}.running_mean", layer.running_mean)])
    z_tilde = graph.op("Mul", [centered, graph.const(f"{name}.inv_std", inv_std)])
    scaled = graph.op("Mul", [z_tilde, graph.const(f"{name}.gamma", layer.gamma)])
    return graph.op("Add", [scaled, graph.const(f"{name}.beta", layer.beta)], output=f"{name}.z_hat")


def _activation_layer(graph: _Graph, z: str, layer: ActivationLayer, name: str) -> str:
    return _activation(graph, z, layer.activation)


def _dropout(graph: _Graph, x: str, layer: Dropout, name: str) -> str:
    return x  # inverted dropout scales in training, so inference is the identity


_LAYER_EXPORTERS: dict[type, Callable[[_Graph, str, Any, str], str]] = {
    Dense: _dense, BatchNorm: _batchnorm, ActivationLayer: _activation_layer, Dropout: _dropout,
}


# -- activations: a = f(z), the forms of deltaprop.activations ----------------------------------
def _activation(graph: _Graph, z: str, activation: Activation) -> str:
    return _ACTIVATION_EXPORTERS[activation.name](graph, z, activation)


def _sigmoid(graph: _Graph, z: str, activation: Activation) -> str:
    """(1 + tanh(z / 2)) / 2, written as Sigmoid.forward evaluates it: (tanh(z * 0.5) * 0.5) + 0.5."""
    half = graph.scalar(0.5)
    t = graph.op("Tanh", [graph.op("Mul", [z, half])])
    return graph.op("Add", [graph.op("Mul", [t, half]), half])


def _leaky_relu(graph: _Graph, z: str, activation: Any) -> str:
    """max(z, slope z): z for z > 0, slope z otherwise, since 0 <= slope <= 1."""
    return graph.op("Max", [z, graph.op("Mul", [z, graph.scalar(activation.slope)])])


def _elu(graph: _Graph, z: str, activation: Any) -> str:
    """z if z > 0 else alpha (e^min(z, 0) - 1); the min keeps e^z from overflowing.

    ONNX has no expm1: e^z - 1 loses relative accuracy for tiny |z|, but stays within one unit
    of the dtype's precision absolutely.
    """
    negative_part = graph.op("Sub", [graph.op("Exp", [graph.op("Min", [z, graph.scalar(0.0)])]),
                                     graph.scalar(1.0)])
    negative_part = graph.op("Mul", [negative_part, graph.scalar(activation.alpha)])
    return graph.op("Where", [graph.op("Greater", [z, graph.scalar(0.0)]), z, negative_part])


def _softplus(graph: _Graph, z: str, activation: Activation) -> str:
    """max(z, 0) + log(1 + e^-|z|): never overflows (ONNX's Softplus does, for z > 88 in float32)."""
    soft = graph.op("Exp", [graph.op("Neg", [graph.op("Abs", [z])])])
    soft = graph.op("Log", [graph.op("Add", [soft, graph.scalar(1.0)])])
    return graph.op("Add", [graph.op("Max", [z, graph.scalar(0.0)]), soft])


def _threshold(if_nonnegative: float, if_negative: float) -> Callable[[_Graph, str, Activation], str]:
    """sign and step: z >= 0 selects the first value (so sign(0) = +1, step(0) = 1, as ours)."""
    def threshold(graph: _Graph, z: str, activation: Activation) -> str:
        nonnegative = graph.op("GreaterOrEqual", [z, graph.scalar(0.0)])
        return graph.op("Where", [nonnegative, graph.scalar(if_nonnegative), graph.scalar(if_negative)])
    return threshold


def _elementwise(op_type: str) -> Callable[[_Graph, str, Activation], str]:
    return lambda graph, z, activation: graph.op(op_type, [z])


_ACTIVATION_EXPORTERS: dict[str, Callable[[_Graph, str, Any], str]] = {
    "identity": lambda graph, z, activation: z,
    "sigmoid": _sigmoid,
    "tanh": _elementwise("Tanh"),
    "relu": _elementwise("Relu"),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "softplus": _softplus,
    "sign": _threshold(1.0, -1.0),
    "step": _threshold(1.0, 0.0),
    "softmax": lambda graph, z, activation: graph.op("Softmax", [z], axis=1),
}
