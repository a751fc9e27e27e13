"""The command line's arguments: every command, its options and their help.

Only the grammar: which function runs a command is :mod:`deltaprop.cli`'s business, so any
module (``sweep`` rebuilds ``train``'s defaults from here) can import this one. Every option
has a help text, and ``--help`` shows each default; a mistyped option or command is named in
one line with the closest valid one.
"""

from __future__ import annotations

import argparse
import difflib
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from deltaprop._version import __version__
from deltaprop.activations import ACTIVATIONS
from deltaprop.data.stream import BUFFER_ROWS, CHUNK_ROWS
from deltaprop.initializers import INITIALIZERS

MODEL_HELP = ("a model file: from deltaprop train, deltaprop.save, an estimator's save, or a "
              "checkpoint (files without preprocessing take the data's numbers as given)")


class DefaultsFormatter(argparse.HelpFormatter):
    """argparse's help with each option's default after its text, ``(default: 128)``, unless
    the text already says it or there is none to say (an unset option, a flag off)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        unset = action.default is None or action.default is False  # (0 == False: not `in`)
        if unset or action.default == argparse.SUPPRESS or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse's parser, its errors told in one line with the way to the help (argparse's own
    way is the whole usage, a dozen lines that bury the one that matters), a mistyped option
    or command named with the closest valid one."""

    commands: Mapping[str, argparse.ArgumentParser]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)  # the commands' parsers too
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (try: {self.prog} --help)\n")

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: Any = None) -> argparse.Namespace:
        """Parse; an unknown option is reported by its command's parser, which names the
        command (argparse has the top-level parser report it)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(self, "commands", {}).get(getattr(parsed, "command", None), self)
            command.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        """argparse's parse, after the words it would not know are refused by name (argparse
        calls this for the command's own words too, so each parser checks its own)."""
        words = list(sys.argv[1:] if args is None else args)
        self._check_words(words)
        return super().parse_known_args(words, namespace)

    def _check_words(self, words: list[str]) -> None:
        """Refuse the first option this parser does not know (nor abbreviates) and, for the
        top level, a command that does not exist: each named with the closest valid one."""
        options = [option for action in self._actions for option in action.option_strings]
        commands = getattr(self, "commands", None)
        for word in words:
            if word == "--":  # the rest are values
                return
            if commands is not None and not word.startswith("-"):  # the command: the rest is its
                if word not in commands:
                    names = ", ".join(commands)
                    self.error(_unknown("command", word, list(commands)) or
                               f"unknown command {shlex.quote(word)} (the commands: {names})")
                return
            name = word.split("=", 1)[0]
            if _is_option(word) and not any(option.startswith(name) for option in options):
                self.error(_belongs(name, commands) or _unknown("option", name, options)
                           or f"unknown option {shlex.quote(name)}")


def _unknown(kind: str, word: str, valid: list[str]) -> str:
    """``unknown option --hiden; did you mean --hidden?`` (difflib's closest), or "" when no
    valid word is close."""
    close = difflib.get_close_matches(word.lower(), valid, n=1)  # (--HIDDEN: --hidden)
    return f"unknown {kind} {shlex.quote(word)}; did you mean {close[0]}?" if close else ""


def _belongs(name: str, commands: Mapping[str, argparse.ArgumentParser] | None) -> str:
    """For an option given before the command: which command has it."""
    owners = [command for command, parser in (commands or {}).items()
              if any(name in action.option_strings for action in parser._actions)]
    return (f"{name} is an option of {' and '.join(owners[:3])}{', ...' if len(owners) > 3 else ''}: "
            "give it after the command" if owners else "")


def _is_option(word: str) -> bool:
    """A word argparse reads as an option: a dash and more, not a number such as -1 or -0.5."""
    if not word.startswith("-") or word == "-":
        return False
    try:
        float(word)
    except ValueError:
        return True
    return False


def build_parser() -> Parser:
    """The argument parser of every command."""
    parser = Parser(
        prog="deltaprop", description="Multilayer perceptrons trained by backpropagation. "
        "Start with: deltaprop train (the digits demo; the model goes to digits.dp).",
        epilog="Data: a CSV, .npy, .npz or .parquet file, or an embedded dataset by name "
               "(deltaprop datasets). Exit codes: 0 ok, 1 check failed, 2 bad usage or input.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="command",  # of the same class
                                help="one of these (deltaprop COMMAND --help lists its options)")
    parser.commands = sub.choices
    _train_parser(sub)
    _run_parsers(sub)
    _model_parsers(sub)
    _tool_parsers(sub)
    return parser


def _run_parsers(sub: argparse._SubParsersAction) -> None:
    """The commands that train besides ``train``: ``sweep`` and ``resume``."""
    sweep = sub.add_parser("sweep", help="grid or random search over training options")
    sweep.add_argument("spec", help="a JSON spec (see deltaprop.cli.sweep)")
    _data_options(sweep, required=False, default="digits")
    sweep.add_argument("--task", choices=["classify", "regress"],
                       help="default: classify for string or few integer labels, else regress")
    sweep.add_argument("--seed", type=int, default=0, help="seed of the splits, weights and draws")
    sweep.add_argument("--out-dir", default="sweep", help="folder of results.jsonl, results.csv "
                       "and best.dp (made if missing)")
    sweep.add_argument("--n-jobs", type=int, help="trials at once in local processes "
                       "(default: one at a time; -1: every core)")
    sweep.add_argument("--scheduler", help="a Dask scheduler, tcp://HOST:PORT (default: local)")
    _output_options(sweep)
    resume = sub.add_parser("resume", help="continue a run from its checkpoint")
    resume.add_argument("checkpoint", help="written by train --checkpoint-every")
    resume.add_argument("--epochs", dest="resume_epochs", type=int,
                        help="a new total number of epochs (default: the run's)")
    resume.add_argument("--out", help="model file to write (default: the run's --out)")
    _output_options(resume)


def _model_parsers(sub: argparse._SubParsersAction) -> None:
    """The commands that read a model file (any kind that holds a network)."""
    evaluate = sub.add_parser("evaluate", help="score a model on labelled data")
    evaluate.add_argument("model", help=MODEL_HELP)
    _data_options(evaluate, required=True)
    _output_options(evaluate)
    predict = sub.add_parser("predict", help="write a model's predictions as CSV")
    predict.add_argument("model", help=MODEL_HELP)
    _data_options(predict, required=True)
    predict.add_argument("--out", help="CSV file to write (default: stdout)")
    _output_options(predict)
    check = sub.add_parser("gradcheck", help="backprop against central differences, in float64")
    check.add_argument("model", nargs="?", help=MODEL_HELP + "; default: a small random network")
    check.add_argument("--data", help="rows to check on (default: the model's data, else random)")
    check.add_argument("--target", help="target column(s) of --data to leave out")
    check.add_argument("--rows", type=int, default=8, help="samples in the checked batch")
    check.add_argument("--seed", type=int, default=0, help="seed of the rows and directions drawn")
    _output_options(check)
    plot = sub.add_parser("plot", help="loss curves, gradient norms, decision boundary, fit")
    plot.add_argument("source", help="a model file, or a history JSON (train --history)")
    plot.add_argument("--kind", choices=["loss", "gradnorm", "boundary", "fit"], default="loss",
                      help="what to draw (boundary: a 2-feature classifier; fit: a 1-feature "
                           "regressor)")
    plot.add_argument("--out", required=True, help="PNG file to write")
    _data_options(plot, required=False)
    _output_options(plot)
    export = sub.add_parser("export", help="write a model as ONNX")
    export.add_argument("model", help=MODEL_HELP)
    export.add_argument("--onnx", required=True, help="ONNX file to write")
    _output_options(export)
    doctor = sub.add_parser("doctor", help="name what went wrong in a model's training run, "
                            "and what to change")
    doctor.add_argument("model", help=MODEL_HELP)
    _data_options(doctor, required=True)
    doctor.add_argument("--loss", help="the loss to diagnose with (default: the one the model "
                        "was trained with)")
    _output_options(doctor)
    info = sub.add_parser("info", help="architecture, parameters and training summary")
    info.add_argument("model", help=MODEL_HELP)
    _output_options(info)


def _tool_parsers(sub: argparse._SubParsersAction) -> None:
    kernels = sub.add_parser("build-kernels", help="build the compiled engine's kernels ahead of a first run")
    _output_options(kernels)
    datasets = sub.add_parser("datasets", help="list the embedded datasets")
    _output_options(datasets)
    playground = sub.add_parser("playground", help="serve the playground page (train in a browser)")
    playground.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a "
                            "free one")
    playground.add_argument("--host", default="127.0.0.1",
                            help="address to listen on (127.0.0.1: this machine only)")
    playground.add_argument("--verbose", action="store_true", help="log every request")


def _train_parser(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train an MLP (no options: the digits demo)")
    _data_options(train, required=False, default="digits")
    train.add_argument("--task", choices=["classify", "regress"],
                       help="default: classify for string or few integer labels, else regress")
    train.add_argument("--hidden", default="128", help="hidden widths, e.g. 128,64 ('' for none)")
    train.add_argument("--activation", default="relu",
                       help=f"of the hidden layers: {', '.join(ACTIVATIONS)}")
    train.add_argument("--loss", help="default: cross_entropy (classify), squared_error (regress)")
    train.add_argument("--optimizer", choices=["adam", "sgd"], default="adam", help="update rule")
    train.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    train.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    train.add_argument("--epochs", type=int, default=30, help="passes over the training rows")
    train.add_argument("--batch-size", default="32", help="rows per step: a size, or 'full'")
    train.add_argument("--l2", type=float, default=0.0, help="weight decay on W (not biases)")
    train.add_argument("--batch-norm", action="store_true",
                       help="batch normalization before each hidden activation")
    train.add_argument("--dropout", type=float, default=0.0,
                       help="fraction of each hidden layer's outputs dropped while training")
    train.add_argument("--init", help=f"initial weights: {', '.join(INITIALIZERS)} (default: he "
                       "for relu, leaky_relu and elu, else glorot)")
    train.add_argument("--restarts", type=int, default=1,
                       help="runs from different initial weights; the best is kept")
    train.add_argument("--n-jobs", type=int, help="restarts at once (joblib; default: one at a "
                       "time; -1: every core)")
    train.add_argument("--seed", type=int, default=0, help="seed of the split, weights and batches")
    train.add_argument("--test-fraction", type=float,
                       help="held out for the final score (default 0.25; none below 20 samples)")
    train.add_argument("--val-fraction", type=float, default=0.0,
                       help="validation split for the curves and --early-stopping")
    train.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                       help="stop after PATIENCE epochs without a better validation loss")
    _train_outputs(train)
    _stream_options(train)
    train.add_argument("--auto", action="store_true",
                       help="choose the widths, depth, learning rate and epochs by measurement "
                            "(deltaprop.tuning.auto_fit); the options it chooses may not be given")
    train.add_argument("--time-budget", type=float, default=120.0, metavar="SECONDS",
                       help="--auto: seconds for the whole search")
    train.add_argument("--engine", choices=["auto", "numpy", "compiled"], default="auto",
                       help="what takes the steps; auto: compiled where it covers the model and "
                            "pays off, else numpy (see README 'Design for speed')")
    _output_options(train)


def _stream_options(train: argparse.ArgumentParser) -> None:
    """How ``train`` streams data larger than memory (deltaprop.cli.stream); dp.stream's
    names and defaults."""
    train.add_argument("--stream", action="store_true",
                       help="stream --data from disk instead of reading it whole: a .npy file "
                            "(its target: the --target column(s), x0, x1, ... as when read whole) "
                            "or a .parquet file; a folder of X_*.npy and y_*.npy shards or of "
                            ".parquet files always streams, and so does a .npy or .parquet file "
                            "too large for the memory available. Streams take no --val-fraction, "
                            "--test-fraction, --restarts or checkpoints")
    train.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, metavar="N",
                       help="streamed data: rows read from a file at a time")
    train.add_argument("--buffer-rows", type=int, default=BUFFER_ROWS, metavar="N",
                       help="streamed data: the shuffle buffer; rows are shuffled within each "
                            "buffer of N rows read (chunks of random shards, in a random order) "
                            "and cut into minibatches")


def _train_outputs(train: argparse.ArgumentParser) -> None:
    """The files ``train`` writes."""
    model = train.add_mutually_exclusive_group()
    model.add_argument("--out", help="model file to write (default: named after the data, "
                       "digits.dp for digits, data.dp for data.csv, in this folder; if that "
                       "file exists, digits-2.dp, digits-3.dp, ...: never overwritten)")
    model.add_argument("--no-save", action="store_true", help="write no model file")
    train.add_argument("--checkpoint-every", type=int, metavar="N",
                       help="write a checkpoint every N epochs (atomically); deltaprop resume "
                            "continues from it")
    train.add_argument("--checkpoint", help="the checkpoint file (default: the model file + "
                       "'.ckpt')")
    train.add_argument("--history", help="write the training history as JSON here")


def _data_options(parser: argparse.ArgumentParser, *, required: bool, default: str | None = None) -> None:
    parser.add_argument("--data", required=required, default=default,
                        help="a data file or an embedded dataset name")
    parser.add_argument("--target", help="target column(s), comma-separated (files only)")
    parser.add_argument("--one-hot", action="store_true",
                        help="train: one-hot encode string feature columns instead of refusing "
                             "them (a trained model encodes its data as it was trained)")


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress on stderr (errors still go there)")
