"""The learning-rate range test's curve: loss against rate, the suggested rate marked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from deltaprop.plot._figure import (
    LEGEND_SIZE,
    OKABE_ITO,
    WIDE,
    PathLike,
    _finish,
    _label_axes,
    _new_figure,
    _require_matplotlib,
)
from deltaprop.plot.history import _gaps
from deltaprop.tuning.lr_find import LRFindResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def lr_find(result: LRFindResult, *, path: PathLike = None, title: str | None = None) -> Figure:
    """The range test of :func:`deltaprop.tuning.lr_find`: each step's loss (faint) and the
    smoothed loss against the rate on a log axis, the suggested rate as a dashed line.

    Parameters
    ----------
    result : LRFindResult
    path, title
        As in :func:`deltaprop.plot.loss`.

    Returns
    -------
    Figure
        The loss axis is cut above twice the first smoothed loss, so that the explosion at the
        end does not flatten the part that matters.
    """
    _require_matplotlib()
    if not isinstance(result, LRFindResult):
        raise TypeError(f"expected the LRFindResult of lr_find, got {type(result).__name__}")
    rates, raw, smoothed = (np.asarray(a, dtype=float) for a in
                            (result.rates, result.losses, result.smoothed))
    if rates.size < 2 or not (rates.size == raw.size == smoothed.size):
        raise ValueError(f"the result holds {rates.size} rates, {raw.size} losses and "
                         f"{smoothed.size} smoothed losses: nothing consistent to draw")
    raw, smoothed = _gaps(raw), _gaps(smoothed)
    if np.isnan(smoothed).all():
        raise ValueError("no smoothed loss is finite: nothing to draw")
    fig, ax = _new_figure(WIDE)
    ax.plot(rates, raw, color=OKABE_ITO[5], lw=1.0, alpha=0.6, label="loss of each step")
    ax.plot(rates, smoothed, color=OKABE_ITO[0], lw=2.4, label="smoothed loss")
    ax.axvline(result.suggestion, color=OKABE_ITO[3], ls="--", lw=1.8,
               label=f"suggested rate {result.suggestion:.2g}")
    ax.set_xscale("log")
    finite = smoothed[np.isfinite(smoothed)]
    top = 2 * finite[0] if finite[0] > 0 else finite.max()
    if top > np.nanmin(raw):  # else the cut would hide everything
        ax.set_ylim(top=top)
    _label_axes(ax, f"learning rate ({result.optimizer}, log scale)", "loss")
    fig.legend(loc="outside lower center", ncols=3, fontsize=LEGEND_SIZE, frameon=False)
    return _finish(fig, ax, title or "Learning-rate range test", path)
