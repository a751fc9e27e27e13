"""The validation split of ``early_stopping``, as scikit-learn's MLP makes it.

``train_test_split`` with ``test_size=validation_fraction`` and a generator seeded by the
estimator's ``random_state``, stratified by class when scikit-learn does it (two classes:
its ``n_outputs_`` is 1), never for more classes, a regressor or a multilabel y; fewer than 2
validation rows is refused with scikit-learn's message. The core then trains on the first part
and validates on the second (``validation_data``), instead of drawing its own random split.
The rows drawn differ from scikit-learn's for the same ``random_state`` (it draws its initial
weights from the generator first).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

TOO_SMALL = ("The validation set is too small. Increase 'validation_fraction' or the size of "
             "your dataset.")


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
