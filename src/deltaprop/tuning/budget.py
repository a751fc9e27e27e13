"""The memory a run would need, estimated before it allocates anything: a trial of ``hidden
"100000000"`` (``deltaprop train --hidden 100000000``, ``gradcheck --rows 1000000000000``) is
refused with the figure, not answered by a MemoryError (or the kernel's out-of-memory killer)
half-way through. ``deltaprop train``, ``deltaprop sweep`` and :func:`deltaprop.sweep` all
refuse a network here, each naming the option as its caller does.

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

import numpy as np

from deltaprop.evaluation import PREDICT_CHUNK
from deltaprop.tuning.options import KEYWORDS, Wording

# Training holds each parameter about six times: the weights, their gradient, Adam's two
# moments, the best weights kept (early stopping, restarts) and the copy a checkpoint writes.
PARAMETER_COPIES = 6
# And each unit about four times per row in flight: z, a, delta and a dropout mask or the
# matrix product's temporary.
UNIT_COPIES = 4
UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
MLP_ITEMSIZE = np.dtype(np.float32).itemsize  # dp.MLP's default dtype, the one training uses


def network_bytes(sizes: Sequence[int], rows: int, itemsize: int) -> int:
    """The estimate above for layers of widths ``sizes`` (inputs first), ``rows`` at once,
    numbers of ``itemsize`` bytes (Python integers: no overflow, whatever the widths)."""
    return itemsize * (PARAMETER_COPIES * parameter_count(sizes) + UNIT_COPIES * rows * sum(sizes))


def parameter_count(sizes: Sequence[int]) -> int:
    """Weights and biases of dense layers of widths ``sizes``: sum of (n_in + 1) n_out."""
    return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def rows_in_flight(n_train: int, batch_size: int | str) -> int:
    """The rows a network holds at once training on ``n_train`` rows: a batch (``"full"``: all
    of them), or an evaluation chunk of the training rows, whichever is larger."""
    batch = n_train if batch_size == "full" else min(int(batch_size), n_train)
    return max(batch, min(n_train, PREDICT_CHUNK))


def physical_memory() -> int | None:
    """This machine's memory in bytes (None where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(needed: int, what: str, available: int | None = None) -> None:
    """Refuse (ValueError) ``what`` when it would need more than ``available`` bytes (None:
    this machine's physical memory; nothing is refused where the system does not say it)."""
    available = physical_memory() if available is None else available
    if available is not None and needed > available:
        raise ValueError(f"{what} would need {format_bytes(needed)}; this machine has "
                         f"{format_bytes(available)}")


def check_network_fits(sizes: Sequence[int], n_train: int, batch_size: int | str, hidden: str, *,
                       at_once: int = 1, wording: Wording = KEYWORDS,
                       available: int | None = None) -> None:
    """Refuse, before it is built, a network of widths ``sizes`` (``hidden`` the hidden widths
    as given) too large to train on ``n_train`` rows in batches of ``batch_size``, ``at_once``
    networks at a time (restarts run together), naming ``hidden`` as ``wording`` does.

    Raises
    ------
    ValueError
        ``hidden '100000000' (600,000,002 parameters, 45 rows at once) would need 2.25 GiB;
        this machine has 1 GiB`` (``--hidden 100000000 (...)`` under :data:`FLAGS`).
    """
    rows = rows_in_flight(n_train, batch_size)
    needed = at_once * network_bytes(sizes, rows, MLP_ITEMSIZE)
    check_fits(needed, f"{wording.value('hidden', hidden)} ({parameter_count(sizes):,} "
                       f"parameters, {rows} rows at once)", available)


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
