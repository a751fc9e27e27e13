"""Optimizers (simplest first: the per-step ones, then full-batch L-BFGS) and learning-rate
schedules."""

from typing import Any

from deltaprop._validation import unknown_name_error
from deltaprop.optim.adam import Adam
from deltaprop.optim.base import Optimizer
from deltaprop.optim.lbfgs import LBFGS
from deltaprop.optim.schedules import Constant, Cosine, InverseScaling, Schedule, StepDecay, get_schedule
from deltaprop.optim.sgd import SGD

OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "lbfgs": LBFGS}


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


def optimizer_from_config(config: dict[str, Any]) -> Optimizer:
    """The optimizer that :meth:`Optimizer.to_config` described."""
    classes = {cls.__name__: cls for cls in OPTIMIZERS.values()}
    if config.get("class") not in classes:
        raise ValueError(f"unknown optimizer class {config.get('class')!r}; known: {sorted(classes)}")
    cls = classes[config["class"]]
    if cls is LBFGS:  # no schedule: the line search chooses each step
        return cls(**config["params"])
    schedule = dict(config.get("schedule") or {"name": "constant"})
    name = schedule.pop("name")
    return cls(**config["params"], schedule=get_schedule(name, **schedule))


__all__ = [
    "SGD", "Adam", "LBFGS", "Optimizer", "Schedule", "Constant", "InverseScaling", "StepDecay", "Cosine",
    "get_schedule", "get_optimizer", "optimizer_from_config", "OPTIMIZERS",
]
