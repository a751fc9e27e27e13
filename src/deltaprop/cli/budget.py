"""The memory a command would need, estimated before it allocates anything: ``--hidden
100000000`` or ``gradcheck --rows 1000000000000`` is refused with the figure, not answered by a
MemoryError (or the kernel's out-of-memory killer) half-way through.

The estimate of a network in use, in bytes, is::

    itemsize * (PARAMETER_COPIES * parameters + UNIT_COPIES * rows * units)

``parameters`` the weights and biases of the layers ``sizes``; ``units`` the sum of ``sizes``;
``rows`` the rows in flight at once (a batch, or an evaluation chunk). It is a floor, not a
bound: it leaves out the data and Python's own needs, and it is refused only above the
machine's physical memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

# Training holds each parameter about six times: the weights, their gradient, Adam's two
# moments, the best weights kept (early stopping, restarts) and the copy a checkpoint writes.
PARAMETER_COPIES = 6
# And each unit about four times per row in flight: z, a, delta and a dropout mask or the
# matrix product's temporary.
UNIT_COPIES = 4
UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def network_bytes(sizes: Sequence[int], rows: int, itemsize: int) -> int:
    """The estimate above for layers of widths ``sizes`` (inputs first), ``rows`` at once,
    numbers of ``itemsize`` bytes (Python integers: no overflow, whatever the widths)."""
    return itemsize * (PARAMETER_COPIES * parameter_count(sizes) + UNIT_COPIES * rows * sum(sizes))


def parameter_count(sizes: Sequence[int]) -> int:
    """Weights and biases of dense layers of widths ``sizes``: sum of (n_in + 1) n_out."""
    return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def physical_memory() -> int | None:
    """This machine's memory in bytes (None where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(needed: int, what: str) -> None:
    """Refuse (ValueError) ``what`` when it would need more than the physical memory."""
    available = physical_memory()
    if available is not None and needed > available:
        raise ValueError(f"{what} would need {format_bytes(needed)}; this machine has "
                         f"{format_bytes(available)}")


def format_bytes(n: int) -> str:
    """``1288490188800`` -> ``'1.17 TiB'``: about three significant figures, binary units."""
    unit = 0
    while unit < len(UNITS) - 1 and n >= 1024 ** (unit + 1):
        unit += 1
    if n >= 1024 ** len(UNITS):  # past exbibytes (Python integers know no bound)
        return f"about 10^{len(str(n)) - 1} bytes"
    if unit == 0:
        return f"{n} bytes"
    value = n / 1024**unit
    return f"{value:.3g} {UNITS[unit]}" if value < 100 else f"{value:.0f} {UNITS[unit]}"
