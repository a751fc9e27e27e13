"""The file readers behind :func:`deltaprop.data.tables.read_table`: one per format, each giving the
named columns of a file (see :mod:`deltaprop.data.tables` for the formats and the parsing rules).

:class:`DataFileError` lives here, where most of them are raised, and is re-exported by
:mod:`deltaprop.data.tables`, its public home.
"""

from __future__ import annotations

import csv
import io
import math
import os
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.data.npy import read_npy_header

Array = np.ndarray
Columns = dict[str, Array]  # name -> values of shape (n_rows,), in file order
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})


class DataFileError(ValueError):
    """A data file that cannot be read or used; the message names the file, the place and the fix."""

    __module__ = "deltaprop.data.tables"  # its public home: tracebacks and pickles name that


def parse_number(cell: str) -> float | None:
    """The cell's number (NaN when missing), or None when it is text."""
    if cell.lower() in MISSING_TOKENS:
        return float("nan")
    try:
        return float(cell)
    except ValueError:
        return None


def _read_text(path: Path) -> Columns:
    text = _decode(path)
    if not text.strip():
        raise DataFileError(f"{path} is empty; it needs a header row naming the columns, then rows of values")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _guess_delimiter(text.lstrip().splitlines()[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header, rows = _records(reader, path)
    if all(name and parse_number(name) is not None for name in header):
        example = delimiter.join(f"x{j}" for j in range(len(header)))
        raise DataFileError(f"{path}: the first line holds only numbers, so there is no header row; add a "
                            f"first line naming the columns, e.g. {example}")
    check_column_names(header, path)
    if not rows:
        raise DataFileError(f"{path} has a header row but no data rows; add rows of values below it")
    cells_by_column = zip(*rows)
    return {name: _column_from_cells(cells) for name, cells in zip(header, cells_by_column)}


def column_from_values(values: Any, name: str, source: Any) -> Array:
    """A column given in memory (a list, an array, a pandas Series), read by the rules of text
    cells: numbers (and missing values) make a float64 column, any other text a str column.

    Numeric arrays are taken as they are; text and object arrays cell by cell (NumPy turns rows
    like ``[5.1, "north"]`` into text, so numbers given as text are read back as numbers).
    """
    array = unmasked(values)
    if array.ndim != 1:
        raise DataFileError(f"{source}: column {name!r} has shape {array.shape}; give one value per row")
    if array.dtype.kind in "biuf":
        return np.ascontiguousarray(array, dtype=np.float64)
    if array.dtype.kind not in "USO":
        raise DataFileError(f"{source}: column {name!r} has dtype {array.dtype}; give numbers or text")
    return _column_from_cells([_cell_text(cell) for cell in array.tolist()])


def unmasked(values: Any) -> Array:
    """``values`` as an array with masked entries (numpy.ma) missing, as in a text file: NaN
    among numbers, None among other cells; pandas' ``<NA>`` becomes None cell by cell."""
    if not np.ma.is_masked(values):
        return np.asarray(values)
    if values.dtype.kind in "biuf":
        return np.ma.filled(values.astype(np.float64), np.nan)
    cells = np.array(np.ma.getdata(values), dtype=object)
    cells[np.ma.getmaskarray(values)] = None
    return cells


def _cell_text(cell: Any) -> str:
    """A value as the text a data file would hold (numbers exactly, missing as empty)."""
    if cell is None or (isinstance(cell, float) and cell != cell) or type(cell).__name__ == "NAType":
        return ""
    if isinstance(cell, (bool, np.bool_)):
        return str(int(cell))
    if isinstance(cell, (float, np.floating)):
        return repr(float(cell))
    return str(cell).strip()


def _column_from_cells(cells: Sequence[str]) -> Array:
    numbers = [parse_number(cell) for cell in cells]
    if any(number is None for number in numbers):
        return np.array(cells, dtype=str)
    return np.array(numbers, dtype=np.float64)


def _decode(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # the byte-order mark of UTF-16
        raise DataFileError(f"{path} is UTF-16 text; re-save it as UTF-8 (spreadsheets: 'CSV "
                            f"UTF-8') or convert it, e.g. iconv -f utf-16 -t utf-8 {path.name}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataFileError(
            f"{path} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start} (line {line}) "
            "cannot be decoded; re-save the file as UTF-8 (spreadsheets: 'CSV UTF-8') or convert it, "
            f"e.g. iconv -f latin1 -t utf-8 {path.name}"
        ) from None
    return text.removeprefix("\ufeff")  # the byte-order mark some editors write


def _guess_delimiter(header_line: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in (",", "\t", ";")}
    return max(counts, key=counts.__getitem__)  # the first, a comma, on a tie


def _records(reader: Any, path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows, stripped, blank lines skipped; ragged rows are an error."""
    header: list[str] = []
    rows: list[list[str]] = []
    start = 1  # the line the next record starts on: a quoted cell may span lines
    try:
        for fields in reader:
            line, start = start, reader.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            fields = [field.strip() for field in fields]
            if not header:
                header = fields
            elif len(fields) != len(header):
                raise DataFileError(
                    f"{path}, line {line}: {len(fields)} fields, but the header has {len(header)}; each "
                    "row needs one value per column (quote cells holding the delimiter; leave missing "
                    "cells empty)")
            else:
                rows.append(fields)
    except csv.Error as error:
        raise DataFileError(
            f"{path}, line {start}: malformed quoting ({error}); a cell holding the delimiter, a quote or "
            'a line break must be enclosed in double quotes, with each quote inside it doubled ("")'
        ) from None
    return header, rows


def check_column_names(names: list[str], path: Path | str) -> None:
    """Raise unless every column of the file ``path`` has a name of its own (naming the columns)."""
    first: dict[str, int] = {}  # name -> its first column: one pass, however wide the header
    for j, name in enumerate(names):
        if not name:
            raise DataFileError(f"{path}: column {j + 1} has no name in the header; name every column "
                                "(or remove a trailing delimiter)")
        if name in first:
            raise DataFileError(f"{path}: column name {name!r} appears twice (columns {first[name] + 1} and "
                                f"{j + 1}); give each column a unique name")
        first[name] = j


# What np.load (and reading an archive's member) can raise on a damaged file besides ValueError
# (which covers UnicodeError): a damaged or exotic zip archive, deflate errors, a short read.
_LOAD_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                RuntimeError)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # what np.load takes for an archive


def _np_load(path: Path, archive: bool) -> Any:
    with open(path, "rb") as stream:  # np.load goes by the content too, whatever the suffix
        (_check_npz_sizes if stream.read(4) in _ZIP_MAGIC else _check_npy_size)(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except _LOAD_ERRORS as error:
        raise DataFileError(f"{path} is not a plain NumPy file ({error}); save numeric or text arrays with "
                            "np.save or np.savez (no object arrays: loading them could run code)") from None
    if isinstance(loaded, np.ndarray) == archive:  # .npy and .npz swapped
        raise DataFileError(f"{path} holds {'one array' if archive else 'an archive'}; rename it to "
                            f"{'.npy' if archive else '.npz'}")
    return loaded


def _check_npy_size(path: Path) -> None:
    """Raise unless the header of the ``.npy`` file ``path`` is one NumPy reads and declares
    exactly the data the file holds: more would be allocated before reading (10^12 rows cost
    8 TB), less means a header that does not describe the data (a wrong dtype or shape)."""
    with open(path, "rb") as stream:
        declared = _declared_npy(stream, path)
        data_bytes = os.fstat(stream.fileno()).st_size - stream.tell()
    if declared is not None:
        _check_data_bytes(declared, data_bytes, str(path), "the file")


def _check_npz_sizes(path: Path) -> None:
    """:func:`_check_npy_size` for each array of the zip archive ``path``, against the size its
    zip entry gives; a damaged archive is named here (np.load would leave its file open)."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    declared = _declared_npy(member, path, info.filename)
                    held = info.file_size - member.tell()
                if declared is not None:
                    _check_data_bytes(declared, held, f"{path}: array {info.filename!r}", "the archive")
    except DataFileError:
        raise
    except _LOAD_ERRORS as error:
        raise DataFileError(f"{path} is not a readable .npz archive ({type(error).__name__}: {error}); "
                            "save the arrays again with np.savez") from None


def _declared_npy(stream: Any, path: Path, member: str | None = None) -> tuple[tuple[int, ...], Any] | None:
    """(shape, dtype) the ``.npy`` header at the start of ``stream`` declares, read up to the
    data; None for object arrays (np.load names them). A header NumPy cannot parse is an error
    naming the file (and the archive's member)."""
    try:
        name = str(path) if member is None else f"{path}: array {member!r}"
        header = read_npy_header(stream, name, kinds=None)
    except ValueError as error:
        raise DataFileError(f"{error}; save numeric or text arrays with np.save or np.savez") from None
    return None if header.dtype.hasobject else (header.shape, header.dtype)


def _check_data_bytes(declared: tuple[tuple[int, ...], Any], held: int, where: str, holder: str) -> None:
    """Raise unless ``held`` bytes are exactly the data of the declared (shape, dtype)."""
    shape, dtype = declared
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > held:
        raise DataFileError(f"{where}: truncated .npy file: its header declares shape {shape} "
                            f"({nbytes} bytes) but {holder} holds {held} bytes of data")
    if nbytes < held:
        raise DataFileError(f"{where}: its header declares shape {shape} of {dtype} ({nbytes} bytes) but "
                            f"{holder} holds {held} bytes of data: the header does not describe the data "
                            "(a wrong dtype or shape?); save the array again with np.save")


def _read_npy(path: Path) -> Columns:
    array = _np_load(path, archive=False)
    if array.ndim != 2:
        raise DataFileError(f"{path} holds an array of shape {array.shape}; a .npy data file needs a 2-D "
                            "array (n_samples, n_columns): save X.reshape(-1, 1) for a single column")
    return _array_columns(array, "x", path)


def _read_npz(path: Path) -> Columns:
    with _np_load(path, archive=True) as archive:
        if "X" not in archive.files:
            found = ", ".join(archive.files) or "none"
            raise DataFileError(f"{path} has no array named 'X' (it has: {found}); save the data with "
                                "np.savez(path, X=X, y=y)")
        try:
            X, y = archive["X"], archive["y"] if "y" in archive.files else None
        except _LOAD_ERRORS as error:  # an object array inside the archive, a damaged member
            raise DataFileError(f"{path}: {error}; save numeric or text arrays") from None
    if X.ndim != 2:
        raise DataFileError(f"{path}: array 'X' has shape {X.shape}; it must be 2-D (n_samples, n_features)")
    columns = _array_columns(X, "x", path)
    if y is not None:
        if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
            raise DataFileError(f"{path}: array 'y' has shape {y.shape} but X has {X.shape[0]} rows; give y "
                                f"of shape ({X.shape[0]},) or ({X.shape[0]}, n_targets)")
        columns.update({"y": _array_column(y, "y", path)} if y.ndim == 1 else _array_columns(y, "y", path))
    return columns


def _array_columns(array: Array, prefix: str, path: Path) -> dict[str, Array]:
    return {f"{prefix}{j}": _array_column(array[:, j], f"{prefix}{j}", path) for j in range(array.shape[1])}


def _array_column(values: Array, name: str, path: Path) -> Array:
    if values.dtype.kind in "biuf":
        return np.ascontiguousarray(values, dtype=np.float64)
    if values.dtype.kind in "US":
        return np.char.strip(values.astype(str))
    raise DataFileError(f"{path}: column {name!r} has dtype {values.dtype}; save numbers or text")


def _read_parquet(path: Path) -> Columns:
    try:
        import pyarrow as pa  # optional: only Parquet files need it
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading .parquet files needs pyarrow: pip install pyarrow") from None
    try:
        arrow_table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise DataFileError(f"{path} could not be read as Parquet: {error}") from None
    names = [str(name) for name in arrow_table.column_names]
    check_column_names(names, path)
    columns = zip(names, arrow_table.columns)
    return {name: _arrow_column(column, name, path) for name, column in columns}


def _arrow_column(column: Any, name: str, path: Path) -> Array:
    import pyarrow as pa
    import pyarrow.types as types

    kind = column.type
    if types.is_dictionary(kind):  # pandas categoricals
        column, kind = column.cast(kind.value_type), kind.value_type
    if types.is_integer(kind) or types.is_floating(kind) or types.is_boolean(kind) or types.is_decimal(kind):
        return np.array(column.cast(pa.float64()).to_pylist(), dtype=np.float64)  # None (null) -> NaN
    if types.is_string(kind) or types.is_large_string(kind):
        return np.array(["" if value is None else value for value in column.to_pylist()], dtype=str)
    raise DataFileError(f"{path}: column {name!r} has type {kind}, which deltaprop cannot use; convert it to "
                        "numbers or text, or drop it")


READERS: dict[str, Callable[[Path], Columns]] = {
    ".csv": _read_text, ".tsv": _read_text, ".txt": _read_text, ".npy": _read_npy, ".npz": _read_npz,
    ".parquet": _read_parquet,
}
