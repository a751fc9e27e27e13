"""Shared by the plots: sizes, palette, and building, labelling and saving a figure."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PathLike = str | os.PathLike[str] | None
Predictor = Callable[[np.ndarray], Any] | Any  # a callable, or anything with .predict

DPI = 150
WIDE, SQUARE = (7.0, 4.5), (6.4, 6.2)
TITLE_SIZE, LABEL_SIZE, TICK_SIZE, LEGEND_SIZE = 14, 12, 11, 11
# Okabe & Ito's palette, told apart with the common colour-vision deficiencies (its black is
# left for point edges and boundary lines).
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # a second cue per class, for grey print too


def _require_matplotlib() -> None:
    """Import matplotlib on first use, not with the module: it is an optional extra."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError("deltaprop.plot needs matplotlib: pip install 'deltaprop[plot]'") from error


def _new_figure(size: tuple[float, float]) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    # constrained layout keeps labels, colorbars and outside legends on the canvas
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.tick_params(which="both", labelsize=TICK_SIZE)  # explicit sizes: the user's rcParams stay untouched
    return fig, ax


def _label_axes(ax: Axes, xlabel: str, ylabel: str, epochs: np.ndarray | None = None) -> None:
    """Axis labels; with ``epochs``, whole-number epoch ticks (one epoch: centred, not 0.96...)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    if epochs is not None:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        if epochs.size == 1:
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)


def _finish(fig: Figure, ax: Axes, title: str, path: PathLike, grid: bool = True) -> Figure:
    ax.set_title(title, fontsize=TITLE_SIZE)
    if grid:
        ax.grid(True, alpha=0.3)
    if path is not None:
        fig.savefig(path, dpi=DPI)
    return fig
