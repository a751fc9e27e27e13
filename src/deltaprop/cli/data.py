"""Where the command line's data come from: a file (:mod:`deltaprop.data.tables`) or an embedded
dataset by name (:mod:`deltaprop.data.datasets`), whether the task is classification, and the
rows a model reads from them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deltaprop.cli.stream import Stream, StreamStats, folder_table, open_stream, scan, streams
from deltaprop.data import datasets
from deltaprop.data.labels import MAX_CLASSES, LabelEncoder, canonical_labels
from deltaprop.data.preprocessing import Preprocessing
from deltaprop.data.tables import Table, read_table
from deltaprop.files.model import Model
from deltaprop.losses import get_loss
from deltaprop.tuning.data import MAX_INTEGER_CLASSES, read_task
from deltaprop.tuning.options import REGRESSION_ONLY as REGRESSION_ONLY  # cli.doctor's too


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

    @property
    def n_targets(self) -> int:
        return int(self.Y.shape[1])


class StreamedData(TrainingData):
    """Training data streamed (:mod:`deltaprop.cli.stream`), never read whole: what ``train``
    needs of them, from one pass (its rows, scaling statistics, task and classes); ``X``,
    ``y`` and ``rows`` are refused by name (``--auto``, sweep and resume read data whole)."""

    def __init__(self, name: str, stream: Stream, stats: StreamStats, task: str,
                 classes: np.ndarray | None = None) -> None:
        self.name, self.stream, self.stats, self.task, self.classes = name, stream, stats, task, classes
        self.feature_names, self.target_names = stream.feature_names, stream.target_names
        self.categories = {}

    def __repr__(self) -> str:
        return f"StreamedData({self.name!r}, {self.stats.n_rows} rows, {self.task})"

    def __getattr__(self, name: str) -> Any:
        if name not in ("X", "y", "rows"):
            raise AttributeError(name)
        raise ValueError(f"{self.name} is streamed (a folder of shards, or a file larger than "
                         "memory), never read whole: deltaprop train --auto, sweep and resume need "
                         "data that fit in memory")

    @property
    def n_targets(self) -> int:
        return len(self.target_names)

    def preprocessing(self, scale_targets: bool) -> Preprocessing:
        """The model's preprocessing from the pass's statistics: the features standardized as
        ``Standardizer.fit`` would on every row, the labels, and (``scale_targets``) the
        regression targets in standard units."""
        labels = None if self.classes is None else LabelEncoder(self.classes)
        targets = self.stats.y.standardizer() if scale_targets and labels is None else None
        return Preprocessing(self.task, self.feature_names, {}, self.stats.x.standardizer(), labels,
                             self.target_names, targets)


def training_data(spec: str, target: str | None, *, task: str | None, one_hot: bool,
                  loss: str | None = None, stream: bool = False,
                  whole: bool = False) -> TrainingData:
    """Read ``spec`` (a file or a dataset name) and decide the task (a regression-only ``loss``,
    such as poisson on counts, means regression however the target looks). Data that stream
    (``stream``, i.e. ``--stream``; a folder; a ``.npy`` or ``.parquet`` file too large for
    memory: :func:`deltaprop.cli.stream.streams` decides) are not read but streamed
    (:func:`streamed_data`), unless ``whole`` (commands that need every row at once: sweep,
    ``--auto``, resume): then a folder is read whole if it fits in memory, and what does not
    fit is refused before any of it is read."""
    if whole:
        target = _whole(spec, target)
    elif streams(spec, asked=stream):
        return streamed_data(spec, target, task=task, one_hot=one_hot, loss=loss)
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
        task = task or read_task(np.asarray(y))
    if task == "classify":
        y = canonical_labels(y)
        return TrainingData(spec, rows, X, y, features, targets, task, _classes(y, targets), categories)
    if np.asarray(y).dtype.kind in "OUS":
        raise ValueError("the target holds text (class labels); use --task classify")
    return TrainingData(spec, rows, X, y, features, targets, task, None, categories)


def _whole(spec: str, target: str | None) -> str | None:
    """The target of ``spec`` read whole: a folder's (a ``.npy`` folder's are its ``y``
    columns), checked as a stream checks it; a file too large for memory is refused."""
    if os.path.isdir(spec):
        return ",".join(open_stream(spec, _target_list(target) if target else None).target_names)
    if streams(spec):
        raise ValueError(f"{spec} is too large to read whole here; this command needs data that "
                         "fit in memory (deltaprop train streams it): give a sample of it")
    return target


def streamed_data(spec: str, target: str | None, *, task: str | None, one_hot: bool,
                  loss: str | None = None) -> StreamedData:
    """``spec`` as a stream (:mod:`deltaprop.cli.stream`), after one pass over it: its rows
    checked and counted, its scaling statistics, its task and classes decided as for data
    read whole (labels: a single whole-number target of few values, or ``--task classify``)."""
    if one_hot:
        raise ValueError("--one-hot does not go with streamed data (a folder, or --stream): "
                         "streams take numeric columns only")
    if task is None and loss is not None and get_loss(loss).name in REGRESSION_ONLY:
        task = "regress"
    stream = open_stream(spec, _target_list(target) if target else None)
    counts = loss is not None and get_loss(loss).name in REGRESSION_ONLY
    cap = MAX_CLASSES if task == "classify" else MAX_INTEGER_CLASSES
    stats = scan(stream, cap=cap, counts=counts)
    if task is None:
        task = "regress" if stats.labels is None else read_task(stats.labels)
    if task == "regress":
        return StreamedData(spec, stream, stats, task)
    if stats.labels is None:
        raise ValueError("classification takes one target column; several targets mean "
                         "--task regress")
    labels = canonical_labels(stats.labels)
    if len(labels) > cap:  # the scan stopped collecting: a fraction among them is named first
        _classes(labels, stream.target_names)
        raise ValueError(f"classification needs labels, but the target {stream.target_names[0]!r} "
                         f"holds more than {cap:,} distinct values; use --task regress")
    classes = _classes(labels, stream.target_names)
    return StreamedData(spec, stream, stats, task, classes)


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


def _open(spec: str) -> Table | datasets.Dataset:
    if os.path.isdir(spec):  # a folder of shards, read whole (train streams it instead)
        return folder_table(spec)
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
