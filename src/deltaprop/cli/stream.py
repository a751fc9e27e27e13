"""``deltaprop train --data FOLDER``: training on data larger than memory from the command line.

What streams: a folder of ``X_*.npy``/``y_*.npy`` shards (paired as :func:`dp.stream.NpyShards.
from_folder` pairs them) or of ``.parquet`` files (the target column(s) named by ``--target``),
and a single ``.npy`` or ``.parquet`` file given with ``--stream`` or too large for memory
(:func:`streams`); a ``.npy`` file's columns are ``x0, x1, ...`` as when it is read whole, and
``--target`` names its target column(s) (``--target x9``): the same command trains in memory
or streamed.

One streaming pass (:func:`scan`, giving :class:`deltaprop.cli.data.StreamedData`) checks every
value (a NaN or an infinity is named by its file and row), counts the rows, collects the labels
and computes the features' (and regression targets') means and standard deviations by merged
running moments; the model file stores them as it stores the statistics of data read whole, so
``predict`` and ``evaluate`` scale new rows alike. Training then streams the scaled rows through
:func:`dp.stream.fit_stream` with the command line's ``--chunk-rows`` and ``--buffer-rows`` (its
own names and defaults), the progress counting rows
(:class:`~deltaprop.callbacks.progress.RowProgress`). Memory: one chunk in
the pass, a shuffle buffer and a chunk in training, whatever the size of the data.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from deltaprop.callbacks.progress import RowProgress
from deltaprop.cli.budget import check_fits, physical_memory
from deltaprop.data.parquet import ParquetShards
from deltaprop.data.preprocessing import RunningMoments
from deltaprop.data.stream import (
    CHUNK_ROWS,
    Block,
    NpyArray,
    NpyColumns,
    NpyShards,
    TransformedSource,
)
from deltaprop.data.tables import Table, read_table
from deltaprop.history import History
from deltaprop.training import parallel
from deltaprop.training.fit import fit_stream
from deltaprop.training.options import FitOptions

Array = np.ndarray
STREAMED = (".npy", ".parquet")  # the files that stream besides a folder
# Reading a file whole holds it about this many times as float64 (its columns, X, the scaled
# X and the training rows): above the memory available, it streams instead.
IN_MEMORY_COPIES = 4
BUFFER_COPIES = 3
SAMPLE_ROWS = 2048  # rows of the stream the doctor looks at after training


@dataclass
class Stream:
    """A source to stream and the names of its columns, as a model stores them."""

    source: Any
    feature_names: list[str]
    target_names: list[str]


@dataclass
class StreamStats:
    """What one pass over a stream found: its rows, the running moments of its features and
    targets, and the distinct values of a single target (None for several; at most ``cap + 1``
    of them when capped, enough to tell labels from numbers)."""

    n_rows: int
    x: RunningMoments
    y: RunningMoments
    labels: Array | None


def streams(spec: str, asked: bool = False) -> bool:
    """Whether ``--data spec`` streams: ``asked`` (``--stream``), a folder, or a ``.npy`` or
    ``.parquet`` file that would not fit in the memory available if read whole. The one
    place that decides, asked before anything is read (a file that streams is never read
    whole first)."""
    if asked or os.path.isdir(spec):
        return True
    if not (os.path.isfile(spec) and spec.lower().endswith(STREAMED)):
        return False
    try:
        values = _values(spec)
    except (ValueError, OSError, ImportError):  # a damaged file: reading it whole names the problem
        return False
    available = available_memory()
    return available is not None and IN_MEMORY_COPIES * 8 * values > available


def _values(path: str) -> int:
    """The numbers in the file ``path`` (its header's or footer's shape)."""
    if path.lower().endswith(".npy"):
        return math.prod(NpyArray.open(path).shape)
    return math.prod(_parquet_shape(path))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux's MemAvailable), else the
    machine's memory (None where the system does not say)."""
    try:
        with open("/proc/meminfo") as lines:
            for line in lines:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return physical_memory()


def open_stream(spec: str, target: list[str] | None) -> Stream:
    """The stream of ``--data spec``: a folder of shards or Parquet files, or one ``.npy`` or
    ``.parquet`` file, its target column(s) ``target`` (names; none for ``.npy`` shards, whose
    ``y_*.npy`` files are the target)."""
    if os.path.isdir(spec):
        return _open_folder(spec, target)
    if not os.path.exists(spec):
        raise FileNotFoundError(f"{spec!r} is no file or folder; --stream takes a folder of "
                                "shards, a .npy or a .parquet file")
    if not os.path.isfile(spec) or not spec.lower().endswith(STREAMED):
        raise ValueError(f"{spec}: --stream takes a folder of shards, a .npy or a .parquet file")
    if not target:
        columns = _npy_names(spec) if spec.lower().endswith(".npy") else None
        listed = f" (columns: {_listed(columns)})" if columns else ""
        raise ValueError(f"{spec}: name the target column(s) with --target{listed}")
    if spec.lower().endswith(".parquet"):
        return _parquet_stream([spec], target)
    names = _npy_names(spec)
    twice = [name for j, name in enumerate(target) if name in target[:j]]
    if twice:
        raise ValueError(f"{spec}: --target names the column {twice[0]!r} twice")
    missing = [name for name in target if name not in names]
    if missing:
        raise ValueError(f"{spec}: no column {missing[0]!r}; the columns of a .npy file are "
                         f"{_listed(names)}")
    source = NpyColumns(spec, [names.index(name) for name in target])
    return Stream(source, [names[j] for j in source.features], list(target))


def _npy_names(path: str) -> list[str]:
    """A ``.npy`` file's column names, as a data file's (``x0, x1, ...``)."""
    shape = NpyArray.open(path).shape
    if len(shape) != 2:
        raise ValueError(f"{path} holds an array of shape {shape}; a .npy data file needs a 2-D "
                         "array (n_samples, n_columns)")
    return [f"x{j}" for j in range(shape[1])]


def _listed(names: list[str]) -> str:
    return ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")


def _open_folder(folder: str, target: list[str] | None) -> Stream:
    """A folder of ``X_*.npy`` and ``y_*.npy`` shards, or of ``.parquet`` files: nothing else
    (hidden files aside), so that a stray file is named rather than trained on or skipped."""
    entries = _entries(folder)
    if not entries:
        raise ValueError(f"{folder} is an empty folder; give a folder of X_*.npy and y_*.npy shards, "
                         "or of .parquet files")
    kinds = {name: os.path.splitext(name)[1].lower() for name in entries}
    other = [name for name, kind in kinds.items() if kind not in STREAMED
             or not os.path.isfile(os.path.join(folder, name))]
    if other:
        raise ValueError(f"{folder}: {other[0]} is neither a .npy shard nor a .parquet file; a folder "
                         "to stream holds X_*.npy and y_*.npy shards, or .parquet files, only")
    if len(set(kinds.values())) > 1:
        raise ValueError(f"{folder} holds both .npy and .parquet files; stream one kind from a folder")
    if kinds[entries[0]] == ".parquet":
        if not target:
            raise ValueError(f"{folder}: name the Parquet files' target column(s) with --target")
        return _parquet_stream([os.path.join(folder, name) for name in entries], target)
    if target:
        raise ValueError(f"--target is for Parquet files and single files; the y_*.npy shards of "
                         f"{folder} are the target")
    source = NpyShards.from_folder(folder)
    X, y = source.shards[0]
    # a y shard of one column is one target, as a 1-D one (see one_target)
    targets = ["y"] if math.prod(y.shape[1:]) == 1 else [f"y{j}" for j in range(y.shape[1])]
    return Stream(source, [f"x{j}" for j in range(X.shape[1])], targets)


def folder_table(folder: str) -> Table:
    """A folder of shards read whole, as a data file's table (for ``evaluate``, ``predict``,
    ``gradcheck``...): ``.npy`` shards as the columns ``x0, x1, ...`` and ``y`` (``y0, ...``),
    Parquet files as their columns; refused when it would not fit in the memory available."""
    first = _open_folder(folder, None) if not _holds_parquet(folder) else None
    if first is None:  # Parquet: every column, read by the data-file reader
        paths = [os.path.join(folder, name) for name in _entries(folder)]
        shapes = [_parquet_shape(path) for path in paths]
        _check_whole(folder, sum(rows for rows, _ in shapes), max(columns for _, columns in shapes))
        tables = [read_table(path) for path in paths]
        for table in tables[1:]:
            if table.names != tables[0].names:
                raise ValueError(f"{table.source}: columns {table.names} differ from "
                                 f"{tables[0].source}'s {tables[0].names}")
        return Table({name: np.concatenate([t.columns[name] for t in tables])
                      for name in tables[0].names}, folder)
    names = first.feature_names + first.target_names
    _check_whole(folder, first.source.n_rows, len(names))
    blocks = list(first.source.scan(CHUNK_ROWS))
    X = np.concatenate([np.asarray(b.X, dtype=np.float64) for b in blocks])
    y = np.concatenate([np.asarray(b.y, dtype=np.float64).reshape(len(b.y), -1) for b in blocks])
    columns = np.column_stack([X, y])
    return Table({name: np.ascontiguousarray(columns[:, j]) for j, name in enumerate(names)}, folder)


def _parquet_shape(path: str) -> tuple[int, int]:
    """A Parquet file's rows and columns, from its footer."""
    import pyarrow.parquet as pq  # (optional: only Parquet files need it)

    metadata = pq.ParquetFile(path).metadata
    return int(metadata.num_rows), int(metadata.num_columns)


def _check_whole(folder: str, rows: int, columns: int) -> None:
    """Refuse a folder of ``rows`` rows of ``columns`` columns too large to read whole in the
    memory available, before any of it is read."""
    available = available_memory()
    if available is not None and IN_MEMORY_COPIES * 8 * rows * columns > available:
        raise ValueError(f"{folder} holds {rows:,} rows of {columns} columns, too many to read "
                         "whole here; deltaprop train streams it, other commands need data that "
                         "fit in memory")


def _holds_parquet(folder: str) -> bool:
    entries = _entries(folder)
    return bool(entries) and all(name.lower().endswith(".parquet") for name in entries)


def _entries(folder: str) -> list[str]:
    """The files of ``folder`` but hidden ones, sorted."""
    return sorted(name for name in os.listdir(folder) if not name.startswith("."))


def _parquet_stream(paths: list[str], target: list[str]) -> Stream:
    source = ParquetShards(paths, target)
    return Stream(source, list(source.features), list(source.target))


def scan(stream: Stream, *, cap: int | None, counts: bool = False,
         chunk_rows: int = CHUNK_ROWS) -> StreamStats:
    """One pass over ``stream``, a chunk at a time: every value checked finite (and the
    targets non-negative, for ``counts``), the rows counted, the moments of features and
    targets, the distinct labels of a single target (up to ``cap + 1`` of them; all with
    ``cap=None``). A bad value is named by its file and row here, where both are known (the
    training's own checks see rows of a shuffle buffer)."""
    x, y = RunningMoments(), RunningMoments()
    labels: Array | None = None
    n_rows = 0
    for block in stream.source.scan(chunk_rows):
        block = replace(block, y=one_target(block.y))
        _check_finite(block, stream)
        if counts and (block.y < 0).any():
            row = int(np.argwhere(block.y.reshape(len(block.y), -1) < 0)[0][0])
            raise ValueError(f"{block.y_path}: row {block.start + row} (counting from 0) holds a "
                             "negative target; poisson takes counts or rates (>= 0)")
        x.add(block.X)
        y.add(block.y)
        n_rows += len(block.X)
        if block.y.ndim == 1 and (cap is None or labels is None or len(labels) <= cap):
            found = np.unique(block.y)
            labels = found if labels is None else np.union1d(labels, found)
    if not n_rows:
        raise ValueError("the stream holds no rows: every shard is empty")
    return StreamStats(n_rows, x, y, labels)


def one_target(y: Array) -> Array:
    """Targets of one column as a 1-D array (a ``y`` shard of shape (n, 1) holds one target,
    as a 1-D one does: its labels classify alike); several columns as they are."""
    return y.reshape(len(y)) if y.ndim > 1 and math.prod(y.shape[1:]) == 1 else y


def _check_finite(block: Block, stream: Stream) -> None:
    """Raise naming the file, row and column of the first NaN or infinity of ``block``."""
    for values, path, names in ((block.X, block.x_path, stream.feature_names),
                                (block.y, block.y_path, stream.target_names)):
        if values.dtype.kind != "f":  # whole numbers are always finite
            continue
        finite = np.isfinite(values.reshape(len(values), -1))
        if not finite.all():
            row, column = np.argwhere(~finite)[0]
            value = values.reshape(len(values), -1)[row, column]
            raise ValueError(f"{path}: row {block.start + int(row)} (counting from 0) holds {value} "
                             f"in column {names[int(column)]!r}; fill or drop it before training")


def check_streamed(args: argparse.Namespace) -> None:
    """Refuse, by name, the options a stream does not take (``dp.stream.fit_stream`` has no
    validation split, restarts, checkpoints or MPI)."""
    refused = [
        (args.val_fraction, "--val-fraction", "a stream has no validation split"),
        (args.early_stopping is not None, "--early-stopping", "a stream has no validation split"),
        (args.test_fraction, "--test-fraction", "every streamed row is trained on; hold out "
         "shards of your own and score them with deltaprop evaluate"),
        (args.restarts != 1, "--restarts", "a stream is trained once"),
        (args.n_jobs is not None, "--n-jobs", "a stream is trained once, in this process"),
        (args.checkpoint_every is not None or args.checkpoint, "--checkpoint-every",
         "a stream is not checkpointed"),
        (getattr(args, "auto", False), "--auto", "the search trains in memory"),
        (args.batch_size == "full", "--batch-size full", "a full batch is all the rows at once"),
        (parallel.launched_comm() is not None, "mpiexec", "a stream trains in one process"),
    ]
    for given, option, why in refused:
        if given:
            raise ValueError(f"{option} does not go with streamed data (a folder, or --stream): "
                             f"{why}")
    for option, value in (("--chunk-rows", args.chunk_rows), ("--buffer-rows", args.buffer_rows)):
        if value < 1:
            raise ValueError(f"{option} must be at least 1, got {value}")


def check_stream_memory(args: argparse.Namespace, width: int) -> None:
    """Refuse a shuffle buffer too large for this machine (see cli.budget): it is held about
    ``BUFFER_COPIES`` times in float64 (read, scaled, gathered), with a chunk besides."""
    rows = args.buffer_rows + args.chunk_rows
    check_fits(BUFFER_COPIES * 8 * rows * (width + 1),
               f"--buffer-rows {args.buffer_rows:,} and --chunk-rows {args.chunk_rows:,} ({width:,} "
               "features)")


def fit_streamed(model: Any, stream: Stream, n_rows: int, options: FitOptions,
                 args: argparse.Namespace,
                 encode: Callable[[Array], Array]) -> tuple[History, tuple[Array, Array]]:
    """Train ``model.net`` on ``stream`` (of ``n_rows`` rows), its rows scaled by
    ``model.preprocessing`` and its targets by ``encode``, as ``args`` say; the history and a
    sample of the training rows (as the network saw them) for the doctor."""
    preprocessing, dtype = model.preprocessing, model.net.dtype

    def transform(X: Array, y: Array) -> tuple[Array, Array]:
        # scaled in float64, as data read whole, then held in the network's dtype: the shuffle
        # buffer of float64 rows would be twice the size
        X = preprocessing.inputs(np.asarray(X, dtype=np.float64)).astype(dtype, copy=False)
        return X, encode(one_target(y))

    source = TransformedSource(stream.source, transform)
    callbacks = [] if args.quiet else [RowProgress(n_rows, int(options.batch_size),
                                                   options.epochs)]
    history = fit_stream(model.net, source, loss=options.loss, optimizer=options.optimizer,
                         epochs=options.epochs, batch_size=int(options.batch_size),
                         buffer_rows=args.buffer_rows, chunk_rows=args.chunk_rows, l2=options.l2,
                         callbacks=callbacks, engine=options.engine)
    sample = next(source.chunks(SAMPLE_ROWS, np.random.default_rng(args.seed)))
    return history, sample
