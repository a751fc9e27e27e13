"""Plots for slides: learning curves, per-layer gradient norms, decision regions, 1-D fits.

``plot.loss(net.fit(...), path="loss.png")``, ``plot.boundary(net, X, y)``. Needs matplotlib
(``pip install 'deltaprop[plot]'``). Figures are built without pyplot: no window opens, no
global backend is switched, nothing stays in pyplot's figure list (a figure is freed once the
caller drops it); PNGs are drawn by the Agg renderer at 150 dpi.

:mod:`.history` draws what ``fit`` recorded (:func:`loss`, :func:`gradnorm`), :mod:`.data` a
model against its data (:func:`boundary`, :func:`fit1d`), :mod:`.rates` the learning-rate range
test (:func:`lr_find`); :mod:`._figure` holds the shared style and figure helpers.
"""

from deltaprop.plot.data import boundary, fit1d
from deltaprop.plot.history import gradnorm, loss
from deltaprop.plot.rates import lr_find

__all__ = ["boundary", "fit1d", "gradnorm", "loss", "lr_find"]
