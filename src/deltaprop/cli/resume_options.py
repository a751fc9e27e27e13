"""The options of a ``deltaprop train`` run as its checkpoint stores them, for ``deltaprop
resume``: written by :func:`train_options` when the run is checkpointed, read back and checked
by :func:`stored_options` when it is resumed (a checkpoint missing an option, or holding a
value of the wrong kind, is named rather than resumed)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from deltaprop.tuning import options as training

# The options a checkpoint stores, each with its kind (text, whole, number, flag; "?": may be
# null), as :func:`deltaprop.tuning.options.is_kind` reads kinds: the training options' own
# (:data:`deltaprop.tuning.options.KINDS`) and the command line's.
TRAIN_OPTIONS = {
    "data": "text", "target": "text?", "task": "text?", "one_hot": "flag", **training.KINDS,
    "restarts": "whole", "n_jobs": "whole?", "out": "text?", "checkpoint_every": "whole?",
    "checkpoint": "text?", "history": "text?"}
# The stored options that take one of a few values.
CHOICES = {**training.CHOICES, "task": (None, "classify", "regress")}
PATHS = ("out", "checkpoint", "history")  # stored absolute: resumed from any folder


def train_options(args: argparse.Namespace) -> dict[str, Any]:
    """The train options of ``args``, JSON-ready, for a checkpoint's metadata; file paths made
    absolute, so that the run can be resumed from any folder."""
    options: dict[str, Any] = {name: getattr(args, name, None) for name in TRAIN_OPTIONS}
    for name in PATHS:
        if options[name]:
            options[name] = os.path.abspath(str(options[name]))
    if os.path.exists(str(options["data"])):  # a file, not an embedded dataset's name
        options["data"] = os.path.abspath(str(options["data"]))
    return options


def stored_options(metadata: dict[str, Any], path: str) -> argparse.Namespace:
    """The train options the checkpoint at ``path`` stored (what :func:`train_options` wrote),
    checked.

    Raises
    ------
    ValueError
        Naming the options missing, or those holding a value of the wrong kind.
    """
    stored = metadata.get("train_options")
    if not isinstance(stored, dict):
        raise ValueError(f"{path}: a checkpoint written from Python; continue it with "
                         "deltaprop.resume(path, X, y)")
    missing = [name for name in TRAIN_OPTIONS if name not in stored]
    if missing:
        raise ValueError(f"{path}: the checkpoint's stored train options lack {', '.join(missing)}; "
                         "deltaprop resume cannot rebuild the run (deltaprop.resume can, from Python)")
    wrong = [name for name, kind in TRAIN_OPTIONS.items() if not training.is_kind(stored[name], kind)]
    wrong += [name for name, allowed in CHOICES.items() if stored[name] not in allowed]
    if wrong:
        values = ", ".join(f"{name}={repr(stored[name])[:40]}" for name in wrong[:5])
        raise ValueError(f"{path}: the checkpoint's stored train options hold values of the wrong "
                         f"kind ({values})")
    return argparse.Namespace(**{name: stored[name] for name in TRAIN_OPTIONS})
