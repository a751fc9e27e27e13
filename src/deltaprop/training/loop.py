"""The Trainer: one training run's epoch loop, with the callbacks called around it (the loop
:func:`deltaprop.fit` runs).

Each epoch the data source cuts the data into runs of minibatches and the engine
(:mod:`deltaprop.engine.step`) takes their steps; the loop keeps what is per epoch: the
optimizer's epoch, the epoch's start (restored when it diverges), the validation score, the
history, the callbacks' epoch hooks, stopping.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from deltaprop.callbacks.base import callback_hooks, keeps_state
from deltaprop.data.batches import Epoch, Minibatches
from deltaprop.engine.compiled.choice import compiled_engine
from deltaprop.engine.epoch_loss import EpochLoss
from deltaprop.engine.reduction import Hook, LocalReduction, Reduction
from deltaprop.engine.step import EpochStats, NumpyEngine, Trainable
from deltaprop.history import History
from deltaprop.losses import Loss
from deltaprop.optim import Optimizer

Array = np.ndarray


class Stoppable(Protocol):
    """A run that a signal asks to stop: it reads ``stop_reason`` after each step."""

    stop_reason: str | None


class DataSource(Protocol):
    """What the loop asks of its data (:class:`~deltaprop.data.arrays.ArraySource`,
    :class:`~deltaprop.data.stream.StreamSource`)."""

    X: Array  # the training inputs (a sample of them for a stream)
    Y: Array
    w: Array | None
    validation: tuple[Array, Array, Array | None] | None
    batch_size: int
    batches_per_epoch: int
    max_rows: int  # the most rows one epoch can visit
    small_steps: bool  # the epoch loss may be deferred to the epoch's end
    sparse: bool  # X is a scipy.sparse CSR matrix (the NumPy engine's alone)

    def for_run(self, engine_gathers: bool = False) -> DataSource: ...

    def epoch(self, rng: np.random.Generator) -> Epoch: ...


class Engine(Protocol):
    """What the loop asks of an engine (:class:`~deltaprop.engine.step.NumpyEngine`,
    :class:`~deltaprop.engine.compiled.engine.CompiledEngine`): an epoch's runs of steps."""

    def begin(self, Y: Array | None, w: Array | None) -> None: ...

    def run(self, minibatches: Minibatches, view: Any = None, after_step: Sequence[Hook] = ()) -> bool: ...

    def end(self) -> EpochStats: ...


class TrainedNetwork(Trainable, Protocol):
    """What the loop reads of the network beyond the engine's needs."""

    rng: np.random.Generator
    n_outputs: int

    @property
    def batchnorm_layers(self) -> list[Any]: ...

    def snapshot(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


@dataclass
class RunState:
    """A run to continue (a checkpoint's): the epochs done, the history so far, and the states
    of the callbacks that keep one, by class name."""

    epoch: int
    history: History
    callback_states: list[Any] = field(default_factory=list)

    def restore_callbacks(self, callbacks: Iterable[Any]) -> None:
        """Give each state-keeping callback its saved state, in order; they must match."""
        keeping = [c for c in callbacks if keeps_state(c)]
        saved = [name for name, _ in self.callback_states]
        if [type(c).__name__ for c in keeping] != saved:
            raise ValueError(f"the checkpoint holds the states of the callbacks {saved}, but the "
                             f"resumed run has {[type(c).__name__ for c in keeping]}; pass the "
                             "same callbacks as the interrupted run")
        for callback, (_, state) in zip(keeping, self.callback_states):
            callback.load_state_dict(state)


@dataclass
class TrainerFactory:
    """Makes the :class:`Trainer` of each run from what ``fit`` validated (picklable, so runs
    can go to other processes)."""

    loss: Loss
    source: DataSource
    callbacks: list[Any]
    epochs: int
    l2: float = 0.0
    l1: float = 0.0
    engine: tuple[str, str] = ("numpy", "")  # the engine that runs, and why "auto" chose NumPy

    def __call__(self, run: int, net: TrainedNetwork, optimizer: Optimizer,
                 state: RunState | None = None, reduction: Reduction | None = None) -> Trainer:
        source = self.source.for_run(engine_gathers=self.engine[0] == "compiled")
        return Trainer(net, self.loss, optimizer, source, epochs=self.epochs, l2=self.l2, l1=self.l1,
                       callbacks=self.callbacks, run=run, state=state, reduction=reduction,
                       engine=self.engine)


class RunData:
    """What a run shows its callbacks of its data and parameters: ``X``, ``Y``, ``w`` of its
    source, and :meth:`snapshot` / :meth:`restore` of the network (the epoch loop's
    :class:`Trainer` and an L-BFGS run share it)."""

    net: Any
    source: Any

    @property
    def X(self) -> Array:
        return self.source.X

    @property
    def Y(self) -> Array:
        return self.source.Y

    @property
    def w(self) -> Array | None:
        return self.source.w

    def snapshot(self) -> Any:
        """A copy of the parameters and the BatchNorm running statistics (for callbacks)."""
        return self.net.snapshot()

    def restore(self, state: Any) -> None:
        """Put back a :meth:`snapshot`."""
        self.net.restore(state)


class Trainer(RunData):
    """One training run: the epoch loop over one network, optimizer and data source.

    Callbacks see the trainer (:class:`~deltaprop.callbacks.base.RunView`): ``net``,
    ``optimizer``, ``history``, ``stop_reason`` (set it to stop), ``has_validation``,
    ``run_index`` (the restart, 0 for the first or only run), ``in_worker`` (True when the run
    was handed to another process by ``n_jobs``), ``epochs``, ``epoch_complete``,
    ``batches_per_epoch``, ``callbacks``, and :meth:`snapshot` / :meth:`restore` of the
    parameters; also the training data ``X``, ``Y``, ``w`` and ``validation``. ``engine`` is
    the engine that takes the steps (``"numpy"`` or ``"compiled"``) and why "auto" chose NumPy
    (:func:`~deltaprop.engine.compiled.choice.choose`).
    """

    def __init__(self, net: TrainedNetwork, loss: Loss, optimizer: Optimizer, source: DataSource, *,
                 epochs: int, l2: float, l1: float, callbacks: Sequence[Any], run: int = 0,
                 state: RunState | None = None, reduction: Reduction | None = None,
                 engine: tuple[str, str] = ("numpy", "")) -> None:
        self.net, self.loss, self.optimizer, self.source = net, loss, optimizer, source
        self.epochs, self.batch_size = epochs, source.batch_size
        self.batches_per_epoch = source.batches_per_epoch
        self.validation = source.validation
        self.callbacks = list(callbacks)
        self.has_validation = source.validation is not None
        self.run_index, self.in_worker, self.epoch_complete = run, False, False
        self.history = History(loss_name=loss.name, metric_name=loss.metric_name)
        self.first_epoch = 1
        self.state = state  # a checkpoint's run: epochs done, history, callback states
        if state is not None:
            self.history, self.first_epoch = state.history, state.epoch + 1
        self.stop_reason: str | None = None
        self.reduction: Reduction = reduction or LocalReduction()
        self.history.engine, self.history.engine_reason = engine
        self.engine: Engine
        if engine[0] == "compiled":
            self.engine = compiled_engine(net, loss, optimizer, l2=l2, l1=l1,
                                          reduction=self.reduction)
            self.history.engine_build_seconds = self.engine.build_seconds  # type: ignore[attr-defined]
        else:
            epoch_loss = EpochLoss(loss, source.max_rows, net.n_outputs, net.dtype,
                                   defer=source.small_steps)
            self.engine = NumpyEngine(net, loss, optimizer, reduction=self.reduction, l2=l2, l1=l1,
                                      epoch_loss=epoch_loss)
        self._epoch_start = np.empty_like(net.theta)

    def _callbacks_with(self, method: str) -> list[Any]:
        return callback_hooks(self.callbacks, method)

    def run(self) -> History:
        """Train for up to ``epochs`` epochs; return the History."""
        for hook in self._callbacks_with("on_train_begin"):
            hook(self)
        if self.state is not None:
            self.state.restore_callbacks(self.callbacks)
        self.optimizer.start(self.epochs)
        self.reduction.start(self.net)
        self._after_step = self._callbacks_with("on_batch_end")
        # A resumed run's clock goes on from where the checkpoint's stopped.
        start = time.perf_counter() - (self.history.time[-1] if self.history.time else 0.0)
        with stop_on_interrupt(self):
            for epoch in range(self.first_epoch, self.epochs + 1):
                self.optimizer.set_epoch(epoch - 1)
                logs = self._run_epoch(epoch)
                logs["time"] = time.perf_counter() - start
                self.history.record_epoch(logs)
                self.reduction.check_identical(self.net, epoch)
                if self.stop_reason == "diverged":
                    break  # no finite loss for the callbacks to judge; the reason must stand
                for hook in self._callbacks_with("on_epoch_end"):
                    hook(self, epoch, logs)
                # a stop wanted by one process's callback (or Ctrl-C) stops all of them
                self.stop_reason = self.reduction.agree_to_stop(self.stop_reason)
                if self.stop_reason is not None:
                    break
        self._finish()
        return self.history

    def _run_epoch(self, epoch: int) -> dict[str, Any]:
        """One epoch: its runs of minibatches through the engine, then its logs."""
        net, engine = self.net, self.engine
        np.copyto(self._epoch_start, net.theta)  # the last weights known to give a finite loss
        stats_start = [(bn.running_mean.copy(), bn.running_var.copy()) for bn in net.batchnorm_layers]
        Y, w, runs = self.source.epoch(net.rng)
        engine.begin(Y, w)
        self.epoch_complete = False  # every batch ran (a checkpoint needs whole epochs)
        # Divergence is detected by the engine and reported as such, not as overflow warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            self.epoch_complete = all(engine.run(minibatches, self, self._after_step)
                                      for minibatches in runs)
            stats = engine.end()
        if stats.diverged:
            # A non-finite gradient (that step was not taken) or a non-finite loss (an
            # overflowing square with finite gradients): the epoch's updates, and the
            # BatchNorm statistics of its forward passes, followed numbers that no longer meant
            # anything. Back to the epoch's start, the last state with a finite loss.
            net.restore((self._epoch_start, stats_start))
            self.stop_reason = "diverged"
        logs: dict[str, Any] = {
            "epoch": epoch, "loss": stats.loss, "lr": self.optimizer.current_lr,
            "metric_name": self.loss.metric_name, "grad_norms": stats.grad_norms,
            "grad_norm": stats.grad_norm,
        }
        if self.validation is not None:
            logs["val_loss"], logs["val_metric"] = (
                (math.nan, math.nan) if stats.diverged
                else self.reduction.evaluate(net, self.loss, *self.validation)
            )
        return logs

    def _finish(self) -> None:
        """The stop reason, the final loss and the epoch kept; the callbacks' last word."""
        self.history.stop_reason = self.stop_reason or "epochs"
        finite = [value for value in self.history.loss if math.isfinite(value)]
        self.history.final_loss = finite[-1] if finite else None
        diverged = self.stop_reason == "diverged"  # then the epoch's start was restored
        self.history.kept_epoch = self.history.n_epochs - 1 if diverged else self.history.n_epochs
        for hook in self._callbacks_with("on_train_end"):
            hook(self)
        self.history.stop_message = _stop_message(self)


@contextlib.contextmanager
def stop_on_interrupt(trainer: Stoppable) -> Iterator[None]:
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
    ran_all = f"trained all {epochs} epochs" if epochs != 1 else "trained the 1 epoch"
    return {"epochs": ran_all, "converged": f"converged in epoch {epochs}",
            "time_limit": f"stopped by the time limit in epoch {epochs}; {weights}"}.get(
        reason, f"stopped: {reason}")
