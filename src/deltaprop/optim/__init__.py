"""Optimizers (simplest first) and learning-rate schedules."""

from typing import Any

from deltaprop._validation import unknown_name_error
from deltaprop.optim.adam import Adam
from deltaprop.optim.base import Optimizer
from deltaprop.optim.schedules import Constant, Cosine, InverseScaling, Schedule, StepDecay, get_schedule
from deltaprop.optim.sgd import SGD

OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam}


def get_optimizer(spec: "str | Optimizer | None", **params: Any) -> Optimizer:
    """Return the optimizer named by ``spec`` with ``params`` (``None``: Adam with lr 1e-3)."""
    if spec is None:
        return Adam(**params)
    if isinstance(spec, Optimizer):
        return spec
    key = str(spec).lower()
    if key not in OPTIMIZERS:
        raise unknown_name_error("optimizer", spec, OPTIMIZERS)
    return OPTIMIZERS[key](**params)


__all__ = [
    "SGD", "Adam", "Optimizer", "Schedule", "Constant", "InverseScaling", "StepDecay", "Cosine",
    "get_schedule", "get_optimizer", "OPTIMIZERS",
]
