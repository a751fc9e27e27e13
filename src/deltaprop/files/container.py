"""The model file: one container for everything deltaprop saves, with a typed payload.

A model file is a zip archive of stored (uncompressed) members:

- ``metadata.json``, the manifest: ``format`` ("deltaprop-model"), ``format_version``,
  ``deltaprop_version``, ``kind`` (what the file holds), and the payload's JSON sections;
- ``.npy`` arrays: the network's (``theta``, BatchNorm statistics ``layers.<i>.running_mean``
  and ``layers.<i>.running_var``) and a section's own (``<section>.<name>``).

Every kind holds a network; the kind says what else:

==============  ===============================================  ====================================
kind            sections besides ``network``                      written by
==============  ===============================================  ====================================
``network``     ``metadata`` (optional: the caller's JSON)        ``deltaprop.save``, the playground
``model``       ``preprocessing``, ``summary``                    ``Model.save``, ``deltaprop train``
``estimator``   ``estimator`` (class, parameters, fitted)         ``MLPClassifier.save``, ...
``checkpoint``  ``run`` (arrays ``run.*``), ``metadata``          ``fit(checkpoint=...)``,
                                                                  ``deltaprop train --checkpoint-every``
==============  ===============================================  ====================================

(A checkpoint of ``deltaprop train`` carries the model's ``preprocessing`` and ``summary`` in
its metadata, next to ``train_options``.) Files of format 1 (deltaprop 0.1), which said what
they held in an ``extra`` section, are read as the same payloads.

Reading never executes anything and never allocates more than the file holds: JSON, and
``.npy`` arrays of numbers read with ``allow_pickle=False``, each checked against its member's
size before it is read; compressed members are refused. Writing is atomic: the archive goes to
a temporary file in the same folder, flushed to disk, then renamed over the destination, so a
crash never leaves a half-written file where the previous one was. Round trips are bit-exact.

This module imports no network class (the checkpoint callback writes through it); turning an
:class:`Archive` into objects is :mod:`deltaprop.files.networks`' and
:mod:`deltaprop.files.load`'s job.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from deltaprop._version import __version__
from deltaprop.files.codec import network_arrays, network_config
from deltaprop.files.format1 import from_extra

FORMAT = "deltaprop-model"
FORMAT_VERSION = 2
METADATA = "metadata.json"
KINDS = {
    "network": "a network (deltaprop.save)",
    "model": "a model: a network with its preprocessing (deltaprop train, Model.save)",
    "estimator": "a scikit-learn estimator (MLPClassifier.save or MLPRegressor.save)",
    "checkpoint": "a checkpoint of a training run (fit(checkpoint=...) or deltaprop train "
                  "--checkpoint-every)",
}
REQUIRED = {"network": ("network",), "model": ("network", "preprocessing"),
            "estimator": ("network", "estimator"), "checkpoint": ("network", "run")}
SECTIONS = ("network", "preprocessing", "summary", "estimator", "run", "metadata")


class ModelFileError(ValueError):
    """A file that is not a readable deltaprop model (truncated, corrupted, foreign, newer), or
    that holds another kind of payload than the one asked for."""


@dataclass
class Archive:
    """What a model file holds, read and checked.

    Attributes
    ----------
    path : str
    kind : {"network", "model", "estimator", "checkpoint"}
    sections : dict of str to JSON
        ``network`` and the kind's other sections (see the module docstring).
    arrays : dict of str to ndarray
        The network's arrays and the sections' (``<section>.<name>``).
    format_version : int
        The format the file was written in (1: deltaprop 0.1).
    deltaprop_version : str or None
        The deltaprop that wrote it.
    """

    path: str
    kind: str
    sections: dict[str, Any]
    arrays: dict[str, np.ndarray]
    format_version: int = FORMAT_VERSION
    deltaprop_version: str | None = None

    def group(self, section: str) -> dict[str, np.ndarray]:
        """The arrays of ``section``, by their names within it."""
        prefix = f"{section}."
        return {name[len(prefix):]: array for name, array in self.arrays.items()
                if name.startswith(prefix)}

    @property
    def metadata(self) -> dict[str, Any]:
        """The caller's JSON (the ``metadata`` section; empty without one)."""
        metadata = self.sections.get("metadata") or {}
        return metadata if isinstance(metadata, dict) else {}

    def expect(self, kinds: Collection[str], wanted: str, hint: str = "") -> None:
        """Raise a ModelFileError naming both kinds unless this file holds one of ``kinds``."""
        if self.kind not in kinds:
            raise ModelFileError(f"{self.path}: holds {KINDS[self.kind]}, not {wanted}{hint}")


# -- writing ---------------------------------------------------------------------------------------
def write_archive(path: str | os.PathLike[str], kind: str, sections: dict[str, Any],
                  arrays: dict[str, np.ndarray]) -> None:
    """Write a model file of ``kind`` atomically.

    Parameters
    ----------
    path : str or path-like
        The file to write (conventionally ``*.dp``); an existing file is replaced only once the
        new one is complete on disk.
    kind : {"network", "model", "estimator", "checkpoint"}
    sections : dict of str to JSON-serializable
        At least the kind's required sections (``network``, and ``preprocessing``,
        ``estimator`` or ``run``).
    arrays : dict of str to ndarray
        Numeric arrays: the network's, and ``<section>.<name>`` for a section's own.

    Raises
    ------
    ValueError
        For an unknown kind or section, a missing section, or data JSON cannot hold, before
        any file is touched.
    """
    _check_payload(kind, sections, arrays)
    text = json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION,
                       "deltaprop_version": __version__, "kind": kind, **sections}, indent=1)

    def write(stream: IO[bytes]) -> None:
        with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA, text)
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
                archive.writestr(f"{name}.npy", buffer.getvalue())

    atomic_write(path, write)


def save_payload(path: str | os.PathLike[str], net: Any, kind: str,
                 sections: dict[str, Any] | None = None,
                 arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write ``net`` (a Network) and the payload's other ``sections`` and ``arrays`` as a model
    file of ``kind``, atomically (see :func:`write_archive`).

    Raises
    ------
    ValueError
        If the network holds something the format cannot describe (a user-defined activation):
        pickle such a network instead.
    """
    write_archive(path, kind, {"network": network_config(net), **(sections or {})},
                  {**network_arrays(net), **(arrays or {})})


def _check_payload(kind: str, sections: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    unknown = sorted(set(sections) - set(SECTIONS))
    missing = [name for name in REQUIRED[kind] if name not in sections]
    if unknown or missing:
        raise ValueError(f"a {kind} file has the sections {', '.join(REQUIRED[kind])} (and "
                         f"optionally others of {', '.join(SECTIONS)}); unknown: {unknown}, "
                         f"missing: {missing}")
    for name, array in arrays.items():
        owner = name.split(".", 1)[0]
        if not (name == "theta" or owner in ("layers", *sections)):
            raise ValueError(f"array {name!r} belongs to no section; name it <section>.<name>")
        if np.asarray(array).dtype.kind not in "biuf":
            raise ValueError(f"array {name!r} holds {np.asarray(array).dtype}; only numbers are stored")


# -- reading ---------------------------------------------------------------------------------------
def read_archive(path: str | os.PathLike[str]) -> Archive:
    """Read and check a model file of any kind and format.

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    ModelFileError
        (a ValueError) naming the problem: not a model file, truncated or corrupted, written by
        a newer deltaprop, or a payload without its sections.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {os.fspath(path)!r}")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, OSError):
        raise ModelFileError(f"{path}: not a deltaprop model file, or a truncated one "
                             "(not a readable zip archive)") from None
    try:
        with archive:
            _check_members(archive, path)
            if METADATA not in archive.namelist():
                raise ModelFileError(f"{path}: not a deltaprop model file (no {METADATA})")
            manifest = json.loads(archive.read(METADATA).decode("utf-8"))
            _check_format(manifest, path)
            arrays = {info.filename[:-4]: _read_array(archive, info, path)
                      for info in archive.infolist() if info.filename.endswith(".npy")}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, UnicodeDecodeError,
            ValueError) as error:  # CRC mismatches, bad JSON, malformed array headers
        raise ModelFileError(f"{path}: the model file is corrupted ({error})") from None
    return _payload(manifest, arrays, os.fspath(path))


def _check_members(archive: zipfile.ZipFile, path: Any) -> None:
    """Stored members whose sizes add up to at most the file's: nothing read later can claim
    more memory than the file holds."""
    infos = archive.infolist()
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            how = "encrypted" if info.flag_bits & 0x1 else "compressed"
            raise ModelFileError(f"{path}: not a model file written by deltaprop, or a corrupted one "
                                 f"({info.filename} is {how}; deltaprop stores members as they are)")
    claimed, size = sum(info.file_size for info in infos), os.path.getsize(path)
    if claimed > size:
        raise ModelFileError(f"{path}: the model file is corrupted or truncated (its members claim "
                             f"{claimed} bytes in a file of {size})")


def _read_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Any) -> np.ndarray:
    """A numeric array, its header checked against the member's size before it is used."""
    data = archive.read(info)  # at most the file's size (_check_members), CRC checked
    stream = io.BytesIO(data)
    version = np.lib.format.read_magic(stream)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"{info.filename} has .npy format {version}")
    header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = header(stream)
    if dtype.kind not in "biuf":  # object arrays would be pickles: never read
        raise ValueError(f"{info.filename} holds {dtype} values, not numbers")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - stream.tell() != expected:
        raise ValueError(f"{info.filename} holds {len(data) - stream.tell()} bytes for an array of "
                         f"shape {shape} ({expected} bytes)")
    return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)


def _check_format(manifest: Any, path: Any) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a deltaprop model file (format is not {FORMAT!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{path}: the model file has no valid format_version")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by a newer deltaprop ({manifest.get('deltaprop_version')}, model "
            f"format {version}); this one ({__version__}) reads formats up to {FORMAT_VERSION}: "
            "upgrade deltaprop to load it"
        )


def _payload(manifest: dict[str, Any], arrays: dict[str, np.ndarray], path: str) -> Archive:
    """The typed payload of a manifest of either format, its required sections checked."""
    version = manifest["format_version"]
    if version == 1:
        if not isinstance(manifest.get("network"), dict) or not isinstance(manifest.get("extra", {}), dict):
            raise ModelFileError(f"{path}: the model file's contents are inconsistent (no network)")
        kind, sections, arrays = from_extra(manifest["network"], manifest.get("extra", {}), arrays)
    else:
        kind = str(manifest.get("kind"))
        if kind not in KINDS:
            raise ModelFileError(f"{path}: holds a payload of kind {manifest.get('kind')!r}, which "
                                 f"this deltaprop ({__version__}) does not know (it reads "
                                 f"{', '.join(KINDS)})")
        sections = {name: manifest[name] for name in SECTIONS if name in manifest}
    missing = [name for name in REQUIRED[kind] if not isinstance(sections.get(name), dict)]
    if missing:
        raise ModelFileError(f"{path}: the model file's contents are inconsistent (the {kind} "
                             f"payload lacks its {', '.join(missing)} section)")
    return Archive(path, kind, sections, arrays, version, manifest.get("deltaprop_version"))


# -- writing files atomically ------------------------------------------------------------------
def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(stream)`` on a temporary file beside ``path`` (``.NAME.part``), sync it,
    rename it to ``path``.

    Readers see the old file or the complete new one, never a partial one; on an error the
    temporary file is removed and ``path`` is untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    # One temporary name per target: a write killed half-way leaves a file that the next
    # write to the same target replaces, not a new one each time.
    temporary = os.path.join(folder, f".{os.path.basename(path)}.part")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _file_mode(path))
    try:
        os.chmod(temporary, _file_mode(path))  # also when a killed write left it behind
        with os.fdopen(descriptor, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    _sync_folder(folder)


def _file_mode(path: str) -> int:
    """The mode a new file gets from the umask, or the replaced file's own."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
