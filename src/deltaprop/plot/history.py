"""Plots of what ``fit`` recorded: learning curves and per-layer gradient norms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from deltaprop.history import History
from deltaprop.plot._figure import (
    LABEL_SIZE,
    LEGEND_SIZE,
    OKABE_ITO,
    TICK_SIZE,
    WIDE,
    PathLike,
    _finish,
    _label_axes,
    _new_figure,
    _require_matplotlib,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LOSS_NAMES = {"cross_entropy": "cross-entropy", "binary_cross_entropy": "binary cross-entropy",
              "squared_error": "squared error", "mse": "MSE"}
METRIC_NAMES = {"r2": "$R^2$"}
DRAWABLE = 1e100  # larger values are drawn as gaps, like inf (a loss this large has diverged)
LEGEND_LAYERS = 9  # more layers than this are named by a colour scale: a legend would crowd out the axes


# -- learning curves -----------------------------------------------------------------------------
def loss(history: History, *, path: PathLike = None, title: str | None = None,
         log_scale: bool | str = "auto") -> Figure:
    """Training loss and, when recorded, validation loss and metric against the epoch.

    Parameters
    ----------
    history : History
        What ``fit`` returned (or :meth:`History.from_dict` rebuilt).
    path : str or path-like, optional
        Where to write the figure: PNG, or the format the extension names.
    title : str, optional
    log_scale : bool or "auto"
        "auto": a log loss axis when the positive losses span more than 1.5 decades.

    Returns
    -------
    Figure
        Loss axes, and a twin axes for the validation metric if there is one; the best epoch
        is a dotted line, a divergence a dash-dotted one.
    """
    _require_matplotlib()
    epochs = _history_epochs(history)
    train = _series(history.loss, "loss", epochs)
    val = _series(history.val_loss, "val_loss", epochs) if history.val_loss else None
    use_log = _choose_log(log_scale, train if val is None else np.concatenate([train, val]))
    if use_log:
        train, val = _gaps(train, log=True), None if val is None else _gaps(val, log=True)
    if np.isnan(train).all() and (val is None or np.isnan(val).all()):
        raise ValueError(f"no loss can be drawn (each is null, NaN, inf or beyond {DRAWABLE:g}"
                         f"{', or not positive on the log axis' if use_log else ''}): nothing to draw")
    fig, ax = _new_figure(WIDE)
    marker = _marker(epochs)
    ax.plot(epochs, train, color=OKABE_ITO[0], lw=2.2, marker=marker, ms=4, label="training loss")
    if val is not None:
        ax.plot(epochs, val, color=OKABE_ITO[3], lw=2.2, ls="--", marker=marker, ms=4,
                label="validation loss")
    _mark_events(ax, history, epochs, train if val is None else val)
    if use_log:
        ax.set_yscale("log")
    name = LOSS_NAMES.get(history.loss_name, history.loss_name.replace("_", " "))
    ylabel = (f"{name} loss" if name else "loss") + (" (log scale)" if use_log else "")
    _label_axes(ax, "epoch", ylabel, epochs)
    axes = [ax]
    if history.val_metric and history.metric_name:
        axes.append(_metric_axis(ax, history, epochs))
    handles = [h for a in axes for h in a.get_legend_handles_labels()[0]]
    if len(handles) > 1:  # a lone training curve is named by its axis label already
        ncols = 3 if len(handles) == 3 else 2  # four entries in one row overflow 7 inches
        fig.legend(handles=_row_major(handles, ncols), loc="outside lower center", ncols=ncols,
                   fontsize=LEGEND_SIZE, frameon=False)
    return _finish(fig, ax, title or ("Training loss" if val is None else "Learning curves"), path)


def _marker(epochs: np.ndarray) -> str | None:
    return "o" if epochs.size <= 30 else None  # few epochs: show where the points are (or one)


def _history_epochs(history: History) -> np.ndarray:
    if not isinstance(history, History):
        raise TypeError(f"expected a deltaprop History, got {type(history).__name__}")
    if not history.epoch:
        raise ValueError("history is empty (no epochs recorded): plot the History that fit() returned")
    history.check()  # epochs 1, 2, 3, ... and one value per epoch: what the axes assume
    return np.asarray(history.epoch, dtype=float)


def _series(values: Sequence[float], name: str, epochs: np.ndarray) -> np.ndarray:
    if len(values) != epochs.size:
        raise ValueError(f"history.{name} has {len(values)} values for {epochs.size} epochs")
    return _gaps(np.asarray(values, dtype=float))


def _gaps(values: np.ndarray, log: bool = False) -> np.ndarray:
    """NaN (a gap in the line) where a value cannot be drawn: inf and what lies beyond
    +-DRAWABLE (where matplotlib's axis arithmetic overflows), and on a log axis what is
    below 1/DRAWABLE (0 included)."""
    with np.errstate(invalid="ignore"):  # NaN compares False: a gap already
        drawable = (np.abs(values) <= DRAWABLE) & ((values >= 1 / DRAWABLE) | (not log))
    return np.where(drawable, values, np.nan)


def _choose_log(log_scale: bool | str, values: np.ndarray) -> bool:
    if log_scale not in (True, False, "auto"):
        raise ValueError(f"log_scale must be True, False or 'auto', got {log_scale!r}")
    finite = values[np.isfinite(values)]
    if log_scale is True and not (finite > 0).any():
        raise ValueError("log_scale=True but no loss is positive and finite; use log_scale=False")
    if log_scale == "auto":  # past 1.5 decades a linear axis flattens the later epochs to a line
        return bool(finite.size > 1 and (finite > 0).all()
                    and np.log10(finite.max()) - np.log10(finite.min()) > 1.5)
    return bool(log_scale)


def _mark_events(ax: Axes, history: History, epochs: np.ndarray, curve: np.ndarray) -> None:
    """The best epoch (what early stopping kept), starred on ``curve``, and a divergence."""
    best = history.best_epoch
    if best is not None and best in epochs:
        ax.axvline(best, color="0.35", ls=":", lw=1.6, label=f"best epoch ({best})")
        value = curve[np.flatnonzero(epochs == best)[0]]
        if np.isfinite(value):
            ax.plot([best], [value], marker="*", ms=15, color="0.15", ls="none", zorder=5)
    if history.stop_reason == "diverged":
        ax.axvline(epochs[-1], color="0.1", ls="-.", lw=1.4, label="diverged")


def _metric_axis(ax: Axes, history: History, epochs: np.ndarray) -> Axes:
    """The validation metric on a twin y-axis, coloured like its line to tell the two apart."""
    metric = _series(history.val_metric, "val_metric", epochs)
    color = OKABE_ITO[2]
    label = "validation " + METRIC_NAMES.get(history.metric_name, history.metric_name.replace("_", " "))
    twin = ax.twinx()
    twin.plot(epochs, metric, color=color, lw=1.6, ls="-.", label=label)
    twin.set_ylabel(label, fontsize=LABEL_SIZE, color=color)
    twin.tick_params(axis="y", which="both", labelsize=TICK_SIZE, colors=color)
    if history.metric_name == "accuracy" and np.isfinite(metric).any():
        # from chance level (two classes) to 1: progress drawn in proportion
        twin.set_ylim(min(np.nanmin(metric), 0.5) - 0.02, 1.02)
    return twin


def _row_major(handles: list[Any], ncols: int) -> list[Any]:
    """Reorder so that matplotlib, which fills legend columns first, reads row by row."""
    rows = [handles[i:i + ncols] for i in range(0, len(handles), ncols)]
    return [row[c] for c in range(ncols) for row in rows if c < len(row)]


# -- gradient norms ------------------------------------------------------------------------------
def gradnorm(history: History, *, path: PathLike = None, title: str | None = None) -> Figure:
    """Per-layer gradient norms over the epochs on a log axis: the vanishing-gradient picture.

    Parameters
    ----------
    history : History
        ``grad_norms``: per epoch, shape (n_dense_layers,), the norm of each (dW_l, db_l).
    path, title
        As in :func:`loss`.

    Returns
    -------
    Figure
        One line per dense layer, along viridis from layer 1 (input side) to L (output).
    """
    _require_matplotlib()
    epochs = _history_epochs(history)
    if len(history.grad_norms) != epochs.size:  # grad_norm_matrix() cannot reshape an empty list
        raise ValueError(f"history.grad_norms has {len(history.grad_norms)} rows for {epochs.size} epochs")
    norms = history.grad_norm_matrix()
    norms = _gaps(norms, log=True)
    if np.isnan(norms).all():
        raise ValueError(f"no gradient norm is positive and finite (from {1 / DRAWABLE:g} to "
                         f"{DRAWABLE:g}): nothing to draw on a log axis")
    n_layers = norms.shape[1]
    colors = _layer_colors(n_layers)
    fig, ax = _new_figure(WIDE)
    for i in range(n_layers):
        side = " (output)" if i == n_layers - 1 else " (input side)" if i == 0 else ""
        ax.plot(epochs, norms[:, i], color=colors[i], lw=2.2 if n_layers <= LEGEND_LAYERS else 1,
                marker=_marker(epochs), ms=4, label=f"layer {i + 1}{side}")
    ax.set_yscale("log")
    _label_axes(ax, "epoch", r"gradient norm $\|(dW_l,\ db_l)\|$", epochs)
    if n_layers <= LEGEND_LAYERS:
        # under the axes, since the lines run across the whole width; read row by row, input first
        ncols = min(n_layers, 3)
        fig.legend(handles=_row_major(ax.get_lines(), ncols), loc="outside lower center",
                   ncols=ncols, fontsize=LEGEND_SIZE, frameon=False)
    else:
        _layer_colorbar(fig, ax, n_layers)
    return _finish(fig, ax, title or "Gradient norm per layer", path)


def _layer_colorbar(fig: Figure, ax: Axes, n_layers: int) -> None:
    """Too many layers for a legend (it would crowd the axes off the figure): the colour
    scale names them instead, layer 1 (input side) to L (output)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize
    from matplotlib.ticker import MaxNLocator

    scale = ListedColormap(_layer_colors(n_layers))
    bar = fig.colorbar(ScalarMappable(Normalize(0.5, n_layers + 0.5), scale), ax=ax, pad=0.02)
    bar.set_label(f"layer (1: input side, {n_layers}: output)", fontsize=LABEL_SIZE)
    bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    bar.ax.tick_params(labelsize=TICK_SIZE)


def _layer_colors(n_layers: int) -> np.ndarray:
    """Viridis from layer 1 (input side) to L (output), short of its pale yellow end (it fades)."""
    from matplotlib import colormaps

    return colormaps["viridis"](np.linspace(0, 0.82, n_layers))

