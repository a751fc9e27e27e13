"""FitOptions: every option of a training run that does not depend on the data, validated once,
and written as JSON and read back (what a checkpoint stores to resume the run). The command line,
the estimators and the playground build one from their own settings, then train with
``fit(net, X, y, **options.keywords())``."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from deltaprop._validation import check_flag, check_fraction, check_positive, check_verbose
from deltaprop.callbacks.checkpoint import Checkpoint
from deltaprop.callbacks.stopping import EarlyStopping
from deltaprop.data.batches import check_batch_size
from deltaprop.engine.compiled.choice import check_engine
from deltaprop.losses import LOSSES, Loss, get_loss
from deltaprop.optim import Optimizer, get_optimizer, optimizer_from_config
from deltaprop.training.restarts import check_n_jobs

SAMPLINGS = ("epoch", "random")


@dataclass(frozen=True)
class FitOptions:
    """The data-independent options of :func:`deltaprop.fit`, with its defaults and meanings.

    Every value is checked when the object is made (a bad one raises, naming it); names stay
    names (a new optimizer is made from a name, or from ``None``, for each run). The data,
    ``callbacks`` and ``comm`` are not options: they are given to the run with them.

    Attributes
    ----------
    loss, optimizer, epochs, batch_size, sampling, shuffle, l2, l1, validation_fraction,
    early_stopping, tol, time_limit, restarts, n_jobs, verbose, threads, checkpoint,
    checkpoint_every, engine
        As for :func:`deltaprop.fit`.

    Examples
    --------
    >>> options = FitOptions(loss="cross_entropy", epochs=5, batch_size="full")
    >>> FitOptions.from_dict(options.to_dict()).to_dict() == options.to_dict()
    True
    >>> import deltaprop as dp
    >>> net = dp.MLP([2, 3, 2], seed=0)
    >>> history = dp.fit(net, [[0, 0], [1, 1]], [0, 1], **options.keywords())
    >>> history.n_epochs
    5
    """

    loss: str | Loss = "squared_error"
    optimizer: str | Optimizer | None = None
    epochs: int = 10
    # None (the default) is resolved in __post_init__: 32, or the full batch for L-BFGS
    batch_size: int | str = None  # type: ignore[assignment]
    sampling: str = "epoch"
    shuffle: bool = True
    l2: float = 0.0
    l1: float = 0.0
    validation_fraction: float = 0.0
    early_stopping: int | EarlyStopping | None = None
    tol: float | None = None
    time_limit: float | None = None
    restarts: int = 1
    n_jobs: int | None = None
    verbose: bool = False
    threads: int | str | None = "auto"
    checkpoint: str | os.PathLike[str] | Checkpoint | None = None
    checkpoint_every: int = 1
    engine: str = "auto"

    def _batch_size(self) -> int | str:
        """The batch size, None spelling the default: 32, or "full" for a full-batch optimizer
        (L-BFGS), which then tells an explicit 32 apart and refuses it."""
        if self.batch_size is None:
            return "full" if get_optimizer(self.optimizer).full_batch else 32
        return self.batch_size

    def __post_init__(self) -> None:
        get_loss(self.loss)  # an unknown name is refused now; the object is the run's
        get_optimizer(self.optimizer)
        check_engine(self.engine)
        if not isinstance(self.sampling, str) or self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        checked = {
            "epochs": check_positive("epochs", self.epochs, integer=True),
            "batch_size": check_batch_size(self._batch_size()),
            "shuffle": check_flag("shuffle", self.shuffle),
            "l2": check_positive("l2", self.l2, allow_zero=True),
            "l1": check_positive("l1", self.l1, allow_zero=True),
            "validation_fraction": check_fraction("validation_fraction", self.validation_fraction),
            "restarts": check_positive("restarts", self.restarts, integer=True),
            "verbose": check_verbose(self.verbose),
            "checkpoint_every": check_positive("checkpoint_every", self.checkpoint_every, integer=True),
            **self._checked_optional(),
        }
        for name, value in checked.items():  # Python numbers: JSON-ready
            object.__setattr__(self, name, value)
        every = getattr(self.checkpoint, "every", self.checkpoint_every)  # a Checkpoint's own
        if self.checkpoint_every not in (1, every) or (self.checkpoint is None and every != 1):
            raise ValueError(f"checkpoint_every={self.checkpoint_every} needs a checkpoint path "
                             "(checkpoint=...) to write to; a Checkpoint object writes every "
                             f"its own `every` epochs ({every})")
        if self.checkpoint is not None and self.restarts > 1:
            raise ValueError("checkpoints do not cover restarts (each run would need its own "
                             "file); use restarts=1 with checkpoint")

    def _checked_optional(self) -> dict[str, Any]:
        """The options that may be None (or an object, or "auto")."""
        checked: dict[str, Any] = {}
        if self.early_stopping is not None and not isinstance(self.early_stopping, EarlyStopping):
            checked["early_stopping"] = check_positive("patience", self.early_stopping, integer=True)
        for name in ("tol", "time_limit"):
            if getattr(self, name) is not None:
                checked[name] = check_positive(name, getattr(self, name))
        if self.checkpoint is not None and not isinstance(self.checkpoint, (str, os.PathLike, Checkpoint)):
            # (whether a file can be written there is asked by the Checkpoint fit makes, before
            # any step: the folder may only be made after these options)
            raise TypeError(f"checkpoint must be a file path or a Checkpoint, got {self.checkpoint!r}")
        check_n_jobs(self.n_jobs)
        if self.n_jobs is not None:
            checked["n_jobs"] = int(self.n_jobs)
        if self.threads is not None and self.threads != "auto":
            checked["threads"] = check_positive("threads", self.threads, integer=True)
        return checked

    def keywords(self) -> dict[str, Any]:
        """The options as :func:`deltaprop.fit`'s keywords, objects as given (the optimizer
        with its state): ``fit(net, X, y, **options.keywords())`` runs with these options."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> FitOptions:
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON: a built-in loss by its name (a user-defined one as None), an
        optimizer object by its config (:meth:`Optimizer.to_config`), early stopping by its
        settings, a checkpoint by its path."""
        options = self.keywords()
        loss = get_loss(self.loss)
        options["loss"] = loss.name if type(loss) in LOSSES.values() else None
        if isinstance(self.optimizer, Optimizer):
            options["optimizer"] = self.optimizer.to_config()
        if isinstance(self.early_stopping, EarlyStopping):
            stopper = self.early_stopping
            options["early_stopping"] = {"patience": stopper.patience, "min_delta": stopper.min_delta,
                                         "monitor": stopper.monitor, "restore_best": stopper.restore_best}
        if isinstance(self.checkpoint, Checkpoint):
            options["checkpoint"], options["checkpoint_every"] = self.checkpoint.path, self.checkpoint.every
        elif self.checkpoint is not None:
            options["checkpoint"] = os.fspath(self.checkpoint)
        return options

    @classmethod
    def from_dict(cls, options: dict[str, Any], **objects: Any) -> FitOptions:
        """The options :meth:`to_dict` wrote (or any part of them: the rest keep their
        defaults); ``objects`` replace entries a file cannot hold (``loss=`` a user-defined
        loss, ``optimizer=`` an optimizer with its state, ``checkpoint=`` a Checkpoint)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown fit options {unknown}; known: {sorted(known)}")
        values = {**options, **objects}
        if "loss" in values and values["loss"] is None:
            raise ValueError("the options name no loss (a user-defined loss is not stored); "
                             "give it as loss=")
        if isinstance(values.get("optimizer"), dict):
            values["optimizer"] = optimizer_from_config(values["optimizer"])
        if isinstance(values.get("early_stopping"), dict):
            values["early_stopping"] = EarlyStopping(**values["early_stopping"])
        return cls(**values)
