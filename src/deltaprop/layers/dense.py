"""The fully-connected layer: z = a_prev W^T + b, a = f(z) (the notes' z_l = W_l a_{l-1} + b_l)."""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.activations import Activation, Identity, get_activation
from deltaprop.blas import matmul
from deltaprop.initializers import get_initializer
from deltaprop.layers.base import Array, Layer, ParameterSpec, activation_fields, activation_from_fields


class Dense(Layer):
    """A fully-connected layer with an optional elementwise activation fused in.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths. ``W`` has shape ``(n_out, n_in)``, ``b`` shape ``(n_out,)``.
    activation : str, Activation or None
        ``f``; ``None`` means identity, except on the last layer of a network, where ``None``
        means "chosen by the loss" (softmax for cross-entropy, sigmoid for binary
        cross-entropy, identity for squared error).
    init : str or callable, optional
        Weight initializer (see :mod:`deltaprop.initializers`); default by activation.

    Notes
    -----
    With layer ``i`` (0-based) being layer ``l = i + 1`` of the notes, for a batch of rows::

        forward:   z = a_prev @ W.T + b          z_l = W_l a_{l-1} + b_l      (n, n_out)
                   a = f(z)                      a_l = f(z_l)                 (n, n_out)
        backward:  delta = g * f'(z)             delta_l = (W_{l+1}^T delta_{l+1}) * f'(z_l)
                   dW = delta.T @ a_prev         dW_l = delta_l a_{l-1}^T     (n_out, n_in)
                   db = delta.sum(axis=0)        db_l = delta_l               (n_out,)
                   g_below = delta @ W           W_l^T delta_l                (n, n_in)

    ``g`` already carries the 1/n of the batch mean (the loss owns it), so nothing divides here.
    After a backward pass ``self.delta`` holds delta_l, ``self.z`` and ``self.a`` hold z_l, a_l.

    ``a_prev`` may be scipy.sparse CSR rows (a sparse X, first layer only): then z is SciPy's
    sparse-times-dense product and ``dW = (a_prev.T @ delta).T``, sparse (CSC) times dense, both
    over the columns the batch touches, so the rows are never made dense; the gradient handed
    down (no layer below) would come from ``delta`` and ``W`` alone, as ever.
    """

    n_in: int
    n_out: int
    takes_sparse_input = True  # see the last paragraph of Notes

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: str | Activation | None = None,
        *,
        init: Any = None,
    ) -> None:
        super().__init__()
        from deltaprop._validation import check_positive

        self.n_in = check_positive("n_in", n_in, integer=True)
        self.n_out = check_positive("n_out", n_out, integer=True)
        self.activation_is_auto = activation is None
        self.activation: Activation = get_activation(activation or "identity")
        self.init = init
        get_initializer(init, self.activation.name)  # reject a bad name now, not at first use
        self.a_prev: Array | None = None
        self.z: Array | None = None
        self.a: Array | None = None
        self.delta: Array | None = None

    @property
    def W(self) -> Array:
        """Weights, shape (n_out, n_in): a view into the network's parameter vector."""
        return self.params["W"]

    @property
    def b(self) -> Array:
        """Biases, shape (n_out,)."""
        return self.params["b"]

    @property
    def dW(self) -> Array:
        """dLoss/dW after the last backward pass, shape (n_out, n_in)."""
        return self.grads["W"]

    @property
    def db(self) -> Array:
        """dLoss/db after the last backward pass, shape (n_out,)."""
        return self.grads["b"]

    def parameter_specs(self) -> list[ParameterSpec]:
        # W before b, so one layer's gradient is one contiguous slice for its norm.
        return [
            ParameterSpec("W", (self.n_out, self.n_in), decay=True),
            ParameterSpec("b", (self.n_out,), decay=False),
        ]

    def initialize(self, rng: np.random.Generator) -> None:
        initializer = get_initializer(self.init, self.activation.name)
        drawn = initializer((self.n_out, self.n_in), rng)
        W, b = (np.asarray(drawn[0]), np.asarray(drawn[1])) if isinstance(drawn, tuple) else (
            np.asarray(drawn), None)
        if W.shape != (self.n_out, self.n_in):
            raise ValueError(f"init returned shape {W.shape}, expected {(self.n_out, self.n_in)}")
        if b is not None and b.shape != (self.n_out,):
            raise ValueError(f"init returned biases of shape {b.shape}, expected {(self.n_out,)}")
        self.W[...] = W
        self.b[...] = 0.0 if b is None else b

    def set_activation(self, activation: str | Activation) -> None:
        """Replace ``f`` (used when the loss chooses the output activation)."""
        self.activation = get_activation(activation)
        self._hot_rows = -1  # the workspaces depend on whether f is the identity

    def bind(self, params: dict[str, Array], grads: dict[str, Array]) -> None:
        super().bind(params, grads)
        # Direct references for the hot path (no dict lookups per step).
        self._hot_WT = params["W"].T
        self._hot_W, self._hot_b = params["W"], params["b"]
        self._hot_dW, self._hot_db = grads["W"], grads["b"]
        self._hot_rows = -1

    def _resize(self, n: int, dtype: Any) -> None:
        """Workspaces for batches of ``n`` rows: z and a (unless f is the identity) now; the
        delta and the gradient handed down only when first needed (the first layer hands
        nothing down; hidden deltas are written over the gradient they come from)."""
        self._hot_z = np.empty((n, self.n_out), dtype)
        self._hot_a = None if isinstance(self.activation, Identity) else np.empty((n, self.n_out), dtype)
        self._hot_delta: Array | None = None
        self._hot_g_in: Array | None = None
        self._hot_ones = np.ones(n, dtype)  # db = ones @ delta: BLAS beats a row reduction
        self._hot_rows, self._hot_dtype = n, dtype

    def forward(self, x: Array, *, training: bool) -> Array:
        if x.shape[0] != self._hot_rows or x.dtype != self._hot_dtype:
            self._resize(x.shape[0], x.dtype)
        z = matmul(x, self._hot_WT, self._hot_z) if isinstance(x, np.ndarray) else self._sparse_z(x)
        z += self._hot_b
        a = z if self._hot_a is None else self.activation.forward(z, out=self._hot_a)  # a_l is z_l for f = id
        self.a_prev, self.z, self.a = x, z, a
        return a

    # -- sparse rows (a scipy.sparse X, first layer only) ----------------------------------------
    def _sparse_z(self, x: Any) -> Array:
        """``x @ W.T`` for CSR rows, over the k columns of x that hold a non-zero in this batch:
        x as (B, k) CSR times those k columns of W. (SciPy's product with the whole W.T would
        first copy it into C order: O(n_in n_out) per step whatever the batch.) The columns and
        the compact rows are kept for :meth:`_sparse_dW`."""
        x = x.tocsr()  # what fit and predict hand over already; CSC or COO given to the layer itself
        present = np.zeros(self.n_in, dtype=bool)
        present[x.indices] = True
        columns = np.flatnonzero(present)
        position = np.cumsum(present, dtype=x.indices.dtype) - 1  # column j -> its place among them
        compact = type(x)((x.data, position[x.indices], x.indptr), shape=(x.shape[0], columns.size))
        self._hot_sparse = (columns, compact)
        np.copyto(self._hot_z, compact @ self._hot_W.take(columns, axis=1).T)
        return self._hot_z

    def _sparse_dW(self, delta: Array) -> None:
        """``dW = delta^T X`` for CSR rows X, as (X^T delta)^T (sparse CSC times dense, never
        dense times sparse), into the columns X touches; every other column's gradient is 0."""
        columns, compact = self._hot_sparse
        dW = self._hot_dW
        dW.fill(0.0)
        dW[:, columns] = (compact.T @ delta).T

    def delta_buffer(self) -> Array:
        """Where the loss writes the output delta when this is the last layer."""
        if self._hot_delta is None:
            self._hot_delta = np.empty_like(self._hot_z)
        return self._hot_delta

    def backward(
        self, g: Array, *, need_input_grad: bool = True, overwrite_g: bool = False
    ) -> Array | None:
        """``delta = g * f'(z)``, then :meth:`backward_delta`. With ``overwrite_g`` (the network's
        own pass, where g is a scratch buffer) delta is written over g, saving a buffer."""
        assert self.z is not None and self.a is not None, "backward before forward"
        out = g if overwrite_g else self.delta_buffer()
        delta = self.activation.backward(g, self.z, self.a, out=out)
        return self.backward_delta(delta, need_input_grad=need_input_grad)

    def backward_delta(self, delta: Array, *, need_input_grad: bool = True) -> Array | None:
        """Backward from ``delta = dLoss/dz`` itself (the loss's fused output delta)."""
        self.delta = delta
        assert self.a_prev is not None, "backward before forward"
        if isinstance(self.a_prev, np.ndarray):
            matmul(delta.T, self.a_prev, self._hot_dW)
        else:
            self._sparse_dW(delta)
        np.dot(self._hot_ones, delta, out=self._hot_db)
        if not need_input_grad:
            return None
        if self._hot_g_in is None:
            self._hot_g_in = np.empty((delta.shape[0], self.n_in), delta.dtype)
        return matmul(delta, self._hot_W, self._hot_g_in)

    def to_config(self) -> dict[str, Any]:
        # A callable initializer is code: stored as None (the default), it only ever mattered
        # for the initial draw, which the stored weights replace.
        return {"type": "Dense", "n_in": self.n_in, "n_out": self.n_out,
                **activation_fields(self.activation, self.activation_is_auto),
                "init": self.init if isinstance(self.init, str) else None}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Dense:
        activation, chosen_by_loss = activation_from_fields(config)
        layer = cls(config["n_in"], config["n_out"], activation, init=config.get("init"))
        if chosen_by_loss is not None:
            layer.set_activation(chosen_by_loss)  # still the loss's to change
        return layer

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out}, activation={self.activation.name!r})"
