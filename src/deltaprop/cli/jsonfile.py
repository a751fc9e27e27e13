"""JSON read by the command line (a history for ``plot``, a sweep spec, the sweep's log), with
its size and nesting bounded: a hostile file is refused with its path and the bound, not read
into memory whole or decoded into a RecursionError."""

from __future__ import annotations

import json
import os
from typing import Any

from deltaprop.cli.budget import format_bytes

MIB = 2**20
MAX_DEPTH = 64  # histories, specs and log lines nest 6 levels at most


def read_json(path: str, what: str, *, max_bytes: int) -> Any:
    """The JSON value in ``path`` (described as ``what`` in errors), refused (ValueError)
    above ``max_bytes`` or ``MAX_DEPTH`` levels of nesting."""
    size = os.path.getsize(path)
    with open(path, "rb") as stream:
        raw = stream.read(max_bytes + 1)  # not more, whatever the size said (a pipe, a device)
    if max(size, len(raw)) > max_bytes:
        raise ValueError(f"{path} is too large to be {what}: {format_bytes(max(size, len(raw)))}, "
                         f"and the command reads at most {format_bytes(max_bytes)}")
    return parse_json(raw, path, what)


def parse_json(raw: str | bytes, where: str, what: str) -> Any:
    """``raw`` decoded as JSON, refused (ValueError naming ``where``) when it is not JSON or
    nests deeper than ``MAX_DEPTH``."""
    try:
        value = json.loads(raw)
    except RecursionError:  # the decoder's own limit, far below the file's depth
        raise ValueError(_too_deep(where, what)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{where} is not {what} ({error})") from None
    if depth(value) > MAX_DEPTH:
        raise ValueError(_too_deep(where, what))
    return value


def _too_deep(where: str, what: str) -> str:
    return f"{where} is not {what}: its JSON nests more than {MAX_DEPTH} levels deep"


def depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (0 for a number or a string); counted
    without recursion, and only until it passes ``MAX_DEPTH``."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= MAX_DEPTH:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest
