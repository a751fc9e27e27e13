"""The estimators in the safe model file (:mod:`deltaprop.files.container`): a payload of kind
``estimator``, the network plus the estimator's parameters and fitted attributes as JSON (no
pickle anywhere). ``classes_`` is stored by the label codec of
:mod:`deltaprop.data.preprocessing`, its dtype kept exactly.

Not stored: ``callbacks`` and a callable ``init`` or ``random_state`` object (they are code
or live objects; they load as None, and the metadata lists them under ``not_stored``), and the
optimizer state (``partial_fit`` after loading starts a fresh optimizer from the loaded
weights). Loading sets only the known fitted attributes.
"""

from __future__ import annotations

import numbers
import os
from typing import Any

import numpy as np

from deltaprop.data.labels import LabelEncoder
from deltaprop.files.container import Archive, read_archive, save_payload
from deltaprop.files.errors import ModelFileError
from deltaprop.files.networks import network_from_archive
from deltaprop.mlp import MLP

_FITTED = ("n_features_in_", "n_outputs_", "n_layers_", "out_activation_", "n_iter_", "t_",
           "loss_", "loss_curve_", "validation_loss_curve_", "best_loss_",
           "validation_scores_", "best_validation_score_")


def _anything(value: Any) -> bool:
    return True


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _numbers(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(v is not None and _number(v) for v in value))


_FITTED_TYPES = {
    **{name: (_count, "a count") for name in ("n_features_in_", "n_outputs_", "n_layers_", "n_iter_", "t_")},
    **{name: (_number, "a number") for name in ("loss_", "best_loss_", "best_validation_score_")},
    **{name: (_numbers, "a list of numbers") for name in ("loss_curve_", "validation_loss_curve_",
                                                          "validation_scores_")},
    "out_activation_": (lambda value: isinstance(value, str), "a name"),
}


def save_estimator(estimator: Any, path: str | os.PathLike[str]) -> None:
    """Write a fitted deltaprop.sklearn estimator to ``path`` (atomically): a model file of kind
    ``estimator``, its section ``{"class", "params", "fitted", "not_stored"}``."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    fitted = {name: _plain(getattr(estimator, name)) for name in _FITTED if hasattr(estimator, name)}
    if hasattr(estimator, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(name) for name in estimator.feature_names_in_]
    if hasattr(estimator, "classes_"):
        fitted["classes_"] = LabelEncoder(estimator.classes_).to_config()
        dtype = estimator._multilabel_dtype
        fitted["_multilabel_dtype"] = None if dtype is None else np.dtype(dtype).str
    params = _params(estimator)
    section = {"class": type(estimator).__name__, "params": params, "fitted": fitted,
               "not_stored": _not_stored(estimator, params)}
    save_payload(path, estimator.net_, "estimator", {"estimator": section})


def load_estimator(path: str | os.PathLike[str], cls: type) -> Any:
    """Read an estimator of class ``cls`` written by :func:`save_estimator`."""
    return estimator_from_archive(read_archive(path), cls)


def estimator_from_archive(archive: Archive, cls: type) -> Any:
    """The estimator of class ``cls`` that a read model file holds."""
    archive.expect(("estimator",), "a deltaprop.sklearn estimator", "; load it with deltaprop.load")
    section = archive.sections["estimator"]
    if section.get("class") != cls.__name__:
        raise ModelFileError(f"{archive.path}: holds a {section.get('class')}, not a {cls.__name__}")
    net = network_from_archive(archive)
    if not isinstance(net, MLP):
        raise ModelFileError(f"{archive.path}: the estimator's network is a {type(net).__name__}, not an MLP")
    try:
        for name in ("params", "fitted"):
            if not isinstance(section.get(name), dict):
                raise ValueError(f"its {name} are {type(section.get(name)).__name__}, not a JSON object")
        estimator = cls(**_params_from_json(dict(section["params"])))
        _set_fitted(estimator, _checked_fitted(dict(section["fitted"]), net))
        if hasattr(estimator, "classes_"):
            _check_classes(estimator, net)
        elif cls.__name__ == "MLPClassifier":
            raise ValueError("a classifier without its classes_")
    except KeyError as error:
        raise ModelFileError(f"{archive.path}: the estimator's metadata is inconsistent (it lacks "
                             f"{error})") from None
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{archive.path}: the estimator's metadata is inconsistent "
                             f"({error})") from None
    estimator.net_ = net
    estimator.history_ = net.history
    estimator._optimizer = None
    return estimator


def _params_from_json(params: dict[str, Any]) -> dict[str, Any]:
    """The constructor's parameters back from :func:`_params`."""
    if isinstance(params.get("class_weight"), dict) and "labels" in params["class_weight"]:
        stored = params["class_weight"]
        labels = LabelEncoder.from_config(stored["labels"]).classes.tolist()
        params["class_weight"] = dict(zip(labels, stored["weights"]))
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    if params.get("dtype") is not None:
        if params["dtype"] not in ("float32", "float64"):
            raise ValueError(f"the parameter dtype is {params['dtype']!r}, not float32 or float64")
        params["dtype"] = np.dtype(params["dtype"]).type  # np.float32, as it was given
    return params


def _checked_fitted(fitted: dict[str, Any], net: MLP) -> dict[str, Any]:
    """The fitted attributes, each of its type, and those the network fixes equal to it."""
    for name, value in fitted.items():
        check, what = _FITTED_TYPES.get(name, (_anything, ""))
        if not check(value):
            raise ValueError(f"{name} must be {what}, got {value!r:.60}")
    fixed = {"n_features_in_": net.n_inputs, "n_outputs_": net.n_outputs,
             "n_layers_": len(net.dense_layers) + 1}
    for name, value in fixed.items():
        if name in fitted and fitted[name] != value:
            raise ValueError(f"{name} is {fitted[name]}, but the network has {value}")
    names = fitted.get("feature_names_in_")
    if names is not None and not (isinstance(names, list) and len(names) == net.n_inputs
                                  and all(isinstance(name, str) for name in names)):
        raise ValueError(f"feature_names_in_ must be {net.n_inputs} names, one per input")
    return fitted


def _check_classes(estimator: Any, net: MLP) -> None:
    """As many classes as the network has outputs for (two classes: one sigmoid output)."""
    n = len(estimator.classes_)
    multilabel = estimator._multilabel_dtype is not None
    if multilabel and estimator._multilabel_dtype.kind not in "biuf":
        raise ValueError(f"the multilabel dtype is {estimator._multilabel_dtype}, not a number type")
    outputs = n if multilabel or n > 2 else 1
    if (n < 2 and not multilabel) or outputs != net.n_outputs:
        raise ValueError(f"{n} classes for a network of {net.n_outputs} outputs")


def _set_fitted(estimator: Any, fitted: dict[str, Any]) -> None:
    """Set the known fitted attributes, and only those (a file cannot set ``predict``)."""
    if "classes_" in fitted:
        fitted["classes_"] = LabelEncoder.from_config(fitted["classes_"]).classes
        dtype = fitted.pop("_multilabel_dtype")
        estimator._multilabel_dtype = None if dtype is None else np.dtype(str(dtype))
    if "feature_names_in_" in fitted:
        fitted["feature_names_in_"] = np.asarray(fitted["feature_names_in_"], dtype=object)
    for key, value in fitted.items():
        if key not in _FITTED + ("classes_", "feature_names_in_"):
            raise ValueError(f"unknown fitted attribute {key!r}")
        setattr(estimator, key, value)


def _params(estimator: Any) -> dict[str, Any]:
    """get_params() with what JSON cannot hold (callbacks, callables, generators) as None."""
    params = {}
    for key, value in estimator.get_params(deep=False).items():
        if key == "dtype" and value is not None:
            value = np.dtype(value).name
        elif key == "hidden_layer_sizes":
            value = list(value) if hasattr(value, "__iter__") else value
        elif key == "class_weight" and isinstance(value, dict) and value:  # labels of any type as keys
            value = {"labels": LabelEncoder(list(value)).to_config(),
                     "weights": [float(weight) for weight in value.values()]}
        params[key] = _plain(value) if _is_json(value) else None
    return params


def _not_stored(estimator: Any, params: dict[str, Any]) -> list[str]:
    """The parameters set to something the file cannot hold (saved as None)."""
    given = estimator.get_params(deep=False)
    return sorted(key for key, value in params.items() if value is None and given[key] is not None)


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, numbers.Number)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays as Python numbers and lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
