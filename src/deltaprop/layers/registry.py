"""The layer registry: each layer type by the name its config carries.

A layer describes itself with :meth:`~deltaprop.layers.Layer.to_config` (JSON: its type name
and constructor arguments, never its parameter values) and is rebuilt by the ``from_config`` of
the class registered under that name. This is the only codec of layers: model files, and
anything else that stores an architecture, go through it.
"""

from __future__ import annotations

from typing import Any

from deltaprop.layers.activation import ActivationLayer
from deltaprop.layers.base import Layer
from deltaprop.layers.batchnorm import BatchNorm
from deltaprop.layers.dense import Dense
from deltaprop.layers.dropout import Dropout

LAYER_TYPES: dict[str, type[Layer]] = {
    "Dense": Dense, "BatchNorm": BatchNorm, "Dropout": Dropout, "Activation": ActivationLayer,
}


def register_layer(name: str, cls: type[Layer]) -> None:
    """Make configs of type ``name`` rebuild as ``cls`` (which implements ``to_config``, giving
    ``{"type": name, ...}``, and ``from_config``)."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register_layer takes a Layer subclass, got {cls!r}")
    if name in LAYER_TYPES and LAYER_TYPES[name] is not cls:
        raise ValueError(f"the layer type {name!r} is already registered for "
                         f"{LAYER_TYPES[name].__name__}")
    LAYER_TYPES[name] = cls


def layer_from_config(config: dict[str, Any]) -> Layer:
    """The layer that ``config`` (from :meth:`Layer.to_config`) describes.

    Raises
    ------
    ValueError
        For a type no layer is registered under, naming the known ones.
    """
    if not isinstance(config, dict):
        raise TypeError(f"a layer config is a dict, got {type(config).__name__}")
    name = config.get("type")
    if not isinstance(name, str) or name not in LAYER_TYPES:
        raise ValueError(f"unknown layer type {name!r} (known: {', '.join(LAYER_TYPES)})")
    return LAYER_TYPES[name].from_config(config)
