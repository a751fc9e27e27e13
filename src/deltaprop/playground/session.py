"""One browser tab's run: the data, the network, the BatchStepper, and the state the page draws.

Data flow: Config -> data (generated, split), MLP and fit's options -> BatchStepper.step
(forward, loss, backward, optimizer) -> :meth:`Session.state` (weights, neuron maps over the
input plane, losses, gradient norms, and after a single step the deltas of every layer).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.data import datasets
from deltaprop.evaluation import evaluate
from deltaprop.mlp import MLP
from deltaprop.network import Network
from deltaprop.optim import SGD, Adam
from deltaprop.playground.config import Config
from deltaprop.playground.landscape import landscape as loss_landscape
from deltaprop.playground.pictures import MAP_SIZE, PlanePictures
from deltaprop.playground.trace import finite, gradient_check, numbers, step_layers, trace_row
from deltaprop.training.options import FitOptions
from deltaprop.training.stepper import BatchStepper, StepResult

Array = np.ndarray
MAX_DELTA_ROWS = 32  # rows of each delta sent to the page
MAX_HISTORY = 500  # history entries kept; beyond, every other one is dropped
MAX_STEPS_PER_REQUEST = 20_000  # a bound on one request's work, whatever its time budget
STEPPER_OPTIONS = ("loss", "optimizer", "batch_size", "l2")  # the fit options a run sets


def split_rows(n_samples: int, n_test: int, seed: int) -> tuple[Array, Array]:
    """The training and test rows of the generated data (sorted; the exported code repeats this).

    The split draws from its own stream, ``default_rng([seed, 1])``: the dataset's generator
    is ``default_rng(seed)``, whose first permutation would be this one.
    """
    order = np.random.default_rng([seed, 1]).permutation(n_samples)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def fit_options(config: Config) -> FitOptions:
    """The run's training options, as :func:`deltaprop.fit` takes them: the loss, SGD (no
    momentum) or Adam with the configured learning rate and their other defaults, the batch
    size and the weight decay. The session's stepper trains with them; the exported script
    writes them as code (both through :func:`stepper_keywords`)."""
    optimizer = SGD(lr=config.lr) if config.optimizer == "sgd" else Adam(lr=config.lr)
    return FitOptions(loss=config.loss, optimizer=optimizer, batch_size=config.batch, l2=config.l2)


def stepper_keywords(options: FitOptions) -> dict[str, Any]:
    """The options a playground run sets, as keywords of :class:`~deltaprop.BatchStepper` (and
    of ``fit``)."""
    keywords = options.keywords()
    return {name: keywords[name] for name in STEPPER_OPTIONS}


def output_activation(config: Config) -> str | None:
    """Squared error on 0/1 labels goes through a sigmoid (the notes' network); else the loss's."""
    return "sigmoid" if config.task == "classify" and config.loss == "squared_error" else None


class Session:
    """A run of the playground: ``config`` trained for :attr:`steps` minibatches."""

    def __init__(self, config: Config) -> None:
        self.config = config
        data = datasets.load(config.dataset, n_samples=config.samples, noise=config.noise,
                             seed=config.seed)
        train, test = split_rows(config.samples, config.n_test, config.seed)
        self.X_train, self.y_train = data.X[train], data.y[train]
        self.X_test, self.y_test = data.X[test], data.y[test]
        self.feature_names = data.feature_names
        self.net = MLP(config.layer_sizes, activation=config.activation,
                       output_activation=output_activation(config), batch_norm=config.bn,
                       seed=config.seed, dtype=np.float64)
        self.stepper = BatchStepper(self.net, self.X_train, self.y_train,
                                    **stepper_keywords(fit_options(config)))
        self.extent = _extent(data.X, data.y, config.task)
        self.pictures = PlanePictures(self.extent, config.task)
        self._before_step: Network | None = None  # the network before the last single step
        self.diverged: str | None = None
        self.history: dict[str, list[Any]] = {"epoch": [], "train_loss": [], "test_loss": [],
                                              "grad_norms": []}
        self._history_stride, self._updates = 1, 0
        self._scored_at: int | None = None  # the step count _scored was computed at
        self._scored: tuple[tuple[float, float], tuple[float, float] | None] = ((0.0, 0.0), None)
        self._record(np.full(len(self.net.dense_layers), np.nan))  # no gradient yet: null

    # -- training ------------------------------------------------------------------------------
    @property
    def steps(self) -> int:
        """Minibatches trained since the reset (a refused one included)."""
        return self.stepper.steps

    def train(self, max_ms: float, max_steps: int = MAX_STEPS_PER_REQUEST) -> None:
        """Train whole minibatches for about ``max_ms`` milliseconds (at least one, at most
        ``max_steps``) and record one history entry: the losses after them and the RMS of
        their per-layer gradient norms. Does nothing once the run has diverged.

        Parameters
        ----------
        max_ms : float
            The time budget; the minibatch that crosses it is the last.
        max_steps : int
            At most this many minibatches (the page's speed setting).
        """
        if self.diverged:
            return
        self._before_step = None  # a single step's details are of the weights just before it
        result = self.stepper.run(min(max_steps, MAX_STEPS_PER_REQUEST), max_ms / 1000.0)
        if not result.taken:
            self._diverged()
        self._record(result.grad_norms)

    def step(self) -> StepResult | None:
        """One minibatch; its result (None when training had already diverged)."""
        if self.diverged:
            return None
        self._before_step = self.net.copy()  # for the gradient and update the page shows
        result = self._step()
        self._record(result.grad_norms if result.taken else np.full(len(result.grad_norms), np.nan))
        return result

    def _step(self) -> StepResult:
        """One stepper step; a refused one ends the run with the sentence the page shows."""
        result = self.stepper.step()
        if not result.taken:
            self._diverged()
        return result

    def _diverged(self) -> None:
        """The run ends, with the sentence the page shows."""
        self.diverged = (f"training diverged at step {self.steps}: the gradient is not finite "
                         f"or would overflow the weights, so that step was not taken. Lower "
                         f"the learning rate (now {self.config.lr:g}) and reset.")

    def _record(self, grad_norms: Array) -> None:
        """One history entry per request; every other one is dropped when there are too many."""
        self._updates += 1
        if (self._updates - 1) % self._history_stride:
            return
        (train_loss, _), test = self._all_scores()
        test_loss = None if test is None else test[0]
        history = self.history
        # 6 significant digits: far beyond a chart's pixel; the history goes with every answer
        # (up to 500 entries), where 17 digits a number made it up to 100 KB of each
        history["epoch"].append(_chart(self.stepper.epochs_done))
        history["train_loss"].append(_chart(train_loss))
        history["test_loss"].append(_chart(test_loss))
        history["grad_norms"].append([_chart(value) for value in grad_norms])
        if len(history["epoch"]) > MAX_HISTORY:
            for key in history:
                history[key] = history[key][::2]
            self._history_stride *= 2

    # -- what the page draws -------------------------------------------------------------------
    def _all_scores(self) -> tuple[tuple[float, float], tuple[float, float] | None]:
        """(loss, metric) on the training rows, and on the test rows (None without any), for
        the weights after :attr:`steps` steps: computed once for the history and the read-outs."""
        if self._scored_at != self.steps:
            test = self._scores(self.X_test, self.y_test) if len(self.y_test) else None
            self._scored = (self._scores(self.X_train, self.y_train), test)
            self._scored_at = self.steps
        return self._scored

    def _scores(self, X: Array, y: Array) -> tuple[float, float]:
        """Loss (without decay) and metric: accuracy of the predicted class, or R^2."""
        loss, metric = evaluate(self.net, X, y, loss=self.config.loss)
        if self.config.task == "classify" and self.config.loss == "squared_error":
            # evaluate scores this loss by R^2; the page shows accuracy for every classifier
            # (the cross-entropies' own metric is already the accuracy of the same classes)
            metric = float(np.mean(self.net.predict_classes(X) == y))  # sigmoid > 0.5
        return loss, metric

    def state(self, step: StepResult | None = None, *, with_data: bool = False) -> dict[str, Any]:
        """Everything the page draws, as JSON-ready values (docs/playground-protocol.md).

        Parameters
        ----------
        step : StepResult, optional
            A single step's result, whose deltas the page shows.
        with_data : bool
            Include the data points (they change only with a reset, which sends them).
        """
        config, net = self.config, self.net
        (train_loss, train_metric), test_scores = self._all_scores()
        maps, output = self.pictures.draw(net, self.steps)
        test = None if test_scores is None else {"loss": finite(test_scores[0]),
                                                 "metric": finite(test_scores[1])}
        return {
            "steps": self.steps,
            "epoch": self.stepper.epochs_done,
            "batches_per_epoch": self.stepper.batches_per_epoch,
            "task": config.task,
            "layer_sizes": config.layer_sizes,
            # f of each dense layer's units: a map of tanh units spans [-1, 1] whatever it shows
            "activations": [config.activation] * len(config.layers) + [net.output_layer.activation.name],
            "feature_names": list(self.feature_names),
            "train": {"loss": finite(train_loss), "metric": finite(train_metric)},
            "test": test,
            "metric_name": "accuracy" if config.task == "classify" else "r2",
            "diverged": self.diverged,
            "history": {key: list(values) for key, values in self.history.items()},  # a copy:
            # it is serialized after the session's lock is released
            "weights": [{"W": layer.W.tolist(), "b": layer.b.tolist()} for layer in net.dense_layers],
            "grid": {"extent": list(self.extent), "size": MAP_SIZE},
            "maps": maps,
            "input_maps": self.pictures.input_maps,
            "output": output,
            "data": {"train": _points(self.X_train, self.y_train),
                     "test": _points(self.X_test, self.y_test)} if with_data else None,
            "step": None if step is None else self._step_state(step),
        }

    # -- for teaching: a sample's trace, a step's details, the landscape, the gradient check --
    def _step_state(self, step: StepResult) -> dict[str, Any]:
        """A step's rows, loss, outputs and per-layer deltas (the first MAX_DELTA_ROWS rows),
        gradient and update, for the page."""
        shown = _step_state(step)
        if self._before_step is not None:
            rows = step.rows
            details, y_hat = step_layers(self._before_step, self.net, self.config,
                                         self.X_train[rows], self.y_train[rows])
            for layer, extra in zip(shown["layers"], details):
                layer.update(extra)
            shown["y_hat"] = numbers(y_hat[:MAX_DELTA_ROWS])
        return shown

    def trace(self, row: Any) -> dict[str, Any]:
        """Training row ``row`` through the forward and backward pass (see
        :func:`~deltaprop.playground.trace.trace_row`)."""
        return trace_row(self.net, self.config, self.X_train, self.y_train, row)

    def landscape(self, size: Any, radius: Any) -> dict[str, Any]:
        """The training loss around the current weights (see
        :func:`~deltaprop.playground.landscape.landscape`)."""
        (train_loss, _), _ = self._all_scores()
        return loss_landscape(self.net, self.stepper.loss, self.stepper.X, self.stepper.Y,
                              seed=self.config.seed, size=size, radius=radius,
                              centre=train_loss)

    def gradcheck(self) -> dict[str, Any]:
        """:func:`deltaprop.gradcheck` on the current network (see
        :func:`~deltaprop.playground.trace.gradient_check`)."""
        return gradient_check(self.net, self.config, self.X_train, self.y_train)


def _step_state(step: StepResult) -> dict[str, Any]:
    """A step's rows, loss and per-layer deltas (the first MAX_DELTA_ROWS rows) for the page."""
    return {
        "rows": step.rows.tolist(),
        "loss": finite(step.loss),
        "layers": [{"delta": [[finite(v) for v in row] for row in delta[:MAX_DELTA_ROWS]],
                    "rows_shown": min(len(delta), MAX_DELTA_ROWS), "rows_total": len(delta),
                    "mean_abs_delta": [finite(v) for v in np.abs(delta).mean(axis=0)],
                    "grad_norm": finite(norm)}
                   for delta, norm in zip(step.deltas, step.grad_norms)],
    }


def _extent(X: Array, y: Array, task: str) -> tuple[float, float, float, float]:
    """A square window around the inputs (classify), or x and y ranges (regress), padded."""
    if task == "regress":
        (x_low, x_high), (y_low, y_high) = _padded(X[:, 0]), _padded(y)
        return x_low, x_high, y_low, y_high
    centre = (X.min(axis=0) + X.max(axis=0)) / 2
    half = float((X.max(axis=0) - X.min(axis=0)).max()) / 2 * 1.15 + 0.1
    return centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half


def _padded(values: Array) -> tuple[float, float]:
    """The range of ``values`` widened by a tenth of it on each side (and a little more)."""
    low, high = float(values.min()), float(values.max())
    pad = 0.1 * (high - low) + 0.05
    return low - pad, high + pad


def _points(X: Array, y: Array) -> dict[str, Any]:
    """The data for the scatter plot; 5 decimals are more than a pixel's worth."""
    return {"x": np.round(X, 5).tolist(), "y": y.tolist()}


def _chart(value: Any) -> float | None:
    """A number for the charts: 6 significant digits; null when it is not finite."""
    value = finite(value)
    return None if value is None else float(f"{value:.6g}")
