"""The public contract of Network and MLP: shapes, views, z/a/delta, seeds, copies, errors, and
(a property, Hypothesis) predictions that do not depend on the batch."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import deltaprop as dp
from conftest import SEEDS, architectures, deterministic


def test_weights_and_biases_have_the_notes_shapes_and_are_views():
    net = dp.MLP([64, 128, 10], seed=0)
    assert [W.shape for W in net.weights] == [(128, 64), (10, 128)]
    assert [b.shape for b in net.biases] == [(128,), (10,)]
    assert all(W.dtype == np.float32 for W in net.weights)
    assert all(np.shares_memory(W, net.theta) for W in net.weights)
    assert net.n_parameters == 64 * 128 + 128 + 128 * 10 + 10


def test_assigning_into_weights_changes_the_network(rng):
    net = dp.MLP([3, 2], activation="relu", output_activation="identity", dtype=np.float64, seed=0)
    X = rng.standard_normal((5, 3))
    W = rng.standard_normal((2, 3))
    net.weights[0] = W  # list-style assignment copies into the view
    net.biases[0][:] = [1.0, -1.0]  # in-place slice assignment
    np.testing.assert_allclose(net.predict(X), X @ W.T + [1.0, -1.0], rtol=1e-12)
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        net.weights[0] = np.zeros((3, 2))


def test_weights_are_assigned_one_layer_at_a_time():
    """A slice assignment would replace list entries, not copy into the network's views."""
    net = dp.MLP([2, 2, 1], seed=0)
    with pytest.raises(TypeError, match="one layer"):
        net.weights[0:1] = [np.zeros((2, 2))]


def test_forward_keeps_z_and_a_of_every_layer(rng):
    net = dp.MLP([3, 4, 2], activation="tanh", output_activation="identity", dtype=np.float64, seed=1)
    X = rng.standard_normal((6, 3))
    out = net.forward(X)
    z1 = X @ net.weights[0].T + net.biases[0]
    a1 = np.tanh(z1)
    z2 = a1 @ net.weights[1].T + net.biases[1]
    np.testing.assert_allclose(net.zs[0], z1, rtol=1e-12)
    np.testing.assert_allclose(net.activations[0], a1, rtol=1e-12)
    np.testing.assert_allclose(net.zs[1], z2, rtol=1e-12)
    np.testing.assert_allclose(out, z2, rtol=1e-12)


def test_hand_worked_backward_pass(rng):
    """The notes' recursion written out for a 2-3-1 sigmoid net with squared error, one sample.

    delta_2 = (a_2 - y) * a_2 (1 - a_2)          output delta (1/n = 1)
    delta_1 = (W_2^T delta_2) * a_1 (1 - a_1)    the recursion
    dW_l = delta_l a_{l-1}^T,  db_l = delta_l
    """
    net = dp.MLP([2, 3, 1], activation="sigmoid", output_activation="sigmoid", dtype=np.float64, seed=0)
    x, y = np.array([0.5, -1.0]), np.array([1.0])
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    W1, b1, W2, b2 = net.weights[0], net.biases[0], net.weights[1], net.biases[1]
    a1 = sigmoid(W1 @ x + b1)
    a2 = sigmoid(W2 @ a1 + b2)
    delta2 = (a2 - y) * a2 * (1 - a2)
    delta1 = (W2.T @ delta2) * a1 * (1 - a1)
    value, dWs, dbs = net.loss_and_gradients(x[None], y[None], loss="squared_error")
    assert value == pytest.approx(0.5 * np.sum((a2 - y) ** 2), rel=1e-12)
    np.testing.assert_allclose(net.deltas[1][0], delta2, rtol=1e-12)
    np.testing.assert_allclose(net.deltas[0][0], delta1, rtol=1e-12)
    np.testing.assert_allclose(dWs[1], np.outer(delta2, a1), rtol=1e-12)
    np.testing.assert_allclose(dWs[0], np.outer(delta1, x), rtol=1e-12)
    np.testing.assert_allclose(dbs[0], delta1, rtol=1e-12)
    np.testing.assert_allclose(dbs[1], delta2, rtol=1e-12)


def test_loss_and_gradients_changes_no_weight_and_fills_deltas(rng):
    net = dp.MLP([4, 8, 8, 3], batch_norm=True, dropout=0.2, seed=0)
    before = net.theta.copy()
    bn = net.layers[1]
    running = bn.running_mean.copy()
    X, y = rng.standard_normal((7, 4)), rng.integers(0, 3, 7)
    value, dWs, dbs = net.loss_and_gradients(X, y, loss="cross_entropy", l2=0.1)
    np.testing.assert_array_equal(net.theta, before)
    np.testing.assert_array_equal(bn.running_mean, running)
    assert np.isfinite(value)
    assert [d.shape for d in net.deltas] == [(7, 8), (7, 8), (7, 3)]
    assert [dW.shape for dW in dWs] == [W.shape for W in net.weights]
    assert not np.shares_memory(dWs[0], net.grad)  # the caller's copy


def test_the_loss_chooses_the_output_activation(rng):
    net = dp.MLP([3, 4, 3], seed=0)
    X = rng.standard_normal((5, 3))
    net.fit(X, [0, 1, 2, 0, 1], loss="cross_entropy", epochs=1)
    np.testing.assert_allclose(net.predict(X).sum(axis=1), 1.0, rtol=1e-6)  # softmax
    net.fit(X, rng.integers(0, 2, (5, 3)), loss="binary_cross_entropy", epochs=1)
    assert net.output_layer.activation.name == "sigmoid"
    net.fit(X, rng.standard_normal((5, 3)), loss="squared_error", epochs=1)
    assert net.output_layer.activation.name == "identity"


def test_queries_and_failed_fits_leave_the_output_activation_alone(rng):
    net = dp.MLP([3, 4, 3], seed=0)
    X = rng.standard_normal((5, 3))
    net.fit(X, [0, 1, 2, 0, 1], loss="cross_entropy", epochs=1)
    probabilities = net.predict(X)
    # squared error for one call: its identity output is used, then softmax is back
    net.loss_and_gradients(X, rng.standard_normal((5, 3)), loss="squared_error")
    np.testing.assert_array_equal(net.activations[-1], net.zs[-1])  # identity for that call
    with pytest.raises(ValueError, match="targets have shape"):
        net.loss_and_gradients(X, [0, 1, 2, 0, 1])  # squared error with labels: rejected
    with pytest.raises(ValueError, match="targets have shape"):
        net.fit(X, [0, 1, 2, 0, 1], loss="squared_error")
    assert net.loss.name == "cross_entropy"
    np.testing.assert_array_equal(net.predict(X), probabilities)


def test_a_fixed_output_activation_must_fit_the_loss():
    net = dp.MLP([3, 4, 3], output_activation="identity", seed=0)
    with pytest.raises(ValueError, match="softmax"):
        net.loss_and_gradients(np.ones((2, 3)), [0, 1], loss="cross_entropy")


def test_same_seed_gives_bit_identical_weights_after_training(rng):
    X, y = rng.standard_normal((50, 5)), rng.integers(0, 3, 50)

    def train(seed):
        net = dp.MLP([5, 16, 3], seed=seed, dropout=0.1, batch_norm=True)
        net.fit(X, y, loss="cross_entropy", epochs=3, batch_size=8)
        return net.theta.copy()

    np.testing.assert_array_equal(train(7), train(7))
    assert not np.array_equal(train(7), train(8))


def test_a_generator_seeds_a_network_reproducibly():
    a = dp.MLP([3, 4, 1], seed=np.random.default_rng(5))
    b = dp.MLP([3, 4, 1], seed=np.random.default_rng(5))
    np.testing.assert_array_equal(a.theta, b.theta)


def test_batchnorm_eval_output_does_not_depend_on_the_batch(rng):
    net = dp.MLP([4, 8, 2], batch_norm=True, dtype=np.float64, seed=0)
    X, y = rng.standard_normal((64, 4)), rng.integers(0, 2, 64)
    net.fit(X, y, loss="cross_entropy", epochs=2, batch_size=16)
    alone = np.vstack([net.predict(X[i:i + 1]) for i in range(10)])
    together = net.predict(X[:10])
    with_others = net.predict(np.vstack([X[:10], 100 * rng.standard_normal((20, 4))]))[:10]
    np.testing.assert_allclose(alone, together, rtol=1e-12)
    np.testing.assert_allclose(with_others, together, rtol=1e-12)


def test_batchnorm_training_mode_normalizes_over_the_batch(rng):
    layer = dp.BatchNorm(3)
    net = dp.Network([dp.Dense(2, 3), layer, dp.ActivationLayer("identity")], dtype=np.float64, seed=0)
    net.forward(rng.standard_normal((50, 2)) * 5 + 3, training=True)
    out = layer.forward(net.layers[0].z, training=True)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1.0, rtol=1e-4)


def test_zero_initialization_keeps_hidden_units_identical(rng):
    """The symmetry problem: every hidden unit gets the same gradient, so they never differ."""
    X, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    net = dp.MLP([3, 6, 1], activation="tanh", init="zeros", dtype=np.float64, seed=0)
    net.weights[0][...] = 0.3  # identical (not zero) so that gradients flow, still symmetric
    net.fit(X, y, optimizer=dp.SGD(lr=0.1), epochs=20, batch_size=8)
    W1 = net.weights[0]
    np.testing.assert_allclose(W1, np.broadcast_to(W1[0], W1.shape), rtol=1e-12)
    random_net = dp.MLP([3, 6, 1], activation="tanh", dtype=np.float64, seed=0)
    random_net.fit(X, y, optimizer=dp.SGD(lr=0.1), epochs=20, batch_size=8)
    assert np.ptp(random_net.weights[0], axis=0).min() > 1e-3


def test_zero_initialization_really_is_zero():
    net = dp.MLP([3, 6, 1], init="zeros", seed=0)
    assert not net.theta.any()


@pytest.mark.parametrize("init", sorted(dp.INITIALIZERS))
def test_initializers_are_seeded_and_scaled(init):
    a = dp.MLP([200, 100, 1], init=init, seed=3).weights[0]
    b = dp.MLP([200, 100, 1], init=init, seed=3).weights[0]
    np.testing.assert_array_equal(a, b)
    expected_std = {"zeros": 0.0, "uniform": 0.05 / np.sqrt(3), "normal": 0.01,
                    "glorot": np.sqrt(2 / 300), "glorot_normal": np.sqrt(2 / 300),
                    "he": np.sqrt(2 / 200), "he_uniform": np.sqrt(2 / 200),
                    "lecun": np.sqrt(1 / 200), "lecun_uniform": np.sqrt(1 / 200),
                    "sklearn": np.sqrt(2 / 300), "sklearn_logistic": np.sqrt(2 / 900)}[init]
    assert a.std() == pytest.approx(expected_std, rel=0.05, abs=1e-12)


@pytest.mark.parametrize("init, limit", [("sklearn", np.sqrt(6 / 300)),
                                         ("sklearn_logistic", np.sqrt(2 / 300))])
def test_sklearn_initializers_draw_the_biases_too(init, limit):
    """scikit-learn draws b from the same uniform as W; the other initializers keep b = 0."""
    net = dp.MLP([200, 100, 1], init=init, seed=3, dtype=np.float64)
    b = net.biases[0]
    assert 0 < np.abs(b).max() <= limit and b.std() == pytest.approx(limit / np.sqrt(3), rel=0.2)
    assert not dp.MLP([200, 100, 1], init="glorot", seed=3).biases[0].any()


def test_default_init_follows_the_activation():
    relu = dp.MLP([400, 300, 1], activation="relu", seed=0).weights[0]
    tanh = dp.MLP([400, 300, 1], activation="tanh", seed=0).weights[0]
    assert relu.std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)  # He
    assert tanh.std() == pytest.approx(np.sqrt(2 / 700), rel=0.05)  # Glorot


def test_copy_pickle_and_astype_are_independent(rng):
    net = dp.MLP([3, 5, 2], batch_norm=True, seed=0)
    X = rng.standard_normal((4, 3))
    for clone in (net.copy(), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(clone.predict(X), net.predict(X))
        clone.weights[0][...] = 0
        assert net.weights[0].any()
        assert np.shares_memory(clone.weights[0], clone.theta)
    wide = net.astype(np.float64)
    assert wide.theta.dtype == np.float64 and wide.weights[0].dtype == np.float64
    np.testing.assert_allclose(wide.predict(X), net.predict(X), rtol=1e-5)


def test_network_composition_with_per_layer_activations(rng):
    net = dp.Network([dp.Dense(4, 8, "tanh"), dp.Dense(8, 8, "relu"), dp.BatchNorm(),
                      dp.ActivationLayer("elu"), dp.Dropout(0.1), dp.Dense(8, 2)], seed=0)
    assert len(net.weights) == 3
    assert net.layers[2].n_in == 8  # width taken from the layer below
    history = net.fit(rng.standard_normal((32, 4)), rng.integers(0, 2, 32), loss="cross_entropy", epochs=2)
    assert history.n_epochs == 2


def test_custom_activation_object(rng):
    class Cube:
        def f(self, z):
            return z**3

        def df(self, z):
            return 3 * z**2

    net = dp.MLP([2, 3, 1], activation=Cube(), dtype=np.float64, seed=0)
    assert dp.gradcheck(net, rng.standard_normal((5, 2)), rng.standard_normal(5)).passed


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: dp.MLP([3]), "at least an input and an output"),
        (lambda: dp.MLP([3, 0, 1]), r"layer_sizes\[1\] must be an integer > 0"),
        (lambda: dp.MLP([3, 2.5, 1]), "layer_sizes"),
        # only integers are widths: True is not 1, 4.0 not 4 (as scikit-learn's hidden_layer_sizes)
        (lambda: dp.MLP([3, True, 1]), r"layer_sizes\[1\] must be an integer > 0, got True \(bool\)"),
        (lambda: dp.MLP([3, 4.0, 1]), r"layer_sizes\[1\] must be an integer > 0, got 4.0 \(float\)"),
        (lambda: dp.MLP([3, np.float32(4), 1]), r"layer_sizes\[1\]"),
        (lambda: dp.MLP("341"), "layer_sizes must be a list of ints"),
        (lambda: dp.MLP([3, 4, 1], batch_norm="no"), "batch_norm must be True or False, got 'no'"),
        (lambda: dp.MLP([3, 4, 1], batch_norm=None), "batch_norm must be True or False"),
        (lambda: dp.MLP([3, 4, 1]).forward(np.ones((2, 3)), training="no"),
         "training must be True or False"),
        (lambda: dp.MLP([3, 4, 1], activation="swish"), "valid names are: .*relu"),
        (lambda: dp.MLP([3, 4, 1], init="orthogonal"), "unknown init 'orthogonal'; valid names"),
        (lambda: dp.MLP([3, 4, 1], dropout=1.0), r"dropout must lie in \[0, 1\)"),
        (lambda: dp.MLP([3, 4, 1], dtype=np.int32), "float32 or float64"),
        (lambda: dp.Network([dp.Dense(3, 4), dp.Dense(5, 1)]), "takes 5 inputs but layers"),
        (lambda: dp.Network([dp.Dense(3, 4), dp.BatchNorm()]), "last layer must be Dense"),
        (lambda: dp.SGD(lr=0), "lr must be a number > 0"),
        (lambda: dp.SGD(lr=0.1, momentum=1.5), "momentum"),
        (lambda: dp.get_loss("hinge"), "unknown loss 'hinge'; valid names are: binary_cross_entropy"),
    ],
)
def test_bad_construction_names_the_problem(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: dp.MLP([2, 1]).fit(np.ones((2, 2)) * 1j, np.ones(2)), TypeError, "must hold numbers"),
        (lambda: dp.MLP([2, 1]).fit(np.ones((2, 2)), np.ones(2) * 1j), TypeError, "numeric"),
        (lambda: dp.MLP([2, 1], seed=-1), TypeError, "seed must be"),
        (lambda: dp.MLP([2, 1], seed="abc"), TypeError, "seed must be"),
        (lambda: dp.Network(dp.Dense(2, 1)), TypeError, "list of layers"),
    ],
)
def test_arguments_of_the_wrong_type_raise_a_type_error_that_names_them(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_layer_cannot_serve_two_networks():
    """A layer holds its own parameters (views into one network's buffers): used twice in one
    network, or again in a second network, it is refused."""
    shared = dp.Dense(3, 3, "tanh")
    with pytest.raises(ValueError, match="already belongs to a network"):
        dp.Network([shared, shared, dp.Dense(3, 1)])
    dense = dp.Dense(3, 1)
    dp.Network([dense])
    with pytest.raises(ValueError, match="already belongs to a network"):
        dp.Network([dense])


@pytest.mark.parametrize(
    "X, y, loss, message",
    [
        (np.ones(5), np.zeros(5), "squared_error", "must be 2-D"),
        (np.ones((5, 4)), np.zeros(5), "squared_error", "has 4 features but the network expects 3"),
        (np.full((5, 3), np.nan), np.zeros(5), "squared_error", "NaN"),
        (np.ones((0, 3)), np.zeros(0), "squared_error", "zero samples"),
        (np.array([["a", "b", "c"]]), np.zeros(1), "squared_error", "must hold numbers"),
        (np.ones((5, 3)), np.zeros(4), "squared_error", "X has 5 samples but y has 4"),
        (np.ones((5, 3)), np.zeros((5, 3)), "squared_error", r"targets have shape \(5, 3\)"),
        (np.ones((2, 3)), [0, 7], "cross_entropy", "label 7 is outside 0..1"),
        (np.ones((2, 3)), [0.0, np.inf], "squared_error", "NaN or infinity"),
        (np.ones((2, 3)), [0.0, 2.0], "binary_cross_entropy", r"\[0, 1\]"),
    ],
)
def test_bad_data_names_the_problem(X, y, loss, message):
    net = dp.MLP([3, 4, 2 if loss in ("cross_entropy",) else 1], seed=0)
    with pytest.raises((ValueError, TypeError), match=message):
        net.fit(X, y, loss=loss, epochs=1)


def test_inverted_dropout_keeps_the_mean_and_is_off_in_evaluation(rng):
    layer = dp.Dropout(0.25)
    net = dp.Network([dp.Dense(2, 2000, "identity"), layer, dp.ActivationLayer("identity")],
                     dtype=np.float64, seed=0)
    x = np.ones((50, 2000))
    out = layer.forward(x, training=True)
    dropped = np.mean(out == 0)
    assert dropped == pytest.approx(0.25, abs=0.01)
    assert set(np.unique(out)) == {0.0, 1.0 / 0.75}
    assert out.mean() == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    assert net.predict(rng.standard_normal((3, 2))).shape == (3, 2000)


def test_predict_returns_a_fresh_array(rng):
    net = dp.MLP([3, 4, 2], seed=0)
    X = rng.standard_normal((5, 3))
    first = net.predict(X)
    kept = first.copy()
    net.predict(2 * X)
    np.testing.assert_array_equal(first, kept)
    assert not np.shares_memory(first, net.layers[-1].z)


def test_predict_classes_is_multilabel_for_sigmoid_outputs(rng):
    """Each sigmoid output is thresholded at 0.5 on its own, not reduced to one argmax."""
    net = dp.MLP([2, 2], dtype=np.float64, seed=0)
    net.fit(np.zeros((2, 2)), [[1, 0], [0, 1]], loss="binary_cross_entropy", epochs=1)
    net.weights[0][...] = np.eye(2)
    net.biases[0][...] = 0.0
    classes = net.predict_classes(np.array([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]))
    np.testing.assert_array_equal(classes, [[1, 1], [0, 1], [1, 0], [0, 0]])


def test_binary_cross_entropy_metric_is_subset_accuracy():
    """A multi-label row counts as right only if every label is (scikit-learn's accuracy_score)."""
    loss = dp.get_loss("binary_cross_entropy")
    Y = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    a = np.array([[0.9, 0.1], [0.9, 0.2], [0.4, 0.6]])
    assert loss.metric(a, Y) == pytest.approx(1 / 3)
    assert loss.metric(a, Y, np.array([2.0, 1.0, 1.0])) == pytest.approx(0.5)


def test_predict_logits_are_the_output_pre_activations(rng):
    net = dp.MLP([3, 5, 4], seed=0, batch_norm=True, dtype=np.float64)
    net.use_loss(dp.get_loss("cross_entropy"))
    X = rng.standard_normal((5000, 3))  # more rows than one predict chunk
    z = net.predict_logits(X)
    softmax = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(softmax / softmax.sum(axis=1, keepdims=True), net.predict(X), rtol=1e-12)


# -- a property: predictions independent of the batch --------------------------------------------
# Evaluation mode is row-wise: each output row is a function of its input row only. In float64
# the one thing the batch may change is the rounding of the matrix products (BLAS picks other
# kernels, and other summation orders, for other numbers of rows): each product's row then
# differs by a few units in the last place of its terms, ~1e-16 relative, and a few layers of
# widths <= 6 amplify that by far less than 1e3. Any real dependence on the batch (batch
# statistics, a dropout mask) changes outputs at the 1e-3 level or more.
BATCH_RTOL = 1e-12


def _assert_rows_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=BATCH_RTOL, atol=BATCH_RTOL * scale)


@deterministic(max_examples=60)
@given(arch=architectures(), batch_norm=st.booleans(), dropout=st.sampled_from([0.0, 0.5]),
       n_test=st.integers(1, 12), seed=SEEDS)
def test_predictions_do_not_depend_on_the_batch(arch, batch_norm, dropout, n_test, seed):
    """After a short fit (BatchNorm running statistics learned, dropout active in training),
    predict and predict_logits of any row are the same whether the row is alone, in the whole
    test batch, or in any random subset or permutation of it (float64, relative tolerance
    1e-12: only the rounding of BLAS may differ), and predicting changes no state."""
    rng = np.random.default_rng(seed)
    net = arch.mlp(dtype=np.float64, seed=seed, batch_norm=batch_norm, dropout=dropout)
    X_train = rng.standard_normal((12, arch.n_in))
    net.fit(X_train, arch.targets(rng, 12), loss=arch.loss, epochs=3, batch_size=4,
            optimizer=dp.SGD(lr=0.1))
    state = net.snapshot()
    X = rng.standard_normal((n_test, arch.n_in)) * rng.uniform(0.5, 3.0)
    for predict in (net.predict, net.predict_logits):
        whole = predict(X)
        assert whole.shape == (n_test, arch.n_out)
        for i in range(n_test):
            _assert_rows_equal(predict(X[i:i + 1]), whole[i:i + 1])
        for _ in range(3):
            rows = rng.permutation(n_test)[:rng.integers(1, n_test + 1)]
            _assert_rows_equal(predict(X[rows]), whole[rows])
        assert predict(X).tobytes() == whole.tobytes()  # same batch: same bits
    theta, stats = net.snapshot()
    assert theta.tobytes() == state[0].tobytes()
    assert all(a.tobytes() == b.tobytes() for pair, saved in zip(stats, state[1])
               for a, b in zip(pair, saved))
