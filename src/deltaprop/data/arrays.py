"""Arrays in memory as a data source: each epoch one run of minibatches over (X, Y, w).

:meth:`ArraySource.from_data` checks the data once (:func:`~deltaprop._validation.check_data`),
splits off the validation data, and fixes the minibatch size; :meth:`ArraySource.epoch` then draws
each epoch's rows from the network's generator. Where steps are small (NumPy's call overhead sets
their time), a shuffled epoch is gathered once into a reused copy of the data, whose minibatches
are slices, and their views are made once and kept across epochs: two calls fewer per step.

A scipy.sparse X (CSR, CSC, COO...) stays sparse: it is checked and converted to CSR of the
network's dtype once (a CSC or COO X, or another dtype, costs one copy of its non-zeros; a CSR X
of that dtype none), each minibatch's rows are sliced from it as CSR (never shuffled into a copy),
and the first dense layer multiplies them sparsely (:mod:`deltaprop.layers.dense`); only the
NumPy engine takes them (``sparse``).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import numpy as np

from deltaprop._validation import TargetLoss, check_data, is_sparse
from deltaprop.data.batches import (
    Batch,
    Epoch,
    Minibatches,
    Splittable,
    batch_rows,
    cut,
    epoch_order,
    minibatch_indices,
    split_validation,
)
from deltaprop.engine.threads import is_small_step

Array = np.ndarray
SHUFFLE_COPY_BYTES = 32 * 2**20  # data up to this size is shuffled into a copy once per epoch
MAX_CACHED_BATCHES = 4096  # minibatch views kept across epochs (about 400 bytes each)


class Trained(Splittable, Protocol):
    """What a data source reads of the network it feeds (a :class:`~deltaprop.network.Network`)."""

    @property
    def batchnorm_layers(self) -> list[Any]: ...

    @property
    def dense_layers(self) -> list[Any]: ...


class ArraySource:
    """Training data in memory, cut into minibatches epoch by epoch.

    Parameters
    ----------
    X, Y, w : ndarray
        The checked training inputs (n, n_inputs), targets (n, n_outputs) and sample weights
        (n,) or None, as :class:`~deltaprop.data.batches.Minibatches` holds them.
    batch_size : int
        Rows per minibatch (at most n).
    sampling : {"epoch", "random"}
        As :func:`deltaprop.fit` takes it.
    shuffle : bool
    min_batch : int
        A last minibatch smaller than this is skipped (2 with BatchNorm).
    small_steps : bool
        Steps cost more in calls than in arithmetic: shuffle small data into a copy once per
        epoch, and let the engine defer the epoch loss.
    validation : (X_val, Y_val, w_val) or None
        Checked validation data.
    rows : dict of str to ndarray
        The rows of a ``validation_fraction`` split (empty without one), for checkpoints.
    fingerprint : str or None
        A hash of the data (:func:`fingerprint`), when a checkpoint needs it.

    Attributes
    ----------
    sparse : bool
        X is a scipy.sparse CSR matrix (which the compiled engine does not take).
    """

    def __init__(self, X: Array, Y: Array, w: Array | None, *, batch_size: int,
                 sampling: str = "epoch", shuffle: bool = True, min_batch: int = 1,
                 small_steps: bool = False,
                 validation: tuple[Array, Array, Array | None] | None = None,
                 rows: dict[str, Array] | None = None, fingerprint: str | None = None) -> None:
        self.X, self.Y, self.w = X, Y, w
        self.batch_size, self.sampling, self.shuffle = batch_size, sampling, shuffle
        self.min_batch, self.small_steps = min_batch, small_steps
        self.validation, self.rows, self.fingerprint = validation, rows or {}, fingerprint
        n = X.shape[0]
        self.batches_per_epoch = -(-n // batch_size)
        self.max_rows = self.batches_per_epoch * batch_size if sampling == "random" else n
        self.sparse = is_sparse(X)  # its minibatches are sliced from CSR, never copied whole
        self.copy_once = (small_steps and shuffle and sampling == "epoch" and batch_size < n
                          and not self.sparse and X.nbytes + Y.nbytes <= SHUFFLE_COPY_BYTES)
        self._copies: tuple[Array, Array, Array | None] | None = None
        self.engine_gathers = False  # set by for_run
        self._views: list[Batch] | None = None

    @classmethod
    def from_data(cls, net: Trained, loss: TargetLoss, X: Any, y: Any, sample_weight: Any = None,
                  validation_data: Any = None, *, validation_fraction: float = 0.0,
                  batch_size: int | str = 32, sampling: str = "epoch", shuffle: bool = True,
                  rows: dict[str, Array] | None = None, keep_fingerprint: bool = False,
                  same_data_as: str | None = None) -> ArraySource:
        """Check (X, y, sample_weight) and the validation data for ``net`` and ``loss``, split off
        a ``validation_fraction`` (at random from ``net.rng``, or by the saved ``rows``), and fix
        the minibatch size. ``keep_fingerprint`` keeps a hash of the data (for a checkpoint);
        ``same_data_as`` is the hash of the data a checkpointed run used: other data are refused."""
        X, Y, w = check_data(net, loss, X, y, sample_weight, sparse=True)
        data_print = None
        if keep_fingerprint or same_data_as is not None:
            validation_arrays = validation_data if isinstance(validation_data, (tuple, list)) else ()
            data_print = fingerprint(X, Y, w, *(a if is_sparse(a) else np.asarray(a)
                                                for a in validation_arrays))
        if same_data_as is not None and data_print != same_data_as:
            raise ValueError("these data differ from the checkpointed run's (their fingerprints "
                             "differ); resume with the same X, y and sample_weight")
        (X, Y, w), validation, rows = split_validation(net, loss, (X, Y, w), validation_data,
                                                       validation_fraction, rows=rows)
        n_batch = batch_rows(batch_size, X.shape[0])
        min_batch = 2 if net.batchnorm_layers else 1
        if n_batch < min_batch:
            raise ValueError(
                "batch normalization needs at least 2 samples per batch in training; "
                f"batch_size={batch_size} with {X.shape[0]} samples gives {n_batch}"
            )
        return cls(X, Y, w, batch_size=n_batch, sampling=sampling, shuffle=shuffle,
                   min_batch=min_batch, small_steps=is_small_step(net, n_batch),
                   validation=validation, rows=rows, fingerprint=data_print)

    def for_run(self, engine_gathers: bool = False) -> ArraySource:
        """This source with buffers of its own, for one training run (runs may share a source,
        also in threads). ``engine_gathers``: the engine gathers each minibatch's rows itself
        (the compiled engine), so no shuffled copy is made and each run carries its ``order``."""
        fresh = copy.copy(self)
        fresh._copies, fresh._views = None, None
        if engine_gathers:
            fresh.copy_once, fresh.engine_gathers = False, True
        return fresh

    def __getstate__(self) -> dict[str, Any]:
        """The shuffled copies stay here: each run makes its own."""
        return {**self.__dict__, "_copies": None, "_views": None}

    def epoch(self, rng: np.random.Generator) -> Epoch:
        """This epoch's minibatches, with the rows drawn from ``rng`` (a shuffle, or random
        sampling with replacement)."""
        n = self.X.shape[0]
        if self.sampling == "random":
            rows = minibatch_indices(n, self.batch_size, rng, sampling="random")
            return Epoch(self.Y, self.w, (Minibatches(self.X, self.Y, self.w, rows),))
        if not self.copy_once:
            order = epoch_order(n, self.batch_size, rng, self.shuffle)
            rows = cut(n, self.batch_size, order, self.min_batch)
            plan: dict[str, Any] = {}
            if self.engine_gathers:  # the rows cut visits: a last batch below min_batch sits out
                last = n % self.batch_size
                visited = n - last if 0 < last < self.min_batch else n
                visits = np.arange(n) if order is None else order
                plan = {"order": visits[:visited], "batch": self.batch_size}
            return Epoch(self.Y, self.w, (Minibatches(self.X, self.Y, self.w, rows, **plan),))
        X, Y, w = self._shuffled(rng.permutation(n))  # the draw minibatch_indices would make
        in_order = minibatch_indices(n, self.batch_size, rng, shuffle=False, min_batch=self.min_batch)
        views: Iterable[Batch]
        if self.batches_per_epoch > MAX_CACHED_BATCHES:  # too many views to keep (memory)
            views = _views(X, Y, w, in_order)
        else:
            if self._views is None:  # views of the shuffled copies: the same every epoch
                self._views = list(_views(X, Y, w, in_order))
            views = self._views
        slices = minibatch_indices(n, self.batch_size, rng, shuffle=False, min_batch=self.min_batch)
        return Epoch(Y, w, (Minibatches(X, Y, w, slices, views),))

    def _shuffled(self, order: Array) -> tuple[Array, Array, Array | None]:
        """X, Y and w in the order ``order``, gathered into copies reused every epoch."""
        if self._copies is None:
            self._copies = (np.empty_like(self.X), np.empty_like(self.Y),
                            None if self.w is None else np.empty_like(self.w))
        X, Y, w = self._copies
        self.X.take(order, axis=0, out=X)
        self.Y.take(order, axis=0, out=Y)
        if w is not None:
            self.w.take(order, out=w)  # type: ignore[union-attr]
        return X, Y, w


def _views(X: Array, Y: Array, w: Array | None, slices: Iterable[Any]) -> Iterator[Batch]:
    """Views of the minibatches at ``slices`` (consecutive rows)."""
    return ((X[rows], Y[rows], rows, None if w is None else w[rows]) for rows in slices)


def fingerprint(*arrays: Any) -> str:
    """A hash of the training data (values, shapes and dtypes); a scipy.sparse matrix by its
    CSR parts (the same matrix in another format hashes the same)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        if array is None:
            digest.update(b"none")
            continue
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        parts: tuple[Any, ...] = (array,)
        if is_sparse(array):
            rows = array.tocsr()
            if not rows.has_canonical_format:
                rows = rows.copy()
                rows.sum_duplicates()
            digest.update(b"sparse")
            parts = (rows.data, rows.indices.astype(np.int64), rows.indptr.astype(np.int64))
        for part in parts:
            digest.update(np.ascontiguousarray(part).data)
    return digest.hexdigest()
