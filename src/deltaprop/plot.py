"""Plots for slides: learning curves, per-layer gradient norms, decision regions, 1-D fits.

``plot.loss(net.fit(...), path="loss.png")``, ``plot.boundary(net, X, y)``. Needs matplotlib
(``pip install 'deltaprop[plot]'``). Figures are built without pyplot: no window opens, no
global backend is switched, nothing stays in pyplot's figure list (a figure is freed once the
caller drops it); PNGs are drawn by the Agg renderer at 150 dpi.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from deltaprop.history import History

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
LOSS_NAMES = {"cross_entropy": "cross-entropy", "binary_cross_entropy": "binary cross-entropy",
              "squared_error": "squared error", "mse": "MSE"}
METRIC_NAMES = {"r2": "$R^2$"}


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
    return np.asarray(history.epoch, dtype=float)


def _series(values: Sequence[float], name: str, epochs: np.ndarray) -> np.ndarray:
    if len(values) != epochs.size:
        raise ValueError(f"history.{name} has {len(values)} values for {epochs.size} epochs")
    return _gaps(np.asarray(values, dtype=float))


def _gaps(values: np.ndarray, log: bool = False) -> np.ndarray:
    """NaN (a gap in the line) where a value cannot be drawn: inf, and <= 0 on a log axis."""
    return np.where(np.isfinite(values) & ((values > 0) | (not log)), values, np.nan)


def _choose_log(log_scale: bool | str, values: np.ndarray) -> bool:
    if log_scale not in (True, False, "auto"):
        raise ValueError(f"log_scale must be True, False or 'auto', got {log_scale!r}")
    finite = values[np.isfinite(values)]
    if log_scale is True and not (finite > 0).any():
        raise ValueError("log_scale=True but no loss is positive and finite; use log_scale=False")
    if log_scale == "auto":  # past 1.5 decades a linear axis flattens the later epochs to a line
        return bool(finite.size > 1 and (finite > 0).all() and finite.max() / finite.min() > 10**1.5)
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
    from matplotlib import colormaps

    epochs = _history_epochs(history)
    if len(history.grad_norms) != epochs.size:  # grad_norm_matrix() cannot reshape an empty list
        raise ValueError(f"history.grad_norms has {len(history.grad_norms)} rows for {epochs.size} epochs")
    norms = history.grad_norm_matrix()
    norms = _gaps(norms, log=True)
    if np.isnan(norms).all():
        raise ValueError("no gradient norm is positive and finite: nothing to draw on a log axis")
    n_layers = norms.shape[1]
    colors = colormaps["viridis"](np.linspace(0, 0.82, n_layers))  # its pale yellow end fades
    fig, ax = _new_figure(WIDE)
    for i in range(n_layers):
        side = " (output)" if i == n_layers - 1 else " (input side)" if i == 0 else ""
        ax.plot(epochs, norms[:, i], color=colors[i], lw=2.2, marker=_marker(epochs), ms=4,
                label=f"layer {i + 1}{side}")
    ax.set_yscale("log")
    _label_axes(ax, "epoch", r"gradient norm $\|(dW_l,\ db_l)\|$", epochs)
    # under the axes, since the lines run across the whole width; read row by row, input first
    ncols = min(n_layers, 3)
    fig.legend(handles=_row_major(ax.get_lines(), ncols), loc="outside lower center", ncols=ncols,
               fontsize=LEGEND_SIZE, frameon=False)
    return _finish(fig, ax, title or "Gradient norm per layer", path)


# -- decision regions ----------------------------------------------------------------------------
def boundary(predict: Predictor, X: Any, y: Any, *, path: PathLike = None, title: str | None = None,
             resolution: int = 300, class_names: Sequence[str] | None = None,
             feature_names: Sequence[str] = ("$x_1$", "$x_2$")) -> Figure:
    """Decision regions of a 2-D classifier, shaded by its confidence, with the data on top.

    Parameters
    ----------
    predict : callable or Network
        Maps shape (m, 2) to scores or probabilities (m, k) (argmax; k == 1 thresholded at
        0.5), floats (m,) (thresholded at 0.5), or labels (m,): values of ``y`` or indices into
        ``np.unique(y)``. An object with a ``predict`` method (a Network) is used through it.
    X : array-like, shape (n, 2)
    y : array-like, shape (n,)
        Labels, ints or strings; class j is ``np.unique(y)[j]``, the order ``fit`` uses.
    path, title
        As in :func:`loss`.
    resolution : int
        Grid points per axis over the data range padded by 10%.
    class_names, feature_names : sequence of str, optional
        Legend names, one per class (default: the labels); the two axis labels.

    Returns
    -------
    Figure
        Regions axes and, for probabilities, a colorbar: the tint grows with the probability
        of the predicted class (pale where the network is unsure).
    """
    _require_matplotlib()
    predict_fn = _as_predict(predict)
    X = _check_X(X, 2, "boundary")
    classes, y_index = _check_labels(y, X.shape[0])
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) \
            or not 10 <= resolution <= 2000:
        raise ValueError(f"resolution must be an int between 10 and 2000, got {resolution!r}")
    xs, ys = _padded_range(X[:, 0], 0.1, resolution), _padded_range(X[:, 1], 0.1, resolution)
    xx, yy = np.meshgrid(xs, ys)
    output = predict_fn(np.column_stack([xx.ravel(), yy.ravel()]))
    labels, confidence, margins, n_out = _read_classes(output, classes, xx.size)
    n_classes = max(len(classes), n_out)
    colors, names = _class_style(n_classes, classes, class_names)
    fig, ax = _new_figure(SQUARE)
    _draw_regions(fig, ax, labels.reshape(xx.shape), confidence, colors, (xs, ys), n_out)
    for margin in margins:  # a class's margin over the runner-up is 0 on its region's border
        grid = margin.reshape(xx.shape)
        if grid.min() < 0 < grid.max():  # else there is no line and contour() warns
            ax.contour(xx, yy, grid, levels=[0.0], colors="0.1", linewidths=1.4)
    size = float(np.clip(4000 / X.shape[0], 12, 60))
    for j in range(n_classes):
        rows = y_index == j
        if rows.any():
            ax.scatter(X[rows, 0], X[rows, 1], s=size, color=colors[j], marker=MARKERS[j % 7],
                       edgecolors="0.1", linewidths=0.7, label=names[j], zorder=3)
    _label_axes(ax, feature_names[0], feature_names[1])
    fig.legend(loc="outside lower center", ncols=min(n_classes, 4), fontsize=LEGEND_SIZE,
               frameon=False, title="data (class)", title_fontsize=LEGEND_SIZE, markerscale=1.6)
    return _finish(fig, ax, title or "Decision regions", path, grid=False)


def _read_classes(output: Any, classes: np.ndarray, m: int
                  ) -> tuple[np.ndarray, np.ndarray | None, list[np.ndarray], int]:
    """Class index per point, confidence in [0, 1] (None without probabilities), the margin
    fields whose zero lines are the borders, and the number of classes the output names."""
    out = np.asarray(output)
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim not in (1, 2) or out.shape[0] != m:
        raise ValueError(f"predict returned shape {np.shape(output)} for {m} points; expected "
                         f"({m}, k) scores or ({m},) labels")
    # labels: not floats, or whole-number floats beyond 0/1 (not probabilities to threshold)
    if out.ndim == 1 and (out.dtype.kind != "f" or (
            np.isfinite(out).all() and (out == np.round(out)).all() and out.max() > 1)):
        index = _label_indices(out, classes)
        return index, None, [(index == j) - 0.5 for j in range(len(classes))], len(classes)
    out = out.astype(float)
    if not np.isfinite(out).all():
        raise ValueError("predict returned NaN or inf on part of the plotting grid")
    probabilities = bool(out.min() >= 0 and out.max() <= 1)
    if out.ndim == 1:  # one sigmoid output: p(class 1)
        confidence = np.abs(2 * out - 1) if probabilities else None
        return (out >= 0.5).astype(int), confidence, [out - 0.5], 2
    k = out.shape[1]
    top2 = np.sort(out, axis=1)[:, -2:]
    margins = [out[:, j] - np.where(out[:, j] == top2[:, 1], top2[:, 0], top2[:, 1]) for j in range(k)]
    confidence = None
    if probabilities:  # independent sigmoids need not sum to 1: normalize them first
        p_max = top2[:, 1] / np.maximum(out.sum(axis=1), 1e-12)
        confidence = np.clip((p_max - 1 / k) / (1 - 1 / k), 0, 1)  # 0 at chance, 1 when sure
    return out.argmax(axis=1), confidence, margins[:1] if k == 2 else margins, k


def _label_indices(out: np.ndarray, classes: np.ndarray) -> np.ndarray:
    if np.isin(out, classes).all():
        return np.searchsorted(classes, out)
    if out.dtype.kind in "iub" and out.min() >= 0 and out.max() < len(classes):
        return out.astype(int)
    unknown = np.setdiff1d(out, classes)[:5]
    raise ValueError(f"predict returned labels {unknown.tolist()} that are neither classes of y "
                     f"({classes.tolist()}) nor indices into them")


def _draw_regions(fig: Figure, ax: Axes, labels: np.ndarray, confidence: np.ndarray | None,
                  colors: np.ndarray, grid: tuple[np.ndarray, np.ndarray], k: int) -> None:
    """Each class's colour mixed with white: strong where the network is sure, pale near 0."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LinearSegmentedColormap, Normalize

    low, high = 0.12, 0.55  # tint strengths: the data points must stand out on top
    strength = np.full(labels.shape, high) if confidence is None else \
        low + (high - low) * confidence.reshape(labels.shape)
    rgb = 1 - strength[..., None] * (1 - colors[labels, :3])
    xs, ys = grid
    ax.imshow(rgb, origin="lower", extent=(xs[0], xs[-1], ys[0], ys[-1]), aspect="auto",
              interpolation="bilinear")
    if confidence is not None:
        grey = LinearSegmentedColormap.from_list("tint", [str(1 - low), str(1 - high)])
        bar = fig.colorbar(ScalarMappable(Normalize(1 / k, 1), grey), ax=ax, shrink=0.8, pad=0.02)
        bar.set_label("probability of the predicted class", fontsize=LABEL_SIZE)
        bar.ax.tick_params(labelsize=TICK_SIZE)


def _class_style(n: int, classes: np.ndarray, names: Sequence[str] | None
                 ) -> tuple[np.ndarray, list[str]]:
    """RGBA colours (n, 4) and legend names of the n classes."""
    from matplotlib import colormaps
    from matplotlib.colors import to_rgba_array

    if names is not None and (isinstance(names, str) or len(names) < n):
        raise ValueError(f"class_names must give {n} names (one per class), got {names!r}")
    if names is None:
        names = [str(c) for c in classes] + [f"class {j}" for j in range(len(classes), n)]
    # past 7 classes no palette stays distinct: tab20 at least keeps them apart in colour
    colors = to_rgba_array(OKABE_ITO[:n]) if n <= len(OKABE_ITO) else colormaps["tab20"](np.arange(n) % 20)
    return colors, [str(name) for name in names]


# -- 1-D regression ------------------------------------------------------------------------------
def fit1d(predict: Predictor, X: Any, y: Any, *, path: PathLike = None, title: str | None = None,
          xlabel: str = "x", ylabel: str = "y") -> Figure:
    """A 1-D regression: the data as points, the fitted curve over a dense grid spanning them.

    Parameters
    ----------
    predict : callable or Network
        Maps shape (m, 1) to shape (m,) or (m, 1).
    X : array-like, shape (n, 1)
    y : array-like, shape (n,) or (n, 1)
    path, title
        As in :func:`loss`.
    xlabel, ylabel : str
        Name (and unit) of the input and of the target.
    """
    _require_matplotlib()
    predict_fn = _as_predict(predict)
    X = _check_X(X, 1, "fit1d")
    target = np.asarray(y, dtype=float)
    if target.ndim == 2 and target.shape[1] == 1:
        target = target[:, 0]
    if target.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) or ({X.shape[0]}, 1) to match X, "
                         f"got {np.shape(y)}")
    grid = _padded_range(X[:, 0], 0.03, 500)
    curve = np.asarray(predict_fn(grid[:, None]), dtype=float)
    if curve.shape not in ((grid.size,), (grid.size, 1)):
        raise ValueError(f"predict returned shape {curve.shape} for {grid.size} inputs; fit1d "
                         f"needs one output: ({grid.size},) or ({grid.size}, 1)")
    fig, ax = _new_figure(WIDE)
    ax.scatter(X[:, 0], target, s=float(np.clip(3000 / X.shape[0], 10, 40)), color=OKABE_ITO[0],
               alpha=0.7, edgecolors="0.1", linewidths=0.5, label=f"data (n = {X.shape[0]})", zorder=2)
    ax.plot(grid, curve.ravel(), color=OKABE_ITO[3], lw=2.8, label="network", zorder=3)
    _label_axes(ax, xlabel, ylabel)
    fig.legend(loc="outside lower center", ncols=2, fontsize=LEGEND_SIZE, frameon=False, markerscale=1.5)
    return _finish(fig, ax, title or "Network fit", path)


# -- shared --------------------------------------------------------------------------------------
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


def _as_predict(model: Predictor) -> Callable[[np.ndarray], Any]:
    function = getattr(model, "predict", model)  # a Network, an estimator, or a function
    if not callable(function):
        raise TypeError(f"predict must be a callable or have a .predict method, got {type(model).__name__}")
    return function  # type: ignore[no-any-return]


def _check_X(X: Any, n_features: int, where: str) -> np.ndarray:
    array = np.asarray(X, dtype=float)
    if array.ndim != 2 or array.shape[1] != n_features or array.shape[0] == 0:
        hint = "; reshape a 1-D x with x.reshape(-1, 1)" if n_features == 1 and array.ndim == 1 else ""
        raise ValueError(f"{where} needs X of shape (n, {n_features}), got {array.shape}{hint}")
    if not np.isfinite(array).all():
        raise ValueError(f"X for {where} contains NaN or inf")
    return array


def _check_labels(y: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape != (n,):
        raise ValueError(f"y must hold one label per row of X, shape ({n},); got {np.shape(y)}")
    classes, index = np.unique(labels, return_inverse=True)
    return classes, index.ravel()


def _padded_range(values: np.ndarray, pad: float, n: int) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    margin = pad * (high - low) if high > low else max(0.5, abs(low) * pad)
    return np.linspace(low - margin, high + margin, n)
