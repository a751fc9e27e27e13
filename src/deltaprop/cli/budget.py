"""The memory a command would need, estimated before it allocates anything: the library's
estimate and refusal (:mod:`deltaprop.tuning.budget`, their one owner), checked against this
machine's memory as read through this module (so that a test can stand in for the machine)."""

from __future__ import annotations

from deltaprop.tuning import budget
from deltaprop.tuning.budget import (
    PARAMETER_COPIES,
    UNIT_COPIES,
    format_bytes,
    network_bytes,
    parameter_count,
    physical_memory,
)


def check_fits(needed: int, what: str) -> None:
    """:func:`deltaprop.tuning.budget.check_fits` against :func:`physical_memory`."""
    budget.check_fits(needed, what, physical_memory())


__all__ = ["PARAMETER_COPIES", "UNIT_COPIES", "check_fits", "format_bytes", "network_bytes",
           "parameter_count", "physical_memory"]
