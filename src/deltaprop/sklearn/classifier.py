"""MLPClassifier: labels of any type, binary, multiclass and multilabel targets."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils import column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from deltaprop._validation import as_sample_weight, check_positive
from deltaprop.data.labels import label_array
from deltaprop.losses import BinaryCrossEntropy, CrossEntropy, Loss, SquaredError
from deltaprop.metrics import class_indices, log_sigmoid, log_softmax
from deltaprop.sklearn._base import SPARSE, BaseMLP, partial_fit_available, shared_parameters, unmasked
from deltaprop.sklearn.docs import PARAMETERS_DOC
from deltaprop.targets import one_hot


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


class MLPClassifier(ClassifierMixin, BaseMLP):
    __doc__ = """Multilayer perceptron classifier trained by deltaprop.

    Targets: labels of any type (strings, non-contiguous integers) are encoded in sorted order
    into ``classes_``. Two classes: one sigmoid output and binary cross-entropy (as in
    scikit-learn; ``predict_proba`` gives both columns). More: softmax and cross-entropy.
    A 2-D 0/1 indicator y is multilabel (independent sigmoid outputs, binary cross-entropy)
    unless every row holds exactly one 1: such a one-hot y is rejected with a ValueError
    rather than silently trained as multilabel; pass ``y.argmax(axis=1)`` (or the labels)
    for multiclass, or ``multilabel=True`` to train it as multilabel anyway.
    """ + PARAMETERS_DOC + """
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
                 n_iter_no_change=10, max_fun=15000, batch_norm=False, dropout=0.0, init=None, restarts=1,
                 n_jobs=None, dtype=None, callbacks=None, auto=False, time_budget=120.0,
                 class_weight=None, multilabel="auto", loss="log_loss") -> None:
        # The full signature again: scikit-learn reads the parameters from it (no **kwargs).
        super().__init__(**shared_parameters(locals()))
        self.class_weight, self.multilabel, self.loss = class_weight, multilabel, loss

    def _check_params(self) -> list[int]:
        """The shared parameters, then the classifier's own: ``loss``, ``multilabel`` and the
        weights of ``class_weight`` (its labels are checked against ``classes_`` once known)."""
        hidden = super()._check_params()
        if not isinstance(self.loss, str) or self.loss not in ("log_loss", "squared_error"):
            raise ValueError(f"loss must be 'log_loss' or 'squared_error', got {self.loss!r}")
        if not (isinstance(self.multilabel, str) and self.multilabel == "auto") and not (
                isinstance(self.multilabel, (bool, np.bool_)) and self.multilabel):
            raise ValueError(f"multilabel must be 'auto' or True, got {self.multilabel!r}")
        weights = self.class_weight
        if isinstance(weights, dict):
            for label, weight in weights.items():
                check_positive(f"class_weight[{label!r}]", weight, allow_zero=True)
        elif weights is not None and not (isinstance(weights, str) and weights == "balanced"):
            raise ValueError(f"class_weight must be a dict {{label: weight}}, 'balanced' or None, "
                             f"got {weights!r}")
        return hidden

    def _sample_weight(self, sample_weight: Any, y: Any, n_samples: int, *,
                       incremental: bool) -> np.ndarray | None:
        """``sample_weight`` times the weight of each sample's class (``class_weight``)."""
        w = super()._sample_weight(sample_weight, y, n_samples, incremental=incremental)
        if self.class_weight is None:
            return w
        by_class = self._class_weights(y, incremental=incremental)
        if w is None:
            return as_sample_weight(by_class, n_samples, "the weights class_weight gives the samples")
        return as_sample_weight(w * by_class, n_samples, "sample_weight times class_weight")

    def _class_weights(self, y: Any, *, incremental: bool) -> np.ndarray:
        """The weight of each sample's class, from ``class_weight`` (checked by
        :meth:`_check_params`) naming labels of ``classes_``, or "balanced" (not in
        ``partial_fit``)."""
        if isinstance(self.class_weight, str) and self.class_weight == "balanced":
            if incremental:
                raise ValueError(
                    "class_weight='balanced' needs the class counts of all the data, which "
                    "partial_fit never sees; give a dict, e.g. from sklearn.utils.class_weight."
                    "compute_class_weight('balanced', classes=classes, y=y_all)"
                )
            return compute_sample_weight("balanced", y)
        if self._multilabel_dtype is None:
            classes = set(self.classes_.tolist())
            unknown = [label for label in self.class_weight if label not in classes]
            if unknown:
                raise ValueError(f"class_weight names {unknown}, not classes of y "
                                 f"(classes_: {self.classes_.tolist()})")
        return compute_sample_weight(self.class_weight, y)

    def _targets(self, y: Any, *, first: bool, incremental: bool,
                 classes: Any = None) -> tuple[np.ndarray, str | Loss, int]:
        if hasattr(y, "toarray") and type(y).__module__.startswith("scipy.sparse"):
            y = y.toarray()  # a sparse label indicator (MultiLabelBinarizer(sparse_output=True))
        y = label_array(y)  # numbers or text: never dates or other objects
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first:
            self._set_classes(y, classes)
        elif not incremental:
            self._check_warm_start_classes(y)
        squared = self.loss == "squared_error"
        independent: str | Loss = _SquaredErrorOnClasses(False) if squared else "binary_cross_entropy"
        if self._multilabel_dtype is not None:
            return self._indicator_targets(y), independent, 1
        codes = self._class_codes(y)
        if len(self.classes_) == 2:
            return codes.astype(np.float64), independent, 1
        if squared:
            return one_hot(codes, len(self.classes_), np.float64), _SquaredErrorOnClasses(True), 1
        return codes, "cross_entropy", 1

    def _check_warm_start_classes(self, y: np.ndarray) -> None:
        """A warm-started ``fit`` must see the classes of the first (scikit-learn's rule)."""
        classes = np.arange(y.shape[1]) if self._multilabel_dtype is not None else unique_labels(y)
        if set(classes.tolist()) != set(self.classes_.tolist()):
            raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                             f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")

    def _strata(self, y: Any) -> np.ndarray | None:
        """Each row's label for two classes, as scikit-learn stratifies (only when its
        ``n_outputs_`` is 1: never for more classes or multilabel y). A class with a single
        sample gets train_test_split's error, which names it."""
        if self._multilabel_dtype is not None or len(self.classes_) != 2:
            return None
        return np.asarray(y).reshape(-1)  # the labels themselves: the error names them

    def _indicator_targets(self, y: np.ndarray) -> np.ndarray:
        """A multilabel y as float 0/1 targets, one column per label of ``classes_``."""
        if y.ndim != 2 or y.shape[1] != len(self.classes_):
            raise ValueError(f"y must be a multilabel indicator with {len(self.classes_)} columns")
        return y.astype(np.float64)

    def _class_codes(self, y: np.ndarray) -> np.ndarray:
        """The index in ``classes_`` of each label of a 1-D y."""
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D labels here, got shape {y.shape}")
        labels = unique_labels(y)
        if np.setdiff1d(labels, self.classes_).size:
            raise ValueError("`y` has classes not in `self.classes_`. "
                             f"`self.classes_` has {self.classes_}. 'y' has {labels}.")
        return np.searchsorted(self.classes_, y)

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

    @available_if(partial_fit_available)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
        """One epoch over (X, y) from the current weights and optimizer state.

        ``classes`` (all labels of the stream) is required on the first call, except for a
        multilabel y. ``sample_weight`` as in :meth:`fit`.
        """
        first = not hasattr(self, "classes_")
        if first and classes is None and not type_of_target(y).startswith("multilabel"):
            raise ValueError("classes must be passed on the first call to partial_fit")
        if not first and classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                             f"was: {self.classes_!r}")
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
        X = validate_data(self, unmasked(X), dtype=(np.float64, np.float32), reset=False,
                          accept_sparse=SPARSE)
        z = self.net_.predict_logits(X).astype(np.float64)
        if self.net_.output_layer.activation.name == "softmax":
            log_p = log_softmax(z)
        elif len(self.classes_) == 2 and self._multilabel_dtype is None:
            log_p = np.hstack([log_sigmoid(-z), log_sigmoid(z)])
        else:
            log_p = log_sigmoid(z)
        return log_p.astype(X.dtype, copy=False)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels, shape (n_samples,), or (n_samples, n_labels) for multilabel."""
        out = self._outputs(X)
        codes = class_indices(out, self.net_.output_layer.activation.name)
        if self._multilabel_dtype is not None:
            return codes.astype(self._multilabel_dtype)
        return self.classes_[codes]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
