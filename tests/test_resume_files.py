"""A checkpoint read back to resume: every field of its run section and every array of its
optimizer state is checked, and a tampered checkpoint is a ModelFileError naming the field;
no file deltaprop writes holds NaN weights."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.files import container

RNG = np.random.default_rng(0)
X, Y = RNG.standard_normal((30, 5)), np.arange(30) % 2


def _checkpoint(path):
    net = dp.MLP([5, 4, 2], seed=1, batch_norm=True)
    net.fit(X, Y, loss="cross_entropy", epochs=3, checkpoint=path, validation_fraction=0.2,
            threads=None)
    return path


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _run(change):
    """A tampering that edits the run section with ``change(run)``."""
    def tamper(members):
        manifest = json.loads(members[container.METADATA])
        change(manifest["run"])
        return {**members, container.METADATA: json.dumps(manifest).encode()}
    return tamper


def _optimizer(**changes):
    return _run(lambda run: run["state"]["optimizer"].update(changes))


def _array(name, array):
    return lambda members: {**members, f"run.{name}.npy": _npy(array)}


def _nan_like(name):
    def tamper(members):
        array = np.load(io.BytesIO(members[f"run.{name}.npy"]))
        array[0] = np.nan
        return {**members, f"run.{name}.npy": _npy(array)}
    return tamper


TAMPERED = [  # (tampering, what the error must say)
    (_optimizer(t=-5), "the optimizer's step count t must be a non-negative integer, got -5"),
    (_optimizer(t=2.5), "step count t must be a non-negative integer, got 2.5"),
    (_optimizer(t=True), "step count t must be a non-negative integer, got True"),
    (_optimizer(epoch=-1), "the optimizer's epoch must be a non-negative integer"),
    (_optimizer(lr=-0.1), "the optimizer's lr is -0.1, not a positive number"),
    (_optimizer(lr="fast"), "the optimizer's lr is 'fast'"),
    (_optimizer(m={"array": "state.99"}), "lacks 'state.99'"),
    (_optimizer(m=[1.0, 2.0]), "the optimizer's m must be finite values of theta's shape"),
    (_array("state.0", np.zeros(3, np.float32)), "the optimizer's m must be finite values of theta's shape"),
    (_array("state.1", np.zeros(38, np.float64)), "the optimizer's v must be .* dtype float32"),
    (_nan_like("state.1"), "the optimizer's v must be finite values"),
    (_run(lambda run: run.update(epoch=-1)), "run.epoch must be a non-negative integer, got -1"),
    (_run(lambda run: run.update(epoch=99)), "run.epoch is 99, but the run's history has 3 epochs"),
    (_run(lambda run: run.update(epoch="3")), "run.epoch must be a non-negative integer, got '3'"),
    (_run(lambda run: run.update(finished="no")), "run.finished is 'no', not bool"),
    (_run(lambda run: run.update(options=[1])), "run.options is \\[1\\], not dict"),
    (_run(lambda run: run.update(optimizer="adam")), "run.optimizer is 'adam', not dict"),
    (_run(lambda run: run.update(stop_reason=3)), "run.stop_reason is 3, not str or null"),
    (_run(lambda run: run.update(fingerprint=[1])), "run.fingerprint is \\[1\\], not str or null"),
    (_run(lambda run: run.update(state=[1])), "run.state is list, not a JSON object"),
    (_run(lambda run: run["state"].update(callbacks="EarlyStopping")), "run.state.callbacks must be a list"),
    (_run(lambda run: run.pop("epoch")), "the checkpoint lacks 'epoch'"),
    (_run(lambda run: run["optimizer"].update({"class": "Lion"})), "unknown optimizer class 'Lion'"),
    (_run(lambda run: run["optimizer"]["params"].update(bogus=1)), "inconsistent .*bogus"),
    (_array("train_rows", np.array([0.5, 1.5])), "run.train_rows must be row numbers"),
    (_array("validation_rows", np.array([-1, 2])), "run.validation_rows must be row numbers"),
    (_array("train_rows", np.array([0, 1, 10_000])), "run.train_rows holds row 10000, but the data has"),
    (_array("train_rows", np.array([], np.int64)), "run.train_rows is empty"),
    (_array("last.theta", np.zeros(3, np.float32)), "run.last.theta must be finite values of shape"),
    (_nan_like("last.theta"), "run.last.theta must be finite values"),
    (_array("last.stats.0.var", -np.ones(4, np.float32)), "run.last.stats.0.var holds negative variances"),
]


@pytest.mark.parametrize("tamper, message", TAMPERED, ids=[m[:40] for _, m in TAMPERED])
def test_a_tampered_checkpoint_is_a_model_file_error_naming_the_field(tmp_path, tamper, message):
    path = _checkpoint(tmp_path / "run.dp")
    _write(path, tamper(_members(path)))
    with pytest.raises(dp.ModelFileError, match=message) as caught:
        dp.resume(path, X, Y, epochs=5, threads=None)
    assert str(caught.value).startswith(str(path)), "the message names the file"


def test_the_untampered_checkpoint_resumes(tmp_path):
    path = _checkpoint(tmp_path / "run.dp")
    _write(path, _members(path))  # rezipped as the tamperings are, unchanged
    net, history = dp.resume(path, X, Y, epochs=5, threads=None)
    assert history.n_epochs == 5 and np.isfinite(net.theta).all()


@pytest.mark.parametrize("where", ["theta", "running_var"])
def test_non_finite_weights_are_never_written(tmp_path, where):
    net = dp.MLP([3, 4, 2], batch_norm=True)
    if where == "theta":
        net.theta[:] = np.nan
    else:
        net.batchnorm_layers[0].running_var[0] = np.inf
    path = tmp_path / "net.dp"
    with pytest.raises(ValueError, match=f"{where} holds .*NaN or infinite"):
        dp.save(net, path)
    model = dp.Model(net, dp.files.model.Preprocessing("regress"))
    with pytest.raises(ValueError, match=f"{where} holds"):
        model.save(path)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_a_diverging_run_checkpoints_its_last_finite_weights(tmp_path):
    """Training restores the last finite weights on divergence, so its checkpoint loads."""
    path = tmp_path / "run.dp"
    rng = np.random.default_rng(0)
    X_small, y_small = rng.standard_normal((40, 3)), rng.standard_normal(40)
    net = dp.MLP([3, 8, 1], seed=0, activation="relu")
    history = net.fit(X_small, y_small, optimizer=dp.SGD(lr=2.0), epochs=30, batch_size=40,
                      checkpoint=path, threads=None)
    assert history.stop_reason == "diverged" and history.n_epochs > 1
    assert np.isfinite(net.theta).all()
    assert np.isfinite(dp.load(path).theta).all()  # the last whole epoch's checkpoint
    resumed, _ = dp.resume(path, X_small, y_small, optimizer=dp.SGD(lr=0.1), threads=None)
    assert np.isfinite(resumed.theta).all()
