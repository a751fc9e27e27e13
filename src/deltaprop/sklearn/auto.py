"""``auto=True`` on the estimators: :func:`deltaprop.tuning.auto_fit` chooses the network, and
the estimator keeps a plain network over the raw features.

auto_fit standardizes the inputs (and a regression's targets) and trains softmax outputs; an
estimator's network takes X as given and has scikit-learn's outputs. Both are affine maps around
the same network, so they fold into its first and last layers exactly:

- the inputs' standardization ``x' = (x - m) / s`` into the first layer:
  ``W_1 x' + b_1 = (W_1 / s) x + (b_1 - W_1 (m / s))``;
- a regression's target standardization ``y = s_y t + m_y`` into the (identity) output layer:
  ``W_L <- s_y W_L``, ``b_L <- s_y b_L + m_y``;
- two softmax outputs into the one sigmoid output scikit-learn has for two classes:
  ``softmax(z)_1 = sigmoid(z_1 - z_0)``, so ``w = W_L[1] - W_L[0]``, ``b = b_L[1] - b_L[0]``.

The parameters auto_fit chooses (the widths, rate, solver, epochs, early stopping...) must stay
at their defaults: a value given for one of them would be silently ignored, so it is refused by
name, as are the options auto_fit does not offer (sample weights, warm starts, several outputs).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import validate_data

from deltaprop.evaluation import evaluate
from deltaprop.files.model import Model
from deltaprop.losses import get_loss
from deltaprop.mlp import MLP
from deltaprop.tuning import auto_fit

Array = np.ndarray
# What auto_fit decides by itself: a value given here would be ignored.
CHOSEN_BY_AUTO = ("hidden_layer_sizes", "activation", "solver", "alpha", "batch_size",
                  "learning_rate", "learning_rate_init", "power_t", "max_iter", "shuffle", "tol",
                  "momentum", "nesterovs_momentum", "early_stopping", "validation_fraction",
                  "beta_1", "beta_2", "epsilon", "n_iter_no_change", "max_fun")
# What auto_fit does not offer.
NOT_WITH_AUTO = ("warm_start", "batch_norm", "dropout", "init", "restarts", "n_jobs", "dtype",
                 "callbacks", "class_weight", "multilabel", "loss")


def check_auto_parameters(estimator: Any) -> None:
    """Refuse, by name, a parameter whose value ``auto=True`` would ignore."""
    defaults = {name: p.default for name, p in inspect.signature(type(estimator).__init__).parameters.items()}
    for name in CHOSEN_BY_AUTO + NOT_WITH_AUTO:
        if name in defaults and not _same(getattr(estimator, name), defaults[name]):
            why = "chooses it itself" if name in CHOSEN_BY_AUTO else "does not offer it"
            raise ValueError(f"auto=True {why}: leave {name} at its default ({defaults[name]!r}), "
                             f"or set auto=False (got {name}={getattr(estimator, name)!r})")


def _same(value: Any, default: Any) -> bool:
    if value is default:
        return True
    if type(value) is not type(default):
        return False
    try:
        return bool(value == default)
    except (TypeError, ValueError):  # arrays and other values without one truth value
        return False


def fit_auto(estimator: Any, X: Any, y: Any, sample_weight: Any) -> None:
    """Fit ``estimator`` (an MLPClassifier or MLPRegressor with ``auto=True``) by auto_fit; set
    its network and fitted attributes, and ``auto_report_`` (the :class:`AutoReport`)."""
    check_auto_parameters(estimator)
    if sample_weight is not None:
        raise ValueError("auto=True does not take sample_weight (auto_fit weighs every row alike); "
                         "set auto=False to train with weights")
    X, y = validate_data(estimator, X, y, multi_output=True, dtype=np.float64, reset=True)
    Y, _, _ = estimator._targets(y, first=True, incremental=False)
    classify = is_classifier(estimator)
    if getattr(estimator, "_multilabel_dtype", None) is not None or (not classify and Y.ndim == 2):
        raise ValueError("auto=True trains one target (class labels or one column of values); "
                         "this y has several outputs: set auto=False")
    seed = estimator._seed()
    if seed is None:  # random_state=None: a fresh seed each fit, as scikit-learn
        seed = int(np.random.default_rng().integers(np.iinfo(np.int32).max))
    targets = np.asarray(Y).astype(np.int64) if classify else Y  # class codes: classes_' order
    model, report = auto_fit(X, targets, task="classify" if classify else "regress",
                             time_budget=estimator.time_budget, seed=int(seed))
    _record(estimator, raw_network(model, two_classes=classify and estimator.n_outputs_ == 1),
            X, Y, report)


def raw_network(model: Model, *, two_classes: bool) -> MLP:
    """The model's network with its preprocessing folded in (see the module docstring): it
    takes raw rows and gives the estimator's outputs."""
    net, preprocessing = model.net, model.preprocessing
    W = [np.array(w, dtype=np.float64) for w in net.weights]
    b = [np.array(v, dtype=np.float64) for v in net.biases]
    features = preprocessing.features
    assert features is not None, "auto_fit always standardizes the inputs"
    W[0], b[0] = W[0] / features.scale, b[0] - W[0] @ (features.mean / features.scale)
    if preprocessing.targets is not None:
        scale, mean = preprocessing.targets.scale[0], preprocessing.targets.mean[0]
        W[-1], b[-1] = scale * W[-1], scale * b[-1] + mean
        loss, output = "squared_error", "identity"
    elif two_classes:
        W[-1], b[-1] = (W[-1][1] - W[-1][0])[None, :], b[-1][1:] - b[-1][:1]
        loss, output = "binary_cross_entropy", "sigmoid"
    else:
        loss, output = "cross_entropy", "softmax"
    sizes = [W[0].shape[1], *(w.shape[0] for w in W)]
    raw = MLP(sizes, activation="relu", output_activation=output, dtype=np.float64, seed=0)
    for i in range(len(W)):
        raw.weights[i], raw.biases[i] = W[i], b[i]
    raw.use_loss(get_loss(loss))
    return raw


def _record(estimator: Any, net: MLP, X: Array, Y: Array, report: Any) -> None:
    """The fitted attributes of an auto fit: no training curve (auto_fit's runs are several),
    ``n_iter_`` the chosen run's best epoch, ``loss_`` the returned network's loss on (X, y)."""
    chosen = report.chosen
    estimator.net_, estimator.history_, estimator.auto_report_ = net, None, report
    estimator._optimizer = None
    estimator.n_layers_ = len(net.dense_layers) + 1
    estimator.out_activation_ = {"sigmoid": "logistic"}.get(net.output_layer.activation.name,
                                                             net.output_layer.activation.name)
    estimator.n_iter_ = int(chosen.best_epoch or chosen.epochs)
    estimator.t_ = X.shape[0] * estimator.n_iter_
    estimator.loss_ = float(evaluate(net, X, Y)[0]) * estimator._loss_scale()
    estimator.best_loss_ = estimator.loss_
    estimator.loss_curve_, estimator.validation_loss_curve_ = [], []
    estimator.validation_scores_, estimator.best_validation_score_ = None, None
    if estimator.verbose:
        print(report)
