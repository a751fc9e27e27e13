"""The safe model file: bit-exact round trips, atomic writes, and refusal of anything that is not
a deltaprop model (truncated, corrupted, foreign, newer, pickled) without executing it."""

from __future__ import annotations

import io
import json
import os
import pickle
import tracemalloc
import zipfile

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.files import container as modelfile
from deltaprop.files import members as model_members
from deltaprop.files.jsonbounds import json_problem


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


def _nested(levels):
    value = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("kind, sections, arrays, message", [
    ("pickle", {}, {}, "kind must be one of network, model, estimator, checkpoint"),
    ("model", {}, {}, "the model payload lacks its preprocessing section"),
    ("network", {"extra": {}}, {}, "a network payload has the sections network, metadata, not 'extra'"),
    ("network", {"preprocessing": {}}, {}, "has the sections network, metadata, not 'preprocessing'"),
    ("estimator", {"estimator": {}, "metadata": {}}, {}, "not 'metadata'"),
    ("network", {}, {"loose": np.zeros(2)}, "belongs to no section"),
    ("network", {"metadata": {}}, {"metadata.names": np.array(["a"])}, "only numbers are stored"),
    ("network", {"metadata": {"f": print}}, {}, "not JSON serializable"),
    ("network", {"metadata": {"deep": _nested(70)}}, {}, "nested 73 levels deep; at most 64"),
    ("network", {"metadata": {"deep": _nested(5000)}}, {}, "nested deeper than 64 levels"),
    ("network", {"metadata": {"rows": [0] * 2**20}}, {}, "holds 10486.. values; at most 1048576 .* arrays"),
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


# -- hostile files: every malformed file is a ModelFileError naming the problem ------------------
def _network_file(tmp_path):
    X, y = np.random.default_rng(0).standard_normal((40, 4)), np.arange(40) % 3
    net = dp.MLP([4, 6, 5, 3], seed=1, batch_norm=True)
    net.fit(X, y, loss="cross_entropy", epochs=3, threads=None)
    dp.save(net, tmp_path / "network.dp")
    return tmp_path / "network.dp"


def _model_file(tmp_path):
    from deltaprop.data.labels import LabelEncoder
    from deltaprop.data.preprocessing import Preprocessing

    net = dp.load(_network_file(tmp_path))
    labels = LabelEncoder(np.array(["cat", "cow", "dog"]))
    dp.Model(net, Preprocessing("classify", labels=labels)).save(tmp_path / "model.dp")
    return tmp_path / "model.dp"


def _estimator_file(tmp_path):
    from deltaprop.sklearn import MLPClassifier

    X, y = np.random.default_rng(0).standard_normal((30, 4)), np.array(["no", "yes"] * 15)
    estimator = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)
    estimator.save(tmp_path / "estimator.dp")
    return tmp_path / "estimator.dp"


def _regression_file(tmp_path):
    """A regression model of two targets on the columns a, b and the text column color."""
    from deltaprop.data.preprocessing import Preprocessing, Standardizer

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, 4)), rng.standard_normal((30, 2))
    net = dp.MLP([4, 5, 2], seed=1)
    net.fit(X, Y, loss="mse", epochs=2, threads=None)
    scaling = Standardizer(np.zeros(2), np.ones(2))
    preprocessing = Preprocessing("regress", ["a", "color=blue", "color=red", "b"],
                                  {"color": ["blue", "red"]}, target_names=["y0", "y1"],
                                  targets=scaling)
    dp.Model(net, preprocessing).save(tmp_path / "regression.dp")
    return tmp_path / "regression.dp"


BASES = {"network": _network_file, "model": _model_file, "estimator": _estimator_file,
         "regression": _regression_file}


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members, compression=zipfile.ZIP_STORED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _meta(change):
    """A tampering that edits the manifest with ``change(manifest)``."""
    def tamper(members):
        manifest = json.loads(members[modelfile.METADATA])
        change(manifest)
        return {**members, modelfile.METADATA: json.dumps(manifest).encode()}
    return tamper


def _member(name, content):
    return lambda members: {**members, name: content}


def _npy_header(shape, descr="<f4", version=(1, 0)):
    buffer = io.BytesIO()
    write = getattr(np.lib.format, f"write_array_header_{version[0]}_{version[1]}")
    write(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _raw_npy(header_text):
    """A .npy whose header is ``header_text`` as it is (numpy's writer would refuse some)."""
    header = header_text.encode("latin1")
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def _duplicated(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        for name, content in [*members.items(), ("theta.npy", members["theta.npy"])]:
            archive.writestr(name, content)
    return buffer.getvalue()


def _flagged_encrypted(members):
    raw = bytearray(_zip(members))
    entry = raw.index(b"PK\x01\x02")
    raw[entry + 8] |= 0x1
    return bytes(raw)


def _claims_more(members):
    """theta's entry in the central directory claims 1 GB, uncompressed and stored."""
    raw = bytearray(_zip(members))
    entry = raw.index(b"PK\x01\x02")
    while raw[entry + 46:entry + 55] != b"theta.npy":
        entry = raw.index(b"PK\x01\x02", entry + 4)
    raw[entry + 20:entry + 28] = (10**9).to_bytes(4, "little") * 2
    return bytes(raw)


def _raw_meta(raw):
    """A tampering that adds ``raw`` (JSON text, as it is) to the manifest as its summary."""
    def tamper(members):
        text = members[modelfile.METADATA].rstrip()
        return {**members, modelfile.METADATA: text[:-1] + b', "summary": ' + raw + b"}"}
    return tamper


def _deep(levels):
    return json.loads("[" * levels + "]" * levels)


def _fitted(**changes):
    return _meta(lambda m: m["estimator"]["fitted"].update(changes))


def _fitted_without(*names):
    return _meta(lambda m: [m["estimator"]["fitted"].pop(name) for name in names])


def _net(change):
    """A tampering that edits the network section with ``change(network)``."""
    return _meta(lambda m: change(m["network"]))


def _history(**changes):
    """A tampering of the history, written in its JSON form (as files before the per-epoch
    series became arrays hold it): the series moved back into the JSON, then ``changes``."""
    def tamper(members):
        manifest = json.loads(members[modelfile.METADATA])
        history = manifest["network"]["history"]
        for name in history.pop("series"):
            member = f"network.history.{name}.npy"
            history[name] = np.load(io.BytesIO(members[member])).tolist()
            members = {k: v for k, v in members.items() if k != member}
        history.update(changes)
        return {**members, modelfile.METADATA: json.dumps(manifest).encode()}
    return tamper


def _format1(**extra):
    return _meta(lambda m: m.update(format_version=1, extra=extra.get("extra", extra)))


def _classes(**changes):
    return _meta(lambda m: m["preprocessing"]["classes"].update(changes))


def _params(**changes):
    return _meta(lambda m: m["estimator"]["params"].update(changes))


def _layers(m, count):
    m["network"]["layers"][1:1] = [{"type": "Dropout", "p": 0.0}] * count
    m["network"]["class"] = "Network"


def _theta(content):
    return _member("theta.npy", content)


def _edit_theta(change):
    return lambda m: {**m, "theta.npy": change(m["theta.npy"])}


def _values(name, change):
    """A tampering that edits the values of the array ``name`` (a prefix of the member's name:
    the first match) with ``change(array)``, keeping its shape and dtype."""
    def tamper(members):
        member = next(m for m in members if m.startswith(name))
        array = np.load(io.BytesIO(members[member]))
        change(array)
        buffer = io.BytesIO()
        np.save(buffer, array)
        return {**members, member: buffer.getvalue()}
    return tamper


def _preprocessing(**changes):
    return _meta(lambda m: m["preprocessing"].update(changes))


def _set(array, value):
    array[...] = value


NPY_NEGATIVE = _raw_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }")
HOSTILE = [  # (base file, tampering, what the error must say)
    # the container
    ("network", lambda m: _zip(m, zipfile.ZIP_DEFLATED), "metadata.json is compressed"),
    ("network", _flagged_encrypted, "is encrypted"),
    ("network", _duplicated, "members named twice: theta.npy"),
    ("network", _claims_more, "claims 1000000000 bytes|claim .* bytes in a file of"),
    ("network", lambda m: {"other.txt": b"x"}, "no metadata.json"),
    ("network", _member("metadata.json", b"\xff\xfe{"), "corrupted"),
    ("network", _member("metadata.json", b"{'format': 1}"), "corrupted"),
    ("network", _member("metadata.json", b"[1, 2]"), "not a deltaprop model file"),
    ("network", _meta(lambda m: m.update(summary=_deep(65))), "nested 66 levels deep; at most 64"),
    ("network", _raw_meta(b"[" * 100_000 + b"]" * 100_000), "nested 100001 levels deep"),
    ("network", _meta(lambda m: m.update(junk=[[]] * 2**17)), r"holds 131\d\d\d lists and objects; at most"),
    ("network", _meta(lambda m: m.update(junk=[0] * 2**20)), "holds 1048... values; at most 1048576"),
    ("network", _raw_meta(b"9" * 5000), "corrupted .*5000 digits"),
    ("network", _meta(lambda m: m.update(network=[1])), "network section is list"),
    ("network", _meta(lambda m: m.update(metadata="note")), "metadata section is str"),
    # arrays
    ("network", _theta(_npy_header((10**12,)) + bytes(64)), "holds 64 bytes for an array of shape"),
    ("network", _theta(_npy_header((2**32, 2**32))), "holds 0 bytes for an array of shape"),
    ("network", _theta(NPY_NEGATIVE), "corrupted"),
    ("network", _theta(_npy_header((3,), "<U268435455") + bytes(64)), "not numbers"),
    ("network", _theta(_npy_header((1,), [("a", "<f8")]) + bytes(8)), "not numbers"),
    ("network", _theta(_npy_header((1,), "|O")), "not numbers"),
    ("network", _theta(b"\x93NUMPY\x03\x00" + bytes(60)), "theta.npy: not a readable .npy file"),
    ("network", _theta(_raw_npy("{" + " " * 20_000 + "}")), "corrupted"),
    ("network", _theta(_npy_header((2, 2))[:-1]), "corrupted"),
    ("network", _edit_theta(lambda theta: theta[:-4]), "holds .* bytes for an array"),
    ("network", _edit_theta(lambda theta: theta.replace(b"<f4", b"<f8")), "bytes for an array"),
    ("network", _theta(_npy_header((2, 65), "<f4", (2, 0)) + bytes(520)), "theta has shape \\(2, 65\\)"),
    # the network section
    ("network", _meta(lambda m: _layers(m, 10_001)), "has 10008 layers; deltaprop reads at most 10000"),
    ("network", _net(lambda n: n["layers"][0].pop("n_out")), "layers\\[0\\] lacks the field 'n_out'"),
    ("network", _net(lambda n: n["layers"].__setitem__(1, "BatchNorm")), "layers\\[1\\]: a layer config is"),
    ("network", _net(lambda n: n["layers"][0].update(type=["Dense"])), "unknown layer type \\['Dense'\\]"),
    ("network", _net(lambda n: n.update(dtype="float16")), "dtype is 'float16', not float32"),
    ("network", _net(lambda n: n.update(dtype=["float32"])), "dtype is \\['float32'\\]"),
    ("network", _net(lambda n: n.update(layer_sizes=[4, 6, 5, 9])), "layer_sizes \\[4, 6, 5, 9\\] are not"),
    ("network", _net(lambda n: n.update(layer_sizes=None)), "layer_sizes None"),
    ("network", _net(lambda n: n["rng_state"].pop("state")), "rng_state\\) is malformed: it lacks 'state'"),
    ("network", _net(lambda n: n.update(rng_state=[1, 2])), "unknown random bit generator None"),
    ("network", _net(lambda n: n["rng_state"].update(state={"state": "x"})), "rng_state\\) is malformed"),
    ("network", _net(lambda n: n["rng_state"].update(bit_generator=["PCG64"])), "generator \\['PCG64'\\]"),
    ("network", _net(lambda n: n["restart_seeds"].pop("entropy")), "restart_seeds needs entropy"),
    ("network", _net(lambda n: n.update(loss=["cross_entropy"])), "loss is list, not a name"),
    ("network", _net(lambda n: n.pop("restart_seeds")), "lack 'restart_seeds'"),
    ("network", _net(lambda n: n.update(loss="nope")), "loss 'nope' is none of deltaprop's"),
    ("network", _net(lambda n: n.update(seed="7")), "seed is '7', not a non-negative integer"),
    ("network", _net(lambda n: n.update(seed=True)), "seed is True, not a non-negative integer"),
    ("network", _net(lambda n: n.update(seed=-3)), "seed is -3, not a non-negative integer"),
    ("network", _net(lambda n: n.update(n_parameters=999)), "n_parameters is 999, but theta holds"),
    ("network", _net(lambda n: n.update(n_parameters=True)), "n_parameters is True"),
    ("network", _net(lambda n: n["layers"][0].update(activation_is_auto="no")),
     "layers\\[0\\]: activation_is_auto must be true or false, got 'no'"),
    ("network", _net(lambda n: n["layers"][0].update(n_out=True)), "n_out must be a whole number"),
    ("network", _net(lambda n: n["restart_seeds"].update(n_children_spawned=10**12)),
     "n_children_spawned is 1000000000000; .* at most 2147483648"),
    ("network", _net(lambda n: n["restart_seeds"].update(n_children_spawned=-1)), "n_children_spawned is -1"),
    ("network", _net(lambda n: n["restart_seeds"].update(n_children_spawned=1e12)),
     "restart seeds .* malformed"),
    # the network's values: a network predicting NaN is no model
    ("network", _values("theta", lambda a: _set(a, np.nan)), "theta holds 105 NaN or infinite values"),
    ("network", _values("theta", lambda a: _set(a[3:4], np.inf)), "theta holds 1 NaN or infinite value$"),
    ("network", _values("layers.1.running_mean", lambda a: _set(a[:1], np.nan)), "running_mean holds 1 NaN"),
    ("network", _values("layers.1.running_var", lambda a: _set(a[:1], -1.0)), "running_var holds negative"),
    ("network", _values("layers.1.running_var", lambda a: _set(a, np.inf)), "running_var holds 6 NaN"),
    # sections a kind does not have
    ("network", _meta(lambda m: m.update(preprocessing={"task": "regress"})),
     "a network payload has the sections network, metadata, not 'preprocessing'"),
    ("network", _meta(lambda m: m.update(estimator={}, run={})), "not 'estimator', 'run'"),
    ("model", _meta(lambda m: m.update(metadata={})), "a model payload has the sections .* not 'metadata'"),
    ("estimator", _meta(lambda m: m.update(summary={})), "an? estimator payload .* not 'summary'"),
    ("model", _meta(lambda m: m.pop("preprocessing")), "the model payload lacks its preprocessing section"),
    ("network", _meta(lambda m: m.update(kind="checkpoint", metadata={})), "lacks its run section"),
    # the history
    ("network", _net(lambda n: n.update(history=[1])), "a history is a JSON object, got list"),
    ("network", _history(grad_norms=[[1.0, 2.0], [1.0], [1.0, 2.0]]), "grad_norms must hold as many norms"),
    ("network", _history(epoch=[1, 1, 2]), "history.epoch must count the epochs from 1 up"),
    ("network", _history(epoch=[0, 1, 2]), "history.epoch must count the epochs from 1 up"),
    ("network", _history(loss="123"), "history.loss must be a list"),
    ("network", _history(epoch=[1, 2, True]), "history.epoch must be a list of integers"),
    ("network", _history(lr=[0.1, 0.1]), "history.lr has 2 values for 3 epochs"),
    ("network", _history(grad_norms=[[1.0], 5, [1.0]]), "history.grad_norms must be a list"),
    ("network", _history(stop_reason=7), "history.stop_reason must be text"),
    ("network", _history(restarts=[1]), "history.restarts must be a list of JSON objects"),
    # format 1
    ("network", _format1(extra=[1]), "extra section is list"),
    ("network", _format1(estimator=[1]), "extra\\['estimator'\\] is list"),
    ("network", _format1(kind="deltaprop-cli-model", cli="x"), "extra\\['cli'\\] is str"),
    ("network", _format1(**{"deltaprop-checkpoint": 3}), "extra\\['deltaprop-checkpoint'\\] is int"),
    # a model's preprocessing
    ("model", _meta(lambda m: m.update(summary=[["a", 1]])), "summary section is list"),
    ("model", _meta(lambda m: m["preprocessing"].pop("task")), "preprocessing is inconsistent \\(it lacks"),
    ("model", _classes(values="cat"), "preprocessing is inconsistent"),
    ("model", _classes(values=["dog", "cat", "cow"]), "preprocessing is inconsistent .*sorted"),
    ("model", _classes(dtype="datetime64[s]"), "preprocessing is inconsistent"),
    ("model", _preprocessing(target_names=["kind", "colour"]), "target names \\(2\\) do not fit .* 3 out"),
    ("model", _classes(values=["cat", "dog"]), "2 classes do not fit the network's 3 outputs"),
    ("model", _preprocessing(task="regress", classes=None), "task is regress, but .* cross_entropy"),
    ("model", _preprocessing(categories={"color": ["red"]}), "need the feature names"),
    ("regression", _preprocessing(target_names=["y0", "y1", "y2"]), "target names \\(3\\) do not fit .* 2"),
    ("regression", _preprocessing(target_names=["y0"]), "target names \\(1\\) do not fit"),
    ("regression", _preprocessing(feature_names=["a", "a", "color=red", "b"]), "names \\['a'\\] appear more"),
    ("regression", _preprocessing(feature_names=["a", "color=blue", "color=red"]),
     "feature names \\(3\\) does not fit the network's 4 inputs"),
    ("regression", _meta(lambda m: m["preprocessing"]["categories"].update(size=["M", "S"])),
     "name the column 'size', whose indicators"),
    ("regression", _meta(lambda m: m["preprocessing"]["categories"].update(a=["x"])), "'a' is a numeric"),
    ("regression", _meta(lambda m: m["preprocessing"].update(categories={"color": ["red", "blue"]})),
     "categories of 'color' must be sorted and distinct"),
    ("regression", _meta(lambda m: m["preprocessing"].update(categories={"color": ["blue", "blue"]})),
     "categories of 'color' must be sorted and distinct"),
    ("regression", _net(lambda n: n.update(loss="cross_entropy")), "needs a softmax output|inconsistent"),
    # an estimator's fitted attributes and parameters
    ("estimator", _fitted(n_features_in_="4"), "n_features_in_ must be a count, got '4'"),
    ("estimator", _fitted(n_features_in_=9), "n_features_in_ is 9, but the network has 4"),
    ("estimator", _fitted(n_layers_=True), "n_layers_ must be a count"),
    ("estimator", _fitted(loss_curve_="low"), "loss_curve_ must be a list of numbers"),
    ("estimator", _fitted(out_activation_=["logistic"]), "out_activation_ must be a name"),
    ("estimator", _fitted(feature_names_in_=["a", "b"]), "feature_names_in_ must be 4 names"),
    ("estimator", _fitted(classes_={"dtype": "<U1", "values": ["a", "b", "c"]}), "3 classes for a network"),
    ("estimator", _fitted(classes_={"dtype": "<U3", "values": [1, 2]}), "inconsistent"),
    ("estimator", _fitted(_multilabel_dtype="<U268435455"), "multilabel dtype is <U268435455, not a"),
    ("estimator", _fitted(predict="print"), "unknown fitted attribute 'predict'"),
    ("estimator", _fitted_without("classes_", "_multilabel_dtype"), "a classifier without its classes_"),
    ("estimator", _meta(lambda m: m["estimator"].update(params=[1])), "its params are list, not a JSON"),
    ("estimator", _params(dtype="complex128"), "dtype is 'complex128'"),
    ("estimator", _params(bogus=1), "unexpected keyword argument 'bogus'"),
    ("estimator", _meta(lambda m: m["estimator"].update({"class": [1]})), "estimator of class \\[1\\]"),
]


@pytest.mark.parametrize("base, tamper, message", HOSTILE,
                         ids=[f"{i}-{case[2][:30]}" for i, case in enumerate(HOSTILE)])
def test_every_malformed_file_is_a_model_file_error_naming_the_problem(tmp_path, base, tamper, message):
    pytest.importorskip("sklearn") if base == "estimator" else None
    tampered = tamper(_members(BASES[base](tmp_path)))
    path = tmp_path / "hostile.dp"
    path.write_bytes(tampered if isinstance(tampered, bytes) else _zip(tampered))
    with pytest.raises(dp.ModelFileError, match=message) as caught:
        dp.load(path)
    assert str(caught.value).startswith(str(path)), "the message names the file"


def test_members_are_counted_before_the_zip_directory_is_read(tmp_path, monkeypatch):
    path = _network_file(tmp_path)
    members = _members(path)  # metadata, theta, two BatchNorm statistics each for two layers
    monkeypatch.setattr(model_members, "MAX_MEMBERS", len(members))
    dp.load(path)
    path.write_bytes(_zip({**members, "extra.npy": members["theta.npy"]}))
    with pytest.raises(dp.ModelFileError, match=f"{len(members) + 1} members; deltaprop writes at most"):
        dp.load(path)


def test_brackets_and_escapes_inside_strings_are_not_nesting(tmp_path, monkeypatch):
    path = _network_file(tmp_path)
    note = '[[[[ \\" {{{{ \\\\' * 100  # 800 brackets, escaped quotes and backslashes, in a string
    _rewrite(path, lambda name, content: content if name != modelfile.METADATA else json.dumps(
        {**json.loads(content), "metadata": {"note": note, "deep": _deep(60)}}).encode())
    assert modelfile.read_archive(path).metadata["note"] == note
    assert dp.load(path).predict(np.zeros((1, 4))).shape == (1, 3)
    for text, depth in [(b'{"a": "]]]]"}', 1), (b'["\\\\", [[]]]', 3), (b'["\\"[", [{"[": 1}]]', 3),
                        (b'[[' + b'"' * (2**21 + 1) + b'[]]]"]]', 2)]:  # quotes across the scan's pieces
        assert json_problem(text, max_depth=2) == ("" if depth <= 2 else f"is nested {depth} levels deep; "
                                                "at most 2 are allowed")


# -- allocation bombs: refused before the memory they claim is taken ------------------------------
def _deflated_bomb(members):
    """A 32 MiB array deflated to some 32 kB."""
    return _zip({**members, "theta.npy": _npy_header((2**23,)) + bytes(2**25)}, zipfile.ZIP_DEFLATED)


BOMBS = {
    "a deflated 32 MiB member": _deflated_bomb,
    "metadata.json padded past 16 MiB": _member(modelfile.METADATA, b"{" + b" " * 2**24 + b"}"),
    "an array header claiming 10^12 values": _member("theta.npy", _npy_header((10**12,)) + bytes(64)),
    "300,000 layers": lambda m: _meta(lambda manifest: _layers(manifest, 300_000))(m),
    "20,000 layers": lambda m: _meta(lambda manifest: _layers(manifest, 20_000))(m),
    "nesting 100,000 deep": _raw_meta(b"[" * 100_000 + b"]" * 100_000),
    "a million numbers": _raw_meta(b"[" + b"0.5," * 2**20 + b"0]"),
}
# Refused before reading (0), while scanning the manifest's text (4 times it), or once parsed,
# as the layers are counted (12 times the text).
PEAKS = {"300,000 layers": 4, "20,000 layers": 12, "nesting 100,000 deep": 4, "a million numbers": 4}


@pytest.mark.parametrize("bomb", BOMBS)
def test_allocation_bombs_are_refused_within_a_small_multiple_of_the_file(tmp_path, bomb):
    tampered = BOMBS[bomb](_members(_network_file(tmp_path)))
    path = tmp_path / "bomb.dp"
    path.write_bytes(tampered if isinstance(tampered, bytes) else _zip(tampered))
    tracemalloc.start()
    try:
        try:
            dp.load(path)
        except dp.ModelFileError:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < PEAKS.get(bomb, 0) * path.stat().st_size + 4 * 2**20  # + the scan's pieces


def test_a_real_model_loads_within_a_small_multiple_of_its_size(tmp_path):
    """Reading holds each array once (not the member's bytes and then a copy); loading adds the
    network's parameters and gradients, and the initial draw the stored weights replace."""
    net = dp.MLP([300, 1200, 300], seed=0)  # 720,000 parameters, 2.9 MB of float32
    dp.save(net, tmp_path / "model.dp")
    peaks = []
    for read in (modelfile.read_archive, dp.load):
        tracemalloc.start()
        try:
            loaded = read(tmp_path / "model.dp")
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    np.testing.assert_array_equal(loaded.theta, net.theta)
    assert peaks[0] < 1.1 * net.theta.nbytes + 2**19  # was 2.2 times theta
    assert peaks[1] < 4.2 * net.theta.nbytes + 2**19


@pytest.mark.parametrize("path", [3, None, 3.5, ["net.dp"]])
def test_a_path_that_is_not_a_path_is_named_and_no_descriptor_is_touched(path):
    with pytest.raises(TypeError, match="a model file's path must be a str or path-like"):
        dp.load(path)


def test_a_folder_or_a_pipe_is_not_a_model_file(tmp_path):
    os.mkfifo(tmp_path / "pipe.dp")  # a read would block forever
    for path in (tmp_path, tmp_path / "pipe.dp"):
        with pytest.raises(dp.ModelFileError, match="is not a model file: it is a folder, a pipe"):
            dp.load(path)


def test_a_history_of_any_length_is_saved_and_read_back(tmp_path):
    """The per-epoch series are arrays, not JSON: 300,000 epochs (beyond every bound on the
    manifest) save and load exactly, and the manifest stays small."""
    from deltaprop.history import History

    net, n = dp.MLP([2, 3, 1], seed=0), 300_000
    rng = np.random.default_rng(0)
    net.history = History(loss_name="squared_error", metric_name="r2", epoch=list(range(1, n + 1)),
                          loss=rng.random(n).tolist(), lr=[0.1] * n, grad_norm=rng.random(n).tolist(),
                          time=[0.001] * n, grad_norms=list(rng.random((n, 2))), stop_reason="epochs")
    path = tmp_path / "long.dp"
    dp.save(net, path)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo(modelfile.METADATA).file_size < 20_000
    back = dp.load(path).history
    assert back.n_epochs == n and back.loss == net.history.loss and back.grad_norm == net.history.grad_norm
    np.testing.assert_array_equal(np.array(back.grad_norms), np.array(net.history.grad_norms))


def test_every_field_of_a_history_comes_back_exactly(tmp_path):
    """Each series keeps its values and type through a model file: a validation split (its
    loss and metric), BLAS threads, a diverged epoch's NaN loss, float64 rates and times."""
    X = np.random.default_rng(0).standard_normal((40, 4))
    net = dp.MLP([4, 5, 3], seed=0)
    net.fit(X, np.arange(40) % 3, loss="cross_entropy", epochs=3, validation_fraction=0.25)
    history = net.history
    history.blas_threads = [1, 2, 1]
    history.loss[1] = float("nan")
    history.lr = [0.1 / 3, 1e-300, 0.1]
    history.time = [1e-9, 0.123456789123, 3.0]
    dp.save(net, tmp_path / "h.dp")
    back = dp.load(tmp_path / "h.dp").history
    mine, theirs = history.to_dict(), back.to_dict()
    assert mine.keys() == theirs.keys()
    for name in mine:
        assert json.dumps(theirs[name]) == json.dumps(mine[name]), name  # NaN equal to NaN
    assert type(back.epoch[0]) is int and type(back.lr[0]) is float


def test_a_zip_directory_larger_than_its_members_take_is_refused_before_it_is_read(tmp_path):
    path = _network_file(tmp_path)
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x05\x06")
    data[at + 12:at + 16] = (2**31).to_bytes(4, "little")  # the directory claims 2 GiB
    path.write_bytes(bytes(data))
    with pytest.raises(dp.ModelFileError, match=r"a zip directory of 2147483648 bytes, more than"):
        dp.load(path)
