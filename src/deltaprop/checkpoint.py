"""Checkpoints and resume: a run written to disk every few epochs, continued later to the same
weights, bit for bit, as if it had never stopped.

A checkpoint is a model file (:mod:`deltaprop.modelfile`: JSON and ``.npy`` arrays, written
atomically) that also holds what the rest of the run needs: the epochs done, the history so
far, the optimizer (its settings, step count and moment/velocity arrays), the random generator
(in the network), the state of callbacks that keep one (early stopping's best epoch and
weights), the rows of a validation split, the options ``fit`` was called with, and a
fingerprint of the training data, so a run is never resumed on other data by mistake.

Restarts are not checkpointed (each run would need its own file).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop._validation import check_positive
from deltaprop.callbacks import Callback, EarlyStopping
from deltaprop.history import History
from deltaprop.modelfile import ModelFileError, load_archive, save
from deltaprop.network import Network
from deltaprop.optim import Optimizer, optimizer_from_config

KIND = "deltaprop-checkpoint"
UNFINISHED = ("interrupted", "time_limit", "diverged")  # resume continues these runs


class Checkpoint(Callback):
    """Write the run to ``path`` every ``every`` epochs and when it ends (atomically: a crash
    while writing leaves the previous checkpoint whole). ``fit(checkpoint=path)`` adds one;
    pass a Checkpoint instead to store ``metadata`` (JSON) of the caller's in the file too."""

    def __init__(self, path: str | os.PathLike[str], every: int = 1,
                 metadata: dict[str, Any] | None = None) -> None:
        self.path = os.fspath(path)
        self.every = check_positive("checkpoint_every", every, integer=True)
        self.metadata = dict(metadata or {})
        self.plan: dict[str, Any] = {}  # set by fit: options, data fingerprint, split rows
        self.last_state: Any = None

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        if trainer.in_worker or not trainer.epoch_complete:
            return  # an epoch cut short (Ctrl-C, a time limit) is not a state to resume from
        if epoch % self.every == 0:
            self.write(trainer, epoch, finished=False)
        if epoch == trainer.epochs or trainer.stop_reason is not None:
            self.last_state = trainer.net.snapshot()  # before early stopping restores its best

    def on_train_end(self, trainer: Any) -> None:
        # Only a run that really ended is written as finished. After Ctrl-C, a time limit or
        # divergence the last whole epoch's checkpoint stands: resuming repeats what followed
        # it, as the uninterrupted run did (or, after divergence, with a smaller rate).
        if trainer.in_worker or trainer.stop_reason in UNFINISHED:
            return
        self.write(trainer, trainer.history.n_epochs, finished=True, last_state=self.last_state)

    def write(self, trainer: Any, epoch: int, *, finished: bool, last_state: Any = None) -> None:
        """Save the network, the optimizer, the callbacks' states and the plan; with
        ``last_state`` (a finished run whose best epoch was restored) also the last epoch's
        parameters, from which ``resume(epochs=more)`` continues."""
        net, previous = trainer.net, trainer.net.history
        states = [(type(c).__name__, c.state_dict()) for c in trainer.callbacks if _keeps_state(c)]
        arrays: dict[str, np.ndarray] = dict(self.plan.get("rows", {}))
        if last_state is not None:
            state_theta, stats = last_state
            arrays["last.theta"] = state_theta
            for i, (mean, var) in enumerate(stats):
                arrays[f"last.stats.{i}.mean"], arrays[f"last.stats.{i}.var"] = mean, var
        state = _lift_arrays({"optimizer": trainer.optimizer.state_dict(), "callbacks": states},
                             arrays)
        run = {"epoch": epoch, "finished": finished, "stop_reason": trainer.stop_reason,
               "options": self.plan.get("options", {}), "optimizer": trainer.optimizer.to_config(),
               "state": state, "fingerprint": self.plan.get("fingerprint"),
               "every": self.every}
        extra = {**self.metadata, KIND: run}
        net.history = trainer.history  # the run so far goes into the file
        try:
            save(net, self.path, extra=extra, extra_arrays=arrays)
        finally:
            net.history = previous


@dataclass
class ResumeState:
    """What a checkpoint hands back to ``fit``: the epochs done, the history so far, the rows
    of the validation split, the data fingerprint and the callbacks' states."""

    epoch: int
    history: History
    rows: dict[str, np.ndarray]
    fingerprint: str | None
    callback_states: list[Any]

    def restore_callbacks(self, callbacks: list[Any]) -> None:
        """Give each state-keeping callback its saved state, in order; they must match."""
        keeping = [c for c in callbacks if _keeps_state(c)]
        saved = [name for name, _ in self.callback_states]
        if [type(c).__name__ for c in keeping] != saved:
            raise ValueError(f"the checkpoint holds the states of the callbacks {saved}, but the "
                             f"resumed run has {[type(c).__name__ for c in keeping]}; pass the "
                             "same callbacks as the interrupted run")
        for callback, (_, state) in zip(keeping, self.callback_states):
            callback.load_state_dict(state)


def resume(path: str | os.PathLike[str], X: Any, y: Any, *, sample_weight: Any = None,
           validation_data: Any = None, loss: Any = None, optimizer: Optimizer | None = None,
           callbacks: Any = (), epochs: int | None = None, verbose: bool = False,
           threads: Any = "auto") -> tuple[Network, History]:
    """Continue the run checkpointed at ``path`` on the same data; returns (network, History).

    The weights at the end equal, bit for bit, those of the same run never interrupted (same
    seed, data and options; on one BLAS thread per step, as for small networks). The
    checkpoint keeps being written to ``path``.

    Parameters
    ----------
    path : str or path-like
        Written by ``fit(..., checkpoint=path)`` or ``deltaprop train --checkpoint-every``.
    X, y, sample_weight, validation_data
        The data of the interrupted run (checked against its fingerprint); the validation
        split of ``validation_fraction`` is taken from the checkpoint.
    loss, optimizer, callbacks
        Needed only for objects the file cannot hold: a user-defined loss or optimizer, and the
        same callbacks as the interrupted run (the states of early stopping and of any callback
        with ``state_dict``/``load_state_dict`` are restored). An optimizer given here gets the
        saved state (steps, moments) but keeps its own learning rate: after a divergence,
        resume with a smaller one.
    epochs : int, optional
        A new total number of epochs (default: the interrupted run's).
    verbose, threads
        As for :func:`deltaprop.fit`.
    """
    net, extra, arrays = load_archive(path)
    metadata = {k: v for k, v in extra.items() if k != KIND}
    extra = read_run(path, extra)
    try:
        return _resume(path, net, extra, arrays, metadata, X, y, sample_weight=sample_weight,
                       validation_data=validation_data, loss=loss, optimizer=optimizer,
                       callbacks=callbacks, epochs=epochs, verbose=verbose, threads=threads)
    except KeyError as error:
        raise ModelFileError(f"{path}: the checkpoint lacks {error}; it is damaged or was not "
                             "written by deltaprop") from None


def _resume(path: Any, net: Network, extra: dict[str, Any], arrays: dict[str, np.ndarray],
            metadata: dict[str, Any], X: Any, y: Any, *, sample_weight: Any, validation_data: Any,
            loss: Any, optimizer: Optimizer | None, callbacks: Any, epochs: int | None,
            verbose: bool, threads: Any) -> tuple[Network, History]:
    from deltaprop.training import fit

    options = dict(extra["options"])
    history = net.history if net.history is not None else History()
    if epochs is not None:
        options["epochs"] = epochs
    if extra["finished"] and epochs is None:
        return net, history  # the run had ended; nothing is left to do
    if "last.theta" in arrays:  # continue from the last epoch, not the best one it kept
        stats = [(arrays[f"last.stats.{i}.mean"], arrays[f"last.stats.{i}.var"])
                 for i in range(len(net.batchnorm_layers))]
        net.restore((arrays["last.theta"], stats))
    run_optimizer = optimizer or optimizer_from_config(extra["optimizer"])
    state = _lower_arrays(extra["state"], arrays)
    given_lr = run_optimizer.lr
    run_optimizer.load_state_dict(state["optimizer"])
    if optimizer is not None:
        run_optimizer.lr = given_lr  # the caller's rate wins (say, a smaller one after divergence)
    rows: dict[str, np.ndarray] = {name: arrays[name] for name in ("train_rows", "validation_rows")
                                   if name in arrays}
    resumed = ResumeState(int(extra["epoch"]), history, rows, extra.get("fingerprint"),
                          state["callbacks"])
    if options.pop("loss") is None and loss is None:
        raise ValueError(f"{path}: the run used a user-defined loss; pass it again as loss=")
    saved_loss = loss or extra["options"]["loss"]
    writer = Checkpoint(path, options.pop("checkpoint_every"), metadata)
    history = fit(net, X, y, loss=saved_loss, optimizer=run_optimizer, sample_weight=sample_weight,
                  validation_data=validation_data, callbacks=callbacks, verbose=verbose,
                  threads=threads, checkpoint=writer, _resume=resumed, **options)
    return net, history


def read_run(path: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint section of a model file's ``extra``, or a ModelFileError."""
    run = extra.get(KIND)
    if not isinstance(run, dict):
        raise ModelFileError(f"{path}: a model file, not a checkpoint of a training run "
                             "(fit(..., checkpoint=...) and train --checkpoint-every write those)")
    return run


def fit_options(loss: Any, epochs: int, batch_size: Any, sampling: str, shuffle: bool, l2: float,
                l1: float, validation_fraction: float, early_stopping: Any, tol: Any,
                time_limit: Any, checkpoint_every: int) -> dict[str, Any]:
    """The options of a ``fit`` call as JSON, for resuming it (a user-defined loss as None;
    NumPy numbers as Python ones)."""
    from deltaprop.losses import LOSSES

    if isinstance(early_stopping, EarlyStopping):
        early_stopping = {"patience": early_stopping.patience, "min_delta": early_stopping.min_delta,
                          "monitor": early_stopping.monitor, "restore_best": early_stopping.restore_best}
    options = {"loss": loss.name if type(loss) in LOSSES.values() else None, "epochs": epochs,
               "batch_size": batch_size, "sampling": sampling, "shuffle": shuffle, "l2": l2,
               "l1": l1, "validation_fraction": validation_fraction,
               "early_stopping": early_stopping, "tol": tol, "time_limit": time_limit,
               "checkpoint_every": checkpoint_every}
    return _lift_arrays(options, {})  # type: ignore[no-any-return]


def early_stopping_from_option(option: Any) -> Any:
    """The ``early_stopping`` argument back from :func:`fit_options`' JSON."""
    return EarlyStopping(**option) if isinstance(option, dict) else option


def fingerprint(*arrays: np.ndarray | None) -> str:
    """A hash of the training data (values, shapes and dtypes)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        if array is None:
            digest.update(b"none")
            continue
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _keeps_state(callback: Any) -> bool:
    return (not isinstance(callback, Checkpoint) and callable(getattr(callback, "state_dict", None))
            and callable(getattr(callback, "load_state_dict", None)))


def _lift_arrays(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``value`` with each ndarray moved into ``arrays`` and replaced by ``{"array": key}``."""
    if isinstance(value, np.ndarray):
        key = f"state.{len([k for k in arrays if k.startswith('state.')])}"
        arrays[key] = value
        return {"array": key}
    if isinstance(value, dict):
        return {k: _lift_arrays(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lift_arrays(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _lower_arrays(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Undo :func:`_lift_arrays`."""
    if isinstance(value, dict):
        if set(value) == {"array"}:
            return arrays[value["array"]].copy()
        return {k: _lower_arrays(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_arrays(v, arrays) for v in value]
    return value
