"""Networks rebuilt from model files: the ``network`` section and its arrays as a
:class:`~deltaprop.Network` (or :class:`~deltaprop.MLP`), predicting bit for bit as saved.

The layers come back through each layer's own ``from_config`` (the layer registry); the
network around them through the class the file names. An MLP is rebuilt from its stored
layers, not from its widths (``MLP.__init__`` would draw new ones), and keeps ``layer_sizes``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from deltaprop.files.codec import generator, layers_from_config, parameter_count, seed_sequence, statistics
from deltaprop.files.container import Archive, ModelFileError, read_archive
from deltaprop.history import History
from deltaprop.layers import BatchNorm
from deltaprop.losses import LOSSES, get_loss
from deltaprop.mlp import MLP
from deltaprop.network import Network

NETWORK_CLASSES: dict[str, type[Network]] = {"Network": Network, "MLP": MLP}


def network_from_archive(archive: Archive) -> Network:
    """The network a model file of any kind holds.

    Raises
    ------
    ModelFileError
        Naming the problem when the description and the arrays do not make a network.
    """
    try:
        return _network(archive.sections["network"], archive.arrays, archive.path)
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, AssertionError) as error:
        raise ModelFileError(f"{archive.path}: the model file's contents are inconsistent "
                             f"({error!r})") from None


def read_network(path: str | os.PathLike[str]) -> Network:
    """The network of the model file at ``path``, whatever else the file holds."""
    return network_from_archive(read_archive(path))


def _network(config: dict[str, Any], arrays: dict[str, np.ndarray], path: str) -> Network:
    try:
        layers = layers_from_config(config["layers"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: the network's layers cannot be rebuilt: {error}") from None
    theta, expected = arrays["theta"], parameter_count(layers)
    if theta.ndim != 1 or theta.size != expected:  # before anything of that size is allocated
        raise ModelFileError(f"{path}: theta has shape {theta.shape}, but the architecture has "
                             f"{expected} parameters")
    cls = NETWORK_CLASSES.get(str(config.get("class")), Network)  # a user's subclass loads as a Network
    net = cls.__new__(cls)
    Network.__init__(net, layers, dtype=config["dtype"])
    if theta.dtype != net.theta.dtype:
        raise ModelFileError(f"{path}: theta is {theta.dtype}, the network {net.theta.dtype}")
    net.theta[...] = theta
    for i, layer in enumerate(net.layers):
        if isinstance(layer, BatchNorm):
            try:
                found = statistics(arrays, i, layer, net.dtype)
            except ValueError as error:
                raise ModelFileError(f"{path}: {error}") from None
            layer.running_mean, layer.running_var = found["running_mean"], found["running_var"]
    if isinstance(net, MLP):
        net.layer_sizes = [int(size) for size in config["layer_sizes"]]
    _restore_training_state(net, config)
    return net


def _restore_training_state(net: Network, config: dict[str, Any]) -> None:
    """The loss, seed, random generator, restart seeds and history: what training continues
    from, so that it continues exactly as the saved network would have."""
    if config.get("loss") in LOSSES:
        net.use_loss(get_loss(config["loss"]))
    seed = config.get("seed")
    net.seed = seed if isinstance(seed, int) else None
    net.set_rng(generator(config["rng_state"]))
    net.restart_seeds = seed_sequence(config["restart_seeds"])
    if config.get("history") is not None:
        net.history = History.from_dict(config["history"])
