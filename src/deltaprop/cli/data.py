"""Where the command line's data come from: a file (:mod:`deltaprop.data.tables`) or an embedded
dataset by name (:mod:`deltaprop.data.datasets`), and whether the task is classification."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from deltaprop.cli.model import TabularModel, canonical_labels
from deltaprop.data import datasets
from deltaprop.data.tables import Table, read_table

MAX_INTEGER_CLASSES = 20  # an integer target with at most this many values is read as labels


@dataclass
class TrainingData:
    """Features and targets for ``train``.

    ``X`` (n, d) float64; ``y`` the targets as given (labels of any type for classification);
    ``Y`` float64 (n, k) targets for regression; ``classes`` the sorted labels (classify).
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target_names: list[str]
    task: str
    classes: np.ndarray | None = None
    categories: dict[str, list[str]] = field(default_factory=dict)

    @property
    def Y(self) -> np.ndarray:
        return np.asarray(self.y, dtype=np.float64).reshape(len(self.y), -1)


def training_data(spec: str, target: str | None, *, task: str | None, one_hot: bool) -> TrainingData:
    """Read ``spec`` (a file or a dataset name) and decide the task."""
    source = _open(spec)
    if isinstance(source, datasets.Dataset):
        if target:
            raise ValueError(f"--target is for data files; the embedded dataset {spec!r} has its "
                             f"target ({', '.join(source.target_names)})")
        X, y, features, targets = source.X, source.y, source.feature_names, source.target_names
        task, categories = task or source.task, {}
    else:
        if not target:
            raise ValueError(f"{spec}: name the target column with --target (columns: "
                             f"{', '.join(source.names)})")
        X, y_read, features, targets = source.split(_target_list(target), one_hot=one_hot)
        assert y_read is not None
        y = y_read
        categories = source.categories(exclude=targets) if one_hot else {}
        task = task or _infer_task(y)
    y = canonical_labels(y) if task == "classify" else y
    if task == "classify":
        if y.dtype.kind == "f":
            raise ValueError(f"classification needs labels, but the target {targets[0]!r} holds "
                             f"fractional numbers (e.g. {y.flat[0]:g}); use --task regress")
        if y.ndim != 1:
            raise ValueError("classification takes one target column; several targets mean "
                             "--task regress")
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(f"the target has one class only ({classes[0]}); a classifier "
                             "needs at least two")
        return TrainingData(spec, X, y, features, targets, task, classes, categories)
    if np.asarray(y).dtype.kind in "OUS":
        raise ValueError("the target holds text (class labels); use --task classify")
    return TrainingData(spec, X, y, features, targets, task, None, categories)


def labelled_data(spec: str | None, target: str | None,
                  model: TabularModel) -> tuple[np.ndarray, np.ndarray]:
    """Features in the model's column order (one-hot as in training), and the targets (the
    model's, or ``--target``)."""
    if not spec:
        raise ValueError("give the data with --data (a file or an embedded dataset name)")
    source = _open(spec)
    if isinstance(source, datasets.Dataset):
        return _dataset_features(source, model), (
            canonical_labels(source.y) if model.task == "classify" else source.y)
    else:
        names = _target_list(target) if target else model.target_names
        y = source.targets(names)
        source_X = source.features(model.feature_names, model.categories or None)
        return source_X, canonical_labels(y) if model.task == "classify" else y


def unlabelled_features(spec: str | None, model: TabularModel) -> np.ndarray:
    """Features in the model's column order, one-hot as in training (any target column is
    ignored)."""
    if not spec:
        raise ValueError("give the data with --data (a file or an embedded dataset name)")
    source = _open(spec)
    if isinstance(source, datasets.Dataset):
        return _dataset_features(source, model)
    return source.features(model.feature_names, model.categories or None)


def _infer_task(y: np.ndarray) -> str:
    """Text labels, or a single whole-number target with few values: classify; else regress."""
    if y.dtype.kind in "OUS":
        return "classify"
    if y.ndim == 1 and np.all(y == np.round(y)) and len(np.unique(y)) <= MAX_INTEGER_CLASSES:
        return "classify"
    return "regress"


def _open(spec: str) -> Table | datasets.Dataset:
    if os.path.exists(spec):
        return read_table(spec)
    if spec in datasets.names():
        return datasets.load(spec)
    raise FileNotFoundError(f"{spec!r} is neither a file nor an embedded dataset "
                            f"({', '.join(datasets.names())})")


def _target_list(target: str) -> list[str]:
    return [name.strip() for name in target.split(",") if name.strip()]


def _dataset_features(source: datasets.Dataset, model: TabularModel) -> np.ndarray:
    """The dataset's columns in the model's feature order, matched by name."""
    missing = [name for name in model.feature_names if name not in source.feature_names]
    if missing:
        raise ValueError(f"the dataset {source.name!r} lacks the model's feature column(s) "
                         f"{missing[:5]}; it has {source.feature_names[:8]}")
    order = [source.feature_names.index(name) for name in model.feature_names]
    return source.X[:, order]
