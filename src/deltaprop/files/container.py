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

Reading never executes anything, and allocates only a small multiple of what the file holds:
JSON of bounded size, number of values and containers, and nesting (see ``MAX_*``), and
``.npy`` arrays of numbers (never pickles), each header checked against its member's size
before the array is read, once, into its own memory; compressed, encrypted and duplicated
members are refused. Writing is atomic (:func:`deltaprop.files.atomic.atomic_write`): a crash
never leaves a half-written file where the previous one was, and writers racing to one path
never mix their files (the last complete one wins). Round trips are bit-exact.

This module imports no network class (the checkpoint callback writes through it); turning an
:class:`Archive` into objects is :mod:`deltaprop.files.networks`' and
:mod:`deltaprop.files.load`'s job.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from deltaprop._version import __version__
from deltaprop.files.atomic import atomic_write
from deltaprop.files.codec import network_arrays, network_config
from deltaprop.files.errors import ModelFileError
from deltaprop.files.format1 import from_manifest
from deltaprop.files.jsonbounds import MAX_DEPTH, json_problem
from deltaprop.files.members import check_directory, check_members, read_array

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
OPTIONAL = {"network": ("metadata",), "model": ("summary",), "estimator": (),
            "checkpoint": ("metadata",)}  # what else each kind may hold; nothing more
SECTIONS = ("network", "preprocessing", "summary", "estimator", "run", "metadata")


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
    text = manifest_text({"format": FORMAT, "format_version": FORMAT_VERSION,
                           "deltaprop_version": __version__, "kind": kind, **sections})

    def write(stream: IO[bytes]) -> None:
        with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA, text)
            for name, array in arrays.items():  # streamed: no copy of the array in memory
                array = np.ascontiguousarray(array)
                with archive.open(f"{name}.npy", "w", force_zip64=array.nbytes > 2**30) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)

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


def manifest_text(manifest: dict[str, Any]) -> bytes:
    """The manifest as JSON, within the bounds the reader checks: a file is never written that
    deltaprop would refuse to read."""
    try:
        text = json.dumps(manifest, indent=1).encode("utf-8")
    except RecursionError:  # Python's own limit, far deeper than the reader's
        raise ValueError(f"the model file's {METADATA} is nested deeper than {MAX_JSON_DEPTH} "
                         "levels") from None
    problem = _manifest_problem(text) if len(text) <= MAX_METADATA_BYTES else (
        f"takes {len(text)} bytes; at most {MAX_METADATA_BYTES // 2**20} MiB are read back")
    if problem:
        raise ValueError(f"the model file's {METADATA} {problem}: store large data as arrays")
    return text


def _check_payload(kind: str, sections: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    problem = section_problem(kind, list(sections))
    if problem:
        raise ValueError(problem)
    for name, array in arrays.items():
        owner = name.split(".", 1)[0]
        if not (name == "theta" or owner in ("layers", *sections)):
            raise ValueError(f"array {name!r} belongs to no section; name it <section>.<name>")
        if np.asarray(array).dtype.kind not in "biuf":
            raise ValueError(f"array {name!r} holds {np.asarray(array).dtype}; only numbers are stored")


def section_problem(kind: str, names: Collection[str]) -> str:
    """What is wrong with a payload of ``kind`` holding the sections ``names``, or "": each
    kind has its required sections and may have its optional ones (``REQUIRED``,
    ``OPTIONAL``), nothing else (a network with a preprocessing would drop it unread)."""
    allowed = (*REQUIRED[kind], *OPTIONAL[kind])
    missing = [name for name in REQUIRED[kind] if name not in names]
    if missing:
        return f"the {kind} payload lacks its {', '.join(missing)} section"
    foreign = [name for name in names if name not in allowed]
    if foreign:
        return (f"a {kind} payload has the sections {', '.join(allowed)}, not "
                f"{', '.join(map(repr, foreign))}")
    return ""


# -- reading ---------------------------------------------------------------------------------------
# What a file may claim, checked before anything of that size is read. The manifest holds the
# network's description (about 200 bytes a layer) and the caller's metadata; what grows with
# the run (the history's per-epoch series) is stored as arrays, so no run of deltaprop's comes
# near these bounds, which are checked on writing too. Parsed, JSON takes up to ~25 times its
# text (an empty dict costs 64 bytes for its 3), so the number of values and of containers is
# bounded as well as the size: parsing the largest manifest accepted costs at most ~80 MiB,
# whatever it holds. The nesting is bounded so that no parser (ours or the caller's) recurses deeply.
MAX_METADATA_BYTES = 16 * 2**20
MAX_JSON_VALUES = 2**20  # values in lists and objects (their commas, counted outside strings)
MAX_JSON_CONTAINERS = 2**17  # lists and objects: one per layer, one per epoch (its gradient norms)
MAX_JSON_DEPTH = MAX_DEPTH  # deltaprop itself writes 6 levels; the caller's metadata is checked on writing


def read_archive(path: str | os.PathLike[str], arrays: bool = True) -> Archive:
    """Read and check a model file of any kind and format (``arrays=False``: its manifest only,
    every array left unread, to learn what a file is without reading all of it).

    Every claim the file makes is checked before memory is spent on it: the number of members,
    each member's size against the file's, the manifest's size, nesting and number of
    values and containers (see ``MAX_METADATA_BYTES``, ``MAX_JSON_*``), and
    each array's header (numbers only, its shape and dtype against its member's size). Each
    array is then read once, into memory of exactly its size.

    Raises
    ------
    TypeError
        When ``path`` is not a str or path-like (an int would be read as a file descriptor).
    FileNotFoundError
        When there is no file at ``path``.
    ModelFileError
        (a ValueError) naming the problem: a folder, a pipe or a device, not a model file,
        truncated or corrupted, written by a newer deltaprop, too large a claim, or a payload
        without its sections.
    """
    if not isinstance(path, (str, os.PathLike)):  # an int would be taken as a file descriptor
        raise TypeError(f"a model file's path must be a str or path-like, got {path!r} "
                        f"({type(path).__name__})")
    if os.path.exists(path) and not os.path.isfile(path):
        raise ModelFileError(f"{os.fspath(path)} is not a model file: it is a folder, a pipe or a "
                             "device, not a regular file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {os.fspath(path)!r}")
    try:  # one open file: a writer replacing ``path`` meanwhile does not change what is read
        stream = open(path, "rb")  # noqa: SIM115 (closed below, on every path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no model file at {os.fspath(path)!r}") from None
    with stream:
        try:
            manifest, read = _read(stream, path, arrays)
        except ModelFileError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, UnicodeDecodeError,
                ValueError, NotImplementedError, RuntimeError) as error:  # CRC mismatches, bad JSON
            raise ModelFileError(f"{path}: the model file is corrupted ({error})") from None
    return _payload(manifest, read, os.fspath(path))


def _read(stream: IO[bytes], path: Any, with_arrays: bool) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest, checked, then (``with_arrays``) the arrays."""
    size = os.fstat(stream.fileno()).st_size
    check_directory(stream, size, path)
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError):
        raise ModelFileError(f"{path}: not a deltaprop model file, or a truncated one "
                             "(not a readable zip archive)") from None
    with archive:
        infos = check_members(archive, size, path)
        if METADATA not in infos:
            raise ModelFileError(f"{path}: not a deltaprop model file (no {METADATA})")
        manifest = _read_json(archive, infos[METADATA], path)
        _check_format(manifest, path)
        arrays = {name[:-4]: read_array(archive, info)
                  for name, info in infos.items() if with_arrays and name.endswith(".npy")}
    return manifest, arrays


def _read_json(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Any) -> Any:
    """The manifest, its size, nesting and containers checked before it is parsed."""
    if info.file_size > MAX_METADATA_BYTES:
        raise ModelFileError(f"{path}: {info.filename} claims {info.file_size} bytes; deltaprop "
                             f"writes and reads at most {MAX_METADATA_BYTES // 2**20} MiB of it")
    text = archive.read(info)
    problem = _manifest_problem(text)
    if problem:
        raise ModelFileError(f"{path}: not a model file written by deltaprop ({info.filename} "
                             f"{problem})")
    return json.loads(text.decode("utf-8"))


def _manifest_problem(text: bytes) -> str:
    return json_problem(text, max_depth=MAX_JSON_DEPTH, max_values=MAX_JSON_VALUES,
                        max_containers=MAX_JSON_CONTAINERS)


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
        try:
            kind, sections, arrays = from_manifest(manifest, arrays)
        except ValueError as error:
            raise ModelFileError(f"{path}: the model file's contents are inconsistent ({error})") from None
    else:
        kind = str(manifest.get("kind"))
        if kind not in KINDS:
            raise ModelFileError(f"{path}: holds a payload of kind {manifest.get('kind')!r}, which "
                                 f"this deltaprop ({__version__}) does not know (it reads "
                                 f"{', '.join(KINDS)})")
        sections = {name: manifest[name] for name in SECTIONS if name in manifest}
    problem = section_problem(kind, list(sections))
    if problem:
        raise ModelFileError(f"{path}: the model file's contents are inconsistent ({problem})")
    for name, section in sections.items():
        if not isinstance(section, dict):
            raise ModelFileError(f"{path}: the model file's contents are inconsistent (its {name} "
                                 f"section is {type(section).__name__}, not a JSON object)")
    return Archive(path, kind, sections, arrays, version, manifest.get("deltaprop_version"))
