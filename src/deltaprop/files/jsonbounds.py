"""JSON read within bounds: its nesting, values and containers counted before it is parsed.

Python's decoder recurses once per level of nesting (a file of 100,000 ``[`` ends in a
RecursionError) and builds objects of up to ~25 times the text's size, so JSON from a file is
scanned first, without parsing, and refused when it holds more than the reader allows. Model
files (:mod:`deltaprop.files.container`) and the JSON files of the command line (histories,
sweep specs and logs) are read through this check.
"""

from __future__ import annotations

import numpy as np

MAX_DEPTH = 64  # deltaprop writes 6 levels at most; a caller's metadata is checked on writing
_CHUNK = 2**18  # the text is scanned in pieces of this many bytes
_NESTING = np.zeros(256, np.int8)
_NESTING[list(b"[{")] = 1
_NESTING[list(b"]}")] = -1


def json_problem(text: bytes, *, max_depth: int = MAX_DEPTH, max_values: int | None = None,
                 max_containers: int | None = None) -> str:
    """Why the JSON ``text`` is nested too deeply or holds too many values or containers (""
    when it does not), found without parsing it (see :func:`json_structure`).

    Parameters
    ----------
    text : bytes
        UTF-8 JSON (not checked for being JSON: the decoder does that, safely, once this
        check passed).
    max_depth : int
        Levels of lists and objects allowed.
    max_values, max_containers : int, optional
        Values in lists and objects (counted as their commas), and lists and objects, allowed.
    """
    depth, containers, commas = json_structure(text)
    for count, limit, what in ((commas, max_values, "values"),
                               (containers, max_containers, "lists and objects")):
        if limit is not None and count > limit:
            return f"holds {count} {what}; at most {limit} are allowed"
    if depth > max_depth:
        return f"is nested {depth} levels deep; at most {max_depth} are allowed"
    return ""


def json_structure(text: bytes) -> tuple[int, int, int]:
    """(deepest nesting, number of lists and objects, number of commas) of the JSON ``text``:
    its brackets and commas outside strings, counted a piece at a time (memory of a few times
    ``_CHUNK`` besides one copy of the text), without parsing it."""
    # Escaped backslashes, then escaped quotes, out of the way: the quotes left delimit strings.
    codes = np.frombuffer(text.replace(b"\\\\", b"").replace(b'\\"', b""), np.uint8)
    depth = deepest = containers = commas = quotes = 0
    for start in range(0, codes.size, _CHUNK):
        piece = codes[start:start + _CHUNK]
        quote = piece == ord('"')
        outside = (np.cumsum(quote, dtype=np.int32) + quotes) % 2 == 0
        steps = np.where(outside, _NESTING[piece], 0)
        levels = depth + np.cumsum(steps, dtype=np.int32)
        deepest, depth = max(deepest, int(levels.max())), int(levels[-1])
        containers += int(np.count_nonzero(steps == 1))
        commas += int(np.count_nonzero(outside & (piece == ord(","))))
        quotes += int(np.count_nonzero(quote))
    return deepest, containers, commas
