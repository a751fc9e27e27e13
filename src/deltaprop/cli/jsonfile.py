"""JSON read by the command line (a history for ``plot``, a sweep spec, the sweep's log), with
its size and nesting bounded: a hostile file is refused with its path and the bound, not read
into memory whole or decoded into a RecursionError."""

from __future__ import annotations

import json
import os
from typing import Any

from deltaprop.cli.budget import format_bytes
from deltaprop.files.jsonbounds import MAX_DEPTH, json_problem

MIB = 2**20


def read_json(path: str, what: str, *, max_bytes: int) -> Any:
    """The JSON value in ``path`` (described as ``what`` in errors), refused (ValueError)
    above ``max_bytes`` or ``MAX_DEPTH`` levels of nesting."""
    if os.path.exists(path) and not os.path.isfile(path):  # a pipe would block the read
        raise ValueError(f"{path} is not a regular file (a folder, a pipe or a device); "
                         f"give {what} as a file")
    size = os.path.getsize(path)
    with open(path, "rb") as stream:
        raw = stream.read(max_bytes + 1)  # not more, whatever the size said (a pipe, a device)
    if max(size, len(raw)) > max_bytes:
        raise ValueError(f"{path} is too large to be {what}: {format_bytes(max(size, len(raw)))}, "
                         f"and the command reads at most {format_bytes(max_bytes)}")
    return parse_json(raw, path, what)


def parse_json(raw: str | bytes, where: str, what: str) -> Any:
    """``raw`` decoded as JSON, refused (ValueError naming ``where``) when it is not JSON or
    nests deeper than ``MAX_DEPTH`` (scanned before it is parsed: no RecursionError)."""
    text = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    problem = json_problem(text, max_depth=MAX_DEPTH)
    if problem:
        raise ValueError(f"{where} is not {what}: its JSON {problem}")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{where} is not {what} ({error})") from None
