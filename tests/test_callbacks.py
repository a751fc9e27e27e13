"""Callbacks: what a callback changes on the trainer takes effect."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.callbacks.progress import ProgressBar, ProgressPrinter


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


class OnlyEpochs:
    """A callback by duck typing: any object with some of Callback's hooks."""

    def __init__(self):
        self.epochs = []

    def on_epoch_end(self, trainer, epoch, logs):
        self.epochs.append(epoch)


class NotCallable:
    on_epoch_end = 3


@pytest.mark.parametrize("callbacks, message", [
    (["print"], "callbacks[0] is 'print' (str), not a callback"),
    ([OnlyEpochs(), None], "callbacks[1] is None (NoneType), not a callback"),
    ([3], "callbacks[0] is 3 (int), not a callback"),
    ([dp.Callback], "callbacks[0] is <class 'deltaprop.callbacks.base.Callback'> (type), not a callback"),
    ([object()], "callbacks[0] is <object object"),
    ([NotCallable()], "callbacks[0] is <"),
    ("on_epoch_end", "callbacks must be a list of callbacks, got 'on_epoch_end' (str)"),
    (dp.Callback(), "callbacks must be a list of callbacks"),
    (None, "callbacks must be a list of callbacks, got None"),
])
def test_anything_but_a_callback_is_refused_naming_it_before_training(callbacks, message, rng):
    """None, a string or a class among the callbacks would never be called; each is named with
    its index, by every run that takes callbacks, before a step is taken."""
    X, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    net = dp.MLP([3, 4, 1], seed=0)
    before = net.theta.copy()
    with pytest.raises(TypeError, match=re.escape(message)):
        net.fit(X, y, epochs=2, callbacks=callbacks)
    with pytest.raises(TypeError, match=re.escape(message)):
        net.fit(X, y, epochs=2, callbacks=callbacks, validation_fraction=0.25, early_stopping=1)
    np.testing.assert_array_equal(net.theta, before)


def test_an_object_with_some_of_the_hooks_is_a_callback(rng):
    X, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    watcher = OnlyEpochs()
    dp.MLP([3, 4, 1], seed=0).fit(X, y, epochs=3, callbacks=(watcher,))
    assert watcher.epochs == [1, 2, 3]


@pytest.mark.parametrize("make, error, message", [
    (lambda: dp.EarlyStopping(restore_best="no"), TypeError, "restore_best must be True or False"),
    (lambda: dp.EarlyStopping(monitor=np.array(["loss", "val_loss"])), ValueError,
     "monitor must be 'val_loss' or 'loss'"),
    (lambda: dp.EarlyStopping(patience=True), TypeError, "patience must be an integer > 0"),
    (lambda: dp.EarlyStopping(min_delta=float("nan")), ValueError, "min_delta must be a number >= 0"),
    (lambda: ProgressPrinter(stream="log.txt"), TypeError, "stream must be a text stream"),
    (lambda: ProgressBar(10, stream=3), TypeError, "stream must be a text stream"),
    (lambda: ProgressBar(0), ValueError, "epochs must be an integer > 0"),
])
def test_bad_settings_of_a_callback_are_named_when_it_is_made(make, error, message):
    with pytest.raises(error, match=message):
        make()
    assert ProgressPrinter(stream=io.StringIO()).every == 1
