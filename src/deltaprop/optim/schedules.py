"""Learning-rate schedules: eta as a function of the step count t and the epoch."""

from __future__ import annotations

import math
from typing import Any

from deltaprop._validation import check_fraction, check_positive, unknown_name_error


class Schedule:
    """Base class: ``lr(lr0, step, epoch) -> eta``. ``step`` counts updates from 1."""

    name = "schedule"

    def __call__(self, lr0: float, step: int, epoch: int) -> float:
        raise NotImplementedError

    def start(self, total_epochs: int) -> None:
        """Told the number of epochs of the run about to start (for cosine)."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


class Constant(Schedule):
    """eta_t = eta_0."""

    name = "constant"

    def __call__(self, lr0: float, step: int, epoch: int) -> float:
        return lr0


class InverseScaling(Schedule):
    """eta_t = eta_0 / t^p, t the update count from 1 (the notes' alpha_t; scikit-learn's
    ``invscaling`` counts samples instead of updates)."""

    name = "invscaling"

    def __init__(self, power_t: float = 0.5) -> None:
        self.power_t = check_positive("power_t", power_t, allow_zero=True)

    def __call__(self, lr0: float, step: int, epoch: int) -> float:
        return lr0 / max(step, 1) ** self.power_t


class StepDecay(Schedule):
    """eta = eta_0 * gamma^floor(epoch / step_size)."""

    name = "step"

    def __init__(self, step_size: int = 10, gamma: float = 0.1) -> None:
        self.step_size = check_positive("step_size", step_size, integer=True)
        self.gamma = check_fraction("gamma", gamma, high_inclusive=True)

    def __call__(self, lr0: float, step: int, epoch: int) -> float:
        return lr0 * self.gamma ** (epoch // self.step_size)


class Cosine(Schedule):
    """eta = min_lr + (eta_0 - min_lr) (1 + cos(pi epoch / T)) / 2, T the number of epochs
    (taken from ``fit`` when not given)."""

    name = "cosine"

    def __init__(self, total_epochs: int | None = None, min_lr: float = 0.0) -> None:
        self.total_epochs = None if total_epochs is None else check_positive(
            "total_epochs", total_epochs, integer=True
        )
        self.min_lr = check_positive("min_lr", min_lr, allow_zero=True)
        self._T = self.total_epochs

    def start(self, total_epochs: int) -> None:
        self._T = self.total_epochs or total_epochs

    def __call__(self, lr0: float, step: int, epoch: int) -> float:
        T = max(self._T or 1, 1)
        return self.min_lr + (lr0 - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(epoch, T) / T))


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Constant, InverseScaling, StepDecay, Cosine)
}


def get_schedule(spec: str | Schedule | None, **params: Any) -> Schedule:
    """Return the schedule named by ``spec`` (``None``: constant)."""
    if spec is None:
        return Constant()
    if isinstance(spec, Schedule):
        return spec
    key = {"inverse_scaling": "invscaling", "step_decay": "step"}.get(str(spec).lower(), str(spec).lower())
    if key not in SCHEDULES:
        raise unknown_name_error("learning-rate schedule", spec, SCHEDULES)
    return SCHEDULES[key](**params)
