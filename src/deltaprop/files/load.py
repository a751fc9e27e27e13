"""``deltaprop.save`` and ``deltaprop.load``: what was saved comes back as it was saved.

==============  =======================================================================
file kind       ``deltaprop.load`` returns
==============  =======================================================================
``network``     the :class:`~deltaprop.Network` (an :class:`~deltaprop.MLP` stays one)
``model``       the :class:`~deltaprop.Model`: network and preprocessing
``estimator``   the :class:`~deltaprop.sklearn.MLPClassifier` or ``MLPRegressor``
``checkpoint``  what it checkpoints: the network, or the model of ``deltaprop train``
==============  =======================================================================

:func:`as_model` turns any of them into a :class:`~deltaprop.Model`: the command line reads
every file that holds a network through it, so ``deltaprop.load(path).predict(rows)`` and
``deltaprop predict`` agree for every kind of file.
"""

from __future__ import annotations

import os
from typing import Any

from deltaprop.files.container import Archive, read_archive, save_payload
from deltaprop.files.errors import ModelFileError
from deltaprop.files.model import Model
from deltaprop.files.networks import network_from_archive
from deltaprop.network import Network


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write a network, a model or a deltaprop.sklearn estimator to ``path`` in the safe model
    format (atomically; no pickle); :func:`load` gives back the same kind of object.

    Parameters
    ----------
    obj : Network, Model or MLPClassifier/MLPRegressor
    path : str or path-like
        The file to write (conventionally ``*.dp``); an existing file is replaced only once the
        new one is complete on disk.

    Raises
    ------
    ValueError
        If the network holds something the format cannot describe (a user-defined activation
        given as Python functions); pickle such a network instead.
    TypeError
        For any other object.
    """
    if isinstance(obj, Network):
        save_payload(path, obj, "network")
    elif isinstance(obj, Model) or type(obj).__module__.startswith("deltaprop.sklearn"):
        obj.save(path)
    else:
        raise TypeError(f"deltaprop.save writes a Network, a Model or a deltaprop.sklearn "
                        f"estimator, got {type(obj).__name__}")


def load(path: str | os.PathLike[str]) -> Any:
    """Read a model file: a network, a model, an estimator, or a checkpoint's network (or model)
    (see the module docstring). Predictions equal the saved object's bit for bit.

    Raises
    ------
    FileNotFoundError, ModelFileError
        As :func:`~deltaprop.files.container.read_archive`: no file, or a file that is not a
        readable model (the message names why); also a ModelFileError for contents that do not
        make the object they describe.
    ImportError
        For an estimator file when scikit-learn is not installed.
    """
    return load_from(read_archive(path))


def load_from(archive: Archive) -> Any:
    """The object a read model file holds (see :func:`load`)."""
    if archive.kind == "model" or (archive.kind == "checkpoint" and "preprocessing" in archive.metadata):
        return Model.from_archive(archive)
    if archive.kind == "estimator":
        return _estimator(archive)
    return network_from_archive(archive)


def as_model(obj: Any) -> Model:
    """A loaded object as a :class:`Model`: a network without preprocessing (inputs by position,
    classes as output indices), an estimator with its labels, a model as it is."""
    if isinstance(obj, Model):
        return obj
    if isinstance(obj, Network):
        return Model.from_network(obj)
    if hasattr(obj, "net_"):
        return Model.from_estimator(obj)
    raise TypeError(f"{type(obj).__name__} holds no deltaprop network")


def _estimator(archive: Archive) -> Any:
    try:  # scikit-learn is an optional dependency: needed only for estimator files
        from deltaprop.sklearn import ESTIMATORS
        from deltaprop.sklearn.files import estimator_from_archive
    except ImportError as error:
        raise ImportError(f"{archive.path} holds a scikit-learn estimator; reading it needs "
                          f"scikit-learn: pip install 'deltaprop[sklearn]' ({error})") from None
    name = archive.sections["estimator"].get("class")
    if not isinstance(name, str) or name not in ESTIMATORS:
        raise ModelFileError(f"{archive.path}: holds an estimator of class {name!r}, which this "
                             f"deltaprop does not have ({', '.join(ESTIMATORS)})")
    return estimator_from_archive(archive, ESTIMATORS[name])
