"""Loading the lesson scripts of examples/ as modules, for their tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def load_example(filename: str) -> ModuleType:
    """The script ``examples/<filename>`` imported as a module (its ``main`` not run), with
    examples/ importable as when the script runs (its lessons share ``lesson_quotes``)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(filename.removesuffix(".py"), EXAMPLES / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_docsite_lessons() -> ModuleType:
    """tools/docsite/docsite_lessons.py: how docs/lessons.md marks the figures it quotes."""
    path = ROOT / "tools" / "docsite" / "docsite_lessons.py"
    spec = importlib.util.spec_from_file_location("docsite_lessons", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_quotes_what_the_page_quotes(out: Path, lesson: int) -> None:
    """The run wrote, under the same names, every figure docs/lessons.md quotes for it, and no other
    (the values differ in fast mode; the docs build compares them after the full runs)."""
    assert load_docsite_lessons().names_differ(ROOT / "docs" / "lessons.md", lesson, out) == []
