"""The Checkpoint callback: a run written to disk every few epochs, continued later to the same
weights, bit for bit, as if it had never stopped.

A checkpoint is a model file of kind ``checkpoint`` (:mod:`deltaprop.files.container`: JSON and
``.npy`` arrays, written atomically): the network, and in its ``run`` section what the rest of
the run needs: the epochs done, the history so far, the optimizer (its settings, step count
and moment/velocity arrays), the random generator (in the network), the state of callbacks
that keep one (early stopping's best epoch and weights), the rows of a validation split, the
options ``fit`` was called with, and a fingerprint of the training data, so a run is never
resumed on other data by mistake.

Restarts are not checkpointed (each run would need its own file).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from deltaprop._validation import check_positive
from deltaprop.callbacks.base import Callback, RunView, keeps_state
from deltaprop.files.atomic import check_writable
from deltaprop.files.container import KINDS, manifest_text, read_archive, save_payload
from deltaprop.files.errors import ModelFileError

UNFINISHED = ("interrupted", "time_limit", "diverged")  # resume continues these runs


class Checkpoint(Callback):
    """Write the run to ``path`` every ``every`` epochs and when it ends (atomically: a crash
    while writing leaves the previous checkpoint whole). ``fit(checkpoint=path)`` adds one;
    pass a Checkpoint instead to store ``metadata`` (JSON) of the caller's in the file too.

    ``path`` and ``metadata`` are checked when it is made
    (:func:`~deltaprop.files.atomic.check_writable`), and the path again by ``fit`` before the
    first step, so a run is never refused after it began."""

    def __init__(self, path: str | os.PathLike[str], every: int = 1,
                 metadata: dict[str, Any] | None = None) -> None:
        self.path = _check_replaceable(check_writable(path, "checkpoint"))
        self.every = check_positive("checkpoint_every", every, integer=True)
        self.metadata = _check_metadata(metadata)
        self.plan: dict[str, Any] = {}  # set by fit: FitOptions.to_dict(), data fingerprint, split rows
        self.last_state: Any = None

    def on_epoch_end(self, trainer: RunView, epoch: int, logs: dict[str, Any]) -> None:
        if trainer.in_worker or not trainer.epoch_complete:
            return  # an epoch cut short (Ctrl-C, a time limit) is not a state to resume from
        if epoch % self.every == 0:
            self.write(trainer, epoch, finished=False)
        if epoch == trainer.epochs or trainer.stop_reason is not None:
            self.last_state = trainer.net.snapshot()  # before early stopping restores its best

    def on_train_end(self, trainer: RunView) -> None:
        # Only a run that really ended is written as finished. After Ctrl-C, a time limit or
        # divergence the last whole epoch's checkpoint stands: resuming repeats what followed
        # it, as the uninterrupted run did (or, after divergence, with a smaller rate).
        if trainer.in_worker or trainer.stop_reason in UNFINISHED:
            return
        self.write(trainer, trainer.history.n_epochs, finished=True, last_state=self.last_state)

    def write(self, trainer: RunView, epoch: int, *, finished: bool, last_state: Any = None) -> None:
        """Save the network, the optimizer, the callbacks' states and the plan; with
        ``last_state`` (a finished run whose best epoch was restored) also the last epoch's
        parameters, from which ``resume(epochs=more)`` continues."""
        net, previous = trainer.net, trainer.net.history
        states = [(type(c).__name__, c.state_dict()) for c in trainer.callbacks if keeps_state(c)]
        arrays: dict[str, np.ndarray] = dict(self.plan.get("rows", {}))
        if last_state is not None:
            state_theta, stats = last_state
            arrays["last.theta"] = state_theta
            for i, (mean, var) in enumerate(stats):
                arrays[f"last.stats.{i}.mean"], arrays[f"last.stats.{i}.var"] = mean, var
        state = lift_arrays({"optimizer": trainer.optimizer.state_dict(), "callbacks": states},
                             arrays)
        run = {"epoch": epoch, "finished": finished, "stop_reason": trainer.stop_reason,
               "options": self.plan.get("options", {}), "optimizer": trainer.optimizer.to_config(),
               "state": state, "fingerprint": self.plan.get("fingerprint"),
               "every": self.every}
        sections = {"run": run, **({"metadata": self.metadata} if self.metadata else {})}
        net.history = trainer.history  # the run so far goes into the file
        try:
            save_payload(self.path, net, "checkpoint", sections,
                         {f"run.{name}": array for name, array in arrays.items()})
        finally:
            net.history = previous


def _check_replaceable(path: str) -> str:
    """``path``, unless a file is there that is not a checkpoint: a checkpoint replaces the
    previous checkpoint of a run, never a model, a data file or anything else of the user's."""
    if not os.path.exists(path):
        return path
    try:
        kind, why = read_archive(path, arrays=False).kind, ""
    except (ModelFileError, OSError) as error:
        kind, why = None, f" ({str(error).removeprefix(f'{path}: ')})"
    if kind != "checkpoint":
        what = f"a model file holding {KINDS[kind]}" if kind else f"a file that is not a checkpoint{why}"
        raise ValueError(f"checkpoint {path}: there is {what}, which a checkpoint would replace; "
                         "choose another path, or move that file first")
    return path


def _check_metadata(metadata: Any) -> dict[str, Any]:
    """A copy of ``metadata`` if it is a dict the file's JSON can hold, checked now rather than
    at the first write (after an epoch has changed the weights)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as error:
        raise TypeError(f"metadata must hold only what JSON can (dicts, lists, strings, numbers, "
                        f"True, False, None): {error}") from None
    try:  # within what a model file holds: refused now, not at the first write
        manifest_text({"metadata": metadata})
    except ValueError as error:
        raise ValueError(f"metadata: {error}") from None
    return dict(metadata)


def lift_arrays(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``value`` with each ndarray moved into ``arrays`` and replaced by ``{"array": key}``."""
    if isinstance(value, np.ndarray):
        key = f"state.{len([k for k in arrays if k.startswith('state.')])}"
        arrays[key] = value
        return {"array": key}
    if isinstance(value, dict):
        return {k: lift_arrays(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [lift_arrays(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def lower_arrays(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Undo :func:`lift_arrays`."""
    if isinstance(value, dict):
        if set(value) == {"array"}:
            return arrays[value["array"]].copy()
        return {k: lower_arrays(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_arrays(v, arrays) for v in value]
    return value
