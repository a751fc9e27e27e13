"""Each layer's own config (to_config / from_config through the layer registry): the only codec
of architectures, in model files and anywhere else."""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.layers import LAYER_TYPES, Layer, layer_from_config, register_layer


@pytest.mark.parametrize("layer", [
    dp.Dense(3, 4), dp.Dense(3, 4, "tanh", init="glorot_normal"),
    dp.Dense(3, 4, {"name": "leaky_relu", "slope": 0.2}), dp.Dense(2, 5, {"name": "elu", "alpha": 0.5}),
    dp.BatchNorm(6, eps=1e-3, momentum=0.2), dp.Dropout(0.3), dp.ActivationLayer("relu"),
    dp.ActivationLayer(),
])
def test_a_layer_rebuilds_from_its_config_through_json(layer):
    config = json.loads(json.dumps(layer.to_config()))
    rebuilt = layer_from_config(config)
    assert type(rebuilt) is type(layer) and rebuilt.to_config() == config
    assert repr(rebuilt) == repr(layer)


def test_an_activation_the_loss_chose_stays_the_losss_to_change():
    net = dp.MLP([2, 3, 2], seed=0)
    net.fit(np.zeros((4, 2)), [0, 1, 0, 1], loss="cross_entropy", epochs=1, threads=None)
    config = net.output_layer.to_config()
    assert config["activation"] == {"name": "softmax"} and config["activation_is_auto"]
    rebuilt = layer_from_config(config)
    assert rebuilt.activation.name == "softmax" and rebuilt.activation_is_auto


def test_what_a_config_cannot_hold_is_named():
    class Cube:
        def f(self, z):
            return z**3

        def df(self, z):
            return 3 * z**2

    with pytest.raises(ValueError, match="user-defined activation 'Cube'"):
        dp.Dense(2, 2, Cube()).to_config()
    with pytest.raises(ValueError, match="unknown layer type 'Conv2D' .known: Dense"):
        layer_from_config({"type": "Conv2D"})
    with pytest.raises(ValueError, match="BatchNorm config needs its width"):
        layer_from_config({"type": "BatchNorm", "n_features": None, "eps": 1e-5, "momentum": 0.1})


def test_a_registered_layer_type_saves_and_loads(tmp_path):
    class Scale(Layer):
        """Multiplies by a fixed factor (no parameters)."""

        def __init__(self, factor: float) -> None:
            super().__init__()
            self.factor = factor

        def forward(self, x, *, training):
            return x * self.factor

        def backward(self, g, *, need_input_grad=True, overwrite_g=False):
            return g * self.factor

        def to_config(self):
            return {"type": "Scale", "factor": self.factor}

        @classmethod
        def from_config(cls, config):
            return cls(config["factor"])

    class Bare(Layer):
        def forward(self, x, *, training):
            return x

    with pytest.raises(ValueError, match=r"layers\[1\] is a Bare, which has no config"):
        dp.save(dp.Network([dp.Dense(2, 3), Bare(), dp.Dense(3, 1)]), tmp_path / "bare.dp")
    net = dp.Network([dp.Dense(2, 3), Scale(2.0), dp.Dense(3, 1)], seed=0)
    dp.save(net, tmp_path / "scale.dp")
    with pytest.raises(dp.ModelFileError, match="unknown layer type 'Scale'"):
        dp.load(tmp_path / "scale.dp")  # written, but not readable until registered
    register_layer("Scale", Scale)
    try:
        loaded = dp.load(tmp_path / "scale.dp")
        X = np.ones((2, 2))
        np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
        with pytest.raises(ValueError, match="already registered"):
            register_layer("Scale", dp.Dropout)
    finally:
        del LAYER_TYPES["Scale"]
