"""Losses: the value averaged over the batch, and the output-layer delta.

The loss owns the ``1/n`` of the batch mean and the start of the delta recursion,
``delta_L = dLoss/da_L * f'(z_L)``. For the three canonical pairs the product collapses to
``(a - y) / n`` and is computed directly, which is both cheaper and numerically stable:

=========================  ==================  =====================================
loss                       output activation   delta_L
=========================  ==================  =====================================
``squared_error``          identity            (a - y) / n
``cross_entropy``          softmax             (a - y) / n
``binary_cross_entropy``   sigmoid             (a - y) / n
``poisson``                exp                 (a - y) / n
``mse``                    identity            2 (a - y) / (n k)
=========================  ==================  =====================================

With any other output activation (squared error on a sigmoid output, as in the notes' delta
rule), ``delta_L = dLoss/da_L * f'(z_L)`` is formed by the activation's own backward.
Cross-entropy values come from the logits through log-sum-exp and softplus, never from
``log(a)``, so saturated outputs give finite losses; the Poisson deviance likewise takes
``log(mu)`` as ``z``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop._validation import unknown_name_error
from deltaprop.activations import Activation, row_max
from deltaprop.metrics import accuracy, r2
from deltaprop.targets import numeric_targets, one_hot

Array = np.ndarray


class Loss:
    """Base class. ``z``, ``a``: output pre-activation and activation, ``Y``: targets, all
    of shape (n_samples, n_outputs)."""

    name = "loss"
    output_activation = "identity"  # what an output layer left to the loss becomes
    fused = False  # True: delta_L = (a - y) / n when the output is ``output_activation``
    value_needs: tuple[str, ...] = ("z", "a")  # what value() reads; the other may be None
    requires_output_activation = False  # True: only ``output_activation`` may precede the loss
    per_sample = False  # True: value() is the mean of independent per-sample terms
    is_classification = False

    def value(self, z: Array, a: Array, Y: Array) -> float:
        """The loss averaged over the batch (reads only what ``value_needs`` names)."""
        raise NotImplementedError

    def grad_a(self, a: Array, Y: Array) -> Array:
        """dLoss/da_L for the batch (the 1/n included)."""
        raise NotImplementedError

    def sample_values(self, z: Array, a: Array, Y: Array) -> Array:
        """Each sample's loss, shape (n_samples,), whose mean is :meth:`value` (``per_sample``
        losses); sample weights need it."""
        raise NotImplementedError(
            f"the loss {self.name!r} gives no per-sample values (sample_values), so it cannot "
            "take sample weights"
        )

    def check_sample_weights(self) -> None:
        """Raise unless this loss can take sample weights (it must give per-sample values)."""
        if type(self).sample_values is Loss.sample_values:
            raise ValueError(
                f"the loss {self.name!r} cannot take sample weights: it defines no "
                "sample_values(z, a, Y) giving each sample's loss"
            )

    def weighted_value(self, z: Array, a: Array, Y: Array, scale: Array) -> float:
        """The batch loss with sample weights, ``sum_i w_i loss_i / sum_i w_i``.

        ``scale`` is ``n w / sum(w)``, shape (n_samples,): the factor by which each row of the
        unweighted output delta is multiplied, so the weighted loss is ``mean(scale * loss_i)``.
        """
        return float(np.dot(self.sample_values(z, a, Y), scale)) / scale.shape[0]

    def output_delta(self, z: Array, a: Array, Y: Array, activation: Activation, out: Array) -> Array:
        """``delta_L = dLoss/dz_L``, written into ``out``; fused for the canonical activation.

        A subclass gets the fused form only if it sets ``fused = True`` (and then its
        ``_fused_delta`` must really be dLoss/dz for ``output_activation``); otherwise the chain
        rule through :meth:`grad_a` and the activation's backward is used.
        """
        if self.fused and activation.name == self.output_activation:
            return self._fused_delta(a, Y, out)
        return activation.backward(self.grad_a(a, Y), z, a, out=out)

    def _fused_delta(self, a: Array, Y: Array, out: Array) -> Array:
        out = np.subtract(a, Y, out=out)
        out *= 1.0 / a.shape[0]
        return out

    def check_activation(self, activation: Activation) -> None:
        """Raise if the output activation cannot go with this loss (the cross-entropies take
        their own output activation only; their values are computed from its logits)."""
        if self.requires_output_activation and activation.name != self.output_activation:
            article = "an" if self.output_activation[0] in "aeiou" else "a"
            raise ValueError(
                f"{self.name} needs {article} {self.output_activation} output layer, not "
                f"{activation.name!r}; leave output_activation=None to let the loss choose it"
            )

    def prepare_targets(self, y: Any, n_outputs: int, dtype: Any) -> Array:
        """Return targets as a float matrix (n_samples, n_outputs), or raise naming the problem."""
        Y = numeric_targets(y)
        if Y.ndim == 1 and n_outputs == 1:
            Y = Y[:, None]
        if Y.ndim != 2 or Y.shape[1] != n_outputs:
            raise ValueError(
                f"targets have shape {Y.shape} but the network has {n_outputs} output(s); "
                f"give y of shape (n_samples, {n_outputs})" + (" or (n_samples,)" if n_outputs == 1 else "")
                + self._labels_hint(Y, n_outputs)
            )
        return np.ascontiguousarray(Y, dtype=dtype)

    def _labels_hint(self, Y: Array, n_outputs: int) -> str:
        """For 1-D whole numbers 0..k-1 under a regression loss: the likely mistake, said."""
        if Y.ndim != 1 or n_outputs < 2 or Y.size == 0 or self.is_classification:
            return ""
        if not (np.all(np.mod(Y, 1) == 0) and Y.min() >= 0 and Y.max() < n_outputs):
            return ""
        return (f". y looks like class labels 0..{n_outputs - 1}: to classify, train with "
                f"loss=\"cross_entropy\" (softmax outputs, labels as they are); {self.name!r} is "
                "a regression loss")

    def metric(self, a: Array, Y: Array, w: Array | None = None) -> float:
        """R^2 for regression (averaged over outputs); accuracy for the classification losses.

        With sample weights ``w`` (shape (n_samples,)), the weighted versions (as scikit-learn's
        ``r2_score`` and ``accuracy_score`` with ``sample_weight``).
        """
        return r2(Y, a, w)

    metric_name = "r2"

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _Squared(Loss):
    """A loss of squared errors: targets so large that their squares overflow the network's
    dtype are named here, where the loss is defined, not reported later as divergence."""

    def prepare_targets(self, y: Any, n_outputs: int, dtype: Any) -> Array:
        Y = super().prepare_targets(y, n_outputs, dtype)
        check_squares_fit(Y)
        return Y


def check_squares_fit(Y: Array) -> None:
    """Raise if the sum of the squares of ``Y`` overflows its dtype (the loss at a = 0 would).

    The bound ``sqrt(max / Y.size)`` keeps the whole sum finite; float32 data of a million
    rows may hold targets up to 1.8e16, far beyond any sensible scale.
    """
    if Y.size == 0 or Y.dtype.kind != "f":
        return
    with np.errstate(invalid="ignore"):
        biggest = float(np.max(np.abs(Y)))
    limit = math.sqrt(float(np.finfo(Y.dtype).max) / Y.size)
    if math.isfinite(biggest) and biggest > limit:
        wider = " or use a float64 network" if Y.dtype != np.float64 else ""
        raise ValueError(
            f"the targets hold {biggest:.4g}: squared over {Y.shape[0]} rows they overflow "
            f"{Y.dtype.name} (largest {float(np.finfo(Y.dtype).max):.4g}); rescale y (e.g. "
            f"standardize it){wider}")


class SquaredError(_Squared):
    """The notes' loss: 1/n sum_i 1/2 ||a_i - y_i||^2; dLoss/da = (a - y) / n."""

    name = "squared_error"
    fused = True
    per_sample = True
    value_needs = ("a",)

    def value(self, z: Array, a: Array, Y: Array) -> float:
        diff = a - Y
        return 0.5 * float(np.vdot(diff, diff)) / a.shape[0]

    def grad_a(self, a: Array, Y: Array) -> Array:
        return (a - Y) / a.shape[0]

    def sample_values(self, z: Array, a: Array, Y: Array) -> Array:
        diff = a - Y
        return 0.5 * np.einsum("ij,ij->i", diff, diff)


class MSE(_Squared):
    """Mean squared error over samples and outputs: 1/(n k) sum (a - y)^2 (PyTorch's MSELoss)."""

    name = "mse"
    fused = True
    per_sample = True
    value_needs = ("a",)

    def value(self, z: Array, a: Array, Y: Array) -> float:
        diff = a - Y
        return float(np.vdot(diff, diff)) / a.size

    def grad_a(self, a: Array, Y: Array) -> Array:
        return (a - Y) * (2.0 / a.size)

    def sample_values(self, z: Array, a: Array, Y: Array) -> Array:
        diff = a - Y
        return np.einsum("ij,ij->i", diff, diff) / a.shape[1]

    def _fused_delta(self, a: Array, Y: Array, out: Array) -> Array:
        out = np.subtract(a, Y, out=out)
        out *= 2.0 / a.size
        return out


class CrossEntropy(Loss):
    """Softmax cross-entropy: -1/n sum_i sum_k y_ik log softmax(z_i)_k.

    Targets are integer class labels ``0..k-1`` (shape (n,)) or rows of class probabilities
    (one-hot, shape (n, k)). The value is ``logsumexp(z_i) - y_i . z_i`` (rows of y sum to 1),
    and the fused delta ``(softmax(z) - y) / n``.
    """

    name = "cross_entropy"
    fused = True
    per_sample = True
    value_needs = ("z",)
    requires_output_activation = True
    output_activation = "softmax"
    is_classification = True
    metric_name = "accuracy"

    def value(self, z: Array, a: Array, Y: Array) -> float:
        z_max = row_max(z)
        log_sum_exp = np.log(np.exp(z - z_max[:, None]).sum(axis=1)) + z_max
        return float(log_sum_exp.sum() - np.vdot(Y, z)) / z.shape[0]

    def sample_values(self, z: Array, a: Array, Y: Array) -> Array:
        z_max = row_max(z)
        log_sum_exp = np.log(np.exp(z - z_max[:, None]).sum(axis=1)) + z_max
        return log_sum_exp - np.einsum("ij,ij->i", Y, z)

    def prepare_targets(self, y: Any, n_outputs: int, dtype: Any) -> Array:
        if n_outputs < 2:
            raise ValueError(
                "cross_entropy needs at least 2 outputs; for one output use binary_cross_entropy"
            )
        Y = numeric_targets(y)
        if Y.ndim == 1 or (Y.ndim == 2 and Y.shape[1] == 1):
            return one_hot(Y.reshape(-1), n_outputs, dtype)
        if Y.ndim != 2 or Y.shape[1] != n_outputs:
            raise ValueError(
                f"cross_entropy targets have shape {Y.shape}; give integer labels of shape "
                f"(n_samples,) or one-hot rows of shape (n_samples, {n_outputs})"
            )
        if (Y < 0).any() or not np.allclose(Y.sum(axis=1), 1.0, atol=1e-6):
            raise ValueError("cross_entropy one-hot targets must be non-negative rows summing to 1")
        return np.ascontiguousarray(Y, dtype=dtype)

    def metric(self, a: Array, Y: Array, w: Array | None = None) -> float:
        return accuracy(Y.argmax(axis=1), a.argmax(axis=1), w)


class BinaryCrossEntropy(Loss):
    """Sigmoid cross-entropy summed over outputs, averaged over samples.

    ``-1/n sum_i sum_k [y log sigma(z) + (1 - y) log(1 - sigma(z))]``, computed as
    ``softplus(z) - y z`` with the stable ``softplus(z) = max(z, 0) + log1p(exp(-|z|))``;
    the fused delta is ``(sigma(z) - y) / n``. Targets are 0/1 (or probabilities), shape (n,)
    for one output or (n, k) for k independent outputs (multi-label).
    """

    name = "binary_cross_entropy"
    fused = True
    per_sample = True
    value_needs = ("z",)
    requires_output_activation = True
    output_activation = "sigmoid"
    is_classification = True
    metric_name = "accuracy"

    def value(self, z: Array, a: Array, Y: Array) -> float:
        softplus = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
        return float(softplus.sum() - np.vdot(Y, z)) / z.shape[0]

    def sample_values(self, z: Array, a: Array, Y: Array) -> Array:
        softplus = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
        return (softplus - Y * z).sum(axis=1)

    def prepare_targets(self, y: Any, n_outputs: int, dtype: Any) -> Array:
        Y = super().prepare_targets(y, n_outputs, dtype)
        if (Y < 0).any() or (Y > 1).any():
            raise ValueError("binary_cross_entropy targets must lie in [0, 1] (labels 0 and 1)")
        return Y

    def metric(self, a: Array, Y: Array, w: Array | None = None) -> float:
        """The fraction of samples whose every output is right (subset accuracy for multi-label
        rows, as scikit-learn's ``accuracy_score``)."""
        return accuracy(Y > 0.5, a > 0.5, w)


class Poisson(Loss):
    """Half the Poisson deviance, with the log link: the loss of regression on counts.

    ``1/n sum_i sum_k [y log(y / mu) - y + mu]`` with ``mu = a = exp(z)`` and ``0 log 0 = 0``,
    for targets y >= 0: scikit-learn's ``MLPRegressor(loss="poisson")``, whose ``loss_`` is
    this value (the terms ``y log y - y``, which do not depend on the network, included: a
    perfect fit has loss 0; scikit-learn's ``HalfPoissonLoss`` leaves them out). Up to those
    terms it is the negative log-likelihood of y ~ Poisson(mu). It is computed as
    ``(a - y) + y (log y - z)``, from ``z = log mu`` (finite where mu underflows to 0) and in
    an order that keeps a near-perfect fit's small deviance accurate. The fused delta is
    ``dLoss/dz = (exp(z) - y) / n``, the canonical link's ``(a - y) / n``.

    The output is ``exp`` (required: the value reads log mu from z). Targets of shape (n,) or
    (n, k); all zero is allowed (the fit drives mu towards 0), as in scikit-learn. The metric
    is R^2, the regressor's ``score`` in scikit-learn whatever its loss (and what its early
    stopping watches).
    """

    name = "poisson"
    fused = True
    per_sample = True
    value_needs = ("z", "a")
    requires_output_activation = True
    output_activation = "exp"

    def value(self, z: Array, a: Array, Y: Array) -> float:
        return float(self.sample_values(z, a, Y).sum()) / z.shape[0]

    def sample_values(self, z: Array, a: Array, Y: Array) -> Array:
        log_y = np.log(np.where(Y > 0, Y, 1.0))  # y log y is 0 at y = 0: any finite log will do
        deviance = np.subtract(log_y, z, out=log_y)
        deviance *= Y
        deviance += a
        deviance -= Y
        return deviance.sum(axis=1)

    def prepare_targets(self, y: Any, n_outputs: int, dtype: Any) -> Array:
        Y = super().prepare_targets(y, n_outputs, dtype)
        negative = np.flatnonzero((Y < 0).any(axis=1))
        if negative.size:
            row = int(negative[0])
            raise ValueError(f"poisson targets must be non-negative (counts or rates); row {row} "
                             f"holds {float(Y[row].min()):g}")
        check_deviance_fits(Y)
        return Y


def check_deviance_fits(Y: Array) -> None:
    """Raise if the Poisson deviance of ``Y`` at mu = 1, about ``sum y log y``, overflows its
    dtype: such targets (or a float32 network's above its largest e^88) cannot be fitted."""
    if Y.size == 0 or Y.dtype.kind != "f":
        return
    biggest = float(np.max(Y))
    largest = float(np.finfo(Y.dtype).max)
    if biggest * max(math.log(max(biggest, 1.0)), 1.0) > largest / Y.size:
        wider = " or use a float64 network" if Y.dtype != np.float64 else ""
        raise ValueError(
            f"the targets hold {biggest:.4g}: their Poisson deviance over {Y.shape[0]} rows "
            f"overflows {Y.dtype.name} (largest {largest:.4g}); rescale y (the deviance scales "
            f"with it){wider}")


LOSSES: dict[str, type[Loss]] = {
    cls.name: cls for cls in (SquaredError, MSE, CrossEntropy, BinaryCrossEntropy, Poisson)
}
_ALIASES = {"sse": "squared_error", "categorical_cross_entropy": "cross_entropy",
            "log_loss": "cross_entropy", "bce": "binary_cross_entropy"}


def get_loss(spec: str | Loss) -> Loss:
    """Return the loss named by ``spec`` (or ``spec`` itself); unknown names list the valid ones."""
    if isinstance(spec, Loss):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"loss must be a name ({', '.join(sorted(LOSSES))}) or a Loss, got {spec!r}")
    key = _ALIASES.get(spec.lower(), spec.lower())
    if key not in LOSSES:
        raise unknown_name_error("loss", spec, LOSSES)
    return LOSSES[key]()


def row_scale(w: Array, dtype: Any = np.float64) -> Array:
    """The factors ``n w / sum(w)`` that turn a batch's mean into its ``w``-weighted mean.

    Multiplying row i of the unweighted output delta (which carries 1/n) by them gives the
    delta of ``sum_i w_i loss_i / sum_i w_i``. A batch whose weights are all 0 gets factors 0
    (it contributes no data gradient; weight decay still applies).
    """
    total = float(w.sum())
    scale = w * (w.shape[0] / total) if total > 0 else np.zeros_like(w)
    return scale.astype(dtype, copy=False)
