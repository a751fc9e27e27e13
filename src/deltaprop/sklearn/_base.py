"""What MLPClassifier and MLPRegressor share: parameters, network, optimizer, training."""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from deltaprop._validation import (
    as_sample_weight,
    check_count,
    check_flag,
    check_fraction,
    check_positive,
    check_verbose,
    plain_array,
)
from deltaprop.callbacks.base import Callback, check_callbacks
from deltaprop.losses import Loss
from deltaprop.mlp import MLP, check_layer_sizes
from deltaprop.optim import SGD, Adam, Optimizer
from deltaprop.sklearn.files import load_estimator, save_estimator
from deltaprop.sklearn.rules import NoImprovementRule, SampleInverseScaling
from deltaprop.training.options import FitOptions

_ACTIVATIONS = {"logistic": "sigmoid"}  # scikit-learn's name -> ours; the rest are shared

# scikit-learn's parameter constraints (MLPClassifier._parameter_constraints), checked with
# deltaprop's messages; numbers must also be finite here.
_FLAGS = ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping", "batch_norm")
_COUNTS = ("max_iter", "n_iter_no_change", "restarts")  # Interval(Integral, 1, None)
_NUMBERS: dict[str, Callable[[str, Any], Any]] = {
    "learning_rate_init": check_positive,  # Interval(Real, 0, None, closed="neither")
    "epsilon": check_positive,
    "alpha": partial(check_positive, allow_zero=True),  # Interval(Real, 0, None, closed="left")
    "tol": partial(check_positive, allow_zero=True),
    "power_t": partial(check_positive, allow_zero=True),
    # scikit-learn's Interval(Real, 0, 1, "both"); SGD itself then refuses 1, which would
    # never forget a gradient
    "momentum": partial(check_fraction, high_inclusive=True),
    "beta_1": check_fraction,  # Interval(Real, 0, 1, closed="left")
    "beta_2": check_fraction,
    "validation_fraction": check_fraction,
}


class BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, network, optimizer, training."""

    _optimizer: Optimizer | None  # the last fit's: partial_fit continues it

    def __init__(
        self, hidden_layer_sizes: Any = (100,), activation: str = "relu", *, solver: str = "adam",
        alpha: float = 1e-4, batch_size: int | str = "auto", learning_rate: str = "constant",
        learning_rate_init: float = 1e-3, power_t: float = 0.5, max_iter: int = 200,
        shuffle: bool = True, random_state: Any = None, tol: float = 1e-4, verbose: bool = False,
        warm_start: bool = False, momentum: float = 0.9, nesterovs_momentum: bool = True,
        early_stopping: bool = False, validation_fraction: float = 0.1, beta_1: float = 0.9,
        beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: int = 10,
        batch_norm: bool = False, dropout: float = 0.0, init: Any = None, restarts: int = 1,
        n_jobs: int | None = None, dtype: Any = None, callbacks: Any = None,
    ) -> None:
        self.hidden_layer_sizes, self.activation, self.solver = hidden_layer_sizes, activation, solver
        self.alpha, self.batch_size, self.learning_rate = alpha, batch_size, learning_rate
        self.learning_rate_init, self.power_t, self.max_iter = learning_rate_init, power_t, max_iter
        self.shuffle, self.random_state, self.tol, self.verbose = shuffle, random_state, tol, verbose
        self.warm_start, self.momentum, self.nesterovs_momentum = warm_start, momentum, nesterovs_momentum
        self.early_stopping, self.validation_fraction = early_stopping, validation_fraction
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.n_iter_no_change, self.batch_norm, self.dropout = n_iter_no_change, batch_norm, dropout
        self.init, self.restarts, self.n_jobs = init, restarts, n_jobs
        self.dtype, self.callbacks = dtype, callbacks

    # -- what the subclasses decide --------------------------------------------------------------
    def _targets(self, y: Any, *, first: bool,
                 classes: Any = None) -> tuple[np.ndarray, str | Loss, int]:
        """(targets for the core, loss, c in l2 = c alpha / n_batch) for validated y."""
        raise NotImplementedError

    def _sample_weight(self, sample_weight: Any, y: Any, n_samples: int, *,
                       incremental: bool) -> np.ndarray | None:
        """The weights the core gets: ``sample_weight`` (a number means that weight for all),
        checked here, before alpha is scaled by their mean: 0, negative or NaN weights are
        named as such, not as the l2 they would make."""
        return as_sample_weight(sample_weight, n_samples)

    # -- fitted attributes in scikit-learn's layout ----------------------------------------------
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weights of each dense layer, shape (n_in, n_out): transposed views of ``net_``'s W."""
        return [W.T for W in self.net_.weights]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Biases of each dense layer, shape (n_out,): views of ``net_``'s b."""
        return list(self.net_.biases)

    # -- training --------------------------------------------------------------------------------
    def _check_params(self) -> list[int]:
        """Check every parameter against scikit-learn's constraints (its
        ``_parameter_constraints``), with deltaprop's messages; return the hidden widths."""
        self._check_choices()
        for name in _FLAGS:
            check_flag(name, getattr(self, name))
        check_verbose(self.verbose)
        for name in _COUNTS:
            check_count(name, getattr(self, name))
        if isinstance(self.batch_size, str) and self.batch_size != "auto":
            raise ValueError(f"batch_size must be 'auto' or an integer > 0, got {self.batch_size!r}")
        if not isinstance(self.batch_size, str):
            check_count("batch_size", self.batch_size)
        for name, check in _NUMBERS.items():
            check(name, getattr(self, name))
        if self.early_stopping and self.validation_fraction == 0:
            raise ValueError("validation_fraction must be > 0 with early_stopping=True (it is the "
                             "share of the data held out to decide when to stop)")
        if self.callbacks is not None:
            check_callbacks(self.callbacks)
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
            sizes = [sizes]  # one hidden layer, as scikit-learn allows
        return check_layer_sizes(sizes, "hidden_layer_sizes", minimum=0)

    def _check_choices(self) -> None:
        """The parameters that name one of a few choices."""
        if not isinstance(self.solver, str) or self.solver not in ("sgd", "adam"):
            raise ValueError(f"solver must be 'sgd' or 'adam' (no 'lbfgs' here), got {self.solver!r}")
        if not isinstance(self.learning_rate, str) or self.learning_rate not in (
                "constant", "invscaling", "adaptive"):
            raise ValueError("learning_rate must be 'constant', 'invscaling' or 'adaptive', "
                             f"got {self.learning_rate!r}")

    def _seed(self) -> Any:
        """The network's seed: ``random_state`` as scikit-learn's ``check_random_state`` takes
        it (None, an int in [0, 2**32 - 1] or a RandomState), refused with its name otherwise."""
        generator = None
        if not isinstance(self.random_state, (bool, np.bool_)):  # True is not a seed of 1
            with contextlib.suppress(ValueError):
                generator = check_random_state(self.random_state)
        if generator is None:
            raise ValueError("random_state must be None, an int in [0, 2**32 - 1] or a "
                             f"numpy RandomState, got {self.random_state!r}")
        if self.random_state is None or isinstance(self.random_state, numbers.Integral):
            return self.random_state
        return int(generator.randint(np.iinfo(np.int32).max))

    def _make_optimizer(self, n_train: int) -> Optimizer:
        if self.solver == "adam":
            return Adam(self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)
        invscaling = self.learning_rate == "invscaling"
        schedule = SampleInverseScaling(self.power_t, n_train) if invscaling else None
        return SGD(self.learning_rate_init, self.momentum, self.nesterovs_momentum and self.momentum > 0,
                   schedule=schedule)

    def _stopping(self) -> Callback:
        monitor = "val_loss" if self.early_stopping else "loss"
        adaptive = self.solver == "sgd" and self.learning_rate == "adaptive"
        return NoImprovementRule(self.n_iter_no_change, self.tol, monitor, adaptive)

    def _output_activation(self) -> str | None:
        """The output activation, or None to let the loss choose it."""
        return None

    def _init(self) -> Any:
        """scikit-learn's initialization (W and b uniform) unless ``init`` says otherwise."""
        if self.init is not None:
            return self.init
        return "sklearn_logistic" if self.activation == "logistic" else "sklearn"

    def _fit(self, X: Any, y: Any, *, incremental: bool, classes: Any = None,
             sample_weight: Any = None) -> Any:
        hidden = self._check_params()
        first = not hasattr(self, "net_") or not (incremental or self.warm_start)
        X, y = validate_data(self, unmasked(X), y, multi_output=True, dtype=(np.float64, np.float32),
                             reset=first)
        Y, loss, c = self._targets(y, first=first, classes=classes)
        w = self._sample_weight(sample_weight, y, X.shape[0], incremental=incremental)
        n_train = self._n_train(X.shape[0])
        kept = self._optimizer if incremental and not first else None  # partial_fit continues it
        optimizer = kept if kept is not None else self._make_optimizer(n_train)
        options = self._fit_options(n_train, loss, c, w, optimizer, first=first, incremental=incremental)
        if first:
            self._start(X, hidden)
        self._optimizer = optimizer
        if isinstance(optimizer.schedule, SampleInverseScaling):
            optimizer.schedule.samples_before = self.t_
            optimizer.schedule.n_samples = n_train
        callbacks = list(self.callbacks or ()) + ([] if incremental else [self._stopping()])
        history = self.net_.fit(X, Y, sample_weight=w, callbacks=callbacks, **options.keywords())
        self._record(history, n_train)
        if not incremental and history.stop_reason == "epochs":
            warnings.warn(
                f"training ran all max_iter={self.max_iter} epochs without meeting the stopping "
                f"rule (tol={self.tol}, n_iter_no_change={self.n_iter_no_change}); raise max_iter "
                "to train longer", ConvergenceWarning, stacklevel=3,
            )
        return self

    def _n_train(self, n_samples: int) -> int:
        """The rows trained on: all, or what the validation split of ``early_stopping`` leaves."""
        if not self.early_stopping:
            return n_samples
        return n_samples - int(round(self.validation_fraction * n_samples))

    def _fit_options(self, n_train: int, loss: str | Loss, c: int, w: np.ndarray | None,
                     optimizer: Optimizer, *, first: bool, incremental: bool) -> FitOptions:
        """The options of :func:`deltaprop.fit` for this call, from scikit-learn's parameters:
        ``max_iter`` epochs (one for ``partial_fit``), ``batch_size="auto"`` as
        min(200, n_train), l2 = c alpha / (n_batch mean(w)), restarts on a first ``fit`` only."""
        n_batch = min(200 if self.batch_size == "auto" else max(int(self.batch_size), 1), max(n_train, 1))
        mean_weight = 1.0 if w is None else float(w.mean())  # scikit-learn divides by sum(w)
        return FitOptions(
            loss=loss, optimizer=optimizer, epochs=1 if incremental else self.max_iter,
            batch_size=n_batch, shuffle=self.shuffle, l2=c * self.alpha / (n_batch * mean_weight),
            validation_fraction=self.validation_fraction if self.early_stopping else 0.0,
            restarts=self.restarts if first and not incremental else 1, n_jobs=self.n_jobs,
            verbose=bool(self.verbose),
        )

    def _start(self, X: np.ndarray, hidden: list[int]) -> None:
        """A new network and empty curves: a first fit, or any without ``warm_start``."""
        dtype = X.dtype if self.dtype is None else self.dtype
        self.net_ = MLP([X.shape[1], *hidden, self.n_outputs_],
                        activation=_ACTIVATIONS.get(self.activation, self.activation),
                        output_activation=self._output_activation(),
                        init=self._init(), dtype=dtype, seed=self._seed(),
                        batch_norm=self.batch_norm, dropout=self.dropout)
        self.loss_curve_: list[float] = []
        self.validation_loss_curve_: list[float] = []
        self.t_ = 0

    def _record(self, history: Any, n_train: int) -> None:
        self.history_ = history
        self.n_layers_ = len(self.net_.dense_layers) + 1
        self.out_activation_ = {"sigmoid": "logistic"}.get(self.net_.output_layer.activation.name,
                                                            self.net_.output_layer.activation.name)
        self.n_iter_ = history.n_epochs
        self.t_ += n_train * history.n_epochs
        self.loss_curve_ += history.loss
        self.validation_loss_curve_ += history.val_loss
        finite_losses = [value for value in history.loss if math.isfinite(value)]
        self.loss_ = finite_losses[-1] if finite_losses else math.nan  # the last epoch's
        self.validation_scores_: list[float] | None = None
        self.best_validation_score_: float | None = None
        self.best_loss_: float | None = None
        if self.early_stopping:
            self.validation_scores_ = list(history.val_metric)
            self.best_validation_score_ = max(self.validation_scores_) if self.validation_scores_ else None
        else:
            finite = [v for v in self.loss_curve_ if math.isfinite(v)]
            self.best_loss_ = min(finite) if finite else math.nan
        if history.stop_reason == "diverged":
            raise ValueError("training diverged (non-finite loss or gradient); lower "
                             "learning_rate_init or scale the input, e.g. with StandardScaler")

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """Train on (X, y) for up to ``max_iter`` epochs; returns ``self``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights: each minibatch's loss is ``sum_i w_i loss_i / sum_i w_i``
            (scikit-learn's), so in full batch an integer weight k counts a sample k times.
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    def save(self, path: Any) -> None:
        """Write the fitted estimator to ``path`` in deltaprop's safe model format (atomically;
        no pickle). ``callbacks`` are not stored; see :mod:`deltaprop.sklearn.files`."""
        save_estimator(self, path)

    @classmethod
    def load(cls, path: Any) -> Any:
        """Read an estimator of this class written by :meth:`save`."""
        return load_estimator(path, cls)

    def _outputs(self, X: Any) -> np.ndarray:
        """The network's outputs in X's float dtype (the network's may differ: ``dtype``)."""
        check_is_fitted(self)
        X = validate_data(self, unmasked(X), dtype=(np.float64, np.float32), reset=False)
        return self.net_.predict(X).astype(X.dtype, copy=False)


def partial_fit_available(estimator: BaseMLP) -> bool:
    """``partial_fit`` exists unless ``early_stopping`` (one epoch has no validation split)."""
    if isinstance(estimator.early_stopping, (bool, np.bool_)) and estimator.early_stopping:
        # (any other value is refused by fit's parameter check, not taken as True here)
        raise AttributeError("partial_fit is not available with early_stopping=True")
    return True


def shared_parameters(init_locals: dict[str, Any]) -> dict[str, Any]:
    """A subclass's ``__init__`` arguments that :class:`BaseMLP` takes."""
    own = ("self", "__class__", "multilabel", "loss", "class_weight")
    return {k: v for k, v in init_locals.items() if k not in own}


PARAMETERS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
    activation : str, default="relu"
        Hidden activation: scikit-learn's ``identity``, ``logistic``, ``tanh``, ``relu``, or any
        of deltaprop's (``leaky_relu``, ``elu``, ``softplus``, ...).
    solver : {"adam", "sgd"}, default="adam"
        Adam(learning_rate_init, beta_1, beta_2, epsilon) or SGD(learning_rate_init, momentum,
        nesterovs_momentum). No ``lbfgs``.
    alpha : float, default=1e-4
        L2 penalty with scikit-learn's scaling (see the module docstring).
    batch_size : int or "auto", default="auto"
        ``auto`` is min(200, n_samples).
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        For ``solver="sgd"`` only (see the module docstring).
    learning_rate_init, power_t, max_iter, shuffle, tol, n_iter_no_change, momentum,
    nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon, verbose,
    warm_start
        As in scikit-learn; ``max_iter`` is the number of epochs. The validation split is random
        (not stratified).
    random_state : int, RandomState or None
        Seeds the network (initialization, shuffling, dropout, validation split).
    batch_norm, dropout, restarts
        As in :class:`deltaprop.MLP` and :func:`deltaprop.fit`.
    init : str or callable, optional
        None: scikit-learn's initialization (``"sklearn"``, or ``"sklearn_logistic"`` for
        ``activation="logistic"``); otherwise any initializer of :class:`deltaprop.MLP`.
    n_jobs : int or None
        Restarts at once, through joblib: local processes, or a Dask cluster under
        ``joblib.parallel_config(backend="dask")``; None follows joblib's active configuration
        (1 without one). The result is the same as with ``n_jobs=1``.
    dtype : {None, numpy.float32, numpy.float64}
        Training precision; None keeps float32 input in float32 and trains anything else in
        float64.
    callbacks : list of deltaprop callbacks, optional
        Passed to every :func:`deltaprop.fit` call (``fit`` and ``partial_fit``). There is no
        ``partial_fit`` with ``early_stopping=True``, as in scikit-learn.

    Attributes
    ----------
    net_ : deltaprop.MLP
    history_ : deltaprop.History
        Of the last ``fit`` or ``partial_fit`` call.
    coefs_, intercepts_ : lists of ndarray
        Views of the network's parameters in scikit-learn's layout (W.T, shape (n_in, n_out)).
    n_features_in_, feature_names_in_, n_outputs_, n_layers_, out_activation_, n_iter_, t_,
    loss_, loss_curve_, best_loss_, validation_loss_curve_, validation_scores_,
    best_validation_score_
        As in scikit-learn; ``loss_curve_`` includes the L2 term; ``validation_loss_curve_`` is
        the validation loss per epoch and ``validation_scores_`` the validation accuracy or R^2
        (with ``early_stopping`` only; for multilabel y the subset accuracy, as scikit-learn).
"""


def unmasked(X: Any) -> Any:
    """``X``, unless it is a masked array with masked entries: scikit-learn's checks would read
    the values under the mask (pandas and sparse data get scikit-learn's own messages)."""
    return plain_array(X, "X") if isinstance(X, np.ma.MaskedArray) else X
