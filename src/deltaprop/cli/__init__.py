"""The command line: ``deltaprop <command>`` (also ``python -m deltaprop``).

Commands: ``train`` (no arguments: scikit-learn's digits, the held-out accuracy printed),
``resume`` (a checkpointed run), ``evaluate``, ``predict``, ``gradcheck``, ``plot``, ``export``,
``info``, ``datasets``, ``sweep``, ``playground`` (a local web page that trains in the browser).
Results go to stdout (``--json``: one JSON object); progress and errors go to stderr.

Exit codes: 0 success; 1 a check failed (``gradcheck``) or training diverged (no model is
written then); 2 bad usage or bad input (the one-line message on stderr names the problem);
130 interrupted (Ctrl-C during training stops after the current batch and saves the weights
kept; a second Ctrl-C stops at once).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from deltaprop.cli import commands
from deltaprop.cli.parser import build_parser
from deltaprop.cli.sweep import sweep

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
HANDLERS = {
    "train": commands.train, "sweep": sweep, "resume": commands.resume, "evaluate": commands.evaluate,
    "predict": commands.predict, "gradcheck": commands.gradcheck, "plot": commands.plot,
    "export": commands.export, "info": commands.info, "datasets": commands.datasets,
    "playground": commands.playground,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # plain `deltaprop`: the main job
        args = parser.parse_args(["train"])
    try:
        return int(HANDLERS[args.command](args))
    except KeyboardInterrupt:
        print("deltaprop: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed early (`deltaprop predict ... | head`): not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (Python flushes it at exit)
        return EXIT_OK
    except (ValueError, TypeError, FileNotFoundError, IsADirectoryError, PermissionError,
            ImportError) as error:
        print(f"deltaprop {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
