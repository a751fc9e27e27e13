"""The documentation site: built with --strict, self-contained, maths and cross-references rendered.

The site's own machinery lives in tools/docsite/ (mkdocs hooks, a Markdown extension for the
maths, a griffe extension for the docstrings' Sphinx roles, the check of the lessons' numbers);
each piece is tested here on small inputs, and the real site is built once into a temporary
folder and read like a browser would.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")
pytest.importorskip("latex2mathml")
griffe = pytest.importorskip("griffe")
markdown = pytest.importorskip("markdown")

ROOT = Path(__file__).resolve().parent.parent
DOCSITE = ROOT / "tools" / "docsite"
EXTERNAL = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE)
RAW_ROLE = re.compile(r":(?:class|meth|func|mod|attr|data|exc|obj):`")


def load_tool(name: str) -> ModuleType:
    """A module of tools/docsite/, imported from its file (the folder is not a package)."""
    if str(DOCSITE) not in sys.path:
        sys.path.insert(0, str(DOCSITE))  # hooks.py imports its sibling modules, as mkdocs lets it
    spec = importlib.util.spec_from_file_location(name, DOCSITE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the maths: TeX to MathML at build time --------------------------------------------------

def render_markdown(text: str) -> str:
    math = load_tool("docsite_math")
    return markdown.markdown(text, extensions=[math.MathExtension(), "pymdownx.superfences"])


def test_inline_and_display_tex_become_mathml() -> None:
    html = render_markdown("The input $z_l = W_l a_{l-1} + b_l$ of layer $l$.\n\n$$\n\\delta_l = "
                           "(W_{l+1}^\\top \\delta_{l+1}) \\odot f'(z_l)\n$$\n")
    assert html.count('<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">') == 2
    block = '<div class="math-display"><math xmlns="http://www.w3.org/1998/Math/MathML" display="block">'
    assert block in html
    assert "<msub><mi>z</mi><mi>l</mi></msub>" in html and "&#x02299;" in html  # z_l and the odot
    assert "$" not in html
    assert "<mrow><mi>f</mi><mo>&#x02032;</mo></mrow>" in html  # f' as printed, the prime not raised twice


def test_dollars_in_code_prices_and_emphasis_stay_text() -> None:
    html = render_markdown("`$x$` costs $5 and $6; *a_b* and $a_b$.\n\n```\n$$\nnot maths\n$$\n```\n")
    assert "<code>$x$</code>" in html
    assert "costs $5 and $6" in html
    assert "<em>a_b</em>" in html and html.count("<math") == 1
    assert "$$\nnot maths\n$$" in html


def test_unknown_tex_command_is_a_warning_so_a_strict_build_fails(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mkdocs.plugins.docsite.math"):
        render_markdown("An $\\frobnicate{x}$ here.")
    assert "\\frobnicate" in caplog.text


def test_unclosed_display_block_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mkdocs.plugins.docsite.math"):
        html = render_markdown("$$\nx^2\n\nmore text")
    assert "not closed" in caplog.text and "more text" in html


# --- the Sphinx roles of the docstrings ---------------------------------------------------------

PACKAGE = '''"""A package; see :mod:`.layers` and :class:`~toy.layers.Dense`."""
'''
LAYERS = '''"""Layers. Reads like :mod:`csv`; uses :class:`numpy.ndarray`."""


class Dense:
    """A layer: :meth:`forward` then :meth:`Dense.backward`; :attr:`W <toy.layers.Dense>`.

    The rule::

        z = a @ W.T + b

    ::

        more code
    """

    def forward(self):
        """Calls :func:`helper` and :class:`_Private`; :func:`missing_name`."""

    def backward(self):
        """The backward pass."""


def helper():
    """A helper."""


class _Private:
    """Private."""
'''


@pytest.fixture
def toy_package(tmp_path: Path) -> griffe.Module:
    roles = load_tool("docsite_roles")
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "__init__.py").write_text(PACKAGE)
    (tmp_path / "toy" / "layers.py").write_text(LAYERS)
    extensions = griffe.load_extensions(roles.SphinxRoles)
    return griffe.load("toy", search_paths=[str(tmp_path)], extensions=extensions, docstring_parser="numpy")


def test_roles_become_cross_references_to_canonical_paths(toy_package: griffe.Module) -> None:
    assert toy_package.docstring.value == (
        'A package; see <autoref identifier="toy.layers" optional><code>.layers</code></autoref> and '
        '<autoref identifier="toy.layers.Dense" optional><code>Dense</code></autoref>.')
    dense = toy_package["layers.Dense"].docstring.value
    assert '<autoref identifier="toy.layers.Dense.forward" optional><code>forward</code></autoref>' in dense
    assert 'identifier="toy.layers.Dense.backward" optional><code>Dense.backward</code>' in dense
    assert 'identifier="toy.layers.Dense" optional><code>W</code>' in dense  # an explicit target, <...>


def test_external_private_and_unknown_names_stay_code(toy_package: griffe.Module,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    assert toy_package["layers"].docstring.value == "Layers. Reads like `csv`; uses `numpy.ndarray`."
    forward = toy_package["layers.Dense.forward"].docstring.value
    # helper is public and documented; _Private is not in the reference (filters "!^_")
    assert forward == ('Calls <autoref identifier="toy.layers.helper" optional><code>helper</code></autoref>'
                       " and `_Private`; `missing_name`.")


def test_unresolvable_role_of_the_package_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    roles = load_tool("docsite_roles")
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "__init__.py").write_text('"""See :func:`missing_name` and :mod:`csv`."""\n')
    with caplog.at_level(logging.WARNING, logger="mkdocs.plugins.docsite.roles"):
        griffe.load("toy", search_paths=[str(tmp_path)], extensions=griffe.load_extensions(roles.SphinxRoles))
    assert "missing_name" in caplog.text and "csv" not in caplog.text


def test_literal_block_markers_go(toy_package: griffe.Module) -> None:
    dense = toy_package["layers.Dense"].docstring.value
    assert "The rule:\n\n    z = a @ W.T + b" in dense
    assert "::" not in dense and "    more code" in dense


# --- the lessons' quoted numbers ------------------------------------------------------------------

def test_lesson_markers_are_read_rendered_and_compared() -> None:
    lessons = load_tool("docsite_lessons")
    page = ("# L\n\n## Lesson 2: x\n\nMSE {{mse_1 = 7.5e-2}} and {{mse_32=6.2e-6}}.\n\n"
            "## Lesson 3: y\n\nNone.\n")
    assert lessons.quoted_in_text(page) == {2: {"mse_1": "7.5e-2", "mse_32": "6.2e-6"}, 3: {}}
    assert "MSE 7.5e-2 and 6.2e-6." in lessons.render(page)
    assert lessons.differences(2, {"mse_1": "7.5e-2"}, {"mse_1": "7.5e-2"}) == []
    assert lessons.differences(2, {"mse_32": "6.2e-6", "gone": "1"}, {"mse_32": "4.6e-5", "new": "2"}) == [
        "lesson 2: the run does not report 'gone'",
        "lesson 2: the text does not quote 'new' = 2",
        "lesson 2: the text says mse_32 = 6.2e-6, the run gives 4.6e-5 (more than 3x apart)",
    ]
    runs = {2: {"mse_1": "7.4e-2"}}  # what another machine's full run gave
    assert "MSE 7.4e-2 and 6.2e-6." in lessons.render(page, runs)  # the run's value, else the text's
    with pytest.raises(ValueError, match="mse_1 more than once"):
        lessons.quoted_in_text("## Lesson 2: x\n{{mse_1 = 1}} {{mse_1 = 2}}\n")


@pytest.mark.parametrize("in_text, in_run, same", [
    ("6.2e-6", "7.7e-6", True), ("1.1", "1.0", True), ("1.5e-8", "3.4e-8", True),
    ("0.045", "0.13", True), ("0.045", "0.14", False), ("4.6e-5", "2.4e-6", False),
    ("0", "0", True), ("0", "1e-300", False), ("0.5", "-0.5", False), ("1e-3", "1e-2", False),
    ("yes", "yes", True), ("yes", "no", False)])
def test_a_run_agrees_with_the_text_within_the_machines_spread(in_text, in_run, same) -> None:
    assert load_tool("docsite_lessons").agree(in_text, in_run) is same


def test_lesson_figures_file_must_hold_strings(tmp_path: Path) -> None:
    lessons = load_tool("docsite_lessons")
    assert lessons.run_figures(tmp_path, 2) is None
    (tmp_path / "02_quoted.json").write_text('{"mse_1": 0.075}')
    with pytest.raises(ValueError, match="02_quoted.json"):
        lessons.run_figures(tmp_path, 2)


def test_every_lesson_section_quotes_its_run() -> None:
    lessons = load_tool("docsite_lessons")
    page = (ROOT / "docs" / "lessons.md").read_text()
    assert f"more than {lessons.SPREAD:g}x away" in page  # the page states the check the build makes
    quoted = lessons.quoted_in_text(page)
    assert sorted(quoted) == list(range(1, 10))
    assert all(quoted.values())  # no lesson quotes a number unchecked
    assert quoted[2]["mse_32"] and "mse_8" in quoted[2]  # lesson 2 states both sides of its claim


def test_placeholder_picture_is_a_png() -> None:
    png = load_tool("hooks").placeholder_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" in png[-12:]


# --- the real site, built once ------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {key: value for key, value in os.environ.items() if key != "CI"}  # placeholders for img/
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def pages(site: Path) -> dict[str, str]:
    return {str(path.relative_to(site)): path.read_text(encoding="utf-8") for path in site.rglob("*.html")}


def test_site_loads_nothing_from_another_host(site: Path) -> None:
    offenders = {name: EXTERNAL.findall(html) for name, html in pages(site).items() if EXTERNAL.search(html)}
    assert offenders == {}
    assert (site / "css" / "pygments.css").stat().st_size > 1000
    assert '<span class="k">' in (site / "guide" / "index.html").read_text()  # highlighted at build time


def test_api_pages_print_no_sphinx_role_or_literal_marker(site: Path) -> None:
    for path in sorted((site / "api").rglob("index.html")):
        text = re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8"))
        assert not RAW_ROLE.search(text), path
        assert not re.search(r"\S::\s*$", text, re.MULTILINE), path
    network = (site / "api" / "network" / "index.html").read_text()
    assert 'href="#deltaprop.layers.dense.Dense"' in network or 'href="#deltaprop.layers.Dense"' in network


def test_notes_to_code_puts_each_equation_above_its_linked_code(site: Path) -> None:
    html = (site / "notes-to-code" / "index.html").read_text(encoding="utf-8")
    assert "<table" not in html
    sections = re.split(r"<h3 ", html)[1:]
    assert len(sections) >= 25
    for section in sections:
        title = re.search(r'id="([^"]+)"', section)
        equation = section.find("<math")
        link = re.search(r'<a class="autorefs autorefs-internal" [^>]*href="\.\./api/', section)
        assert equation >= 0 and link is not None, title
    assert "$" not in re.sub(r"<code>.*?</code>|<pre>.*?</pre>", "", html, flags=re.DOTALL)


def test_lessons_page_shows_the_values_not_the_markers(site: Path) -> None:
    html = (site / "lessons" / "index.html").read_text(encoding="utf-8")
    run = load_tool("docsite_lessons").run_figures(ROOT / "docs" / "img", 2)  # after the lessons ran
    assert "{{" not in html and (run["mse_32"] if run else "1.4e-8") in html
