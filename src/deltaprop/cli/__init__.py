"""The command line: ``deltaprop <command>`` (also ``python -m deltaprop``).

Commands: ``train`` (no options: scikit-learn's digits, the held-out accuracy printed, the
model written to ``digits.dp``; a run with problems ends with the doctor's one line),
``resume`` (a checkpointed run), ``evaluate``, ``predict``, ``gradcheck``, ``plot``, ``export``,
``info``, ``doctor`` (what went wrong in a model's run, and what to change:
:mod:`deltaprop.doctor`), ``datasets``, ``sweep``, ``playground`` (a local web page that trains
in the browser), ``build-kernels`` (the compiled engine's kernels into the disk cache, ahead of
a first run).
Results go to stdout (``--json``: one JSON object); progress and errors go to stderr. A bare
``deltaprop`` prints the help; ``deltaprop --version`` the version.

Exit codes: 0 success; 1 a check failed (``gradcheck``), training diverged (no model is
written then) or no trial of a ``sweep`` succeeded; 2 bad usage or bad input, including an
output that is the same file as an input or as another output (refused before any work, see
:mod:`deltaprop.cli.paths`), a network too large for the machine (:mod:`deltaprop.cli.budget`)
and a write cut short (the old file is kept): one line on stderr names the problem, never a
traceback; 130 interrupted (Ctrl-C during training stops after the current batch and saves
the weights kept; a second Ctrl-C stops at once).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from deltaprop.cli import commands
from deltaprop.cli.doctor import doctor
from deltaprop.cli.parser import build_parser
from deltaprop.cli.sweep import sweep

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
HANDLERS = {
    "train": commands.train, "sweep": sweep, "resume": commands.resume, "evaluate": commands.evaluate,
    "predict": commands.predict, "gradcheck": commands.gradcheck, "plot": commands.plot,
    "export": commands.export, "info": commands.info, "datasets": commands.datasets,
    "playground": commands.playground, "build-kernels": commands.build_kernels, "doctor": doctor,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0), or argparse's one-line error (2): a return too
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    if args.command is None:  # plain `deltaprop`: what there is to do, not a surprise run
        parser.print_help(sys.stdout)
        return EXIT_OK
    try:
        return int(HANDLERS[args.command](args))
    except KeyboardInterrupt:
        print("deltaprop: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed early (`deltaprop predict ... | head`): not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (Python flushes it at exit)
        return EXIT_OK
    except (ValueError, TypeError, OSError, ImportError, MemoryError, RecursionError) as error:
        print(f"deltaprop {args.command}: error: {describe(error)}", file=sys.stderr)
        return EXIT_USAGE


def describe(error: BaseException) -> str:
    """The one line that says what went wrong: the message (an OSError as its file and its
    reason, without errno), on one line whatever the message held."""
    if isinstance(error, MemoryError):
        text = f"out of memory{': ' + str(error) if str(error) else ''}"
    elif isinstance(error, RecursionError):
        text = f"the input nests too deeply ({error})"
    elif isinstance(error, OSError) and error.strerror and error.filename is not None:
        text = f"{error.filename}: {error.strerror}"
    elif isinstance(error, OSError) and error.strerror:
        text = error.strerror
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())
