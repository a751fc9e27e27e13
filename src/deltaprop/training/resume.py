"""Resume: a checkpointed run (:mod:`deltaprop.callbacks.checkpoint`) continued to the same
weights, bit for bit, as if it had never stopped.

A checkpoint holds the network, the run's options (:class:`~deltaprop.training.options.FitOptions`),
the optimizer with its state, the state of the run (epochs done, history, callback states), the
rows of its validation split and a fingerprint of its data. Resuming is the run of
:func:`deltaprop.fit` again, given that state to continue (:func:`~deltaprop.training.fit.train`
with ``state=``), on the same data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop._validation import is_sparse
from deltaprop.callbacks.checkpoint import Checkpoint, lower_arrays
from deltaprop.data.arrays import ArraySource
from deltaprop.engine.compiled.choice import numba_installed
from deltaprop.files.container import read_archive
from deltaprop.files.errors import ModelFileError
from deltaprop.files.networks import network_from_archive
from deltaprop.history import History
from deltaprop.network import Network
from deltaprop.optim import Optimizer, optimizer_from_config
from deltaprop.training.fit import train
from deltaprop.training.loop import RunState
from deltaprop.training.options import FitOptions


@dataclass
class SavedRun:
    """What a checkpoint holds beyond the network: the run's state, its options (JSON), its
    optimizer (with its state), the rows of its validation split and its data's fingerprint."""

    state: RunState
    finished: bool
    options: dict[str, Any]
    optimizer: Optimizer
    rows: dict[str, np.ndarray]
    fingerprint: str | None

    @classmethod
    def read(cls, net: Network, run: dict[str, Any], arrays: dict[str, np.ndarray],
             optimizer: Optimizer | None) -> SavedRun:
        """The saved run of a checkpoint's ``run`` section and arrays; ``optimizer``, if given,
        gets the saved state but keeps its own learning rate."""
        history = net.history if net.history is not None else History()
        _check_run(run, history)
        saved_state = lower_arrays(run["state"], arrays)
        if not isinstance(saved_state, dict):
            raise ValueError(f"run.state is {type(saved_state).__name__}, not a JSON object")
        _check_optimizer_state(saved_state["optimizer"], net)
        _check_callback_states(saved_state["callbacks"])
        run_optimizer = optimizer or optimizer_from_config(run["optimizer"])
        given_lr = run_optimizer.lr
        run_optimizer.load_state_dict(saved_state["optimizer"])
        if optimizer is not None:
            run_optimizer.lr = given_lr  # the caller's rate wins (say, a smaller one after divergence)
        rows: dict[str, np.ndarray] = {name: arrays[name] for name in ("train_rows", "validation_rows")
                                       if name in arrays}
        for name, indices in rows.items():
            if indices.ndim != 1 or indices.dtype.kind not in "iu" or (indices < 0).any():
                raise ValueError(f"run.{name} must be row numbers (non-negative integers), got "
                                 f"{indices.dtype} of shape {indices.shape}")
        return cls(RunState(int(run["epoch"]), history, saved_state["callbacks"]), bool(run["finished"]),
                   dict(run["options"]), run_optimizer, rows, run.get("fingerprint"))


def _count(name: str, value: Any, most: int | None = None) -> int:
    """A counter from the file: a non-negative int (not a bool), at most ``most``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r:.40}")
    if most is not None and value > most:
        raise ValueError(f"{name} is {value}, but the run's history has {most} epochs")
    return value


def _check_run(run: dict[str, Any], history: History) -> None:
    """The run section's fields, each of its type: the epochs done are those of the history."""
    _count("run.epoch", run["epoch"], history.n_epochs)
    kinds = {"finished": (bool,), "options": (dict,), "optimizer": (dict,),
             "stop_reason": (str, type(None)), "fingerprint": (str, type(None))}
    for name, types in kinds.items():
        value = run[name] if name in ("finished", "options", "optimizer") else run.get(name)
        if not isinstance(value, types):
            raise ValueError(f"run.{name} is {value!r:.40}, not "
                             f"{' or '.join('null' if t is type(None) else t.__name__ for t in types)}")


def _check_optimizer_state(state: Any, net: Network) -> None:
    """Step and epoch counters, a positive learning rate, and state arrays (moments,
    velocity) that are None or finite vectors of theta's shape and dtype."""
    if not isinstance(state, dict):
        raise ValueError(f"the optimizer state is {type(state).__name__}, not a JSON object")
    _count("the optimizer's step count t", state["t"])
    _count("the optimizer's epoch", state["epoch"])
    lr = state["lr"]
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and 0 < lr < float("inf")):
        raise ValueError(f"the optimizer's lr is {lr!r:.40}, not a positive number")
    for name, value in state.items():
        if name in ("t", "epoch", "lr") or value is None:
            continue
        if not (isinstance(value, np.ndarray) and value.shape == net.theta.shape
                and value.dtype == net.theta.dtype and np.isfinite(value).all()):
            raise ValueError(f"the optimizer's {name} must be finite values of theta's shape "
                             f"{net.theta.shape} and dtype {net.theta.dtype}")


def _check_callback_states(states: Any) -> None:
    """[[class name, state], ...]: the states of the callbacks that keep one."""
    if not (isinstance(states, list) and all(
            isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
            for entry in states)):
        raise ValueError("run.state.callbacks must be a list of [callback class, state] pairs")


def _check_last(arrays: dict[str, np.ndarray], net: Network) -> None:
    """The last epoch's parameters of a finished run, as the network's own."""
    names = ["last.theta"] + [f"last.stats.{i}.{s}" for i in range(len(net.batchnorm_layers))
                              for s in ("mean", "var")]
    likes = [net.theta] + [getattr(layer, f"running_{s}") for layer in net.batchnorm_layers
                           for s in ("mean", "var")]
    for name, like in zip(names, likes):
        array = arrays[name]
        if array.shape != like.shape or array.dtype != like.dtype or not np.isfinite(array).all():
            raise ValueError(f"run.{name} must be finite values of shape {like.shape} and dtype "
                             f"{like.dtype}")
        if name.endswith(".var") and (array < 0).any():
            raise ValueError(f"run.{name} holds negative variances")


def _resumed_options(saved: Any, epochs: int | None, loss: Any, writer: Checkpoint, verbose: bool,
                     threads: Any) -> FitOptions:
    """The interrupted run's options, with a new total of epochs and the resumed run's own
    checkpoint writer, verbosity and threads, on the engine the run took."""
    changes: dict[str, Any] = {"epochs": epochs} if epochs is not None else {}
    if saved.state.history.engine in ("numpy", "compiled"):  # go on as the run went, bit for bit
        changes["engine"] = _same_engine(saved.state.history.engine, saved.options.get("engine"))
    return FitOptions.from_dict(
        {**saved.options, **changes}, **({"loss": loss} if loss is not None else {}),
        optimizer=saved.optimizer, checkpoint=writer, verbose=verbose, threads=threads)


def _same_engine(engine: str, asked: Any) -> Any:
    """The engine a resumed run takes: the one the interrupted run took, unless it was the
    compiled engine under "auto" and Numba is gone (then "auto" chooses again)."""
    if engine == "compiled" and asked == "auto" and not numba_installed():
        return asked
    return engine


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
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an Optimizer object (the checkpoint's state is loaded "
                        f"into it), got {optimizer!r}; leave it out to use the checkpoint's own")
    archive = read_archive(path)
    archive.expect(("checkpoint",), "a checkpoint of a training run",
                   " (fit(..., checkpoint=...) and train --checkpoint-every write those)")
    net = network_from_archive(archive)
    arrays, metadata = archive.group("run"), archive.metadata
    try:
        saved = SavedRun.read(net, archive.sections["run"], arrays, optimizer)
        if "last.theta" in arrays:
            _check_last(arrays, net)
    except KeyError as error:
        raise ModelFileError(f"{path}: the checkpoint lacks {error}; it is damaged or was not "
                             "written by deltaprop") from None
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: the checkpoint's run is inconsistent ({error})") from None
    if saved.finished and epochs is None:
        return net, saved.state.history  # the run had ended; nothing is left to do
    if "last.theta" in arrays:  # continue from the last epoch, not the best one it kept
        stats = [(arrays[f"last.stats.{i}.mean"], arrays[f"last.stats.{i}.var"])
                 for i in range(len(net.batchnorm_layers))]
        net.restore((arrays["last.theta"], stats))
    if saved.options.get("loss") is None and loss is None:
        raise ValueError(f"{path}: the run used a user-defined loss; pass it again as loss=")
    writer = Checkpoint(path, saved.options.get("checkpoint_every", 1), metadata)
    options = _resumed_options(saved, epochs, loss, writer, verbose, threads)
    if options.epochs < saved.state.epoch:
        raise ValueError(f"epochs={epochs!r} is fewer than the {saved.state.epoch} the checkpointed "
                         "run has done; give a larger total, or None to finish the run")
    checked_loss = net.check_loss(options.loss)
    _check_rows(path, saved.rows, np.shape(X)[0] if is_sparse(X) else len(X))
    data = ArraySource.from_data(
        net, checked_loss, X, y, sample_weight, validation_data,
        validation_fraction=options.validation_fraction, batch_size=options.batch_size,
        sampling=options.sampling, shuffle=options.shuffle, rows=saved.rows,
        same_data_as=saved.fingerprint)
    return net, train(net, checked_loss, data, options, callbacks=callbacks, state=saved.state)


def _check_rows(path: Any, rows: dict[str, np.ndarray], n_rows: int) -> None:
    """The checkpoint's split rows index the data given (a tampered file's would index past
    it, or train on no row at all)."""
    for name, indices in rows.items():
        if indices.size and int(indices.max()) >= n_rows:
            raise ModelFileError(f"{path}: run.{name} holds row {int(indices.max())}, but the data "
                                 f"has {n_rows} rows: not the data of this run, or a damaged file")
    if "train_rows" in rows and rows["train_rows"].size == 0:
        raise ModelFileError(f"{path}: run.train_rows is empty: the run trained on no row")
