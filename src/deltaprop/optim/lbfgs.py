"""L-BFGS: full-batch quasi-Newton training, through SciPy's L-BFGS-B.

Not a per-step optimizer: ``fit`` hands the whole minimization to
:mod:`deltaprop.training.lbfgs`, which gives SciPy the flat parameter vector and the loss and
gradient of the full batch. This class holds its settings (and refuses to take steps).
"""

from __future__ import annotations

import math
from typing import Any

from deltaprop._validation import check_positive
from deltaprop.optim.base import Array, Optimizer
from deltaprop.optim.schedules import Constant

SCIPY_FTOL = 2.2204460492503131e-09  # L-BFGS-B's default: 1e7 times float64's epsilon
MAX_MEMORY = 1000  # stored pairs: the workspace is about 2 * memory * P floats


class LBFGS(Optimizer):
    """Limited-memory BFGS on the full batch (SciPy's ``minimize(method="L-BFGS-B")``, no bounds).

    Each iteration k builds a quasi-Newton direction from the last ``memory`` pairs
    ``(s_j, y_j) = (theta_{j+1} - theta_j, g_{j+1} - g_j)`` (the two-loop recursion applied to
    the gradient ``g_k``) and takes a line search along it that satisfies the strong Wolfe
    conditions::

        d_k = -H_k g_k,   theta_{k+1} = theta_k + alpha_k d_k

    There is no learning rate (the line search chooses ``alpha_k``; ``lr`` is NaN) and no state
    across ``fit`` calls: each call starts a fresh minimization from the network's weights.

    ``fit(net, X, y, optimizer=LBFGS(...), epochs=...)`` trains with it: ``epochs`` is SciPy's
    ``maxiter`` (iterations, each a pass of the line search over the full batch), ``max_fun``
    its ``maxfun`` and ``tol`` its ``gtol``, as scikit-learn's ``MLPClassifier(solver="lbfgs")``
    passes ``max_iter``, ``max_fun`` and ``tol``.

    Parameters
    ----------
    max_fun : int
        Most evaluations of the loss and gradient (checked at the end of each iteration, so a
        run may exceed it by one line search).
    tol : float
        Converged when the largest entry of the gradient, in absolute value, is at most ``tol``
        (SciPy's ``gtol``, the infinity norm of the projected gradient).
    ftol : float
        Converged also when an iteration decreases the loss by at most this fraction,
        ``(f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol`` (SciPy's ``ftol``; its default,
        which scikit-learn keeps).
    memory : int
        Pairs (s, y) kept (SciPy's ``maxcor``), at most 1000.

    Notes
    -----
    Needs SciPy >= 1.11 (the ``fast`` extra). The objective must be smooth and the same at
    every evaluation: ``fit`` refuses ``l1 > 0``, Dropout, random sampling, minibatches, the
    compiled engine, checkpoints and MPI with it, naming each.
    """

    name = "lbfgs"
    full_batch = True

    def __init__(self, max_fun: int = 15000, tol: float = 1e-4, ftol: float = SCIPY_FTOL,
                 memory: int = 10) -> None:
        self.max_fun = check_positive("max_fun", max_fun, integer=True)
        self.tol = check_positive("tol", tol, allow_zero=True)
        self.ftol = check_positive("ftol", ftol, allow_zero=True)
        self.memory = check_positive("memory", memory, integer=True)
        if self.memory > MAX_MEMORY:
            raise ValueError(f"memory must be at most {MAX_MEMORY} pairs, got {memory} (its "
                             "workspace grows as 2 * memory * the number of parameters)")
        # The base class's per-step settings, fixed: no learning rate, schedule or clipping.
        self.lr = self.current_lr = math.nan
        self.schedule, self.clip_norm = Constant(), None
        self.t = self.epoch = 0  # t: iterations done in the last fit

    def start(self, total_epochs: int) -> None:
        raise ValueError(_NOT_PER_STEP)

    def step(self, theta: Array, grad: Array) -> None:
        raise ValueError(_NOT_PER_STEP)

    def to_config(self) -> dict[str, Any]:
        """The class and constructor arguments (no schedule)."""
        return {"class": type(self).__name__,
                "params": {"max_fun": self.max_fun, "tol": self.tol, "ftol": self.ftol,
                           "memory": self.memory}}

    def __repr__(self) -> str:
        return (f"LBFGS(max_fun={self.max_fun}, tol={self.tol:g}, ftol={self.ftol:g}, "
                f"memory={self.memory})")


_NOT_PER_STEP = ("L-BFGS is not a per-step optimizer: it minimizes over the full batch inside "
                 "deltaprop.fit(net, X, y, optimizer=LBFGS()); for step-by-step training use "
                 "SGD or Adam")
