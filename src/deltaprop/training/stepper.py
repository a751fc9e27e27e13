"""BatchStepper: the training loop of :func:`deltaprop.fit` opened up, one minibatch per call.

Each :meth:`BatchStepper.step` hands the next minibatch to the training step of ``fit``
(:class:`~deltaprop.engine.step.NumpyEngine`: forward -> loss -> backward -> optimizer step) and
returns what happened in it: the rows, the loss, the delta of every layer and the per-layer
gradient norms. The minibatches are the ones ``fit`` would draw (the same shuffles from
``net.rng``), so ``k`` whole epochs of steps give exactly the weights of
``net.fit(X, y, epochs=k, ...)`` with the same options; this is what the playground runs and
what its exported code replays.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from deltaprop._validation import check_data, check_positive
from deltaprop.data.batches import Minibatches, batch_rows, minibatch_indices
from deltaprop.engine.compiled.choice import choose, compiled_engine
from deltaprop.engine.epoch_loss import EpochLoss
from deltaprop.engine.step import NumpyEngine
from deltaprop.losses import Loss
from deltaprop.network import Network
from deltaprop.optim import Optimizer, get_optimizer

Array = np.ndarray


@dataclass
class StepResult:
    """One minibatch step.

    Attributes
    ----------
    rows : ndarray of int, shape (batch,)
        The minibatch's rows of the training data.
    loss : float
        The minibatch's loss before the update, with the weight-decay term.
    deltas : list of ndarray, shape (batch, n_out) per dense layer
        delta_l of every dense layer for this minibatch (copies).
    grad_norms : ndarray of shape (n_dense,)
        ``||(dW_l, db_l)||`` of each dense layer, before the update.
    taken : bool
        False when the step was refused because the loss or gradient was not finite or the
        step would overflow the weights: the weights and BatchNorm statistics are then as
        before it (the step still counts in ``steps``; the caller decides whether to go on).
    """

    rows: Array
    loss: float
    deltas: list[Array]
    grad_norms: Array
    taken: bool


@dataclass
class RunResult:
    """Several minibatch steps (:meth:`BatchStepper.run`).

    Attributes
    ----------
    steps : int
        Steps tried (a refused one included, as :attr:`BatchStepper.steps` counts them).
    grad_norms : ndarray of shape (n_dense,)
        The RMS over the steps taken of each dense layer's ``||(dW_l, db_l)||`` (NaN for none).
    taken : bool
        False when a step was refused (the run ends there, as for :meth:`BatchStepper.step`).
    """

    steps: int
    grad_norms: Array
    taken: bool


class _Deadline:
    """A hook that stops a run of steps at a time (``time.perf_counter()`` seconds)."""

    def __init__(self, seconds: float) -> None:
        self.at = time.perf_counter() + seconds
        self.stop_reason: str | None = None

    def __call__(self, view: Any, step: int) -> None:
        if time.perf_counter() >= self.at:
            self.stop_reason = "time"


class BatchStepper:
    """Train ``net`` on (X, y) one minibatch at a time.

    Parameters
    ----------
    net : Network
    X : array-like, shape (n_samples, n_inputs)
    y : array-like
        Targets as :func:`deltaprop.fit` takes them for ``loss``.
    loss : str or Loss
    optimizer : str or Optimizer, optional
        Default ``Adam(lr=1e-3)``, as in ``fit``.
    batch_size : int or "full"
    l2, l1 : float
        Weight decay on W, never on biases.
    total_epochs : int, optional
        Given to the optimizer's schedule as ``fit`` gives its ``epochs``; only a cosine
        schedule uses it (without it, a cosine schedule without its own ``total_epochs``
        decays over one epoch). To match ``fit(epochs=k)`` with such a schedule, pass k.
    engine : {"auto", "numpy", "compiled"}
        What takes the steps, as for ``fit``; "auto" here never builds the compiled kernels (an
        interactive session must not wait seconds for them), it uses them when they are built.
        ``engine_name`` and ``engine_reason`` say which runs, and why "auto" chose NumPy.

    Attributes
    ----------
    steps : int
        Minibatches taken so far.
    epoch : int
        Whole epochs completed.
    batches_per_epoch : int

    Examples
    --------
    >>> import deltaprop as dp
    >>> data = dp.datasets.load("xor")
    >>> net = dp.MLP([2, 3, 1], activation="tanh", seed=0)
    >>> stepper = dp.BatchStepper(net, data.X, data.y, loss="binary_cross_entropy",
    ...                           optimizer=dp.SGD(lr=0.5), batch_size=2)
    >>> result = stepper.step()
    >>> [delta.shape for delta in result.deltas]
    [(2, 3), (2, 1)]
    """

    def __init__(self, net: Network, X: Any, y: Any, *, loss: str | Loss = "squared_error",
                 optimizer: str | Optimizer | None = None, batch_size: int | str = 32,
                 l2: float = 0.0, l1: float = 0.0, total_epochs: int | None = None,
                 engine: str = "auto") -> None:
        loss = net.check_loss(loss)
        self.optimizer = get_optimizer(optimizer)
        self.l2 = check_positive("l2", l2, allow_zero=True)
        self.l1 = check_positive("l1", l1, allow_zero=True)
        self.X, self.Y, _ = check_data(net, loss, X, y)
        n = self.X.shape[0]
        self.batch_size = batch_rows(batch_size, n)
        self._min_batch = 2 if net.batchnorm_layers else 1
        if self.batch_size < self._min_batch:
            raise ValueError("batch normalization needs at least 2 samples per batch in training; "
                             f"batch_size={batch_size} with {n} samples gives {self.batch_size}")
        net.use_loss(loss)
        self.net, self.loss = net, loss
        # minibatch_indices skips a last batch smaller than min_batch (BatchNorm's 1-sample one)
        self.batches_per_epoch = sum(1 for start in range(0, n, self.batch_size)
                                     if n - start >= self._min_batch)
        total = 1 if total_epochs is None else check_positive("total_epochs", total_epochs, integer=True)
        self.optimizer.start(total)
        self.steps = 0
        self.epoch = 0
        self._batches: Iterator[Array | slice] = iter(())
        self._pending: deque[Array] = deque()  # drawn for a run, not yet taken
        self._last_rows: list[Array] = []  # the last compiled run's minibatches
        self._in_epoch = self.batches_per_epoch  # as if an epoch had just ended
        self.engine = NumpyEngine(net, loss, self.optimizer, l2=self.l2, l1=self.l1,
                                  epoch_loss=EpochLoss(loss, self.batch_size, net.n_outputs,
                                                       net.dtype, defer=False))
        self.engine_name, self.engine_reason = choose(engine, net, loss, self.optimizer,
                                                      batch_size=self.batch_size, steps=0, build=False)
        self.compiled = (compiled_engine(net, loss, self.optimizer, l2=self.l2, l1=self.l1)
                         if self.engine_name == "compiled" else None)

    def _next_rows(self) -> Array:
        """The next minibatch's rows; a new epoch's shuffle when the last one is used up."""
        if self._pending:
            return self._pending.popleft()
        if self._in_epoch == self.batches_per_epoch:
            self.optimizer.set_epoch(self.epoch)
            self._batches = minibatch_indices(self.X.shape[0], self.batch_size, self.net.rng,
                                              min_batch=self._min_batch)
            self._in_epoch = 0
        rows = next(self._batches)
        self._in_epoch += 1
        if isinstance(rows, slice):
            return np.arange(rows.start, rows.stop)
        return rows

    def step(self) -> StepResult:
        """Train on the next minibatch; return its rows, loss, deltas and gradient norms."""
        if self.compiled is not None:
            return self._compiled_step()
        net, engine = self.net, self.engine
        rows = self._next_rows()
        statistics = [(bn.running_mean.copy(), bn.running_var.copy())  # type: ignore[union-attr]
                      for bn in net.batchnorm_layers]
        engine.begin(self.Y, None)  # a one-step epoch: its loss is this step's
        # A diverging run shows up in the result (taken=False), not as overflow warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            taken = engine.run(Minibatches(self.X, self.Y, None, (rows,)))
            loss = engine.epoch_loss.mean()
        if not taken:  # the refused step's forward pass moved BatchNorm's statistics: put them back
            for bn, (mean, var) in zip(net.batchnorm_layers, statistics):
                bn.running_mean[...] = mean  # type: ignore[index]
                bn.running_var[...] = var  # type: ignore[index]
        self.steps += 1
        if self._in_epoch == self.batches_per_epoch and not self._pending:
            self.epoch += 1
        deltas = [np.array(layer.delta, copy=True) for layer in net.dense_layers]
        return StepResult(rows, float(loss), deltas, np.sqrt(np.array(engine.step_norms)), taken)

    def run(self, max_steps: int, seconds: float | None = None) -> RunResult:
        """Up to ``max_steps`` steps (fewer when ``seconds`` run out: the step that crosses
        them is the last), through the chosen engine: the steps that as many :meth:`step` calls
        would take (bit for bit on either engine)."""
        deadline = _Deadline(float("inf") if seconds is None else seconds)
        squared = np.zeros(len(self.net.dense_layers))
        steps, taken, n_taken = 0, True, 0  # steps tried (a refused one included), and taken
        while steps < max_steps and taken and deadline.stop_reason is None:
            if self.compiled is None:
                result = self.step()
                steps, taken = steps + 1, result.taken
                if taken:
                    squared, n_taken = squared + result.grad_norms**2, n_taken + 1
                deadline(None, steps)
            else:
                done, taken, part, ran = self._compiled_run(max_steps - steps, deadline)
                steps, squared, n_taken = steps + done, squared + part, n_taken + ran
        norms = np.sqrt(squared / n_taken) if n_taken else np.full(len(squared), np.nan)
        return RunResult(steps, norms, taken)

    def _compiled_run(self, most: int, deadline: _Deadline) -> tuple[int, bool, Array, int]:
        """Up to ``most`` steps, within the current epoch, in one compiled run: (steps tried,
        whether none was refused, the sum of the squared per-layer norms of those taken, and
        their number)."""
        engine = self.compiled
        assert engine is not None
        if self._in_epoch == self.batches_per_epoch and not self._pending:
            self._pending.append(self._next_rows())  # starts the epoch (set_epoch, the shuffle)
        k = min(most, len(self._pending) + self.batches_per_epoch - self._in_epoch)
        rows = self._last_rows = [self._next_rows() for _ in range(k)]
        engine.begin(None, None)
        with np.errstate(over="ignore", invalid="ignore"):
            taken = engine.run(Minibatches(self.X, self.Y, None, rows), deadline, (deadline,))
        engine.end()  # the tally's squared norms: of the steps taken
        done = engine.tally.steps + (not taken and engine.tally.diverged)  # a refused one counts
        self._pending.extendleft(reversed(rows[done:]))
        self.steps += done
        if self._in_epoch == self.batches_per_epoch and not self._pending:
            self.epoch += 1
        return done, not engine.tally.diverged, np.array(engine.tally.squared_norms), engine.tally.steps

    def _compiled_step(self) -> StepResult:
        """:meth:`step` on the compiled engine: its deltas are the kernel's own."""
        engine = self.compiled
        assert engine is not None
        _, taken, _, _ = self._compiled_run(1, _Deadline(float("inf")))
        rows = np.asarray(self._last_rows[0])
        return StepResult(rows, engine.run_loss(), engine.deltas(rows.shape[0]),
                          np.sqrt(engine.step_norms), taken)

    @property
    def epochs_done(self) -> float:
        """Epochs trained, counting a partial epoch as its fraction of batches."""
        return self.steps / self.batches_per_epoch
