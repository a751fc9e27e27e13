"""The one .npy header reader (deltaprop.data.npy): what a header declares, read without
allocating it, for model files, shards and data files alike."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from deltaprop.data.npy import read_npy_header


def _header(shape, descr="<f4", version=(1, 0)):
    buffer = io.BytesIO()
    write = getattr(np.lib.format, f"write_array_header_{min(version[0], 2)}_0")
    write(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    if version == (3, 0):  # 2.0's layout with a UTF-8 header; NumPy writes it only when needed
        buffer = io.BytesIO(buffer.getvalue().replace(b"\x93NUMPY\x02\x00", b"\x93NUMPY\x03\x00", 1))
        buffer.seek(0, io.SEEK_END)
    return buffer


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_a_header_declaring_terabytes_is_read_without_allocating_them(version):
    stream = _header((10**12, 2**32), "<f8", version)
    stream.seek(0)
    header = read_npy_header(stream, "big.npy")
    assert header.nbytes == 10**12 * 2**32 * 8  # a Python int: no int64 overflow
    assert header.offset == stream.tell() == len(stream.getvalue())


def test_the_data_follows_the_header_offset():
    buffer = io.BytesIO()
    np.save(buffer, np.arange(6, dtype=np.int16).reshape(2, 3))
    buffer.seek(0)
    header = read_npy_header(buffer, "a.npy")
    assert (header.shape, header.dtype, header.fortran_order) == ((2, 3), np.dtype(np.int16), False)
    data = buffer.getvalue()[header.offset:]
    assert len(data) == header.nbytes and np.frombuffer(data, np.int16).tolist() == list(range(6))


@pytest.mark.parametrize("content, kinds, message", [
    (_header((3,), "|O").getvalue(), "biuf", "a.npy holds object values, not numbers"),
    (_header((3,), "<U5").getvalue(), "biuf", "a.npy holds <U5 values, not numbers"),
    (b"PK\x03\x04 not an array", "biuf", "a.npy: not a readable .npy file"),
    (b"\x93NUMPY\x09\x00" + bytes(20), "biuf", "a.npy: not a readable .npy file"),
    (b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'", None, "a.npy: not a readable .npy file"),
])
def test_a_header_that_is_not_one_of_numbers_is_named(content, kinds, message):
    with pytest.raises(ValueError, match=message):
        read_npy_header(io.BytesIO(content), "a.npy", kinds)


def test_text_is_accepted_when_the_caller_names_kinds_itself():
    stream = _header((3,), "<U5")
    stream.seek(0)
    assert read_npy_header(stream, "a.npy", kinds=None).dtype == np.dtype("<U5")


def raw_header(text, version=1):
    """A ``.npy`` header of ``text`` as written (no check that NumPy could parse it), padded as
    NumPy pads: 16-bit length for 1.0, 32-bit for 2.0 and 3.0."""
    body = text.encode()
    prefix = 10 if version == 1 else 12
    body += b" " * (-(prefix + len(body) + 1) % 64) + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(body))
    return b"\x93NUMPY" + bytes([version, 0]) + size + body


GOOD = "{'descr': '<f8', 'fortran_order': False, 'shape': (10, 3), }"
# Each fails in a different place of NumPy's parser, and the first three escaped as other errors:
# tokenize's (re-tokenizing for Python 2's "1L") and an unhashable key.
MALFORMED = {
    "unbalanced": ("{'descr': '<f8', 'fortran_order': False, 'shape': (10, 3 }", "TokenError"),
    "unhashable key": ("{'descr': '<f8', 'fortran_order': False, 'shape': (10, 3), [1]: 2}", "TypeError"),
    "deep": ("{'descr': " + "[" * 3000 + "]" * 3000 + ", 'fortran_order': False, 'shape': (1,)}",
             "Cannot parse"),
    "not a dict": ("[10, 3]", "not a dictionary"),
    "no literal": ("{'descr': '<f8', 'fortran_order': False, 'shape': (10, 3), } + x", "malformed node"),
    "bad descr": ("{'descr': 'nonsense', 'fortran_order': False, 'shape': (10, 3), }", "descr"),
}


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_header_of_any_version_is_a_value_error_naming_the_file(case, version):
    text, cause = MALFORMED[case]
    with pytest.raises(ValueError, match=r"a\.npy: not a readable \.npy file \(malformed header: .*"
                                             + cause) as raised:
        read_npy_header(io.BytesIO(raw_header(text, version)), "a.npy")
    assert type(raised.value) is ValueError  # what model files and shards catch
    assert len(str(raised.value)) < 300  # NumPy quotes the whole header, up to 10,000 characters


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_well_formed_header_of_any_version_reads(version):
    header = read_npy_header(io.BytesIO(raw_header(GOOD, version)), "a.npy")
    assert (header.shape, header.dtype, header.offset % 64) == ((10, 3), np.dtype("<f8"), 0)


def test_a_python_2_header_reads_without_numpys_warning():
    """NumPy re-reads "10L" with a UserWarning: an error under this suite's filter, a stray line
    on a command line's stderr."""
    text = "{'descr': '<f8', 'fortran_order': False, 'shape': (10L, 3L), }"
    assert read_npy_header(io.BytesIO(raw_header(text, 1)), "a.npy").shape == (10, 3)
