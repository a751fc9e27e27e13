"""The training step: the one owner of "given the parameters, a run of minibatches and an
optimizer, run steps", and the boundary between the training loop and the engines behind it.

Data flow of one call of :meth:`NumpyEngine.run` (layer ``i``, 0-based, is layer ``l = i + 1``
of the notes; B rows per minibatch)::

    data source --Minibatches(X, Y, w, rows)--> engine.run, for each minibatch:
      gather rows        X_b, Y_b, w_b = X[rows], Y[rows], w[rows]       (B, n_in), (B, n_out), (B,)
                         (a sparse X stays sparse: X_b is CSR, and the first dense
                         layer's products are sparse; see layers.dense)
      forward (layers)   z_l = a_{l-1} W_l^T + b_l,  a_l = f(z_l)         (B, n_l)
      output delta       delta_L = dLoss/dz_L (the loss owns it, 1/B included), row i times
                         the sample weights' scale B w_i / sum(w)          (B, n_L)
      recursion          delta_l = (delta_{l+1} W_{l+1}) * f'(z_l)        (B, n_l)
        (layers)         dW_l = delta_l^T a_{l-1},  db_l = sum_i delta_l   (n_l, n_{l-1}), (n_l,)
      reduction          local: nothing; MPI: the ranks' parts summed     (engine.reduction)
      weight decay       dW_l += l2 W_l + l1 sign(W_l), never db_l
      bookkeeping        ||(dW_l, db_l)||^2 per dense layer; the loss before the update
                         (an EpochLoss), with the decay term
      safety             a non-finite loss (when evaluated now) or a step the optimizer finds
                         unsafe (a non-finite gradient, an overflowing step) ends the run,
                         that step not taken
      update             theta <- optimizer(theta, grad), every parameter in one flat vector
      hooks              after_step(view, step) for each hook; then view.stop_reason, if set,
                         ends the run

The boundary. The loop (:mod:`deltaprop.training.loop`) owns epochs: the optimizer's epoch, the
callbacks' epoch hooks, restoring the epoch's start after a divergence, validation, the history.
A data source cuts each epoch into :class:`~deltaprop.data.batches.Minibatches`, runs of
minibatches over arrays ``X, Y, w`` with each minibatch's rows (one run per epoch for data in
memory, one per shuffle buffer for streams), and the loop hands each run to the engine whole:
``engine.begin(Y, w)``, ``engine.run(minibatches, view, after_step)`` for each run,
``engine.end()`` for the epoch's loss and gradient norms. So an engine sees a whole run of steps
at once and may take them all in one call without returning to Python per step. The per-step
hooks (callbacks' ``on_batch_end``, a time limit, Ctrl-C setting ``view.stop_reason``, MPI's
agreement to stop) are the only callbacks into Python: this NumPy engine honours them after every
step; a compiled engine may run the steps in chunks and honour them between chunks, or leave a run
whose hooks must see every step to this engine. Cutting a run into chunks changes nothing: the
same steps in the same order give the same weights, bit for bit. One more thing stays with this
engine: a run whose rows are drawn while it runs (random sampling) next to layers that draw from
the same generator during the steps (dropout), since drawing the rows first would reorder the
draws.

This engine is the reference: NumPy, one step after another in Python, readable against the
notes. :meth:`NumpyEngine.loss_and_gradient` is the same backward pass for one batch, without an
update (``Network.loss_and_gradients``, the gradient checker).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from deltaprop.data.batches import Batch, Minibatches
from deltaprop.engine.epoch_loss import EpochLoss
from deltaprop.engine.reduction import Hook, LocalReduction, Reduction, run_view
from deltaprop.layers import Layer
from deltaprop.losses import Loss
from deltaprop.optim import Optimizer
from deltaprop.parameters import FlatLayout
from deltaprop.penalty import add_weight_decay_gradient, weight_penalty

Array = np.ndarray


class Trainable(Protocol):
    """What the engine reads of a network (a :class:`~deltaprop.network.Network`)."""

    layers: list[Layer]
    output_layer: Any  # Dense or ActivationLayer: z, a, activation, delta_buffer, backward_delta
    theta: Array
    grad: Array
    dtype: np.dtype[Any]
    layout: FlatLayout


@dataclass
class EpochTally:
    """What the steps of one epoch leave for its summary."""

    squared_norms: list[float]  # sum over the steps of ||(dW_l, db_l)||^2, per dense layer
    steps: int = 0  # steps taken (counted from 1 within the epoch by the hooks)
    diverged: bool = False  # a step was refused


@dataclass
class EpochStats:
    """An epoch's summary: its loss, the mean gradient norms of its steps, and whether it
    diverged (then the loss and the norms are NaN)."""

    loss: float
    grad_norms: Array = field(repr=False)  # shape (n_dense_layers,)
    grad_norm: float
    diverged: bool


class NumpyEngine:
    """The training step in NumPy, over one network, loss and optimizer.

    Parameters
    ----------
    net : Network
        Trained in place: its flat ``theta`` by the optimizer from its flat ``grad``.
    loss : Loss
    optimizer : Optimizer, optional
        Needed by :meth:`run` only.
    reduction : Reduction, optional
        How a minibatch's gradient is assembled (:mod:`deltaprop.engine.reduction`); default
        local.
    l2, l1 : float
        Weight decay on W, never on b.
    epoch_loss : EpochLoss, optional
        The epoch's loss, kept by :meth:`run`; default evaluated at every step.

    Attributes
    ----------
    step_norms : list of float
        ``||(dW_l, db_l)||^2`` of each dense layer in the last step, before its update.
    """

    def __init__(self, net: Trainable, loss: Loss, optimizer: Optimizer | None = None, *,
                 reduction: Reduction | None = None, l2: float = 0.0, l1: float = 0.0,
                 epoch_loss: EpochLoss | None = None) -> None:
        self.loss, self.optimizer = loss, optimizer
        self.reduction: Reduction = reduction or LocalReduction()
        self.l2, self.l1 = l2, l1
        self.layers = list(net.layers)
        self.output_layer = net.output_layer
        self.below = tuple(range(len(self.layers) - 2, -1, -1))  # the layers under the output
        self.has_below = len(self.layers) > 1
        self.theta, self.grad, self.dtype = net.theta, net.grad, net.dtype
        self.decayed = net.layout.decayed
        self.layer_grads = [net.grad[part] for part in net.layout.dense_slices]  # views, once
        self.other_grads = [net.grad[part] for part in net.layout.other_slices]
        self.step_norms = [0.0] * len(self.layer_grads)  # Python floats: cheaper than arrays here
        self.epoch_loss = epoch_loss or EpochLoss(loss, 1, 1, net.dtype, defer=False)
        self.tally = EpochTally([0.0] * len(self.layer_grads))
        self._buffers: dict[int, tuple[Array | None, Array, Array | None]] = {}

    # -- one minibatch -------------------------------------------------------------------------
    def backprop(self, X: Array, Y: Array, scale: Array | None = None) -> None:
        """Forward in training mode, delta_L, and the delta recursion: dW_l, db_l into ``grad``.

        Parameters
        ----------
        X : ndarray, shape (B, n_inputs)
            B may be 0 (a rank's empty part of a minibatch): the gradient is then 0.
        Y : ndarray, shape (B, n_outputs)
        scale : ndarray, shape (B,), optional
            Row i of delta_L is multiplied by it (``B w_i / sum(w)`` for sample weights), which
            weights sample i's whole gradient.
        """
        a = X
        for layer in self.layers:  # evaluation.forward's loop, here without a call per step
            a = layer.forward(a, training=True)
        out = self.output_layer
        if X.shape[0]:
            delta_L = self.loss.output_delta(out.z, a, Y, out.activation, out=out.delta_buffer())
        else:  # a rank's empty part of a minibatch: its pass keeps the ranks' collectives in step
            delta_L = out.delta_buffer()  # (0, n_L): no rows, nothing for the loss to divide
        if scale is not None:
            delta_L *= scale[:, None]
        g = out.backward_delta(delta_L, need_input_grad=self.has_below)
        layers = self.layers
        for i in self.below:  # g is always a layer's scratch buffer here
            g = layers[i].backward(g, need_input_grad=i > 0, overwrite_g=True)

    def loss_and_gradient(self, X: Array, Y: Array, scale: Array | None = None) -> float:
        """:meth:`backprop` and the weight decay's gradient; return the batch's loss (weighted
        mean when ``scale`` is given) with the decay term. No update."""
        self.backprop(X, Y, scale)
        l2, l1 = self.l2, self.l1
        if l2 or l1:
            add_weight_decay_gradient(self.decayed, l2, l1)
        z, a = self.output_layer.z, self.output_layer.a  # backward leaves the output's z and a
        value = self.loss.value(z, a, Y) if scale is None else self.loss.weighted_value(z, a, Y, scale)
        return value + weight_penalty(self.decayed, l2, l1) if (l2 or l1) else value

    # -- a run of minibatches ------------------------------------------------------------------
    def begin(self, Y: Array | None, w: Array | None) -> None:
        """Start an epoch whose rows index the targets ``Y`` and sample weights ``w``."""
        tally = self.tally
        tally.squared_norms[:] = [0.0] * len(tally.squared_norms)
        tally.steps, tally.diverged = 0, False
        self.epoch_loss.start(Y, w)  # type: ignore[arg-type]

    def run(self, minibatches: Minibatches, view: Any = None,
            after_step: Sequence[Hook] = ()) -> bool:
        """Take a step on each minibatch in turn (see the module's docstring).

        Parameters
        ----------
        minibatches : Minibatches
        view : object with a ``stop_reason`` attribute, optional
            Handed to the hooks; a ``stop_reason`` that is not None after a step ends the run.
        after_step : sequence of callables (view, step) -> None
            Called after every step; ``step`` counts from 1 within the epoch.

        Returns
        -------
        bool
            True when every minibatch was taken; False when the run ended early (a stop, or a
            refused step: then ``tally.diverged``).
        """
        optimizer, tally, out = self.optimizer, self.tally, self.output_layer
        assert optimizer is not None, "run() needs an optimizer"
        theta, grad, decayed, l2, l1 = self.theta, self.grad, self.decayed, self.l2, self.l1
        layer_grads, other_grads, step_norms = self.layer_grads, self.other_grads, self.step_norms
        squared_norms, record, penalty = tally.squared_norms, self.epoch_loss.record, l2 or l1
        gradient, stops_alone = self.reduction.gradient, self.reduction.stops_alone
        hooks = (*after_step, *self.reduction.after_step)
        view = run_view(view)
        steps = tally.steps
        for X_b, Y_b, rows, w_b in self._batches(minibatches):
            Y_b, rows, w_b, share = gradient(self, X_b, Y_b, rows, w_b)
            if penalty:
                add_weight_decay_gradient(decayed, l2, l1)
            for i, g in enumerate(layer_grads):
                step_norms[i] = float(np.dot(g, g))
            squared = sum(step_norms)
            if other_grads:  # BatchNorm's gamma and beta: checked, not reported
                squared += sum(float(np.dot(g, g)) for g in other_grads)
            decay = weight_penalty(decayed, l2, l1) if penalty else 0.0
            finite = record(out.z, out.a, rows, Y_b, decay, w_b) if share else True
            # A non-finite gradient, or a step that would overflow the weights, is not taken.
            if not optimizer.step_is_safe(math.sqrt(squared)) or (not finite and stops_alone):
                tally.diverged = True
                break
            for i, value in enumerate(step_norms):
                squared_norms[i] += value
            optimizer.step(theta, grad)
            steps += 1
            for hook in hooks:
                hook(view, steps)
            if view.stop_reason is not None:
                break
        else:
            tally.steps = steps
            return True
        tally.steps = steps
        return False

    def end(self) -> EpochStats:
        """The epoch's loss (over every process of the reduction) and mean gradient norms; a
        refused step or a non-finite loss makes it a diverged epoch."""
        mean = self.reduction.epoch_mean(self.epoch_loss)
        squared, steps = self.tally.squared_norms, max(self.tally.steps, 1)
        if self.tally.diverged or not math.isfinite(mean):
            return EpochStats(math.nan, np.full(len(squared), math.nan), math.nan, True)
        return EpochStats(mean, np.sqrt(np.array(squared) / steps), math.sqrt(sum(squared) / steps),
                          False)

    # -- gathering rows ------------------------------------------------------------------------
    def _batches(self, minibatches: Minibatches) -> Iterable[Batch]:
        """The minibatches as (X_b, Y_b, rows, w_b): the source's views, or gathered."""
        if minibatches.views is not None:
            return minibatches.views
        return (self._gather(minibatches, rows) for rows in minibatches.rows)

    def _gather(self, minibatches: Minibatches, rows: Any) -> Batch:
        """One minibatch's rows: views for a slice, a gather into reused buffers otherwise.
        Sparse X (CSR) has no buffer: ``X[rows]`` is a new CSR matrix of those rows (a dense
        buffer would be the very (B, n_inputs) array sparse input avoids)."""
        X, Y, w = minibatches.X, minibatches.Y, minibatches.w
        if isinstance(rows, slice):
            return X[rows], Y[rows], rows, None if w is None else w[rows]
        n, dense = rows.shape[0], isinstance(X, np.ndarray)
        if n not in self._buffers:
            self._buffers[n] = (np.empty((n, X.shape[1]), X.dtype) if dense else None,
                                np.empty((n, Y.shape[1]), Y.dtype),
                                None if w is None else np.empty(n, w.dtype))
        X_b, Y_b, w_b = self._buffers[n]
        if dense:
            X.take(rows, axis=0, out=X_b)
        else:
            X_b = X[rows]
        Y.take(rows, axis=0, out=Y_b)
        if w is not None:
            w.take(rows, out=w_b)
        return X_b, Y_b, rows, w_b
