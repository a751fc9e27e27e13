"""The ONNX graph of a network, built node by node: :class:`Graph` (nodes, constants, the
model), and one function per layer kind and per activation writing its evaluation-mode forward
pass in the arithmetic of the NumPy code (see :mod:`deltaprop.files.onnx`, which checks the
arguments and writes the file).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from deltaprop._version import __version__
from deltaprop.activations import Activation, exp_limit
from deltaprop.layers import ActivationLayer, BatchNorm, Dense, Dropout
from deltaprop.network import Network

Array = np.ndarray


class Graph:
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
def _dense(graph: Graph, x: str, layer: Dense, name: str) -> str:
    """z = x W^T + b (W stored as (n_out, n_in), hence transB), then a = f(z)."""
    W, b = graph.const(f"{name}.W", layer.W), graph.const(f"{name}.b", layer.b)
    z = graph.op("Gemm", [x, W, b], output=f"{name}.z", transB=1)
    return _activation(graph, z, layer.activation)


def _batchnorm(graph: Graph, z: str, layer: BatchNorm, name: str) -> str:
    """z_hat = (z - running_mean) * inv_std * gamma + beta, as the layer's forward evaluates it."""
    assert layer.running_mean is not None and layer.running_var is not None
    inv_std = 1.0 / np.sqrt(layer.running_var + layer.eps)  # the layer's own expression and dtype
    centered = graph.op("Sub", [z, graph.const(f"{name}.running_mean", layer.running_mean)])
    z_tilde = graph.op("Mul", [centered, graph.const(f"{name}.inv_std", inv_std)])
    scaled = graph.op("Mul", [z_tilde, graph.const(f"{name}.gamma", layer.gamma)])
    return graph.op("Add", [scaled, graph.const(f"{name}.beta", layer.beta)], output=f"{name}.z_hat")


def _activation_layer(graph: Graph, z: str, layer: ActivationLayer, name: str) -> str:
    return _activation(graph, z, layer.activation)


def _dropout(graph: Graph, x: str, layer: Dropout, name: str) -> str:
    return x  # inverted dropout scales in training, so inference is the identity


LAYER_EXPORTERS: dict[type, Callable[[Graph, str, Any, str], str]] = {
    Dense: _dense, BatchNorm: _batchnorm, ActivationLayer: _activation_layer, Dropout: _dropout,
}


# -- activations: a = f(z), the forms of deltaprop.activations ----------------------------------
def _activation(graph: Graph, z: str, activation: Activation) -> str:
    return ACTIVATION_EXPORTERS[activation.name](graph, z, activation)


def _sigmoid(graph: Graph, z: str, activation: Activation) -> str:
    """(1 + tanh(z / 2)) / 2, written as Sigmoid.forward evaluates it: (tanh(z * 0.5) * 0.5) + 0.5."""
    half = graph.scalar(0.5)
    t = graph.op("Tanh", [graph.op("Mul", [z, half])])
    return graph.op("Add", [graph.op("Mul", [t, half]), half])


def _leaky_relu(graph: Graph, z: str, activation: Any) -> str:
    """max(z, slope z): z for z > 0, slope z otherwise, since 0 <= slope <= 1."""
    return graph.op("Max", [z, graph.op("Mul", [z, graph.scalar(activation.slope)])])


def _elu(graph: Graph, z: str, activation: Any) -> str:
    """z if z > 0 else alpha (e^min(z, 0) - 1); the min keeps e^z from overflowing.

    ONNX has no expm1: e^z - 1 loses relative accuracy for tiny |z|, but stays within one unit
    of the dtype's precision absolutely.
    """
    negative_part = graph.op("Sub", [graph.op("Exp", [graph.op("Min", [z, graph.scalar(0.0)])]),
                                     graph.scalar(1.0)])
    negative_part = graph.op("Mul", [negative_part, graph.scalar(activation.alpha)])
    return graph.op("Where", [graph.op("Greater", [z, graph.scalar(0.0)]), z, negative_part])


def _softplus(graph: Graph, z: str, activation: Activation) -> str:
    """max(z, 0) + log(1 + e^-|z|): never overflows (ONNX's Softplus does, for z > 88 in float32)."""
    soft = graph.op("Exp", [graph.op("Neg", [graph.op("Abs", [z])])])
    soft = graph.op("Log", [graph.op("Add", [soft, graph.scalar(1.0)])])
    return graph.op("Add", [graph.op("Max", [z, graph.scalar(0.0)]), soft])


def _exp(graph: Graph, z: str, activation: Activation) -> str:
    """e^min(z, limit), as Exp.forward: saturates at the dtype's e^709 (float32: e^88) where
    ONNX's Exp alone gives infinity."""
    return graph.op("Exp", [graph.op("Min", [z, graph.scalar(exp_limit(graph.dtype))])])


def _threshold(if_nonnegative: float, if_negative: float) -> Callable[[Graph, str, Activation], str]:
    """sign and step: z >= 0 selects the first value (so sign(0) = +1, step(0) = 1, as ours)."""
    def threshold(graph: Graph, z: str, activation: Activation) -> str:
        nonnegative = graph.op("GreaterOrEqual", [z, graph.scalar(0.0)])
        return graph.op("Where", [nonnegative, graph.scalar(if_nonnegative), graph.scalar(if_negative)])
    return threshold


def _elementwise(op_type: str) -> Callable[[Graph, str, Activation], str]:
    return lambda graph, z, activation: graph.op(op_type, [z])


ACTIVATION_EXPORTERS: dict[str, Callable[[Graph, str, Any], str]] = {
    "identity": lambda graph, z, activation: z,
    "sigmoid": _sigmoid,
    "tanh": _elementwise("Tanh"),
    "relu": _elementwise("Relu"),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "softplus": _softplus,
    "exp": _exp,
    "sign": _threshold(1.0, -1.0),
    "step": _threshold(1.0, 0.0),
    "softmax": lambda graph, z, activation: graph.op("Softmax", [z], axis=1),
}
