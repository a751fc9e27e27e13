"""``diagnose``: run every detector on a network, its data and its history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deltaprop.doctor import curves, gradients, inputs, units
from deltaprop.doctor.findings import Diagnosis, Finding
from deltaprop.doctor.observe import Observations, observe
from deltaprop.history import History
from deltaprop.losses import Loss
from deltaprop.network import Network

Detector = Callable[[Observations], list[Finding]]
DETECTORS: dict[str, Detector] = {
    "unscaled_inputs": inputs.unscaled_inputs,
    "dead_units": units.dead_units,
    "saturated_units": units.saturated_units,
    "symmetric_units": units.symmetric_units,
    "vanishing_gradients": gradients.vanishing_gradients,
    "exploding_gradients": gradients.exploding_gradients,
    "lr_too_high": curves.lr_too_high,
    "lr_too_low": curves.lr_too_low,
    "plateau": curves.plateau,
    "overfitting": curves.overfitting,
}
NEEDS_HISTORY = ("lr_too_high", "lr_too_low", "overfitting")


def diagnose(net: Network, X: Any, y: Any, *, loss: str | Loss | None = None,
             history: History | None = None) -> Diagnosis:
    """Name what went wrong in a training run, with the numbers and what to change.

    Parameters
    ----------
    net : Network
        The trained network (or one about to be trained: the unit, gradient and input
        detectors read its current weights).
    X : array-like or scipy.sparse matrix, shape (n_samples, n_inputs)
        Rows as the network sees them (after any preprocessing); at most 2000 of them, evenly
        spread, are examined.
    y : array-like
        Targets as ``fit`` takes them for ``loss``.
    loss : str or Loss, optional
        Default: the loss the network was trained with (``net.loss``).
    history : History, optional
        Default: ``net.history``, what the last ``fit`` recorded. Without one, the detectors of
        the loss curve (learning rate, plateau over epochs, overfitting) say nothing and the
        gradient detectors read the gradient at the current weights.

    Returns
    -------
    Diagnosis
        ``.findings`` (worst first), ``.ok`` (no warning or error), ``.summary()`` (one line),
        ``.to_dict()``.

    Raises
    ------
    ValueError
        No loss given for a network that was never trained, or data that do not fit it.
    TypeError
        ``net`` is not a Network, or ``history`` not a History.

    Notes
    -----
    The codes and how each is decided are in :mod:`deltaprop.doctor`; every threshold, with the
    measurement that chose it, is in :mod:`deltaprop.doctor.thresholds`. The network's weights,
    its loss and its random state are left as they were.

    Examples
    --------
    >>> import numpy as np, deltaprop as dp
    >>> from deltaprop.doctor import diagnose
    >>> X = np.random.default_rng(0).standard_normal((64, 2))
    >>> net = dp.MLP([2, 4, 2], init="zeros", activation="tanh", seed=0)
    >>> diagnosis = diagnose(net, X, (X[:, 0] > 0).astype(int), loss="cross_entropy")
    >>> [(f.code, f.layer) for f in diagnosis.find("symmetric_units")]
    [('symmetric_units', 0)]
    """
    if not isinstance(net, Network):
        raise TypeError(f"diagnose takes a Network (dp.MLP, dp.Network), got {type(net).__name__}")
    history = net.history if history is None else history
    _check_history(net, history)
    if loss is None and net.loss is None:
        raise ValueError("the network has not been trained, so it has no loss of its own; "
                         "give loss= (e.g. 'cross_entropy')")
    loss_object = net.check_loss(loss) if loss is not None else net.loss
    assert loss_object is not None
    obs = observe(net, X, y, loss_object, history)
    curve = history is not None and history.n_epochs > 0
    checked = [code for code in DETECTORS if curve or code not in NEEDS_HISTORY]
    return Diagnosis([finding for code in checked for finding in DETECTORS[code](obs)], checked)


def _check_history(net: Network, history: History | None) -> None:
    """A history is one of this network's: one gradient norm per dense layer each epoch."""
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a deltaprop History, got {type(history).__name__}")
    if history is not None and len(history.grad_norms):
        width = history.grad_norm_matrix().shape[1]
        if width != len(net.dense_layers):
            raise ValueError(f"the history records gradient norms of {width} dense layers, but "
                             f"the network has {len(net.dense_layers)}: it is another network's")
