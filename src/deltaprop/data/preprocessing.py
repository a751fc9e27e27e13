"""Preprocessing: what stands between the data as users have it and the network.

One owner for each transformation, shared by the command line, the estimators, the model
object (:class:`deltaprop.Model`) and the ONNX export:

- :class:`Standardizer`: ``(X - mean) / scale`` of the features, and the inverse for
  regression targets trained in standard units; its statistics from rows in memory
  (:meth:`Standardizer.fit`) or merged chunk by chunk over a stream (:class:`RunningMoments`);
- one-hot categories of text columns: ``"column=value"`` indicator features, one per value seen
  in training, in sorted order (:func:`text_categories`, :func:`expanded_names`,
  :func:`source_columns`);
- class labels to output indices and back: :class:`deltaprop.data.labels.LabelEncoder`;
- :class:`Preprocessing`: the whole of it for one model, serializable to JSON.

NumPy only: no network, no files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deltaprop._validation import is_sparse
from deltaprop.data.labels import LabelEncoder

Array = np.ndarray
TASKS = ("classify", "regress")


# -- standardization -----------------------------------------------------------------------------
@dataclass
class Standardizer:
    """``(X - mean) / scale`` column by column, and its inverse.

    Attributes
    ----------
    mean, scale : ndarray of float64, shape (n_columns,)
        ``scale`` is the standard deviation, or 1 where a column is constant.
    """

    mean: Array
    scale: Array

    @classmethod
    def fit(cls, X: Any) -> Standardizer:
        """The mean and standard deviation of each column of ``X`` (n_samples, n_columns)."""
        _refuse_sparse(X)
        X = np.asarray(X, dtype=np.float64)
        return cls.from_moments(X.mean(axis=0), X.std(axis=0))

    @classmethod
    def from_moments(cls, mean: Array, std: Array) -> Standardizer:
        """The standardizer of columns of these means and (population) standard deviations,
        however they were computed (:meth:`fit` on rows in memory, :class:`RunningMoments`
        over a stream): a constant column (``std == 0``) is scaled by 1, left centred at 0
        rather than divided by zero."""
        std = np.asarray(std, dtype=np.float64)
        return cls(np.asarray(mean, dtype=np.float64), np.where(std > 0, std, 1.0))

    def transform(self, X: Array) -> Array:
        """Standardized ``X``, shape (n_samples, n_columns)."""
        _refuse_sparse(X)
        return (X - self.mean) / self.scale

    def inverse_transform(self, Z: Array) -> Array:
        """``Z`` in the original units, in float64 (a float32 network could not carry an
        offset like 1.7e9 to the unit), shape (n_samples, n_columns)."""
        return Z.astype(np.float64) * self.scale + self.mean

    @property
    def width(self) -> int:
        return int(self.mean.shape[0])


class RunningMoments:
    """Count, mean and sum of squared deviations (M2) of each column, merged chunk by chunk
    (Chan, Golub and LeVeque's pairwise update): one pass over data larger than memory,
    numerically as sound as the two-pass formula of :meth:`Standardizer.fit`.

    Merging (n_a, mean_a, M2_a) with a chunk's (n_b, mean_b, M2_b), ``d = mean_b - mean_a``::

        n = n_a + n_b,  mean = mean_a + d n_b / n,  M2 = M2_a + M2_b + d^2 n_a n_b / n

    The moments are kept of the rows minus the first row seen (``shift``): a column of mean
    1e6 and deviation 1 would otherwise lose digits in ``d`` (the shifted data algorithm).
    """

    def __init__(self) -> None:
        self.count = 0
        self.shift: Array | None = None
        self.centred: Array | None = None  # the mean of the rows minus shift
        self.m2: Array | None = None

    def add(self, X: Array) -> None:
        """Take in the rows of ``X`` (n, n_columns) (or values of a 1-D ``X``), in float64."""
        if not len(X):
            return
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        if self.shift is None:
            self.shift = X[0].copy()
        if X.shape[1:] != self.shift.shape:
            raise ValueError(f"rows of {X.shape[1]} columns added to moments of "
                             f"{self.shift.shape[0]}")
        X = X - self.shift
        n_b, mean_b = len(X), X.mean(axis=0)
        m2_b = np.square(X - mean_b).sum(axis=0)
        if self.centred is None or self.m2 is None:
            self.count, self.centred, self.m2 = n_b, mean_b, m2_b
            return
        n = self.count + n_b
        d = mean_b - self.centred
        self.centred = self.centred + d * (n_b / n)
        self.m2 = self.m2 + m2_b + np.square(d) * (self.count * n_b / n)
        self.count = n

    @property
    def mean(self) -> Array:
        """The mean of each column."""
        if self.shift is None or self.centred is None:
            raise ValueError("no rows were seen: there is no mean")
        return self.shift + self.centred

    @property
    def std(self) -> Array:
        """The population standard deviation (``ddof=0``, as ``X.std()``) of each column."""
        if self.m2 is None:
            raise ValueError("no rows were seen: there is no standard deviation")
        return np.sqrt(self.m2 / self.count)

    def standardizer(self) -> Standardizer:
        """The :class:`Standardizer` that :meth:`Standardizer.fit` gives on every row seen (to
        rounding), without holding them."""
        return Standardizer.from_moments(self.mean, self.std)


def _refuse_sparse(X: Any) -> None:
    """Centering makes every zero of a sparse X non-zero: the dense matrix sparse input avoids."""
    if is_sparse(X):
        raise TypeError("standardizing subtracts each column's mean, which would make the sparse "
                        "X dense; train on the sparse X as it is (scale it without centering "
                        "first if needed, e.g. scikit-learn's MaxAbsScaler), or pass X.toarray()")


def _vector(values: Any, name: str) -> Array:
    """A stored mean or scale: a list of finite numbers (JSON's, not text) as float64."""
    if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{name} must be a list of finite numbers")
    vector = np.asarray(values, dtype=np.float64)
    if not np.isfinite(vector).all():
        raise ValueError(f"{name} must be a list of finite numbers")
    return vector


# -- one-hot categories ----------------------------------------------------------------------
def text_categories(columns: Mapping[str, Array], exclude: Iterable[str] = ()) -> dict[str, list[str]]:
    """The sorted distinct values (missing, ``""``, left out) of each text column not in
    ``exclude``: the one-hot categories, to store with a model."""
    skip = set(exclude)
    return {name: sorted(set(values.tolist()) - {""}) for name, values in columns.items()
            if name not in skip and values.dtype.kind in "US"}


def indicator_name(column: str, value: str) -> str:
    """The feature name of the indicator of ``value`` in text column ``column``."""
    return f"{column}={value}"


def expanded_names(columns: Iterable[str], categories: Mapping[str, Sequence[str]]) -> list[str]:
    """Feature names with each text column replaced, in its place, by its indicators."""
    return [name for column in columns for name in
            ([indicator_name(column, v) for v in categories[column]] if column in categories
             else [column])]


def indicators(categories: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, str]]:
    """Each indicator feature's (column, value)."""
    return {indicator_name(column, value): (column, value)
            for column, values in categories.items() for value in values}


def source_columns(feature_names: Sequence[str], categories: Mapping[str, Sequence[str]]) -> list[str]:
    """The input columns behind ``feature_names``, in order: each text column once, in the
    place of its first indicator."""
    named = indicators(categories)
    return list(dict.fromkeys(named[n][0] if n in named else n for n in feature_names))


# -- the whole -----------------------------------------------------------------------------------
@dataclass
class Preprocessing:
    """What turns raw rows into network inputs, and network outputs into answers.

    Attributes
    ----------
    task : {"classify", "regress"}
    feature_names : list of str or None
        The network's input columns in order, one-hot indicators as ``"column=value"``; None
        for a model that takes its inputs by position (numbers as given).
    categories : dict of str to list of str
        The one-hot text columns and the values each had in training.
    features : Standardizer or None
        The features' standardization; None: the network takes them as they are.
    labels : LabelEncoder or None
        The classes in output order (``task == "classify"``).
    target_names : list of str or None
        Names of the regression targets (or of the class column).
    targets : Standardizer or None
        The regression targets' standardization: the network predicts standard units.
    """

    task: str = "regress"
    feature_names: list[str] | None = None
    categories: dict[str, list[str]] = field(default_factory=dict)
    features: Standardizer | None = None
    labels: LabelEncoder | None = None
    target_names: list[str] | None = None
    targets: Standardizer | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be 'classify' or 'regress', got {self.task!r}")
        if (self.labels is None) == (self.task == "classify"):
            raise ValueError("a classify preprocessing needs its labels, a regress one has none")
        _check_names(self.feature_names, self.categories)

    @property
    def columns(self) -> list[str] | None:
        """The input columns the rows must have (text columns before one-hot), or None."""
        if self.feature_names is None:
            return None
        return source_columns(self.feature_names, self.categories)

    def inputs(self, X: Array) -> Array:
        """Network inputs from the feature matrix ``X`` (n_samples, n_features)."""
        if self.features is not None and (X.ndim != 2 or X.shape[1] != self.features.width):
            raise ValueError(f"the data have {X.shape[-1]} feature columns but the model was "
                             f"trained on {self.features.width}")
        return X if self.features is None else self.features.transform(X)

    def outputs(self, out: Array) -> Array:
        """Network outputs (n_samples, n_outputs) in the targets' units (float64 when scaled)."""
        return out if self.targets is None else self.targets.inverse_transform(out)

    def check_fits(self, n_inputs: int, n_outputs: int) -> None:
        """Raise a ValueError unless this preprocessing fits a network of these widths."""
        widths = [("feature names", self.feature_names), ("feature scaling",
                   None if self.features is None else self.features.mean),
                  ("feature scaling", None if self.features is None else self.features.scale)]
        for what, values in widths:
            if values is not None and len(values) != n_inputs:
                raise ValueError(f"the {what} ({len(values)}) does not fit the network's "
                                 f"{n_inputs} inputs")
        for vector in ([] if self.targets is None else [self.targets.mean, self.targets.scale]):
            if vector.shape != (n_outputs,):
                raise ValueError(f"the target scaling does not fit the network's {n_outputs} outputs")
        if self.labels is not None and len(self.labels) not in (n_outputs, 2 if n_outputs == 1 else -1):
            raise ValueError(f"{len(self.labels)} classes do not fit the network's {n_outputs} outputs")
        # regression: a name per output; classification: the class column's (a name per label
        # for multi-label outputs)
        counts = (n_outputs,) if self.task == "regress" else (1, n_outputs)
        if self.target_names is not None and len(self.target_names) not in counts:
            raise ValueError(f"the target names ({len(self.target_names)}) do not fit the network's "
                             f"{n_outputs} outputs ({self.task})")

    def to_config(self) -> dict[str, Any]:
        """JSON (means and scales as numbers: Python writes floats exactly)."""
        x, y = self.features, self.targets
        return {"task": self.task, "feature_names": self.feature_names,
                "categories": self.categories, "target_names": self.target_names,
                "x_mean": None if x is None else x.mean.tolist(),
                "x_scale": None if x is None else x.scale.tolist(),
                "classes": None if self.labels is None else self.labels.to_config(),
                "y_mean": None if y is None else y.mean.tolist(),
                "y_scale": None if y is None else y.scale.tolist()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Preprocessing:
        """The preprocessing :meth:`to_config` described; a ValueError or KeyError when the
        config is inconsistent."""
        names, targets = config["feature_names"], config.get("target_names")
        categories = config.get("categories") or {}
        if not (names is None or _strings(names)) or not (targets is None or _strings(targets)):
            raise ValueError("feature and target names must be lists of strings")
        if not (isinstance(categories, dict) and all(_strings(v) for v in categories.values())):
            raise ValueError("categories must map column names to lists of strings")
        return cls(config["task"], names, {str(k): list(v) for k, v in categories.items()},
                   _standardizer(config, "x"),
                   None if config.get("classes") is None else LabelEncoder.from_config(config["classes"]),
                   targets, _standardizer(config, "y"))


def _check_names(feature_names: list[str] | None, categories: Mapping[str, Sequence[str]]) -> None:
    """Feature names each once; each one-hot column a text column of the features, its values
    sorted and distinct (as :func:`text_categories` makes them), indicators in their place."""
    if feature_names is not None and len(set(feature_names)) < len(feature_names):
        twice = sorted(name for name, count in Counter(feature_names).items() if count > 1)
        raise ValueError(f"the feature names {twice[:5]} appear more than once")
    if categories and feature_names is None:
        raise ValueError("one-hot categories need the feature names their indicators are among")
    for column, values in categories.items():
        if any(b <= a for a, b in zip(values, values[1:])):
            raise ValueError(f"the categories of {column!r} must be sorted and distinct")
        assert feature_names is not None
        if column in feature_names:
            raise ValueError(f"{column!r} is a numeric feature, not a one-hot text column")
        if not set(expanded_names([column], categories)) <= set(feature_names):
            raise ValueError(f"the categories name the column {column!r}, whose indicators "
                             f"({column}=...) are not among the feature names")


def _strings(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def _standardizer(config: dict[str, Any], prefix: str) -> Standardizer | None:
    mean, scale = config.get(f"{prefix}_mean"), config.get(f"{prefix}_scale")
    if mean is None and scale is None:
        return None
    standardizer = Standardizer(_vector(mean, f"{prefix}_mean"), _vector(scale, f"{prefix}_scale"))
    if standardizer.scale.shape != standardizer.mean.shape or not np.all(standardizer.scale > 0):
        raise ValueError(f"{prefix}_scale must be as long as {prefix}_mean and hold positive "
                         "numbers only (standard deviations, or 1 for a constant column)")
    return standardizer
