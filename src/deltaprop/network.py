"""The network: a stack of layers over one flat parameter vector and one flat gradient vector.

Data flow of one training step (each arrow has one owner; :mod:`deltaprop.engine.step` runs it)::

    X --forward (layers)--> a_L --loss.value / loss.output_delta--> delta_L
      --backward (layers, last to first)--> dW_l, db_l in the flat ``grad`` --optimizer--> theta

The network owns its layers, its parameters and its queries (``predict``, ``loss_and_gradients``);
training is :func:`deltaprop.fit`, which ``Network.fit`` calls.

Every query that takes ``X`` (``forward``, ``predict``, ``predict_logits``, ``predict_classes``,
``loss_and_gradients``) takes a scipy.sparse matrix too when the first layer is Dense: converted
to CSR once per call (one copy of the non-zeros, none for CSR of the network's dtype), never made
dense, its first layer's products sparse (:mod:`deltaprop.layers.dense`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

import deltaprop.training.fit as training
from deltaprop._validation import as_inputs, check_data, check_flag, check_positive, seed_sequence
from deltaprop.engine.step import NumpyEngine
from deltaprop.evaluation import forward, outputs
from deltaprop.layers import ActivationLayer, BatchNorm, Dense, Layer
from deltaprop.layers.stack import check_stack
from deltaprop.losses import Loss, get_loss, row_scale
from deltaprop.metrics import class_indices
from deltaprop.parameters import (
    ParameterList,
    bind_flat_buffers,
    flat_size,
    network_state,
    restore_network_state,
)
from deltaprop.penalty import weight_penalty

Array = np.ndarray
_DTYPES = (np.float32, np.float64)


class Network:
    """A feed-forward stack of layers trained by backpropagation.

    Parameters
    ----------
    layers : sequence of Layer
        Applied in order. The last one must carry the output activation (a :class:`Dense` or an
        :class:`~deltaprop.layers.ActivationLayer`); an activation of ``None`` there is chosen by
        the loss.
    dtype : numpy float dtype
        ``np.float32`` (default, fast) or ``np.float64`` (gradient checks).
    seed : int or numpy.random.SeedSequence, optional
        Seeds initialization and the training randomness (shuffling, dropout, sampling); the same
        seed gives bit-identical weights.

    Attributes
    ----------
    theta, grad : ndarray of shape (P,)
        Every parameter, and its gradient, in one flat vector; each layer's ``W``, ``b`` (and
        ``dW``, ``db``) are views into them.
    layout : FlatLayout
        Where each parameter lives in them (:class:`~deltaprop.parameters.FlatLayout`): slices by
        dotted name (also ``parameter_slices``), the weights that decay, each dense layer's block.
    weights, biases : sequences of views
        ``W`` of shape (n_out, n_in) and ``b`` of shape (n_out,) for each dense layer; writable
        in place.
    deltas, zs, activations : lists of ndarray
        After a pass: delta_l, z_l and a_l of each dense layer, shape (n_samples, n_out).
    history : History or None
        What the last ``fit`` recorded.
    """

    def __init__(self, layers: Sequence[Layer], *, dtype: Any = np.float32, seed: Any = None) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype.type not in _DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        if isinstance(layers, Layer) or not isinstance(layers, Sequence):
            raise TypeError(f"Network takes a list of layers, got {type(layers).__name__}")
        self.layers = list(layers)
        check_stack(self.layers)
        self.dense_layers: list[Dense] = [layer for layer in self.layers if isinstance(layer, Dense)]
        self.output_layer: Dense | ActivationLayer = self.layers[-1]  # type: ignore[assignment]
        self.n_inputs: int = self.layers[0].n_in  # type: ignore[assignment]
        self.n_outputs: int = self.layers[-1].n_out  # type: ignore[assignment]
        self.loss: Loss | None = None
        self.history: Any = None
        self._allocate()
        self.seed = seed
        root = seed_sequence(seed)
        init_seed, train_seed = root.spawn(2)
        # Restarts spawn their seeds from here: independent of how much run 0 draws.
        self.restart_seeds: np.random.SeedSequence = root.spawn(1)[0]
        self.initialize(np.random.default_rng(init_seed))
        self.set_rng(np.random.default_rng(train_seed))

    # -- parameters ----------------------------------------------------------------------------
    def _allocate(self) -> None:
        size = flat_size(self.layers)
        self.theta = np.zeros(size, dtype=self.dtype)
        self.grad = np.zeros(size, dtype=self.dtype)
        self._bind()

    def _bind(self) -> None:
        """Hand each layer views into ``theta`` and ``grad``; record slices and the decay set."""
        self.layout = bind_flat_buffers(self.layers, self.theta, self.grad)
        self.parameter_slices = self.layout.slices

    def initialize(self, rng: np.random.Generator | int | None = None) -> None:
        """Draw fresh initial parameters for every layer (biases 0, BatchNorm gamma 1, beta 0)."""
        rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
        for layer in self.layers:
            layer.initialize(rng)

    def set_rng(self, rng: np.random.Generator) -> None:
        """The generator for training randomness (shuffling, dropout masks)."""
        self.rng = rng
        for layer in self.layers:
            layer.rng = rng

    @property
    def weights(self) -> ParameterList:
        return ParameterList(self, "W")

    @property
    def biases(self) -> ParameterList:
        return ParameterList(self, "b")

    def named_parameters(self) -> dict[str, Array]:
        """Every parameter by its dotted name (``layers.0.W``), as views into ``theta``."""
        return {
            f"layers.{i}.{local}": view
            for i, layer in enumerate(self.layers)
            for local, view in layer.params.items()
        }

    @property
    def batchnorm_layers(self) -> list[BatchNorm]:
        """The BatchNorm layers (their running statistics are state beyond ``theta``)."""
        return [layer for layer in self.layers if isinstance(layer, BatchNorm)]

    @property
    def n_parameters(self) -> int:
        return int(self.theta.size)

    @property
    def deltas(self) -> list[Array | None]:
        return [layer.delta for layer in self.dense_layers]

    @property
    def zs(self) -> list[Array | None]:
        return [layer.z for layer in self.dense_layers]

    @property
    def activations(self) -> list[Array | None]:
        return [layer.a for layer in self.dense_layers]

    # -- passes --------------------------------------------------------------------------------
    def forward(self, X: Any, *, training: bool = False) -> Array:
        """Run the forward pass on ``X`` (n_samples, n_inputs; an array or a scipy.sparse
        matrix), keeping z and a of every layer.

        Returns the output a_L, an internal buffer overwritten by the next pass (copy it to
        keep it; :meth:`predict` returns a fresh array).
        """
        X = as_inputs(self, X)
        return forward(self.layers, X, training=check_flag("training", training))

    def check_loss(self, loss: str | Loss) -> Loss:
        """Return the loss object, or raise if it cannot go with a fixed output activation.

        Changes nothing: :meth:`use_loss` applies it once the data have been validated.
        """
        loss = get_loss(loss)
        if not self.output_layer.activation_is_auto:
            loss.check_activation(self.output_layer.activation)
        return loss

    def use_loss(self, loss: Loss) -> None:
        """Make ``loss`` the network's loss; an output activation left to the loss follows it."""
        out = self.output_layer
        if out.activation_is_auto and out.activation.name != loss.output_activation:
            out.set_activation(loss.output_activation)
        self.loss = loss

    @contextlib.contextmanager
    def using_loss(self, loss: Loss) -> Iterator[None]:
        """Apply ``loss`` (and its output activation) for a query; put back the network's own."""
        previous_loss, previous_activation = self.loss, self.output_layer.activation
        self.use_loss(loss)
        try:
            yield
        finally:
            self.loss = previous_loss
            if self.output_layer.activation is not previous_activation:
                self.output_layer.set_activation(previous_activation)

    def weight_penalty(self, l2: float, l1: float = 0.0) -> float:
        """lambda/2 sum ||W||^2 + l1 sum |W| over the dense weights (biases never decay)."""
        return weight_penalty(self.layout.decayed, l2, l1)

    def loss_and_gradients(
        self, X: Any, Y: Any, *, loss: str | Loss = "squared_error", l2: float = 0.0,
        l1: float = 0.0, sample_weight: Any = None,
    ) -> tuple[float, list[Array], list[Array]]:
        """Loss and gradients of one batch, in training mode, changing no weight.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix, shape (n_samples, n_inputs)
        Y : array-like
            Targets as the loss takes them (see :mod:`deltaprop.losses`).
        loss : str or Loss
        l2, l1 : float
            Weight decay on the weights W (never the biases): lambda/2 sum ||W||^2, l1 sum |W|.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights: the loss becomes ``sum_i w_i loss_i / sum_i w_i`` (plus the
            decay), so an integer weight k counts a sample k times.

        Returns
        -------
        loss_value : float
        dWs : list of ndarray, shapes (n_out, n_in) per dense layer
        dbs : list of ndarray, shapes (n_out,) per dense layer

        After the call ``net.deltas`` holds delta_l of every dense layer (n_samples, n_out).
        BatchNorm running statistics are not updated, and the network's loss and output
        activation stay as they were (the loss's output activation is used for this call only).
        """
        loss = self.check_loss(loss)
        l2 = check_positive("l2", l2, allow_zero=True)
        l1 = check_positive("l1", l1, allow_zero=True)
        X, Y, w = check_data(self, loss, X, Y, sample_weight, sparse=True)
        scale = None if w is None else row_scale(w, self.dtype)
        with self.using_loss(loss), self.frozen_running_stats():
            value = NumpyEngine(self, loss, l2=l2, l1=l1).loss_and_gradient(X, Y, scale)
        dWs = [layer.dW.copy() for layer in self.dense_layers]
        dbs = [layer.db.copy() for layer in self.dense_layers]
        return value, dWs, dbs

    def snapshot(self) -> tuple[Array, list[tuple[Array, Array]]]:
        """A copy of the parameters and the BatchNorm running statistics."""
        stats = [(layer.running_mean.copy(), layer.running_var.copy())  # type: ignore[union-attr]
                 for layer in self.batchnorm_layers]
        return self.theta.copy(), stats

    def restore(self, state: tuple[Array, list[tuple[Array, Array]]]) -> None:
        """Put back a :meth:`snapshot` (in place: views stay valid)."""
        theta, stats = state
        self.theta[...] = theta
        for layer, (mean, var) in zip(self.batchnorm_layers, stats):
            layer.running_mean[...] = mean  # type: ignore[index]
            layer.running_var[...] = var  # type: ignore[index]

    @contextlib.contextmanager
    def frozen_running_stats(self) -> Iterator[None]:
        """Context in which training-mode passes leave BatchNorm running statistics alone."""
        batchnorms = self.batchnorm_layers
        saved = [layer.update_running_stats for layer in batchnorms]
        for layer in batchnorms:
            layer.update_running_stats = False
        try:
            yield
        finally:
            for layer, flag in zip(batchnorms, saved):
                layer.update_running_stats = flag

    def predict(self, X: Any) -> Array:
        """Outputs of the last layer in evaluation mode, shape (n_samples, n_outputs).

        Probabilities for cross-entropy (softmax) and binary cross-entropy (sigmoid). ``X``: an
        array or a scipy.sparse matrix, shape (n_samples, n_inputs).
        """
        return outputs(self, as_inputs(self, X), "a")

    def predict_logits(self, X: Any) -> Array:
        """The output layer's pre-activation z_L in evaluation mode, shape (n_samples, n_outputs):
        the logits of a softmax or sigmoid output, for stable log-probabilities."""
        return outputs(self, as_inputs(self, X), "z")

    def predict_classes(self, X: Any) -> Array:
        """Predicted classes, as :func:`deltaprop.metrics.class_indices` decides them.

        Softmax (and any other multi-output layer but sigmoid): the argmax, shape (n,).
        Sigmoid: each output thresholded at 0.5 (multi-label), shape (n,) for one output,
        (n, k) for k. One output of another activation: thresholded at 0 (sign, tanh,
        identity) or 0.5, shape (n,).
        """
        return class_indices(self.predict(X), self.output_layer.activation.name)

    def fit(self, X: Any, y: Any, **options: Any) -> Any:
        """Train by backpropagation; see :func:`deltaprop.training.fit.fit` for every option."""
        return training.fit(self, X, y, **options)

    # -- copies --------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return network_state(self)

    def __setstate__(self, state: dict[str, Any]) -> None:
        restore_network_state(self, state)
        self.dense_layers = [layer for layer in self.layers if isinstance(layer, Dense)]
        self.output_layer = self.layers[-1]  # type: ignore[assignment]
        self._bind()
        self.set_rng(self.rng)

    def copy(self) -> Network:
        """An independent deep copy (parameters, running statistics, random state)."""
        import copy

        return copy.deepcopy(self)

    def astype(self, dtype: Any) -> Network:
        """A copy whose parameters and computations are in ``dtype`` (float32 or float64)."""
        dtype = np.dtype(dtype)
        if dtype.type not in _DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        clone = self.copy()
        clone.dtype = dtype
        clone.theta = clone.theta.astype(dtype)
        clone.grad = clone.grad.astype(dtype)
        for layer in clone.layers:
            if isinstance(layer, BatchNorm) and layer.running_mean is not None:
                layer.running_mean = layer.running_mean.astype(dtype)
                layer.running_var = layer.running_var.astype(dtype)  # type: ignore[union-attr]
        clone._bind()
        return clone

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __repr__(self) -> str:
        body = ",\n  ".join(repr(layer) for layer in self.layers)
        summary = f"dtype={self.dtype.name}, parameters={self.n_parameters}"
        return f"{type(self).__name__}([\n  {body}\n], {summary})"
