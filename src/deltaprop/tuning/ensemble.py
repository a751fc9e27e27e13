"""Several MLPs of the same shape as one wider MLP that averages their output pre-activations.

For networks ``f_1 .. f_k`` with hidden layers of widths ``h_1, h_2, ...`` the merged network
has widths ``k h_1, k h_2, ...``: the first layer stacks every network's ``W`` (its units see the
same inputs), each further hidden layer is block-diagonal (network j's units see only network
j's units below), and the output layer is ``[W_L^1 ... W_L^k] / k`` with the mean bias, so

    z_L = (1/k) sum_j z_L^j

exactly: the average of the logits (of the outputs, for regression). One plain network, so it
saves, loads and exports like any other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deltaprop.mlp import MLP


def average_networks(nets: Sequence[MLP]) -> MLP:
    """One MLP whose output pre-activation is the mean of those of ``nets``.

    Parameters
    ----------
    nets : sequence of MLP
        Same layer sizes and hidden activation, no BatchNorm or dropout; trained with one loss.

    Returns
    -------
    MLP
        Of layer sizes ``[n_in, k h_1, ..., k h_m, n_out]``, with the loss of ``nets[0]``.
    """
    if not nets:
        raise ValueError("average_networks needs at least one network")
    first = nets[0]
    for net in nets:
        if not isinstance(net, MLP) or net.layer_sizes != first.layer_sizes \
                or len(net.layers) != len(net.dense_layers):
            raise ValueError("average_networks takes plain MLPs of the same layer sizes "
                             "(no BatchNorm or dropout)")
    k, sizes = len(nets), first.layer_sizes
    hidden = first.dense_layers[0].activation.name if len(sizes) > 2 else "relu"  # (unused then)
    merged = MLP([sizes[0], *[k * h for h in sizes[1:-1]], sizes[-1]], activation=hidden,
                 dtype=first.dtype, seed=0)
    last = len(sizes) - 2
    for i in range(last + 1):
        Ws = [net.weights[i] for net in nets]
        bs = [net.biases[i] for net in nets]
        if i == last:  # the outputs (a network without hidden layers has only these)
            merged.weights[i], merged.biases[i] = _output_weights(Ws, i == 0), np.mean(bs, axis=0)
        elif i == 0:
            merged.weights[i], merged.biases[i] = np.vstack(Ws), np.concatenate(bs)
        else:
            merged.weights[i], merged.biases[i] = _block_diagonal(Ws), np.concatenate(bs)
    if first.loss is not None:
        merged.use_loss(first.loss)
    return merged


def _output_weights(Ws: Sequence[np.ndarray], first: bool) -> np.ndarray:
    """The output layer's W: each network's own side by side over the stacked units below,
    divided by k; straight over the inputs (no hidden layer), the mean of the W."""
    return np.mean(Ws, axis=0) if first else np.hstack(Ws) / len(Ws)


def _block_diagonal(blocks: Sequence[np.ndarray]) -> np.ndarray:
    rows, cols = sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)
    out = np.zeros((rows, cols), dtype=blocks[0].dtype)
    r = c = 0
    for block in blocks:
        out[r:r + block.shape[0], c:c + block.shape[1]] = block
        r, c = r + block.shape[0], c + block.shape[1]
    return out
