"""Resume: a checkpointed run (:mod:`deltaprop.callbacks.checkpoint`) continued to the same
weights, bit for bit, as if it had never stopped."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop.callbacks.checkpoint import KIND, Checkpoint, _keeps_state, _lower_arrays
from deltaprop.files.container import ModelFileError, load_archive
from deltaprop.history import History
from deltaprop.network import Network
from deltaprop.optim import Optimizer, optimizer_from_config


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
    from deltaprop.training.fit import fit

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
