"""The safe model file: bit-exact round trips, atomic writes, and refusal of anything that is not
a deltaprop model (truncated, corrupted, foreign, newer, pickled) without executing it."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.files import container as modelfile


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 4)), rng.integers(0, 3, 40)


def trained(data, dtype=np.float32, **options):
    X, y = data
    net = dp.MLP([4, 6, 5, 3], dtype=dtype, seed=1, **options)
    net.fit(X, y, loss="cross_entropy", epochs=3, threads=None)
    return net


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", [
    {}, {"batch_norm": True, "dropout": 0.2}, {"activation": {"name": "leaky_relu", "slope": 0.2}},
    {"activation": {"name": "elu", "alpha": 0.5}}, {"activation": "sigmoid", "init": "glorot_normal"},
])
def test_round_trip_is_bit_exact_and_training_continues_identically(tmp_path, data, dtype, options):
    net = trained(data, dtype, **options)
    path = tmp_path / "model.dp"
    dp.save(net, path)
    loaded = dp.load(path)
    assert type(loaded) is dp.MLP and loaded.layer_sizes == net.layer_sizes
    assert loaded.dtype == net.dtype and repr(loaded) == repr(net)
    np.testing.assert_array_equal(loaded.theta, net.theta)
    np.testing.assert_array_equal(loaded.predict(data[0]), net.predict(data[0]))
    assert loaded.history.loss == net.history.loss
    assert loaded.loss.name == "cross_entropy"
    for network in (net, loaded):  # same random state: the same next epochs, to the bit
        network.fit(*data, loss="cross_entropy", epochs=2, restarts=2, threads=None)
    np.testing.assert_array_equal(loaded.theta, net.theta)


def test_a_network_of_explicit_layers_and_an_untrained_one(tmp_path, data):
    net = dp.Network([dp.Dense(4, 5), dp.BatchNorm(), dp.ActivationLayer("tanh"), dp.Dropout(0.1),
                      dp.Dense(5, 2, "softmax")], dtype=np.float64, seed=2)
    dp.save(net, tmp_path / "fresh.dp")
    loaded = dp.load(tmp_path / "fresh.dp")
    assert type(loaded) is dp.Network and loaded.loss is None and loaded.history is None
    np.testing.assert_array_equal(loaded.predict(data[0]), net.predict(data[0]))


def test_a_user_defined_activation_is_refused_before_any_file_is_touched(tmp_path, data):
    class Cube:
        def f(self, z):
            return z**3

        def df(self, z):
            return 3 * z**2

    path = tmp_path / "model.dp"
    path.write_bytes(b"the user's old model")
    net = dp.MLP([4, 3, 2], activation=Cube())
    with pytest.raises(ValueError, match="user-defined activation"):
        dp.save(net, path)
    assert path.read_bytes() == b"the user's old model"
    assert os.listdir(tmp_path) == ["model.dp"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, data, monkeypatch):
    path = tmp_path / "model.dp"
    dp.save(trained(data), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", crash)
    with pytest.raises(OSError, match="disk full"):
        dp.save(trained(data, np.float64), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.dp"]


def _rewrite(path, change):
    """Copy the archive at ``path`` with ``change(name, data) -> data`` applied to each member."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, change(name, content))


def test_damaged_and_foreign_files_are_named(tmp_path, data):
    good = tmp_path / "good.dp"
    dp.save(trained(data), good)
    content = good.read_bytes()
    cases = {
        "truncated.dp": (content[: len(content) // 2], "truncated"),
        "empty.dp": (b"", "truncated"),
        "text.dp": (b"hidden,activation\n128,relu\n", "not a deltaprop model file"),
        "flipped.dp": (content[:-300] + bytes(b ^ 0xFF for b in content[-300:-200]) + content[-200:],
                       "corrupted|truncated"),
    }
    for name, (raw, message) in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(dp.ModelFileError, match=message):
            dp.load(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="no model file"):
        dp.load(tmp_path / "missing.dp")


def test_a_bit_flip_inside_the_weights_is_caught_by_the_checksum(tmp_path, data):
    path = tmp_path / "model.dp"
    dp.save(trained(data), path)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("theta.npy")
    raw[info.header_offset + 30 + len("theta.npy") + 140] ^= 0x01  # a byte of theta's data
    path.write_bytes(bytes(raw))
    with pytest.raises(dp.ModelFileError, match="corrupted"):
        dp.load(path)


def test_newer_format_other_format_and_inconsistent_contents(tmp_path, data):
    path = tmp_path / "model.dp"
    for change, message in [
        (lambda m: m.update(format_version=99), "newer deltaprop"),
        (lambda m: m.update(format="keras"), "not a deltaprop model file"),
        (lambda m: m["network"]["layers"][0].update(n_out=7), "theta has shape|inconsistent"),
        (lambda m: m["network"]["layers"][0].update(type="Conv2D"), "unknown layer type"),
        (lambda m: m["network"].pop("dtype"), "inconsistent"),
        (lambda m: m["network"]["layers"][0].update(n_in=10**9), "theta has shape"),  # no 4 GB
        (lambda m: m["network"]["rng_state"].update(bit_generator="seed"), "bit generator 'seed'"),
        (lambda m: m["network"]["rng_state"]["state"].update(inc=-5), "inconsistent"),
        (lambda m: m["network"]["history"].update(loss=["abc"]), "inconsistent"),
        (lambda m: m["network"].update(dtype="float64"), "theta is float32"),
    ]:
        dp.save(trained(data, batch_norm=True), path)

        def edit(name, content, change=change):
            if name != modelfile.METADATA:
                return content
            metadata = __import__("json").loads(content)
            change(metadata)
            return __import__("json").dumps(metadata)

        _rewrite(path, edit)
        global_state = np.random.get_state()[1].copy()  # noqa: NPY002 (the legacy global one)
        with pytest.raises(dp.ModelFileError, match=message):
            dp.load(path)
        np.testing.assert_array_equal(np.random.get_state()[1], global_state)  # noqa: NPY002


@pytest.mark.parametrize("name, array", [
    ("layers.1.running_mean.npy", np.zeros(2, np.float32)),
    ("layers.1.running_var.npy", np.ones(6, np.float64)),
])
def test_batchnorm_statistics_of_the_wrong_shape_or_dtype_are_refused(tmp_path, data, name, array):
    path = tmp_path / "model.dp"
    dp.save(trained(data, batch_norm=True), path)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    _rewrite(path, lambda member, content: buffer.getvalue() if member == name else content)
    with pytest.raises(dp.ModelFileError, match="expected \\(6,\\) float32"):
        dp.load(path)


class _Bomb:
    """Unpickling this would call _explode."""

    def __reduce__(self):
        return (_explode, ())


EXPLODED = []


def _explode():
    EXPLODED.append(True)
    return "boom"


def test_pickles_are_refused_without_being_unpickled(tmp_path, data):
    (tmp_path / "pickle.dp").write_bytes(pickle.dumps(_Bomb()))
    with pytest.raises(dp.ModelFileError, match="not a deltaprop model file"):
        dp.load(tmp_path / "pickle.dp")
    # A model file whose weights are an object array (a pickle inside the .npy) is refused too.
    path = tmp_path / "model.dp"
    dp.save(trained(data), path)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array([_Bomb()], dtype=object), allow_pickle=True)
    _rewrite(path, lambda name, content: buffer.getvalue() if name == "theta.npy" else content)
    with pytest.raises(dp.ModelFileError, match="corrupted"):
        dp.load(path)
    assert EXPLODED == []


def test_files_get_the_usual_permissions_and_keep_a_replaced_files(tmp_path, data):
    path = tmp_path / "model.dp"
    dp.save(trained(data), path)
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
    path.chmod(0o640)
    dp.save(trained(data), path)
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_missing_folder_is_named(tmp_path, data):
    with pytest.raises(FileNotFoundError, match="the folder .* does not exist"):
        dp.save(trained(data), tmp_path / "nowhere" / "model.dp")
