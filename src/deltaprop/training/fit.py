"""fit(): check the options and the data once, then run the one training loop
(:class:`~deltaprop.training.loop.Trainer`: minibatches -> forward -> loss -> backward -> optimizer
step) with everything optional (validation, early stopping, convergence, time budget,
progress, checkpoints) hooked in as callbacks, and restarts from several random
initializations around it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from deltaprop._validation import (
    as_float_matrix,
    as_sample_weight,
    check_positive,
    check_rows,
)
from deltaprop.callbacks.base import Callback
from deltaprop.callbacks.checkpoint import Checkpoint, early_stopping_from_option, fingerprint, fit_options
from deltaprop.callbacks.progress import ProgressPrinter
from deltaprop.callbacks.stopping import EarlyStopping, GradientTolerance, TimeLimit
from deltaprop.data.batches import batch_rows, split_validation
from deltaprop.engine.threads import AdaptiveThreads, blas_threads_for
from deltaprop.history import History
from deltaprop.losses import Loss
from deltaprop.network import Network
from deltaprop.optim import Optimizer, get_optimizer
from deltaprop.training import parallel
from deltaprop.training.loop import TrainerFactory
from deltaprop.training.restarts import check_n_jobs, effective_jobs, fit_restarts

Array = np.ndarray
_SAMPLINGS = ("epoch", "random")


def fit(
    net: Network,
    X: Any,
    y: Any,
    *,
    loss: str | Loss = "squared_error",
    optimizer: str | Optimizer | None = None,
    epochs: int = 10,
    batch_size: int | str = 32,
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
    _resume: Any = None,
    _stream: Any = None,
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
    epochs : int
        Passes over the data (an upper bound when a callback stops earlier).
    batch_size : int or "full"
        1 is online SGD, ``"full"`` (or any size >= n_samples) is full-batch gradient descent.
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
        Stop when the mean gradient norm of an epoch falls below ``tol``.
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
    verbose : bool
        Print one line per epoch to stderr.
    threads : "auto", int or None
        BLAS threads during training. ``"auto"``: one thread for small networks (where threads
        only add synchronization cost); for large ones every core, dropping to one while other
        processes keep a core busy (re-checked every epoch; see :mod:`deltaprop.engine.threads`).
        An int fixes the count; ``None`` leaves BLAS alone. Needs threadpoolctl (the ``fast``
        extra).

    checkpoint : str, path-like or Checkpoint, optional
        Write the run there every ``checkpoint_every`` epochs and at its end, atomically:
        weights, optimizer state, random state, epoch, history and callback states.
        :func:`deltaprop.resume` continues it to the same final weights, bit for bit. Not with
        ``restarts``.
    comm : mpi4py communicator, optional
        Train data-parallel over its ranks (every rank calls ``fit`` with the same data and
        options; see :mod:`deltaprop.training.parallel`): each global minibatch is split over the
        ranks and the gradients summed in one all-reduce, giving the weights one process
        would get with the same minibatches. Rank 0 alone prints and writes checkpoints.
    checkpoint_every : int
        Epochs between checkpoints. Each writes a file (two fsyncs): for many tiny epochs,
        choose a larger value.

    Returns
    -------
    History
        Also stored as ``net.history``.
    """
    loss = net.check_loss(loss)
    optimizer = get_optimizer(optimizer)
    epochs = check_positive("epochs", epochs, integer=True)
    restarts = check_positive("restarts", restarts, integer=True)
    check_n_jobs(n_jobs)
    if comm is not None:
        parallel.check_comm(comm, net)
        if restarts > 1:
            raise ValueError("restarts with comm= are not supported: run them with n_jobs")
        if comm.Get_rank() != 0:  # one rank prints and writes
            verbose, checkpoint = False, None
    if sampling not in _SAMPLINGS:
        raise ValueError(f"sampling must be one of {_SAMPLINGS}, got {sampling!r}")
    l2 = check_positive("l2", l2, allow_zero=True)
    l1 = check_positive("l1", l1, allow_zero=True)

    X = as_float_matrix(X, "X", net.dtype, net.n_inputs)
    Y = loss.prepare_targets(y, net.n_outputs, net.dtype)
    check_rows(X, Y)
    w = as_sample_weight(sample_weight, X.shape[0])
    if w is not None:
        loss.check_sample_weights()
    validation_arrays = validation_data if isinstance(validation_data, (tuple, list)) else ()
    data_print = (fingerprint(X, Y, w, *(np.asarray(a) for a in validation_arrays))
                  if checkpoint is not None else None)
    if _resume is not None and _resume.fingerprint != data_print:
        raise ValueError("these data differ from the checkpointed run's (their fingerprints "
                         "differ); resume with the same X, y and sample_weight")
    (X, Y, w), validation, rows = split_validation(
        net, loss, (X, Y, w), validation_data, validation_fraction,
        rows=None if _resume is None else _resume.rows)
    n_batch = batch_rows(batch_size, X.shape[0])
    if n_batch < 2 and net.batchnorm_layers:
        raise ValueError(
            "batch normalization needs at least 2 samples per batch in training; "
            f"batch_size={batch_size} with {X.shape[0]} samples gives {n_batch}"
        )
    if isinstance(callbacks, Callback) or not isinstance(callbacks, Sequence):
        raise TypeError(f"callbacks must be a list of callbacks, got {type(callbacks).__name__}")
    if any(isinstance(c, Checkpoint) for c in callbacks):
        raise ValueError("pass a Checkpoint as checkpoint=..., not among the callbacks (fit gives "
                         "it the plan it must write)")
    net.use_loss(loss)  # only now, with everything validated, may the output activation change

    extra: list[Any] = list(callbacks)
    early_stopping = early_stopping_from_option(early_stopping)
    if early_stopping is not None:
        stopper = early_stopping if isinstance(early_stopping, EarlyStopping) else EarlyStopping(
            patience=early_stopping, monitor="val_loss" if validation is not None else "loss"
        )
        extra.append(stopper)
    if tol is not None:
        extra.append(GradientTolerance(tol))
    if time_limit is not None:
        extra.append(TimeLimit(time_limit))
    if verbose:
        extra.append(ProgressPrinter())
    if checkpoint is not None:
        if restarts > 1:
            raise ValueError("checkpoints do not cover restarts (each run would need its own "
                             "file); use restarts=1 with checkpoint")
        writer = checkpoint if isinstance(checkpoint, Checkpoint) else Checkpoint(
            checkpoint, checkpoint_every)  # last of the callbacks: it sees the others' states
        writer.plan = {"fingerprint": data_print, "rows": rows, "options": fit_options(
            loss, epochs, batch_size, sampling, shuffle, l2, l1, validation_fraction,
            early_stopping, tol, time_limit, writer.every)}
        extra.append(writer)

    if _stream is not None:  # deltaprop.data.stream.fit_stream: X, y are a sample of the stream
        n_batch = _stream.batch_size
        if checkpoint is not None or restarts > 1 or comm is not None or validation_fraction:
            raise ValueError("streamed data take no checkpoint, restarts, comm or "
                             "validation_fraction (give validation_data)")
    make_trainer = TrainerFactory(
        loss, X, Y, w, validation, extra,
        dict(epochs=epochs, batch_size=n_batch, sampling=sampling, shuffle=shuffle, l2=l2, l1=l1,
             stream=_stream),
    )
    if restarts > 1 and effective_jobs(n_jobs) > 1:  # joblib limits the workers' BLAS threads
        history = fit_restarts(net, optimizer, make_trainer, restarts, (X, Y, w), validation,
                               l2, l1, n_jobs)
        net.history = history
        return history
    with blas_threads_for(net, n_batch, threads) as thread_policy:
        if isinstance(thread_policy, AdaptiveThreads):
            extra.append(thread_policy)  # re-decides after every epoch
        if restarts == 1:
            history = make_trainer(0, net, optimizer, resume=_resume, comm=comm).run()
        else:
            history = fit_restarts(net, optimizer, make_trainer, restarts, (X, Y, w), validation,
                                   l2, l1, n_jobs=1)
    if isinstance(thread_policy, AdaptiveThreads):
        history.blas_threads = list(thread_policy.history)
    net.history = history
    return history
