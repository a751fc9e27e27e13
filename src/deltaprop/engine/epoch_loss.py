"""The epoch's loss, kept step by step by the engine: each sample's loss taken before the update
of its step, averaged over the epoch (what :attr:`History.loss <deltaprop.history.History>`
records)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class EpochLoss:
    """The epoch's loss: each sample's loss taken before the update of its step, averaged.

    A sample's loss depends only on that sample and the parameters at its step, so instead of
    evaluating the loss at every step (several passes over a small output, each costing more in
    call overhead than in arithmetic), each step's output rows are stored and the loss is
    evaluated once per epoch, vectorized. The weight-decay term, which changes every step, is
    added per step. Where a step is expensive anyway (``defer=False``), the outputs would take
    more than ``max_bytes``, or the loss is not known to be a mean of per-sample terms (a
    user's loss), the loss is evaluated every step instead.

    Parameters
    ----------
    loss : Loss
    max_rows : int
        The most rows one epoch can produce.
    n_outputs : int
    dtype : numpy dtype
    defer : bool
        Store outputs and evaluate once per epoch (worth it for small, fast steps).
    """

    max_bytes = 32 * 2**20

    def __init__(self, loss: Any, max_rows: int, n_outputs: int, dtype: Any, defer: bool = True) -> None:
        self.loss = loss
        needs = loss.value_needs
        size = max_rows * n_outputs * np.dtype(dtype).itemsize * len(needs)
        deferred = defer and loss.per_sample and size <= self.max_bytes
        self.z = np.empty((max_rows, n_outputs), dtype) if deferred and "z" in needs else None
        self.a = np.empty((max_rows, n_outputs), dtype) if deferred and "a" in needs else None
        self.rows = np.empty(max_rows, np.intp) if deferred else None
        self.count, self.total, self.in_order = 0, 0.0, True

    def start(self, Y: np.ndarray, w: np.ndarray | None = None) -> None:
        """Begin an epoch over targets ``Y`` and sample weights ``w``, in the order the epoch
        visits them (or indexes them)."""
        self.Y, self.w = Y, w
        self.count = 0
        self.total = 0.0  # per-step values, when not deferred, and weight decay
        self.weight = 0.0  # the samples' total weight (their count without weights)
        self.penalties, self.steps = 0.0, 0
        self.in_order = True  # rows so far were 0, 1, 2, ... (slices in order): none stored

    def record(self, z: Any, a: Any, rows: Any, Y_batch: np.ndarray, penalty: float,
               w_batch: np.ndarray | None = None) -> bool:
        """One step's output (before its update), the data rows it came from, its penalty and
        its sample weights. Returns False when the loss is evaluated here (not deferred) and
        has become non-finite: training stops at that step."""
        n = z.shape[0]
        c = self.count
        if self.rows is None:
            if w_batch is None:
                self.total += self.loss.value(z, a, Y_batch) * n
            else:
                self.total += float(np.dot(self.loss.sample_values(z, a, Y_batch), w_batch))
        else:
            self._store(z, a, rows, c, n)
        if w_batch is None:  # the total weight is the count: nothing more to track
            self.total += penalty * n
        else:
            batch_weight = float(w_batch.sum())
            self.total += penalty * batch_weight
            self.weight += batch_weight
            self.penalties += penalty
            self.steps += 1
        self.count = c + n
        return self.rows is not None or math.isfinite(self.total)

    def _store(self, z: Any, a: Any, rows: Any, c: int, n: int) -> None:
        """Keep the step's outputs (and where they came from) for :meth:`mean`."""
        assert self.rows is not None
        if self.z is not None:
            self.z[c:c + n] = z
        if self.a is not None:
            self.a[c:c + n] = a
        if not (isinstance(rows, slice) and rows.start == c and self.in_order):
            if self.in_order:  # the rows so far were 0..c-1
                self.rows[:c] = np.arange(c)
                self.in_order = False
            self.rows[c:c + n] = np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows

    def mean(self, chunk: int = 4096) -> float:
        """The epoch's loss (weighted by the sample weights); NaN if no step was recorded."""
        if self.count == 0:
            return math.nan
        return loss_mean(*self.sums(chunk), self.penalties, self.steps)

    def sums(self, chunk: int = 4096) -> tuple[float, float]:
        """The epoch's weighted loss sum and weight sum (the mean's numerator and denominator:
        data-parallel ranks add theirs up)."""
        weight = float(self.count if self.w is None else self.weight)
        total = self.total
        if self.rows is not None:
            for start in range(0, self.count, chunk):
                stop = min(start + chunk, self.count)
                z = None if self.z is None else self.z[start:stop]
                a = None if self.a is None else self.a[start:stop]
                Y_part = self._in_epoch_order(self.Y, start, stop)
                if self.w is None:
                    total += self.loss.value(z, a, Y_part) * (stop - start)
                else:
                    w_part = self._in_epoch_order(self.w, start, stop)
                    total += float(np.dot(self.loss.sample_values(z, a, Y_part), w_part))
        return total, weight

    def _in_epoch_order(self, array: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Rows of ``array`` for the recorded samples start..stop-1."""
        if self.in_order:
            return array[start:stop]
        assert self.rows is not None
        return array.take(self.rows[start:stop], axis=0)


def loss_mean(total: float, weight: float, penalties: float, steps: int) -> float:
    """An epoch's loss from its sums: the weighted mean ``total / weight``; when every sample
    had weight 0, only the decay term is left (its mean over the ``steps`` that recorded one);
    NaN without any."""
    if weight > 0:
        return total / weight
    return penalties / steps if steps else math.nan
