"""TeX maths in the docs, turned into MathML when the site is built.

``$...$`` inside a paragraph and a ``$$`` ... ``$$`` block on lines of their own become MathML
(by latex2mathml), which Chromium and Firefox render natively: the site loads no maths renderer,
from its own host or another. Code spans and fenced code are left alone (they are taken before
the maths). A TeX command latex2mathml does not know is a warning, which ``mkdocs build --strict``
turns into a failed build, rather than a backslash printed in the page.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as etree

from latex2mathml.converter import convert
from markdown import Extension, Markdown
from markdown.inlinepatterns import InlineProcessor
from markdown.preprocessors import Preprocessor

LOG = logging.getLogger("mkdocs.plugins.docsite.math")

# $x$ with no space just inside either dollar, and no digit just after the closing one, so that
# "costs $5 and $6" stays text (the rule pandoc uses). A backslash-escaped \$ is a dollar.
INLINE_MATH = r"(?<![\\$])\$(?=[^\s$])((?:\\.|[^$\\\n])+?)(?<=\S)\$(?!\d)"
# A TeX command that latex2mathml passed through unconverted, as <mi>\name</mi> or <mo>\name</mo>.
UNKNOWN_COMMAND = re.compile(r"<m[io][^>]*>(\\[A-Za-z]+)</m[io]>")
# f' comes out as f with a superscript prime; the prime glyph is raised already, so it sat twice
# as high. Written after its base instead, as in print.
SUPERSCRIPT_PRIME = re.compile(r"<msup>(<mi>[^<]*</mi>)(?:<mrow>)?<mi>&#x02032;</mi>(?:</mrow>)?</msup>")


def tex_to_mathml(tex: str, *, display: bool) -> str:
    """The MathML of ``tex`` (``display``: a block equation), warning on unknown commands."""
    mathml = convert(tex.strip(), display="block" if display else "inline")
    mathml = SUPERSCRIPT_PRIME.sub(r"<mrow>\1<mo>&#x02032;</mo></mrow>", mathml)
    unknown = sorted(set(UNKNOWN_COMMAND.findall(mathml)))
    if unknown:
        LOG.warning("TeX command(s) %s unknown to latex2mathml in: %s", ", ".join(unknown), tex.strip())
    return mathml


class InlineMath(InlineProcessor):
    """``$...$`` in running text: MathML, kept away from the emphasis and link patterns."""

    def handleMatch(self, m: re.Match[str], data: str) -> tuple[str, int, int]:  # noqa: N802 (Markdown's API)
        html = tex_to_mathml(m.group(1), display=False)
        return self.md.htmlStash.store(html), m.start(0), m.end(0)


class DisplayMath(Preprocessor):
    """Lines from ``$$`` to ``$$`` (each on its own line): one block of MathML."""

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        tex: list[str] | None = None
        for line in lines:
            if tex is None and line.strip() == "$$":
                tex = []
            elif tex is not None and line.strip() == "$$":
                out += ["", self._block("\n".join(tex)), ""]
                tex = None
            elif tex is not None:
                tex.append(line)
            else:
                out.append(line)
        if tex is not None:
            LOG.warning("A $$ block is not closed: %s", " ".join(tex)[:80])
            out += ["$$", *tex]
        return out

    def _block(self, tex: str) -> str:
        div = etree.Element("div", {"class": "math-display"})
        div.text = "\x00"  # replaced by the MathML below; etree would escape it
        html = etree.tostring(div, encoding="unicode").replace("\x00", tex_to_mathml(tex, display=True))
        return self.md.htmlStash.store(html)


class MathExtension(Extension):
    """The Markdown extension: register it with ``markdown.Markdown(extensions=[MathExtension()])``."""

    def extendMarkdown(self, md: Markdown) -> None:  # noqa: N802 (Markdown's API)
        # After fenced code (priority 25; superfences uses 32), so ``$$`` inside a code block stays.
        md.preprocessors.register(DisplayMath(md), "docsite_display_math", 20)
        # Above backslash escapes (180), below code spans (190): `$x$` in backticks is code.
        md.inlinePatterns.register(InlineMath(INLINE_MATH, md), "docsite_inline_math", 185)
