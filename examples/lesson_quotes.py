"""What the lessons share: the figures docs/lessons.md quotes from a lesson's run, written as
the text writes them (``0N_quoted.json`` beside the pictures), which the docs build compares
with the text (tools/docsite/docsite_lessons.py)."""

from __future__ import annotations

import json
from pathlib import Path


def write_quoted(out: Path, lesson: str, quoted: dict[str, str]) -> dict[str, str]:
    """Write ``quoted`` (name -> the figure as the text writes it) into
    ``out/<lesson>_quoted.json``; return it."""
    (out / f"{lesson}_quoted.json").write_text(json.dumps(quoted, indent=1) + "\n", encoding="utf-8")
    return quoted


def sci(value: float) -> str:
    """``value`` as the lesson text writes it: two significant digits, 6.2e-6 (not 6.2e-06)."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"
