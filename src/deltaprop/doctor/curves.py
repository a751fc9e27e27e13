"""The loss-curve detectors, read from the History of the run: a rate too high (divergence, a
loss that climbs back or swings), a rate too low (a straight, slow descent), a plateau (flat
and high, with a tiny gradient) and overfitting (validation loss rising while the training
loss falls)."""

from __future__ import annotations

import math

import numpy as np

from deltaprop.doctor import thresholds as t
from deltaprop.doctor.findings import Finding
from deltaprop.doctor.observe import Observations

Array = np.ndarray
LOWER_RATE = "lower the learning rate (try 10x smaller), or use adam"


def _losses(obs: Observations) -> Array | None:
    history = obs.history
    if history is None or not len(history.loss):
        return None
    return np.asarray(history.loss, dtype=np.float64)


def _curve(losses: Array) -> dict[str, float]:
    """The numbers the rate detectors read, in units of the progress the run made (the fall
    from the first epoch's loss to the lowest; at least RISE_FLOOR of the first loss, so a run
    that never fell is measured against its own size)."""
    first, lowest, last = losses[0], losses.min(), losses[-1]
    scale = max(first - lowest, t.RISE_FLOOR * abs(first), 1e-300)
    steps = np.diff(losses)
    # only the jumps of more than JUMP of the loss count: minibatch noise on a flat stretch
    # moves the epoch loss by about 1%
    jumps = steps[steps > t.JUMP * np.abs(losses[:-1])]
    return {"first": first, "lowest": lowest, "last": last,
            "rise": (last - lowest) / scale, "climb": float(jumps.sum()) / scale}


def lr_too_high(obs: Observations) -> list[Finding]:
    """``lr_too_high``: training diverged (an error), or the loss ended RISE of its progress
    above its lowest, or climbed back up CLIMB of its progress in all (warnings)."""
    losses = _losses(obs)
    if losses is None:
        return []
    if obs.history.stop_reason == "diverged" or not np.isfinite(losses).all():
        finite = losses[np.isfinite(losses)]
        return [Finding("lr_too_high", "error", None,
                        "the loss became infinite or NaN: training diverged",
                        {"epochs": int(losses.size), "last_finite_loss":
                         float(finite[-1]) if finite.size else None,
                         "stop_reason": obs.history.stop_reason}, LOWER_RATE)]
    if losses.size < 2:
        return []
    curve = _curve(losses)
    if curve["rise"] <= t.RISE and curve["climb"] <= t.CLIMB:
        return []
    rose = curve["rise"] > t.RISE
    message = ("the loss climbed back up after reaching its lowest" if rose else
               "the loss swings up and down from epoch to epoch instead of falling")
    return [Finding("lr_too_high", "warning", None, message + ": the steps overshoot",
                    _rounded(curve), LOWER_RATE)]


def lr_too_low(obs: Observations) -> list[Finding]:
    """``lr_too_low``: the loss fell in at least STEADY of the epochs, still fell at the end at
    least STILL_FALLING as fast as on average (a straight line: no sign of converging), lost
    less than SLOW_DROP of its first value, and the gradient is not tiny (at least
    TINY_GRADIENT times the loss's square root: else the steps are small because there is no slope, a
    plateau, not because the rate is)."""
    losses = _losses(obs)
    if losses is None or losses.size < t.MIN_EPOCHS or not np.isfinite(losses).all():
        return []
    falls = -np.diff(losses)
    average = falls.mean()
    late = falls[-max(1, falls.size // 4):].mean()
    drop = (losses[0] - losses[-1]) / abs(losses[0]) if losses[0] else 0.0
    steady = float((falls > 0).mean())
    evidence = _rounded({"first": losses[0], "last": losses[-1], "drop": drop, "steady": steady,
                         "late_over_average_fall": late / average if average > 0 else 0.0})
    sloped = _gradient_over_loss(obs) >= t.TINY_GRADIENT
    if not (average > 0 and sloped and steady >= t.STEADY and late >= t.STILL_FALLING * average
            and drop < t.SLOW_DROP):
        return []
    return [Finding("lr_too_low", "warning", None,
                    f"the loss falls steadily but slowly ({drop:.1%} in {losses.size} epochs) and "
                    "is still falling as fast as ever: the budget runs out long before it converges",
                    evidence, "raise the learning rate (try 10x larger), or use adam")]


def plateau(obs: Observations) -> list[Finding]:
    """``plateau``: the loss is at least HIGH of the constant predictor's, flat over the last
    quarter of the epochs (within FLAT), and the gradient at the current weights is below
    TINY_GRADIENT times the loss's square root: a saddle or plateau, not a minimum worth keeping."""
    losses = _losses(obs)
    if losses is not None:
        tail = losses[-max(2, losses.size // 4):]
        if losses.size < t.MIN_EPOCHS or not np.isfinite(tail).all():
            return []
        change = float(np.ptp(tail) / max(abs(tail.mean()), 1e-300))
        if change > t.FLAT:
            return []
    else:
        change = math.nan
    gradient = float(np.sqrt(np.sum(obs.grad_norms ** 2)))
    relative = _gradient_over_loss(obs)
    high = obs.loss_value / obs.baseline_loss if obs.baseline_loss > 0 else 0.0
    if not (high >= t.HIGH and relative < t.TINY_GRADIENT):
        return []
    return [Finding(
        "plateau", "warning", None,
        "the loss is flat and no better than predicting a constant, and the gradient is nearly "
        "zero: training is stuck on a plateau or a saddle point",
        _rounded({"loss": obs.loss_value, "constant_prediction_loss": obs.baseline_loss,
                  "gradient_norm": gradient, "gradient_over_sqrt_loss": relative,
                  "last_epochs_change": change}),
        "break the symmetry with a fresh random initialization (or --restarts), use relu or "
        "tanh instead of sigmoid, use adam, or standardize the inputs")]


def _gradient_over_loss(obs: Observations) -> float:
    """||gradient|| / sqrt(loss) at the current weights: about 1 for a network still
    learning, a hundredth or less on a plateau. (The square root keeps it free of the targets'
    units: a squared error grows as their square, its gradient as the targets.)"""
    gradient = float(np.sqrt(np.sum(obs.grad_norms ** 2)))
    return gradient / max(float(np.sqrt(abs(obs.loss_value))), 1e-300)


def overfitting(obs: Observations) -> list[Finding]:
    """``overfitting``: the validation loss over the last quarter of the epochs (its median:
    one noisy epoch is not a trend) is OVERFIT_RISE above its lowest, while the training loss
    kept falling after that epoch. Info only when early stopping kept the best epoch."""
    history, losses = obs.history, _losses(obs)
    if losses is None or len(history.val_loss) != losses.size or losses.size < t.MIN_EPOCHS:
        return []
    val = np.asarray(history.val_loss, dtype=np.float64)
    if not np.isfinite(val).all() or not np.isfinite(losses).all():
        return []
    best = int(np.argmin(val))
    late = float(np.median(val[-max(2, val.size // 4):]))
    rise = (late - val[best]) / max(abs(val[best]), 1e-300)
    if rise <= t.OVERFIT_RISE or losses[-1] >= losses[best]:
        return []
    kept = history.kept_epoch is not None and history.kept_epoch == best + 1
    evidence = _rounded({"best_epoch": best + 1, "val_loss_best": val[best], "val_loss_last": val[-1],
                         "val_loss_late_median": late,
                         "val_rise": rise, "train_loss_at_best": losses[best],
                         "train_loss_last": losses[-1]})
    return [Finding(
        "overfitting", "info" if kept else "warning", None,
        f"the validation loss rose {rise:.0%} after epoch {best + 1} while the training loss "
        "kept falling: the network is memorizing the training rows"
        + (" (early stopping kept that epoch's weights)" if kept else ""),
        evidence,
        "stop earlier (early stopping with a validation split), add l2 weight decay or dropout, "
        "use a smaller network, or get more data")]


def _rounded(values: dict[str, float]) -> dict[str, float | None]:
    """Four significant digits, NaN as None (JSON-ready)."""
    return {k: v if isinstance(v, int) else None if math.isnan(v) else float(f"{float(v):.4g}")
            for k, v in values.items()}
