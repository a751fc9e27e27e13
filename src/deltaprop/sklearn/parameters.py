"""The estimators' shared parameters checked as scikit-learn's ``_parameter_constraints``
say, with deltaprop's messages (numbers must also be finite here)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from deltaprop._validation import check_count, check_flag, check_fraction, check_positive, check_verbose
from deltaprop.callbacks.base import check_callbacks
from deltaprop.mlp import check_layer_sizes

_FLAGS = ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping", "batch_norm", "auto")
_COUNTS = ("max_iter", "max_fun", "restarts")  # Interval(Integral, 1, None)
_NUMBERS: dict[str, Callable[[str, Any], Any]] = {
    "learning_rate_init": check_positive,  # Interval(Real, 0, None, closed="neither")
    "time_budget": check_positive,  # seconds for auto=True's search
    "epsilon": check_positive,
    "alpha": partial(check_positive, allow_zero=True),  # Interval(Real, 0, None, closed="left")
    "tol": partial(check_positive, allow_zero=True),
    "power_t": partial(check_positive, allow_zero=True),
    # scikit-learn's Interval(Real, 0, 1, "both"); SGD itself then refuses 1, which would
    # never forget a gradient
    "momentum": partial(check_fraction, high_inclusive=True),
    "beta_1": check_fraction,  # Interval(Real, 0, 1, closed="left")
    "beta_2": check_fraction,
    "validation_fraction": check_fraction,
}


class ParameterError(ValueError, TypeError):
    """A parameter outside scikit-learn's constraints: both a ValueError and a TypeError, as
    scikit-learn's own InvalidParameterError is, so either ``except`` catches it."""



def check_shared_parameters(est: Any) -> list[int]:
    """The parameters the two estimators share, checked (see the module docstring); return
    the hidden widths."""
    _check_choices(est)
    for name in _FLAGS:
        check_flag(name, getattr(est, name))
    check_verbose(est.verbose)
    _check_counts(est)
    for name, check in _NUMBERS.items():
        check(name, getattr(est, name))
    if est.early_stopping and est.validation_fraction == 0:
        raise ValueError("validation_fraction must be > 0 with early_stopping=True (it is the "
                         "share of the data held out to decide when to stop)")
    if est.callbacks is not None:
        check_callbacks(est.callbacks)
    sizes = est.hidden_layer_sizes
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
        sizes = [sizes]  # one hidden layer, as scikit-learn allows
    return check_layer_sizes(sizes, "hidden_layer_sizes", minimum=0)

def _check_counts(est: Any) -> None:
    """The parameters that count: integers >= 1 (``n_iter_no_change`` may be inf, never
    stopping on it; ``batch_size`` may be "auto"), as scikit-learn's constraints say."""
    for name in _COUNTS:
        check_count(name, getattr(est, name))
    if not (isinstance(est.n_iter_no_change, float) and est.n_iter_no_change == math.inf):
        check_count("n_iter_no_change", est.n_iter_no_change)
    if isinstance(est.batch_size, str) and est.batch_size != "auto":
        raise ValueError(f"batch_size must be 'auto' or an integer > 0, got {est.batch_size!r}")
    if not isinstance(est.batch_size, str):
        check_count("batch_size", est.batch_size)

def _check_choices(est: Any) -> None:
    """The parameters that name one of a few choices."""
    if not isinstance(est.solver, str) or est.solver not in ("sgd", "adam", "lbfgs"):
        raise ValueError(f"solver must be 'lbfgs', 'sgd' or 'adam', got {est.solver!r}")
    if not isinstance(est.learning_rate, str) or est.learning_rate not in (
            "constant", "invscaling", "adaptive"):
        raise ValueError("learning_rate must be 'constant', 'invscaling' or 'adaptive', "
                         f"got {est.learning_rate!r}")
