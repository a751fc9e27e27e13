"""Property-based tests (Hypothesis) of model files: dp.load never runs code, never hangs, and
fails only with ModelFileError (FileNotFoundError for a missing path); save -> load is bit-exact.

Every test is deterministic (``derandomize=True``, no example database; see conftest.py), for
every architecture, loss and option combination the strategies draw, not just the hand-picked
ones of the other test files.
"""

from __future__ import annotations

import copy
import io
import json
import os
import select
import subprocess
import sys
import tempfile
import zipfile
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, note
from hypothesis import strategies as st

import deltaprop as dp
from conftest import ACTIVATIONS, LOSS_NAMES, SEEDS, architectures, deterministic

PROBE_ROWS = 5  # rows of the probe input the loader's predictions are compared on


def _probe(n_in: int) -> np.ndarray:
    return np.linspace(-2.0, 2.0, PROBE_ROWS * n_in).reshape(PROBE_ROWS, n_in)


def _fingerprint(net: dp.Network) -> dict[str, Any]:
    """What a loaded network must reproduce bit for bit: parameters, statistics, predictions."""
    return {
        "dtype": net.dtype.name,
        "theta": net.theta.tobytes().hex(),
        "stats": [[m.tobytes().hex(), v.tobytes().hex()] for m, v in net.snapshot()[1]],
        "predict": net.predict(_probe(net.n_inputs)).tobytes().hex(),
    }


# dp.load runs in a separate Python so that a load that never returns (a loop in C code cannot
# be interrupted by a signal) fails the test after LOAD_TIMEOUT seconds instead of hanging it.
# A warning during dp.load is an error there, as in this suite; a loaded network then predicts
# on a probe input (its warnings are reported, an exception is an error). The worker also
# reports whether the file managed to run code: the planted pickle below would set
# builtins._deltaprop_pwned.
LOAD_TIMEOUT = 30.0  # a hang, not a slow machine: loads take milliseconds
_WORKER = r"""
import builtins, json, sys, warnings
import numpy as np
import deltaprop as dp
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    out = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            net = dp.load(line.rstrip("\n"))
    except BaseException as error:
        out = {"error": type(error).__module__ + "." + type(error).__qualname__,
               "model_file_error": isinstance(error, dp.ModelFileError),
               "not_found": type(error) is FileNotFoundError, "message": str(error)[:500]}
    else:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                X = np.linspace(-2.0, 2.0, ROWS * net.n_inputs).reshape(ROWS, net.n_inputs)
                out = {"dtype": net.dtype.name, "theta": net.theta.tobytes().hex(),
                       "stats": [[m.tobytes().hex(), v.tobytes().hex()] for m, v in net.snapshot()[1]],
                       "predict": net.predict(X).tobytes().hex()}
            out["predict_warnings"] = [str(w.message) for w in caught]
        except BaseException as error:
            out["predict_error"] = f"{type(error).__qualname__}: {str(error)[:500]}"
    out["executed"] = hasattr(builtins, "_deltaprop_pwned")
    print(json.dumps(out), flush=True)
""".replace("ROWS", str(PROBE_ROWS))


class _Loader:
    """A worker process that loads model files on request, with a time limit per file."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None

    def _reply(self, timeout: float) -> dict[str, Any] | None:
        """The worker's next line, or None (the worker then stopped) after ``timeout`` s."""
        assert self.process is not None and self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            return None
        return json.loads(line)

    def start(self) -> subprocess.Popen[str]:
        if self.process is None or self.process.poll() is not None:
            environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # same imports
            self.process = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True, env=environment)
            assert self._reply(timeout=120.0) == {"ready": True}, "the loader worker did not start"
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                assert stream is not None
                stream.close()
            self.process = None

    def load(self, path: str) -> dict[str, Any]:
        process = self.start()
        assert process.stdin is not None
        process.stdin.write(path + "\n")
        process.stdin.flush()
        result = self._reply(timeout=LOAD_TIMEOUT)
        if result is None:
            raise AssertionError(f"dp.load did not return within {LOAD_TIMEOUT} s (or crashed)")
        return result


@pytest.fixture(scope="module")
def loader():
    worker = _Loader()
    yield worker
    worker.stop()


def _load_bytes(loader: _Loader, content: bytes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.dp")
        with open(path, "wb") as stream:
            stream.write(content)
        return loader.load(path)


def _assert_rejected_or_original(result: dict[str, Any], original: dict[str, Any] | None) -> None:
    """The load raised ModelFileError, or (if ``original`` is given) it returned the original
    network bit for bit; in no case did the file run code."""
    assert not result["executed"], "loading the file ran code from it"
    if "error" in result:
        assert result["model_file_error"], f"dp.load raised {result['error']}: {result['message']}"
    else:
        assert original is not None, "dp.load accepted a file that is not a model"
        assert "predict_error" not in result and not result["predict_warnings"], result
        assert {k: result[k] for k in original} == original, "loaded a different network"


@cache
def _reference_model() -> tuple[bytes, dict[str, Any], dict[str, bytes], dict[str, Any]]:
    """A trained model file (BatchNorm, dropout, history, loss) as bytes, its metadata, its
    members, and the fingerprint of its network."""
    rng = np.random.default_rng(0)
    net = dp.MLP([3, 4, 2], activation="tanh", batch_norm=True, dropout=0.2, seed=0)
    net.fit(rng.standard_normal((10, 3)), rng.integers(0, 2, 10), loss="cross_entropy", epochs=2,
            batch_size=5)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.dp")
        dp.save(net, path)
        with open(path, "rb") as stream:
            content = stream.read()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return content, json.loads(members["metadata.json"]), members, _fingerprint(net)


class _Payload:
    """Unpickling this runs code: it marks builtins, which the loader worker reports."""

    def __reduce__(self) -> Any:
        return exec, ("import builtins; builtins._deltaprop_pwned = True",)


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


PICKLED_NPY = _npy(np.array([_Payload(), 1], dtype=object), allow_pickle=True)
assert b"_deltaprop_pwned" in PICKLED_NPY
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)


@st.composite
def member_contents(draw: Any) -> bytes:
    """Bytes of an archive member: junk, JSON, numeric or pickled .npy, or a real member."""
    _, metadata, members, _ = _reference_model()
    kind = draw(st.sampled_from(["bytes", "json", "metadata", "npy", "pickle", "real"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    if kind == "metadata":  # a valid header, any network description
        return json.dumps({**metadata, "network": draw(JSON)}).encode()
    if kind == "npy":
        dtype = draw(st.sampled_from(["float32", "float64", "int64", "bool", "complex128", "U3"]))
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
        return _npy(np.zeros(shape, dtype=dtype))
    if kind == "pickle":
        return PICKLED_NPY
    return members[draw(st.sampled_from(sorted(members)))]


MEMBER_NAMES = st.sampled_from(["metadata.json", "theta.npy", "layers.1.running_mean.npy",
                                "layers.1.running_var.npy", "extra.x.npy", "other.txt"]) | st.text(
    st.characters(codec="ascii", exclude_characters="\x00/\\"), min_size=1, max_size=12)


def test_missing_path_raises_file_not_found(tmp_path, loader):
    """A path with no file is FileNotFoundError, and a folder a ModelFileError naming it,
    before anything is read."""
    assert loader.load(str(tmp_path / "missing.dp")).get("not_found")
    result = loader.load(str(tmp_path))
    assert result.get("model_file_error") and "is not a model file: it is a folder" in result["message"]


@deterministic(max_examples=200)
@given(content=st.binary(max_size=2000) | st.binary(max_size=2000).map(lambda b: b"PK\x03\x04" + b))
def test_load_rejects_random_bytes(loader, content):
    """Random bytes (also behind a zip signature) are a ModelFileError, never another
    exception, a hang or a network."""
    _assert_rejected_or_original(_load_bytes(loader, content), None)


@deterministic(max_examples=300)
@given(data=st.data())
def test_load_rejects_damaged_model_or_loads_it_intact(loader, data):
    """A real model file truncated anywhere, or with 1-3 bits flipped anywhere, is a
    ModelFileError, or (a flip in a field the zip format does not check, a timestamp) loads to
    the original network bit for bit: corruption never yields a different network."""
    content, _, _, original = _reference_model()
    damaged = bytearray(content)
    if data.draw(st.booleans(), label="truncate"):
        damaged = damaged[:data.draw(st.integers(0, len(content) - 1), label="length")]
    else:
        for position in data.draw(st.lists(st.integers(0, len(content) - 1), min_size=1,
                                           max_size=3, unique=True), label="positions"):
            damaged[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    _assert_rejected_or_original(_load_bytes(loader, bytes(damaged)), original)


@deterministic(max_examples=300)
@given(members=st.lists(st.tuples(MEMBER_NAMES, member_contents()), max_size=5,
                        unique_by=lambda member: member[0]))
def test_load_rejects_random_archives(loader, members):
    """Zip archives of random members (junk, JSON, a valid header with any network
    description, .npy arrays of any dtype and shape, a pickled object array whose unpickling
    would run code, members of a real model) are a ModelFileError, or, when they hold every
    member of the real model, load to it bit for bit. No code from the file ever runs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members:
            archive.writestr(name, content)
    _assert_rejected_or_original(_load_bytes(loader, buffer.getvalue()),
                                 _reference_model()[3])


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths of every node (containers and leaves) below ``value``."""
    children = (value.items() if isinstance(value, dict)
                else enumerate(value) if isinstance(value, list) else ())
    return [path, *(node for key, child in children for node in _nodes(child, (*path, key)))]


EXTREME_INTS = st.sampled_from([-1, 0, 1, 2**31, 2**32, 2**63, 2**64, 10**6, 10**9, 10**18, -(2**63)])
EXTREME_FLOATS = st.sampled_from([0.0, -0.0, -1.0, 1e-300, 1e300, float("inf"), float("-inf"),
                                  float("nan")])
NAMES = st.sampled_from(["Dense", "BatchNorm", "Dropout", "Activation", "Conv", "MLP", "Network",
                         "float16", "float64", "int64", "object", "complex128", *ACTIVATIONS,
                         "softmax", "sign", "step", "custom", *LOSS_NAMES, "PCG64DXSM", "MT19937",
                         "Philox", "SFC64", "RandomState", "he", "glorot", "nope"])


def _replacement(value: Any) -> Any:
    """Random JSON, or a value of the same JSON type picked to break assumptions."""
    if isinstance(value, bool):
        return st.booleans() | JSON
    if isinstance(value, int):
        return EXTREME_INTS | st.integers() | JSON
    if isinstance(value, float):
        return EXTREME_FLOATS | st.floats() | JSON
    if isinstance(value, str):
        return NAMES | st.text(max_size=8) | JSON
    return JSON


@st.composite
def mutations(draw: Any) -> tuple[tuple[Any, ...], Any]:
    """A node of the real model's network description (any container or leaf, uniformly), as
    its path of keys, and what to put there: random JSON or an extreme value of its type."""
    network = _reference_model()[1]["network"]
    path = draw(st.sampled_from(_nodes(network)))
    node = network
    for key in path:
        node = node[key]
    return path, draw(_replacement(node))


def _mutated_metadata(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    metadata = copy.deepcopy(_reference_model()[1])
    *above, last = ("network", *path)
    parent = metadata
    for key in above:
        parent = parent[key]
    parent[last] = value
    return metadata


@deterministic(max_examples=600)
# numpy.random.SeedSequence(pool_size=n) mixes its pool in O(n^2) time, and network_from_config
# passes the file's restart_seeds to it unchecked: dp.load of this file takes hours.
@example(mutation=(("restart_seeds", "pool_size"), 2**31))
@given(mutation=mutations())
def test_load_survives_any_metadata(loader, mutation):
    """The real model's arrays with metadata in which any one node of the network description
    is replaced by random JSON or an extreme value of its type: dp.load raises ModelFileError
    (within 2 s), or returns a network whose predict raises nothing (a harmless change, such as
    another activation; an absurd but valid value may make it warn, e.g. a float32 BatchNorm
    eps above the float32 range)."""
    metadata = _mutated_metadata(*mutation)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in _reference_model()[2].items():
            archive.writestr(name, json.dumps(metadata) if name == "metadata.json" else content)
    result = _load_bytes(loader, buffer.getvalue())
    assert not result["executed"]
    if "error" in result:
        assert result["model_file_error"], f"dp.load raised {result['error']}: {result['message']}"
    else:
        assert "predict_error" not in result, f"loaded, then predict raised {result['predict_error']}"
        note(f"predict warned: {result['predict_warnings']}")


@deterministic(max_examples=40)
@given(arch=architectures(), batch_norm=st.booleans(), dropout=st.sampled_from([0.0, 0.3]),
       dtype=st.sampled_from([np.float32, np.float64]), trained=st.booleans(), seed=SEEDS)
def test_save_load_round_trip_is_bit_exact(arch, batch_norm, dropout, dtype, trained, seed):
    """save -> load gives the same dtype, parameters, BatchNorm statistics, loss, random state
    and history, and predictions and logits equal bit for bit, for any architecture and dtype,
    trained or fresh."""
    rng = np.random.default_rng(seed)
    net = arch.mlp(dtype=dtype, seed=seed, batch_norm=batch_norm, dropout=dropout)
    if trained:
        net.fit(rng.standard_normal((8, arch.n_in)), arch.targets(rng, 8), loss=arch.loss,
                epochs=2, batch_size=4)
    X = rng.standard_normal((7, arch.n_in))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.dp")
        dp.save(net, path)
        loaded = dp.load(path)
    assert type(loaded) is type(net) and loaded.layer_sizes == net.layer_sizes
    assert _fingerprint(loaded) == _fingerprint(net)
    assert loaded.predict_logits(X).tobytes() == net.predict_logits(X).tobytes()
    assert (loaded.loss and loaded.loss.name) == (net.loss and net.loss.name)
    assert loaded.rng.bit_generator.state == net.rng.bit_generator.state
    assert (loaded.history is None) == (net.history is None)
    if trained:
        assert np.asarray(loaded.history.loss).tobytes() == np.asarray(net.history.loss).tobytes()



def _structure(value: Any, level: int = 1) -> tuple[int, int, int]:
    """(depth, containers, commas) of a JSON value, from the value itself."""
    if not isinstance(value, (list, dict)):
        return 0, 0, 0
    items = value.values() if isinstance(value, dict) else value
    children = [_structure(child, level + 1) for child in items]
    return (max([level, *(c[0] for c in children)]), 1 + sum(c[1] for c in children),
            max(len(value) - 1, 0) + sum(c[2] for c in children))


TRICKY_TEXT = st.text(st.sampled_from('[]{}",\\:ab \u00e9\u2603\n'), max_size=10)
TRICKY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY_TEXT, inner, max_size=4),
    max_leaves=30,
)


@deterministic(max_examples=300)
@given(value=TRICKY_JSON, indent=st.sampled_from([None, 1]), ascii=st.booleans())
def test_the_manifest_scan_counts_what_the_parser_builds(value, indent, ascii):
    """The scan that bounds a manifest before it is parsed finds the depth, the lists and
    objects, and the commas that parsing would build, whatever brackets, quotes, commas and
    backslashes the strings hold, and however the JSON is laid out."""
    from deltaprop.files.jsonbounds import json_structure

    text = json.dumps(value, indent=indent, ensure_ascii=ascii).encode("utf-8")
    assert json_structure(text) == _structure(value)
