"""MLPRegressor: one identity output per target column."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.metaestimators import available_if

from deltaprop.losses import Loss
from deltaprop.sklearn._base import BaseMLP, partial_fit_available, shared_parameters
from deltaprop.sklearn.docs import PARAMETERS_DOC


class MLPRegressor(RegressorMixin, BaseMLP):
    __doc__ = """Multilayer perceptron regressor trained by deltaprop: identity outputs (``exp`` for
    ``loss="poisson"``), one per target column (multi-output y of shape (n_samples, n_outputs) is
    supported).
    """ + PARAMETERS_DOC + """
    loss : {"squared_error", "mse", "poisson"}, default="squared_error"
        ``squared_error`` is scikit-learn's: training follows the gradient of 1/2 (a - y)^2
        summed over outputs and averaged over samples, and ``loss_``, ``loss_curve_`` (and the
        ``tol`` of the stopping rule) divide it by the number of outputs, as scikit-learn
        reports it (the L2 term too, which scikit-learn leaves whole: a difference of
        (k - 1)/k of that term with k outputs). ``mse`` averages over outputs without the 1/2;
        ``poisson`` is scikit-learn's half Poisson deviance with an ``exp`` output (targets
        y >= 0: a negative one is refused, naming its row).
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=1e-4,
                 batch_size="auto", learning_rate="constant", learning_rate_init=1e-3, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, batch_norm=False, dropout=0.0, init=None, restarts=1,
                 n_jobs=None, dtype=None, callbacks=None, auto=False, time_budget=120.0,
                 loss="squared_error") -> None:
        super().__init__(**shared_parameters(locals()))
        self.loss = loss

    def _targets(self, y: Any, *, first: bool, incremental: bool,
                 classes: Any = None) -> tuple[np.ndarray, str | Loss, int]:
        if not isinstance(self.loss, str) or self.loss not in ("squared_error", "mse", "poisson"):
            raise ValueError(f"loss must be 'squared_error', 'mse' or 'poisson', got {self.loss!r}")
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if first:
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        # c: ours over scikit-learn's, for alpha (see the module docstring)
        return y, self.loss, 2 if self.loss == "mse" else 1

    def _loss_scale(self) -> float:
        """scikit-learn trains k outputs on the gradient of the squared errors' sum over them
        (ours), and reports their mean: the same steps, its loss_ k times smaller."""
        return 1.0 / self.n_outputs_ if self.loss == "squared_error" else 1.0

    @available_if(partial_fit_available)
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
