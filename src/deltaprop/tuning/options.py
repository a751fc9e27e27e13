"""The options of a training run as a sweep (or ``deltaprop train``) names them, with their
defaults, the kind of value each takes and each one's own rule.

Values are as JSON gives them: hidden widths and batch sizes as text (``"32,16"``, ``"full"``),
names as text, numbers, flags. :func:`check_option` refuses a bad value naming it as the caller
does (``params.lr`` in a sweep spec, ``--lr`` on the command line), so a value is refused
before it is ever trained; :func:`check_combination` refuses options that do not go together;
:func:`task_loss` refuses a loss the data's task cannot take. ``deltaprop train`` takes these
rules from here (adding its own options' rules on top) and words their messages with
:data:`FLAGS` where a library call words them with :data:`KEYWORDS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from deltaprop.activations import get_activation
from deltaprop.files.codec import MAX_LAYERS
from deltaprop.initializers import get_initializer
from deltaprop.losses import get_loss

# Each hidden layer is up to four layers (dense, BatchNorm, activation, dropout): as many as a
# model file holds.
MAX_HIDDEN_LAYERS = (MAX_LAYERS - 2) // 4
# ``deltaprop train``'s defaults (``loss`` None: the task's; ``init`` None: the activation's).
DEFAULTS: dict[str, Any] = {
    "hidden": "128", "activation": "relu", "loss": None, "optimizer": "adam", "lr": 0.001,
    "momentum": 0.0, "epochs": 30, "batch_size": "32", "l2": 0.0, "batch_norm": False,
    "dropout": 0.0, "init": None, "seed": 0, "test_fraction": None, "val_fraction": 0.0,
    "early_stopping": None}
DEFAULT_LOSS = {"classify": "cross_entropy", "regress": "squared_error"}  # loss None: the task's
CLASSIFYING = ("cross_entropy", "binary_cross_entropy")  # losses' canonical names
REGRESSION_ONLY = ("poisson",)  # losses whose targets are numbers, never class labels
# The kind of each option's value (text, whole, number, flag; "?": may be null).
KINDS: dict[str, str] = {
    "hidden": "text", "activation": "text", "loss": "text?", "optimizer": "text",
    "lr": "number", "momentum": "number", "epochs": "whole", "batch_size": "text",
    "l2": "number", "batch_norm": "flag", "dropout": "number", "init": "text?", "seed": "whole",
    "test_fraction": "number?", "val_fraction": "number", "early_stopping": "whole?"}
TYPES = {"text": (str,), "whole": (int,), "number": (int, float), "flag": (bool,)}
CHOICES = {"optimizer": ("adam", "sgd")}

# Each option's own rule, whatever the other options are: a test of its value and what the
# value must be. A null value (an option left out) passes.
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "epochs": (lambda v: v >= 1, "must be at least 1"),
    "lr": (lambda v: v > 0, "must be positive"),
    "momentum": (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
    "l2": (lambda v: v >= 0, "must be >= 0"),
    "dropout": (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
    "seed": (lambda v: v >= 0, "must be >= 0"),
    "test_fraction": (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
    "val_fraction": (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
    "early_stopping": (lambda v: v >= 1, "must be at least 1 epoch"),
}


@dataclass(frozen=True)
class Wording:
    """How a message names an option, the targets and the way to the other task: as a call of
    the library does (``loss 'hinge'``, ``test_fraction``, ``y``: :data:`KEYWORDS`) or as the
    command line does (``--loss hinge``, ``--test-fraction``, ``the target``: :data:`FLAGS`)."""

    flags: bool
    targets: str
    to_regress: str  # how to ask for regression instead
    to_count: str  # what to drop for a regression-only loss given with labels ("" : nothing)

    def option(self, name: str) -> str:
        """The option ``name`` (``test_fraction``) as this wording names it."""
        return "--" + name.replace("_", "-") if self.flags else name

    def value(self, name: str, value: Any) -> str:
        """The option ``name`` with its ``value``: ``--loss hinge``, ``loss 'hinge'``."""
        return f"{self.option(name)} {value}" if self.flags else f"{name} {value!r}"

    def setting(self, name: str, value: Any) -> str:
        """The option ``name`` set to ``value``: ``--optimizer sgd``, ``optimizer='sgd'``."""
        return f"{self.option(name)} {value}" if self.flags else f"{name}={value!r}"


KEYWORDS = Wording(False, "y", "to regress", "")
FLAGS = Wording(True, "the target", "for --task regress", "; drop --task classify (it then regresses)")


def is_kind(value: Any, kind: str) -> bool:
    """Whether ``value`` (read from JSON) is of ``kind``, a kind of :data:`KINDS`."""
    if value is None:
        return kind.endswith("?")
    if isinstance(value, bool) and kind.rstrip("?") != "flag":  # JSON true is not a number
        return False
    return isinstance(value, TYPES[kind.rstrip("?")])


def kind_words(kind: str) -> str:
    """A kind of :data:`KINDS` in words, for messages."""
    words = {"text": "text", "whole": "a whole number", "number": "a number",
             "flag": "true or false"}[kind.rstrip("?")]
    return f"{words} or null" if kind.endswith("?") else words


def check_option(name: str, value: Any, where: str | None = None, *,
                 rules: Mapping[str, tuple[Callable[[Any], bool], str]] = RULES) -> None:
    """Refuse a bad value of one option, the message naming it as ``where`` (default
    ``--name``): its rule (of ``rules``: :data:`RULES`, or a caller's with more options), its
    parse (widths, batch size), its name lookup (activation, initializer, loss).

    Raises
    ------
    ValueError
        Naming ``where``, the rule and the value.
    """
    where = where or FLAGS.option(name)
    if value is None:
        return
    test, must = rules.get(name, (lambda v: True, ""))
    if isinstance(value, float) and not math.isfinite(value):  # inf passes every bound
        raise ValueError(f"{where} must be a finite number, got {value}")
    if not test(value):
        raise ValueError(f"{where} {must}, got {value}")
    parse = PARSERS.get(name)
    if parse is None:
        return
    try:
        parse(value)
    except (ValueError, TypeError) as error:  # its message, naming the option as asked
        message, default = str(error), FLAGS.option(name)
        raise ValueError(where + message[len(default):] if message.startswith(default)
                         else f"{where}: {message}") from None


def check_combination(options: Mapping[str, Any], wording: Wording = KEYWORDS) -> None:
    """Refuse options that do not go together (each one fine on its own), naming them as
    ``wording`` does."""
    momentum, early_stopping = wording.option("momentum"), wording.option("early_stopping")
    if options.get("optimizer", "adam") != "sgd" and options.get("momentum", 0):
        raise ValueError(f"{momentum} is for {wording.setting('optimizer', 'sgd')}")
    if options.get("early_stopping") is not None and not options.get("val_fraction"):
        raise ValueError(f"{early_stopping} needs {wording.option('val_fraction')} (a validation "
                         "split to watch)")


def task_loss(name: str | None, task: str, classes: Any, wording: Wording = KEYWORDS) -> str:
    """The loss's canonical name (``name``, else the task's default), checked against the
    ``task`` and its ``classes`` (None when regressing): cross-entropies classify; binary
    cross-entropy takes two classes, on one output.

    Raises
    ------
    ValueError
        Naming the loss and the task as ``wording`` does.
    """
    loss = get_loss(name).name if name else DEFAULT_LOSS[task]
    said = wording.value("loss", name)
    if task == "regress" and loss in CLASSIFYING:
        raise ValueError(f"{said} is for classification; {wording.to_regress} use squared_error, "
                         "mse or poisson")
    if task == "classify" and loss in REGRESSION_ONLY:
        raise ValueError(f"{said} is for regression on counts, not class labels{wording.to_count}")
    n_classes = 0 if classes is None else len(classes)
    if loss == "binary_cross_entropy" and n_classes != 2:
        raise ValueError(f"{said} takes two classes (on one sigmoid output); {wording.targets} "
                         f"has {n_classes}: use cross_entropy")
    return loss


def hidden_sizes(text: str) -> list[int]:
    """Widths from "128,64"; "" (or spaces) is no hidden layer, and an empty entry ("4,,4",
    "4,") is refused rather than dropped."""
    parts = text.replace(" ", "").split(",") if text.strip() else []
    if len(parts) > MAX_HIDDEN_LAYERS:  # each a few Python objects the memory estimate omits
        raise ValueError(f"--hidden gives {len(parts):,} hidden layers; at most "
                         f"{MAX_HIDDEN_LAYERS:,}")
    for number, part in enumerate(parts, start=1):
        if not part:
            raise ValueError(f"--hidden {text!r}: hidden layer {number} has no width (an empty "
                             "entry between commas)")
        if not (part.isascii() and part.lstrip("+-").isdigit()):
            raise ValueError(f"--hidden takes widths like 128,64; got {text!r}")
    sizes = [int(part) for part in parts]
    if any(size <= 0 for size in sizes):
        raise ValueError(f"--hidden widths must be positive; got {text!r}")
    return sizes


def batch_size(text: str) -> int | str:
    """A batch size from its text: a positive integer, or ``"full"``."""
    if text == "full":
        return "full"
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise ValueError(f"--batch-size takes a positive integer or 'full'; got {text!r}")
    return size


def _name_of(lookup: Callable[[str], Any]) -> Callable[[str], Any]:
    """A name lookup that takes only names (a spec's value is text by then)."""
    return lambda name: lookup(name) if isinstance(name, str) else None


PARSERS: dict[str, Callable[[Any], Any]] = {
    "hidden": hidden_sizes, "batch_size": batch_size,
    "activation": _name_of(get_activation), "init": _name_of(get_initializer),
    "loss": _name_of(get_loss)}
