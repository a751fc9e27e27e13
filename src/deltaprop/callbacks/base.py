"""The callback interface: what the training loop calls, and the view of the run it hands over.

Callbacks are typed on :class:`RunView`, a Protocol of the few things a callback may read or set
(the network, the optimizer, the history, ``stop_reason``...), never on the loop's own class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from deltaprop.history import History
from deltaprop.optim import Optimizer


class RunView(Protocol):
    """What a callback sees of the run that calls it (the loop's
    :class:`~deltaprop.training.loop.Trainer` is one).

    Attributes
    ----------
    net : Network
        The network being trained.
    optimizer : Optimizer
        Its learning rate may be changed between steps.
    history : History
        The epochs recorded so far.
    stop_reason : str or None
        Set it to a string to end training after the current step or epoch.
    has_validation : bool
    run_index : int
        The restart (0 for the first or only run).
    in_worker : bool
        True when the run was handed to another process (``n_jobs``).
    epochs : int
        The epochs the run may take.
    epoch_complete : bool
        Every minibatch of the epoch just ended ran (a checkpoint needs whole epochs).
    batches_per_epoch : int
        ``ceil(n_samples / batch_size)``.
    callbacks : list
        The run's callbacks, in the order they are called.
    """

    net: Any
    optimizer: Optimizer
    history: History
    stop_reason: str | None
    has_validation: bool
    run_index: int
    in_worker: bool
    epochs: int
    epoch_complete: bool
    batches_per_epoch: int
    callbacks: list[Any]

    def snapshot(self) -> Any:
        """A copy of the parameters and the BatchNorm running statistics."""

    def restore(self, state: Any) -> None:
        """Put back a :meth:`snapshot`."""


class Callback:
    """What the training loop calls. Subclass it, or pass any object with some of these
    methods (each is optional). Set ``trainer.stop_reason`` to a string to end training after
    the current step or epoch.

    ``logs`` of ``on_epoch_end`` holds ``epoch``, ``loss``, ``lr``, ``grad_norms`` (per dense
    layer), ``grad_norm``, ``time``, ``metric_name`` and, with validation data, ``val_loss`` and
    ``val_metric``.

    A callback with ``state_dict()`` and ``load_state_dict(state)`` keeps a state that
    checkpoints save and resumed runs get back (:func:`keeps_state`).

    ``needs_every_step``: a callback with ``on_batch_end`` is called after every step, so its
    run stays on the NumPy engine; one that only watches the clock or the count of steps sets
    it False, and the compiled engine then calls it between chunks of steps (with the count of
    steps done, a chunk lasting about 50 ms).
    """

    needs_every_step = True

    def on_train_begin(self, trainer: RunView) -> None:
        """Before the first epoch."""

    def on_epoch_end(self, trainer: RunView, epoch: int, logs: dict[str, Any]) -> None:
        """After each epoch (1-based) and its validation."""

    def on_batch_end(self, trainer: RunView, step: int) -> None:
        """After each optimizer step (``step`` counts from 1 within the epoch), or after each
        chunk of steps where ``needs_every_step`` is False."""

    def on_train_end(self, trainer: RunView) -> None:
        """After the last epoch."""


HOOKS = ("on_train_begin", "on_epoch_end", "on_batch_end", "on_train_end")


def check_callbacks(callbacks: Any, name: str = "callbacks") -> list[Any]:
    """Return ``callbacks`` as a list, or raise naming the first item that is not a callback.

    A callback is a :class:`Callback` or any object with at least one of its hooks
    (:data:`HOOKS`), each callable: None, a string, a number or a class is refused rather than
    silently never called.
    """
    if isinstance(callbacks, (Callback, str, bytes)) or not isinstance(callbacks, Sequence):
        raise TypeError(f"{name} must be a list of callbacks, got {callbacks!r} "
                        f"({type(callbacks).__name__})")
    for i, callback in enumerate(callbacks):
        hooks = [getattr(callback, hook) for hook in HOOKS if hasattr(callback, hook)]
        if isinstance(callback, type) or not hooks or not all(callable(h) for h in hooks):
            raise TypeError(
                f"{name}[{i}] is {callback!r} ({type(callback).__name__}), not a callback: give a "
                f"Callback, or an object with callable {', '.join(HOOKS[:-1])} or {HOOKS[-1]}")
    return list(callbacks)


def callback_hooks(callbacks: Sequence[Any], method: str) -> list[Any]:
    """Bound ``method`` of each callback that really has one (not Callback's no-op): what a run
    calls at that point (the epoch loop's Trainer and an L-BFGS run alike)."""
    return [getattr(c, method) for c in callbacks
            if hasattr(c, method) and getattr(type(c), method, None) is not getattr(Callback, method)]


def keeps_state(callback: Any) -> bool:
    """Whether ``callback`` has a state to checkpoint (``state_dict`` and ``load_state_dict``)."""
    return (callable(getattr(callback, "state_dict", None))
            and callable(getattr(callback, "load_state_dict", None)))
