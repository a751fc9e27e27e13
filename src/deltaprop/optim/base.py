"""What every optimizer shares: the learning rate and its schedule, clipping, step counting.

Optimizers update the network's flat parameter vector ``theta`` in place from the flat gradient
vector ``grad`` (both of length P, every layer's W and b laid end to end), so one step is a few
vectorized operations whatever the depth. State (velocity, moments) is flat too.

The update runs over chunks of ``CHUNK`` entries with a chunk-sized scratch array: the
intermediate results stay in cache instead of making extra round trips to memory, which halves
the time of an SGD step on a 2-million-parameter network, and no P-sized scratch is allocated.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from deltaprop._validation import check_positive
from deltaprop.optim.schedules import Constant, Schedule, get_schedule

Array = np.ndarray
CHUNK = 65536  # entries per update chunk: 256 KiB of float32, cache-resident


class Optimizer:
    """Base class.

    Parameters
    ----------
    lr : float
        eta_0, the base learning rate.
    schedule : str or Schedule, optional
        How eta changes with steps and epochs (default constant).
    clip_norm : float, optional
        If given, the gradient is rescaled so its global L2 norm is at most ``clip_norm``
        before the update.
    """

    name = "optimizer"
    full_batch = False  # True: minimizes over the whole training set in fit (LBFGS), no steps

    def __init__(self, lr: float, schedule: str | Schedule | None = None, clip_norm: float | None = None):
        self.lr = check_positive("lr", lr)
        self.schedule = get_schedule(schedule)
        self.clip_norm = None if clip_norm is None else check_positive("clip_norm", clip_norm)
        self.t = 0
        self.epoch = 0
        self.current_lr = self.lr

    def reset(self) -> None:
        """Forget all state (step count and moments), as for a fresh run."""
        self.t = 0
        self.epoch = 0
        self.current_lr = self.lr

    def start(self, total_epochs: int) -> None:
        """Called by ``fit`` before the first epoch."""
        self.schedule.start(total_epochs)

    def set_epoch(self, epoch: int) -> None:
        """Called by ``fit`` at the start of each epoch (0-based)."""
        self.epoch = epoch

    def step(self, theta: Array, grad: Array) -> None:
        """Update ``theta`` in place from ``grad`` (``grad`` may be rescaled in place by clipping)."""
        self.t += 1
        self.current_lr = self.lr_at(self.t)
        if self.clip_norm is not None:
            norm = float(np.sqrt(np.dot(grad, grad)))
            if norm > self.clip_norm:
                grad *= self.clip_norm / norm
        self._update(theta, grad, self.current_lr)

    def lr_at(self, t: int) -> float:
        """The learning rate of step ``t`` (reads ``lr`` and ``schedule`` afresh: callbacks may
        change them)."""
        if type(self.schedule) is Constant:  # the common case, without a call
            return self.lr
        return self.schedule(self.lr, t, self.epoch)

    def step_is_safe(self, grad_norm: float) -> bool:
        """Whether the next step from a gradient of this norm keeps the parameters finite.

        A non-finite gradient is never safe. Subclasses whose step grows with the gradient add a
        bound on its size (float32 overflows at 3.4e38).
        """
        return math.isfinite(grad_norm)

    def _update(self, theta: Array, grad: Array, lr: float) -> None:
        raise NotImplementedError

    state_arrays: tuple[str, ...] = ()  # attributes holding per-parameter state (velocity, moments)

    def state_dict(self) -> dict[str, Any]:
        """Step count, epoch, learning rate (callbacks may change it) and copies of the state
        arrays (None before the first step): what a checkpoint needs to continue exactly."""
        state: dict[str, Any] = {"t": self.t, "epoch": self.epoch, "lr": self.lr}
        state.update({name: self._copy(getattr(self, name)) for name in self.state_arrays})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put back a :meth:`state_dict`."""
        self.t, self.epoch, self.lr = int(state["t"]), int(state["epoch"]), float(state["lr"])
        for name in self.state_arrays:
            setattr(self, name, self._copy(state.get(name)))

    def to_config(self) -> dict[str, Any]:
        """The class and constructor arguments (the schedule's too) that rebuild this optimizer
        with :func:`~deltaprop.optim.optimizer_from_config`; JSON-ready."""
        import inspect

        names = inspect.signature(type(self).__init__).parameters
        params = {k: v for k, v in vars(self).items() if k in names and k != "schedule"}
        schedule_names = inspect.signature(type(self.schedule).__init__).parameters
        schedule = {"name": self.schedule.name,
                    **{k: v for k, v in vars(self.schedule).items() if k in schedule_names}}
        return {"class": type(self).__name__, "params": params, "schedule": schedule}

    @staticmethod
    def _copy(array: Array | None) -> Array | None:
        return None if array is None else array.copy()

    def _workspace(self, name: str, like: Array) -> Array:
        """A zero-initialised state array the size of ``theta``, kept across steps."""
        array = getattr(self, name, None)
        if array is None or array.shape != like.shape or array.dtype != like.dtype:
            array = np.zeros_like(like)
            setattr(self, name, array)
        return array

    def _chunks(self, *arrays: Array) -> list[tuple[Array, ...]]:
        """For each update chunk: the views of ``arrays`` (theta, grad, state...) and a scratch
        view, made once for these arrays and reused every step."""
        key = tuple(map(id, arrays))  # the cached views keep the arrays alive: ids stay unique
        if getattr(self, "_chunk_key", None) != key:
            size = arrays[0].size
            scratch = np.empty(min(CHUNK, size), dtype=arrays[0].dtype)
            self._chunk_list = [
                (*(array[start:start + CHUNK] for array in arrays), scratch[: min(CHUNK, size - start)])
                for start in range(0, size, CHUNK)
            ]
            self._chunk_key = key
        return self._chunk_list

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_chunk_list", "_chunk_key")}
