"""Gradient checks: backpropagation against central finite differences, in float64.

For each parameter entry theta_j the numerical derivative is the fourth-order central difference
``(-L(theta + 2h e_j) + 8 L(theta + h e_j) - 8 L(theta - h e_j) + L(theta - 2h e_j)) / (12 h)``
(``order=2`` gives the classic ``(L(theta + h e_j) - L(theta - h e_j)) / (2 h)``), and the error
is ``|analytic - numeric| / max(|analytic| + |numeric|, floor)``. Fourth order lets h be larger
(1e-4), so the rounding noise of the difference, about ``eta = 4 eps_mach |L| / h``, is small,
while the truncation error (of order h^4) vanishes. Where the loss amplifies rounding (a
BatchNorm over two rows), the noise is measured instead: the largest change of L between
points a few ulps apart, over h. The floor is ``eta / tolerance``: an entry
whose true gradient is below the noise (a bias in front of a BatchNorm has gradient exactly 0)
passes only if backprop and the difference agree to within that noise. The random-direction check
compares ``grad . d`` with ``(L(theta + h d) - L(theta - h d)) / (2 h)`` for random unit
directions ``d``: two loss evaluations each, whatever the number of parameters.

Kinks. ReLU (and leaky ReLU, ELU, sign, step: each activation's ``kinks``) is not
differentiable where z crosses a kink, nor is the L1 penalty where a weight crosses 0. A
difference whose points straddle a kink measures neither side's slope, and in a trained network
some unit's z usually lies within 2h of 0 on some row: that, not backpropagation, made checks of
correct ReLU networks fail. So every point of a stencil is first compared with the centre: the
side of every kink each pre-activation (and, with L1, each weight) is on. If one differs, a
one-sided stencil of the same order on either side is tried, then both again with h divided by
8 (twice). An entry whose every stencil straddles a kink sits on one (z exactly at it, where
backpropagation takes a one-sided derivative by convention and no difference can check it): it
is not compared, and the report counts it under ``skipped``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deltaprop._validation import check_data, check_positive
from deltaprop.activations import Activation
from deltaprop.engine.compiled.choice import compiled_engine, uncovered
from deltaprop.engine.step import NumpyEngine
from deltaprop.layers import Dropout
from deltaprop.losses import Loss, row_scale
from deltaprop.network import Network


@dataclass
class GradcheckReport:
    """Largest relative error per parameter (by dotted name) and overall.

    Attributes
    ----------
    errors : dict of str to float
        Max relative error over the compared entries of each parameter.
    skipped : dict of str to int
        Entries of each parameter not compared because they sit on a kink (see the module
        docstring); absent when none.
    checked : int
        Entries and directions compared.
    max_error : float
        The largest of them (and of the random-direction checks).
    direction_errors : list of float
        Relative errors of the random-direction checks.
    tolerance : float
    passed : bool
        ``max_error < tolerance`` with at least one entry compared.
    """

    errors: dict[str, float] = field(default_factory=dict)
    direction_errors: list[float] = field(default_factory=list)
    tolerance: float = 1e-6
    skipped: dict[str, int] = field(default_factory=dict)
    checked: int = 0

    @property
    def max_error(self) -> float:
        return max([*self.errors.values(), *self.direction_errors, 0.0])

    @property
    def passed(self) -> bool:
        """Every compared entry within tolerance, and at least one compared."""
        return self.max_error < self.tolerance and self.checked > 0

    def __repr__(self) -> str:
        rows = "\n".join(f"  {name:<20} {error:.2e}" + self._skipped_note(name)
                         for name, error in self.errors.items())
        verdict = "passed" if self.passed else "FAILED"
        return f"GradcheckReport({verdict}, max relative error {self.max_error:.2e}\n{rows}\n)"

    def _skipped_note(self, name: str) -> str:
        count = self.skipped.get(name, 0)
        return f"  ({count} entr{'y' if count == 1 else 'ies'} at a kink, not compared)" if count else ""


def relative_error(analytic: Any, numeric: Any, floor: float = 1e-8) -> np.ndarray:
    """|a - n| / max(|a| + |n|, floor), elementwise."""
    return np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), floor)


def gradcheck(
    net: Network,
    X: Any,
    Y: Any,
    *,
    loss: str | Loss = "squared_error",
    l2: float = 0.0,
    l1: float = 0.0,
    eps: float = 1e-4,
    order: int = 4,
    tolerance: float = 1e-6,
    max_entries: int | None = None,
    directions: int = 0,
    seed: int = 0,
    sample_weight: Any = None,
    engine: str = "numpy",
) -> GradcheckReport:
    """Compare backpropagated gradients with central differences, in float64.

    Parameters
    ----------
    net : Network
        Checked on a float64 copy; the network itself is not changed. (For a :class:`Model`,
        pass ``model.net`` with ``X = model.network_inputs(rows)``.)
    X, Y : array-like
        One batch and its targets.
    loss, l2, l1
        As for :meth:`Network.loss_and_gradients`.
    eps : float
        The step h.
    order : {2, 4}
        Order of the central difference (4: five-point stencil; 2: two-point).
    tolerance : float
        ``report.passed`` is ``max_error < tolerance``.
    max_entries : int, optional
        Check at most this many entries of each parameter, chosen at random (all by default).
    directions : int
        Also run this many random-direction checks.
    seed : int >= 0
        For the entry sample, the directions and any dropout mask.
    sample_weight : array-like of shape (n_samples,), optional
        As for :meth:`Network.loss_and_gradients`.
    engine : {"numpy", "compiled"}
        Whose backward pass is checked: the NumPy engine's (the reference) or the compiled
        engine's (:mod:`deltaprop.engine.compiled`), which must cover the network.

    Returns
    -------
    GradcheckReport

    Notes
    -----
    Training mode is used (BatchNorm with batch statistics). Dropout masks are drawn once and
    held fixed, so the loss is a deterministic function of the parameters.
    """
    _check_network(net)
    seed = check_positive("seed", seed, integer=True, allow_zero=True)
    eps = check_positive("eps", eps)
    if order not in _STENCILS:
        raise ValueError(f"order must be 2 or 4, got {order!r}")
    check = net.astype(np.float64)
    check.set_rng(np.random.default_rng(seed))
    tolerance = check_positive("tolerance", tolerance)
    l2, l1 = check_positive("l2", l2, allow_zero=True), check_positive("l1", l1, allow_zero=True)
    directions = check_positive("directions", directions, integer=True, allow_zero=True)
    max_entries = None if max_entries is None else check_positive("max_entries", max_entries, integer=True)
    loss_object = check.check_loss(loss)
    X, Y, w = check_data(check, loss_object, X, Y, sample_weight)
    scale = None if w is None else row_scale(w)
    check.use_loss(loss_object)
    backward = _engine(engine, check, loss_object, l2, l1)  # fit's backward pass, without updates
    dropouts = [layer for layer in check.layers if isinstance(layer, Dropout)]
    rng = np.random.default_rng(seed)
    report = GradcheckReport(tolerance=tolerance)
    with check.frozen_running_stats():
        backward.loss_and_gradient(X, Y, scale)  # draws the dropout masks
        for layer in dropouts:
            layer.freeze_mask = True
        analytic = check.grad.copy()
        loss_at = _loss_at(backward, check.theta, X, Y, scale)
        theta0 = check.theta.copy()
        noise = max(4 * np.finfo(np.float64).eps * max(abs(loss_at(theta0)), 1.0),
                    _jitter(loss_at, theta0, rng))
        differ = _Differences(loss_at, _sides(check, X, l1), theta0, eps, order, noise, tolerance)
        for name, part in check.parameter_slices.items():
            entries = np.arange(part.start, part.stop)
            if max_entries is not None and entries.size > max_entries:
                entries = rng.choice(entries, size=max_entries, replace=False)
            _compare_entries(report, name, analytic, entries, differ)
        for _ in range(directions):
            d = rng.standard_normal(theta0.size)
            d /= np.linalg.norm(d)
            slope = differ.slope(d)
            if slope is not None:
                report.checked += 1
                report.direction_errors.append(float(relative_error(np.dot(analytic, d), *slope)))
    return report


def _compare_entries(report: GradcheckReport, name: str, analytic: np.ndarray, entries: np.ndarray,
                     differ: _Differences) -> None:
    """The largest relative error of backprop against the difference over ``entries`` of one
    parameter, into ``report``; entries on a kink are counted, not compared."""
    worst, skipped = 0.0, 0
    for j in entries:
        unit = np.zeros_like(analytic)
        unit[j] = 1.0
        slope = differ.slope(unit)
        if slope is None:
            skipped += 1
            continue
        worst = max(worst, float(relative_error(analytic[j], *slope)))
    report.errors[name] = worst
    report.checked += entries.size - skipped
    if skipped:
        report.skipped[name] = skipped


def _check_network(net: Any) -> None:
    """Refuse what is not a Network, saying what to pass (a Model's rows and labels are not
    the network's inputs and targets: the check runs on what backpropagation sees)."""
    if isinstance(net, Network):
        return
    if isinstance(getattr(net, "net", None), Network) and hasattr(net, "network_inputs"):
        raise TypeError(f"gradcheck checks a Network, got a {type(net).__name__} (a network "
                        "with its preprocessing); pass model.net, with X the network's inputs "
                        "(model.network_inputs(rows)) and Y its targets (class indices for "
                        "cross_entropy, standardized values for a regression)")
    raise TypeError(f"gradcheck checks a Network, got {repr(net)[:40]} ({type(net).__name__})")


# Stencils, as (offsets in units of h, weights); the slope is sum(w L) / h. For each order, the
# central one, then one-sided ones (forward, backward) for a point near a kink.
_CENTRAL = {
    2: ((1.0, -1.0), (0.5, -0.5)),
    4: ((2.0, 1.0, -1.0, -2.0), (-1.0 / 12, 8.0 / 12, -8.0 / 12, 1.0 / 12)),
}
_FORWARD = {
    2: ((0.0, 1.0, 2.0), (-1.5, 2.0, -0.5)),
    4: ((0.0, 1.0, 2.0, 3.0, 4.0), (-25.0 / 12, 48.0 / 12, -36.0 / 12, 16.0 / 12, -3.0 / 12)),
}
_STENCILS = {order: (central, _FORWARD[order], tuple(tuple(-v for v in part) for part in _FORWARD[order]))
             for order, central in _CENTRAL.items()}
_SHRINKS = (1.0, 1.0 / 8, 1.0 / 64)
# How far the rounding error of a stencil may exceed its bound from the measured noise: 80
# correct networks (5 activations, trained and not, 128 and 32-32 units, digits) reached 1.3x
# the bound at 2; 4 leaves them at a third of the tolerance or less.
NOISE_MARGIN = 4.0  # h, then smaller steps, for a kink closer than the stencil


class _Differences:
    """Derivatives of the loss by finite differences that stay on one side of every kink.

    ``sides(point)`` says which side of each kink the network is on at ``point`` (None when
    the network has no kink). ``noise`` is the rounding error of one loss evaluation: a stencil
    with weights w and step h then errs by up to ``sum |w| noise / h``, and the relative error's
    floor is ``NOISE_MARGIN`` times that over the tolerance (the noise was measured on a few
    points, the stencils use thousands).
    """

    def __init__(self, loss_at: Any, sides: Any, theta: np.ndarray, eps: float, order: int,
                 noise: float, tolerance: float) -> None:
        self.loss_at, self.sides, self.theta, self.eps = loss_at, sides, theta, eps
        self.stencils, self.noise, self.tolerance = _STENCILS[order], noise, tolerance
        self.centre = None if sides is None else sides(theta)

    def slope(self, direction: np.ndarray) -> tuple[float, float] | None:
        """(the derivative along ``direction``, the relative error's floor for it), or None if
        every stencil straddles a kink."""
        for shrink in _SHRINKS:
            h = self.eps * shrink
            for offsets, weights in self.stencils:
                if self._one_sided_of_kinks(direction, h, offsets):
                    value = sum(w * self.loss_at(self.theta + k * h * direction)
                                for k, w in zip(offsets, weights)) / h
                    error = NOISE_MARGIN * sum(abs(w) for w in weights) * self.noise / h
                    return value, max(error / self.tolerance, 1e-12)
        return None

    def _one_sided_of_kinks(self, direction: np.ndarray, h: float, offsets: Any) -> bool:
        if self.sides is None:
            return True
        return all(k == 0.0 or self.sides(self.theta + k * h * direction) == self.centre for k in offsets)


def _sides(net: Network, X: np.ndarray, l1: float) -> Any:
    """A function of the parameters giving which side of every kink the network is on: the
    signs of z - k for each kink k of each layer's activation, and with L1 the weights' signs;
    None if there is no kink. (A forward pass of the float64 copy in training mode, with the
    running statistics and dropout masks held.)"""
    activations = [(layer, getattr(layer, "activation", None)) for layer in net.layers]
    kinked: list[tuple[Any, tuple[float, ...]]] = [
        (layer, f.kinks) for layer, f in activations if isinstance(f, Activation) and f.kinks]
    if not kinked and l1 == 0:
        return None

    def sides(point: np.ndarray) -> bytes:
        saved = net.theta.copy()
        net.theta[...] = point
        try:
            net.forward(X, training=True)
            parts = [np.sign(layer.z - kink) for layer, kinks in kinked for kink in kinks]
            parts += [np.sign(W) for W, _ in net.layout.decayed] if l1 else []
        finally:
            net.theta[...] = saved
        return b"".join(part.astype(np.int8).tobytes() for part in parts)

    return sides


def _jitter(loss_at: Any, theta: np.ndarray, rng: np.random.Generator, tries: int = 16) -> float:
    """How much the computed loss wobbles between neighbouring points a few ulps apart: the
    rounding noise a central difference divides by h. Usually about eps |L|; larger where the
    loss amplifies rounding (a BatchNorm over two rows), where assuming eps |L| would call
    the rounding noise of an exactly-zero gradient an error."""
    base = loss_at(theta)
    ulps = np.spacing(np.abs(theta)) + np.finfo(np.float64).tiny
    return max(abs(loss_at(theta + rng.integers(-4, 5, theta.size) * ulps) - base)
               for _ in range(tries))


def _engine(name: str, net: Network, loss: Loss, l2: float, l1: float) -> Any:
    """The engine whose ``loss_and_gradient`` is checked."""
    if name == "numpy":
        return NumpyEngine(net, loss, l2=l2, l1=l1)
    if name != "compiled":
        raise ValueError(f"engine must be 'numpy' or 'compiled', got {name!r}")
    reason = uncovered(net, loss, None)
    if reason is not None:
        raise ValueError(f"engine='compiled' cannot check this network: {reason}")
    return compiled_engine(net, loss, None, l2=l2, l1=l1)


def _loss_at(engine: Any, theta: np.ndarray, X: np.ndarray, Y: np.ndarray,
             scale: np.ndarray | None) -> Any:
    """The loss as a function of the parameters (``theta`` is put back after each call)."""

    def loss_at(point: np.ndarray) -> float:
        saved = theta.copy()
        theta[...] = point
        value = engine.loss_and_gradient(X, Y, scale)
        theta[...] = saved
        return value

    return loss_at
