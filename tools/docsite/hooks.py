"""The mkdocs hooks of the documentation site (listed under ``hooks:`` in ``mkdocs.yml``).

- The maths extension (``docsite_math``) is added to the Markdown of every page and docstring.
- Code is highlighted at build time by Pygments (``pymdownx.highlight``); its style sheet is
  generated here into ``css/pygments.css``, so the site loads nothing from another host.
- ``lessons.md`` shows the numbers of the lessons' runs, checked against its text (``docsite_lessons``).
- The lesson and playground pictures under ``img/`` are made by ``.ci/run`` (the lessons and the
  browser tests) and are not committed. In a clean checkout outside CI a missing picture is
  replaced by a small grey placeholder, so ``mkdocs build --strict`` still checks everything
  else; under CI (``CI`` set) a missing picture stays a broken link, which fails the build.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import docsite_lessons
from docsite_math import MathExtension
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from pygments.formatters import HtmlFormatter

LOG = logging.getLogger("mkdocs.plugins.docsite")

PYGMENTS_CSS = "css/pygments.css"
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\((img/[^)\s]+\.png)\)")


@event_priority(100)  # before mkdocstrings reads the Markdown extensions for the docstrings
def on_config(config: MkDocsConfig, **kwargs: Any) -> MkDocsConfig:
    config.markdown_extensions.append(MathExtension())  # type: ignore[arg-type]
    config.extra_css.insert(0, PYGMENTS_CSS)
    return config


def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    css = HtmlFormatter(style="default").get_style_defs(".highlight")
    files.append(File.generated(config, PYGMENTS_CSS, content=css))
    for name in sorted(missing_images(files, config)):
        if os.environ.get("CI"):
            continue  # the link stays broken: under CI the pictures must have been made
        LOG.info("docsite: %s is not built (made by .ci/run); a placeholder stands in", name)
        files.append(File.generated(config, name, content=placeholder_png()))
    return files


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri != "lessons.md":
        return markdown
    folder = Path(config.docs_dir) / "img"
    runs: dict[int, dict[str, str]] = {}  # lesson -> its full run's figures
    for lesson, in_text in docsite_lessons.quoted_in_text(markdown).items():
        in_run = docsite_lessons.run_figures(folder, lesson)
        if in_run is None:
            report = LOG.warning if os.environ.get("CI") else LOG.info
            report("docsite: lesson %d has not run into %s; its quoted numbers are unchecked", lesson, folder)
            continue
        runs[lesson] = in_run
        for problem in docsite_lessons.differences(lesson, in_text, in_run):
            LOG.warning("docsite: lessons.md: %s", problem)
    return docsite_lessons.render(markdown, runs)


def missing_images(files: Files, config: MkDocsConfig) -> set[str]:
    """The ``img/*.png`` the pages link to that are not among the documentation files."""
    wanted: set[str] = set()
    for file in files.documentation_pages():
        with open(file.abs_src_path or "", encoding="utf-8") as page:
            wanted.update(IMAGE_LINK.findall(page.read()))
    return {name for name in wanted if files.get_file_from_path(name) is None}


def placeholder_png(width: int = 8, height: int = 8) -> bytes:
    """A small grey PNG, written out so that no image library is needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = b"".join(b"\x00" + b"\xc8" * width for _ in range(height))
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks
