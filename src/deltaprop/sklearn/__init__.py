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
  our loss to scikit-learn's gradient: 1 for the cross-entropies, ``poisson`` and
  ``squared_error`` (with k outputs scikit-learn steps along the gradient of 1/2 (a - y)^2
  summed over them, as ours, but reports the mean: ``loss_``, ``loss_curve_`` and the stopping
  rule's ``tol`` are divided by k, as there), 2 for ``mse``. The objective is then ``c`` times
  scikit-learn's: the same minimizer. Only a last,
  smaller minibatch is penalized a little less than there.
- ``tol``, ``n_iter_no_change``: scikit-learn's rule, as a callback: stop once more than
  ``n_iter_no_change`` epochs in a row failed to improve on the best training loss by ``tol``
  (the best moves to every lower value); with ``early_stopping=True`` the same rule watches the
  validation score (accuracy or R^2, higher is better), as scikit-learn's, and the best
  epoch's weights are restored. The core's own ``tol`` (a gradient-norm tolerance) is not used.
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

- ``solver="lbfgs"``: :class:`deltaprop.LBFGS` (full batch through SciPy's L-BFGS-B, as
  scikit-learn's) with ``maxiter=max_iter``, ``maxfun=max_fun``, ``gtol=tol`` and
  ``l2 = c alpha / (n mean(w))``; ``batch_size``, ``early_stopping`` and the stopping rule do
  not apply, as there.
- ``loss="poisson"`` (MLPRegressor): the core's ``poisson`` loss, scikit-learn's half Poisson
  deviance with an ``exp`` output (``c = 1``).
- Sparse X (scipy.sparse CSR or CSC): trained and predicted without densifying (see
  :mod:`deltaprop.layers.dense`), on the NumPy engine.
- ``verbose``, ``early_stopping``'s split, writable ``coefs_``/``intercepts_``, warm starts and
  the error texts its users match on ("Solver produced non-finite parameter weights", "The
  validation set is too small", "warm_start can only be used where `y` has the same classes",
  "partial_fit does not support early_stopping=True") behave as scikit-learn's; where ours
  says more (a class with a single sample named, deltaprop's reason for a divergence), it is
  added to scikit-learn's text. A run that diverges with ``early_stopping`` keeps the best
  epoch's weights with a ConvergenceWarning instead of raising.

Every parameter of scikit-learn's MLP estimators is supported.
"""

from deltaprop.sklearn.classifier import MLPClassifier
from deltaprop.sklearn.regressor import MLPRegressor

# The estimators by class name: how deltaprop.load rebuilds the one an estimator file names.
ESTIMATORS: dict[str, type] = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}

__all__ = ["MLPClassifier", "MLPRegressor", "ESTIMATORS"]
