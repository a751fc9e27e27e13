"""The Trainer: one training run's epoch and minibatch loops, forward -> loss -> backward ->
optimizer step, with the callbacks called around them (the loop :func:`deltaprop.fit` runs)."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop.callbacks.base import Callback
from deltaprop.data.batches import minibatch_indices
from deltaprop.engine.threads import is_small_step
from deltaprop.evaluation import evaluate_arrays
from deltaprop.history import EpochLoss, History
from deltaprop.losses import Loss, row_scale
from deltaprop.network import Network
from deltaprop.optim import Optimizer
from deltaprop.training import parallel

Array = np.ndarray
SHUFFLE_COPY_BYTES = 32 * 2**20  # data up to this size is shuffled into a copy once per epoch
MAX_CACHED_BATCHES = 4096  # minibatch views kept across epochs (about 400 bytes each)
Batch = tuple[Array, Array, Any, Any]  # X_batch, Y_batch, rows (slice or indices), w_batch or None


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

    def __call__(self, run: int, net: Network, optimizer: Optimizer, resume: Any = None,
                 comm: Any = None) -> Trainer:
        return Trainer(net, self.loss, optimizer, self.X, self.Y, self.validation,
                       callbacks=self.callbacks, run=run, sample_weight=self.w, resume=resume,
                       comm=comm, **self.options)


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
                 callbacks: Sequence[Any], run: int = 0, sample_weight: Array | None = None,
                 resume: Any = None, comm: Any = None, stream: Any = None):
        self.net, self.loss, self.optimizer = net, loss, optimizer
        self.X, self.Y, self.w, self.validation = X, Y, sample_weight, validation
        self.epochs, self.batch_size, self.sampling, self.shuffle = epochs, batch_size, sampling, shuffle
        self.l2, self.l1 = l2, l1
        self.callbacks = list(callbacks)
        self.has_validation = validation is not None
        self.run_index = run
        self.in_worker = False
        self.history = History(loss_name=loss.name, metric_name=loss.metric_name)
        self.first_epoch = 1
        self.comm = comm  # MPI: each global minibatch split over the ranks (deltaprop.training.parallel)
        self.stream = stream  # data larger than memory (deltaprop.data.stream): X is a sample then
        self.rank = 0 if comm is None else comm.Get_rank()
        self.resume = resume  # a checkpoint's ResumeState: epochs done, history, callback states
        if resume is not None:
            self.history, self.first_epoch = resume.history, resume.epoch + 1
        self.stop_reason: str | None = None
        self._batch_buffers: dict[int, tuple[Array, Array, Array | None]] = {}
        self._min_batch = 2 if net.batchnorm_layers else 1
        small_steps = is_small_step(net, batch_size) and stream is None  # NumPy's call overhead
        # Small data in small steps is shuffled with one gather per epoch, after which every
        # minibatch is a slice: two fewer calls per step, which matters when a step takes 20 us.
        copy_once = (small_steps and shuffle and sampling == "epoch" and batch_size < X.shape[0]
                     and X.nbytes + Y.nbytes <= SHUFFLE_COPY_BYTES)
        self._shuffled = (np.empty_like(X), np.empty_like(Y),
                          None if self.w is None else np.empty_like(self.w)) if copy_once else None
        self._slices: list[Batch] | None = None
        n_batches = -(-X.shape[0] // batch_size)
        max_rows = n_batches * batch_size if sampling == "random" else X.shape[0]
        self._epoch_start = np.empty_like(net.theta)
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
        if self.resume is not None:
            self.resume.restore_callbacks(self.callbacks)
        self.optimizer.start(self.epochs)
        if self.comm is not None:
            parallel.start_together(self.comm, self.net)
        # A resumed run's clock goes on from where the checkpoint's stopped.
        start = time.perf_counter() - (self.history.time[-1] if self.history.time else 0.0)
        with _stop_on_interrupt(self):
            for epoch in range(self.first_epoch, self.epochs + 1):
                self.optimizer.set_epoch(epoch - 1)
                logs = self._run_epoch(epoch)
                logs["time"] = time.perf_counter() - start
                self._record(epoch, logs)
                if self.comm is not None:
                    parallel.check_identical(self.comm, self.net, epoch)
                if self.stop_reason == "diverged":
                    break  # no finite loss for the callbacks to judge; the reason must stand
                for hook in self._callbacks_with("on_epoch_end"):
                    hook(self, epoch, logs)
                if self.comm is not None:  # a stop wanted by one rank's callback (or Ctrl-C)
                    self.stop_reason = parallel.agree_to_stop(self.comm, self.stop_reason)
                if self.stop_reason is not None:
                    break
        self.history.stop_reason = self.stop_reason or "epochs"
        finite = [value for value in self.history.loss if math.isfinite(value)]
        self.history.final_loss = finite[-1] if finite else None
        diverged = self.stop_reason == "diverged"  # then the epoch's start was restored
        self.history.kept_epoch = self.history.n_epochs - 1 if diverged else self.history.n_epochs
        for hook in self._callbacks_with("on_train_end"):
            hook(self)
        self.history.stop_message = _stop_message(self)
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
        comm, share = self.comm, 1.0
        Y, w, batches = self._epoch_batches()
        epoch_loss.start(Y, w)
        np.copyto(self._epoch_start, net.theta)  # the last weights known to give a finite loss
        stats_start = [(bn.running_mean.copy(), bn.running_var.copy())  # type: ignore[union-attr]
                       for bn in net.batchnorm_layers]
        dtype = net.dtype
        on_batch_end = self._callbacks_with("on_batch_end")
        diverged = False
        self.epoch_complete = False  # every batch ran (a checkpoint needs whole epochs)
        # Divergence is detected below and reported as such, not as overflow warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            for X_batch, Y_batch, rows, w_batch in batches:
                scale = None if w_batch is None else row_scale(w_batch, dtype)
                if comm is None:
                    net._gradient(X_batch, Y_batch, loss, self.l2, self.l1, scale)
                else:  # this rank's part of the global minibatch; the sum over ranks
                    X_batch, Y_batch, rows, w_batch, share = parallel.local_gradient(
                        comm, net, loss, X_batch, Y_batch, rows, w_batch, self.l2, self.l1)
                for i, g in enumerate(layer_grads):
                    step_norms[i] = float(np.dot(g, g))
                squared = sum(step_norms)
                if other_grads:
                    squared += sum(float(np.dot(g, g)) for g in other_grads)
                norm = math.sqrt(squared)
                # A non-finite gradient, or a step that would overflow the weights, is not
                # taken; the epoch ends and its start is restored below.
                if not optimizer.step_is_safe(norm):
                    diverged = True
                    break
                decay = net.weight_penalty(self.l2, self.l1) if penalty else 0.0
                finite = (epoch_loss.record(out.z, out.a, rows, Y_batch, decay, w_batch)
                          if comm is None or share else True)
                if not finite and comm is None:  # ranks decide together, at the epoch's end
                    diverged = True  # a non-finite loss, seen at its step (when not deferred)
                    break
                for i, value in enumerate(step_norms):
                    squared_norms[i] += value
                optimizer.step(net.theta, grad)
                steps += 1
                for hook in on_batch_end:
                    hook(self, steps)
                if comm is not None:  # one rank's Ctrl-C or time limit stops them all
                    self.stop_reason = parallel.agree_to_stop(comm, self.stop_reason)
                if self.stop_reason is not None:
                    break
            else:
                self.epoch_complete = True
            mean_loss = (epoch_loss.mean() if comm is None
                         else parallel.global_mean(comm, epoch_loss))
        if diverged or not math.isfinite(mean_loss):
            # A non-finite gradient (that step was not taken) or a non-finite loss (an
            # overflowing square with finite gradients): the epoch's updates, and the
            # BatchNorm statistics of its forward passes, followed numbers that no longer meant
            # anything. Back to the epoch's start, the last state with a finite loss.
            net.restore((self._epoch_start, stats_start))
            diverged = True
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
            evaluate = evaluate_arrays if comm is None else parallel.evaluate_split(comm)
            logs["val_loss"], logs["val_metric"] = (
                (math.nan, math.nan) if diverged else evaluate(net, loss, *self.validation)
            )
        return logs

    def _epoch_batches(self) -> tuple[Array, Array | None, Any]:
        """The targets and sample weights in this epoch's order (what the rows index), and a
        :data:`Batch` for each minibatch."""
        if self.stream is not None:
            return self.Y, None, self._streamed_batches()
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

    def _streamed_batches(self) -> Iterator[Batch]:
        """Minibatches read from a stream, each checked and converted as fit checks arrays."""
        from deltaprop._validation import as_float_matrix

        net = self.net
        for X_batch, y_batch in self.stream.epoch():
            X_batch = as_float_matrix(X_batch, "streamed X", net.dtype, net.n_inputs)
            Y_batch = self.loss.prepare_targets(y_batch, net.n_outputs, net.dtype)
            if Y_batch.shape[0] != X_batch.shape[0]:
                raise ValueError(f"a streamed chunk has {X_batch.shape[0]} rows of X but "
                                 f"{Y_batch.shape[0]} of y")
            yield X_batch, Y_batch, None, None

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


@contextlib.contextmanager
def _stop_on_interrupt(trainer: Trainer) -> Iterator[None]:
    """While training in the main thread: the first Ctrl-C (SIGINT) asks the trainer to stop
    after the current step (``stop_reason = "interrupted"``), so callbacks still run and early
    stopping still restores its best weights; a second Ctrl-C interrupts at once. A handler the
    program installed itself is left alone."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        trainer.stop_reason = "interrupted"
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _stop_message(trainer: Trainer) -> str:
    """What happened, in words, for people (History.stop_message)."""
    history, reason = trainer.history, trainer.history.stop_reason
    epochs, kept = history.n_epochs, history.kept_epoch
    if reason == "diverged":
        weights = ("the weights from the start of that epoch (the last with a finite loss) were "
                   "restored" if kept == epochs - 1 else f"the weights of epoch {kept} were kept")
        return (f"training diverged in epoch {epochs}: the loss or a gradient became non-finite; "
                f"{weights}; try a smaller learning rate (lr was {trainer.optimizer.lr:g})")
    weights = ("the last weights were kept" if kept == epochs
               else f"the weights of epoch {kept} (the best) were kept")
    if reason == "interrupted":
        return f"interrupted (Ctrl-C) in epoch {epochs}, after the current batch; {weights}"
    if reason == "early_stopping":
        return f"stopped early after epoch {epochs}: no improvement; {weights}"
    return {"epochs": f"trained all {epochs} epochs", "converged": f"converged in epoch {epochs}",
            "time_limit": f"stopped by the time limit in epoch {epochs}; {weights}"}.get(
        reason, f"stopped: {reason}")
