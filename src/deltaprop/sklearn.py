"""scikit-learn estimators: thin adapters that build a :class:`~deltaprop.MLP` and call its ``fit``.

``MLPClassifier`` and ``MLPRegressor`` take scikit-learn's parameter names where the meaning is
the same, validate input with scikit-learn's own utilities (so its error messages), and keep
the trained network in ``net_`` and its :class:`~deltaprop.History` in ``history_``. There is no
second training loop here: stopping rules and schedules are callbacks and schedules of the core.

How scikit-learn's parameters map to the core
----------------------------------------------
- ``alpha``: scikit-learn adds ``alpha / (2 n_batch) ||W||^2`` to each minibatch's mean loss
  (``n_batch`` the minibatch's size). The core's ``l2`` adds ``l2 / 2 ||W||^2``, so
  ``l2 = c alpha / n_batch`` with ``n_batch = min(batch_size, n_train)`` and ``c`` the ratio of
  our loss to scikit-learn's: 1 for the cross-entropies (the same function), 1 for
  ``squared_error`` with one output, k for k outputs (ours sums 1/2 (a - y)^2 over outputs,
  scikit-learn averages it), 2 for ``mse``. The objective is then ``c`` times scikit-learn's:
  the same minimizer. Only a last, smaller minibatch is penalized a little less than there.
- ``tol``, ``n_iter_no_change``: scikit-learn's rule, as a callback: stop once more than
  ``n_iter_no_change`` epochs in a row failed to improve on the best training loss by ``tol``
  (the best moves to every lower value); with ``early_stopping=True`` the same rule watches the
  validation loss (scikit-learn watches the validation score) and the best epoch's weights are
  restored. The core's own ``tol`` (a gradient-norm tolerance) is not used.
- ``init``: None means scikit-learn's initialization (W and b uniform in +-sqrt(6 / (n_in +
  n_out)), factor 2 for ``logistic``); any name of :mod:`deltaprop.initializers` otherwise.
- ``learning_rate`` (``solver="sgd"`` only, as in scikit-learn): ``"invscaling"`` is
  scikit-learn's ``eta_0 / (t + 1)^power_t`` with t the samples seen before the epoch;
  ``"adaptive"`` divides eta by 5 where the rule below would stop, and stops once eta <= 1e-6
  (the same callback; the core has no such schedule). In ``partial_fit`` neither rule runs.
- ``dtype``: the network trains in float32 for float32 X and in float64 otherwise, unless
  ``dtype`` is given; predictions come back in X's float dtype.
- ``sample_weight``: each minibatch's loss is ``sum_i w_i loss_i / sum_i w_i``, as in
  scikit-learn; ``alpha`` is then scaled by the mean weight (``l2 = c alpha / (n_batch
  mean(w))``), which is scikit-learn's ``alpha / (2 sum w)`` exactly in full batch. The epoch
  loss in ``loss_curve_`` is the weighted mean over the epoch's samples; scikit-learn averages
  the minibatches' weighted means by minibatch size, so with weights and minibatches the two
  curves (and the stopping rule reading them) differ slightly.
  ``class_weight`` multiplies each sample's weight by its class's.
- ``n_jobs``: the restarts run through joblib (see :func:`deltaprop.fit`); BLAS threads
  are the core's choice.

Not supported (the core lacks them): ``solver="lbfgs"``, ``loss="poisson"``, sparse X.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from deltaprop._validation import as_sample_weight
from deltaprop.callbacks import Callback
from deltaprop.estimator_files import load_estimator, save_estimator
from deltaprop.losses import BinaryCrossEntropy, CrossEntropy, Loss, SquaredError, one_hot
from deltaprop.mlp import MLP
from deltaprop.optim import SGD, Adam, Optimizer, Schedule

_ACTIVATIONS = {"logistic": "sigmoid"}  # scikit-learn's name -> ours; the rest are shared
_MIN_LR = 1e-6  # "adaptive" stops below this, as scikit-learn does


class _SampleInverseScaling(Schedule):
    """scikit-learn's ``invscaling``: eta_0 / (t + 1)^power_t, t the samples seen before the
    current epoch (our :class:`~deltaprop.InverseScaling` counts updates instead)."""

    name = "sample_invscaling"

    def __init__(self, power_t: float, n_samples: int) -> None:
        self.power_t, self.n_samples, self.samples_before = power_t, n_samples, 0

    def __call__(self, lr0: float, step: int, epoch: int) -> float:
        return lr0 / (self.samples_before + epoch * self.n_samples + 1) ** self.power_t


class _NoImprovementRule(Callback):
    """scikit-learn's stopping rule. After each epoch the count of epochs without an improvement
    of ``tol`` grows (or resets to 0), and the best value moves to any lower one; once the count
    exceeds ``patience``, training stops, or with ``adaptive`` (``learning_rate="adaptive"``)
    eta is divided by 5 and the count restarts, stopping only when eta is already <= 1e-6. On
    ``val_loss`` the best epoch's parameters are restored at the end."""

    def __init__(self, patience: int, tol: float, monitor: str, adaptive: bool) -> None:
        self.patience, self.tol, self.monitor, self.adaptive = patience, tol, monitor, adaptive

    def on_train_begin(self, trainer: Any) -> None:
        self.best, self.best_epoch, self.wait, self.best_state = math.inf, 0, 0, None

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> None:
        current = logs[self.monitor]
        self.wait = self.wait + 1 if current > self.best - self.tol else 0
        if current < self.best:
            self.best, self.best_epoch = current, epoch
            if self.monitor == "val_loss":
                self.best_state = trainer.snapshot()
        if self.wait > self.patience:
            if self.adaptive and trainer.optimizer.lr > _MIN_LR:
                trainer.optimizer.lr /= 5.0
                self.wait = 0
            else:
                trainer.stop_reason = "early_stopping"

    def on_train_end(self, trainer: Any) -> None:
        if self.best_state is not None:
            trainer.restore(self.best_state)
            trainer.history.best_epoch = self.best_epoch
            trainer.history.final_loss = trainer.history.loss[self.best_epoch - 1]


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, network, optimizer, training."""

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
        """The weights the core gets: ``sample_weight`` (a number means that weight for all)."""
        if sample_weight is None:
            return None
        if isinstance(sample_weight, numbers.Number):
            return np.full(n_samples, sample_weight, dtype=np.float64)
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
        if self.solver not in ("sgd", "adam"):
            raise ValueError(f"solver must be 'sgd' or 'adam' (no 'lbfgs' here), got {self.solver!r}")
        if self.learning_rate not in ("constant", "invscaling", "adaptive"):
            raise ValueError("learning_rate must be 'constant', 'invscaling' or 'adaptive', "
                             f"got {self.learning_rate!r}")
        if not (self.batch_size == "auto" or (isinstance(self.batch_size, (int, np.integer))
                                              and not isinstance(self.batch_size, bool))):
            raise ValueError(f"batch_size must be 'auto' or a positive int, got {self.batch_size!r}")
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if any(not isinstance(s, (int, np.integer)) or s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive ints, got {self.hidden_layer_sizes!r}")
        return [int(s) for s in sizes]

    def _seed(self) -> Any:
        if self.random_state is None or isinstance(self.random_state, (int, np.integer)):
            return self.random_state
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _make_optimizer(self, n_train: int) -> Optimizer:
        if self.solver == "adam":
            return Adam(self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)
        invscaling = self.learning_rate == "invscaling"
        schedule = _SampleInverseScaling(self.power_t, n_train) if invscaling else None
        return SGD(self.learning_rate_init, self.momentum, self.nesterovs_momentum and self.momentum > 0,
                   schedule=schedule)

    def _stopping(self) -> Callback:
        monitor = "val_loss" if self.early_stopping else "loss"
        adaptive = self.solver == "sgd" and self.learning_rate == "adaptive"
        return _NoImprovementRule(self.n_iter_no_change, self.tol, monitor, adaptive)

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
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32), reset=first)
        Y, loss, c = self._targets(y, first=first, classes=classes)
        w = self._sample_weight(sample_weight, y, X.shape[0], incremental=incremental)
        if first:
            dtype = X.dtype if self.dtype is None else self.dtype
            self.net_ = MLP([X.shape[1], *hidden, self.n_outputs_],
                            activation=_ACTIVATIONS.get(self.activation, self.activation),
                            output_activation=self._output_activation(),
                            init=self._init(), dtype=dtype, seed=self._seed(),
                            batch_norm=self.batch_norm, dropout=self.dropout)
            self.loss_curve_: list[float] = []
            self.validation_loss_curve_: list[float] = []
            self.t_ = 0
            self._optimizer: Optimizer | None = None
        validation = self.validation_fraction if self.early_stopping else 0.0
        n_train = X.shape[0] - (int(round(validation * X.shape[0])) if validation else 0)
        n_batch = min(200 if self.batch_size == "auto" else max(int(self.batch_size), 1), max(n_train, 1))
        if not incremental or self._optimizer is None:
            self._optimizer = self._make_optimizer(n_train)
        if isinstance(self._optimizer.schedule, _SampleInverseScaling):
            self._optimizer.schedule.samples_before = self.t_
            self._optimizer.schedule.n_samples = n_train
        callbacks = list(self.callbacks or ()) + ([] if incremental else [self._stopping()])
        mean_weight = 1.0 if w is None else float(w.mean())  # scikit-learn divides by sum(w)
        history = self.net_.fit(
            X, Y, loss=loss, optimizer=self._optimizer, epochs=1 if incremental else self.max_iter,
            batch_size=n_batch, shuffle=self.shuffle, l2=c * self.alpha / (n_batch * mean_weight),
            sample_weight=w, validation_fraction=validation,
            restarts=self.restarts if first and not incremental else 1, n_jobs=self.n_jobs,
            callbacks=callbacks, verbose=bool(self.verbose),
        )
        self._record(history, n_train)
        if not incremental and history.stop_reason == "epochs":
            warnings.warn(
                f"training ran all max_iter={self.max_iter} epochs without meeting the stopping "
                f"rule (tol={self.tol}, n_iter_no_change={self.n_iter_no_change}); raise max_iter "
                "to train longer", ConvergenceWarning, stacklevel=3,
            )
        return self

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
        no pickle). ``callbacks`` are not stored; see :mod:`deltaprop.estimator_files`."""
        save_estimator(self, path)

    @classmethod
    def load(cls, path: Any) -> Any:
        """Read an estimator of this class written by :meth:`save`."""
        return load_estimator(path, expected=cls)

    def _outputs(self, X: Any) -> np.ndarray:
        """The network's outputs in X's float dtype (the network's may differ: ``dtype``)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        return self.net_.predict(X).astype(X.dtype, copy=False)


class _SquaredErrorOnClasses(SquaredError):
    """The notes' squared error on 0/1 class targets, scored by accuracy (what the classifier's
    ``validation_scores_`` report): argmax for softmax outputs, all labels right for sigmoid."""

    is_classification = True
    metric_name = "accuracy"

    def __init__(self, exclusive: bool) -> None:
        self.exclusive = exclusive

    def metric(self, a: np.ndarray, Y: np.ndarray, w: np.ndarray | None = None) -> float:
        scorer = CrossEntropy() if self.exclusive else BinaryCrossEntropy()
        return scorer.metric(a, Y, w)


def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)) without overflow."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def _partial_fit_available(estimator: _BaseMLP) -> bool:
    """``partial_fit`` exists unless ``early_stopping`` (one epoch has no validation split)."""
    if estimator.early_stopping:
        raise AttributeError("partial_fit is not available with early_stopping=True")
    return True


def _shared(init_locals: dict[str, Any]) -> dict[str, Any]:
    """A subclass's ``__init__`` arguments that :class:`_BaseMLP` takes."""
    own = ("self", "__class__", "multilabel", "loss", "class_weight")
    return {k: v for k, v in init_locals.items() if k not in own}


_PARAMETERS_DOC = """
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


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = """Multilayer perceptron classifier trained by deltaprop.

    Targets: labels of any type (strings, non-contiguous integers) are encoded in sorted order
    into ``classes_``. Two classes: one sigmoid output and binary cross-entropy (as in
    scikit-learn; ``predict_proba`` gives both columns). More: softmax and cross-entropy.
    A 2-D 0/1 indicator y is multilabel (independent sigmoid outputs, binary cross-entropy)
    unless every row holds exactly one 1: such a one-hot y is rejected with a ValueError
    rather than silently trained as multilabel; pass ``y.argmax(axis=1)`` (or the labels)
    for multiclass, or ``multilabel=True`` to train it as multilabel anyway.
    """ + _PARAMETERS_DOC + """
    class_weight : dict, "balanced" or None
        Weights of the classes (``{label: weight}``; ``"balanced"``: n_samples / (n_classes *
        count)), multiplied into ``sample_weight``. Not "balanced" in ``partial_fit``.
    multilabel : {"auto", True}, default="auto"
        How a 2-D indicator y is read (see above).
    loss : {"log_loss", "squared_error"}, default="log_loss"
        ``log_loss``: cross-entropy on softmax outputs (binary cross-entropy on sigmoid units
        for two classes and multilabel), as scikit-learn. ``squared_error``: the notes'
        1/2 ||a - y||^2 on the same outputs, with one-hot (0/1) targets; ``predict_proba`` is
        still the softmax (sigmoid) output.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=1e-4,
                 batch_size="auto", learning_rate="constant", learning_rate_init=1e-3, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, batch_norm=False, dropout=0.0, init=None, restarts=1,
                 n_jobs=None, dtype=None, callbacks=None, class_weight=None,
                 multilabel="auto", loss="log_loss") -> None:
        # The full signature again: scikit-learn reads the parameters from it (no **kwargs).
        super().__init__(**_shared(locals()))
        self.class_weight, self.multilabel, self.loss = class_weight, multilabel, loss

    def _sample_weight(self, sample_weight: Any, y: Any, n_samples: int, *,
                       incremental: bool) -> np.ndarray | None:
        """``sample_weight`` times the weight of each sample's class (``class_weight``)."""
        w = super()._sample_weight(sample_weight, y, n_samples, incremental=incremental)
        if self.class_weight is None:
            return w
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' needs the class counts of all the data, which "
                "partial_fit never sees; give a dict, e.g. from sklearn.utils.class_weight."
                "compute_class_weight('balanced', classes=classes, y=y_all)"
            )
        by_class = compute_sample_weight(self.class_weight, y)
        return by_class if w is None else w * by_class

    def _targets(self, y: Any, *, first: bool,
                 classes: Any = None) -> tuple[np.ndarray, str | Loss, int]:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first:
            self._set_classes(y, classes)
        if self.loss not in ("log_loss", "squared_error"):
            raise ValueError(f"loss must be 'log_loss' or 'squared_error', got {self.loss!r}")
        squared = self.loss == "squared_error"
        independent: str | Loss = _SquaredErrorOnClasses(False) if squared else "binary_cross_entropy"
        if self._multilabel_dtype is not None:
            if y.ndim != 2 or y.shape[1] != len(self.classes_):
                raise ValueError(f"y must be a multilabel indicator with {len(self.classes_)} columns")
            return y.astype(np.float64), independent, 1
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D labels here, got shape {y.shape}")
        unknown = np.setdiff1d(unique_labels(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y has classes {unknown} not in classes_ {self.classes_}")
        codes = np.searchsorted(self.classes_, y)
        if len(self.classes_) == 2:
            return codes.astype(np.float64), independent, 1
        if squared:
            return one_hot(codes, len(self.classes_), np.float64), _SquaredErrorOnClasses(True), 1
        return codes, "cross_entropy", 1

    def _output_activation(self) -> str | None:
        """Sigmoid units (one per label, or one for two classes) or softmax; set here for
        ``squared_error``, chosen by the cross-entropy otherwise."""
        if self.loss != "squared_error":
            return None
        two_classes = len(self.classes_) == 2 and self._multilabel_dtype is None
        return "sigmoid" if two_classes or self._multilabel_dtype is not None else "softmax"

    def _set_classes(self, y: np.ndarray, classes: Any) -> None:
        self._multilabel_dtype = None
        if type_of_target(y).startswith("multilabel"):
            if self.multilabel not in ("auto", True):
                raise ValueError(f"multilabel must be 'auto' or True, got {self.multilabel!r}")
            if self.multilabel == "auto" and y.shape[0] and (y.sum(axis=1) == 1).all():
                raise ValueError(
                    "y is one-hot (every row has exactly one 1): pass the labels, e.g. "
                    "y.argmax(axis=1), for multiclass, or set multilabel=True to train "
                    "independent sigmoid outputs"
                )
            self.classes_ = np.arange(y.shape[1])
            self._multilabel_dtype = y.dtype
            self.n_outputs_ = y.shape[1]
            return
        self.classes_ = unique_labels(y if classes is None else classes)
        if len(self.classes_) < 2:
            raise ValueError(f"the classifier needs samples of at least 2 classes; got 1 class: "
                             f"{self.classes_}")
        self.n_outputs_ = 1 if len(self.classes_) == 2 else len(self.classes_)

    @available_if(_partial_fit_available)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
        """One epoch over (X, y) from the current weights and optimizer state.

        ``classes`` (all labels of the stream) is required on the first call, except for a
        multilabel y. ``sample_weight`` as in :meth:`fit`.
        """
        first = not hasattr(self, "classes_")
        if first and classes is None and not type_of_target(y).startswith("multilabel"):
            raise ValueError("classes must be passed on the first call to partial_fit")
        if not first and classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"classes={classes} differs from classes_={self.classes_} of the first call")
        return self._fit(X, y, incremental=True, classes=classes, sample_weight=sample_weight)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order
        (for two classes both columns come from the logit: sigma(-z), sigma(z), so a tiny
        probability keeps its digits instead of being 1 - (1 - p))."""
        check_is_fitted(self)
        if len(self.classes_) == 2 and self._multilabel_dtype is None:
            return np.exp(self.predict_log_proba(X))
        return self._outputs(X)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """log of :meth:`predict_proba`, computed from the output logits (log-softmax, or
        -softplus(-z) and -softplus(z) for sigmoid units), so finite where a probability
        rounds to 0."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        z = self.net_.predict_logits(X).astype(np.float64)
        if self.net_.output_layer.activation.name == "softmax":
            z_max = z.max(axis=1, keepdims=True)
            log_p = z - z_max - np.log(np.exp(z - z_max).sum(axis=1, keepdims=True))
        elif len(self.classes_) == 2 and self._multilabel_dtype is None:
            log_p = np.hstack([-_softplus(z), -_softplus(-z)])
        else:
            log_p = -_softplus(-z)
        return log_p.astype(X.dtype, copy=False)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels, shape (n_samples,), or (n_samples, n_labels) for multilabel."""
        out = self._outputs(X)
        if self._multilabel_dtype is not None:
            return (out > 0.5).astype(self._multilabel_dtype)
        codes = (out[:, 0] > 0.5).astype(np.intp) if out.shape[1] == 1 else out.argmax(axis=1)
        return self.classes_[codes]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = """Multilayer perceptron regressor trained by deltaprop: identity outputs, one per target
    column (multi-output y of shape (n_samples, n_outputs) is supported).
    """ + _PARAMETERS_DOC + """
    loss : {"squared_error", "mse"}, default="squared_error"
        ``squared_error`` is 1/2 (a - y)^2 summed over outputs, averaged over samples
        (scikit-learn's for one output); ``mse`` averages over outputs too, without the 1/2.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=1e-4,
                 batch_size="auto", learning_rate="constant", learning_rate_init=1e-3, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, batch_norm=False, dropout=0.0, init=None, restarts=1,
                 n_jobs=None, dtype=None, callbacks=None, loss="squared_error") -> None:
        super().__init__(**_shared(locals()))
        self.loss = loss

    def _targets(self, y: Any, *, first: bool,
                 classes: Any = None) -> tuple[np.ndarray, str | Loss, int]:
        if self.loss not in ("squared_error", "mse"):
            raise ValueError(f"loss must be 'squared_error' or 'mse', got {self.loss!r}")
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if first:
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        c = 2 if self.loss == "mse" else self.n_outputs_
        return y, self.loss, c

    @available_if(_partial_fit_available)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over (X, y) from the current weights and optimizer state (``sample_weight``
        as in :meth:`fit`)."""
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, shape (n_samples,) for one output, (n_samples, n_outputs) otherwise."""
        out = self._outputs(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
