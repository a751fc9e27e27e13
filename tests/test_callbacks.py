"""Callbacks: what a callback changes on the trainer takes effect."""

from __future__ import annotations

import numpy as np

import deltaprop as dp


def test_a_callback_can_change_the_learning_rate(rng):
    """A rate set by a callback at the end of an epoch is the rate of the next epoch's steps
    (and of the optimizer afterwards), and History.lr records it."""
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)

    class Freeze(dp.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            trainer.optimizer.lr = 1e-300

    net = dp.MLP([3, 4, 1], dtype=np.float64, seed=0)
    optimizer = dp.SGD(lr=0.5)
    net.fit(X, y, optimizer=optimizer, epochs=1, batch_size=5)
    after_one = net.theta.copy()
    history = net.fit(X, y, optimizer=optimizer, epochs=3, batch_size=5, callbacks=[Freeze()])
    assert history.lr[1:] == [1e-300, 1e-300]
    assert np.abs(net.theta - after_one).max() > 0  # the first epoch moved ...
    moved_once = net.theta.copy()
    net.fit(X, y, optimizer=optimizer, epochs=1, batch_size=5)
    np.testing.assert_allclose(net.theta, moved_once, rtol=0, atol=1e-250)  # ... then nothing
