"""Sample weights in the core: the weighted loss sum_i w_i loss_i / sum_i w_i, its gradient
(row i of delta_L times n w_i / sum w), and what fit, evaluate and the epoch loss make of them.

The anchor is the definition: an integer weight k is the same as k copies of the sample, and
a weight 0 the same as removing it. The gradient is also checked by central differences and
against PyTorch autograd.
"""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.engine.epoch_loss import EpochLoss
from deltaprop.losses import Loss, get_loss

LOSS_TARGETS = {
    "squared_error": lambda rng, n: rng.standard_normal((n, 3)),
    "mse": lambda rng, n: rng.standard_normal((n, 3)),
    "cross_entropy": lambda rng, n: rng.integers(0, 3, n),
    "binary_cross_entropy": lambda rng, n: rng.integers(0, 2, (n, 3)).astype(float),
}


def problem(loss, n=9, seed=0, batch_norm=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = LOSS_TARGETS[loss](rng, n)
    w = rng.integers(0, 4, n).astype(float)
    w[0], w[1] = 2.0, 0.0  # a positive weight and a removed sample, whatever the seed
    net = dp.MLP([4, 5, 3], activation="tanh", dtype=np.float64, seed=seed, batch_norm=batch_norm)
    return net, X, y, w


def repeated(X, y, w):
    counts = w.astype(int)
    return np.repeat(X, counts, axis=0), np.repeat(y, counts, axis=0)


@pytest.mark.parametrize("loss", sorted(LOSS_TARGETS))
def test_integer_weights_are_repeated_samples(loss):
    net, X, y, w = problem(loss)
    value, dWs, dbs = net.loss_and_gradients(X, y, loss=loss, l2=0.1, sample_weight=w)
    X_rep, y_rep = repeated(X, y, w)
    value_rep, dWs_rep, dbs_rep = net.loss_and_gradients(X_rep, y_rep, loss=loss, l2=0.1)
    assert value == pytest.approx(value_rep, rel=1e-12)
    for g, g_rep in zip(dWs + dbs, dWs_rep + dbs_rep):
        np.testing.assert_allclose(g, g_rep, rtol=1e-10, atol=1e-14)
    assert (w == 0).any()  # and zero weights were really removed samples


@pytest.mark.parametrize("loss", sorted(LOSS_TARGETS))
def test_weights_scale_freely(loss):
    """Only the ratios of the weights matter."""
    net, X, y, w = problem(loss)
    value, dWs, _ = net.loss_and_gradients(X, y, loss=loss, sample_weight=w)
    value_scaled, dWs_scaled, _ = net.loss_and_gradients(X, y, loss=loss, sample_weight=w * 7.5)
    assert value == pytest.approx(value_scaled, rel=1e-12)
    np.testing.assert_allclose(dWs[0], dWs_scaled[0], rtol=1e-10)


@pytest.mark.parametrize("loss", sorted(LOSS_TARGETS))
@pytest.mark.parametrize("batch_norm", [False, True])
def test_weighted_gradients_pass_the_gradient_check(loss, batch_norm):
    net, X, y, w = problem(loss, batch_norm=batch_norm)
    report = dp.gradcheck(net, X, y, loss=loss, l2=0.05, sample_weight=w + 0.5)
    assert report.passed, report


def test_weights_change_the_loss():
    """The weighted and the unweighted loss differ here, so the checks above can fail."""
    net, X, y, w = problem("squared_error")
    value, _, _ = net.loss_and_gradients(X, y, sample_weight=w)
    unweighted, _, _ = net.loss_and_gradients(X, y)
    assert abs(value - unweighted) > 1e-3


def test_weights_against_torch_autograd():
    torch = pytest.importorskip("torch")
    net, X, y, w = problem("cross_entropy", n=12)
    value, dWs, dbs = net.loss_and_gradients(X, y, loss="cross_entropy", sample_weight=w)
    Ws = [torch.tensor(W.copy(), requires_grad=True) for W in net.weights]
    bs = [torch.tensor(b.copy(), requires_grad=True) for b in net.biases]
    z = torch.tanh(torch.tensor(X) @ Ws[0].T + bs[0]) @ Ws[1].T + bs[1]
    per_sample = torch.nn.functional.cross_entropy(z, torch.tensor(y), reduction="none")
    torch_w = torch.tensor(w)
    torch_loss = (per_sample * torch_w).sum() / torch_w.sum()
    torch_loss.backward()
    assert value == pytest.approx(torch_loss.item(), rel=1e-12)
    for ours, theirs in zip(dWs + dbs, [W.grad for W in Ws] + [b.grad for b in bs]):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("loss", ["squared_error", "cross_entropy"])
def test_full_batch_fit_with_integer_weights_equals_fit_on_repeated_data(optimizer, loss):
    net, X, y, w = problem(loss, n=20)
    twin = net.copy()
    history = net.fit(X, y, loss=loss, optimizer=optimizer, epochs=15, batch_size="full",
                      l2=0.01, sample_weight=w, threads=None)
    X_rep, y_rep = repeated(X, y, w)
    history_rep = twin.fit(X_rep, y_rep, loss=loss, optimizer=optimizer, epochs=15,
                           batch_size="full", l2=0.01, threads=None)
    np.testing.assert_allclose(net.theta, twin.theta, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(history.loss, history_rep.loss, rtol=1e-10)


@pytest.mark.parametrize("batch_size", [1, 4, "full"])
@pytest.mark.parametrize("sampling", ["epoch", "random"])
def test_unit_weights_change_nothing(batch_size, sampling):
    net, X, y, _ = problem("squared_error", n=30)
    twin = net.copy()
    history = net.fit(X, y, epochs=3, batch_size=batch_size, sampling=sampling, threads=None)
    history_w = twin.fit(X, y, epochs=3, batch_size=batch_size, sampling=sampling,
                         sample_weight=np.ones(30), threads=None)
    np.testing.assert_array_equal(net.theta, twin.theta)  # scale 1.0 multiplies exactly
    np.testing.assert_allclose(history.loss, history_w.loss, rtol=1e-12)


@pytest.mark.parametrize("batch_size", [1, 5])
def test_minibatch_steps_use_each_batchs_weighted_mean(batch_size):
    """Without shuffling, each step is the weighted-mean gradient of its batch."""
    net, X, y, w = problem("squared_error", n=10)
    manual = net.copy()
    net.fit(X, y, optimizer=dp.SGD(0.1), epochs=1, batch_size=batch_size, shuffle=False,
            sample_weight=w, threads=None)
    for start in range(0, 10, batch_size):
        rows = slice(start, start + batch_size)
        if w[rows].sum() == 0:
            continue  # a batch of weight 0 gives no gradient: no change
        _, dWs, dbs = manual.loss_and_gradients(X[rows], y[rows], sample_weight=w[rows])
        for W, b, dW, db in zip(manual.weights, manual.biases, dWs, dbs):
            W -= 0.1 * dW
            b -= 0.1 * db
    np.testing.assert_allclose(net.theta, manual.theta, rtol=1e-12, atol=1e-14)


def test_a_batch_of_zero_weight_takes_only_the_decay_step():
    net, X, y, _ = problem("squared_error", n=4)
    before = net.copy()
    zero = before.copy()
    zero.fit(X[1:], y[1:], optimizer=dp.SGD(0.1), epochs=1, batch_size=1, shuffle=False,
             l2=0.5, sample_weight=[0.0, 0.0, 1.0], threads=None)
    # The first two steps of weight 0 shrink W by (1 - 0.1 * 0.5) each and leave b alone.
    shrunk = before.copy()
    for W in shrunk.weights:
        W *= 0.95**2
    _, dWs, dbs = shrunk.loss_and_gradients(X[3:], y[3:], l2=0.5)
    for W, b, dW, db in zip(shrunk.weights, shrunk.biases, dWs, dbs):
        W -= 0.1 * dW
        b -= 0.1 * db
    np.testing.assert_allclose(zero.theta, shrunk.theta, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", sorted(LOSS_TARGETS))
def test_evaluate_with_weights_is_evaluate_on_repeated_data(loss):
    net, X, y, w = problem(loss)
    net.fit(X, y, loss=loss, epochs=2, threads=None)
    X_rep, y_rep = repeated(X, y, w)
    weighted = dp.evaluate(net, X, y, sample_weight=w)
    assert weighted == pytest.approx(dp.evaluate(net, X_rep, y_rep), rel=1e-12)


def test_weighted_validation_data_is_scored_with_its_weights():
    net, X, y, w = problem("cross_entropy", n=30)
    X_val, y_val, w_val = X[:10], y[:10], w[:10]
    history = net.fit(X[10:], y[10:], loss="cross_entropy", epochs=3, sample_weight=w[10:],
                      validation_data=(X_val, y_val, w_val), threads=None)
    loss, metric = dp.evaluate(net, X_val, y_val, sample_weight=w_val)
    assert history.val_loss[-1] == pytest.approx(loss, rel=1e-12)
    assert history.val_metric[-1] == pytest.approx(metric, rel=1e-12)
    assert loss != pytest.approx(dp.evaluate(net, X_val, y_val)[0], rel=1e-6)


def test_validation_fraction_splits_the_weights_with_the_rows():
    net, X, y, _ = problem("squared_error", n=40)
    w = np.arange(40, dtype=float) + 1.0
    X_tagged = np.column_stack([X, w])  # the weight rides along as a feature column
    net = dp.MLP([5, 3], dtype=np.float64, seed=1)
    seen = {}

    class Spy(dp.Callback):
        def on_train_begin(self, trainer):
            seen["train"] = (trainer.X[:, 4].copy(), trainer.w.copy())
            seen["val"] = (trainer.validation[0][:, 4].copy(), trainer.validation[2].copy())

    net.fit(X_tagged, y, epochs=1, sample_weight=w, validation_fraction=0.25, callbacks=[Spy()],
            threads=None)
    for column, weights in seen.values():
        np.testing.assert_array_equal(column, weights)
    assert len(seen["val"][1]) == 10


@pytest.mark.parametrize("weights", [np.array([1.0, 0.0, 3.0, 2.0, 0.5, 1.0] * 5)])
def test_deferred_and_per_step_epoch_losses_agree(weights):
    loss = get_loss("cross_entropy")
    rng = np.random.default_rng(3)
    z = rng.standard_normal((30, 3))
    a = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    Y = np.eye(3)[rng.integers(0, 3, 30)]
    order = rng.permutation(30)
    means = []
    for defer in (True, False):
        epoch = EpochLoss(loss, 30, 3, np.float64, defer=defer)
        epoch.start(Y, weights)
        for start in range(0, 30, 7):
            rows = order[start:start + 7]
            epoch.record(z[rows], a[rows], rows, Y[rows], 0.25, weights[rows])
        means.append(epoch.mean())
    expected = np.dot(loss.sample_values(z, a, Y), weights) / weights.sum() + 0.25
    assert means == pytest.approx([expected, expected], rel=1e-12)


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.ones(5), r"sample_weight has shape \(5,\) but X has 9 samples"),
        (np.ones((9, 1)), r"sample_weight has shape \(9, 1\)"),
        (np.r_[np.ones(8), np.nan], "sample_weight contains NaN"),
        (np.r_[np.ones(8), -1.0], "must be non-negative"),
        (np.zeros(9), "is all zero"),
        (np.array(["a"] * 9), "sample_weight must hold numbers"),
        (0, "sample_weight is all zero"),  # a number is that weight for every sample
        (0.0, "sample_weight is all zero"),
        (-1.0, "sample_weight must be non-negative; found -1.0"),
        (np.nan, "sample_weight contains NaN"),
        (np.inf, "sample_weight contains NaN"),
        ("2", "sample_weight must hold numbers"),
        (True, r"sample_weight has shape \(\) but X has 9 samples"),  # a flag, not a weight
        (np.full(9, 1e308), "sums to more than the largest float64"),
        (np.array(["2020-01-01"] * 9, dtype="datetime64[D]"), "sample_weight must hold numbers"),
        (np.ones(9) + 1j, "sample_weight must hold numbers"),
        (np.ma.masked_array(np.ones(9), mask=np.eye(9)[0]), "sample_weight is a masked array"),
    ],
)
def test_bad_weights_name_the_problem(weights, message):
    net, X, y, _ = problem("squared_error")
    with pytest.raises((ValueError, TypeError), match=message):
        net.fit(X, y, sample_weight=weights)
    with pytest.raises((ValueError, TypeError), match=message):
        net.loss_and_gradients(X, y, sample_weight=weights)


def test_a_loss_without_per_sample_values_refuses_weights():
    class Custom(Loss):
        name = "custom"

        def value(self, z, a, Y):
            return float(((a - Y) ** 2).sum())

        def grad_a(self, a, Y):
            return 2 * (a - Y)

    net, X, y, w = problem("squared_error")
    before = net.theta.copy()
    with pytest.raises(ValueError, match="cannot take sample weights"):
        net.fit(X, y, loss=Custom(), sample_weight=w)
    np.testing.assert_array_equal(net.theta, before)


def test_a_split_leaving_no_weight_is_a_clear_error():
    net, X, y, _ = problem("squared_error", n=10)
    w = np.zeros(10)
    w[0] = 1.0
    with pytest.raises(ValueError, match="sample weights summing to 0"):
        net.fit(X, y, sample_weight=w, validation_fraction=0.5)


def test_a_number_is_that_weight_for_every_sample():
    net, X, y, _ = problem("squared_error")
    unweighted = net.loss_and_gradients(X, y)
    weighted = net.loss_and_gradients(X, y, sample_weight=3)
    assert weighted[0] == pytest.approx(unweighted[0], rel=1e-12)
    masked = np.ma.masked_array(np.full(9, 2.0), mask=False)  # a mask hiding nothing is no mask
    assert net.loss_and_gradients(X, y, sample_weight=masked)[0] == pytest.approx(unweighted[0], rel=1e-12)


@pytest.mark.parametrize("weights", [np.full(9, 1e39), np.r_[1e39, np.ones(8)], np.full(9, 1e-300)])
def test_weights_beyond_float32_train_a_float32_network(weights):
    # weights enter as w / sum(w) in float64: their scale, even beyond float32, cannot overflow
    net, X, y, _ = problem("squared_error")
    net32 = dp.MLP([4, 5, 3], activation="tanh", dtype=np.float32, seed=0)
    history = net32.fit(X, y, sample_weight=weights, epochs=3, batch_size=3)
    assert np.isfinite(history.loss).all()
