"""The validation split of ``early_stopping``, as scikit-learn's MLP makes it.

``train_test_split`` with ``test_size=validation_fraction`` and the estimator's random state,
stratified by class for a single-output classifier (so every class is in both parts), never
for a regressor or a multilabel y; fewer than 2 validation rows is refused with scikit-learn's
message. The core then trains on the first part and validates on the second
(``validation_data``), instead of drawing its own random split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

TOO_SMALL = ("The validation set is too small. Increase 'validation_fraction' or the size of "
             "your dataset.")


def check_stratifiable(labels: np.ndarray, classes: np.ndarray) -> None:
    """Refuse a stratified split when a class has a single sample, naming the class (scikit-
    learn's ``train_test_split`` says only "The least populated class ... has only 1 member")."""
    counts = np.bincount(labels, minlength=len(classes))
    single = [classes[i:i + 1].tolist()[0] for i in np.flatnonzero(counts == 1)]  # plain values
    if single:
        raise ValueError(
            "The least populated class in y has only 1 member, which is too few. The minimum "
            "number of groups for any class cannot be less than 2. (early_stopping's validation "
            f"split is stratified by class; class {single[0]!r} has a single sample"
            + (f", as have {len(single) - 1} more" if len(single) > 1 else "")
            + ": give it more samples or set early_stopping=False)"
        )


def validation_split(X: Any, Y: np.ndarray, w: np.ndarray | None, fraction: float, random_state: Any,
                     stratify: np.ndarray | None) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """((X, Y, w) to train on, (X, Y, w) to validate on); w stays None without weights.

    ``stratify``: each row's class index (a single-output classifier), or None.
    """
    arrays = (X, Y) if w is None else (X, Y, w)
    parts = train_test_split(*arrays, test_size=fraction, random_state=random_state, stratify=stratify)
    train, validation = tuple(parts[0::2]), tuple(parts[1::2])
    if validation[0].shape[0] < 2:
        raise ValueError(TOO_SMALL)
    if w is None:
        train, validation = (*train, None), (*validation, None)
    return train, validation
