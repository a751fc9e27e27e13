"""The safe model file: a trained network on disk without pickle.

A model file is a zip archive of

- ``metadata.json``: format name and version, deltaprop version, the architecture (each
  layer's type, widths and activation by name and parameters), dtype, loss, the random state,
  the training history, and any ``extra`` JSON the caller adds (the estimators store their
  parameters and fitted attributes there);
- ``theta.npy``: every parameter in one flat vector (the network's ``theta``);
- ``layers.<i>.running_mean.npy``, ``layers.<i>.running_var.npy``: BatchNorm statistics.

Loading reads JSON and ``.npy`` arrays with ``allow_pickle=False``: nothing in the file is
executed. Saving is atomic: the archive is written to a temporary file in the same folder,
flushed to disk, then renamed over the destination, so a crash never leaves a half-written
model where the previous one was. Round trips are bit-exact.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from deltaprop._version import __version__
from deltaprop.activations import Activation, CustomActivation, get_activation
from deltaprop.history import History
from deltaprop.layers import ActivationLayer, BatchNorm, Dense, Dropout, Layer
from deltaprop.losses import LOSSES, get_loss
from deltaprop.network import Network

FORMAT = "deltaprop-model"
FORMAT_VERSION = 1
METADATA = "metadata.json"


class ModelFileError(ValueError):
    """A file that is not a readable deltaprop model (truncated, corrupted, foreign, newer)."""


def save(net: Network, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None,
         extra_arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write ``net`` to ``path`` in the safe format, atomically.

    Parameters
    ----------
    net : Network
    path : str or path-like
        The file to write (conventionally ``*.dp``); an existing file is replaced only once the
        new one is complete on disk.
    extra : dict, optional
        JSON-serializable data stored with the model (read back by :func:`load_with_extra`).
    extra_arrays : dict of str to ndarray, optional
        Numeric arrays stored with the model (checkpoints keep the optimizer state here; read
        back by :func:`load_archive`).

    Raises
    ------
    ValueError
        If the network holds something the safe format cannot describe (a user-defined
        activation given as Python functions); pickle such a network instead.
    """
    metadata = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "deltaprop_version": __version__,
        "network": network_config(net), "extra": extra or {},
    }
    arrays = {"theta": net.theta}
    arrays.update({f"extra.{name}": array for name, array in (extra_arrays or {}).items()})
    for i, layer in enumerate(net.layers):
        if isinstance(layer, BatchNorm):
            assert layer.running_mean is not None and layer.running_var is not None
            arrays[f"layers.{i}.running_mean"] = layer.running_mean
            arrays[f"layers.{i}.running_var"] = layer.running_var
    text = json.dumps(metadata, indent=1)  # fails here, before any file is touched

    def write(stream: IO[bytes]) -> None:
        with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA, text)
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
                archive.writestr(f"{name}.npy", buffer.getvalue())

    atomic_write(path, write)


def load(path: str | os.PathLike[str]) -> Network:
    """Read a network written by :func:`save`; predictions equal the saved network's bit for bit.

    Raises
    ------
    ModelFileError
        (a ValueError) naming the problem: not a model file, truncated or corrupted, written by
        a newer deltaprop, or inconsistent contents.
    """
    return load_with_extra(path)[0]


def load_with_extra(path: str | os.PathLike[str]) -> tuple[Network, dict[str, Any]]:
    """Like :func:`load`, and also return the ``extra`` data saved with the model."""
    net, extra, _ = load_archive(path)
    return net, extra


def load_archive(path: str | os.PathLike[str]) -> tuple[Network, dict[str, Any], dict[str, np.ndarray]]:
    """The network, the ``extra`` data and the ``extra_arrays`` saved with it."""
    metadata, arrays = _read(path)
    net = network_from_config(metadata["network"], arrays, path)
    extra_arrays = {name[len("extra."):]: array for name, array in arrays.items()
                    if name.startswith("extra.")}
    return net, metadata.get("extra", {}), extra_arrays


# -- the architecture as JSON ------------------------------------------------------------------
def network_config(net: Network) -> dict[str, Any]:
    """The JSON description of ``net`` that :func:`network_from_config` rebuilds."""
    return {
        "class": type(net).__name__,
        "layer_sizes": getattr(net, "layer_sizes", None),
        "dtype": net.dtype.name,
        "layers": [_layer_config(layer, i) for i, layer in enumerate(net.layers)],
        "loss": None if net.loss is None else net.loss.name,
        "seed": net.seed if isinstance(net.seed, int) else None,
        "rng_state": net.rng.bit_generator.state,
        "restart_seeds": _seed_sequence_config(net.restart_seeds),
        "history": None if net.history is None else net.history.to_dict(),
        "n_parameters": net.n_parameters,
    }


def network_from_config(config: dict[str, Any], arrays: dict[str, np.ndarray], path: Any = "") -> Network:
    """Rebuild a network from :func:`network_config` and its arrays (``theta``, statistics)."""
    try:
        theta = arrays["theta"]
        expected = _parameter_count(config["layers"])
        if theta.ndim != 1 or theta.size != expected:  # before allocating anything
            raise ModelFileError(f"{path}: theta has shape {theta.shape}, but the architecture "
                                 f"has {expected} parameters")
        layers = [_layer_from_config(layer) for layer in config["layers"]]
        net = Network(layers, dtype=config["dtype"])
        if theta.dtype != net.theta.dtype:
            raise ModelFileError(f"{path}: theta is {theta.dtype}, the network {net.theta.dtype}")
        net.theta[...] = theta
        for i, layer in enumerate(net.layers):
            if isinstance(layer, BatchNorm):
                layer.running_mean = _statistic(arrays, f"layers.{i}.running_mean", layer, net, path)
                layer.running_var = _statistic(arrays, f"layers.{i}.running_var", layer, net, path)
        if config.get("class") == "MLP":
            from deltaprop.mlp import MLP

            net.__class__ = MLP  # same layers and state; MLP only adds layer_sizes
            net.layer_sizes = [int(size) for size in config["layer_sizes"]]  # type: ignore[attr-defined]
        if config.get("loss") in LOSSES:
            net.use_loss(get_loss(config["loss"]))
        seed = config.get("seed")
        net.seed = seed if isinstance(seed, int) else None
        net.set_rng(_generator(config["rng_state"]))
        net.restart_seeds = _seed_sequence(config["restart_seeds"])
        if config.get("history") is not None:
            net.history = History.from_dict(config["history"])
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
        raise ModelFileError(f"{path}: the model file's contents are inconsistent ({error!r})") from None
    return net


_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _generator(state: dict[str, Any]) -> np.random.Generator:
    """The generator whose state the file holds; only NumPy's bit generators, by name."""
    name = state["bit_generator"]
    if name not in _BIT_GENERATORS:
        raise ModelFileError(f"unknown random bit generator {name!r} in the model file")
    bit_generator = getattr(np.random, name)()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def _seed_sequence(config: dict[str, Any]) -> np.random.SeedSequence:
    """The restart seeds, checked first: SeedSequence takes time quadratic in ``pool_size``, so
    a file must not choose it (we always write NumPy's default, 4)."""
    entropy, spawn_key = config["entropy"], config["spawn_key"]
    children = config["n_children_spawned"]
    words = entropy if isinstance(entropy, list) and len(entropy) <= 64 else [entropy]
    plain = (all(isinstance(e, int) and 0 <= e < 2**256 for e in words) and config["pool_size"] == 4
             and isinstance(spawn_key, list) and len(spawn_key) <= 64
             and all(isinstance(k, int) and 0 <= k < 2**64 for k in spawn_key)
             and isinstance(children, int) and 0 <= children < 2**63)
    if not plain:
        raise ModelFileError("the restart seeds in the model file are malformed")
    return np.random.SeedSequence(entropy, spawn_key=spawn_key, pool_size=4,
                                  n_children_spawned=children)


def _parameter_count(layers: list[dict[str, Any]]) -> int:
    """How many parameters the layer configs describe (W and b; BatchNorm's gamma and beta)."""
    count = 0
    for layer in layers:
        if layer["type"] == "Dense":
            count += int(layer["n_out"]) * (int(layer["n_in"]) + 1)
        elif layer["type"] == "BatchNorm":
            count += 2 * int(layer["n_features"])
        elif layer["type"] not in ("Dropout", "Activation"):
            raise ModelFileError(f"unknown layer type {layer['type']!r} in the model file")
    return count


def _statistic(arrays: dict[str, np.ndarray], name: str, layer: BatchNorm, net: Network,
               path: Any) -> np.ndarray:
    """A BatchNorm running statistic, checked against the layer's width and the dtype."""
    array = arrays[name]
    if array.shape != (layer.n_out,) or array.dtype != net.dtype:
        raise ModelFileError(f"{path}: {name} has shape {array.shape} and dtype {array.dtype}, "
                             f"expected ({layer.n_out},) {net.dtype}")
    return array.copy()


def _layer_config(layer: Layer, index: int) -> dict[str, Any]:
    if isinstance(layer, Dense):
        return {"type": "Dense", "n_in": layer.n_in, "n_out": layer.n_out,
                "activation": _activation_config(layer.activation, index),
                "activation_is_auto": layer.activation_is_auto,
                "init": layer.init if isinstance(layer.init, str) else None}
    if isinstance(layer, BatchNorm):
        return {"type": "BatchNorm", "n_features": layer.n_out, "eps": layer.eps,
                "momentum": layer.momentum}
    if isinstance(layer, Dropout):
        return {"type": "Dropout", "p": layer.p}
    if isinstance(layer, ActivationLayer):
        return {"type": "Activation", "n_features": layer.n_out,
                "activation": _activation_config(layer.activation, index),
                "activation_is_auto": layer.activation_is_auto}
    raise ValueError(f"layers[{index}] is a {type(layer).__name__}, which the safe model format "
                     "does not describe; pickle this network instead")


def _activation_config(activation: Activation, index: int) -> dict[str, Any]:
    if isinstance(activation, CustomActivation) or type(activation).__module__ != "deltaprop.activations":
        raise ValueError(
            f"layers[{index}] uses the user-defined activation {activation.name!r}; the safe model "
            "format stores activations by name only (pickle this network instead)"
        )
    return activation.to_config()


def _layer_from_config(config: dict[str, Any]) -> Layer:
    kind = config["type"]
    auto = config.get("activation_is_auto")
    activation = None if auto or "activation" not in config else get_activation(config["activation"])
    if kind == "Dense":
        layer: Layer = Dense(config["n_in"], config["n_out"], activation, init=config.get("init"))
    elif kind == "BatchNorm":
        layer = BatchNorm(config["n_features"], eps=config["eps"], momentum=config["momentum"])
    elif kind == "Dropout":
        layer = Dropout(config["p"])
    elif kind == "Activation":
        layer = ActivationLayer(activation)
    else:
        raise ModelFileError(f"unknown layer type {kind!r} in the model file")
    if auto and isinstance(layer, (Dense, ActivationLayer)):
        layer.set_activation(get_activation(config["activation"]))  # still the loss's to choose
    return layer


def _seed_sequence_config(seeds: np.random.SeedSequence) -> dict[str, Any]:
    return {"entropy": seeds.entropy, "spawn_key": list(seeds.spawn_key),
            "pool_size": seeds.pool_size, "n_children_spawned": seeds.n_children_spawned}


# -- the archive ---------------------------------------------------------------------------------
def _read(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The metadata and the arrays of a model file, or a ModelFileError naming the problem."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {os.fspath(path)!r}")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError):
        raise ModelFileError(f"{path}: not a deltaprop model file, or a truncated one "
                             "(not a readable zip archive)") from None
    try:
        with archive:
            names = archive.namelist()
            if METADATA not in names:
                raise ModelFileError(f"{path}: not a deltaprop model file (no {METADATA})")
            metadata = json.loads(archive.read(METADATA).decode("utf-8"))
            _check_format(metadata, path)
            arrays = {}
            for name in names:
                if name.endswith(".npy"):
                    with archive.open(name) as member:
                        arrays[name[:-4]] = np.lib.format.read_array(
                            io.BytesIO(member.read()), allow_pickle=False)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, UnicodeDecodeError,
            ValueError) as error:  # CRC mismatches, bad JSON, pickled (object) arrays
        raise ModelFileError(f"{path}: the model file is corrupted ({error})") from None
    return metadata, arrays


def _check_format(metadata: Any, path: Any) -> None:
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a deltaprop model file (format is not {FORMAT!r})")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: the model file has no valid format_version")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by a newer deltaprop ({metadata.get('deltaprop_version')}, model "
            f"format {version}); this one ({__version__}) reads format {FORMAT_VERSION}: upgrade "
            "deltaprop to load it"
        )


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(stream)`` on a temporary file beside ``path`` (``.NAME.part``), sync it,
    rename it to ``path``.

    Readers see the old file or the complete new one, never a partial one; on an error the
    temporary file is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    # One temporary name per target: a write killed half-way leaves a file that the next
    # write to the same target replaces, not a new one each time.
    temporary = os.path.join(folder, f".{os.path.basename(path)}.part")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _file_mode(path))
    try:
        os.chmod(temporary, _file_mode(path))  # also when a killed write left it behind
        with os.fdopen(descriptor, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    _sync_folder(folder)


def _file_mode(path: str) -> int:
    """The mode a new file gets from the umask, or the replaced file's own."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
