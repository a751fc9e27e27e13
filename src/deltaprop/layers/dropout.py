"""Inverted dropout: drop units at random in training, scale the survivors by 1/(1-p)."""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop._validation import check_fraction
from deltaprop.layers.base import Array, Layer


class Dropout(Layer):
    """Zero each unit with probability ``p`` in training; identity in evaluation.

    Parameters
    ----------
    p : float in [0, 1)
        Drop probability.

    Notes
    -----
    ``a = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` drawn per sample and unit, so the
    expected activation is unchanged and evaluation needs no rescaling. Backward:
    ``dx = g * m / (1 - p)``. ``freeze_mask = True`` reuses the last mask (for gradient checks).

    Part of a global batch (``part = (offset, B)`` set, by data-parallel training): this
    process's rows are rows ``offset, offset + 1, ...`` of a batch of B. It draws the whole
    (B, n) mask, as one process given the batch would, from the same generator state, and keeps
    its rows: the processes use the very masks of one process, and their generators stay equal.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_fraction("dropout p", p)
        self.freeze_mask = False
        self.mask: Array | None = None
        self.part: tuple[int, int] | None = None  # (row offset, global batch size) while spread

    def forward(self, x: Array, *, training: bool) -> Array:
        if not training or self.p == 0.0:
            self.mask = None
            return x
        if not (self.freeze_mask and self.mask is not None and self.mask.shape == x.shape):
            if self.rng is None:
                raise ValueError("this Dropout layer has no random generator: use it inside a Network")
            if self.part is None:
                self.mask = self._draw_mask(x.shape, x.dtype)
            else:
                offset, rows = self.part
                assert 0 <= offset and offset + x.shape[0] <= rows, "rows outside the global batch"
                self.mask = self._draw_mask((rows, x.shape[1]), x.dtype)[offset:offset + x.shape[0]]
        return np.multiply(x, self.mask, out=self._buffer("out", x.shape, x.dtype))

    def _draw_mask(self, shape: tuple[int, int], dtype: Any) -> Array:
        """mask = [u >= p] / (1 - p), u ~ U[0, 1), drawn and scaled in one reused buffer."""
        assert self.rng is not None
        mask = self._buffer("mask", shape, dtype)
        self.rng.random(dtype=mask.dtype, out=mask)
        np.greater_equal(mask, self.p, out=mask)
        mask *= 1.0 / (1.0 - self.p)
        return mask

    def backward(
        self, g: Array, *, need_input_grad: bool = True, overwrite_g: bool = False
    ) -> Array | None:
        if not need_input_grad:
            return None
        if self.mask is None:
            return g
        return np.multiply(g, self.mask, out=self._buffer("dx", g.shape, g.dtype))

    def to_config(self) -> dict[str, Any]:
        return {"type": "Dropout", "p": self.p}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Dropout:
        return cls(config["p"])

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
