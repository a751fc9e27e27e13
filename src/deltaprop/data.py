"""Minibatches and splits: which rows each step sees."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

Array = np.ndarray


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
    n_batches = -(-n_samples // batch_size)
    if sampling == "random":
        for _ in range(n_batches):
            yield rng.integers(0, n_samples, size=batch_size)
        return
    if not shuffle or n_batches == 1 and batch_size >= n_samples:
        for start in range(0, n_samples, batch_size):
            if n_samples - start >= min_batch:
                yield slice(start, min(start + batch_size, n_samples))
        return
    order = rng.permutation(n_samples)
    for start in range(0, n_samples, batch_size):
        if n_samples - start >= min_batch:
            yield order[start:start + batch_size]


def train_validation_split(
    arrays: tuple[Array | None, ...], fraction: float, rng: np.random.Generator
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Hold out ``fraction`` of the rows, chosen at random, as validation data.

    ``arrays`` share their rows (X, Y and optional sample weights; a None stays None in both
    parts). Returns the training arrays and the validation arrays, in the same order.
    """
    n = next(array for array in arrays if array is not None).shape[0]
    n_val = int(round(fraction * n))
    if n_val < 1 or n_val >= n:
        raise ValueError(
            f"validation_fraction={fraction} of {n} samples leaves {n_val} for validation and "
            f"{n - n_val} for training; both need at least one"
        )
    order = rng.permutation(n)
    val, train = order[:n_val], order[n_val:]
    return (tuple(None if a is None else a[train] for a in arrays),
            tuple(None if a is None else a[val] for a in arrays))
