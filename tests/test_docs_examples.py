"""Every example of README.md and docs/*.md runs as written (docs/api/ holds only directives).

Each ```python block runs in a fresh interpreter (the virtualenv's python, warnings as errors) in
an empty folder, so it must load its own data. Two conventions, on a block's first line:

- ``# continues the block above``: the block goes on from the code block above it in the same
  file; the test runs that chain in order, its Python blocks in one interpreter, in one folder.
- ``# needs: NAME ...``: the block needs what a test cannot have (``mpi``: mpiexec; ``dask``: a
  Dask cluster; ``browser``); it is skipped, naming the need.

The ```bash blocks that run only ``deltaprop ...`` commands run in-process through
``deltaprop.cli.main``, as tests/test_cli.py runs the README's; :func:`why_not_run` names the
reason for every other bash block, and a bash block that neither runs nor has a reason fails.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from deltaprop.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CONTINUES = "# continues the block above"
NEEDS = {"mpi": "mpiexec", "dask": "a Dask cluster", "browser": "a browser"}
TIMEOUT = 120  # seconds; each block takes about one, this only stops a hung one
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    section: str  # the heading above the block
    text: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def continues(self) -> bool:
        return self.first_line == CONTINUES


def read_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of one Markdown file, in order."""
    blocks, lines, section, i = [], path.read_text(encoding="utf-8").splitlines(), "", 0
    while i < len(lines):
        if lines[i].startswith("#") and not lines[i].startswith("#!"):
            section = lines[i].lstrip("#").strip()
        opening = FENCE.match(lines[i])
        if opening:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
            if end is None:
                raise ValueError(f"{path.name}:{i + 1}: a code fence that is never closed")
            blocks.append(Block(path, i + 1, opening.group(1), section, "\n".join(lines[i + 1:end])))
            i = end
        i += 1
    return blocks


def code_blocks() -> list[Block]:
    return [b for path in DOCUMENTS for b in read_blocks(path) if b.language in ("python", "bash")]


def chain(block: Block) -> list[Block]:
    """The block with every block it continues, first to last."""
    blocks = [b for b in code_blocks() if b.path == block.path]
    links = [block]
    while links[0].continues:
        above = [b for b in blocks if b.line < links[0].line]
        assert above, f"{links[0].name} continues a block, but none is above it"
        links.insert(0, above[-1])
    return links


def needs(block: Block) -> str | None:
    """What a block's ``# needs:`` line names, or None."""
    marker = re.match(r"#\s*needs:\s*(\w+)(.*)", block.first_line)
    if marker is None:
        return None
    name = marker.group(1)
    assert name in NEEDS, f"{block.name}: unknown need {name!r}; known: {sorted(NEEDS)}"
    return f"needs {NEEDS[name]}{marker.group(2)}"


def commands(block: Block) -> list[str]:
    """The shell lines of a bash block, continuation lines joined, comment lines left out."""
    joined = block.text.replace("\\\n", " ")
    lines = (line.strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def why_not_run(block: Block) -> str | None:
    """Why a bash block is not run here, or None when it runs."""
    text = block.text
    if block.path.name == "README.md" and block.section == "Command line" and not block.continues:
        return "the README's commands run in tests/test_cli.py::test_every_command_in_the_readme_runs"
    reasons = [
        ("pip install", "installs the virtualenv from nothing; .ci/run runs the two commands"),
        ("deltaprop playground", "serves the playground until Ctrl-C, for a browser; "
                                 "tests/test_playground_server.py and test_playground_e2e.py drive it"),
        ("benchmarks/", "the benchmarks are never part of the test suite"),
        ("examples/", "the lessons run in tests/test_examples_lessons_*.py (--fast), in full in .ci/run"),
        ("mpiexec", "needs mpiexec"),
    ]
    for marker, reason in reasons:
        if marker in text:
            return reason
    if all(line.startswith("deltaprop ") for line in commands(block)):
        return None
    pytest.fail(f"{block.name}: a bash block that neither runs here nor says why not:\n{text}")


def run_python(source: str, folder: Path, name: str) -> None:
    """Run ``source`` as a fresh interpreter would, in ``folder``; fail on any error or warning."""
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # as activated
    try:
        done = subprocess.run([sys.executable, "-W", "error", "-c", source], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name} still ran after {TIMEOUT} s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"{name} exited {done.returncode}:\n{done.stderr[-3000:]}", pytrace=False)


def run_commands(block: Block, folder: Path, capsys, monkeypatch) -> None:
    """Run a bash block's ``deltaprop`` commands in-process, in ``folder``."""
    monkeypatch.chdir(folder)
    for command in commands(block):
        code = main(shlex.split(command)[1:])
        err = capsys.readouterr().err
        assert code == 0, f"{block.name}: {command}\nexit {code}\n{err}"


def run_chain(links: list[Block], folder: Path, capsys, monkeypatch) -> None:
    """Consecutive Python blocks run in one interpreter; bash blocks in-process, in between."""
    pending: list[Block] = []
    for block in [*links, None]:
        if pending and (block is None or block.language != "python"):
            run_python("\n".join(b.text for b in pending), folder, " + ".join(b.name for b in pending))
            pending = []
        if block is not None and block.language == "python":
            pending.append(block)
        elif block is not None:
            run_commands(block, folder, capsys, monkeypatch)


BLOCKS = code_blocks()


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_every_example_runs_as_written(block, tmp_path, capsys, monkeypatch):
    links = chain(block)
    for link in links:
        reason = needs(link) or (why_not_run(link) if link.language == "bash" else None)
        if reason:
            pytest.skip(f"{block.name}: {reason}")
    run_chain(links, tmp_path, capsys, monkeypatch)


def test_the_documents_hold_the_examples():
    """No example escapes the runner: every fence starts a line and names a known language."""
    for path in DOCUMENTS:
        indented = [i + 1 for i, line in enumerate(path.read_text(encoding="utf-8").splitlines())
                    if re.match(r"\s+```", line)]
        assert not indented, f"{path.name}: indented code fences at lines {indented}"
        assert {b.language for b in read_blocks(path)} <= {"python", "bash", "json", ""}, path.name
    names = {b.path.name for b in BLOCKS if b.language == "python"}
    assert {"README.md", "guide.md", "index.md"} <= names
    assert sum(b.language == "python" for b in BLOCKS) >= 15
    for block in BLOCKS:
        assert not chain(block)[0].continues, block.name  # a chain starts somewhere


def test_a_block_that_fails_fails_its_test(tmp_path):
    broken = Block(ROOT / "README.md", 1, "python", "", "import deltaprop as dp\ndp.MLP([2, 2]).fit(X, y)")
    with pytest.raises(pytest.fail.Exception, match="NameError: name 'X' is not defined"):
        run_chain([broken], tmp_path, None, None)
    warns = Block(ROOT / "README.md", 1, "python", "", "import warnings\nwarnings.warn('stale')")
    with pytest.raises(pytest.fail.Exception, match="UserWarning: stale"):
        run_chain([warns], tmp_path, None, None)


def test_a_continuing_block_runs_after_the_block_above():
    path = ROOT / "docs" / "guide.md"
    (first, second) = [b for b in read_blocks(path) if b.section == "Quick start in Python"][:2]
    assert second.continues and chain(second) == [first, second]
