"""Full-batch L-BFGS training: :func:`deltaprop.fit` with ``optimizer=LBFGS()`` (or "lbfgs").

SciPy's ``minimize(method="L-BFGS-B", jac=True)`` works on the flat parameter vector; the
objective it calls is the NumPy engine's one backward pass over the whole training set::

    f(theta) = sum_i w_i loss_i(theta) / sum_i w_i + l2/2 sum_l ||W_l||^2   (w_i = 1 without weights)
    grad f   = NumpyEngine.loss_and_gradient(X, Y, scale), the flat ``net.grad``

the same definitions as minibatch ``fit`` in full batch (training mode; BatchNorm normalizes
by the full batch's statistics, its running statistics frozen meanwhile). After each iteration
k the run records f(theta_k) (``history.loss``, with the L2 term), the gradient norms at
theta_k and the validation loss and metric; BatchNorm's running statistics become the full
batch's at theta_k; the callbacks' ``on_batch_end`` (step 1) and ``on_epoch_end`` hooks run,
and a ``stop_reason`` they set ends the minimization (``StopIteration``, SciPy >= 1.11).

Precision: SciPy works in float64; the objective is evaluated in the network's dtype (theta_k
rounded to it, the loss and gradient converted back), so a float32 network's line search sees
float32 rounding (about 1e-7 relative) and may stop earlier ("no_progress") than a float64 one.

A non-finite loss or gradient ends the run as divergence does in minibatch training:
``stop_reason`` "diverged", that iteration recorded as NaN, the last iterate kept (L-BFGS's
iterates descend, so it is the best finite point).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from deltaprop.callbacks.base import callback_hooks
from deltaprop.data.arrays import ArraySource
from deltaprop.engine.step import NumpyEngine
from deltaprop.evaluation import Evaluated, evaluate_arrays, forward
from deltaprop.history import History
from deltaprop.layers import Dropout
from deltaprop.losses import Loss, row_scale
from deltaprop.optim import LBFGS, Optimizer
from deltaprop.training.loop import RunData, TrainedNetwork, stop_on_interrupt

Array = np.ndarray
ENGINE_REASON = "L-BFGS evaluates the full batch's loss and gradient with the NumPy engine"
MIN_SCIPY = (1, 11)  # a callback may raise StopIteration to end the minimization


class Minimized(TrainedNetwork, Evaluated, Protocol):
    """What an L-BFGS run reads of a network (a :class:`~deltaprop.network.Network`)."""

    def frozen_running_stats(self) -> AbstractContextManager[None]: ...


def scipy_minimize() -> Any:
    """``scipy.optimize.minimize``, or an ImportError naming the extra that brings SciPy."""
    try:
        import scipy
        from scipy.optimize import minimize
    except ImportError:
        raise ImportError("optimizer LBFGS runs on scipy.optimize, which is not installed: "
                          "pip install 'deltaprop[fast]'") from None
    release = re.match(r"(\d+)\.(\d+)", scipy.__version__)  # "1.11.0rc1", "1.18.0.dev0+..."
    if release is None or tuple(map(int, release.groups())) < MIN_SCIPY:
        raise ImportError(f"optimizer LBFGS needs scipy >= 1.11, found {scipy.__version__}: "
                          "pip install -U 'deltaprop[fast]'")
    return minimize


def check_lbfgs_run(net: Any, data: Any, options: Any, *, comm: Any = None,
                    resumed: bool = False) -> ArraySource:
    """Refuse what L-BFGS cannot do (it needs a smooth objective, the same at every evaluation,
    over the whole training set in memory), naming every such option at once; check SciPy.
    Return the data, arrays in memory."""
    if not isinstance(data, ArraySource):
        raise ValueError("optimizer LBFGS trains on arrays in memory (the full batch), not on a "
                         "stream; use fit(net, X, y, optimizer=LBFGS()), or SGD/Adam for streams")
    dropout = [f"layers.{i}" for i, layer in enumerate(net.layers)
               if isinstance(layer, Dropout) and layer.p > 0]
    n = data.X.shape[0]
    refused = [
        (options.l1 > 0, f"l1={options.l1} (|W| has no gradient at 0: L-BFGS needs a smooth "
                         "objective; use l2, or SGD/Adam for l1)"),
        (bool(dropout), f"Dropout layers {dropout} (a random objective; remove them or use p=0)"),
        (options.sampling == "random", "sampling='random' (L-BFGS sees every sample each "
                                       "evaluation; leave sampling='epoch')"),
        (data.batch_size < n, f"batch_size={options.batch_size!r} (minibatches of the {n} training "
                              "samples: L-BFGS is full batch; leave batch_size at its default "
                              "or pass batch_size='full')"),
        (options.checkpoint is not None, "checkpoint (an L-BFGS run cannot be resumed from a file: "
                                         "its curvature pairs live in SciPy)"),
        (resumed, "a resumed run (L-BFGS runs are not checkpointed)"),
        (comm is not None, "comm (data-parallel MPI training is minibatch training)"),
        (options.engine == "compiled", "engine='compiled' (it takes minibatch steps; L-BFGS "
                                       "evaluates with the NumPy engine: use 'auto' or 'numpy')"),
    ]
    problems = [text for wrong, text in refused if wrong]
    if problems:
        raise ValueError("optimizer LBFGS cannot train with " + "; ".join(problems))
    scipy_minimize()
    return data


@dataclass
class LBFGSFactory:
    """Makes the :class:`LBFGSRun` of each run (a :class:`~deltaprop.training.loop.TrainerFactory`
    for L-BFGS: restarts and ``n_jobs`` use it the same way)."""

    loss: Loss
    source: ArraySource
    callbacks: list[Any]
    epochs: int
    l2: float = 0.0
    l1: float = 0.0  # always 0: refused by check_lbfgs_run (restarts read it)

    def __call__(self, run: int, net: Minimized, optimizer: Optimizer, state: Any = None,
                 reduction: Any = None) -> LBFGSRun:
        assert state is None and reduction is None, "refused by check_lbfgs_run"
        assert isinstance(optimizer, LBFGS)
        return LBFGSRun(net, self.loss, optimizer, self.source, epochs=self.epochs, l2=self.l2,
                        callbacks=self.callbacks, run=run)


class Diverged(Exception):
    """A non-finite loss or gradient: ends the minimization."""


class Objective:
    """f(x) and its gradient for SciPy: x (float64) into ``net.theta`` (the network's dtype),
    one backward pass over the full batch, the loss and a float64 copy of the gradient.

    Attributes
    ----------
    evaluations : int
        Calls so far (SciPy's ``nfev``, plus any re-evaluation of an iterate).
    first_value : float or None
        f at the starting point (the first call).
    """

    def __init__(self, net: Minimized, loss: Loss, source: ArraySource, l2: float) -> None:
        self.net, self.engine = net, NumpyEngine(net, loss, l2=l2)
        self.X, self.Y = source.X, source.Y
        self.scale = None if source.w is None else row_scale(source.w, net.dtype)
        self.evaluations = 0
        self.first_value: float | None = None
        self._last: tuple[Array, float, Array] | None = None  # x, f(x), grad f(x)

    def __call__(self, x: Array) -> tuple[float, Array]:
        self.evaluations += 1
        np.copyto(self.net.theta, x, casting="same_kind")
        value = float(self.engine.loss_and_gradient(self.X, self.Y, self.scale))
        grad = self.net.grad.astype(np.float64)  # a copy: SciPy keeps it, the next call overwrites
        if not (math.isfinite(value) and np.isfinite(grad).all()):
            raise Diverged
        if self.first_value is None:
            self.first_value = value
        self._last = (x.copy(), value, grad)
        return value, grad

    def at(self, x: Array) -> tuple[float, Array]:
        """f and its gradient at an iterate, with ``net.theta`` at it: the last point evaluated
        (where SciPy's line search ends), or evaluated again."""
        if self._last is None or not np.array_equal(self._last[0], x):
            return self(x)
        return self._last[1], self._last[2]


class LBFGSRun(RunData):
    """One L-BFGS minimization, and the view of it its callbacks get (a
    :class:`~deltaprop.callbacks.base.RunView`, as the minibatch loop's Trainer is one): an
    iteration is an epoch of one full-batch step."""

    batches_per_epoch = 1
    epoch_complete = True

    def __init__(self, net: Minimized, loss: Loss, optimizer: LBFGS, source: ArraySource, *,
                 epochs: int, l2: float, callbacks: Sequence[Any], run: int = 0) -> None:
        self.net, self.loss, self.optimizer, self.source = net, loss, optimizer, source
        self.epochs, self.callbacks = epochs, list(callbacks)
        self.validation = source.validation
        self.has_validation = source.validation is not None
        self.run_index, self.in_worker = run, False
        self.history = History(loss_name=loss.name, metric_name=loss.metric_name, engine="numpy",
                               engine_reason=ENGINE_REASON)
        self.stop_reason: str | None = None
        self.objective = Objective(net, loss, source, l2)
        self.kept: Any = None  # the last iterate's snapshot: the best finite point
        self.scipy_message = ""

    def run(self) -> History:
        """Minimize for up to ``epochs`` iterations; return the History."""
        for hook in callback_hooks(self.callbacks, "on_train_begin"):
            hook(self)
        self.optimizer.t = 0
        self.kept, self._start = self.net.snapshot(), time.perf_counter()
        # Divergence is reported as such, not as overflow warnings (as in minibatch training).
        # Ctrl-C sets stop_reason, as in the epoch loop (whose handler is typed on its Trainer).
        interrupt = stop_on_interrupt(self)
        with interrupt, self.net.frozen_running_stats(), np.errstate(over="ignore", invalid="ignore"):
            reason = self._minimize()
        self.net.restore(self.kept)  # SciPy's last evaluation may be a rejected trial point
        self._finish(reason)
        return self.history

    def _minimize(self) -> str:
        """Run SciPy; return why it stopped."""
        options = {"maxiter": self.epochs, "maxfun": self.optimizer.max_fun,
                   "gtol": self.optimizer.tol, "ftol": self.optimizer.ftol,
                   "maxcor": self.optimizer.memory}
        x0 = self.net.theta.astype(np.float64)
        try:
            result = scipy_minimize()(self.objective, x0, method="L-BFGS-B", jac=True,
                                      callback=self._iteration, options=options)
        except Diverged:
            self._record_divergence()
            return "diverged"
        self.scipy_message = str(result.message)
        self.history.solver_status, self.history.solver_message = int(result.status), self.scipy_message
        if self.stop_reason is not None:  # a callback's, or Ctrl-C's
            return self.stop_reason
        if result.status == 0:
            return "converged"
        if result.status == 1:  # SciPy tests the iterations first
            return "epochs" if result.nit >= self.epochs else "max_fun"
        return "no_progress"  # the line search found no lower point (rounding, or a kink)

    def _iteration(self, intermediate_result: Any) -> None:
        """SciPy's callback after each iteration (the name of its argument asks SciPy for the
        result object): record theta_k, settle BatchNorm's statistics, run the hooks."""
        x = intermediate_result.x
        value, grad = self.objective.at(x)
        settle_running_stats(self.net, self.X)
        self.kept = self.net.snapshot()
        self.optimizer.t += 1
        epoch = self.history.n_epochs + 1
        logs = self._logs(epoch, value, grad)
        for hook in callback_hooks(self.callbacks, "on_batch_end"):
            hook(self, 1)
        self.history.record_epoch(logs)
        for hook in callback_hooks(self.callbacks, "on_epoch_end"):
            hook(self, epoch, logs)
        if self.stop_reason is not None:
            raise StopIteration

    def _logs(self, epoch: int, value: float, grad: Array) -> dict[str, Any]:
        """The logs of iteration ``epoch`` (as the minibatch loop's, ``lr`` NaN)."""
        norms = np.sqrt([float(np.dot(grad[part], grad[part])) for part in self.net.layout.dense_slices])
        logs: dict[str, Any] = {
            "epoch": epoch, "loss": value, "lr": math.nan, "metric_name": self.loss.metric_name,
            "grad_norms": norms, "grad_norm": float(np.sqrt(np.dot(norms, norms))),
            "time": time.perf_counter() - self._start,
        }
        if self.validation is not None:
            logs["val_loss"], logs["val_metric"] = evaluate_arrays(self.net, self.loss, *self.validation)
        return logs

    def _record_divergence(self) -> None:
        """The iteration that met a non-finite loss or gradient, recorded as NaN (its hooks not
        called: there is no finite loss to judge)."""
        n_dense = len(self.net.layout.dense_slices)
        logs = {"epoch": self.history.n_epochs + 1, "loss": math.nan, "lr": math.nan,
                "grad_norms": np.full(n_dense, math.nan), "grad_norm": math.nan,
                "time": time.perf_counter() - self._start}
        if self.validation is not None:
            logs["val_loss"] = logs["val_metric"] = math.nan
        self.history.record_epoch(logs)

    def _finish(self, reason: str) -> None:
        """The stop reason, the final loss, the iterate kept; the callbacks' last word."""
        history, diverged = self.history, reason == "diverged"
        history.stop_reason = reason
        finite = [value for value in history.loss if math.isfinite(value)]
        history.final_loss = finite[-1] if finite else self.objective.first_value
        history.kept_epoch = history.n_epochs - 1 if diverged else history.n_epochs
        history.n_fun = self.objective.evaluations
        for hook in callback_hooks(self.callbacks, "on_train_end"):
            hook(self)
        history.stop_message = _stop_message(history, self.optimizer, self.scipy_message)


def settle_running_stats(net: Minimized, X: Any) -> None:
    """Make each BatchNorm's running statistics the full batch's at the current weights (mean,
    unbiased variance): a forward pass in training mode weighting the batch by 1."""
    layers = net.batchnorm_layers
    if not layers:
        return
    saved = [(layer.momentum, layer.update_running_stats) for layer in layers]
    for layer in layers:
        layer.momentum, layer.update_running_stats = 1.0, True
    try:
        forward(net.layers, X, training=True)
    finally:
        for layer, (momentum, updates) in zip(layers, saved):
            layer.momentum, layer.update_running_stats = momentum, updates


def _stop_message(history: History, optimizer: LBFGS, scipy_message: str) -> str:
    """Why the run stopped and which weights it kept, in a sentence."""
    n, kept, reason = history.n_epochs, history.kept_epoch, history.stop_reason
    weights = "the last iterate was kept" if kept == n else f"the weights of iteration {kept} were kept"
    scipy = f" (SciPy: {scipy_message})" if scipy_message else ""
    messages = {
        "converged": f"L-BFGS converged in iteration {n}{scipy}",
        "epochs": f"L-BFGS ran all {n} iterations (epochs) without converging{scipy}",
        "max_fun": f"L-BFGS used up max_fun={optimizer.max_fun} loss evaluations in iteration {n}{scipy}",
        "no_progress": f"L-BFGS stopped in iteration {n}: the line search found no lower loss{scipy}",
        "diverged": f"L-BFGS diverged in iteration {n}: the loss or its gradient became non-finite",
        "interrupted": f"interrupted (Ctrl-C) in iteration {n}",
        "early_stopping": f"stopped early after iteration {n}: no improvement",
        "time_limit": f"stopped by the time limit in iteration {n}",
    }
    return f"{messages.get(reason, f'stopped in iteration {n}: {reason}')}; {weights}"
