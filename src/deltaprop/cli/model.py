"""What the command line trains and saves: a network plus the preprocessing around it.

Features are standardized with the training data's mean and standard deviation; class labels
(of any type) become output indices; regression targets are standardized for training, and the
network's outputs are turned back into the targets' units in float64 (a float32 output layer
could not carry an offset like 1.7e9 to the unit). All of it travels in the safe model file
(:mod:`deltaprop.files.container`) as JSON next to the weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deltaprop.files.container import ModelFileError, load_with_extra, save
from deltaprop.network import Network

KIND = "deltaprop-cli-model"


def canonical_labels(y: Any) -> np.ndarray:
    """Class labels in one form: text as str, whole numbers as int64 (2.0 and 2 are one class)."""
    y = np.asarray(y)
    if y.dtype.kind in "OUS":
        return y.astype(str)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    return y


@dataclass
class TabularModel:
    """A network with its feature scaling, label encoding and provenance.

    Attributes
    ----------
    net : Network
        Takes standardized features, shape (n, n_features); outputs class probabilities
        (classify) or standardized targets (regress).
    task : {"classify", "regress"}
    feature_names, target_names : list of str
    x_mean, x_scale : ndarray of shape (n_features,)
    classes : ndarray of shape (n_classes,) or None
        The labels, in output order (classify).
    y_mean, y_scale : ndarray of shape (n_targets,) or None
        The regression targets' standardization (regress).
    categories : dict of str to list of str
        One-hot encoded string features: column -> values (see :mod:`deltaprop.data.tables`).
    summary : dict
        Training facts for ``info`` (data, epochs, held-out score...).
    """

    net: Network
    task: str
    feature_names: list[str]
    target_names: list[str]
    x_mean: np.ndarray
    x_scale: np.ndarray
    classes: np.ndarray | None = None
    y_mean: np.ndarray | None = None
    y_scale: np.ndarray | None = None
    categories: dict[str, list[str]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    # -- preprocessing ---------------------------------------------------------------------------
    @staticmethod
    def scaling(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of each column (1 where a column is constant)."""
        mean, std = X.mean(axis=0), X.std(axis=0)
        return mean, np.where(std > 0, std, 1.0)

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """Standardized features for the network, shape (n, n_features)."""
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            raise ValueError(f"the data have {X.shape[-1]} feature columns but the model was "
                             f"trained on {len(self.feature_names)}")
        return (X - self.x_mean) / self.x_scale

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Class labels as output indices (classify), shape (n,); unknown labels are an error.

        Labels are compared in the classes' own form: 2.0 read from a numeric column matches
        the class "2" of a text column, and the class 2."""
        assert self.classes is not None
        labels = canonical_labels(y)
        if self.classes.dtype.kind in "US":
            labels = labels.astype(str)
        known = np.isin(labels, self.classes)
        if not known.all():
            unseen = sorted({str(v) for v in labels[~known]})[:5]
            raise ValueError(f"labels {unseen} never appeared in training; the model knows "
                             f"{[str(c) for c in self.classes]}")
        return np.searchsorted(self.classes, labels)

    # -- predictions -------------------------------------------------------------------------------
    def outputs(self, X: np.ndarray) -> np.ndarray:
        """On raw features: class probabilities, or targets in their own units (float64), (n, k)."""
        out = self.net.predict(self.inputs(X))
        if self.y_mean is None or self.y_scale is None:
            return out
        return out.astype(np.float64) * self.y_scale + self.y_mean

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels (classify, shape (n,)) or target values (regress, (n,) or (n, k))."""
        out = self.outputs(X)
        if self.task == "classify":
            assert self.classes is not None
            return self.classes[out.argmax(axis=1)]
        return out[:, 0] if out.shape[1] == 1 else out

    def score(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Accuracy and cross-entropy (classify) or R^2 and mean squared error (regress)."""
        out = self.outputs(X)
        if self.task == "classify":
            codes = self.encode(y)
            picked = np.clip(out[np.arange(len(codes)), codes], 1e-300, None)
            return {"accuracy": float(np.mean(out.argmax(axis=1) == codes)),
                    "log_loss": float(-np.mean(np.log(picked)))}
        Y = np.asarray(y, dtype=np.float64).reshape(len(out), -1)
        residual = ((Y - out) ** 2).sum(axis=0)
        total = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
        r2 = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1), 0.0)
        return {"r2": float(r2.mean()), "mse": float(((Y - out) ** 2).mean())}

    @property
    def metric_name(self) -> str:
        return "accuracy" if self.task == "classify" else "r2"

    # -- files ---------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model file (atomically)."""
        save(self.net, path, extra={"kind": KIND, "cli": self._metadata()})

    def _metadata(self) -> dict[str, Any]:
        classes = None
        if self.classes is not None:
            kind = "str" if self.classes.dtype.kind in "OUS" else self.classes.dtype.str
            classes = {"dtype": kind, "values": self.classes.tolist()}
        return {"task": self.task, "feature_names": self.feature_names,
                "target_names": self.target_names, "x_mean": self.x_mean.tolist(),
                "x_scale": self.x_scale.tolist(), "classes": classes,
                "y_mean": None if self.y_mean is None else self.y_mean.tolist(),
                "y_scale": None if self.y_scale is None else self.y_scale.tolist(),
                "categories": self.categories, "summary": self.summary}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TabularModel:
        """Read a model file written by :meth:`save` (or a plain network file, used as is)."""
        net, extra = load_with_extra(path)
        if extra.get("kind") != KIND:
            raise ModelFileError(f"{path}: a deltaprop network without the command line's "
                                 "preprocessing; load it with deltaprop.load in Python")
        try:
            meta = extra["cli"]
            classes = meta["classes"]
            labels = None if classes is None else np.asarray(
                classes["values"], dtype=str if classes["dtype"] == "str" else np.dtype(classes["dtype"]))
            y_mean, y_scale = (None if meta.get(key) is None else np.asarray(meta[key], dtype=np.float64)
                               for key in ("y_mean", "y_scale"))
            model = cls(net, meta["task"], list(meta["feature_names"]), list(meta["target_names"]),
                        np.asarray(meta["x_mean"], dtype=np.float64),
                        np.asarray(meta["x_scale"], dtype=np.float64), labels, y_mean, y_scale,
                        dict(meta["categories"]), dict(meta["summary"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ModelFileError(f"{path}: the command line's metadata is inconsistent ({error!r})") from None
        if model.x_mean.shape != (net.n_inputs,) or model.x_scale.shape != (net.n_inputs,):
            raise ModelFileError(f"{path}: the feature scaling does not fit the network's "
                                 f"{net.n_inputs} inputs")
        for scaling in (model.y_mean, model.y_scale):
            if scaling is not None and scaling.shape != (net.n_outputs,):
                raise ModelFileError(f"{path}: the target scaling does not fit the network's "
                                     f"{net.n_outputs} outputs")
        return model
