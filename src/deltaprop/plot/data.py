"""Plots of a model against its data: 2-D decision regions and 1-D regression fits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from deltaprop.plot._figure import (
    LABEL_SIZE,
    LEGEND_SIZE,
    MARKERS,
    OKABE_ITO,
    SQUARE,
    TICK_SIZE,
    WIDE,
    PathLike,
    Predictor,
    _finish,
    _label_axes,
    _new_figure,
    _require_matplotlib,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


# -- decision regions ----------------------------------------------------------------------------
def boundary(predict: Predictor, X: Any, y: Any, *, path: PathLike = None, title: str | None = None,
             resolution: int = 300, class_names: Sequence[str] | None = None,
             feature_names: Sequence[str] = ("$x_1$", "$x_2$"), classes: Any = None) -> Figure:
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
        As in :func:`deltaprop.plot.loss`.
    resolution : int
        Grid points per axis over the data range padded by 10%.
    class_names, feature_names : sequence of str, optional
        Legend names, one per class (default: the labels); the two axis labels.
    classes : array-like, optional
        The labels of the model's output columns, in order (default ``np.unique(y)``): give
        them when ``y`` may lack a class, so colours and regions still match.

    Returns
    -------
    Figure
        Regions axes and, for probabilities, a colorbar: the tint grows with the probability
        of the predicted class (pale where the network is unsure).
    """
    _require_matplotlib()
    predict_fn = _as_predict(predict)
    X = _check_X(X, 2, "boundary")
    classes, y_index = _check_labels(y, X.shape[0], classes)
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
        As in :func:`deltaprop.plot.loss`.
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


# -- input checks, for both ---------------------------------------------------------------------
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


def _check_labels(y: Any, n: int, known: Any = None) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape != (n,):
        raise ValueError(f"y must hold one label per row of X, shape ({n},); got {np.shape(y)}")
    if known is None:
        classes, index = np.unique(labels, return_inverse=True)
        return classes, index.ravel()
    classes = np.asarray(known)
    unknown = ~np.isin(labels, classes)
    if unknown.any():
        raise ValueError(f"y holds labels {sorted(map(str, set(labels[unknown].tolist())))[:5]} "
                         f"that are not among the classes {classes.tolist()}")
    return classes, np.array([np.flatnonzero(classes == label)[0] for label in labels])


def _padded_range(values: np.ndarray, pad: float, n: int) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    margin = pad * (high - low) if high > low else max(0.5, abs(low) * pad)
    return np.linspace(low - margin, high + margin, n)
