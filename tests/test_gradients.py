"""Backpropagation against central differences in float64: every activation x loss x depth x
batch size x L2, BatchNorm in training mode, dropout with a fixed mask, layer by layer, and
the checker itself rejecting a planted wrong backward; and, as a property (Hypothesis), the
same equality for random architectures and options."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, event, example, given
from hypothesis import strategies as st

import deltaprop as dp
from conftest import SEEDS, Arch, architectures, deterministic
from deltaprop.activations import Activation, Sigmoid
from deltaprop.gradcheck import relative_error
from deltaprop.layers import ActivationLayer, Dense, Dropout

SMOOTH = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "softmax"]
LOSSES = {  # loss -> (n_outputs, target maker)
    "squared_error": (3, lambda rng, n: rng.standard_normal((n, 3))),
    "mse": (2, lambda rng, n: rng.standard_normal((n, 2))),
    "cross_entropy": (3, lambda rng, n: rng.integers(0, 3, n)),
    "binary_cross_entropy": (2, lambda rng, n: rng.integers(0, 2, (n, 2)).astype(float)),
}


def _problem(activation, loss, depth, batch, seed=0, **mlp):
    rng = np.random.default_rng(seed)
    n_out, targets = LOSSES[loss]
    sizes = [4] + [5] * depth + [n_out]
    net = dp.MLP(sizes, activation=activation, dtype=np.float64, seed=seed, **mlp)
    # Move biases off zero so ReLU kinks are not hit and every term of the gradient matters.
    for b in net.biases:
        b[...] = rng.uniform(-0.5, 0.5, b.shape)
    return net, rng.standard_normal((batch, 4)), targets(rng, batch)


@pytest.mark.parametrize(
    "activation,loss,depth,batch,l2",
    list(itertools.product(SMOOTH, LOSSES, (1, 3), (1, 7), (0.0, 0.3))),
)
def test_backprop_matches_central_differences(activation, loss, depth, batch, l2):
    net, X, Y = _problem(activation, loss, depth, batch)
    report = dp.gradcheck(net, X, Y, loss=loss, l2=l2)
    assert report.passed, report
    assert set(report.errors) == set(net.parameter_slices)


@pytest.mark.parametrize("output", ["sigmoid", "tanh", "softmax", "elu"])
def test_non_canonical_output_uses_chain_rule(output):
    """squared error on a non-identity output: delta_L = (a - y)/n * f'(z_L)."""
    net, X, _ = _problem("tanh", "squared_error", 1, 7, output_activation=output)
    Y = np.random.default_rng(3).uniform(0.1, 0.9, (7, 3))
    report = dp.gradcheck(net, X, Y, loss="squared_error")
    assert report.passed, report


@pytest.mark.parametrize("activation", ["sign", "step"])
def test_sign_and_step_have_zero_gradient_below_the_output(activation):
    net, X, Y = _problem(activation, "squared_error", 1, 7)
    report = dp.gradcheck(net, X, Y, loss="squared_error")
    assert report.passed, report
    _, dWs, dbs = net.loss_and_gradients(X, Y, loss="squared_error")
    assert not dWs[0].any() and not dbs[0].any()  # f' = 0 stops the recursion
    assert dWs[1].any()


@pytest.mark.parametrize("depth,batch,l2", list(itertools.product((1, 3), (2, 7), (0.0, 0.3))))
def test_batchnorm_training_mode(depth, batch, l2):
    net, X, Y = _problem("tanh", "cross_entropy", depth, batch, batch_norm=True)
    for layer in net.layers:
        if isinstance(layer, dp.BatchNorm):  # gamma, beta away from 1, 0
            layer.gamma[...] = np.random.default_rng(5).uniform(0.5, 1.5, layer.gamma.shape)
            layer.beta[...] = np.random.default_rng(6).uniform(-0.5, 0.5, layer.beta.shape)
    report = dp.gradcheck(net, X, Y, loss="cross_entropy", l2=l2)
    assert report.passed, report
    assert any(name.endswith("gamma") for name in report.errors)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_dropout_with_fixed_mask(batch_norm):
    net, X, Y = _problem("relu", "squared_error", 3, 7, dropout=0.4, batch_norm=batch_norm)
    report = dp.gradcheck(net, X, Y, loss="squared_error", l2=0.1)
    assert report.passed, report


def test_l1_decay():
    net, X, Y = _problem("tanh", "mse", 1, 7)
    report = dp.gradcheck(net, X, Y, loss="mse", l1=0.05)
    assert report.passed, report


def test_random_direction_check_on_a_larger_net():
    rng = np.random.default_rng(0)
    net = dp.MLP([30, 64, 64, 10], activation="tanh", dtype=np.float64, seed=0)
    X, y = rng.standard_normal((16, 30)), rng.integers(0, 10, 16)
    report = dp.gradcheck(net, X, y, loss="cross_entropy", l2=0.01, max_entries=5, directions=5)
    assert report.passed, report
    assert len(report.direction_errors) == 5


def test_float32_network_is_checked_in_float64_without_being_changed():
    net, X, Y = _problem("tanh", "squared_error", 1, 3)
    net32 = net.astype(np.float32)
    before = net32.theta.copy()
    assert dp.gradcheck(net32, X, Y, loss="squared_error").passed
    np.testing.assert_array_equal(net32.theta, before)
    assert net32.dtype == np.float32


class _WrongTanh(Activation):
    """tanh with a planted error in its derivative (1 - a instead of 1 - a^2)."""

    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def derivative(self, z, a):
        return 1.0 - a


def test_gradcheck_rejects_a_planted_wrong_backward():
    net, X, Y = _problem("tanh", "squared_error", 1, 7)
    net.dense_layers[0].set_activation(_WrongTanh())
    report = dp.gradcheck(net, X, Y, loss="squared_error")
    assert not report.passed
    assert report.errors["layers.0.W"] > 1e-3  # the error shows where it is
    assert report.errors["layers.1.W"] < 1e-6  # the layer above is still right


def test_gradcheck_rejects_a_wrong_output_delta(monkeypatch):
    net, X, Y = _problem("tanh", "cross_entropy", 1, 7)
    def without_the_mean(self, a, Y, out):
        return np.subtract(a, Y, out=out)

    monkeypatch.setattr(dp.losses.CrossEntropy, "_fused_delta", without_the_mean)
    assert not dp.gradcheck(net, X, Y, loss="cross_entropy").passed  # the missing 1/n is caught


@pytest.mark.parametrize(("seed", "error"), [(-1, ValueError), (1.5, TypeError), ("0", TypeError),
                                             (True, TypeError), (None, TypeError)])
def test_gradcheck_names_a_bad_seed(seed, error):
    net = dp.MLP([2, 3, 2], dtype=np.float64, seed=0)
    with pytest.raises(error, match=f"seed must be an integer >= 0, got {seed!r}"):
        dp.gradcheck(net, np.zeros((2, 2)), np.array([0, 1]), loss="cross_entropy", seed=seed)


def test_gradcheck_takes_a_network_and_says_what_to_pass_for_a_model(tmp_path):
    net = dp.MLP([2, 3, 2], dtype=np.float64, seed=0)
    X, y = np.random.default_rng(0).standard_normal((4, 2)), np.array([0, 1, 0, 1])
    dp.save(dp.Model.from_network(net), tmp_path / "m.dp")
    model = dp.load(tmp_path / "m.dp")  # a Model: a network with its preprocessing
    with pytest.raises(TypeError, match=r"got a Model .* pass model\.net, with X the network's "
                                        r"inputs \(model\.network_inputs\(rows\)\)"):
        dp.gradcheck(model, X, y, loss="cross_entropy")
    assert dp.gradcheck(model.net, model.network_inputs(X), y, loss="cross_entropy").passed
    for junk in ("net.dp", None, 3):
        with pytest.raises(TypeError, match=f"gradcheck checks a Network, got {junk!r}"):
            dp.gradcheck(junk, X, y)


def test_gradcheck_refuses_a_negative_l2():
    with pytest.raises(ValueError, match="l2"):
        dp.gradcheck(dp.MLP([2, 1]), np.ones((2, 2)), np.ones(2), l2=-1)


# -- layer by layer: sum(g * forward(x)) so the gradient handed to the layer below is checked --

def _layer_objective(layer, x, g):
    return float(np.sum(g * layer.forward(x, training=True)))


def _numeric_input_gradient(layer, x, g, eps=1e-6):
    numeric = np.empty_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        plus, minus = _layer_objective(layer, x + step, g), _layer_objective(layer, x - step, g)
        numeric[index] = (plus - minus) / (2 * eps)
    return numeric


@pytest.mark.parametrize(
    "make_layer",
    [lambda: dp.Dense(4, 3, "tanh"), lambda: dp.Dense(4, 3, "softplus"), lambda: dp.Dense(4, 3, "softmax"),
     lambda: dp.BatchNorm(4), lambda: dp.ActivationLayer("elu"), lambda: dp.Dropout(0.5)],
    ids=["dense-tanh", "dense-softplus", "dense-softmax", "batchnorm", "activation-elu", "dropout"],
)
def test_each_layer_hands_down_the_right_gradient(make_layer):
    rng = np.random.default_rng(2)
    layer = make_layer()
    layers = [dp.Dense(4, 4, "identity"), layer, dp.ActivationLayer("identity")]
    net = dp.Network(layers, dtype=np.float64, seed=0)
    x, g = rng.standard_normal((6, 4)), rng.standard_normal((6, layer.n_out))
    for array in net.named_parameters().values():
        array[...] = rng.uniform(0.5, 1.5, array.shape) * rng.choice([-1, 1], array.shape)
    layer.forward(x, training=True)
    if isinstance(layer, dp.Dropout):
        layer.freeze_mask = True
    analytic = layer.backward(g, need_input_grad=True).copy()
    numeric = _numeric_input_gradient(layer, x, g)
    assert relative_error(analytic, numeric).max() < 1e-6


def test_activations_are_stable_for_huge_inputs():
    """No overflow, division by zero or invalid value for |z| up to 1e4 (underflow to 0 is fine)."""
    z = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        a = Sigmoid().forward(z)
        for name in dp.ACTIVATIONS:
            dp.get_activation(name).forward(z.astype(np.float32))
            dp.get_activation(name).forward(z)
    exact = [[0.0, 1.9287498479639178e-22, 0.5, 1.0, 1.0]]
    np.testing.assert_allclose(a, exact, rtol=1e-15, atol=1e-16)  # exact to absolute precision


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
def test_saturated_logits_give_finite_losses_and_gradients(loss):
    net = dp.MLP([2, 2], dtype=np.float64, seed=0)
    net.weights[0][...] = [[1e4, 0.0], [-1e4, 0.0]]
    X = np.array([[1.0, 0.0], [-1.0, 0.0]])
    y = np.array([1, 0]) if loss == "cross_entropy" else np.array([[0.0, 1.0], [1.0, 0.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value, dWs, dbs = net.loss_and_gradients(X, y, loss=loss)
    assert np.isfinite(value) and value > 1e3  # confidently wrong: a huge but finite loss
    assert all(np.isfinite(dW).all() for dW in dWs)


# -- a property: random architectures ------------------------------------------------------------
# f (relu, leaky_relu) or f' (elu: f'' jumps) is not differentiable at z = 0.
KINKED = {"relu", "leaky_relu", "elu"}


def _kinks_crossed(net: dp.Network, X: np.ndarray, eps: float = 1e-4) -> bool:
    """Whether a pre-activation of a kinked activation changes sign at some point of
    gradcheck's stencil (theta +- eps, +- 2 eps along each parameter entry).

    Reproduces gradcheck's setting (float64 copy, generator seeded 0, its dropout mask held
    fixed, BatchNorm in training mode). If no sign changes, every loss gradcheck evaluated lies
    on one smooth piece, and a failed check is a wrong gradient, not a kink.
    """
    check = net.astype(np.float64)
    check.set_rng(np.random.default_rng(0))
    kinked = [layer for layer in check.layers if isinstance(layer, (Dense, ActivationLayer))
              and layer.activation.name in KINKED and layer is not check.output_layer]
    if not kinked:
        return False

    def signs(theta: np.ndarray) -> list[np.ndarray]:
        check.theta[...] = theta
        check.forward(X, training=True)
        return [np.asarray(layer.z) > 0 for layer in kinked]

    theta0 = check.theta.copy()
    with check.frozen_running_stats():
        base = signs(theta0)  # draws the dropout masks, as gradcheck's first pass
        for layer in check.layers:
            if isinstance(layer, Dropout):
                layer.freeze_mask = True
        for j in range(theta0.size):
            for k in (2.0, 1.0, -1.0, -2.0):
                theta = theta0.copy()
                theta[j] += k * eps
                if any((a != b).any() for a, b in zip(signs(theta), base)):
                    return True
    return False


@deterministic(max_examples=150)
# A hard case kept as an example (backprop agrees with a float64 PyTorch autograd replica to
# 1e-13 here): the BatchNorm over 2 rows makes the rounding noise of the loss ~250 eps |L|, and
# layers.1.beta (in front of the next BatchNorm) has a true gradient of exactly 0, compared
# against that noise. The check must not cry wolf on it (max relative error 4.2e-7 at eps=1e-4).
@example(arch=Arch(2, (1, 2), 1, "identity", "squared_error"), batch=2, batch_norm=True,
         dropout=0.0, l2=0.0, weighted=False, seed=281)
@given(arch=architectures(), batch=st.integers(1, 6), batch_norm=st.booleans(),
       dropout=st.sampled_from([0.0, 0.3]), l2=st.sampled_from([0.0, 0.1]),
       weighted=st.booleans(), seed=SEEDS)
def test_backprop_equals_central_differences_for_random_architectures(arch, batch, batch_norm,
                                                                     dropout, l2, weighted, seed):
    """For every architecture (0-3 hidden layers of widths 1-6, any differentiable hidden
    activation, BatchNorm when the batch has >= 2 rows, dropout with gradcheck's fixed mask),
    every loss with its natural targets, batch sizes 1-6, L2 0 or 0.1, with or without sample
    weights (some 0): the backpropagated gradient of every parameter entry equals the
    fourth-order central difference to a relative error below 1e-6 (gradcheck's default),
    wherever no ReLU/leaky-ReLU/ELU pre-activation crosses 0 inside the stencil.

    Where one does, the loss is not differentiable (or, for ELU, not twice differentiable) on
    the stencil and the difference quotient is not the derivative: those examples are
    rejected, and only those (checked exactly, by replaying the stencil's sign patterns).
    """
    rng = np.random.default_rng(seed)
    net = arch.mlp(dtype=np.float64, seed=seed, batch_norm=batch_norm and batch >= 2,
                   dropout=dropout)
    for b in net.biases:  # off 0, so that every term of the gradient matters
        b[...] = rng.uniform(-0.5, 0.5, b.shape)
    for layer in net.batchnorm_layers:
        layer.gamma[...] = rng.uniform(0.5, 1.5, layer.gamma.shape)
        layer.beta[...] = rng.uniform(-0.5, 0.5, layer.beta.shape)
    X = rng.standard_normal((batch, arch.n_in))
    Y = arch.targets(rng, batch)
    w = None
    if weighted:
        w = rng.uniform(0.0, 2.0, batch) * (rng.random(batch) > 0.3)
        w[rng.integers(batch)] = rng.uniform(0.5, 2.0)  # all-zero weights are rejected
    report = dp.gradcheck(net, X, Y, loss=arch.loss, l2=l2, sample_weight=w)
    assert set(report.errors) == set(net.parameter_slices)
    if not report.passed and _kinks_crossed(net, X):
        event("rejected: a kink inside the stencil")
        assume(False)
    if not report.passed:
        # A sharply curved loss (BatchNorm over 2-3 rows whose variance is near its eps) makes
        # the O(h^4) truncation error of the difference exceed 1e-6 at h = 1e-4. Truncation
        # shrinks 10^4-fold at h = 1e-5; a wrong gradient's discrepancy does not shrink at all.
        event("retried with eps=1e-5")
        retry = dp.gradcheck(net, X, Y, loss=arch.loss, l2=l2, sample_weight=w, eps=1e-5)
        assert retry.passed, f"eps=1e-4: {report!r}\neps=1e-5: {retry!r}"
