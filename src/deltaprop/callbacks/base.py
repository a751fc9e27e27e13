"""The callback interface: what the training loop calls, and the view of the run it hands over.

Callbacks are typed on :class:`RunView`, a Protocol of the few things a callback may read or set
(the network, the optimizer, the history, ``stop_reason``...), never on the loop's own class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from deltaprop.training.fit.loop import Trainer


class Callback:
    """What the training loop calls. Subclass it, or pass any object with some of these
    methods (each is optional). Set ``trainer.stop_reason`` to a string to end training after
    the current step or epoch.

    ``logs`` of ``on_epoch_end`` holds ``epoch``, ``loss``, ``lr``, ``grad_norms`` (per dense
    layer), ``grad_norm``, ``time``, ``metric_name`` and, with validation data, ``val_loss`` and
    ``val_metric``.
    """

    def on_train_begin(self, trainer: Trainer) -> None:
        """Before the first epoch."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        """After each epoch (1-based) and its validation."""

    def on_batch_end(self, trainer: Trainer, step: int) -> None:
        """After each optimizer step (``step`` counts from 1 within the epoch)."""

    def on_train_end(self, trainer: Trainer) -> None:
        """After the last epoch."""
