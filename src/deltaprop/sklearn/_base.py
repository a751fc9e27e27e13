"""What MLPClassifier and MLPRegressor share: parameters, network, optimizer, training."""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from functools import partial
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from deltaprop._validation import (
    as_sample_weight,
    check_pandas_columns,
    plain_array,
)
from deltaprop.callbacks.base import Callback
from deltaprop.doctor import Diagnosis, diagnose
from deltaprop.losses import Loss
from deltaprop.mlp import MLP
from deltaprop.optim import LBFGS, SGD, Adam, Optimizer
from deltaprop.sklearn.attributes import WrittenThrough, write_all, write_coef, write_intercept
from deltaprop.sklearn.auto import fit_auto
from deltaprop.sklearn.files import load_estimator, save_estimator
from deltaprop.sklearn.parameters import ParameterError, check_shared_parameters
from deltaprop.sklearn.rules import IterationPrinter, NoImprovementRule, SampleInverseScaling
from deltaprop.sklearn.split import validation_split
from deltaprop.training.options import FitOptions

SPARSE = ("csr", "csc")  # scipy.sparse formats taken as they are (others converted to CSR)
_ACTIVATIONS = {"logistic": "sigmoid"}  # scikit-learn's name -> ours; the rest are shared

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
        max_fun: int = 15000, batch_norm: bool = False, dropout: float = 0.0, init: Any = None,
        restarts: int = 1, n_jobs: int | None = None, dtype: Any = None, callbacks: Any = None,
        auto: bool = False, time_budget: float = 120.0,
    ) -> None:
        self.hidden_layer_sizes, self.activation, self.solver = hidden_layer_sizes, activation, solver
        self.alpha, self.batch_size, self.learning_rate = alpha, batch_size, learning_rate
        self.learning_rate_init, self.power_t, self.max_iter = learning_rate_init, power_t, max_iter
        self.shuffle, self.random_state, self.tol, self.verbose = shuffle, random_state, tol, verbose
        self.warm_start, self.momentum, self.nesterovs_momentum = warm_start, momentum, nesterovs_momentum
        self.early_stopping, self.validation_fraction = early_stopping, validation_fraction
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.n_iter_no_change, self.max_fun = n_iter_no_change, max_fun
        self.batch_norm, self.dropout = batch_norm, dropout
        self.init, self.restarts, self.n_jobs = init, restarts, n_jobs
        self.dtype, self.callbacks = dtype, callbacks
        self.auto, self.time_budget = auto, time_budget

    # -- what the subclasses decide --------------------------------------------------------------
    def _targets(self, y: Any, *, first: bool, incremental: bool,
                 classes: Any = None) -> tuple[np.ndarray, str | Loss, int]:
        """(targets for the core, loss, c in l2 = c alpha / n_batch) for validated y."""
        raise NotImplementedError

    def _strata(self, y: Any) -> np.ndarray | None:
        """Each row's class index, by which the validation split is stratified; None: not."""
        return None

    def _sample_weight(self, sample_weight: Any, y: Any, n_samples: int, *,
                       incremental: bool) -> np.ndarray | None:
        """The weights the core gets: ``sample_weight`` (a number means that weight for all),
        checked here, before alpha is scaled by their mean: 0, negative or NaN weights are
        named as such, not as the l2 they would make."""
        return as_sample_weight(sample_weight, n_samples)

    # -- fitted attributes in scikit-learn's layout ----------------------------------------------
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weights of each dense layer, shape (n_in, n_out): transposed views of ``net_``'s W.
        ``est.coefs_[i] = W`` and ``est.coefs_ = [...]`` write into the network (checked)."""
        return WrittenThrough([W.T for W in self.net_.weights], partial(write_coef, self.net_))

    @coefs_.setter
    def coefs_(self, values: Any) -> None:
        write_all("coefs_", self._fitted_net(), values, write_coef)

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Biases of each dense layer, shape (n_out,): views of ``net_``'s b, writable as
        ``coefs_``."""
        return WrittenThrough(list(self.net_.biases), partial(write_intercept, self.net_))

    @intercepts_.setter
    def intercepts_(self, values: Any) -> None:
        write_all("intercepts_", self._fitted_net(), values, write_intercept)

    def _fitted_net(self) -> MLP:
        check_is_fitted(self)
        return self.net_

    # -- training --------------------------------------------------------------------------------
    def _check_params(self) -> list[int]:
        """Check every parameter against scikit-learn's constraints (its
        ``_parameter_constraints``), with deltaprop's messages; return the hidden widths. A bad
        one raises :class:`ParameterError`."""
        try:
            return check_shared_parameters(self)
        except (TypeError, ValueError) as error:
            raise ParameterError(str(error)) from None

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
        if self.solver == "lbfgs":
            return LBFGS(max_fun=self.max_fun, tol=self.tol)
        if self.solver == "adam":
            return Adam(self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)
        invscaling = self.learning_rate == "invscaling"
        schedule = SampleInverseScaling(self.power_t, n_train) if invscaling else None
        return SGD(self.learning_rate_init, self.momentum, self.nesterovs_momentum and self.momentum > 0,
                   schedule=schedule)

    def _rules(self, *, incremental: bool) -> list[Callback]:
        """scikit-learn's stopping rule (not in ``partial_fit``) and its ``verbose`` lines."""
        rules: list[Callback] = []
        if self.verbose:
            rules.append(IterationPrinter(self._loss_scale()))
        if not incremental and self.solver != "lbfgs":  # L-BFGS stops on its own tolerances
            monitor = "val_metric" if self.early_stopping else "loss"  # scikit-learn's: the score
            adaptive = self.solver == "sgd" and self.learning_rate == "adaptive"
            rules.append(NoImprovementRule(self.n_iter_no_change, self.tol, monitor, adaptive,
                                           verbose=bool(self.verbose), scale=self._loss_scale()))
        return rules

    def _loss_scale(self) -> float:
        """What scikit-learn's reported loss is, per unit of the core's (see the regressor)."""
        return 1.0

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
        """Check, then train; a failure before training leaves the estimator as it was (not
        the old network with the new call's classes or width)."""
        hidden = self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        if incremental and self.auto:
            raise ValueError("partial_fit does not support auto=True (auto_fit searches over whole "
                             "runs); call fit, or set auto=False")
        before = dict(self.__dict__)
        try:
            if self.auto:
                fit_auto(self, unmasked(X), y, sample_weight)
                return self
            history, n_train = self._train(X, y, hidden, incremental, classes, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        self._record(history, n_train)
        self._warn_unconverged(history, incremental)
        return self

    def _train(self, X: Any, y: Any, hidden: list[int], incremental: bool, classes: Any,
               sample_weight: Any) -> tuple[Any, int]:
        """Validate the data against the parameters and run the core's fit: (history, rows
        trained on)."""
        first = not hasattr(self, "net_") or not (incremental or self.warm_start)
        if not first and getattr(self, "auto_report_", None) is not None:
            raise ValueError("the fitted network was chosen by auto=True (its widths are not "
                             "hidden_layer_sizes'): warm_start and partial_fit do not continue it; "
                             "fit it anew (warm_start=False) or with auto=True")
        X, y = validate_data(self, unmasked(X), y, multi_output=True, dtype=(np.float64, np.float32),
                             reset=first, accept_sparse=SPARSE)
        Y, loss, c = self._targets(y, first=first, incremental=incremental, classes=classes)
        w = self._sample_weight(sample_weight, y, X.shape[0], incremental=incremental)
        (X, Y, w), validation = self._split(X, Y, w, y)
        n_train = X.shape[0]
        kept = self._optimizer if incremental and not first else None  # partial_fit continues it
        optimizer = kept if kept is not None else self._make_optimizer(n_train)
        options = self._fit_options(n_train, loss, c, w, optimizer, first=first, incremental=incremental)
        if first:
            self._start(X, hidden)
        self._optimizer = optimizer
        if isinstance(optimizer.schedule, SampleInverseScaling):
            optimizer.schedule.samples_before = self.t_
            optimizer.schedule.n_samples = n_train
        callbacks = list(self.callbacks or ()) + self._rules(incremental=incremental)
        history = self.net_.fit(X, Y, sample_weight=w, validation_data=validation, callbacks=callbacks,
                                **options.keywords())
        return history, n_train

    def _warn_unconverged(self, history: Any, incremental: bool) -> None:
        """scikit-learn's ConvergenceWarning, in its words (then ours): max_iter epochs without
        the stopping rule met, or an L-BFGS run that did not converge (SciPy's status and
        message, as scikit-learn's ``_check_optimize_result`` reports them)."""
        if self.solver == "lbfgs" and history.solver_status not in (None, 0):
            n = history.n_epochs
            text = (f"lbfgs failed to converge after {n} iteration(s) (status="
                    f"{history.solver_status}):\n{history.solver_message}\n")
            if n == self.max_iter:
                text += f"\nIncrease the number of iterations to improve the convergence (max_iter={n})."
            text += ("\nYou might also want to scale the data as shown in:\n    "
                     "https://scikit-learn.org/stable/modules/preprocessing.html")
            warnings.warn(f"{text}\n(deltaprop: {history.stop_message})", ConvergenceWarning, stacklevel=4)
        elif not incremental and self.solver != "lbfgs" and history.stop_reason == "epochs":
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet. (deltaprop: the stopping rule, tol="
                f"{self.tol} and n_iter_no_change={self.n_iter_no_change}, was not met; raise "
                "max_iter to train longer)", ConvergenceWarning, stacklevel=4,
            )

    def _split(self, X: Any, Y: np.ndarray, w: np.ndarray | None,
               y: Any) -> tuple[tuple[Any, np.ndarray, np.ndarray | None], tuple[Any, ...] | None]:
        """((X, Y, w) to train on, validation data or None): ``early_stopping``'s split, made as
        scikit-learn makes it (:mod:`deltaprop.sklearn.split`), with its random state."""
        if not self.early_stopping or self.solver == "lbfgs":  # (scikit-learn's lbfgs ignores it)
            return (X, Y, w), None
        train, validation = validation_split(X, Y, w, self.validation_fraction,
                                             check_random_state(self.random_state), self._strata(y))
        return train, validation if validation[2] is not None else validation[:2]

    def _fit_options(self, n_train: int, loss: str | Loss, c: int, w: np.ndarray | None,
                     optimizer: Optimizer, *, first: bool, incremental: bool) -> FitOptions:
        """The options of :func:`deltaprop.fit` for this call, from scikit-learn's parameters:
        ``max_iter`` epochs (one for ``partial_fit``), ``batch_size="auto"`` as
        min(200, n_train), l2 = c alpha / (n_batch mean(w)), restarts on a first ``fit`` only."""
        n_batch = min(200 if self.batch_size == "auto" else max(int(self.batch_size), 1), max(n_train, 1))
        if self.solver == "lbfgs":
            n_batch = n_train  # full batch, whatever batch_size says (scikit-learn ignores it too)
        mean_weight = 1.0 if w is None else float(w.mean())  # scikit-learn divides by sum(w)
        return FitOptions(
            loss=loss, optimizer=optimizer, epochs=1 if incremental else self.max_iter,
            batch_size=n_batch, shuffle=self.shuffle, l2=c * self.alpha / (n_batch * mean_weight),
            restarts=self.restarts if first and not incremental else 1, n_jobs=self.n_jobs,
            verbose=not isinstance(self.verbose, bool) and self.verbose >= 2,
        )

    def _start(self, X: np.ndarray, hidden: list[int]) -> None:
        """A new network and empty curves: a first fit, or any without ``warm_start``."""
        self.auto_report_ = None  # (an earlier auto=True fit's report no longer describes it)
        dtype = X.dtype if self.dtype is None else self.dtype
        self.net_ = MLP([X.shape[1], *hidden, self.n_outputs_],
                        activation=_ACTIVATIONS.get(self.activation, self.activation),
                        output_activation=self._output_activation(),
                        init=self._init(), dtype=dtype, seed=self._seed(),
                        batch_norm=self.batch_norm, dropout=self.dropout)
        self.loss_curve_: list[float] = []
        self.validation_loss_curve_: list[float] = []
        self.validation_scores_: list[float] | None = None
        self.t_ = 0

    def _record(self, history: Any, n_train: int) -> None:
        """The fitted attributes after a fit: the curves (and ``t_``) continue those of a warm
        start or an earlier ``partial_fit``, as scikit-learn's do; ``n_iter_`` counts this call."""
        self.history_ = history
        self.n_layers_ = len(self.net_.dense_layers) + 1
        self.out_activation_ = {"sigmoid": "logistic"}.get(self.net_.output_layer.activation.name,
                                                            self.net_.output_layer.activation.name)
        self.n_iter_ = history.n_epochs  # this call's, as scikit-learn counts
        self.t_ += n_train * history.n_epochs
        scale = self._loss_scale()
        losses = [value * scale for value in history.loss]
        self.loss_curve_ += losses
        self.validation_loss_curve_ += [value * scale for value in history.val_loss]
        finite_losses = [value for value in losses if math.isfinite(value)]
        final = history.final_loss * scale if history.final_loss is not None else math.nan
        self.loss_ = finite_losses[-1] if finite_losses else final  # the last epoch's (or L-BFGS's start)
        self.best_validation_score_: float | None = None
        self.best_loss_: float | None = None
        if self.early_stopping and self.solver != "lbfgs":
            self.validation_scores_ = list(self.validation_scores_ or []) + list(history.val_metric)
            scores = [v for v in self.validation_scores_ if math.isfinite(v)]
            self.best_validation_score_ = max(scores) if scores else None
        else:
            self.validation_scores_ = None
            finite = [v for v in self.loss_curve_ if math.isfinite(v)]
            self.best_loss_ = min(finite) if finite else math.nan
        if history.stop_reason == "diverged":
            self._diverged(history)

    def _diverged(self, history: Any) -> None:
        """A run that diverged: with ``early_stopping`` and a best epoch to go back to, keep it
        and warn (scikit-learn keeps its best weights too); otherwise scikit-learn's error."""
        ours = (f"(deltaprop: training diverged in epoch {history.n_epochs}, the loss or a gradient "
                "became non-finite; lower learning_rate_init or scale the input, e.g. with "
                "StandardScaler)")
        if self.early_stopping and history.best_epoch is not None:
            warnings.warn(f"the weights of epoch {history.best_epoch}, the best on the validation "
                          f"split, are kept. {ours}", ConvergenceWarning, stacklevel=4)
            return
        raise ValueError("Solver produced non-finite parameter weights. The input data may contain "
                         f"large values and need to be preprocessed. {ours}")

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

    def diagnose(self, X: Any, y: Any) -> Diagnosis:
        """What went wrong in the training of this estimator, if anything:
        :func:`deltaprop.diagnose` on its network, its loss and history, with (X, y) as data.
        The estimators do not scale X: raw features rightly get ``unscaled_inputs``."""
        check_is_fitted(self)
        X = validate_data(self, unmasked(X), dtype=(np.float64, np.float32), reset=False,
                          accept_sparse=SPARSE)
        Y, loss, _ = self._targets(y, first=False, incremental=True)
        return diagnose(self.net_, X, Y, loss=loss, history=self.net_.history)

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
        X = validate_data(self, unmasked(X), dtype=(np.float64, np.float32), reset=False,
                          accept_sparse=SPARSE)
        return self.net_.predict(X).astype(X.dtype, copy=False)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def partial_fit_available(estimator: BaseMLP) -> bool:
    """``partial_fit`` exists for the stochastic solvers, as in scikit-learn (with
    ``early_stopping=True`` it exists and raises a ValueError, as there)."""
    if isinstance(estimator.solver, str) and estimator.solver == "lbfgs":
        raise AttributeError("partial_fit is only available for stochastic optimizers. lbfgs is not "
                             "stochastic.")
    return True


def shared_parameters(init_locals: dict[str, Any]) -> dict[str, Any]:
    """A subclass's ``__init__`` arguments that :class:`BaseMLP` takes."""
    own = ("self", "__class__", "multilabel", "loss", "class_weight")
    return {k: v for k, v in init_locals.items() if k not in own}




def unmasked(X: Any) -> Any:
    """``X``, unless it is a masked array with masked entries (scikit-learn's checks would read
    the values under the mask), or a DataFrame with a categorical or text column (scikit-learn
    would say only "could not convert string to float"): refused, the column named. Missing
    values and sparse data get scikit-learn's own messages."""
    if type(X).__module__.startswith("pandas") and hasattr(X, "columns"):
        check_pandas_columns(X, "X")
    return plain_array(X, "X") if isinstance(X, np.ma.MaskedArray) else X
