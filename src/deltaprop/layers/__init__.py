"""Layers: each owns its parameters (views into the network's flat buffers) and its caches."""

from deltaprop.layers.activation import ActivationLayer
from deltaprop.layers.base import Layer, ParameterSpec
from deltaprop.layers.batchnorm import BatchNorm
from deltaprop.layers.dense import Dense
from deltaprop.layers.dropout import Dropout
from deltaprop.layers.registry import LAYER_TYPES, layer_from_config, register_layer

Activation = ActivationLayer

__all__ = ["Activation", "ActivationLayer", "BatchNorm", "Dense", "Dropout", "Layer", "ParameterSpec",
           "LAYER_TYPES", "layer_from_config", "register_layer"]
