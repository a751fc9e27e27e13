"""fit(): options -> data -> callbacks -> loop.

:func:`fit` checks its options once (:class:`~deltaprop.training.options.FitOptions`), its data
once (an :class:`~deltaprop.data.arrays.ArraySource`), and hands both to :func:`train`, the run
that :func:`fit_stream` (a stream as the data) and :func:`deltaprop.resume`
(a checkpointed run as the state to continue) share: the optional parts of the run (validation,
early stopping, convergence, time budget, progress, checkpoints) become callbacks, and the
loop (:class:`~deltaprop.training.loop.Trainer`, its steps taken by :mod:`deltaprop.engine.step`)
runs once, or from several random initializations (restarts), with its BLAS threads set.
With ``optimizer=LBFGS()`` the run is a full-batch minimization by SciPy instead
(:mod:`deltaprop.training.lbfgs`), with the same callbacks, restarts and History.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from deltaprop.callbacks.base import Callback, check_callbacks
from deltaprop.callbacks.checkpoint import Checkpoint
from deltaprop.callbacks.progress import ProgressPrinter
from deltaprop.callbacks.stopping import EarlyStopping, GradientTolerance, TimeLimit
from deltaprop.data.arrays import ArraySource, Trained
from deltaprop.data.stream import BUFFER_ROWS, CHUNK_ROWS, StreamSource
from deltaprop.engine.compiled.choice import choose
from deltaprop.engine.reduction import MpiReduction, Reduction
from deltaprop.engine.threads import AdaptiveThreads, blas_threads_for
from deltaprop.files.atomic import check_writable
from deltaprop.history import History
from deltaprop.losses import Loss
from deltaprop.optim import Optimizer, get_optimizer
from deltaprop.training import parallel
from deltaprop.training.lbfgs import LBFGSFactory, check_lbfgs_run
from deltaprop.training.loop import DataSource, RunState, TrainedNetwork, TrainerFactory
from deltaprop.training.options import FitOptions
from deltaprop.training.restarts import Restartable, effective_jobs, fit_restarts


class Fittable(Trained, TrainedNetwork, Restartable, Protocol):
    """What a run reads of a network (a :class:`~deltaprop.network.Network`)."""

    history: Any

    def check_loss(self, loss: str | Loss) -> Loss: ...

    def use_loss(self, loss: Loss) -> None: ...

    def using_loss(self, loss: Loss) -> Any: ...

    def frozen_running_stats(self) -> AbstractContextManager[None]: ...


def fit(
    net: Fittable,
    X: Any,
    y: Any,
    *,
    loss: str | Loss = "squared_error",
    optimizer: str | Optimizer | None = None,
    epochs: int = 10,
    batch_size: int | str | None = None,
    sampling: str = "epoch",
    shuffle: bool = True,
    l2: float = 0.0,
    l1: float = 0.0,
    sample_weight: Any = None,
    validation_data: tuple[Any, ...] | None = None,
    validation_fraction: float = 0.0,
    early_stopping: int | EarlyStopping | None = None,
    tol: float | None = None,
    time_limit: float | None = None,
    restarts: int = 1,
    n_jobs: int | None = None,
    callbacks: Sequence[Callback | Any] = (),
    verbose: bool = False,
    threads: int | str | None = "auto",
    checkpoint: str | os.PathLike[str] | Checkpoint | None = None,
    checkpoint_every: int = 1,
    comm: Any = None,
    engine: str = "auto",
) -> History:
    """Train ``net`` on (X, y) by minibatch gradient descent with backpropagated gradients.

    Parameters
    ----------
    net : Network
    X : array-like, shape (n_samples, n_inputs)
    y : array-like
        Targets: integer labels or one-hot rows for ``cross_entropy``, 0/1 for
        ``binary_cross_entropy``, real values (n_samples,) or (n_samples, n_outputs) otherwise.
    loss : str or Loss
        ``squared_error``, ``mse``, ``cross_entropy`` or ``binary_cross_entropy``.
    optimizer : str or Optimizer, optional
        Default ``Adam(lr=1e-3)``; a name uses that optimizer's defaults. An optimizer object
        keeps its state (step count, moments) across ``fit`` calls, so a second call continues
        the first (call ``optimizer.reset()`` or pass a new one to start fresh); with
        ``restarts`` it is reset for every run. Epoch-based schedules count from 0 in each call.
        :class:`~deltaprop.optim.LBFGS` (``"lbfgs"``) minimizes over the full batch through
        SciPy instead of taking steps (:mod:`deltaprop.training.lbfgs`): each epoch is then one
        L-BFGS iteration (``history.loss`` the loss after it), ``history.stop_reason`` says why
        SciPy stopped (``"converged"``, ``"epochs"``, ``"max_fun"``, ``"no_progress"``),
        ``history.n_fun`` counts the loss evaluations, and ``l1``, Dropout, random sampling,
        minibatches, checkpoints, ``comm`` and ``engine="compiled"`` are refused.
    epochs : int
        Passes over the data (an upper bound when a callback stops earlier); L-BFGS's
        iterations (its ``maxiter``).
    batch_size : int or "full", optional
        1 is online SGD, ``"full"`` (or any size >= n_samples) is full-batch gradient descent.
        Default 32, or the full batch for L-BFGS (which takes no other).
    sampling : {"epoch", "random"}
        ``epoch``: each epoch visits every sample once (shuffled if ``shuffle``); ``random``:
        every minibatch is drawn uniformly at random with replacement (the notes' SGD on i_t
        drawn at random), ceil(n / batch_size) steps per epoch.
    l2, l1 : float
        Weight decay on W, never on biases: lambda/2 sum ||W||^2 and l1 sum |W|.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights. Each minibatch's loss becomes ``sum_i w_i loss_i / sum_i w_i``
        (row i of delta_L is multiplied by ``n w_i / sum(w)``), so in full batch an integer
        weight k is the same as k copies of the sample, and 0 removes it. A minibatch whose
        weights are all 0 contributes only weight decay. The recorded losses and metrics are
        weighted means. BatchNorm's batch statistics stay unweighted.
    validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
    validation_fraction : float in [0, 1)
        Hold out this fraction of (X, y) (and of the sample weights), at random, as validation
        data instead.
    early_stopping : int or EarlyStopping, optional
        Patience in epochs on the validation loss (the training loss without validation data);
        the best weights are restored at the end.
    tol : float, optional
        Stop when the mean gradient norm of an epoch falls below ``tol``. (L-BFGS has its own
        tolerance, ``LBFGS(tol=...)`` on the largest gradient entry; this one still applies,
        to the gradient norm after each iteration.)
    time_limit : float, optional
        Seconds; training stops after the step that crosses it.
    restarts : int
        Train from this many random initializations (the first is the network's current one)
        and keep the parameters with the lowest final loss (validation loss if there is
        validation data); every run is summarized in ``history.restarts``. The network ends
        with the kept run's parameters and random generator, the optimizer with its state.
    n_jobs : int, optional
        Restarts run at once through joblib, in local processes, or wherever joblib's active
        backend sends them (``joblib.parallel_config(backend="dask")`` for a Dask cluster);
        None follows joblib's active configuration (1 without one), -1 uses every core. The
        result is the same as serially. Callbacks then run in the workers, on copies.
    callbacks : sequence of Callback
        Callbacks, or objects with some of their hooks; anything else (None, a string) is
        refused, named by its index.
    verbose : bool
        Print one line per epoch to stderr. This and ``shuffle`` are True or False (NumPy's
        bools too), never any truthy value.
    threads : "auto", int or None
        BLAS threads during training. ``"auto"``: one thread for small networks (where threads
        only add synchronization cost); for large ones every core, dropping to one while other
        processes keep a core busy (re-checked every epoch; see :mod:`deltaprop.engine.threads`).
        An int fixes the count; ``None`` leaves BLAS alone. Needs threadpoolctl (the ``fast``
        extra).

    checkpoint : str, path-like or Checkpoint, optional
        Checked before the first step (a file name in an existing folder where a file can be
        written). Write the run there every ``checkpoint_every`` epochs and at its end, atomically:
        weights, optimizer state, random state, epoch, history and callback states.
        :func:`deltaprop.resume` continues it to the same final weights, bit for bit. Not with
        ``restarts``.
    comm : mpi4py communicator, optional
        Train data-parallel over its ranks (every rank calls ``fit`` with the same data and
        options; see :mod:`deltaprop.training.parallel`): each global minibatch is split over the
        ranks and the gradients summed in one all-reduce, giving the weights one process
        would get with the same minibatches (BatchNorm synchronized over the ranks, Dropout
        masks those one process draws: on the NumPy engine; a network without them on either
        engine). Rank 0 alone prints and writes checkpoints.
    checkpoint_every : int
        Epochs between checkpoints. Each writes a file (two fsyncs): for many tiny epochs,
        choose a larger value.
    engine : {"auto", "numpy", "compiled"}
        What takes the steps. ``"numpy"``: the reference engine, step by step in NumPy.
        ``"compiled"``: the same recursion compiled by Numba (the ``fast`` extra), a whole epoch
        per call; it covers dense networks with built-in activations, losses, SGD and Adam, and
        refuses other models, naming what it lacks. ``"auto"``: compiled where covered and worth
        it (not for a run shorter than loading or building the kernels), NumPy otherwise. The
        engines agree to rounding; ``history.engine`` records which one ran, and
        ``history.engine_reason`` why "auto" chose NumPy (see
        :mod:`deltaprop.engine.compiled.choice`).

    Returns
    -------
    History
        Also stored as ``net.history``.
    """
    options = FitOptions(  # (batch_size None: FitOptions resolves the default)
        loss=loss, optimizer=optimizer, epochs=epochs, batch_size=batch_size,  # type: ignore[arg-type]
        sampling=sampling,
        shuffle=shuffle, l2=l2, l1=l1, validation_fraction=validation_fraction,
        early_stopping=early_stopping, tol=tol, time_limit=time_limit, restarts=restarts,
        n_jobs=n_jobs, verbose=verbose, threads=threads, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every, engine=engine,
    )
    checked_loss = net.check_loss(options.loss)
    data = ArraySource.from_data(
        net, checked_loss, X, y, sample_weight, validation_data,
        validation_fraction=options.validation_fraction, batch_size=options.batch_size,
        sampling=options.sampling, shuffle=options.shuffle,
        keep_fingerprint=options.checkpoint is not None,
    )
    return train(net, checked_loss, data, options, callbacks=callbacks, comm=comm)


def train(net: Fittable, loss: Loss, data: DataSource, options: FitOptions, *,
          callbacks: Sequence[Callback | Any] = (), comm: Any = None,
          state: RunState | None = None) -> History:
    """Run the training loop: ``options`` over ``data``, with ``callbacks``.

    What :func:`fit` (arrays), :func:`fit_stream` (a stream) and
    :func:`deltaprop.resume` (a saved run) do once their options and data are checked.

    Parameters
    ----------
    net : Network
        Trained in place; its loss becomes ``loss``.
    loss : Loss
        Checked against the network (``net.check_loss``).
    data : ArraySource or StreamSource
        The training data (and validation data), checked.
    options : FitOptions
    callbacks : sequence of Callback
    comm : mpi4py communicator, optional
        Data-parallel over its ranks (:class:`~deltaprop.engine.reduction.MpiReduction`).
    state : RunState, optional
        A checkpointed run to continue (its epochs done, history and callback states).

    Returns
    -------
    History
        Also stored as ``net.history``.
    """
    if get_optimizer(options.optimizer).full_batch:  # L-BFGS: a minimization, not steps
        return _train_lbfgs(net, loss, data, options, callbacks=callbacks, comm=comm, state=state)
    reduction = _reduction(net, options, comm)
    if comm is not None and comm.Get_rank() != 0:  # one rank prints and writes
        options = options.replace(verbose=False, checkpoint=None)
    run_callbacks = _run_callbacks(options, data, callbacks)
    optimizer = get_optimizer(options.optimizer)
    # chosen before the BLAS threads are set: the compiled engine loads SciPy's BLAS, limited too
    engine = choose(options.engine, net, loss, optimizer, batch_size=data.batch_size,
                    steps=options.epochs * data.batches_per_epoch, reduction=reduction,
                    callbacks=run_callbacks, rows_drawn_in_run=options.sampling == "random",
                    threads=options.threads, sparse=data.sparse)
    net.use_loss(loss)  # only now, with everything validated, may the output activation change
    make_trainer = TrainerFactory(loss, data, run_callbacks, options.epochs, options.l2, options.l1,
                                  engine)
    history = _runs(net, optimizer, options, make_trainer, state, reduction)
    net.history = history
    return history


def _train_lbfgs(net: Fittable, loss: Loss, data: DataSource, options: FitOptions, *,
                 callbacks: Sequence[Callback | Any], comm: Any, state: RunState | None) -> History:
    """:func:`train` for L-BFGS: the same callbacks, restarts and BLAS threads around
    :class:`~deltaprop.training.lbfgs.LBFGSRun` instead of the epoch loop."""
    source = check_lbfgs_run(net, data, options, comm=comm, resumed=state is not None)
    run_callbacks = _run_callbacks(options, data, callbacks)
    optimizer = get_optimizer(options.optimizer)
    net.use_loss(loss)  # only now, with everything validated, may the output activation change
    make_trainer = LBFGSFactory(loss, source, run_callbacks, options.epochs, options.l2)
    history = _runs(net, optimizer, options, make_trainer, None, None)
    net.history = history
    return history


def _reduction(net: Fittable, options: FitOptions, comm: Any) -> Reduction | None:
    """How gradients are reduced: locally (None), or over the ranks of ``comm``."""
    if comm is None:
        return None
    parallel.check_comm(comm, net)
    if options.restarts > 1:
        raise ValueError("restarts with comm= are not supported: run them with n_jobs")
    return MpiReduction(comm)


def _run_callbacks(options: FitOptions, data: DataSource,
                   callbacks: Sequence[Callback | Any]) -> list[Any]:
    """The user's callbacks, then those the options ask for (the checkpoint last: it sees the
    others' states)."""
    extra: list[Any] = check_callbacks(callbacks)
    if any(isinstance(c, Checkpoint) for c in extra):
        raise ValueError("pass a Checkpoint as checkpoint=..., not among the callbacks (fit gives "
                         "it the plan it must write)")
    stopper = options.early_stopping
    if stopper is not None:
        extra.append(stopper if isinstance(stopper, EarlyStopping) else EarlyStopping(
            patience=stopper, monitor="val_loss" if data.validation is not None else "loss"))
    if options.tol is not None:
        extra.append(GradientTolerance(options.tol))
    if options.time_limit is not None:
        extra.append(TimeLimit(options.time_limit))
    if options.verbose:
        extra.append(ProgressPrinter())
    if options.checkpoint is not None:
        extra.append(_checkpoint(options.checkpoint, options, data))
    return extra


def _checkpoint(checkpoint: str | os.PathLike[str] | Checkpoint, options: FitOptions,
                data: DataSource) -> Checkpoint:
    """The checkpoint writer, with the plan it writes: the options, the data's fingerprint and
    the rows of a validation split."""
    if isinstance(checkpoint, Checkpoint):
        check_writable(checkpoint.path, "checkpoint")  # still writable, before any step
        writer = checkpoint
    else:
        writer = Checkpoint(checkpoint, options.checkpoint_every)
    # (arrays only: a stream is not checkpointed)
    writer.plan = {"fingerprint": getattr(data, "fingerprint", None),
                   "rows": getattr(data, "rows", {}), "options": options.to_dict()}
    return writer


def _runs(net: Fittable, optimizer: Optimizer, options: FitOptions,
          make_trainer: TrainerFactory | LBFGSFactory, state: RunState | None,
          reduction: Reduction | None) -> History:
    """One run, or the restarts (in other processes through joblib with ``n_jobs``), with the
    BLAS threads of ``options.threads``."""
    if options.restarts > 1 and effective_jobs(options.n_jobs) > 1:  # joblib limits the workers' BLAS
        return fit_restarts(net, optimizer, make_trainer, options.restarts, options.n_jobs)
    with blas_threads_for(net, make_trainer.source.batch_size, options.threads) as thread_policy:
        if isinstance(thread_policy, AdaptiveThreads):
            make_trainer.callbacks.append(thread_policy)  # re-decides after every epoch
        if options.restarts == 1:
            history = make_trainer(0, net, optimizer, state=state, reduction=reduction).run()
        else:
            history = fit_restarts(net, optimizer, make_trainer, options.restarts, n_jobs=1)
    if isinstance(thread_policy, AdaptiveThreads):
        history.blas_threads = list(thread_policy.history)
    return history


def fit_stream(net: Fittable, source: Any, *, loss: Any = "squared_error", optimizer: Any = None,
               epochs: int = 1, batch_size: int = 256, buffer_rows: int = BUFFER_ROWS,
               chunk_rows: int = CHUNK_ROWS, l2: float = 0.0, validation_data: Any = None,
               callbacks: Sequence[Any] = (), verbose: bool = False,
               threads: Any = "auto", engine: str = "auto") -> History:
    """Train ``net`` on a source too large for memory (:class:`~deltaprop.data.stream.NpyShards`,
    :class:`~deltaprop.data.parquet.ParquetShards` or any object with ``chunks(chunk_rows, rng)``
    and ``n_rows``), by streamed minibatches.

    Memory is the shuffle buffer (``buffer_rows`` rows) and one chunk; the shuffle mixes rows
    within the buffer and across shards and chunks, not over the whole data. Other options as
    in :func:`deltaprop.fit`; each epoch's loss is evaluated step by step.
    """
    options = FitOptions(loss=loss, optimizer=optimizer, epochs=epochs, batch_size=batch_size,
                         l2=l2, verbose=verbose, threads=threads, engine=engine)
    checked_loss = net.check_loss(options.loss)
    data = StreamSource(source, net, checked_loss, batch_size=batch_size, buffer_rows=buffer_rows,
                        chunk_rows=chunk_rows, validation_data=validation_data)
    return train(net, checked_loss, data, options, callbacks=callbacks)
