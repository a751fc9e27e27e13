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

from deltaprop.files.codec import (
    generator,
    history_data,
    layers_from_config,
    parameter_count,
    seed_sequence,
    statistics,
    value_problem,
)
from deltaprop.files.container import Archive, read_archive
from deltaprop.files.errors import ModelFileError
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
    except KeyError as error:
        raise ModelFileError(f"{archive.path}: the model file's contents are inconsistent (the "
                             f"network section or its arrays lack {error})") from None
    except (TypeError, ValueError, AttributeError, OverflowError, AssertionError) as error:
        raise ModelFileError(f"{archive.path}: the model file's contents are inconsistent "
                             f"({error})") from None


def read_network(path: str | os.PathLike[str]) -> Network:
    """The network of the model file at ``path``, whatever else the file holds."""
    return network_from_archive(read_archive(path))


def _network(config: dict[str, Any], arrays: dict[str, np.ndarray], path: str) -> Network:
    try:
        layers = layers_from_config(config["layers"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: the network's layers cannot be rebuilt: {error}") from None
    theta = _theta(config, arrays["theta"], parameter_count(layers), path)
    if config["dtype"] not in ("float32", "float64"):
        raise ModelFileError(f"{path}: the network's dtype is {config['dtype']!r}, not float32 or float64")
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
        net.layer_sizes = _layer_sizes(net, config["layer_sizes"], path)
    _restore_training_state(net, config, arrays)
    return net


def _theta(config: dict[str, Any], theta: np.ndarray, expected: int, path: str) -> np.ndarray:
    """``theta``, checked: as many parameters as the layers have (before anything of that
    size is allocated) and the file says, every one finite (a network predicting NaN is no
    model)."""
    if theta.ndim != 1 or theta.size != expected:
        raise ModelFileError(f"{path}: theta has shape {theta.shape}, but the architecture has "
                             f"{expected} parameters")
    stated = config.get("n_parameters", expected)
    if stated != expected or isinstance(stated, bool):
        raise ModelFileError(f"{path}: n_parameters is {stated!r:.40}, but theta holds the "
                             f"architecture's {expected}")
    problem = value_problem("theta", theta)
    if problem:
        raise ModelFileError(f"{path}: {problem}")
    return theta


def _layer_sizes(net: Network, stored: Any, path: str) -> list[int]:
    """An MLP's widths, as its Dense layers have them."""
    widths = [net.dense_layers[0].n_in] + [layer.n_out for layer in net.dense_layers]
    if stored != widths:
        raise ModelFileError(f"{path}: the MLP's layer_sizes {stored!r} are not its layers' "
                             f"widths {widths}")
    return widths


def _restore_training_state(net: Network, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """The loss, seed, random generator, restart seeds and history: what training continues
    from, so that it continues exactly as the saved network would have."""
    loss = config.get("loss")
    if not (loss is None or isinstance(loss, str)):
        raise ValueError(f"the network's loss is {type(loss).__name__}, not a name")
    if loss is not None and loss not in LOSSES:  # a user-defined loss is written as null
        raise ValueError(f"the network's loss {loss!r:.40} is none of deltaprop's "
                         f"({', '.join(LOSSES)}) and not null")
    if loss is not None:
        net.use_loss(get_loss(loss))
    seed = config.get("seed")
    if not (seed is None or (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0)):
        raise ValueError(f"the network's seed is {seed!r:.40}, not a non-negative integer or null")
    net.seed = seed
    net.set_rng(generator(config["rng_state"]))
    net.restart_seeds = seed_sequence(config["restart_seeds"])
    if config.get("history") is not None:
        net.history = History.from_dict(history_data(config["history"], arrays))
