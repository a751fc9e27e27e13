"""The input detector: features on very large or very different scales (what standardization
fixes), read from the columns' root mean square, what the first layer multiplies."""

from __future__ import annotations

import numpy as np

from deltaprop._validation import is_sparse
from deltaprop.doctor import thresholds as t
from deltaprop.doctor.findings import Finding
from deltaprop.doctor.observe import Observations

Array = np.ndarray


def column_rms(X: object) -> Array:
    """sqrt(mean_i x_ij^2) of each column j, shape (n_features,): mean and spread together (a
    column of 1000 +- 1 is as large to a weight as one of 0 +- 1000)."""
    if is_sparse(X):
        squares = X.multiply(X).mean(axis=0)  # type: ignore[attr-defined]
        return np.sqrt(np.asarray(squares, dtype=np.float64).ravel())
    values = np.asarray(X, dtype=np.float64)
    return np.sqrt(np.einsum("ij,ij->j", values, values) / values.shape[0])


def unscaled_inputs(obs: Observations) -> list[Finding]:
    """``unscaled_inputs``: the inputs' overall RMS is above LARGE_INPUTS or below
    SMALL_INPUTS, or the largest column's RMS is more than SCALE_SPREAD times the smallest
    non-zero one's."""
    rms = column_rms(obs.X)
    used = rms[rms > 0]  # a constant zero column (a blank pixel) has no scale to compare
    if used.size == 0:
        return []
    overall = float(np.sqrt(np.mean(rms ** 2)))
    spread = float(used.max() / used.min())
    sized = t.SMALL_INPUTS <= overall <= t.LARGE_INPUTS
    if sized and spread <= t.SCALE_SPREAD:
        return []
    widest = int(np.argmax(rms))
    why = (f"their typical size is {overall:.3g}, not about 1" if not sized else
           f"one column is {spread:.3g} times larger than another")
    return [Finding(
        "unscaled_inputs", "warning", None,
        f"the inputs are not standardized ({why}), so the first layer's weights need very "
        "different step sizes and units start out saturated",
        {"rms": round(overall, 4), "largest_column": widest,
         "largest_column_rms": float(f"{rms[widest]:.4g}"),
         "smallest_column_rms": float(f"{used.min():.4g}"), "spread": float(f"{spread:.4g}")},
        "standardize each feature to mean 0 and standard deviation 1 with the training rows' "
        "statistics (deltaprop train and the estimators do; from Python, subtract the mean and "
        "divide by the standard deviation)")]
