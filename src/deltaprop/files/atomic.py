"""Writing a file so that nothing is lost: the one owner of where deltaprop may write and how.

:func:`check_writable` says, before any work, whether a file can be written at a path (a file,
not a folder, a device or a pipe, in an existing folder that takes new files);
:func:`atomic_write` writes it so that readers see the old file or the complete new one, and a
failed or racing writer never damages what was there. Model files, checkpoints, predictions,
plots, ONNX exports and sweep results are all written through it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from typing import IO, Any


def check_writable(path: Any, name: str = "path") -> str:
    """Return ``path`` as a string if :func:`atomic_write` can write a file there, else raise
    naming it (``name``: the option or argument, e.g. ``"checkpoint"`` or ``"--out"``).

    Checked before training or any other work, so that a run is never refused after it has
    changed something: a path (not a folder) that is not a device, a pipe or a socket (a new
    file renamed over one would replace it, not write to it: ``/dev/null``), in an existing
    folder where a file of that name can be created (tried with a temporary file named after
    it, which also answers for read-only file systems, access lists, root and names too long).

    Raises
    ------
    TypeError
        For a path that is not a string or path-like.
    ValueError
        Naming the problem and what to do.
    """
    text = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a file path, got {path!r} ({type(path).__name__})")
    if "\0" in text:
        raise ValueError(f"{name} {text!r} holds a NUL character, which no file name can")
    if not text:
        raise ValueError(f"{name} is empty; name a file to write")
    if text.endswith((os.sep, "/")) or os.path.isdir(text):
        raise ValueError(f"{name} {text} is a folder; name a file to write, not a folder")
    if os.path.exists(text) and not os.path.isfile(text):
        raise ValueError(f"{name} {text} is not a regular file (a device, a pipe or a socket), "
                         "which a write would replace; name a file to write")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        problem = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise ValueError(f"{name} {text}: the folder {folder} {problem}; create it first")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{os.path.basename(text)}.",
                                         suffix=".part"):
            pass
    except OSError as error:
        raise ValueError(f"{name} {text}: cannot write in the folder {folder} "
                         f"({error.strerror or error})") from None
    return text


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(stream)`` on a temporary file of its own beside ``path``
    (``.NAME.<random>.part``), sync it to disk, rename it to ``path``.

    Readers see the old file or the complete new one, never a partial one. Each call writes its
    own temporary file, so writers racing to one ``path`` never write into each other's: the
    last complete write wins. On any error (an exception of ``write``, a full disk, a file-size
    limit, Ctrl-C) the temporary file is removed and ``path`` is untouched; only a process
    killed outright (SIGKILL, a power cut) leaves its ``.part`` behind, which is safe to delete
    once no write is running. A new file gets the mode the umask gives; a replaced file keeps
    its own.

    Raises
    ------
    FileNotFoundError
        When the folder of ``path`` does not exist, before anything is written.
    ValueError
        When ``path`` is a folder, a device, a pipe or a socket, before anything is written.
    OSError
        When writing fails: the same errno (and class: PermissionError for EACCES, ...), and
        ``strerror`` (the message, without ``[Errno n]``) naming the path and the reason, as in
        ``cannot write model.dp: No space left on device``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} does not exist")
    if os.path.exists(path) and not os.path.isfile(path):  # a rename would replace a device
        raise ValueError(f"cannot write {path}: it is a folder, a device, a pipe or a socket, "
                         "not a regular file")
    mode = _file_mode(path)
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.",
                                                 suffix=".part", dir=folder)
    except OSError as error:
        raise _write_error(path, error) from error
    try:
        with os.fdopen(descriptor, "wb") as stream:
            os.fchmod(descriptor, mode)  # not mkstemp's private 0600
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise _write_error(path, error) from error
        raise
    _sync_folder(folder)


def _write_error(path: str, error: OSError) -> OSError:
    """``error`` as an OSError of the same errno whose message says which file and why."""
    message = f"cannot write {path}: {error.strerror or error}"
    return OSError(message) if error.errno is None else OSError(error.errno, message)


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


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_write` (JSON, CSV, any text encoded)."""

    def write(stream: IO[bytes]) -> None:
        stream.write(data)

    atomic_write(path, write)
