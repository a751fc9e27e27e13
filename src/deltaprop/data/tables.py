"""Reading user data files into named columns, and turning those into X and y.

Files: ``.csv``/``.tsv``/``.txt`` (UTF-8 with a header row), ``.npy`` (a 2-D array: columns ``x0,
x1, ...``), ``.npz`` (arrays ``X`` and optional ``y``: columns ``x0, ...`` and ``y`` or ``y0, ...``),
``.parquet`` (needs pyarrow). Text: the first non-blank line is the header; names and cells are
stripped; blank lines are skipped; quoting as in :mod:`csv`; the delimiter is a tab for ``.tsv``,
else whichever of comma, tab, semicolon the header holds most of (a comma on a tie).

A column is numeric when every cell is a number or missing (an empty cell or ``NA``, ``N/A``,
``NaN``, ``null``, ``None``, any case): float64, NaN where missing. Any other cell makes the
whole column text (a str array) where only empty cells are missing (``NA`` stays a value).
Missing and infinite values are reported, by column and rows (row 1 is the first data row),
when the column is used as a feature or a target.

Examples
--------
>>> table = read_table("train.csv")                                           # doctest: +SKIP
>>> X, y, feature_names, target_names = table.split("species", one_hot=True)  # doctest: +SKIP
>>> categories = table.categories(exclude=target_names)  # doctest: +SKIP
>>> X_new = read_table("new.csv").features(feature_names, categories)         # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.data.preprocessing import expanded_names, indicators, source_columns, text_categories
from deltaprop.data.readers import MISSING_TOKENS as MISSING_TOKENS  # re-exported: part of this module's API
from deltaprop.data.readers import READERS, DataFileError, column_from_values, parse_number, unmasked

Array = np.ndarray
SUPPORTED_EXTENSIONS = (".csv", ".tsv", ".txt", ".npy", ".npz", ".parquet")
_SHOWN = 5  # rows or values quoted in an error message


@dataclass
class Table:
    """Named columns read from a data file.

    Attributes
    ----------
    columns : dict of str to ndarray, each of shape (n_rows,)
        In file order. Numeric columns are float64 (NaN where missing), text columns str
        arrays ("" where missing).
    source : str
        Where the columns came from, for error messages.
    """

    columns: dict[str, Array]
    source: str

    @property
    def n_rows(self) -> int:
        """The number of data rows."""
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def names(self) -> list[str]:
        """The column names, in file order."""
        return list(self.columns)

    def take(self, rows: Any) -> Table:
        """The table of the given rows (indices or a boolean mask), e.g. a held-out part."""
        return Table({name: values[rows] for name, values in self.columns.items()}, self.source)

    def is_text(self, name: str) -> bool:
        """Whether column ``name`` holds text rather than numbers."""
        return self._column(name, "column").dtype.kind in "US"

    def categories(self, exclude: Iterable[str] = ()) -> dict[str, list[str]]:
        """The sorted distinct values (missing left out) of each text column not in ``exclude``.

        These are the one-hot categories :meth:`split` uses: store them with the model and give
        them to :meth:`features` to encode new data the same way.
        """
        return text_categories(self.columns, exclude)

    def split(self, target: str | Sequence[str] | None, *, one_hot: bool = False
              ) -> tuple[Array, Array | None, list[str], list[str]]:
        """Split into features and targets: every column that is not a target is a feature.

        Parameters
        ----------
        target : str, list of str or None
            The target column(s); None for data to predict on.
        one_hot : bool
            Encode each text feature column as 0/1 indicator columns ``"col=value"``, one per
            distinct value in sorted order, in the column's place. Without it text is an error.

        Returns
        -------
        X : ndarray of float64, shape (n_rows, n_features)
        y : ndarray of shape (n_rows,) for one target, (n_rows, n_targets) for several; or None
            A text target is returned as str class labels; several targets must be numeric.
        feature_names : list of str, length n_features
        target_names : list of str
        """
        targets = self._target_list(target)
        features = [name for name in self.columns if name not in targets]
        if not features:
            raise DataFileError(f"{self.source}: no feature columns are left besides the target(s) "
                                f"{_quoted(targets)}; a model needs at least one input column")
        text = [name for name in features if self.is_text(name)]
        if text and not one_hot:
            hints = "; ".join(_text_column_hint(name, self.columns[name]) for name in text)
            raise DataFileError(
                f"{self.source}: feature column(s) hold text: {hints}. Encode text columns as 0/1 "
                "indicators with one_hot=True (--one-hot on the command line), fix the cells that "
                "should be numbers, or drop those columns"
            )
        categories = self.categories(exclude=targets)
        feature_names = expanded_names(features, categories)
        X = self.features(feature_names, categories)
        return X, self.targets(targets) if targets else None, feature_names, targets

    def features(self, feature_names: Sequence[str], categories: dict[str, list[str]] | None = None
                 ) -> Array:
        """The feature matrix in the order of ``feature_names``, e.g. of new data to predict on.

        Parameters
        ----------
        feature_names : sequence of str
            As :meth:`split` returned them for the training data. ``"col=value"`` is the indicator
            of ``value`` in text column ``col`` when ``categories[col]`` lists it; any other name is
            a numeric column. Columns of the table that are not needed are ignored.
        categories : dict of str to list of str, optional
            The one-hot categories of the training data (:meth:`categories`).

        Returns
        -------
        X : ndarray of float64, shape (n_rows, len(feature_names))
        """
        categories = categories or {}
        named = indicators(categories)
        missing = [name for name in source_columns(feature_names, categories) if name not in self.columns]
        if missing:
            raise DataFileError(f"{self.source}: the feature column(s) {_quoted(missing, everything=True)} "
                                "the model was trained on are missing; available columns: "
                                f"{_quoted(self.names, everything=True)}")
        labels: dict[str, Array] = {}  # checked text of each one-hot column, on first use
        X = np.empty((self.n_rows, len(feature_names)), dtype=np.float64)
        for j, name in enumerate(feature_names):
            if name in named:
                col, value = named[name]
                if col not in labels:
                    labels[col] = self._category_labels(col, categories[col])
                X[:, j] = labels[col] == value
            else:
                X[:, j] = self._numeric(name, "feature")
        return X

    def _column(self, name: str, role: str) -> Array:
        if name not in self.columns:
            raise DataFileError(f"{self.source}: there is no {role} {name!r}; available columns: "
                                f"{_quoted(self.names, everything=True)}")
        return self.columns[name]

    def _target_list(self, target: str | Sequence[str] | None) -> list[str]:
        if target is None:
            return []
        targets = [target] if isinstance(target, str) else list(target)
        if not targets or not all(isinstance(name, str) for name in targets):
            raise TypeError(f"target must be a column name, a non-empty list of them or None, got {target!r}")
        if len(set(targets)) < len(targets):
            raise ValueError(f"target names a column twice: {targets!r}")
        for name in targets:
            self._column(name, "target column")
        return targets

    def targets(self, names: list[str]) -> Array:
        """The target column(s), checked: (n,) str labels or numbers, or (n, k) numbers."""
        names = self._target_list(names)
        if len(names) == 1 and self.is_text(names[0]):
            return self._present_text(names[0], self.columns[names[0]]).copy()  # class labels
        text = [name for name in names if self.is_text(name)]
        if text:
            raise DataFileError(f"{self.source}: target column(s) {_quoted(text)} hold text; several targets "
                                "must be numeric (a text column is a class label: make it the only target)")
        columns = [self._numeric(name, "target") for name in names]
        return columns[0].copy() if len(columns) == 1 else np.column_stack(columns)

    def _numeric(self, name: str, role: str) -> Array:
        values = self._column(name, f"{role} column")
        if values.dtype.kind in "US":
            raise DataFileError(f"{self.source}: {role} column {_text_column_hint(name, values)}, where "
                                "numbers are needed; fix those cells")
        bad = ~np.isfinite(values)
        if bad.any():
            kind = "missing" if np.isnan(values[bad]).all() else "missing or infinite"
            raise DataFileError(f"{self.source}: {role} column {name!r} has {bad.sum()} {kind} value(s) "
                                f"({_rows(bad)}); fill or drop them")
        return values

    def _present_text(self, name: str, values: Array) -> Array:
        empty = values == ""
        if empty.any():
            raise DataFileError(f"{self.source}: column {name!r} has {empty.sum()} missing value(s) "
                                f"({_rows(empty)}); fill or drop them")
        return values

    def _category_labels(self, name: str, known: list[str]) -> Array:
        values = self.columns[name]
        if values.dtype.kind not in "US":  # every cell a number here, though text in training
            values = np.array(["" if np.isnan(v) else _number_text(v) for v in values], dtype=str)
        unknown = ~np.isin(self._present_text(name, values), known)
        if unknown.any():
            new = _quoted(sorted(set(values[unknown].tolist())))
            raise DataFileError(f"{self.source}: column {name!r} has value(s) {new} ({_rows(unknown)}) not "
                                f"seen in training, where it had {_quoted(known)}; change or drop those rows")
        return values


def _text_column_hint(name: str, values: Array) -> str:
    """Why a column is text: words, or numbers with a few stray cells."""
    parsed = [parse_number(cell) for cell in values.tolist()]
    stray = np.array([number is None for number in parsed])
    if not stray.any():  # numbers stored as strings in a .npy or .parquet file
        return f"{name!r} holds numbers stored as text"
    if all(number is None or np.isnan(number) for number in parsed):
        return f"{name!r} holds text (e.g. {str(values[stray][0])!r})"
    stray_values = _quoted(sorted(set(values[stray].tolist())))
    return f"{name!r} holds numbers but also {stray_values} ({_rows(stray)})"


def _rows(mask: Array) -> str:
    rows = np.flatnonzero(mask) + 1
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    shown = ", ".join(str(row) for row in rows[:_SHOWN])
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}; row 1 is the first data row"


def _quoted(values: Sequence[str], everything: bool = False) -> str:
    shown = values if everything else values[:_SHOWN]
    more = f" and {len(values) - len(shown)} more" if len(values) > len(shown) else ""
    return ", ".join(repr(str(value)) for value in shown) + more


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))



def read_table(path: str | os.PathLike[str]) -> Table:
    """Read a data file into a :class:`Table`, by its extension (see the module docstring).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    DataFileError
        For an unknown extension, an empty file, a missing or duplicated header, rows with the
        wrong number of fields, text that is not UTF-8, or arrays of the wrong shape or type.
    ImportError
        For ``.parquet`` without pyarrow.
    """
    path = Path(path)
    if path.exists() and not path.is_file():  # a pipe would block the read; a device never ends
        what = "a folder" if path.is_dir() else "not a regular file (a pipe, a device or a socket)"
        raise DataFileError(f"{path} is {what}; give a data file")
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise DataFileError(f"{path}: unknown extension {suffix or '(none)'!r}; supported are "
                            f"{', '.join(SUPPORTED_EXTENSIONS)} (save spreadsheets as 'CSV UTF-8')")
    table = Table(READERS[suffix](path), str(path))
    if not table.columns or table.n_rows == 0:
        raise DataFileError(f"{path}: no data ({table.n_rows} rows x {len(table.columns)} columns); it "
                            "needs at least one row and one column")
    return table


def as_table(rows: Any, columns: Sequence[str] | None = None, source: str = "rows") -> Table:
    """Data given in memory as a :class:`Table`: what :class:`deltaprop.Model` takes.

    Parameters
    ----------
    rows : Table, mapping of columns, pandas DataFrame, or 2-D array-like
        A Table is used as it is; a mapping (a dict of columns, a DataFrame) gives its columns
        by name; a 2-D array-like (a list of rows, an ndarray) of shape (n_samples, n_columns)
        gives them by position, named by ``columns``. Cells follow the rules of a text file's:
        numbers, missing values (None, NaN, empty), and text.
    columns : sequence of str, optional
        The names of a 2-D array's columns in order (default ``x0, x1, ...``).
    source : str
        What the data are called in error messages.

    Raises
    ------
    DataFileError
        (a ValueError) naming the problem: 1-D rows, the wrong number of columns, columns of
        different lengths, no rows.
    """
    if isinstance(rows, Table):
        return rows
    if isinstance(rows, Mapping) or (hasattr(rows, "columns") and hasattr(rows, "iloc")):
        names = list(rows.keys() if isinstance(rows, Mapping) else rows.columns)
        data = {str(name): column_from_values(rows[name], str(name), source) for name in names}
        if len({len(column) for column in data.values()}) > 1:
            lengths = {name: len(column) for name, column in data.items()}
            raise DataFileError(f"{source}: the columns have different lengths ({lengths})")
    else:
        data = _positional_columns(rows, columns, source)
    table = Table(data, source)
    if not data or table.n_rows == 0:
        raise DataFileError(f"{source}: no data ({table.n_rows} rows x {len(data)} columns)")
    return table


def _positional_columns(rows: Any, columns: Sequence[str] | None, source: str) -> dict[str, Array]:
    if type(rows).__module__.startswith("scipy.sparse"):
        raise DataFileError(f"{source}: a scipy.sparse matrix; give a dense array (call .toarray())")
    try:
        array = unmasked(rows)
    except ValueError:  # ragged lists
        raise DataFileError(f"{source}: the rows have different lengths") from None
    if array.ndim != 2:
        raise DataFileError(f"{source}: give rows as a 2-D array (n_samples, n_columns), got shape "
                            f"{array.shape}; for one sample, give a list of one row: [row]")
    names = list(columns) if columns is not None else [f"x{j}" for j in range(array.shape[1])]
    if array.shape[1] != len(names):
        raise DataFileError(f"{source}: the rows have {array.shape[1]} columns, but the model takes "
                            f"{len(names)}: {_quoted(names)}")
    return {name: column_from_values(array[:, j], name, source) for j, name in enumerate(names)}
