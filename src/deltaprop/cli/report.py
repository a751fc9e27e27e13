"""How a command reports: plain text for people, or one JSON object (``--json``) for programs."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any


def emit(args: argparse.Namespace, report: dict[str, Any], text: str) -> None:
    """Print ``report`` as JSON with ``--json``, else ``text``; always on stdout."""
    if getattr(args, "json", False):
        print(json.dumps(finite_json(report), indent=None, default=_plain))
    else:
        print(text)
    sys.stdout.flush()


def finite_json(value: Any) -> Any:
    """NaN and infinities as null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays as JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
