"""Where the command line's data come from: a file (:mod:`deltaprop.data.tables`) or an embedded
dataset by name (:mod:`deltaprop.data.datasets`), whether the task is classification, and the
rows a model reads from them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from deltaprop.data import datasets
from deltaprop.data.labels import canonical_labels
from deltaprop.data.tables import Table, read_table
from deltaprop.files.model import Model
from deltaprop.losses import get_loss

REGRESSION_ONLY = ("poisson",)  # losses whose targets are numbers, never class labels

MAX_INTEGER_CLASSES = 20  # an integer target with at most this many values is read as labels


@dataclass
class TrainingData:
    """Features and targets for ``train``.

    ``rows`` the data as read (a :class:`Table`: what a model takes); ``X`` (n, d) float64 its
    features, one-hot encoded; ``y`` the targets as given (labels of any type for
    classification); ``Y`` float64 (n, k) targets for regression; ``classes`` the sorted labels
    (classify).
    """

    name: str
    rows: Table
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


def training_data(spec: str, target: str | None, *, task: str | None, one_hot: bool,
                  loss: str | None = None) -> TrainingData:
    """Read ``spec`` (a file or a dataset name) and decide the task (a regression-only ``loss``,
    such as poisson on counts, means regression however the target looks)."""
    if task is None and loss is not None and get_loss(loss).name in REGRESSION_ONLY:
        task = "regress"
    source = _open(spec)
    if isinstance(source, datasets.Dataset):
        _no_target(source, target)
        X, y, features, targets = source.X, source.y, source.feature_names, source.target_names
        task, categories, rows = task or source.task, {}, _dataset_table(source)
    else:
        if not target:
            raise ValueError(f"{spec}: name the target column with --target (columns: "
                             f"{', '.join(source.names)})")
        X, y_read, features, targets = source.split(_target_list(target), one_hot=one_hot)
        assert y_read is not None
        y, rows = y_read, source
        categories = source.categories(exclude=targets) if one_hot else {}
        task = task or _infer_task(y)
    if task == "classify":
        y = canonical_labels(y)
        return TrainingData(spec, rows, X, y, features, targets, task, _classes(y, targets), categories)
    if np.asarray(y).dtype.kind in "OUS":
        raise ValueError("the target holds text (class labels); use --task classify")
    return TrainingData(spec, rows, X, y, features, targets, task, None, categories)


def _classes(y: np.ndarray, targets: list[str]) -> np.ndarray:
    """The sorted labels of a classification target, checked."""
    # canonical_labels keeps whole numbers beyond int64 (2e19) as floats: only a fraction is
    # not a label.
    fractional = y[y != np.round(y)] if y.dtype.kind == "f" else y[:0]
    if fractional.size:
        raise ValueError(f"classification needs labels, but the target {targets[0]!r} holds "
                         f"fractional numbers (e.g. {fractional.flat[0]:g}); use --task regress")
    if y.ndim != 1:
        raise ValueError("classification takes one target column; several targets mean "
                         "--task regress")
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(f"the target has one class only ({classes[0]}); a classifier "
                         "needs at least two")
    return classes


def model_rows(spec: str | None, target: str | None, model: Model) -> Table:
    """The rows of ``spec`` for ``model``: matched by name to its columns, or, for a model
    that takes its inputs by position, every column but the target(s) in order."""
    if not spec:
        raise ValueError("give the data with --data (a file or an embedded dataset name)")
    source = _open(spec)
    if isinstance(source, datasets.Dataset):
        _no_target(source, target)
    table = _dataset_table(source) if isinstance(source, datasets.Dataset) else source
    if model.columns is not None:
        missing = [name for name in model.columns if name not in table.columns]
        if missing and isinstance(source, datasets.Dataset):
            raise ValueError(f"the dataset {source.name!r} lacks the model's feature column(s) "
                             f"{missing[:5]}; it has {source.feature_names[:8]}")
        return table
    left_out = set(_target_list(target) if target else [])
    if isinstance(source, datasets.Dataset):
        left_out = set(source.target_names)
    inputs = [name for name in table.columns if name not in left_out]
    if len(inputs) != model.net.n_inputs:
        raise ValueError(f"{spec}: {len(inputs)} columns ({', '.join(inputs[:8])}), but the model takes "
                         f"{model.net.n_inputs} inputs by position; leave out target columns with "
                         "--target")
    return Table({name: table.columns[name] for name in inputs}, table.source)


def labelled_rows(spec: str | None, target: str | None, model: Model) -> tuple[Table, np.ndarray]:
    """The rows of ``spec`` for ``model`` and their targets (``--target``, else the model's;
    labels in canonical form for a classifier)."""
    if not spec:
        raise ValueError("give the data with --data (a file or an embedded dataset name)")
    source = _open(spec)
    if isinstance(source, datasets.Dataset):
        _no_target(source, target)
        y = source.y
    else:
        names = _target_list(target) if target else model.preprocessing.target_names
        if not names:
            raise ValueError(f"{spec}: name the target column(s) with --target: the model takes its "
                             f"{model.net.n_inputs} inputs by position and knows no target name "
                             f"(columns: {', '.join(source.names)})")
        y = source.targets(names)
        target = ",".join(names)
    rows = model_rows(spec, target, model)
    return rows, canonical_labels(y) if model.task == "classify" else y


def _no_target(source: datasets.Dataset, target: str | None) -> None:
    """An embedded dataset has its own target: a --target given with one is refused, never
    silently ignored."""
    if target:
        raise ValueError(f"--target is for data files; the embedded dataset {source.name!r} has "
                         f"its target ({', '.join(source.target_names)})")


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


def _dataset_table(source: datasets.Dataset) -> Table:
    """An embedded dataset's feature columns by name (models match them by name, not position)."""
    return Table({name: source.X[:, j] for j, name in enumerate(source.feature_names)},
                 f"the dataset {source.name!r}")
