"""A network as JSON and arrays, and back as layers: the codec of the ``network`` section.

Writing reads attributes only, so this module imports no network class (the checkpoint
callback, which the training loop imports, writes through it; the network imports the loop).
Rebuilding a :class:`~deltaprop.Network` from what is read here is
:mod:`deltaprop.files.networks`' job.

The ``network`` section of a model file::

    {"class": "MLP" | "Network", "layer_sizes": [...] (MLP), "dtype": "float32",
     "layers": [each layer's to_config()], "loss": name or null, "seed": int or null,
     "rng_state": the training generator's state, "restart_seeds": {...},
     "history": History.to_dict() without its per-epoch series, and "series": [their names]
                or null, "n_parameters": P}

and its arrays: ``theta`` (every parameter, shape (P,)), each BatchNorm layer's
``layers.<i>.running_mean`` and ``layers.<i>.running_var`` (shape (n_features,)), and the
history's series ``network.history.<name>`` (shape (n_epochs,); ``grad_norms``
(n_epochs, n_dense_layers)). Files written before the series became arrays hold them in the
JSON, and are read as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.layers import BatchNorm, Layer, layer_from_config
from deltaprop.losses import LOSSES

# Each layer costs about 1.5 kB of Python objects however small its config (~20 bytes): a
# file's claim of 300,000 layers would build 450 MiB of them. Deep plain networks in deltaprop's
# lessons have tens of layers; 10,000 (some 15 MiB) leaves room for any experiment.
MAX_LAYERS = 10_000
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_STATISTICS = ("running_mean", "running_var")
# NumPy counts a SeedSequence's children in a uint32 (2**32 is an OverflowError, and spawning
# past 2**32 - 1 never returns); half of that leaves room for the restarts still to come.
MAX_CHILDREN_SPAWNED = 2**31
_FLAGS = ("activation_is_auto",)  # layer config fields that are True or False
_COUNTS = ("n_in", "n_out", "n_features")  # layer config fields that are widths


def network_config(net: Any) -> dict[str, Any]:
    """The JSON description of ``net`` (a Network), from its attributes.

    Raises
    ------
    ValueError
        If a layer cannot be described (a user-defined activation, an unregistered layer
        type); the message names the layer.
    """
    layers = []
    for i, layer in enumerate(net.layers):
        try:
            layers.append(layer.to_config())
        except NotImplementedError:
            raise ValueError(f"layers[{i}] is a {type(layer).__name__}, which has no config; give it "
                             "to_config and from_config and register it with deltaprop.layers."
                             "register_layer, or pickle this network instead") from None
        except ValueError as error:
            raise ValueError(f"layers[{i}]: {error}") from None
    seed = net.seed if isinstance(net.seed, (int, np.integer)) else None
    return {
        "class": type(net).__name__, "layer_sizes": getattr(net, "layer_sizes", None),
        "dtype": net.dtype.name, "layers": layers, "loss": _loss_name(net.loss),
        "seed": None if seed is None else int(seed), "rng_state": net.rng.bit_generator.state,
        "restart_seeds": _seed_sequence_config(net.restart_seeds),
        "history": None if net.history is None else history_config(net.history),
        "n_parameters": net.n_parameters,
    }


def _loss_name(loss: Any) -> str | None:
    """The loss by its registered name; None for none, and for a user-defined loss (the file
    cannot hold its code: it is given again to continue training)."""
    name = getattr(loss, "name", None)
    return name if isinstance(name, str) and type(loss) is LOSSES.get(name) else None


def network_arrays(net: Any) -> dict[str, np.ndarray]:
    """``theta`` and the BatchNorm running statistics of ``net``, by their names in the file.

    Raises
    ------
    ValueError
        When one holds NaN or infinity (or a running variance is negative): deltaprop refuses
        to read such a file, so it never writes one.
    """
    arrays = network_weights(net)
    if net.history is not None:  # NaN is a diverged epoch's loss: recorded, not refused
        arrays.update(history_arrays(net.history))
    return arrays


def network_weights(net: Any) -> dict[str, np.ndarray]:
    """``theta`` and the BatchNorm running statistics, checked (:func:`check_values`): what
    predicts, as a model file or an export holds it."""
    arrays = {"theta": net.theta}
    for i, layer in enumerate(net.layers):
        if isinstance(layer, BatchNorm):
            arrays.update({f"layers.{i}.{name}": value for name, value in layer.state().items()})
    check_values(arrays)
    return arrays


# The per-epoch records of a history grow with every epoch: they are stored as arrays
# (``network.history.<name>``), so that a run of a million epochs is a few MB of numbers, not
# JSON the reader must bound; the JSON keeps the rest and names the series in "series".
HISTORY_SERIES = {"epoch": np.int64, "loss": np.float64, "val_loss": np.float64,
                  "val_metric": np.float64, "lr": np.float64, "grad_norm": np.float64,
                  "time": np.float64, "grad_norms": np.float64, "blas_threads": np.int64}


def history_config(history: Any) -> dict[str, Any]:
    """A History's JSON without its per-epoch series (see :func:`history_arrays`)."""
    return {**history.to_dict(series=False), "series": sorted(HISTORY_SERIES)}


def history_arrays(history: Any) -> dict[str, np.ndarray]:
    """A History's per-epoch series as arrays: one value per epoch (``grad_norms``: a row per
    epoch, a column per dense layer), read from its lists once."""
    arrays = {f"network.history.{name}": np.asarray(getattr(history, name), dtype=dtype)
              for name, dtype in HISTORY_SERIES.items() if name != "grad_norms"}
    norms = history.grad_norm_matrix() if history.grad_norms else np.zeros((0, 0))
    arrays["network.history.grad_norms"] = norms.astype(np.float64, copy=False)
    return arrays


def history_data(config: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """What History.from_dict reads, from a file's history JSON and arrays (or from the JSON
    alone, as files written before the series became arrays hold it)."""
    if not isinstance(config, dict):
        raise ValueError(f"a history is a JSON object, got {type(config).__name__}")
    series = config.get("series")
    if series is None:
        return config
    if series != sorted(HISTORY_SERIES):
        raise ValueError(f"history.series is {series!r:.80}, not {sorted(HISTORY_SERIES)}")
    twice = [name for name in series if name in config]
    if twice:
        raise ValueError(f"history.{twice[0]} is in the JSON and in an array; a file holds it once")
    data = {k: v for k, v in config.items() if k != "series"}
    for name in series:
        key = f"network.history.{name}"
        if key not in arrays:
            raise ValueError(f"the history's {name} has no array {key}")
        data[name] = arrays[key].tolist()
    return data


def check_values(arrays: dict[str, np.ndarray]) -> None:
    """Raise a ValueError naming the first of a network's ``arrays`` (``theta``, BatchNorm
    statistics) that holds NaN or infinity or negative variances: what neither a model file
    nor an export holds."""
    for name, array in arrays.items():
        problem = value_problem(name, array)
        if problem:
            raise ValueError(f"the network's {problem}; a model file holds finite weights only "
                             "(after a divergence, train again with a smaller learning rate)")


def value_problem(name: str, array: np.ndarray) -> str:
    """What is wrong with the values of the network array ``name`` (theta or a BatchNorm
    statistic), or "": NaN or infinity predicts NaN, and a negative running variance takes
    the square root of a negative number."""
    if not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        return f"{name} holds {bad} NaN or infinite value{'s' if bad > 1 else ''}"
    if name.endswith("running_var") and (array < 0).any():
        return f"{name} holds negative variances"
    return ""


def layers_from_config(configs: list[dict[str, Any]]) -> list[Layer]:
    """The layers the configs describe, through the layer registry (no parameters drawn).

    Raises
    ------
    ValueError
        For no layers, more than ``MAX_LAYERS``, or a config that does not make its layer
        (naming the layer and the problem).
    """
    if not isinstance(configs, list) or not configs:
        raise ValueError("the network has no layers")
    if len(configs) > MAX_LAYERS:
        raise ValueError(f"the network has {len(configs)} layers; deltaprop reads at most {MAX_LAYERS}")
    layers = []
    for i, config in enumerate(configs):
        try:
            _check_fields(config)
            layers.append(layer_from_config(config))
        except KeyError as error:
            raise ValueError(f"layers[{i}] lacks the field {error}") from None
        except (TypeError, ValueError, OverflowError) as error:
            raise ValueError(f"layers[{i}]: {error}") from None
    return layers


def _check_fields(config: Any) -> None:
    """Flags that are True or False, widths that are not (Python's True is the int 1: a width
    of True would make a layer of one unit)."""
    if not isinstance(config, dict):
        return  # the registry names it
    for name in _FLAGS:
        if name in config and not isinstance(config[name], bool):
            raise ValueError(f"{name} must be true or false, got {config[name]!r:.40}")
    for name in _COUNTS:
        if isinstance(config.get(name), bool):
            raise ValueError(f"{name} must be a whole number, got {config[name]!r}")


def parameter_count(layers: list[Layer]) -> int:
    """How many parameters the layers hold: checked against ``theta`` before anything of that
    size is allocated."""
    return sum(int(np.prod(spec.shape)) for layer in layers for spec in layer.parameter_specs())


def statistics(arrays: dict[str, np.ndarray], i: int, layer: BatchNorm,
               dtype: np.dtype) -> dict[str, np.ndarray]:
    """The running statistics of BatchNorm layer ``i``, checked against its width and dtype."""
    found = {}
    for name in _STATISTICS:
        key = f"layers.{i}.{name}"
        array = arrays[key]
        if array.shape != (layer.n_out,) or array.dtype != dtype:
            raise ValueError(f"{key} has shape {array.shape} and dtype {array.dtype}, expected "
                             f"({layer.n_out},) {dtype}")
        problem = value_problem(key, array)
        if problem:
            raise ValueError(problem)
        found[name] = array.copy()
    return found


def generator(state: dict[str, Any]) -> np.random.Generator:
    """The generator whose state the file holds; only NumPy's bit generators, by name.

    Raises
    ------
    ValueError
        Naming the problem: not a state, an unknown bit generator, or a state that generator
        does not take.
    """
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if not isinstance(name, str) or name not in _BIT_GENERATORS:
        raise ValueError(f"unknown random bit generator {name!r} in the model file (rng_state "
                         f"must be the state of one of {', '.join(_BIT_GENERATORS)})")
    bit_generator = getattr(np.random, name)()
    try:
        bit_generator.state = state
    except (KeyError, TypeError, ValueError, OverflowError, IndexError) as error:
        problem = f"it lacks {error}" if isinstance(error, KeyError) else str(error)
        raise ValueError(f"the random generator state (rng_state) is malformed: {problem}") from None
    return np.random.Generator(bit_generator)


def seed_sequence(config: dict[str, Any]) -> np.random.SeedSequence:
    """The restart seeds, checked first: SeedSequence takes time quadratic in ``pool_size``, so
    a file must not choose it (we always write NumPy's default, 4)."""
    if not (isinstance(config, dict) and {"entropy", "spawn_key", "pool_size",
                                          "n_children_spawned"} <= config.keys()):
        raise ValueError("the restart seeds in the model file are malformed (restart_seeds needs "
                         "entropy, spawn_key, pool_size and n_children_spawned)")
    entropy, spawn_key = config["entropy"], config["spawn_key"]
    children = config["n_children_spawned"]
    words = entropy if isinstance(entropy, list) and len(entropy) <= 64 else [entropy]
    plain = (all(isinstance(e, int) and 0 <= e < 2**256 for e in words) and config["pool_size"] == 4
             and isinstance(spawn_key, list) and len(spawn_key) <= 64
             and all(isinstance(k, int) and 0 <= k < 2**64 for k in spawn_key)
             and isinstance(children, int) and not isinstance(children, bool))
    if not plain:
        raise ValueError("the restart seeds in the model file are malformed")
    if not 0 <= children <= MAX_CHILDREN_SPAWNED:
        raise ValueError(f"restart_seeds.n_children_spawned is {children}; it counts the restarts "
                         f"run, from 0 to at most {MAX_CHILDREN_SPAWNED} (NumPy's SeedSequence "
                         "holds it in 32 bits)")
    return np.random.SeedSequence(entropy, spawn_key=spawn_key, pool_size=4,
                                  n_children_spawned=children)


def _seed_sequence_config(seeds: np.random.SeedSequence) -> dict[str, Any]:
    return {"entropy": seeds.entropy, "spawn_key": list(seeds.spawn_key),
            "pool_size": seeds.pool_size, "n_children_spawned": seeds.n_children_spawned}
