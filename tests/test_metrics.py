"""Scores and class decisions (deltaprop.metrics), against the network's own classes and
scikit-learn's scores."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.metrics import accuracy, class_indices, log_loss, log_sigmoid, log_softmax, mse, r2


@pytest.mark.parametrize("activation, n_out", [("softmax", 3), ("sigmoid", 1), ("sigmoid", 3),
                                               ("tanh", 1), ("identity", 1), ("sign", 1),
                                               ("step", 1), ("relu", 4)])
def test_class_indices_are_the_networks_classes(activation, n_out):
    net = dp.MLP([3, 5, n_out], output_activation=activation, seed=0)
    X = np.random.default_rng(0).standard_normal((40, 3))
    np.testing.assert_array_equal(class_indices(net.predict(X), activation), net.predict_classes(X))


def test_hand_worked_class_indices():
    assert class_indices([[0.2, 0.7, 0.1]], "softmax").tolist() == [1]
    assert class_indices([[0.5], [0.51]], "sigmoid").tolist() == [0, 1]  # strictly above 0.5
    assert class_indices([[-0.1], [0.1]], "tanh").tolist() == [0, 1]  # the middle of (-1, 1)
    assert class_indices([[0.6, 0.4]], "sigmoid").tolist() == [[1, 0]]  # multi-label
    with pytest.raises(ValueError, match="n_samples, n_outputs"):
        class_indices([0.2, 0.8], "softmax")


def test_log_probabilities_are_finite_where_probabilities_round_to_zero():
    z = np.array([[-800.0, 0.0, 800.0]])
    np.testing.assert_allclose(log_softmax(z), [[-1600.0, -800.0, 0.0]])
    np.testing.assert_allclose(log_sigmoid(z), [[-800.0, -np.log(2.0), 0.0]])
    w = np.random.default_rng(1).standard_normal((4, 3))
    np.testing.assert_allclose(np.exp(log_softmax(w)).sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(log_sigmoid(w)), 1 / (1 + np.exp(-w)))


def test_scores_equal_scikit_learns():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    y, predicted = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    weights = rng.uniform(0.1, 2.0, 50)
    assert accuracy(y, predicted) == pytest.approx(metrics.accuracy_score(y, predicted))
    assert accuracy(y, predicted, weights) == pytest.approx(metrics.accuracy_score(y, predicted,
                                                                                   sample_weight=weights))
    labels = rng.integers(0, 2, (50, 3))
    noisy = labels ^ (rng.random((50, 3)) < 0.1)
    assert accuracy(labels, noisy) == pytest.approx(metrics.accuracy_score(labels, noisy))
    p = rng.dirichlet(np.ones(3), 50)
    assert log_loss(p, y) == pytest.approx(metrics.log_loss(y, p, labels=[0, 1, 2]))
    Y, P = rng.standard_normal((50, 2)), rng.standard_normal((50, 2))
    assert r2(Y, P) == pytest.approx(metrics.r2_score(Y, P))
    assert r2(Y, P, weights) == pytest.approx(metrics.r2_score(Y, P, sample_weight=weights))
    assert mse(Y, P) == pytest.approx(metrics.mean_squared_error(Y, P))
    assert r2(np.ones(5), np.zeros(5)) == 0.0  # constant targets: 0, not a division by zero


def test_subset_accuracy_counts_a_row_only_when_every_label_is_right():
    assert accuracy([[1, 0], [1, 1]], [[1, 0], [1, 0]]) == 0.5


@pytest.mark.parametrize("metric", [accuracy, r2, mse])
@pytest.mark.parametrize("y_true, y_pred", [
    ([1.0], [1.0, 0.0, 1.0]),               # one target against three predictions
    (1.0, [1.0, 0.0]),                      # a single value
    ([[1.0, 2.0]] * 3, [1.0, 0.0, 1.0]),    # two targets against one output
    ([1.0, 0.0], [[1.0, 0.0]] * 2),         # one target against two outputs
])
def test_scores_never_broadcast_targets_against_predictions(metric, y_true, y_pred):
    with pytest.raises(ValueError, match=r"y has shape .* but the predictions have shape"):
        metric(y_true, y_pred)


def test_a_column_of_targets_pairs_with_a_vector_of_predictions():
    y, p = np.array([[1.0], [0.0], [1.0]]), np.array([1.0, 1.0, 1.0])
    assert accuracy(y, p) == accuracy(y[:, 0], p) == pytest.approx(2 / 3)
    assert r2(y, p) == r2(y[:, 0], p) and mse(p, y) == mse(p, y[:, 0])


@pytest.mark.parametrize("metric", [r2, mse])
def test_nan_targets_are_named_not_scored(metric):
    with pytest.raises(ValueError, match="y holds NaN or infinity"):
        metric([1.0, np.nan, 2.0], [1.0, 1.0, 1.0])
