"""ONNX export: a trained network as an ONNX graph computing exactly ``net.predict(X)``.

The graph takes ``X`` of shape (batch, n_inputs) with a symbolic batch dimension, in the
network's dtype (float32 or float64), and optionally standardizes it first. Each layer kind has
one function (in :mod:`deltaprop.files.onnxgraph`) that writes its evaluation-mode forward pass
as ONNX nodes, following the same arithmetic as the NumPy code, operation for operation, so
results agree to rounding:

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
float32 for z > 88; ``Sign`` gives 0 at 0 where ours gives +1; ``exp`` is ``Exp(Min(z, limit))``,
saturating where ours does).

``onnx`` is an optional dependency: ``pip install 'deltaprop[onnx]'``.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any

import numpy as np

from deltaprop.activations import ACTIVATIONS, Activation
from deltaprop.files.atomic import atomic_write
from deltaprop.files.codec import network_weights
from deltaprop.files.model import Model
from deltaprop.files.onnxgraph import ACTIVATION_EXPORTERS, LAYER_EXPORTERS, Graph
from deltaprop.layers import Layer
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
    network_weights(net)  # finite weights and statistics, or a ValueError naming them
    _check_opset(opset, onnx.defs.onnx_opset_version())
    _check_translatable(net.layers)
    mean = _scaling_vector(input_mean, "input_mean", net.n_inputs, "input")
    scale = _scaling_vector(input_scale, "input_scale", net.n_inputs, "input")
    if scale is not None and not np.all(scale != 0):
        raise ValueError("input_scale has zeros; standardization would divide by them")
    output_name = _output_name(net, input_name, output_name)

    out_scale, out_mean = (_scaling_vector(v, name, net.n_outputs, "output") for v, name in
                           ((output_scale, "output_scale"), (output_mean, "output_mean")))
    graph = Graph(onnx, net.dtype, reserved=(input_name, output_name))
    graph.output(_forward(graph, net, input_name, (mean, scale), (out_mean, out_scale)), output_name)
    model = graph.model(net, input_name, output_name, opset, standardized=(mean, scale))
    _add_metadata(onnx, model, metadata)
    onnx.checker.check_model(model)
    payload = model.SerializeToString()

    def write(stream: IO[bytes]) -> None:
        stream.write(payload)

    atomic_write(path, write)


def _forward(graph: Graph, net: Network, a: str, inputs: tuple[Array | None, Array | None],
             outputs: tuple[Array | None, Array | None]) -> str:
    """The nodes from the input ``a`` to the output: standardization, each layer's evaluation
    forward pass, the outputs back in the targets' units; the last node's name."""
    (mean, scale), (out_mean, out_scale) = inputs, outputs
    if mean is not None:
        a = graph.op("Sub", [a, graph.const("input_mean", mean)])
    if scale is not None:
        a = graph.op("Div", [a, graph.const("input_scale", scale)])
    for i, layer in enumerate(net.layers):
        a = LAYER_EXPORTERS[type(layer)](graph, a, layer, f"layers.{i}")
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
        if type(layer) not in LAYER_EXPORTERS:
            known = ", ".join(cls.__name__ for cls in LAYER_EXPORTERS)
            raise ValueError(f"layers[{i}] ({layer!r}) is a {type(layer).__name__}, which ONNX "
                             f"export does not know; it exports {known}")
        activation = getattr(layer, "activation", None)
        if activation is not None and not (
                _is_builtin(activation) and activation.name in ACTIVATION_EXPORTERS):
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
