"""The header of a ``.npy`` array, read and checked before memory of the size it declares is
taken: the one reader for model-file arrays (:mod:`deltaprop.files.container`), streamed
shards (:mod:`deltaprop.data.stream`) and data files (:mod:`deltaprop.data.readers`).

NumPy's own ``np.load`` allocates what a header declares before it reads a byte, so a header
claiming 10^12 values costs terabytes (or a MemoryError); here the header is read alone, and
each caller compares :attr:`NpyHeader.nbytes` with the bytes the file really holds.
"""

from __future__ import annotations

import math
import struct
import tokenize
import warnings
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0,
                   (3, 0): np.lib.format.read_array_header_2_0}  # 3.0: 2.0 with a UTF-8 header
NUMBERS = "biuf"  # bool, int, uint, float: what model files and shards hold
# What NumPy's header parser (numpy/lib/_format_impl.py) lets escape besides ValueError: a header
# that is no Python literal fails in ast.literal_eval (SyntaxError; RecursionError or MemoryError
# when deeply nested), and for versions 1.0 and 2.0 it is then re-tokenized for Python 2's "1L"
# (tokenize.TokenError on an unbalanced bracket); an unhashable dict key is a TypeError; a short
# read is ValueError or EOFError, an odd length field struct.error; a huge subarray OverflowError.
_HEADER_ERRORS = (ValueError, SyntaxError, tokenize.TokenError, TypeError, OverflowError, RecursionError,
                  MemoryError, EOFError, struct.error)


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header declares.

    Attributes
    ----------
    shape : tuple of int
        Whole sizes (checked: none negative).
    dtype : numpy.dtype
    fortran_order : bool
    offset : int
        Bytes from the start of the file (or zip member) to the data.
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fortran_order: bool
    offset: int

    @property
    def nbytes(self) -> int:
        """Bytes of data the header declares (a Python int: no overflow, whatever the shape)."""
        return math.prod(self.shape) * self.dtype.itemsize


def read_npy_header(stream: IO[bytes], name: str, kinds: str | None = NUMBERS) -> NpyHeader:
    """Read the header of the ``.npy`` data at the start of ``stream``, leaving it at the data.

    Parameters
    ----------
    stream : binary file
        Open at the start of the array (a file, or a zip member).
    name : str
        The file (or member) named in errors.
    kinds : str or None
        The dtype kinds accepted (``"biuf"``: numbers; object arrays would be pickles); None
        accepts any, for a caller that names the others itself.

    Raises
    ------
    ValueError
        Naming ``name`` and the problem: not a ``.npy`` header, a malformed one
        (whatever NumPy's parser raised), an unknown format version, a dtype of another kind, a
        negative size.
    """
    try:
        version = np.lib.format.read_magic(stream)
        if version not in _HEADER_READERS:
            raise ValueError(f".npy format version {version} is not one deltaprop reads")
        with warnings.catch_warnings():  # NumPy's note on Python 2 headers ("1L"), read all the same
            warnings.filterwarnings("ignore", "Reading `.npy` or `.npz` file required", UserWarning)
            shape, fortran_order, dtype = _HEADER_READERS[version](stream)
    except _HEADER_ERRORS as error:
        detail = str(error) if len(str(error)) <= 200 else f"{str(error)[:200]}..."  # NumPy quotes it all
        raise ValueError(f"{name}: not a readable .npy file (malformed header: {type(error).__name__}: "
                         f"{detail})") from None
    if kinds is not None and dtype.kind not in kinds:
        raise ValueError(f"{name} holds {dtype} values, not numbers")
    if any(n < 0 for n in shape):
        raise ValueError(f"{name}: the header's shape {shape} has a negative size")
    return NpyHeader(tuple(int(n) for n in shape), dtype, fortran_order, stream.tell())
