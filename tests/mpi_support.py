"""Launching ``mpiexec -n K`` for the tests that train on several ranks, and a communicator of one
rank for the checks that need no second process.

A script run on the ranks writes its results as JSON to the file named by its first argument
(rank 0 alone writes) and :func:`run_ranks` hands them back. Every script runs under
``python -m mpi4py``: an exception on one rank aborts the whole job at once, where plain
``python`` would leave the other ranks waiting in a collective until the timeout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def mpiexec_or_skip() -> Path:
    """This environment's own launcher (another MPI's could start K single-rank jobs), else the
    one on the PATH; the test is skipped without a launcher or without mpi4py."""
    pytest.importorskip("mpi4py")
    launcher = Path(sys.executable).with_name("mpiexec")
    if not launcher.exists():
        launcher = Path(shutil.which("mpiexec") or "missing")
    if not launcher.exists():
        pytest.skip("no mpiexec (pip install mpich)")
    return launcher


def launch(n: int, command: list[Any], *, timeout: float,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``mpiexec -n n COMMAND``, which must succeed (else its stderr is the failure)."""
    done = subprocess.run([str(mpiexec_or_skip()), "-n", str(n), *map(str, command)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done


def run_ranks(n: int, script: Path, *args: object, timeout: float = 120) -> Any:
    """Run the Python file ``script`` on ``n`` ranks as ``script OUT.json ARGS``; the JSON that
    rank 0 wrote to OUT.json."""
    with tempfile.TemporaryDirectory(prefix="deltaprop-mpi-") as folder:
        out = Path(folder) / "results.json"
        done = launch(n, [sys.executable, "-m", "mpi4py", script, out, *args], timeout=timeout)
        assert out.exists(), f"{Path(script).name} on {n} ranks wrote no results:\n{done.stdout}{done.stderr}"
        return json.loads(out.read_text())


def run_cli_ranks(n: int, *args: str, cwd: Path,
                  timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``deltaprop ARGS`` on ``n`` ranks, the console script as a user starts it (skipped where
    this environment has none)."""
    script = Path(sys.executable).with_name("deltaprop")
    if not script.exists():
        pytest.skip("no deltaprop script in this environment")
    return launch(n, [script, *args], timeout=timeout, cwd=cwd)


def relative_error(got: Any, want: Any) -> float:
    """Largest error relative to each value, or to the values' typical size for the ones near 0
    (whose rounding is that of their neighbours in the sums)."""
    a, b = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert a.shape == b.shape
    if b.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), np.sqrt(np.mean(b**2)))))


class OneRankComm:
    """A communicator of one rank: its sums are the values themselves, and ``allgather`` hears
    ``gathered`` where given (what other ranks would say), else the value alone."""

    def __init__(self, gathered: list | None = None) -> None:
        self.gathered = gathered

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def Bcast(self, buffer: Any, root: int = 0) -> None:
        pass

    def bcast(self, value: Any, root: int = 0) -> Any:
        return value

    def Allreduce(self, send: Any, receive: Any = None, op: Any = None) -> None:
        if receive is not None and isinstance(send, np.ndarray):  # else MPI.IN_PLACE: the sum is there
            np.copyto(receive, send)

    def allgather(self, value: Any) -> list:
        return self.gathered if self.gathered is not None else [value]
