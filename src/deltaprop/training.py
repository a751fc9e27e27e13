"""fit(): the one training loop. Minibatches -> forward -> loss -> backward -> optimizer step,
with everything optional (validation, early stopping, convergence, time budget, progress)
hooked in as callbacks, and restarts from several random initializations around it."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop._validation import (
    as_float_matrix,
    as_sample_weight,
    check_positive,
    check_rows,
)
from deltaprop.callbacks import Callback, EarlyStopping, GradientTolerance, ProgressPrinter, TimeLimit
from deltaprop.data import batch_rows, minibatch_indices, split_validation
from deltaprop.evaluation import evaluate_arrays
from deltaprop.history import EpochLoss, History
from deltaprop.losses import Loss, row_scale
from deltaprop.network import Network
from deltaprop.optim import Optimizer, get_optimizer
from deltaprop.restarts import check_n_jobs, effective_jobs, fit_restarts
from deltaprop.threads import AdaptiveThreads, blas_threads_for, is_small_step

Array = np.ndarray
_SAMPLINGS = ("epoch", "random")
SHUFFLE_COPY_BYTES = 32 * 2**20  # data up to this size is shuffled into a copy once per epoch
MAX_CACHED_BATCHES = 4096  # minibatch views kept across epochs (about 400 bytes each)
Batch = tuple[Array, Array, Any, Any]  # X_batch, Y_batch, rows (slice or indices), w_batch or None


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
        processes keep a core busy (re-checked every epoch; see :mod:`deltaprop.threads`).
        An int fixes the count; ``None`` leaves BLAS alone. Needs threadpoolctl (the ``fast``
        extra).

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
    (X, Y, w), validation = split_validation(net, loss, (X, Y, w), validation_data, validation_fraction)
    n_batch = batch_rows(batch_size, X.shape[0])
    if n_batch < 2 and net.batchnorm_layers:
        raise ValueError(
            "batch normalization needs at least 2 samples per batch in training; "
            f"batch_size={batch_size} with {X.shape[0]} samples gives {n_batch}"
        )
    if isinstance(callbacks, Callback) or not isinstance(callbacks, Sequence):
        raise TypeError(f"callbacks must be a list of callbacks, got {type(callbacks).__name__}")
    net.use_loss(loss)  # only now, with everything validated, may the output activation change

    extra: list[Any] = list(callbacks)
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

    make_trainer = TrainerFactory(
        loss, X, Y, w, validation, extra,
        dict(epochs=epochs, batch_size=n_batch, sampling=sampling, shuffle=shuffle, l2=l2, l1=l1),
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
            history = make_trainer(0, net, optimizer).run()
        else:
            history = fit_restarts(net, optimizer, make_trainer, restarts, (X, Y, w), validation,
                                   l2, l1, n_jobs=1)
    if isinstance(thread_policy, AdaptiveThreads):
        history.blas_threads = list(thread_policy.history)
    net.history = history
    return history


@dataclass
class TrainerFactory:
    """Makes the :class:`Trainer` of each run from what ``fit`` validated (picklable, so runs
    can go to other processes)."""

    loss: Loss
    X: Array
    Y: Array
    w: Array | None
    validation: tuple[Array, Array, Array | None] | None
    callbacks: list[Any]
    options: dict[str, Any]

    def __call__(self, run: int, net: Network, optimizer: Optimizer) -> Trainer:
        return Trainer(net, self.loss, optimizer, self.X, self.Y, self.validation,
                       callbacks=self.callbacks, run=run, sample_weight=self.w, **self.options)


class Trainer:
    """One training run: the epoch and minibatch loops over one network and optimizer.

    Callbacks see the trainer: ``net``, ``optimizer``, ``history``, ``stop_reason`` (set it to
    stop), ``has_validation``, ``run_index`` (the restart, 0 for the first or only run),
    ``in_worker`` (True when the run was handed to another process by ``n_jobs``), and
    :meth:`snapshot` / :meth:`restore` of the parameters.
    """

    def __init__(self, net: Network, loss: Loss, optimizer: Optimizer, X: Array, Y: Array,
                 validation: tuple[Array, Array, Array | None] | None, *, epochs: int,
                 batch_size: int, sampling: str, shuffle: bool, l2: float, l1: float,
                 callbacks: Sequence[Any], run: int = 0, sample_weight: Array | None = None):
        self.net, self.loss, self.optimizer = net, loss, optimizer
        self.X, self.Y, self.w, self.validation = X, Y, sample_weight, validation
        self.epochs, self.batch_size, self.sampling, self.shuffle = epochs, batch_size, sampling, shuffle
        self.l2, self.l1 = l2, l1
        self.callbacks = list(callbacks)
        self.has_validation = validation is not None
        self.run_index = run
        self.in_worker = False
        self.history = History(loss_name=loss.name, metric_name=loss.metric_name)
        self.stop_reason: str | None = None
        self._batch_buffers: dict[int, tuple[Array, Array, Array | None]] = {}
        self._min_batch = 2 if net.batchnorm_layers else 1
        small_steps = is_small_step(net, batch_size)  # NumPy's per-call overhead dominates
        # Small data in small steps is shuffled with one gather per epoch, after which every
        # minibatch is a slice: two fewer calls per step, which matters when a step takes 20 us.
        copy_once = (small_steps and shuffle and sampling == "epoch" and batch_size < X.shape[0]
                     and X.nbytes + Y.nbytes <= SHUFFLE_COPY_BYTES)
        self._shuffled = (np.empty_like(X), np.empty_like(Y),
                          None if self.w is None else np.empty_like(self.w)) if copy_once else None
        self._slices: list[Batch] | None = None
        n_batches = -(-X.shape[0] // batch_size)
        max_rows = n_batches * batch_size if sampling == "random" else X.shape[0]
        self._epoch_loss = EpochLoss(loss, max_rows, Y.shape[1], Y.dtype, defer=small_steps)

    def snapshot(self) -> Any:
        """A copy of the parameters and the BatchNorm running statistics (for callbacks)."""
        return self.net.snapshot()

    def restore(self, state: Any) -> None:
        """Put back a :meth:`snapshot`."""
        self.net.restore(state)

    def _callbacks_with(self, method: str) -> list[Any]:
        """Bound ``method`` of each callback that really has one (not Callback's no-op)."""
        return [
            getattr(c, method) for c in self.callbacks
            if hasattr(c, method) and getattr(type(c), method, None) is not getattr(Callback, method)
        ]

    def run(self) -> History:
        """Train for up to ``epochs`` epochs; return the History."""
        for hook in self._callbacks_with("on_train_begin"):
            hook(self)
        self.optimizer.start(self.epochs)
        start = time.perf_counter()
        for epoch in range(1, self.epochs + 1):
            self.optimizer.set_epoch(epoch - 1)
            logs = self._run_epoch(epoch)
            logs["time"] = time.perf_counter() - start
            self._record(epoch, logs)
            if self.stop_reason == "diverged":
                break  # no finite loss for the callbacks to judge; the reason must stand
            for hook in self._callbacks_with("on_epoch_end"):
                hook(self, epoch, logs)
            if self.stop_reason is not None:
                break
        self.history.stop_reason = self.stop_reason or "epochs"
        finite = [value for value in self.history.loss if math.isfinite(value)]
        self.history.final_loss = finite[-1] if finite else None
        for hook in self._callbacks_with("on_train_end"):
            hook(self)
        return self.history

    def _run_epoch(self, epoch: int) -> dict[str, Any]:
        net, loss, optimizer = self.net, self.loss, self.optimizer
        out, grad = net.output_layer, net.grad
        layer_grads = [grad[part] for part in net._layer_grad_slices]  # views, made once
        other_grads = net._other_grads()  # BatchNorm's gamma and beta: checked, not reported
        squared_norms = [0.0] * len(layer_grads)  # Python floats: cheaper than tiny arrays here
        step_norms = [0.0] * len(layer_grads)
        penalty = self.l2 or self.l1
        steps = 0
        epoch_loss = self._epoch_loss
        Y, w, batches = self._epoch_batches()
        epoch_loss.start(Y, w)
        dtype = net.dtype
        on_batch_end = self._callbacks_with("on_batch_end")
        diverged = False
        # Divergence is detected below and reported as such, not as overflow warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            for X_batch, Y_batch, rows, w_batch in batches:
                scale = None if w_batch is None else row_scale(w_batch, dtype)
                net._gradient(X_batch, Y_batch, loss, self.l2, self.l1, scale)
                for i, g in enumerate(layer_grads):
                    step_norms[i] = float(np.dot(g, g))
                squared = sum(step_norms)
                if other_grads:
                    squared += sum(float(np.dot(g, g)) for g in other_grads)
                norm = math.sqrt(squared)
                # A non-finite gradient, or a step that would overflow the weights, is not
                # taken: the parameters stay the last finite ones.
                if not optimizer.step_is_safe(norm):
                    diverged = True
                    break
                decay = net.weight_penalty(self.l2, self.l1) if penalty else 0.0
                epoch_loss.record(out.z, out.a, rows, Y_batch, decay, w_batch)
                for i, value in enumerate(step_norms):
                    squared_norms[i] += value
                optimizer.step(net.theta, grad)
                steps += 1
                for hook in on_batch_end:
                    hook(self, steps)
                if self.stop_reason is not None:
                    break
            mean_loss = epoch_loss.mean()
        diverged = diverged or not math.isfinite(mean_loss)
        if diverged:
            self.stop_reason = "diverged"
        steps = max(steps, 1)
        logs: dict[str, Any] = {
            "epoch": epoch, "loss": math.nan if diverged else mean_loss,
            "lr": optimizer.current_lr, "metric_name": loss.metric_name,
            "grad_norms": np.sqrt(np.array(squared_norms) / steps) if not diverged else
            np.full(len(squared_norms), math.nan),
            "grad_norm": math.nan if diverged else math.sqrt(sum(squared_norms) / steps),
        }
        if self.validation is not None:
            logs["val_loss"], logs["val_metric"] = (
                (math.nan, math.nan) if diverged else evaluate_arrays(net, loss, *self.validation)
            )
        return logs

    def _epoch_batches(self) -> tuple[Array, Array | None, Any]:
        """The targets and sample weights in this epoch's order (what the rows index), and a
        :data:`Batch` for each minibatch."""
        n, rng = self.X.shape[0], self.net.rng
        if self._shuffled is None:
            indices = minibatch_indices(n, self.batch_size, rng, shuffle=self.shuffle,
                                        sampling=self.sampling, min_batch=self._min_batch)
            return self.Y, self.w, (self._gather(rows) for rows in indices)
        X, Y, w = self._shuffled
        order = rng.permutation(n)  # the same draw minibatch_indices would make
        self.X.take(order, axis=0, out=X)
        self.Y.take(order, axis=0, out=Y)
        if w is not None:
            self.w.take(order, out=w)  # type: ignore[union-attr]
        in_order = minibatch_indices(n, self.batch_size, rng, shuffle=False, min_batch=self._min_batch)
        if -(-n // self.batch_size) > MAX_CACHED_BATCHES:  # too many views to keep (memory)
            return Y, w, ((X[rows], Y[rows], rows, None if w is None else w[rows]) for rows in in_order)
        if self._slices is None:  # views of the shuffled copies: the same every epoch
            self._slices = [(X[rows], Y[rows], rows, None if w is None else w[rows]) for rows in in_order]
        return Y, w, self._slices

    def _gather(self, rows: Array | slice) -> Batch:
        """The minibatch's rows: views for a slice, a gather into reused buffers otherwise."""
        w = self.w
        if isinstance(rows, slice):
            return self.X[rows], self.Y[rows], rows, None if w is None else w[rows]
        n = rows.shape[0]
        if n not in self._batch_buffers:
            self._batch_buffers[n] = (np.empty((n, self.X.shape[1]), self.X.dtype),
                                      np.empty((n, self.Y.shape[1]), self.Y.dtype),
                                      None if w is None else np.empty(n, w.dtype))
        X_batch, Y_batch, w_batch = self._batch_buffers[n]
        self.X.take(rows, axis=0, out=X_batch)
        self.Y.take(rows, axis=0, out=Y_batch)
        if w is not None:
            w.take(rows, out=w_batch)
        return X_batch, Y_batch, rows, w_batch

    def _record(self, epoch: int, logs: dict[str, Any]) -> None:
        h = self.history
        h.epoch.append(epoch)
        h.loss.append(float(logs["loss"]))
        h.lr.append(float(logs["lr"]))
        h.grad_norms.append(logs["grad_norms"])
        h.grad_norm.append(logs["grad_norm"])
        h.time.append(float(logs["time"]))
        if "val_loss" in logs:
            h.val_loss.append(float(logs["val_loss"]))
            h.val_metric.append(float(logs["val_metric"]))
