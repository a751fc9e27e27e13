"""Weight decay: the L2 and L1 penalty on the dense layers' weights W (never the biases), and
its gradient, added to the loss and to dW_l by the training step."""

from __future__ import annotations

from typing import Any

import numpy as np


def weight_penalty(decayed: Any, l2: float, l1: float = 0.0) -> float:
    """The decay term of the loss, lambda/2 sum ||W||^2 + l1 sum |W|, over the (W, dW) pairs
    of ``decayed`` (the dense layers' weights; biases never decay)."""
    penalty = 0.0
    for W, _ in decayed:
        flat_W = W.reshape(-1)
        if l2:
            penalty += 0.5 * l2 * float(np.dot(flat_W, flat_W))
        if l1:
            penalty += l1 * float(np.abs(flat_W).sum())
    return penalty


def add_weight_decay_gradient(decayed: Any, l2: float, l1: float) -> None:
    """dW += lambda W + l1 sign(W) for each (W, dW) pair: the gradient of :func:`weight_penalty`."""
    for W, dW in decayed:
        if l2:
            dW += l2 * W
        if l1:
            dW += l1 * np.sign(W)
