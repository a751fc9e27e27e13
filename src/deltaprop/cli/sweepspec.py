"""The spec file of ``deltaprop sweep``: JSON, read within bounds and checked whole before any
trial runs (:func:`deltaprop.tuning.sweepspec.check_spec`, the spec's format and rules)."""

from __future__ import annotations

from typing import Any

from deltaprop.cli.jsonfile import MIB, read_json
from deltaprop.tuning.sweepspec import check_spec

MAX_SPEC_BYTES = 16 * MIB


def read_spec(path: str) -> dict[str, Any]:
    """The spec in the file ``path``, checked; a bad one is a ValueError naming the file."""
    spec = read_json(path, "a JSON sweep spec", max_bytes=MAX_SPEC_BYTES)
    try:
        return check_spec(spec)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
