"""FitOptions: fit's data-independent options, checked once, written as JSON and read back; fit
is those options, a data source and the one run (train)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.data.arrays import ArraySource
from deltaprop.training.fit import train
from deltaprop.training.options import FitOptions


def test_the_defaults_are_fits():
    import inspect

    defaults = {name: p.default for name, p in inspect.signature(dp.fit).parameters.items()
                if p.default is not inspect.Parameter.empty}
    options = FitOptions()
    assert defaults.pop("batch_size") is None and options.batch_size == 32  # None: 32 unless L-BFGS
    assert FitOptions(optimizer="lbfgs").batch_size == "full"
    for name, value in FitOptions().to_dict().items():
        if name != "batch_size":
            assert defaults[name] == value, name
    assert options.loss == "squared_error" and options.optimizer is None


def test_options_round_trip_through_json():
    options = FitOptions(loss="log_loss", optimizer=dp.SGD(0.1, momentum=0.9, schedule="cosine"),
                         epochs=np.int64(7), batch_size="full", sampling="random", l2=np.float32(0.5),
                         early_stopping=dp.EarlyStopping(patience=3, monitor="loss"), tol=1e-4,
                         time_limit=60, n_jobs=-1, threads=2, checkpoint="run.ckpt",
                         checkpoint_every=2)
    written = json.loads(json.dumps(options.to_dict()))
    assert written["loss"] == "cross_entropy" and written["epochs"] == 7 and written["l2"] == 0.5
    assert written["optimizer"]["class"] == "SGD" and written["optimizer"]["schedule"]["name"] == "cosine"
    assert written["early_stopping"] == {"patience": 3, "min_delta": 0.0, "monitor": "loss",
                                         "restore_best": True}
    read = FitOptions.from_dict(written)
    assert read.to_dict() == written
    assert isinstance(read.optimizer, dp.SGD) and read.optimizer.momentum == 0.9
    assert isinstance(read.early_stopping, dp.EarlyStopping) and read.early_stopping.patience == 3


def test_a_checkpoints_options_of_format_1_are_read():
    written_by_0_1 = {"loss": "cross_entropy", "epochs": 9, "batch_size": 16, "sampling": "epoch",
                      "shuffle": True, "l2": 0.001, "l1": 0.0, "validation_fraction": 0.25,
                      "early_stopping": 3, "tol": None, "time_limit": None, "checkpoint_every": 1}
    options = FitOptions.from_dict(written_by_0_1)
    assert {k: options.to_dict()[k] for k in written_by_0_1} == written_by_0_1


def test_what_a_file_cannot_hold_is_given_back_as_objects():
    class Halved(dp.losses.SquaredError):
        name = "halved"

    written = FitOptions(loss=Halved()).to_dict()
    assert written["loss"] is None
    with pytest.raises(ValueError, match="give it as loss="):
        FitOptions.from_dict(written)
    loss = Halved()
    assert FitOptions.from_dict(written, loss=loss).loss is loss
    with pytest.raises(ValueError, match=r"unknown fit options \['epoch'\]"):
        FitOptions.from_dict({"epoch": 3})


def test_a_whole_float_number_of_epochs_is_accepted():
    """epochs=3.0 (as read from JSON or a config file) is 3 epochs."""
    net = dp.MLP([2, 1], seed=0)
    assert net.fit(np.ones((4, 2)), np.ones(4), epochs=3.0).n_epochs == 3


@pytest.mark.parametrize(("options", "message"), [
    ({"epochs": 0}, "epochs must be an integer > 0"),
    ({"batch_size": "half"}, "batch_size must be a positive integer or 'full'"),
    ({"sampling": "bootstrap"}, "sampling must be one of"),
    ({"loss": "hinge"}, "unknown loss 'hinge'"),
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
    ({"early_stopping": 0}, "patience must be an integer > 0"),
    ({"threads": 0}, "threads must be an integer > 0"),
    ({"n_jobs": 0}, "n_jobs must be None or a nonzero integer"),
    ({"checkpoint_every": 0}, "checkpoint_every must be"),
    ({"restarts": 2, "checkpoint": "c"}, "checkpoints do not cover restarts"),
    ({"sampling": np.array(["epoch", "random"])}, "sampling must be one of"),
    ({"sampling": None}, "sampling must be one of"),
    ({"checkpoint": 3}, "checkpoint must be a file path or a Checkpoint, got 3"),
    ({"l2": float("nan")}, "l2 must be a number >= 0, got nan"),
    ({"l1": float("inf")}, "l1 must be a number >= 0, got inf"),
    ({"l2": True}, "l2 must be a number >= 0, got True"),
    ({"tol": float("nan")}, "tol must be a number > 0"),
    ({"tol": 0}, "tol must be a number > 0"),
    ({"time_limit": -1.0}, "time_limit must be a number > 0"),
    ({"validation_fraction": 1.0}, r"validation_fraction must lie in \[0, 1\)"),
    ({"validation_fraction": float("nan")}, "validation_fraction must be"),
    ({"epochs": True}, "epochs must be an integer > 0, got True"),
    ({"epochs": 2.5}, "epochs must be an integer > 0"),
    ({"batch_size": True}, "batch_size must be an integer > 0, got True"),
    ({"restarts": True}, "restarts must be an integer > 0, got True"),
    ({"early_stopping": True}, "patience must be an integer > 0, got True"),
    ({"threads": "many"}, "threads must be an integer > 0"),
    ({"checkpoint_every": 1.5}, "checkpoint_every must be"),
])
def test_bad_options_are_named_when_made(options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        FitOptions(**options)
    with pytest.raises((ValueError, TypeError), match=message):
        FitOptions().replace(**options)


def test_fit_is_its_options_a_data_source_and_the_run():
    rng = np.random.default_rng(0)
    X, y, w = rng.standard_normal((50, 3)), rng.integers(0, 3, 50), rng.random(50) + 0.5
    fitted = dp.MLP([3, 6, 3], seed=2, dropout=0.2)
    trained = fitted.copy()
    keywords = dict(loss="cross_entropy", optimizer=dp.Adam(0.01), epochs=4, batch_size=8,
                    l2=1e-3, validation_fraction=0.2, early_stopping=2)
    history = fitted.fit(X, y, sample_weight=w, **keywords)
    options = FitOptions(**{**keywords, "optimizer": dp.Adam(0.01)})
    loss = trained.check_loss(options.loss)
    data = ArraySource.from_data(trained, loss, X, y, w, validation_fraction=0.2, batch_size=8)
    assert train(trained, loss, data, options).loss == history.loss
    np.testing.assert_array_equal(trained.theta, fitted.theta)


def test_the_keywords_are_fits_and_make_the_same_options():
    import inspect

    options = FitOptions(loss="cross_entropy", optimizer=dp.SGD(0.1, momentum=0.5), epochs=3,
                         batch_size=4, l2=1e-3, early_stopping=dp.EarlyStopping(patience=2),
                         checkpoint="run.ckpt", checkpoint_every=2)
    keywords = options.keywords()
    assert set(keywords) <= set(inspect.signature(dp.fit).parameters)
    assert keywords["optimizer"] is options.optimizer  # objects as given, not copies
    assert keywords["early_stopping"] is options.early_stopping
    assert FitOptions(**keywords) == options


def test_fit_with_the_options_keywords_is_fit_with_the_same_keywords():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    keywords = dict(loss="binary_cross_entropy", epochs=3, batch_size=8, l2=1e-3, shuffle=False)
    by_keywords, by_options = dp.MLP([3, 5, 1], seed=4), dp.MLP([3, 5, 1], seed=4)
    history = dp.fit(by_keywords, X, y, optimizer=dp.Adam(0.01), **keywords)
    options = FitOptions(optimizer=dp.Adam(0.01), **keywords)
    assert dp.fit(by_options, X, y, **options.keywords()).loss == history.loss
    np.testing.assert_array_equal(by_options.theta, by_keywords.theta)


@pytest.mark.parametrize("flag, junk", [
    *[("shuffle", junk) for junk in ["no", "False", None, 0, 1, 1.0, [True]]],
    *[("verbose", junk) for junk in ["no", "False", None, -1, 1.0, [True]]],
])
def test_flags_are_true_or_false_not_anything_truthy(flag, junk):
    """``shuffle="no"`` is refused, not taken as True (as scikit-learn's parameter validation
    refuses it); by fit too, before the network changes. ``verbose`` also takes an int >= 0
    (``verbose=1``, as in scikit-learn and Keras)."""
    must = "True or False" if flag == "shuffle" else "True, False or an integer >= 0"
    message = re.escape(f"{flag} must be {must}, got {junk!r}")
    with pytest.raises(TypeError, match=message):
        FitOptions(**{flag: junk})
    net = dp.MLP([2, 3, 1], seed=0)
    before = net.theta.copy()
    with pytest.raises(TypeError, match=message):
        net.fit(np.ones((4, 2)), np.ones(4), epochs=2, **{flag: junk})
    np.testing.assert_array_equal(net.theta, before)


def test_numpy_bools_are_flags_and_are_kept_as_python_bools():
    options = FitOptions(shuffle=np.bool_(False), verbose=np.bool_(False))
    assert options.shuffle is False and options.verbose is False
    assert json.loads(json.dumps(options.to_dict()))["shuffle"] is False


def test_an_integer_beyond_int64_is_a_count_not_a_numpy_error():
    # np.isfinite refuses Python ints beyond int64 ("ufunc 'isfinite' not supported").
    assert dp.FitOptions(epochs=10**30).epochs == 10**30
    with pytest.raises(ValueError, match="l2 must be a number >= 0"):
        dp.FitOptions(l2=-10**30)


@pytest.mark.parametrize("verbose, shown", [(0, False), (1, True), (2, True), (np.int64(1), True)])
def test_verbose_takes_the_usual_integer_levels(verbose, shown):
    assert FitOptions(verbose=verbose).verbose is shown


def test_checkpoint_every_beside_a_checkpoint_object_must_agree_with_it(tmp_path):
    with pytest.raises(ValueError, match=r"a Checkpoint object writes every its own `every` epochs \(3\)"):
        FitOptions(checkpoint=dp.Checkpoint(tmp_path / "run.ckpt", every=3), checkpoint_every=5)
    assert FitOptions(checkpoint=dp.Checkpoint(tmp_path / "run.ckpt", every=3), checkpoint_every=3)
