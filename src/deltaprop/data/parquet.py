"""Parquet files as a stream source (needs pyarrow): row groups read one at a time, in a
random order, every file's columns checked first (see :mod:`deltaprop.data.stream`)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from deltaprop.data.stream import Block

Array = np.ndarray


class ParquetShards:
    """Parquet files; the target column(s) named, every other column a feature (needs pyarrow).

    Every file must have the same numeric columns; a missing value, a row group shorter than
    its file's footer declares, or a file that cannot be read is an error naming the file.
    """

    def __init__(self, paths: Sequence[str], target: str | Sequence[str]) -> None:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError("streaming Parquet needs pyarrow: pip install 'deltaprop[parquet]'") from None
        if isinstance(paths, (str, os.PathLike)):
            paths = [os.fspath(paths)]
        if not paths:
            raise ValueError("a Parquet stream needs a non-empty list of file paths")
        self.paths = [os.fspath(path) for path in paths]
        self.target = _target_names(target)
        self.files = [_parquet_read(path, pq.ParquetFile, path) for path in self.paths]
        names = self.files[0].schema_arrow.names
        for path, parquet in zip(self.paths, self.files):
            _check_parquet_schema(path, parquet.schema_arrow, names)
        missing = [t for t in self.target if t not in names]
        if missing:
            raise ValueError(f"{self.paths[0]}: no target column {missing}; columns: {names}")
        self.features = [name for name in names if name not in self.target]
        if not self.features:
            raise ValueError(f"{self.paths[0]}: every column is a target {self.target}; a stream needs "
                             "at least one feature column")

    @property
    def n_rows(self) -> int:
        return sum(f.metadata.num_rows for f in self.files)

    def chunks(self, chunk_rows: int, rng: np.random.Generator) -> Iterator[tuple[Array, Array]]:
        """Chunks of up to ``chunk_rows`` rows: files in a random order, row groups in a random
        order, each read ``chunk_rows`` rows at a time."""
        for i in rng.permutation(len(self.files)):
            for group in rng.permutation(self.files[i].num_row_groups):
                for _, X, y in self._group(int(i), int(group), chunk_rows):
                    yield X, y

    def scan(self, chunk_rows: int) -> Iterator[Block]:
        """Every row once, in file order, each chunk with where it was read (``start``: its
        first row within the file)."""
        for i, parquet in enumerate(self.files):
            start = 0
            for group in range(parquet.num_row_groups):
                for offset, X, y in self._group(i, group, chunk_rows):
                    yield Block(self.paths[i], self.paths[i], start + offset, X, y)
                start += parquet.metadata.row_group(group).num_rows

    def _group(self, i: int, group: int, chunk_rows: int) -> Iterator[tuple[int, Array, Array]]:
        """Row group ``group`` of file ``i``, ``chunk_rows`` rows at a time (with each chunk's
        first row within the group), its length checked against the footer's."""
        path, parquet = self.paths[i], self.files[i]
        declared, read = parquet.metadata.row_group(group).num_rows, 0
        batches = _parquet_read(path, parquet.iter_batches, batch_size=max(chunk_rows, 1),
                                row_groups=[group])
        while (batch := _parquet_read(path, next, batches, None)) is not None:
            X = np.column_stack([_column(path, batch, n) for n in self.features])
            y = np.column_stack([_column(path, batch, n) for n in self.target])
            yield read, X, y[:, 0] if y.shape[1] == 1 else y
            read += batch.num_rows
        if read != declared:
            raise ValueError(f"{path}: row group {group} declares {declared} rows but "
                             f"{read} were read; the file is damaged")


def _parquet_read(path: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``, with Arrow's and the system's read errors naming the file."""
    import pyarrow as pa

    try:
        return call(*args, **kwargs)
    except (OSError, pa.ArrowException) as error:
        raise ValueError(f"{path}: the Parquet file cannot be read: {error}") from None


def _target_names(target: Any) -> list[str]:
    """The target column(s) as a list of distinct names (a column named twice would be a
    target twice, or a feature and a target)."""
    try:
        names = [target] if isinstance(target, str) else list(target)
    except TypeError:
        names = []
    if not names or not all(isinstance(name, str) for name in names):
        raise ValueError(f"target must name a column or a non-empty list of columns, got {target!r}")
    twice = [name for name, count in Counter(names).items() if count > 1]
    if twice:
        raise ValueError(f"target names the column {twice[0]!r} more than once: {names}")
    return [str(name) for name in names]


def _check_parquet_schema(path: str, schema: Any, names: list[str]) -> None:
    """Raise unless a file has the columns ``names`` in order, each named once and of numbers
    or booleans."""
    import pyarrow as pa

    twice = [name for name, count in Counter(schema.names).items() if count > 1]
    if twice:  # Arrow would find two columns for one name
        raise ValueError(f"{path}: the column name {twice[0]!r} appears more than once; give each column "
                         "a unique name")
    if schema.names != names:
        raise ValueError(f"{path}: columns {schema.names} differ from the first file's {names}")
    for field in schema:
        if not (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
                or pa.types.is_boolean(field.type)):
            raise ValueError(f"{path}: column {field.name!r} holds {field.type}; streams take "
                             "numeric columns only (one-hot encode text and categories first)")


def _column(path: str, batch: Any, name: str) -> Array:
    """Column ``name`` of a record batch as an array; missing values are an error naming it."""
    column = batch.column(name)
    if column.null_count:
        raise ValueError(f"{path}: column {name!r} has {column.null_count} missing values in a "
                         "chunk; fill or drop them before streaming")
    return column.to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]
