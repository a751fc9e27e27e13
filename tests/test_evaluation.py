"""evaluate: the loss and metric of a network on data, its input checked like fit's."""

from __future__ import annotations

import numpy as np
import pytest

import deltaprop as dp


def test_evaluate_validates_its_input(rng):
    """An untrained network needs loss=; lists are accepted; a wrong number of features is
    named; another loss may be given for one call, which leaves the output activation alone."""
    net = dp.MLP([3, 4, 3], seed=0)
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    with pytest.raises(ValueError, match="not been trained; give loss="):
        dp.evaluate(net, X, y)
    net.fit(X, y, loss="cross_entropy", epochs=1)
    loss, accuracy = dp.evaluate(net, X.tolist(), y)
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    with pytest.raises(ValueError, match="has 2 features"):
        dp.evaluate(net, X[:, :2], y)
    assert dp.evaluate(net, X, rng.standard_normal((6, 3)), loss="squared_error")[0] > 0
    assert net.output_layer.activation.name == "softmax"
