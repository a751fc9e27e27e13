"""Class labels: which values may be labels, their one canonical form, and the encoder between
labels and output indices (classes in output order), stored as JSON whose dtype and values are
checked on reading (an allow-list: a file cannot make a label of any other type, or of a width
it does not hold).

Labels are numbers (bool, int, uint, float; finite) or text (str, bytes, or objects that are
all str, int or float); anything else (dates, complex numbers, other objects) is refused,
naming the dtype. NumPy only: no network, no files.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

Array = np.ndarray
_LABEL_TYPES = (str, bytes, bool, int, float, np.bool_, np.integer, np.floating)


def canonical_labels(y: Any) -> Array:
    """Class labels in one form: text as str, whole numbers as int64 (2.0 and 2 are one class).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Numbers (bool, int, uint, float) or text (str, bytes, or an object array of str, int
        and float); any other dtype is a ValueError naming it.

    Returns
    -------
    ndarray of shape (n_samples,)
        str for text (numbers in an object array of text written as in a text column: 2.0 as
        "2"), int64 for floats that are all whole numbers within int64's range, ``y`` (an object
        array of numbers as a numeric array) unchanged otherwise.
    """
    y = label_array(y)
    if y.dtype.kind in "OS":
        y = _text_labels(y) if y.dtype.kind == "S" or _holds_text(y) else label_array(y.tolist())
    if y.dtype.kind == "U":
        return y.astype(str)
    if y.dtype.kind == "f" and np.all(y == np.round(y)) and np.all((y >= -(2.0**63)) & (y < 2.0**63)):
        return y.astype(np.int64)  # beyond 2**63 the cast would wrap: such labels stay floats
    return y


def label_array(values: Any, what: str = "class labels") -> Array:
    """``values`` as an array, if its dtype is one of labels: numbers (bool, int, uint, float;
    finite) or text (str, bytes, or objects that are all str, int or float); else a ValueError
    naming the dtype and what to do."""
    array = np.asarray(values)
    kind = array.dtype.kind
    if kind == "O":
        strange = {type(v).__name__ for v in array.ravel().tolist() if not isinstance(v, _LABEL_TYPES)}
        if strange:
            raise ValueError(f"{what} must be strings or numbers, not {', '.join(sorted(strange))}; "
                             "convert them to text (e.g. [str(v) for v in y]) or to numbers")
    elif kind not in "biufUS" or array.dtype.names is not None:
        raise ValueError(f"{what} of dtype {array.dtype} are not supported: labels must be numbers "
                         "(bool, int, float) or text; convert them, e.g. y.astype(str)")
    if kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"{what} contain NaN or infinity; drop those samples or give them a class")
    return array


def _holds_text(y: Array) -> bool:
    return any(isinstance(v, (str, bytes)) for v in y.ravel().tolist())


def _text_labels(y: Array) -> Array:
    """Labels of an object or bytes array as str; whole numbers as a text column writes them."""
    def text(value: Any) -> str:
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"the class label {value!r} is not UTF-8 text") from None
        if isinstance(value, (str, bool, np.bool_)):
            return str(value)
        whole = float(value).is_integer() and abs(value) < 1e15  # as a text column writes it
        return str(int(value)) if whole else repr(float(value))

    return np.array([text(v) for v in y.ravel().tolist()], dtype=str).reshape(y.shape)


class LabelEncoder:
    """Class labels to output indices and back.

    Parameters
    ----------
    classes : array-like of shape (n_classes,)
        The distinct labels in output order, sorted (codes are found by binary search), kept in
        their own dtype (an estimator's ``classes_`` stays as scikit-learn made it): numbers or
        text (:func:`label_array`).
    """

    def __init__(self, classes: Any) -> None:
        self.classes = label_array(classes, "classes")
        if self.classes.ndim != 1 or len(self.classes) == 0:
            raise ValueError(f"classes must be a non-empty list of labels, got {classes!r}")
        try:
            ordered = bool(np.all(self.classes[1:] > self.classes[:-1]))
        except TypeError:  # an object array mixing text and numbers
            raise ValueError("classes mix text and numbers, which have no order; give them "
                             "as text") from None
        if not ordered:
            raise ValueError("classes must be sorted and distinct (np.unique of the labels)")

    @classmethod
    def fit(cls, y: Any) -> LabelEncoder:
        """The sorted distinct labels of ``y`` (n_samples,), in canonical form."""
        return cls(np.unique(canonical_labels(y)))

    def encode(self, y: Any) -> Array:
        """Output indices of the labels ``y``, shape (n_samples,); unknown labels are an error.

        Labels are compared in canonical form: 2.0 read from a numeric column matches the
        class "2" of a text column, and the class 2.
        """
        labels = canonical_labels(y)
        if self.classes.dtype.kind in "US":
            labels = labels.astype(str)
        known = np.isin(labels, self.classes)
        if not known.all():
            unseen = sorted({str(v) for v in labels[~known]})[:5]
            raise ValueError(f"labels {unseen} never appeared in training; the model knows "
                             f"{[str(c) for c in self.classes]}")
        return np.searchsorted(self.classes, labels)

    def decode(self, codes: Any) -> Array:
        """The labels of output indices ``codes``, shape of ``codes``."""
        return self.classes[np.asarray(codes)]

    def to_config(self) -> dict[str, Any]:
        """The classes as JSON: ``{"dtype": ..., "values": [...]}``, the dtype kept (text as
        wide as its longest label; numbers in native byte order, float16 as float32: the
        dtypes :meth:`from_config` reads)."""
        kind, values = self.classes.dtype.kind, self.classes.tolist()
        if kind == "S" or (kind == "O" and any(isinstance(v, bytes) for v in values)):
            raise ValueError("the classes are bytes, which a model file cannot store; decode "
                             "them first (y.astype(str))")
        if kind == "U":
            return {"dtype": f"<U{max(1, *map(len, values))}", "values": values}
        if kind == "O":
            return {"dtype": "object", "values": values}
        return {"dtype": _storable(self.classes.dtype).str, "values": values}

    @classmethod
    def from_config(cls, config: Any) -> LabelEncoder:
        """The encoder :meth:`to_config` described (also the first format's ``"str"`` dtype).

        The dtype must be one of labels (bool, int8..int64, uint8..uint64, float32, float64,
        ``<U{n}``, taken as wide as the longest value, "object", "str"); the values a list of at
        most ``MAX_CLASSES`` labels of that type, sorted and distinct. Anything else is a
        ValueError naming the problem.
        """
        if not isinstance(config, dict) or set(config) != {"dtype", "values"}:
            raise ValueError("stored classes must be {'dtype': ..., 'values': [...]}")
        dtype, values = config["dtype"], config["values"]
        if not isinstance(values, list) or len(values) > MAX_CLASSES:
            raise ValueError(f"stored class labels must be a list of at most {MAX_CLASSES} values")
        return cls(np.array(values, dtype=_stored_label_dtype(dtype, values)))

    def __len__(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return f"LabelEncoder({self.classes.tolist()!r})"


MAX_CLASSES = 1_000_000
_NUMBER_DTYPES = {name: np.dtype(name) for name in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64")}
_NUMBER_DTYPES.update({dtype.str: dtype for dtype in list(_NUMBER_DTYPES.values())})
def _storable(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """``dtype`` as one of the stored number dtypes: native byte order, float16 widened
    (losslessly) to float32; any other is a ValueError, raised before a file is written."""
    native = np.dtype("float32") if dtype.kind == "f" and dtype.itemsize == 2 else dtype.newbyteorder("=")
    if native.str not in _NUMBER_DTYPES:
        raise ValueError(f"classes of dtype {dtype} cannot be stored; convert them to float64, "
                         "int64 or text first")
    return native


_STORED_TYPES = {"b": (bool,), "i": (int,), "u": (int,), "f": (int, float), "U": (str,),
                 "O": (str, bool, int, float)}


def _stored_label_dtype(name: Any, values: list[Any]) -> Any:
    """The dtype a model file names for its class labels, from the allow-list, once the values
    are checked to be of its type (and text no longer than it declares)."""
    if name == "str":  # the first format: text, as wide as its values
        name = "<U"
    dtype = _NUMBER_DTYPES.get(name) if isinstance(name, str) else None
    if name == "object":
        dtype = np.dtype(object)
    elif isinstance(name, str) and re.fullmatch(r"<U\d{0,9}", name):
        # as wide as the longest label, whatever width is declared: a width is storage, not
        # meaning, and "<U268435455" would cost a GiB per label
        dtype = np.dtype(f"<U{max([len(v) for v in values if isinstance(v, str)] + [1])}")
    if dtype is None:
        raise ValueError(f"stored classes have the dtype {name!r}; class labels are numbers "
                         "(bool, int8..int64, uint8..uint64, float32, float64) or text")
    types = _STORED_TYPES[dtype.kind]
    if not all(isinstance(v, types) and (dtype.kind in "bO" or not isinstance(v, bool)) for v in values):
        names = " or ".join(t.__name__ for t in types)
        raise ValueError(f"stored class labels of dtype {name} must all be {names} (strings or numbers)")
    if dtype.kind in "iu" and values and not (np.iinfo(dtype).min <= min(values)
                                              and max(values) <= np.iinfo(dtype).max):
        raise ValueError(f"stored class labels lie outside the range of {name}")
    return dtype


# -- one-hot categories --------------------------------------------------------------------------
