"""Minibatches and splits: which rows each step sees.

A data source (:mod:`deltaprop.data.arrays`, :mod:`deltaprop.data.stream`) cuts each epoch into
:class:`Minibatches`, runs of minibatches over row-aligned arrays, which it hands to an engine
(:mod:`deltaprop.engine.step`) whole: the engine gathers the rows and takes the steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from deltaprop._validation import Shaped, TargetLoss, check_data, check_fraction, check_positive

Array = np.ndarray
# X_batch (an array, or CSR rows of a sparse X), Y_batch, rows (a slice or indices), w_batch or None
Batch = tuple[Any, Array, Any, Any]


@dataclass
class Minibatches:
    """A run of minibatches over row-aligned arrays: what an engine trains on in one call.

    Attributes
    ----------
    X : ndarray or scipy.sparse CSR matrix, shape (n, n_inputs)
    Y : ndarray, shape (n, n_outputs)
    w : ndarray of shape (n,) or None
        Sample weights.
    rows : iterable of slice or ndarray of int
        Each minibatch's rows of X, Y and w, in order: a slice (consecutive rows, taken as views)
        or indices (gathered). It may be drawn lazily, while the steps run, where the draws must
        follow those of the steps before (random sampling next to dropout, from one generator).
    views : iterable of Batch, optional
        The same minibatches as ready ``(X_batch, Y_batch, rows, w_batch)`` views, made once by
        the source for slices it keeps across epochs (no slicing per step).
    order : ndarray of int, optional
        The same rows as one array, known before the run: every row in the order visited, cut
        into consecutive minibatches of ``batch`` rows (the last may be smaller). An engine
        that gathers rows itself reads this instead of ``rows``.
    batch : int
        The minibatch size of ``order``.
    """

    X: Array
    Y: Array
    w: Array | None
    rows: Iterable[Any]
    views: Iterable[Batch] | None = None
    order: Array | None = None
    batch: int = 0


class Epoch(NamedTuple):
    """One epoch of a data source: the runs of minibatches, and the targets and sample weights
    their rows index (what a deferred epoch loss reads back; None for streams)."""

    Y: Array | None
    w: Array | None
    runs: Iterable[Minibatches]


class Splittable(Shaped, Protocol):
    """What a validation split reads of a network: its widths, dtype and random generator."""

    rng: np.random.Generator


def minibatch_indices(
    n_samples: int, batch_size: int, rng: np.random.Generator, *, shuffle: bool = True,
    sampling: str = "epoch", min_batch: int = 1,
) -> Iterator[Array | slice]:
    """Yield the rows of each minibatch of one epoch.

    ``sampling="epoch"``: a permutation (or, without ``shuffle``, consecutive slices) cut into
    batches of ``batch_size``, the last one possibly smaller. ``sampling="random"``:
    ceil(n / batch_size) batches, each drawn uniformly at random with replacement.
    Slices are yielded where no gather is needed (no shuffling), index arrays otherwise.
    A last batch smaller than ``min_batch`` is skipped (BatchNorm cannot train on one sample;
    with shuffling a different sample sits out each epoch).
    """
    if sampling == "random":
        for _ in range(-(-n_samples // batch_size)):
            yield rng.integers(0, n_samples, size=batch_size)
        return
    yield from cut(n_samples, batch_size, epoch_order(n_samples, batch_size, rng, shuffle), min_batch)


def epoch_order(n_samples: int, batch_size: int, rng: np.random.Generator,
                shuffle: bool = True) -> Array | None:
    """The order in which an epoch (``sampling="epoch"``) visits the rows: a permutation drawn
    from ``rng``, or None for 0, 1, ..., n-1 (no shuffle, or one batch of every row: no draw)."""
    if not shuffle or batch_size >= n_samples:
        return None
    return rng.permutation(n_samples)


def cut(n_samples: int, batch_size: int, order: Array | None, min_batch: int = 1) -> Iterator[Array | slice]:
    """The minibatches' rows of an epoch visiting ``order`` (None: in order, as slices)."""
    for start in range(0, n_samples, batch_size):
        if n_samples - start >= min_batch:
            stop = min(start + batch_size, n_samples)
            yield slice(start, stop) if order is None else order[start:stop]


def validation_rows(n: int, fraction: float, rng: np.random.Generator) -> dict[str, Array]:
    """``fraction`` of the rows ``0..n-1``, chosen at random, for validation; the rest train."""
    n_val = int(round(fraction * n))
    if n_val < 1 or n_val >= n:
        raise ValueError(
            f"validation_fraction={fraction} of {n} samples leaves {n_val} for validation and "
            f"{n - n_val} for training; both need at least one"
        )
    order = rng.permutation(n)
    return {"train_rows": order[n_val:], "validation_rows": order[:n_val]}


def train_validation_split(
    arrays: tuple[Array | None, ...], rows: dict[str, Array]
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Split ``arrays`` (X, Y, optional sample weights: they share their rows; a None stays
    None) into the training and the validation arrays by :func:`validation_rows`."""
    train, val = rows["train_rows"], rows["validation_rows"]
    return (tuple(None if a is None else a[train] for a in arrays),
            tuple(None if a is None else a[val] for a in arrays))


def split_validation(net: Splittable, loss: TargetLoss, train: tuple[Array, Array, Array | None],
                     validation_data: Any, validation_fraction: float,
                     rows: dict[str, Array] | None = None) -> tuple[Any, Any, dict[str, Array]]:
    """The training triple (X, Y, w), the validation triple (or None; w may be None), and the
    rows of a ``validation_fraction`` split (``rows``, if given, instead of a new draw)."""
    validation_fraction = check_fraction("validation_fraction", validation_fraction)
    if validation_data is not None and validation_fraction:
        raise ValueError("give validation_data or validation_fraction, not both")
    if validation_fraction:
        rows = rows or validation_rows(train[0].shape[0], validation_fraction, net.rng)
        train_part, validation = train_validation_split(train, rows)
        for part, name in ((train_part, "training"), (validation, "validation")):
            if part[2] is not None and not part[2].sum() > 0:
                raise ValueError(f"the {name} part of the split has sample weights summing to 0")
        return train_part, validation, rows
    return train, check_validation_data(net, loss, validation_data), {}


def check_validation_data(net: Shaped, loss: TargetLoss,
                          validation_data: Any) -> tuple[Array, Array, Array | None] | None:
    """``validation_data`` ((X_val, y_val) or (X_val, y_val, sample_weight_val), or None) checked
    and converted as training data are (a scipy.sparse X_val as CSR rows: validation runs on
    the NumPy forward pass, whatever the engine)."""
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("validation_data must be (X_val, y_val) or (X_val, y_val, sample_weight_val)")
    X_val, y_val, *w_val = validation_data
    return check_data(net, loss, X_val, y_val, w_val[0] if w_val else None, what="validation ",
                      sparse=True)


def check_batch_size(batch_size: Any) -> int | str:
    """Return ``batch_size`` if it is a positive integer or "full", else raise naming it."""
    if isinstance(batch_size, str):
        if batch_size != "full":
            raise ValueError(f"batch_size must be a positive integer or 'full', got {batch_size!r}")
        return batch_size
    return check_positive("batch_size", batch_size, integer=True)  # type: ignore[no-any-return]


def batch_rows(batch_size: int | str, n_samples: int) -> int:
    """Rows per minibatch: ``batch_size`` capped at ``n_samples``, or all of them for "full"."""
    checked = check_batch_size(batch_size)
    return n_samples if checked == "full" else min(int(checked), n_samples)
