"""A model file's zip members, read within bounds: how many there are (counted before zipfile
builds its directory), each one's size against the file's, and each ``.npy`` array read once,
piece by piece, into memory of exactly the size its checked header declares."""

from __future__ import annotations

import math
import struct
import zipfile
from typing import IO, Any

import numpy as np

from deltaprop.data.npy import read_npy_header
from deltaprop.files.codec import MAX_LAYERS
from deltaprop.files.errors import ModelFileError

MAX_MEMBERS = 2 * MAX_LAYERS + 1_000  # two statistics per BatchNorm layer, theta, a run's arrays
_CHUNK = 2**18  # arrays are read in pieces of this size
_MAX_ENTRY_BYTES = 46 + 210  # a directory entry: 46 bytes and the name (deltaprop's: < 40)


def check_directory(stream: IO[bytes], size: int, path: Any) -> None:
    """At most MAX_MEMBERS members, and a directory no larger than so many entries take, both
    from the end record before zipfile reads the directory (it builds an object of ~500 bytes
    for each entry, however many the count claims: the directory's size bounds them)."""
    tail = min(size, 22 + 65535)  # the end record, after which only its comment may come
    stream.seek(size - tail)
    data = stream.read(tail)
    at = len(data) - 22 if data[-22:-18] == b"PK\x05\x06" else data.rfind(b"PK\x05\x06")
    if 0 <= at <= len(data) - 22:
        count = struct.unpack("<H", data[at + 10:at + 12])[0]  # total entries (0xFFFF: zip64)
        directory = struct.unpack("<I", data[at + 12:at + 16])[0]  # the directory's bytes
        if directory > MAX_MEMBERS * _MAX_ENTRY_BYTES:
            raise ModelFileError(f"{path}: not a model file written by deltaprop (a zip directory "
                                 f"of {directory} bytes, more than {MAX_MEMBERS} members take)")
        if count > MAX_MEMBERS:
            raise ModelFileError(f"{path}: not a model file written by deltaprop ({count} members; "
                                 f"deltaprop writes at most {MAX_MEMBERS})")
    stream.seek(0)


def check_members(archive: zipfile.ZipFile, size: int, path: Any) -> dict[str, zipfile.ZipInfo]:
    """Stored members, each named once, whose sizes add up to at most the file's: nothing read
    later can claim more memory than the file holds."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(f"{path}: not a model file written by deltaprop ({len(infos)} members)")
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            how = "encrypted" if info.flag_bits & 0x1 else "compressed"
            raise ModelFileError(f"{path}: not a model file written by deltaprop, or a corrupted one "
                                 f"({info.filename} is {how}; deltaprop stores members as they are)")
        if info.compress_size != info.file_size:
            raise ModelFileError(f"{path}: the model file is corrupted ({info.filename} claims "
                                 f"{info.file_size} bytes in {info.compress_size})")
    named = {info.filename: info for info in infos}
    claimed = sum(info.file_size for info in infos)
    if len(named) < len(infos):
        twice = sorted({i.filename for i in infos if named[i.filename] is not i})
        raise ModelFileError(f"{path}: not a model file written by deltaprop (members named twice: "
                             f"{', '.join(twice)})")
    if claimed > size:
        raise ModelFileError(f"{path}: the model file is corrupted or truncated (its members claim "
                             f"{claimed} bytes in a file of {size})")
    return named


def read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """A numeric array, its header checked against the member's size before memory of that
    size is taken, then read into that memory piece by piece (one copy, CRC checked)."""
    with archive.open(info) as stream:
        header = read_npy_header(stream, info.filename)  # numbers only: never a pickle
        held = info.file_size - header.offset
        if header.nbytes != held:
            raise ValueError(f"{info.filename} holds {held} bytes for an array of shape "
                             f"{header.shape} ({header.nbytes} bytes)")
        array = np.empty(math.prod(header.shape), header.dtype)
        read_into(stream, array.view(np.uint8), info.filename)
    return array.reshape(header.shape, order="F" if header.fortran_order else "C")


def read_into(stream: IO[bytes], out: np.ndarray, name: str) -> None:
    position = 0
    while position < out.size:
        piece = stream.read(min(_CHUNK, out.size - position))
        if not piece:
            raise ValueError(f"{name} ends before its array does")
        out[position:position + len(piece)] = np.frombuffer(piece, np.uint8)
        position += len(piece)
    if stream.read(1):
        raise ValueError(f"{name} holds more than its array")
