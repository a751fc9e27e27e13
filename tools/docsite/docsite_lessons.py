"""The numbers the lessons page quotes, checked against the lessons' own runs.

In ``docs/lessons.md`` each number a lesson's text quotes from its run is written as a marker,
``{{mse_32 = 6.2e-6}}``: the figure's name and the value the text was written with. Each
lesson script (``examples/0N_*.py``) writes the same names with the values of its run, formatted
the same way, to ``0N_quoted.json`` in its ``--out`` folder. When the JSON is there (``.ci/run``
runs the lessons in full into ``docs/img`` before the strict build), the docs build
(``hooks.py``) shows the run's values, the same run that drew the page's pictures, and warns,
which fails ``mkdocs build --strict``, where the names differ or a value is not within
``SPREAD`` of the text's; without it, the text's values. The lessons' tests check in fast mode
that each script quotes exactly the names its section uses.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

MARKER = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*=\s*([^{}]+?)\s*\}\}")
LESSON_HEADING = re.compile(r"^## Lesson (\d+):", re.MULTILINE)
# How far a full run's figure may sit from the text's, as a factor either way. Training is
# chaotic and OpenBLAS's kernels for different CPUs round differently, so the same script gives
# other figures on another machine: measured, lesson 4's 1.1 against 1.0, lesson 5's 0.045
# against 0.046 and lesson 2's error with 8 units 1.5e-8 against 3.4e-8 (L-BFGS; under Adam,
# 4.6e-5 against 2.4e-6, which is why lesson 2 trains with L-BFGS). A lesson changed so that
# its point no longer holds moves its figures by far more. Zero stays exactly zero.
SPREAD = 3.0


def sections(markdown: str) -> dict[int, str]:
    """Each lesson's section of the page (from its ``## Lesson N:`` heading to the next)."""
    starts = list(LESSON_HEADING.finditer(markdown))
    ends = [m.start() for m in starts[1:]] + [len(markdown)]
    return {int(m.group(1)): markdown[m.start():end] for m, end in zip(starts, ends, strict=True)}


def quoted_in_text(markdown: str) -> dict[int, dict[str, str]]:
    """For each lesson, the figures its text quotes: name -> value as written."""
    quoted: dict[int, dict[str, str]] = {}
    for lesson, text in sections(markdown).items():
        names = [m.group(1) for m in MARKER.finditer(text)]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"lesson {lesson} quotes {', '.join(duplicated)} more than once")
        quoted[lesson] = {m.group(1): m.group(2) for m in MARKER.finditer(text)}
    return quoted


def render(markdown: str, runs: dict[int, dict[str, str]] | None = None) -> str:
    """The page as readers see it: each marker replaced by the value of its lesson's run in
    ``runs`` (lesson -> name -> value), or, without one, by the text's value."""
    headings = [(m.start(), int(m.group(1))) for m in LESSON_HEADING.finditer(markdown)]

    def value(marker: re.Match[str]) -> str:
        lessons = [lesson for start, lesson in headings if start < marker.start()]
        figures = (runs or {}).get(lessons[-1], {}) if lessons else {}
        return figures.get(marker.group(1), marker.group(2))

    return MARKER.sub(value, markdown)


def agree(in_text: str, in_run: str) -> bool:
    """Whether a run's figure is the text's, up to ``SPREAD`` (numbers) or exactly (other text,
    and zero)."""
    try:
        text_value, run_value = float(in_text), float(in_run)
    except ValueError:
        return in_text == in_run
    if text_value == 0 or run_value == 0 or (text_value > 0) != (run_value > 0):
        return text_value == run_value
    return max(text_value / run_value, run_value / text_value) <= SPREAD


def differences(lesson: int, in_text: dict[str, str], in_run: dict[str, str]) -> list[str]:
    """What the text of ``lesson`` says that its run does not (empty when they agree)."""
    problems = [f"lesson {lesson}: the run does not report {name!r}"
                for name in in_text.keys() - in_run.keys()]
    problems += [f"lesson {lesson}: the text does not quote {name!r} = {in_run[name]}"
                 for name in in_run.keys() - in_text.keys()]
    problems += [f"lesson {lesson}: the text says {name} = {in_text[name]}, the run gives {in_run[name]} "
                 f"(more than {SPREAD:g}x apart)"
                 for name in sorted(in_text.keys() & in_run.keys()) if not agree(in_text[name], in_run[name])]
    return sorted(problems)


def run_figures(folder: Path, lesson: int) -> dict[str, str] | None:
    """The figures lesson ``lesson`` wrote into ``folder``, or None if it has not run there."""
    path = folder / f"{lesson:02d}_quoted.json"
    if not path.is_file():
        return None
    figures = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(figures, dict) or not all(isinstance(v, str) for v in figures.values()):
        raise ValueError(f"{path}: expected an object of name -> formatted value (strings)")
    return figures


def names_differ(lessons_page: Path, lesson: int, out: Path) -> list[str]:
    """For a fast run (other values, same names): the names the text of ``lesson`` quotes that
    its run into ``out`` did not write, and the other way round."""
    in_text = quoted_in_text(lessons_page.read_text(encoding="utf-8")).get(lesson, {})
    in_run = run_figures(out, lesson)
    if in_run is None:
        return [f"lesson {lesson} wrote no {lesson:02d}_quoted.json into {out}"]
    same_values = {name: in_run[name] for name in in_text.keys() & in_run.keys()}
    return differences(lesson, {**in_text, **same_values}, in_run)
