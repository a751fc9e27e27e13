"""Checks of user input that raise errors naming the problem and the fix."""

from __future__ import annotations

import numbers
import sys
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np


class Shaped(Protocol):
    """What the data checks read of a network: its dtype and its widths."""

    dtype: Any
    n_inputs: int
    n_outputs: int


class TargetLoss(Protocol):
    """What the data checks ask of a loss: its targets, and whether it takes sample weights."""

    def prepare_targets(self, y: Any, n_outputs: int, dtype: Any) -> np.ndarray: ...

    def check_sample_weights(self) -> None: ...


def unknown_name_error(kind: str, name: Any, valid: Iterable[str]) -> ValueError:
    """The error for an unknown activation, loss, optimizer, init... name; lists the valid ones."""
    return ValueError(f"unknown {kind} {name!r}; valid names are: {', '.join(sorted(valid))}")


def check_flag(name: str, value: Any) -> bool:
    """Return ``value`` as a bool if it is one (Python's or NumPy's), else raise naming it.

    As scikit-learn's parameter validation does: ``"no"``, ``0``, ``None`` are not taken as
    True or False, where ``bool(value)`` would give ``"no"`` the meaning True.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_verbose(verbose: Any) -> bool:
    """``verbose`` as a bool if it is one or an int >= 0 (scikit-learn's and Keras' ``verbose=1``),
    else raise naming it: "yes" or None are not taken as True or False."""
    if not isinstance(verbose, (bool, np.bool_)) and (
            not isinstance(verbose, numbers.Integral) or verbose < 0):
        raise TypeError(f"verbose must be True, False or an integer >= 0, got {verbose!r} "
                        f"({type(verbose).__name__})")
    return bool(verbose)


def check_count(name: str, value: Any) -> int:
    """Return ``value`` as a Python int if it is an integer >= 1, else raise naming it.

    Only integers count, as in scikit-learn: not ``True`` (a bool), not ``4.0`` (a float). This
    is the rule for what a structure is built from (layer widths) and for the estimators'
    parameters, where scikit-learn refuses floats; :func:`check_positive` with ``integer=True``
    also takes a whole float (``epochs=30.0``), for training options read from JSON and text.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer > 0, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be an integer > 0, got {value!r}")
    return int(value)


def check_positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> Any:
    """Return ``value`` if it is a finite positive number (an int when ``integer``), else raise."""
    kind = "an integer" if integer else "a number"
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be {kind} {bound}, got {value!r} ({type(value).__name__})")
    if integer and not float(value).is_integer():
        raise TypeError(f"{name} must be {kind} {bound}, got {value!r}")
    # Python ints of any size are finite; np.isfinite would refuse one beyond int64.
    finite = isinstance(value, (int, np.integer)) or bool(np.isfinite(value))
    if not finite or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {kind} {bound}, got {value!r}")
    return int(value) if integer else float(value)


def check_fraction(name: str, value: Any, *, high_inclusive: bool = False) -> float:
    """Return ``value`` if it lies in [0, 1) (or [0, 1]), else raise naming the range."""
    value = check_positive(name, value, allow_zero=True)
    if value > 1 or (value == 1 and not high_inclusive):
        interval = "[0, 1]" if high_inclusive else "[0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return value


def seed_sequence(seed: Any) -> np.random.SeedSequence:
    """Turn ``seed`` (None, an int >= 0, a SeedSequence or a Generator) into a SeedSequence."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(2**63)))
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        return np.random.SeedSequence(seed)
    raise TypeError(f"seed must be None, an int >= 0, a SeedSequence or a Generator; got {seed!r}")


def plain_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a NumPy array, refusing what NumPy would misread: masked arrays with masked
    entries (the mask would be ignored), scipy.sparse matrices (an object scalar), pandas data
    with categorical columns or missing values (object arrays of ``<NA>``)."""
    if isinstance(value, np.ma.MaskedArray):
        if np.ma.is_masked(value):
            raise ValueError(f"{name} is a masked array with masked entries, and deltaprop does not "
                             "honour masks: fill them (.filled(value)) or drop those rows first")
        value = np.ma.getdata(value)
    module = type(value).__module__
    if module.startswith("scipy.sparse"):
        raise TypeError(f"{name} is a scipy.sparse matrix; deltaprop needs a dense array here: pass "
                        f"{name.split()[-1]}.toarray()")
    if module.startswith("pandas") and hasattr(value, "to_numpy") and hasattr(value, "isna"):
        return _pandas_array(value, name)
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as error:  # ragged nested lists
        raise ValueError(f"{name} could not be read as a numeric array: {error}") from None


def check_pandas_columns(data: Any, name: str) -> None:
    """Refuse a pandas DataFrame or Series column that is categorical, or (in a DataFrame) not
    numbers, naming the column and saying how to encode it."""
    frame = hasattr(data, "columns")
    dtypes = list(data.dtypes) if frame else [data.dtype]
    names = list(data.columns) if frame else [None]
    for column, dtype in zip(names, dtypes):
        where = f"{name} column {column!r}" if frame else name
        if getattr(dtype, "name", "") == "category":
            raise TypeError(f"{where} is categorical; one-hot encode it (pandas.get_dummies, or "
                            "scikit-learn's OneHotEncoder) or turn it into numbers (.cat.codes) first")
        if frame and getattr(dtype, "kind", "O") not in "biuf":
            raise TypeError(f"{where} holds {dtype} values, not numbers; one-hot encode text "
                            "(pandas.get_dummies, or scikit-learn's OneHotEncoder) or convert the "
                            "column to numbers first")


def _pandas_array(data: Any, name: str) -> np.ndarray:
    """A pandas DataFrame or Series as an array, each column checked and named: no categories,
    no missing values, numbers in a DataFrame (nullable Int64 and boolean converted)."""
    frame = hasattr(data, "columns")
    # One pass over the whole frame for the missing values, not a Series per column.
    missing_counts = np.atleast_1d(data.isna().to_numpy().sum(axis=0))
    dtypes = list(data.dtypes) if frame else [data.dtype]
    names = list(data.columns) if frame else [None]
    for column, dtype, missing in zip(names, dtypes, missing_counts.tolist()):
        if getattr(dtype, "name", "") != "category" and missing:
            where = f"{name} column {column!r}" if frame else name
            raise ValueError(f"{where} has {missing} missing value(s) (NaN, None or <NA>); fill "
                             "them (.fillna) or drop those rows first")
    check_pandas_columns(data, name)
    if dtypes and all(getattr(dtype, "kind", "O") in "biuf" for dtype in dtypes):  # nullable too
        return np.asarray(data.to_numpy(dtype=np.result_type(
            *(getattr(dtype, "numpy_dtype", dtype) for dtype in dtypes))))
    return np.asarray(data.to_numpy())


def as_float_matrix(X: Any, name: str, dtype: Any, n_features: int | None = None) -> np.ndarray:
    """Return ``X`` as a finite 2-D array of ``dtype``, or raise naming the shape or value problem.

    Parameters
    ----------
    X : array-like, shape (n_samples, n_features)
    name : str
        How the error messages call it ("X", "validation X").
    dtype : numpy dtype
    n_features : int, optional
        The number of columns the network expects.
    """
    array = plain_array(X, name)
    if np.iscomplexobj(array) or array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool
    ):
        raise TypeError(f"{name} must hold numbers, got an array of dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got shape {array.shape}; "
            "reshape a single feature with X.reshape(-1, 1) or a single sample with X.reshape(1, -1)"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name} has zero samples (shape {array.shape})")
    if n_features is not None and array.shape[1] != n_features:
        raise ValueError(f"{name} has {array.shape[1]} features but the network expects {n_features}")
    with np.errstate(over="ignore"):  # overflow is named below
        converted = np.ascontiguousarray(array, dtype=dtype)
    if not all_finite(converted):
        raise not_finite_error(array, name, dtype)
    return converted


def is_sparse(value: Any) -> bool:
    """Whether ``value`` is a scipy.sparse matrix or array, without importing SciPy: a sparse
    matrix exists only once ``scipy.sparse`` is loaded, so ``import deltaprop`` stays NumPy-only."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(value))


def as_sparse_rows(X: Any, name: str, dtype: Any, n_features: int | None = None) -> Any:
    """Return the scipy.sparse ``X`` as CSR rows of ``dtype`` with finite values, never dense.

    The checks of :func:`as_float_matrix`, named as it names them, on the shape and on the
    stored values only (the implicit zeros are finite). CSR of ``dtype`` in canonical form
    (sorted indices, no duplicates) is ``X`` itself; any other format (CSC, COO...), dtype
    (integers, bool) or form is converted once, which costs one copy of the non-zeros.
    """
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got a sparse matrix of dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has zero samples (shape {X.shape})")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features but the network expects {n_features}")
    given = X.tocsr()  # a CSR X itself
    with np.errstate(over="ignore"):  # overflow is named below
        rows = given.astype(dtype, copy=False)  # a new dtype: a copy, duplicates summed
        if not rows.has_canonical_format:  # duplicates summed, as toarray() sums them
            rows = rows.copy() if rows is X else rows
            rows.sum_duplicates()
    if not all_finite(rows.data):
        raise not_finite_error(given.data, name, dtype)
    return rows


def as_inputs(net: Shaped, X: Any, name: str = "X", *, sparse: bool = True) -> Any:
    """``X`` as the network's input rows: a finite 2-D array of its dtype (:func:`as_float_matrix`)
    or, for a scipy.sparse ``X`` where ``sparse`` allows it, CSR rows of its dtype
    (:func:`as_sparse_rows`), which only a first layer that takes sparse rows (Dense) accepts."""
    if not (sparse and is_sparse(X)):
        return as_float_matrix(X, name, net.dtype, net.n_inputs)
    first = next(iter(getattr(net, "layers", ())), None)
    if not getattr(first, "takes_sparse_input", False):
        raise TypeError(f"{name} is a scipy.sparse matrix, which only a network whose first layer is "
                        f"Dense takes (its first layer is {first!r}); pass {name.split()[-1]}.toarray()")
    return as_sparse_rows(X, name, net.dtype, net.n_inputs)


def not_finite_error(original: Any, name: str, dtype: Any) -> ValueError:
    """The error for values that are not finite in ``dtype``: NaN or infinity given, or finite
    values beyond the largest ``dtype`` (1e39 in float32), which the conversion made infinite."""
    values = np.asarray(original, dtype=np.float64)
    if not all_finite(values):
        return ValueError(f"{name} contains NaN or infinity; remove or impute those values first")
    biggest = float(np.abs(values).max())
    wider = " or use a float64 network" if np.dtype(dtype) != np.float64 else ""
    return ValueError(
        f"{name} holds {biggest:.4g}, beyond the largest {np.dtype(dtype).name} "
        f"({float(np.finfo(dtype).max):.4g}): it overflows to infinity; rescale it (e.g. "
        f"standardize it){wider}"
    )


def all_finite(array: np.ndarray, chunk_rows: int = 4096) -> bool:
    """Whether every entry is finite, without a boolean copy of a large array.

    The sum is finite exactly when no entry is NaN or infinite, unless finite entries overflow
    it; only then are the rows checked chunk by chunk.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(array, axis=None)):
            return True
    rows = array.reshape(array.shape[0], -1) if array.ndim > 1 else array.reshape(-1, 1)
    return all(np.isfinite(rows[i:i + chunk_rows]).all() for i in range(0, rows.shape[0], chunk_rows))


def as_float_vector(y: Any, name: str, n_rows: int) -> np.ndarray:
    """Return 1-D finite float targets of length ``n_rows``, or raise naming the problem."""
    given = plain_array(y, name)
    try:
        array = np.asarray(given, dtype=np.float64)
    except (ValueError, TypeError):
        raise TypeError(f"{name} must hold numbers, got {given.dtype} values") from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or array.shape[0] != n_rows:
        raise ValueError(f"{name} has shape {np.shape(y)}, expected ({n_rows},)")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return array


def check_rows(X: np.ndarray, Y: np.ndarray) -> None:
    """Raise unless X and the targets Y have the same number of samples."""
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {Y.shape[0]}")


def as_sample_weight(sample_weight: Any, n_rows: int, name: str = "sample_weight") -> np.ndarray | None:
    """Return per-sample weights as a float64 vector of length ``n_rows`` (None stays None).

    Weights must be finite and non-negative with a positive sum; a weight of 0 removes the
    sample from the loss, an integer weight k counts it k times. A single number is that
    weight for every sample (as in scikit-learn), checked as the vector is.
    """
    if sample_weight is None:
        return None
    given = plain_array(sample_weight, name)
    try:
        if given.dtype.kind not in "biufO":  # text, dates, complex: not weights
            raise TypeError
        w = np.asarray(given, dtype=np.float64)
    except (ValueError, TypeError):
        raise TypeError(f"{name} must hold numbers, got {given.dtype} values") from None
    if w.ndim == 0 and given.dtype != bool:  # a flag is not a weight: its shape is named
        w = np.full(n_rows, float(w))
    if w.ndim != 1 or w.shape[0] != n_rows:
        raise ValueError(f"{name} has shape {w.shape} but X has {n_rows} samples; give shape ({n_rows},)")
    check_weight_values(w, name)
    return np.ascontiguousarray(w)


def check_weight_values(w: np.ndarray, name: str = "sample_weight") -> None:
    """Raise unless the weights ``w`` are finite, non-negative, with a positive finite sum."""
    if not np.isfinite(w).all():
        raise ValueError(f"{name} contains NaN or infinity")
    if (w < 0).any():
        raise ValueError(f"{name} must be non-negative; found {w.min()}")
    with np.errstate(over="ignore"):  # named below
        total = w.sum()
    if not total > 0:
        raise ValueError(f"{name} is all zero: at least one sample needs a positive weight")
    if not np.isfinite(total):
        raise ValueError(f"{name} sums to more than the largest float64; scale the weights down")


def check_data(net: Shaped, loss: TargetLoss, X: Any, y: Any, sample_weight: Any = None, *,
               what: str = "", sparse: bool = False) -> tuple[Any, np.ndarray, np.ndarray | None]:
    """The one check of data for a network: ``X``, the targets and the sample weights, converted.

    Parameters
    ----------
    net : network
        Gives the dtype, ``n_inputs`` and ``n_outputs``.
    loss : Loss
        Turns ``y`` into target rows (:meth:`~deltaprop.losses.Loss.prepare_targets`) and says
        whether it takes sample weights.
    X : array-like, shape (n_samples, n_inputs)
    y : array-like
        Targets as the loss takes them.
    sample_weight : array-like of shape (n_samples,), optional
    what : str
        Prefix of the names in error messages (``"validation "``, ``"streamed "``).
    sparse : bool
        Take a scipy.sparse ``X`` as CSR rows (:func:`as_inputs`), for the callers whose engine
        takes them; otherwise a sparse ``X`` is refused, naming ``X.toarray()``.

    Returns
    -------
    X : ndarray, shape (n_samples, n_inputs), of the network's dtype, finite; or, for a sparse
        ``X`` where ``sparse`` allows it, a scipy.sparse CSR matrix of that shape and dtype
    Y : ndarray, shape (n_samples, n_outputs), of the network's dtype
    w : ndarray of float64, shape (n_samples,), or None
    """
    X = as_inputs(net, X, f"{what}X", sparse=sparse)
    y = plain_array(y, f"{what}y")
    with np.errstate(over="ignore"):  # overflow is named below
        Y = loss.prepare_targets(y, net.n_outputs, net.dtype)
    if not all_finite(Y):  # finite y (the loss checked) made infinite by the network's dtype
        raise not_finite_error(y, f"{what}y (the targets)", net.dtype)
    check_rows(X, Y)
    w = as_sample_weight(sample_weight, X.shape[0], f"{what}sample_weight")
    if w is not None:
        loss.check_sample_weights()
    return X, Y, w
