"""The model: a trained network with its preprocessing, taking data as users have it.

``deltaprop train`` saves one; ``deltaprop.load`` gives it back; the command line reads every
file that holds a network as one (a bare network with no preprocessing, an estimator with its
labels). So a model predicts the same from Python and from the command line.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from deltaprop.data.labels import LabelEncoder
from deltaprop.data.preprocessing import Preprocessing
from deltaprop.data.tables import as_table
from deltaprop.files.container import Archive, save_payload
from deltaprop.files.errors import ModelFileError
from deltaprop.files.networks import network_from_archive
from deltaprop.metrics import accuracy, class_indices, log_loss, log_sigmoid, mse, r2
from deltaprop.network import Network

Array = np.ndarray


class Model:
    """A network with the preprocessing around it: raw rows in, labels or values out.

    Parameters
    ----------
    net : Network
        Takes the preprocessed features, shape (n_samples, n_inputs); outputs class
        probabilities (classify) or the targets, standardized when ``preprocessing.targets``
        is set (regress).
    preprocessing : Preprocessing
        Feature names and one-hot categories, the standardization of features and targets, the
        class labels (see :mod:`deltaprop.data.preprocessing`).
    summary : dict, optional
        Facts about the training (data, epochs, held-out score...), JSON; ``deltaprop info``
        prints them.

    Notes
    -----
    *Rows* are the data as they come: a :class:`~deltaprop.data.tables.Table`, a dict of
    columns or a pandas DataFrame (columns matched by name; others are ignored), or a 2-D
    array-like of shape (n_samples, n_columns) with the columns of :attr:`columns` in that
    order (text columns as text: ``[[5.1, 3.5, 1.4, 0.2, "north"]]``). A model without feature
    names (from a bare network or an estimator fitted on an array) takes the network's inputs
    by position, as numbers. Problems (a missing column, a category never seen in training,
    text where numbers belong) raise a ValueError that names them.

    Examples
    --------
    >>> model = deltaprop.load("iris.dp")  # written by deltaprop train   # doctest: +SKIP
    >>> model.predict([[5.1, 3.5, 1.4, 0.2]])                              # doctest: +SKIP
    array(['setosa'], dtype='<U10')
    """

    def __init__(self, net: Network, preprocessing: Preprocessing,
                 summary: dict[str, Any] | None = None) -> None:
        if not isinstance(net, Network):
            raise TypeError(f"Model takes a deltaprop Network, got {type(net).__name__}")
        if not isinstance(preprocessing, Preprocessing):
            raise TypeError(f"preprocessing must be a Preprocessing, got {type(preprocessing).__name__}")
        preprocessing.check_fits(net.n_inputs, net.n_outputs)
        self.net, self.preprocessing = net, preprocessing
        self.summary: dict[str, Any] = dict(summary or {})

    # -- what the model is -------------------------------------------------------------------------
    @property
    def task(self) -> str:
        """``"classify"`` or ``"regress"``."""
        return self.preprocessing.task

    @property
    def classes(self) -> Array | None:
        """The class labels in output order (classify), else None."""
        labels = self.preprocessing.labels
        return None if labels is None else labels.classes

    @property
    def feature_names(self) -> list[str] | None:
        """The network's input columns (one-hot indicators as ``"column=value"``), or None."""
        return self.preprocessing.feature_names

    @property
    def columns(self) -> list[str] | None:
        """The columns rows must have, in order (text columns before one-hot), or None."""
        return self.preprocessing.columns

    @property
    def categories(self) -> dict[str, list[str]]:
        """The one-hot text columns and their values in training."""
        return self.preprocessing.categories

    @property
    def target_names(self) -> list[str]:
        """Names of the targets (regress) or of the label column (classify)."""
        names = self.preprocessing.target_names
        if names:
            return names
        return ["y"] if self.net.n_outputs == 1 or self.task == "classify" else [
            f"y{j}" for j in range(self.net.n_outputs)]

    @property
    def metric_name(self) -> str:
        """What :meth:`score` returns: ``"accuracy"`` or ``"r2"``."""
        return "accuracy" if self.task == "classify" else "r2"

    @property
    def multilabel(self) -> bool:
        """Independent sigmoid outputs, one per label (predictions are 0/1 indicators)."""
        return (self.task == "classify" and self.net.n_outputs > 1
                and self.net.output_layer.activation.name == "sigmoid")

    @property
    def has_probabilities(self) -> bool:
        """Whether the outputs are class probabilities (a softmax or sigmoid output layer): a
        classifier trained with squared_error on identity outputs has scores, not probabilities."""
        return (self.task == "classify"
                and self.net.output_layer.activation.name in ("softmax", "sigmoid"))

    # -- predictions -------------------------------------------------------------------------------
    def features(self, rows: Any) -> Array:
        """The feature matrix of ``rows`` before standardization, shape (n_samples, n_inputs)."""
        names = self.preprocessing.feature_names
        if names is None:
            table = as_table(rows, [f"x{j}" for j in range(self.net.n_inputs)] if _is_array(rows) else None)
            X = table.features(table.names)
            if X.shape[1] != self.net.n_inputs:
                raise ValueError(f"{table.source}: {X.shape[1]} columns, but the network takes "
                                 f"{self.net.n_inputs} inputs")
            return X
        return as_table(rows, self.columns).features(names, self.categories)

    def network_inputs(self, rows: Any) -> Array:
        """What the network sees for ``rows``: features standardized, (n_samples, n_inputs)."""
        return self.preprocessing.inputs(self.features(rows))

    def outputs(self, rows: Any) -> Array:
        """The network's outputs for ``rows``, regression targets in their own units (float64
        when standardized), shape (n_samples, n_outputs)."""
        return self.preprocessing.outputs(self.net.predict(self.network_inputs(rows)))

    def predict(self, rows: Any) -> Array:
        """Labels (classify: shape (n_samples,), in the classes' own type; 0/1 indicators of
        shape (n_samples, n_labels) for multi-label outputs) or target values (regress: shape
        (n_samples,) for one target, (n_samples, n_targets) for several)."""
        out = self.outputs(rows)
        if self.task == "regress":
            return out[:, 0] if out.shape[1] == 1 else out
        codes = class_indices(out, self.net.output_layer.activation.name)
        labels = self.preprocessing.labels
        assert labels is not None
        return codes if self.multilabel else labels.decode(codes)

    def predict_proba(self, rows: Any) -> Array:
        """Class probabilities, shape (n_samples, n_classes), columns in :attr:`classes` order.

        One sigmoid output (two classes) gives both columns from the logit, sigma(-z) and
        sigma(z), as scikit-learn's estimators: a tiny probability keeps its digits.
        """
        if self.task != "classify":
            raise AttributeError("predict_proba is for classifiers; this model regresses")
        if not self.has_probabilities:
            raise AttributeError(
                f"this classifier's outputs are not probabilities (its output layer is "
                f"{self.net.output_layer.activation.name}, trained with "
                f"{getattr(self.net.loss, 'name', 'its loss')}): use predict, or train with "
                "cross_entropy for probabilities")
        X = self.network_inputs(rows)
        return self._probabilities(X, None if self.net.n_outputs == 1 else self.net.predict(X))

    def _probabilities(self, X: Array, outputs: Array | None) -> Array:
        if self.net.n_outputs == 1:
            z = self.net.predict_logits(X).astype(np.float64)
            return np.exp(np.hstack([log_sigmoid(-z), log_sigmoid(z)]))
        assert outputs is not None
        return outputs

    def scores(self, rows: Any, y: Any) -> dict[str, float]:
        """Accuracy and log loss (classify; multi-label: subset accuracy; no log loss without
        :attr:`has_probabilities`) or R^2 and mean squared error (regress) on ``rows`` and their
        targets ``y``.

        Labels are compared in canonical form (2.0 matches the class 2 and the class "2"); a
        label never seen in training is a ValueError naming it.
        """
        if self.task == "regress":
            out = self.outputs(rows)
            return {"r2": r2(y, out), "mse": mse(y, out)}
        if self.multilabel:
            return {"accuracy": accuracy(np.asarray(y), self.predict(rows))}
        labels = self.preprocessing.labels
        assert labels is not None
        codes = labels.encode(y)
        X = self.network_inputs(rows)
        out = self.net.predict(X)
        predicted = class_indices(out, self.net.output_layer.activation.name)
        if not self.has_probabilities:  # scores, not probabilities: no log loss of them
            return {"accuracy": accuracy(codes, predicted)}
        return {"accuracy": accuracy(codes, predicted),
                "log_loss": log_loss(self._probabilities(X, out), codes)}

    def score(self, rows: Any, y: Any) -> float:
        """The model's metric on ``rows`` and ``y``: accuracy (classify) or R^2 averaged over
        targets (regress), as scikit-learn's ``score``."""
        return self.scores(rows, y)[self.metric_name]

    # -- files -------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (a model file of kind ``model``; atomically, no pickle);
        ``deltaprop.load`` reads it back, predicting bit for bit the same."""
        save_payload(path, self.net, "model", {"preprocessing": self.preprocessing.to_config(),
                                               "summary": self.summary})

    @classmethod
    def from_archive(cls, archive: Archive) -> Model:
        """The model of a ``model`` file, or of a checkpoint of ``deltaprop train``."""
        section = archive.sections if archive.kind == "model" else archive.metadata
        net = network_from_archive(archive)
        try:
            preprocessing = Preprocessing.from_config(section["preprocessing"])
            summary = check_summary(section.get("summary") or {})
            _check_task(net, preprocessing.task)
            return cls(net, preprocessing, summary)
        except KeyError as error:
            raise ModelFileError(f"{archive.path}: the model's preprocessing is inconsistent (it "
                                 f"lacks {error})") from None
        except (TypeError, ValueError, AttributeError) as error:  # LabelEncoder's label checks too
            raise ModelFileError(f"{archive.path}: the model's preprocessing is inconsistent "
                                 f"({error})") from None

    @classmethod
    def from_network(cls, net: Network) -> Model:
        """A bare network as a model: inputs by position, as given; classes as output indices
        (for a network trained with a classification loss)."""
        loss = net.loss
        if loss is None or not loss.is_classification:
            return cls(net, Preprocessing("regress"))
        n_classes = 2 if net.n_outputs == 1 else net.n_outputs
        return cls(net, Preprocessing("classify", labels=LabelEncoder(np.arange(n_classes))))

    @classmethod
    def from_estimator(cls, estimator: Any) -> Model:
        """A fitted deltaprop.sklearn estimator as a model: its network, its ``classes_`` and
        ``feature_names_in_``; no standardization (an estimator takes X as it is)."""
        names = getattr(estimator, "feature_names_in_", None)
        names = None if names is None else [str(name) for name in names]
        if hasattr(estimator, "classes_"):
            preprocessing = Preprocessing("classify", names, labels=LabelEncoder(estimator.classes_))
        else:
            preprocessing = Preprocessing("regress", names)
        return cls(estimator.net_, preprocessing, {"estimator": type(estimator).__name__})

    def __repr__(self) -> str:
        net, classes = self.net, self.classes
        if classes is not None:
            shown = ", ".join(str(c) for c in classes.tolist()[:5]) + (", ..." if len(classes) > 5 else "")
            what = f"classify {len(classes)} classes ({shown})"
        else:
            what = f"regress {', '.join(self.target_names)}"
        columns = self.columns
        if columns is None:
            inputs = f"{net.n_inputs} input{'s' if net.n_inputs > 1 else ''} by position"
        else:
            inputs = f"{len(columns)} column{'s' if len(columns) > 1 else ''}"
        scaled = "standardized" if self.preprocessing.features is not None else "as given"
        return (f"Model({what}; {inputs}, {scaled}; {type(net).__name__} of "
                f"{len(net.layers)} layers, {net.n_parameters} parameters)")


_SUMMARY_TYPES = {"data": "text", "held_out": "scores", "n_train": "count", "n_test": "count",
                  "seconds": "number"}


def check_summary(summary: Any) -> dict[str, Any]:
    """``summary`` if it is what ``deltaprop train`` writes (see ``_SUMMARY_TYPES``: the data's
    name, held-out scores by metric name, counts of rows, seconds), else a ValueError naming
    the field: ``info`` prints it, so a tampered one must not reach the printing."""
    if not isinstance(summary, dict):
        raise ValueError(f"its summary is {type(summary).__name__}, not a JSON object")
    for name, kind in _SUMMARY_TYPES.items():
        value = summary.get(name)
        if value is not None and not _is_kind(value, kind):
            raise ValueError(f"its summary's {name} is {value!r}, not {_KIND_WORDS[kind]}")
    return summary


_KIND_WORDS = {"text": "text", "count": "a count of rows", "number": "a number",
               "scores": "an object of scores by metric name"}


def _is_kind(value: Any, kind: str) -> bool:
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if kind == "text":
        return isinstance(value, str)
    if kind == "count":
        return number(value) and float(value).is_integer() and value >= 0
    if kind == "number":
        return number(value)
    return isinstance(value, dict) and all(isinstance(k, str) and number(v) for k, v in value.items())


def _check_task(net: Network, task: str) -> None:
    """The task goes with the network: a regression is not trained with a classification loss,
    and one output classifies two classes only as a sigmoid (its logit gives both
    probabilities)."""
    loss = net.loss
    if task == "regress" and loss is not None and loss.is_classification:
        raise ValueError(f"the task is regress, but the network was trained with {loss.name}, a "
                         "classification loss")
    activation = net.output_layer.activation.name
    if task == "classify" and net.n_outputs == 1 and activation != "sigmoid":
        raise ValueError(f"the task is classify on one output, which must be a sigmoid (its "
                         f"probability), not {activation}")


def _is_array(rows: Any) -> bool:
    """Rows given by position (not a table, a mapping or a DataFrame)."""
    return not (hasattr(rows, "columns") or hasattr(rows, "keys"))
