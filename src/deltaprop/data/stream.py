"""Data larger than memory: minibatches streamed from ``.npy`` files, a folder of ``.npy`` shards
or Parquet files, shuffled within a buffer, never loading everything.

A source is a list of shards, each a pair of row-aligned parts (X, y). ``.npy`` files are read
with plain file reads at computed offsets (no memory map, whose touched pages would count as
the process's memory), Parquet files row group by row group (:mod:`deltaprop.data.parquet`).
Each epoch visits the shards in a random order, reads them in chunks of ``chunk_rows`` in a
random order, and keeps a buffer of ``buffer_rows`` rows; when it is full its rows are shuffled
and cut into minibatches. Memory: the buffer and one chunk, whatever the size of the data.

    source = dp.stream.NpyShards.from_folder("data/")       # X_000.npy + y_000.npy, ...
    history = dp.stream.fit_stream(net, source, loss="cross_entropy", epochs=3, batch_size=256)

(``fit_stream`` is :func:`deltaprop.training.fit.fit_stream`; ``dp.stream`` gathers both.)
:class:`NpyColumns` streams one ``.npy`` file whose target is among its columns. Each source
also has ``scan(chunk_rows)``: every row once in file order, each chunk a :class:`Block` that
says where it was read, for one pass of checks and statistics before training (the means
and standard deviations of data larger than memory:
:class:`~deltaprop.data.preprocessing.RunningMoments`).
:class:`StreamSource` is such a source as a data source of the training loop: each shuffle
buffer becomes one run of minibatches for the engine (:mod:`deltaprop.engine.step`).
"""

from __future__ import annotations

import glob
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop._validation import TargetLoss, check_data, check_positive
from deltaprop.data.arrays import Trained
from deltaprop.data.batches import Epoch, Minibatches, check_validation_data
from deltaprop.data.npy import NUMBERS, read_npy_header

Array = np.ndarray
# What dp.stream.fit_stream reads at a time and shuffles together, unless told otherwise (its
# defaults, and the command line's).
CHUNK_ROWS = 8192
BUFFER_ROWS = 65536


@dataclass
class NpyArray:
    """A 2-D (or 1-D) ``.npy`` file read by row ranges without mapping it into memory.

    The header's shape is checked against the file's size when it is opened, and every read
    against the bytes it got: a truncated file is an error naming it and its rows, never rows
    of uninitialized memory.
    """

    path: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    offset: int

    @classmethod
    def open(cls, path: str) -> NpyArray:
        """The array of the ``.npy`` file ``path``, its header read and checked (no data read)."""
        with open(path, "rb") as stream:
            shape, dtype, offset = _read_header(path, stream)
            size = os.fstat(stream.fileno()).st_size
        array = cls(path, shape, dtype, offset)
        array._check_size(size - offset)
        return array

    @property
    def rows(self) -> int:
        return self.shape[0]

    @property
    def row_bytes(self) -> int:
        """Bytes per row (one value for a 1-D file)."""
        return math.prod(self.shape[1:]) * self.dtype.itemsize

    def read(self, start: int, stop: int) -> Array:
        """Rows start..stop-1, read from the file into a new array."""
        if not 0 <= start <= stop <= self.rows:
            raise ValueError(f"{self.path}: rows {start}..{stop} lie outside its {self.rows} rows")
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        buffer = memoryview(out).cast("B")  # type: ignore[arg-type]
        with open(self.path, "rb") as stream:
            stream.seek(self.offset + start * self.row_bytes)
            got = 0
            while got < len(buffer):  # a short read is the end of the file, or a slow device
                count = stream.readinto(buffer[got:])
                if not count:
                    break
                got += count
            if got < len(buffer):  # truncated since it was opened
                self._check_size(os.fstat(stream.fileno()).st_size - self.offset)
                raise ValueError(f"{self.path}: rows {start}..{stop - 1} could not be read: the "
                                 "file was truncated while streaming")
        return out

    def _check_size(self, data_bytes: int) -> None:
        """Raise unless ``data_bytes`` bytes of data hold every row the header declares."""
        declared = self.rows * self.row_bytes
        if data_bytes > declared:  # e.g. a header saying <f4 over <f8 data: garbage if streamed
            raise ValueError(f"{self.path}: its header declares shape {self.shape} of {self.dtype} "
                             f"({declared} bytes) but the file holds {data_bytes} bytes of data: the header "
                             "does not describe the data (a wrong dtype or shape?); save it again")
        if data_bytes < declared:
            held = data_bytes // self.row_bytes if self.row_bytes else 0
            raise ValueError(
                f"{self.path}: truncated .npy file: its header declares {self.rows} rows "
                f"(shape {self.shape}) but the file holds {held} whole rows "
                f"({data_bytes} bytes of data); write the file again"
            )


def _read_header(path: str, stream: Any) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    """(shape, dtype, data offset) of a ``.npy`` file open at its start, checked for streaming:
    C order, numbers, 1-D or 2-D, a shape of whole sizes (nothing allocated yet)."""
    header = read_npy_header(stream, path, kinds=None)  # numbers are checked below, with the rest
    shape, fortran, dtype = header.shape, header.fortran_order, header.dtype
    if fortran or dtype.kind not in NUMBERS or len(shape) not in (1, 2):
        raise ValueError(f"{path}: stream from C-ordered numeric 1-D or 2-D .npy files only; "
                         f"this one holds {dtype} of shape {shape}"
                         + (" in Fortran order" if fortran else ""))
    if len(shape) == 2 and shape[1] == 0 and shape[0] > 0:
        raise ValueError(f"{path}: the header's shape {shape} is not a shape of rows to stream")
    return shape, dtype, header.offset


class NpyShards:
    """Row-aligned ``.npy`` pairs (X, y): one pair for a single big file, or many shards."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        if isinstance(pairs, (str, os.PathLike)) or not pairs or not all(
                isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in pairs):
            raise ValueError("a stream needs a list of (X, y) pairs of .npy files, e.g. "
                             "[('X_0.npy', 'y_0.npy')]; for a folder use NpyShards.from_folder")
        self.shards = [(NpyArray.open(os.fspath(x)), NpyArray.open(os.fspath(y))) for x, y in pairs]
        for X, y in self.shards:
            if X.rows != y.rows:
                raise ValueError(f"{X.path} has {X.rows} rows but {y.path} has {y.rows}")
            if len(X.shape) != 2:
                raise ValueError(f"{X.path} has shape {X.shape}; the X files must be 2-D "
                                 "(n_samples, n_features)")
        _check_same_width([X for X, _ in self.shards], "X")
        _check_same_width([y for _, y in self.shards], "y")  # chunks of all shards are concatenated

    @classmethod
    def from_folder(cls, folder: str, x_pattern: str = "X_*.npy", y_pattern: str = "y_*.npy") -> NpyShards:
        """The shards ``X_*.npy`` and ``y_*.npy`` of ``folder``, each X paired with the y whose
        wildcards match the same text (``X_007.npy`` with ``y_007.npy``), in sorted order; an X
        without its y or a y without its X is a ValueError naming them (pairing by position
        would train on another shard's labels)."""
        xs, ys = _shards_by_key(folder, x_pattern), _shards_by_key(folder, y_pattern)
        if not xs:
            raise ValueError(f"{folder}: no X shards match {x_pattern!r}; X and y shards must pair up")
        unpaired = _unpaired(xs, ys, "X", "a y") + _unpaired(ys, xs, "y", "an X")
        if unpaired:
            raise ValueError(f"{folder}: shards that do not pair up: {'; '.join(unpaired)} (X and y pair "
                             f"by the text the wildcards of {x_pattern!r} and {y_pattern!r} match)")
        return cls([(xs[key], ys[key]) for key in sorted(xs)])

    @property
    def n_rows(self) -> int:
        return sum(X.rows for X, _ in self.shards)

    def chunks(self, chunk_rows: int, rng: np.random.Generator) -> Iterator[tuple[Array, Array]]:
        """(X, y) chunks of up to ``chunk_rows`` rows: shards in a random order, chunks within a
        shard in a random order."""
        for i in rng.permutation(len(self.shards)):
            X, y = self.shards[i]
            starts = np.arange(0, X.rows, chunk_rows)
            for start in rng.permutation(starts):
                stop = min(int(start) + chunk_rows, X.rows)
                yield X.read(int(start), stop), y.read(int(start), stop)

    def scan(self, chunk_rows: int) -> Iterator[Block]:
        """Every row once, in file order, each chunk with where it was read."""
        for X, y in self.shards:
            for start in range(0, X.rows, chunk_rows):
                stop = min(start + chunk_rows, X.rows)
                yield Block(X.path, y.path, start, X.read(start, stop), y.read(start, stop))


@dataclass
class Block:
    """A chunk read in file order, with where it came from (for messages naming a row):
    rows ``start ..`` of the file ``x_path`` (features) and ``y_path`` (targets)."""

    x_path: str
    y_path: str
    start: int
    X: Array
    y: Array


class NpyColumns:
    """One 2-D ``.npy`` file of rows, its target column(s) named by index, every other column
    a feature: a single file larger than memory, read by row ranges.

    Parameters
    ----------
    path : str
    target : sequence of int
        The target columns (one: ``y`` of shape (n,); several: (n, k)).
    """

    def __init__(self, path: str, target: Sequence[int]) -> None:
        self.array = NpyArray.open(os.fspath(path))
        if len(self.array.shape) != 2:
            raise ValueError(f"{path} holds an array of shape {self.array.shape}; a stream of rows "
                             "needs a 2-D array (n_samples, n_columns)")
        width = self.array.shape[1]
        self.target = [int(j) for j in target]
        if not self.target or len(set(self.target)) < len(self.target) or not all(
                0 <= j < width for j in self.target):
            raise ValueError(f"{path}: the target columns {list(target)} must be distinct columns "
                             f"of its {width}")
        self.features = [j for j in range(width) if j not in self.target]
        if not self.features:
            raise ValueError(f"{path}: every column is a target; a stream needs a feature column")

    @property
    def n_rows(self) -> int:
        return self.array.rows

    def _split(self, rows: Array) -> tuple[Array, Array]:
        y = rows[:, self.target]
        return rows[:, self.features], y[:, 0] if y.shape[1] == 1 else y

    def chunks(self, chunk_rows: int, rng: np.random.Generator) -> Iterator[tuple[Array, Array]]:
        """(X, y) chunks of up to ``chunk_rows`` rows, in a random order."""
        for start in rng.permutation(np.arange(0, self.n_rows, chunk_rows)):
            yield self._split(self.array.read(int(start), min(int(start) + chunk_rows, self.n_rows)))

    def scan(self, chunk_rows: int) -> Iterator[Block]:
        """Every row once, in file order, each chunk with where it was read."""
        for start in range(0, self.n_rows, chunk_rows):
            X, y = self._split(self.array.read(start, min(start + chunk_rows, self.n_rows)))
            yield Block(self.array.path, self.array.path, start, X, y)


class TransformedSource:
    """A source whose chunks pass through ``transform(X, y) -> (X, y)`` as they are read
    (the model's preprocessing: scaled features, encoded targets)."""

    def __init__(self, source: Any, transform: Callable[[Array, Array], tuple[Array, Array]]) -> None:
        self.source, self.transform = source, transform

    @property
    def n_rows(self) -> int:
        return int(self.source.n_rows)

    def chunks(self, chunk_rows: int, rng: np.random.Generator) -> Iterator[tuple[Array, Array]]:
        for X, y in self.source.chunks(chunk_rows, rng):
            yield self.transform(X, y)


def _check_same_width(parts: list[NpyArray], what: str) -> None:
    """Raise unless the files ``parts`` have one shape per row (naming two that differ)."""
    for part in parts[1:]:
        if part.shape[1:] != parts[0].shape[1:]:
            raise ValueError(f"the shards' {what} files have different widths: {parts[0].path} has shape "
                             f"{parts[0].shape}, {part.path} {part.shape}; give them all the same shape")


def _shards_by_key(folder: str, pattern: str) -> dict[tuple[str, ...], str]:
    """The files of ``folder`` matching the glob ``pattern``, keyed by what its wildcards match."""
    regex = re.compile("".join(_wildcard_regex(part) for part in re.split(r"(\*|\?|\[[^]]*\])", pattern)))
    paths = {}
    for path in glob.glob(os.path.join(glob.escape(folder), pattern)):
        match = regex.fullmatch(os.path.relpath(path, folder))
        if match:  # glob and the regex differ only on corner cases (odd brackets)
            paths[match.groups()] = path
    return paths


def _wildcard_regex(part: str) -> str:
    """A piece of a glob pattern as a regex splitting a path glob matched: each wildcard
    captures what it matched (a bracket one character), anything else is literal."""
    if part == "*":
        return "(.*)"
    return "(.)" if part == "?" or (len(part) > 2 and part[0] + part[-1] == "[]") else re.escape(part)


def _unpaired(paths: dict[Any, str], others: dict[Any, str], what: str, partner: str) -> list[str]:
    """'X X_1.npy, X_4.npy without a y': the files of ``paths`` whose key ``others`` lacks."""
    alone = [os.path.basename(paths[key]) for key in sorted(paths.keys() - others.keys())]
    more = f" and {len(alone) - 5} more" if len(alone) > 5 else ""
    return [f"{what} {', '.join(alone[:5])}{more} without {partner}"] if alone else []


def shuffled_buffers(source: Any, batch_size: int, buffer_rows: int, chunk_rows: int,
                     rng: np.random.Generator,
                     min_batch: int = 1) -> Iterator[tuple[Array, Array, list[Array]]]:
    """Shuffle buffers from ``source``: chunks fill a buffer of ``buffer_rows`` rows, whose rows
    are shuffled and cut into full batches; the rows left over stay for the next buffer, so only
    the epoch's last batch is smaller (and dropped if below ``min_batch``). Yields each buffer's
    (X, y) and its batches' rows; the next buffer is read (and shuffled) only once they are used."""
    pending_X: list[Array] = []
    pending_y: list[Array] = []
    held = 0
    for X, y in source.chunks(chunk_rows, rng):
        pending_X.append(X)
        pending_y.append(y)
        held += X.shape[0]
        if held >= buffer_rows:
            X_all, y_all = np.concatenate(pending_X), np.concatenate(pending_y)
            order = rng.permutation(held)
            full = held - held % batch_size
            yield X_all, y_all, [order[start:start + batch_size] for start in range(0, full, batch_size)]
            pending_X, pending_y = [], []
            if full < held:  # carried over: mixed into the next buffer
                pending_X, pending_y = [X_all[order[full:]]], [y_all[order[full:]]]
            held -= full
    if held >= min_batch:
        X_all, y_all = np.concatenate(pending_X), np.concatenate(pending_y)
        order = rng.permutation(held)
        yield X_all, y_all, [order[start:start + batch_size] for start in range(0, held, batch_size)
                             if held - start >= min_batch]


def shuffled_batches(source: Any, batch_size: int, buffer_rows: int, chunk_rows: int,
                     rng: np.random.Generator, min_batch: int = 1) -> Iterator[tuple[Array, Array]]:
    """The minibatches (X, y) of :func:`shuffled_buffers`, one by one."""
    for X_all, y_all, batches in shuffled_buffers(source, batch_size, buffer_rows, chunk_rows, rng,
                                                  min_batch):
        for rows in batches:
            yield X_all[rows], y_all[rows]


class StreamSource:
    """A source too large for memory as a data source of the training loop: each shuffle buffer
    one run of minibatches, checked and converted as :func:`deltaprop.fit` checks arrays.

    Parameters
    ----------
    source : NpyShards, ParquetShards or any object with ``chunks(chunk_rows, rng)``, ``n_rows``
    net : Network
    loss : Loss
    batch_size, buffer_rows, chunk_rows : int
        As for :func:`fit_stream`.
    validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional

    Attributes
    ----------
    X, Y : ndarray
        A sample of the first rows, checked (the data's shape, for callbacks).
    """

    small_steps = False  # the epoch loss is evaluated at every step
    sparse = False  # shards are dense arrays
    w: Array | None = None  # no sample weights

    def __init__(self, source: Any, net: Trained, loss: TargetLoss, *, batch_size: int,
                 buffer_rows: int, chunk_rows: int, validation_data: Any = None) -> None:
        for name, value in (("batch_size", batch_size), ("buffer_rows", buffer_rows),
                            ("chunk_rows", chunk_rows)):
            check_positive(name, value, integer=True)
        if not (callable(getattr(source, "chunks", None)) and hasattr(source, "n_rows")):
            raise TypeError(f"the source must be NpyShards or ParquetShards (or anything with "
                            f"chunks() and n_rows), got {type(source).__name__}")
        self.source, self.net, self.loss = source, net, loss
        self.batch_size, self.buffer_rows, self.chunk_rows = batch_size, buffer_rows, chunk_rows
        self.min_batch = 2 if net.batchnorm_layers else 1
        if batch_size < self.min_batch:
            raise ValueError("batch normalization needs at least 2 samples per batch in training; "
                             f"batch_size={batch_size} gives {batch_size}")
        first = next(source.chunks(min(chunk_rows, 2), np.random.default_rng(0)), None)
        if first is None or not source.n_rows:
            raise ValueError("the stream holds no rows: every shard is empty")
        if source.n_rows < self.min_batch:  # no batch at all: an epoch of no steps
            raise ValueError("batch normalization needs at least 2 samples per batch in training; "
                             f"the stream holds {source.n_rows} row")
        self.X, self.Y, _ = check_data(net, loss, *first, what="streamed ")
        self.validation = check_validation_data(net, loss, validation_data)
        self.batches_per_epoch = -(-int(source.n_rows) // batch_size)
        self.max_rows = batch_size

    def for_run(self, engine_gathers: bool = False) -> StreamSource:
        """The source itself: it keeps nothing between epochs (an engine that gathers its rows
        reads each run's minibatch rows)."""
        return self

    def epoch(self, rng: np.random.Generator) -> Epoch:
        """This epoch's runs of minibatches, one per shuffle buffer, read as they are used."""
        return Epoch(None, None, self._runs(rng))

    def _runs(self, rng: np.random.Generator) -> Iterator[Minibatches]:
        for X_all, y_all, batches in shuffled_buffers(self.source, self.batch_size, self.buffer_rows,
                                                      self.chunk_rows, rng, self.min_batch):
            X, Y, _ = check_data(self.net, self.loss, X_all, y_all, what="streamed ")
            yield Minibatches(X, Y, None, batches)
