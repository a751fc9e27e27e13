"""Where a command writes: never onto a file it reads, never twice to one file, never into a
folder that is missing.

Every command that writes a file hands its inputs and its outputs to :func:`check_outputs`
before any work. Files are compared as the file system sees them, not as they are spelled:
``data.csv``, ``./data.csv``, ``sub/../data.csv``, a symbolic link to it and a hard link to it
are one file. Overwriting an unrelated existing file stays allowed (that is what ``--out`` is
for); a name the command chose itself never overwrites anything (:func:`unused_path`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import TypeAlias

from deltaprop.files.atomic import check_writable

Key: TypeAlias = "tuple[str, str] | tuple[str, int, int]"


def file_key(path: str) -> Key:
    """What identifies the file ``path`` names: its device and inode when it exists (so every
    spelling, symbolic link and hard link of it agree), else its resolved absolute path."""
    real = os.path.realpath(path)
    try:
        status = os.stat(real)
    except OSError:  # not there yet: two outputs are one file when they resolve alike
        return ("path", os.path.normcase(real))
    return ("file", status.st_dev, status.st_ino)


def check_outputs(inputs: Mapping[str, str | None], outputs: Mapping[str, str | None]) -> None:
    """Refuse (ValueError) an output that is the same file as an input or as another output,
    names an existing folder or anything else than a regular file, or lies in a folder that
    is missing or not writable.

    ``inputs`` and ``outputs`` map a label (the option, e.g. ``--data``) to a path; ``None``
    or an empty path is no file. Inputs that name no file (an embedded dataset's name) are
    skipped.
    """
    seen: dict[Key, tuple[str, str, str]] = {}
    for label, path in inputs.items():
        if isinstance(path, str) and path and os.path.exists(path):
            seen.setdefault(file_key(path), ("input", label, path))
    for label, path in outputs.items():
        if not path:
            continue
        check_writable(path, label)  # before any work, not after it
        key = file_key(path)
        if key in seen:
            role, other, other_path = seen[key]
            raise ValueError(_clash(label, path, role, other, other_path))
        seen[key] = ("output", label, path)


def _clash(label: str, path: str, role: str, other: str, other_path: str) -> str:
    if role == "input":
        return (f"{label} {path} is the same file as the input {other} {other_path}; an output "
                "never overwrites an input: choose another file")
    return (f"{label} {path} and {other} {other_path} are the same file; give each output a "
            "file of its own")


def check_out_dir(path: str) -> None:
    """An output folder (made if missing) must not be an existing file, nor lie below one."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        what = "is a file" if probe == os.path.abspath(path) else f"lies in {probe}, which is a file"
        raise ValueError(f"--out-dir {path} {what}, not a folder; name a folder for the results")


MODEL_SUFFIX = ".dp"
MAX_NUMBERED = 999  # digits-2.dp ... digits-999.dp, then the user is asked for a name


def data_stem(data: str) -> str:
    """The data's name, for the files named after it: an embedded dataset's name, or a file's
    name without its folder and extension (``data`` for ``runs/data.csv``); ``model`` when
    that leaves nothing (``.csv``)."""
    name = os.path.splitext(os.path.basename(os.path.normpath(data)))[0].lstrip(".")
    return name or "model"


def unused_path(stem: str, suffix: str = MODEL_SUFFIX, companions: tuple[str, ...] = (),
                reserved: Collection[str | None] = ()) -> str:
    """``stem + suffix`` in the working folder, or, if that is taken, the first free of
    ``stem-2 + suffix``, ``stem-3 + suffix``, ...: a default name never overwrites a file.

    A name is taken when it exists (a broken symbolic link too) or is one of the ``reserved``
    paths (the command's other outputs), and so is it with a ``companions`` suffix added
    (``.ckpt``: the checkpoint named after the model).
    """
    others = {file_key(path) for path in reserved if path}
    for number in range(1, MAX_NUMBERED + 1):
        path = stem + (f"-{number}" if number > 1 else "") + suffix
        names = [path + extra for extra in ("", *companions)]
        if not any(os.path.lexists(name) or file_key(name) in others for name in names):
            return path
    raise ValueError(f"{stem}{suffix} and {stem}-2{suffix} to {stem}-{MAX_NUMBERED}{suffix} are "
                     "all taken; name the model file with --out (or write none with --no-save)")
