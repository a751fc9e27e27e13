"""The safe model file: bit-exact round trips, atomic writes, and refusal of anything that is not
a deltaprop model (truncated, corrupted, foreign, newer, pickled) without executing it."""

from __future__ import annotations

import io
import json
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


# -- the typed payload --------------------------------------------------------------------------
def test_every_kind_round_trips_with_its_sections_and_arrays(tmp_path, data):
    net = trained(data, batch_norm=True)
    run_arrays = {"state.0": np.arange(3.0), "rows": np.arange(5)}
    payloads = {
        "network": {"metadata": {"note": "hello"}},
        "model": {"preprocessing": {"task": "regress", "feature_names": None}, "summary": {"n": 1}},
        "estimator": {"estimator": {"class": "MLPClassifier", "params": {}, "fitted": {}}},
        "checkpoint": {"run": {"epoch": 3}, "metadata": {"train_options": {"epochs": 5}}},
    }
    for kind, sections in payloads.items():
        path = tmp_path / f"{kind}.dp"
        arrays = {f"run.{k}": v for k, v in run_arrays.items()} if kind == "checkpoint" else {}
        modelfile.save_payload(path, net, kind, sections, arrays)
        archive = modelfile.read_archive(path)
        assert archive.kind == kind and archive.format_version == modelfile.FORMAT_VERSION
        assert {k: v for k, v in archive.sections.items() if k != "network"} == sections
        assert archive.sections["network"]["layers"] == [layer.to_config() for layer in net.layers]
        np.testing.assert_array_equal(archive.arrays["theta"], net.theta)
        if kind == "checkpoint":
            assert archive.group("run").keys() == run_arrays.keys()
            np.testing.assert_array_equal(archive.group("run")["rows"], run_arrays["rows"])
        with zipfile.ZipFile(path) as raw:
            assert json.loads(raw.read(modelfile.METADATA))["kind"] == kind


@pytest.mark.parametrize("kind, sections, arrays, message", [
    ("pickle", {}, {}, "kind must be one of network, model, estimator, checkpoint"),
    ("model", {}, {}, r"missing: \['preprocessing'\]"),
    ("network", {"extra": {}}, {}, r"unknown: \['extra'\]"),
    ("network", {}, {"loose": np.zeros(2)}, "belongs to no section"),
    ("network", {"metadata": {}}, {"metadata.names": np.array(["a"])}, "only numbers are stored"),
    ("network", {"metadata": {"f": print}}, {}, "not JSON serializable"),
])
def test_a_bad_payload_is_refused_before_any_file_is_touched(tmp_path, data, kind, sections, arrays,
                                                             message):
    path = tmp_path / "model.dp"
    path.write_bytes(b"the user's old model")
    with pytest.raises((ValueError, TypeError), match=message):
        modelfile.save_payload(path, trained(data), kind, sections, arrays)
    assert path.read_bytes() == b"the user's old model" and os.listdir(tmp_path) == ["model.dp"]


def test_what_a_file_claims_is_checked_before_it_is_read(tmp_path, data):
    path = tmp_path / "model.dp"
    dp.save(trained(data), path)
    # An array header claiming 80 GB over a few bytes of data: refused, nothing allocated.
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**10,)})
    _rewrite(path, lambda name, content: header.getvalue() + b"\0" * 8 if name == "theta.npy" else content)
    with pytest.raises(dp.ModelFileError, match="corrupted .*theta.npy holds 8 bytes for an array"):
        dp.load(path)
    # Compressed members (a zip bomb would be one) are refused before anything is inflated.
    dp.save(trained(data), path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    with pytest.raises(dp.ModelFileError, match="compressed"):
        dp.load(path)
    # A member marked encrypted (one flipped bit does it) is named, not zipfile's RuntimeError.
    dp.save(trained(data), path)
    raw = bytearray(path.read_bytes())
    entry = raw.index(b"PK\x01\x02")  # the central directory's entries, to metadata.json's
    while raw[entry + 46:entry + 59] != b"metadata.json":
        entry = raw.index(b"PK\x01\x02", entry + 4)
    raw[entry + 8] |= 0x1  # its general purpose flags: bit 0, encrypted
    path.write_bytes(bytes(raw))
    with pytest.raises(dp.ModelFileError, match="metadata.json is encrypted"):
        dp.load(path)


def test_unknown_kinds_missing_sections_and_wrong_kinds_are_named(tmp_path, data):
    path = tmp_path / "model.dp"
    for change, message in [(lambda m: m.update(kind="tokenizer"), "kind 'tokenizer', which this deltaprop"),
                            (lambda m: m.update(kind="model"), "lacks its preprocessing section"),
                            (lambda m: m.update(kind="checkpoint"), "lacks its run section")]:
        dp.save(trained(data), path)
        _rewrite(path, lambda name, content, change=change: content if name != modelfile.METADATA
                 else json.dumps({**json.loads(content), **_changed(json.loads(content), change)}).encode())
        with pytest.raises(dp.ModelFileError, match=message):
            dp.load(path)
    dp.save(trained(data), path)
    with pytest.raises(dp.ModelFileError, match=r"holds a network \(deltaprop.save\), not a checkpoint"):
        modelfile.read_archive(path).expect(("checkpoint",), "a checkpoint")


def _changed(metadata, change):
    change(metadata)
    return metadata


def test_save_takes_networks_models_and_estimators_only(tmp_path):
    with pytest.raises(TypeError, match="deltaprop.save writes a Network, a Model or"):
        dp.save({"W": [1, 2]}, tmp_path / "dict.dp")
