"""Streaming data larger than memory: .npy files read by row ranges, shards and Parquet row
groups in random order, a shuffle buffer that still visits every row once per epoch, and
training from the stream."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.stream import NpyArray, NpyShards, ParquetShards, fit_stream, shuffled_batches


@pytest.fixture
def shards(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    for i, part in enumerate(np.array_split(np.arange(1000), 4)):
        np.save(tmp_path / f"X_{i:03d}.npy", X[part])
        np.save(tmp_path / f"y_{i:03d}.npy", y[part])
    return tmp_path, X, y


def test_row_ranges_are_read_from_the_file_exactly(tmp_path):
    data = np.arange(60, dtype=np.float32).reshape(20, 3)
    np.save(tmp_path / "a.npy", data)
    np.save(tmp_path / "b.npy", np.arange(20))
    a, b = NpyArray.open(str(tmp_path / "a.npy")), NpyArray.open(str(tmp_path / "b.npy"))
    np.testing.assert_array_equal(a.read(5, 12), data[5:12])
    np.testing.assert_array_equal(b.read(0, 20), np.arange(20))
    np.save(tmp_path / "f.npy", np.asfortranarray(data))
    with pytest.raises(ValueError, match="C-ordered"):
        NpyArray.open(str(tmp_path / "f.npy"))


def test_every_row_once_per_epoch_in_a_new_order(shards):
    folder, X, _ = shards
    source = NpyShards.from_folder(str(folder))
    assert source.n_rows == 1000
    rng = np.random.default_rng(1)
    epochs = [np.concatenate([b[0] for b in shuffled_batches(source, 64, 300, 100, rng)])
              for _ in range(2)]
    for seen in epochs:
        assert seen.shape == (1000, 2)
        np.testing.assert_array_equal(np.sort(seen[:, 0]), np.sort(X[:, 0]))
    assert not np.array_equal(epochs[0], epochs[1])
    sizes = [len(b[0]) for b in shuffled_batches(source, 64, 300, 100, rng)]
    assert sizes[:-1] == [64] * (len(sizes) - 1) and sum(sizes) == 1000  # only the last is short
    sizes = [len(b[0]) for b in shuffled_batches(source, 333, 300, 100, rng, min_batch=2)]
    assert sizes == [333, 333, 333]  # a last batch of 1 row is dropped for BatchNorm


def test_training_from_the_stream_learns(shards):
    folder, X, y = shards
    net = dp.MLP([2, 16, 16, 2], activation="tanh", seed=0)
    history = fit_stream(net, NpyShards.from_folder(str(folder)), loss="cross_entropy",
                         optimizer=dp.Adam(0.01), epochs=30, batch_size=32, buffer_rows=256,
                         chunk_rows=64, validation_data=(X[:200], y[:200]))
    assert history.n_epochs == 30 and history.val_metric[-1] > 0.9


def test_parquet_row_groups_stream(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 2))
    table = pa.table({"a": X[:, 0], "b": X[:, 1], "label": (X[:, 0] > 0).astype(np.int64)})
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=50)
    source = ParquetShards([str(tmp_path / "d.parquet")], target="label")
    assert source.n_rows == 300 and source.features == ["a", "b"]
    assert max(len(X) for X, _ in source.chunks(20, np.random.default_rng(0))) == 20  # bounded
    seen = np.concatenate([b[0] for b in shuffled_batches(source, 32, 100, 20, np.random.default_rng(0))])
    np.testing.assert_array_equal(np.sort(seen[:, 0]), np.sort(X[:, 0]))
    net = dp.MLP([2, 8, 2], seed=0)
    history = fit_stream(net, source, loss="cross_entropy", optimizer=dp.Adam(0.02), epochs=20,
                         batch_size=32)
    assert history.loss[-1] < history.loss[0]


def test_bad_shards_are_named(tmp_path):
    np.save(tmp_path / "X_0.npy", np.zeros((5, 2)))
    np.save(tmp_path / "y_0.npy", np.zeros(4))
    with pytest.raises(ValueError, match="has 5 rows but .* has 4"):
        NpyShards.from_folder(str(tmp_path))
    with pytest.raises(ValueError, match="no X shards match 'X_\\*.npy'; X and y shards must pair up"):
        NpyShards.from_folder(str(tmp_path / "nowhere"))


# -- damaged shards: every read checked against the header -----------------------------------------
def truncate(path, keep_bytes):
    raw = path.read_bytes()
    path.write_bytes(raw[:keep_bytes])


def test_a_truncated_shard_is_an_error_naming_the_file_and_its_rows(tmp_path):
    np.save(tmp_path / "X_0.npy", np.ones((10, 3)))
    np.save(tmp_path / "y_0.npy", np.zeros(10))
    header = NpyArray.open(str(tmp_path / "X_0.npy")).offset
    truncate(tmp_path / "X_0.npy", header + 4 * 3 * 8 + 5)  # 4 whole rows and part of a fifth
    with pytest.raises(ValueError, match=r"X_0.npy: truncated .npy file: its header declares 10 "
                                         r"rows .* holds 4 whole rows"):
        NpyArray.open(str(tmp_path / "X_0.npy"))
    with pytest.raises(ValueError, match="X_0.npy: truncated"):
        NpyShards.from_folder(str(tmp_path))


def test_a_shard_truncated_while_streaming_is_caught_at_the_read(tmp_path):
    np.save(tmp_path / "X_0.npy", np.arange(60.0).reshape(20, 3))
    np.save(tmp_path / "y_0.npy", np.arange(20) % 2)
    source = NpyShards.from_folder(str(tmp_path))  # whole when opened
    X = source.shards[0][0]
    np.testing.assert_array_equal(X.read(0, 2), [[0, 1, 2], [3, 4, 5]])
    truncate(tmp_path / "X_0.npy", X.offset + 7 * X.row_bytes)
    np.testing.assert_array_equal(X.read(5, 7)[:, 0], [15, 18])  # rows still there read as before
    with pytest.raises(ValueError, match="declares 20 rows .* holds 7 whole rows"):
        X.read(5, 8)
    with pytest.raises(ValueError, match="X_0.npy: truncated"):
        list(shuffled_batches(source, 4, 8, 4, np.random.default_rng(0)))


def test_a_header_claiming_an_absurd_shape_allocates_nothing(tmp_path):
    path = tmp_path / "huge.npy"
    with open(path, "wb") as stream:  # a header claiming 10^12 rows, then 80 bytes of data
        np.lib.format.write_array_header_1_0(
            stream, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 10)})
        stream.write(np.zeros(10).tobytes())
    with pytest.raises(ValueError, match=r"declares 1000000000000 rows .* holds 1 whole rows"):
        NpyArray.open(str(path))


@pytest.mark.parametrize("header, message", [
    ({"descr": "<f8", "fortran_order": False, "shape": (-5, 2)}, "has a negative size"),
    ({"descr": "<f8", "fortran_order": False, "shape": (10**15, 0)}, "not a shape of rows"),
    ({"descr": "<f8", "fortran_order": False, "shape": (2, 2, 2)}, "1-D or 2-D"),
    ({"descr": "<c16", "fortran_order": False, "shape": (2, 2)}, "numeric"),
    ({"descr": "<U5", "fortran_order": False, "shape": (2,)}, "numeric"),
    ({"descr": [("a", "<f8")], "fortran_order": False, "shape": (2,)}, "numeric"),
    ({"descr": "<f8", "fortran_order": True, "shape": (2, 2)}, "Fortran order"),
])
def test_headers_that_cannot_be_streamed_are_named(tmp_path, header, message):
    path = tmp_path / "bad.npy"
    with open(path, "wb") as stream:
        np.lib.format.write_array_header_1_0(stream, header)
        stream.write(bytes(64))
    with pytest.raises(ValueError, match=f"bad.npy: .*{message}"):
        NpyArray.open(str(path))


def test_files_that_are_not_npy_are_named(tmp_path):
    (tmp_path / "text.npy").write_text("a,b\n1,2\n")
    (tmp_path / "cut.npy").write_bytes(b"\x93NUMPY\x01\x00\x40\x00{'descr': '<f8',")
    for name in ("text.npy", "cut.npy"):
        with pytest.raises(ValueError, match=f"{name}: not a readable .npy file"):
            NpyArray.open(str(tmp_path / name))


def test_zero_row_shards_are_skipped_and_still_checked(tmp_path):
    np.save(tmp_path / "X_0.npy", np.zeros((0, 2)))
    np.save(tmp_path / "y_0.npy", np.zeros(0, dtype=np.int64))
    np.save(tmp_path / "X_1.npy", np.ones((6, 2)))
    np.save(tmp_path / "y_1.npy", np.arange(6) % 2)
    source = NpyShards.from_folder(str(tmp_path))
    assert source.n_rows == 6
    assert sum(len(X) for X, _ in shuffled_batches(source, 4, 4, 2, np.random.default_rng(0))) == 6
    history = fit_stream(dp.MLP([2, 3, 2], seed=0), source, loss="cross_entropy", epochs=2, batch_size=4)
    assert history.n_epochs == 2
    np.save(tmp_path / "X_1.npy", np.ones((0, 2)))
    np.save(tmp_path / "y_1.npy", np.zeros(0))
    with pytest.raises(ValueError, match="the stream holds no rows"):
        fit_stream(dp.MLP([2, 3, 2], seed=0), NpyShards.from_folder(str(tmp_path)),
                   loss="cross_entropy", epochs=1, batch_size=4)
    np.save(tmp_path / "X_1.npy", np.ones((0, 3)))  # empty, but of the wrong width
    with pytest.raises(ValueError, match="different widths"):
        NpyShards.from_folder(str(tmp_path))


def test_damaged_parquet_files_are_named(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    good = pa.table({"a": [1.0, 2.0, 3.0], "label": [0, 1, 0]})
    pq.write_table(good, tmp_path / "good.parquet")
    raw = (tmp_path / "good.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(raw[: len(raw) // 2])
    pq.write_table(pa.table({"a": [1.0, None, 3.0], "label": [0, 1, 0]}), tmp_path / "null.parquet")
    pq.write_table(pa.table({"a": ["x", "y", "z"], "label": [0, 1, 0]}), tmp_path / "text.parquet")
    pq.write_table(pa.table({"b": [1.0, 2.0, 3.0], "label": [0, 1, 0]}), tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="cut.parquet: the Parquet file cannot be read"):
        ParquetShards([str(tmp_path / "cut.parquet")], target="label")
    with pytest.raises(ValueError, match="text.parquet: column 'a' holds string; .*one-hot"):
        ParquetShards([str(tmp_path / "text.parquet")], target="label")
    with pytest.raises(ValueError, match=r"other.parquet: columns \['b', 'label'\] differ"):
        ParquetShards([str(tmp_path / "good.parquet"), str(tmp_path / "other.parquet")], target="label")
    with pytest.raises(ValueError, match="non-empty list"):
        ParquetShards([], target="label")
    source = ParquetShards([str(tmp_path / "null.parquet")], target="label")
    with pytest.raises(ValueError, match="null.parquet: column 'a' has 1 missing values"):
        list(source.chunks(2, np.random.default_rng(0)))


@pytest.mark.parametrize("pairs", ["X_0.npy", [], ["X_0.npy", "y_0.npy"], [("X_0.npy",)]])
def test_shard_lists_that_are_not_pairs_are_named(pairs):
    with pytest.raises(ValueError, match=r"a list of \(X, y\) pairs of .npy files"):
        NpyShards(pairs)


@pytest.mark.parametrize("source", [None, "shards/", [("X_0.npy", "y_0.npy")], np.zeros((3, 2))])
def test_a_source_that_is_not_a_stream_is_named(source):
    with pytest.raises(TypeError, match="the source must be NpyShards or ParquetShards"):
        fit_stream(dp.MLP([2, 3, 1], seed=0), source)


# -- shards that do not belong together ------------------------------------------------------------
def test_shards_pair_by_what_the_wildcards_match_not_by_position(tmp_path):
    for i in (0, 1):
        np.save(tmp_path / f"X_{i}.npy", np.full((4, 2), float(i)))
    for i in (0, 2):
        np.save(tmp_path / f"y_{i}.npy", np.full(4, i))
    with pytest.raises(ValueError, match=r"shards that do not pair up: X X_1\.npy without a y; "
                                         r"y y_2\.npy without an X"):
        NpyShards.from_folder(str(tmp_path))
    (tmp_path / "y_2.npy").unlink()
    for i in (1, 10):  # by position, sorted names would pair X_1 with y_10
        np.save(tmp_path / f"X_{i}.npy", np.full((4, 2), float(i)))
        np.save(tmp_path / f"y_{i}.npy", np.full(4, i))
    source = NpyShards.from_folder(str(tmp_path))
    assert [(os.path.basename(X.path), os.path.basename(y.path)) for X, y in source.shards] == [
        ("X_0.npy", "y_0.npy"), ("X_1.npy", "y_1.npy"), ("X_10.npy", "y_10.npy")]
    for X, y in source.chunks(3, np.random.default_rng(0)):
        np.testing.assert_array_equal(X[:, 0], y)  # every row with its own label
    with pytest.raises(ValueError, match=r"no X shards match 'Z_\*\.npy'"):
        NpyShards.from_folder(str(tmp_path), x_pattern="Z_*.npy")


@pytest.mark.parametrize("second_y, shown", [(np.zeros((4, 1)), r"\(4, 1\)"),
                                             (np.zeros((4, 2)), r"\(4, 2\)")])
def test_y_files_of_different_shapes_are_named_when_opened(tmp_path, second_y, shown):
    """Their chunks are concatenated into one buffer: NumPy's error there names no file."""
    for i in (0, 1):
        np.save(tmp_path / f"X_{i}.npy", np.ones((4, 2)))
    np.save(tmp_path / "y_0.npy", np.zeros(4))
    np.save(tmp_path / "y_1.npy", second_y)
    with pytest.raises(ValueError, match=rf"the shards' y files have different widths: .*y_0\.npy has shape "
                                         rf"\(4,\), .*y_1\.npy {shown}"):
        NpyShards.from_folder(str(tmp_path))


def _npy_with_header(path, text, data, version=1):
    body = text.encode()
    body += b" " * (-((10 if version == 1 else 12) + len(body) + 1) % 64) + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(body))
    path.write_bytes(b"\x93NUMPY" + bytes([version, 0]) + size + body + data)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_shard_with_a_malformed_header_is_named(tmp_path, version):
    np.save(tmp_path / "y_0.npy", np.zeros(10))
    _npy_with_header(tmp_path / "X_0.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (10, 3 }",
                     bytes(240), version)
    with pytest.raises(ValueError, match=r"X_0\.npy: not a readable \.npy file \(malformed header: Token"):
        NpyShards.from_folder(str(tmp_path))


@pytest.mark.parametrize("descr, extra", [("<f4", b""), ("<f8", b"\0" * 8)])
def test_data_longer_than_its_header_declares_is_named_not_streamed(tmp_path, descr, extra):
    """A header saying float32 over float64 data streams other numbers: training 'diverges'."""
    data = np.arange(30, dtype="<f8").tobytes() + extra
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': (10, 3), }}"
    _npy_with_header(tmp_path / "X_0.npy", header, data)
    np.save(tmp_path / "y_0.npy", np.zeros(10))
    with pytest.raises(ValueError, match=rf"X_0\.npy: its header declares shape \(10, 3\) of .* but the file "
                                         rf"holds {len(data)} bytes of data: the header does not describe"):
        NpyShards.from_folder(str(tmp_path))


def test_parquet_columns_and_targets_named_twice_are_named(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    column = pa.array([1.0, 2.0, 3.0])
    for name, names in (("a", ["a", "a", "y"]), ("y", ["a", "y", "y"])):
        pq.write_table(pa.Table.from_arrays([column] * 3, names=names), tmp_path / f"{name}.parquet")
    pq.write_table(pa.table({"a": column, "y": column}), tmp_path / "ok.parquet")
    for name, twice in (("a", "a"), ("y", "y")):
        with pytest.raises(ValueError, match=rf"{name}\.parquet: the column name '{twice}' appears more"):
            ParquetShards([str(tmp_path / f"{name}.parquet")], target="y")
    with pytest.raises(ValueError, match=r"target names the column 'y' more than once: \['y', 'y'\]"):
        ParquetShards([str(tmp_path / "ok.parquet")], ["y", "y"])
    for target in (5, None, [], ["y", 3]):
        with pytest.raises(ValueError, match="target must name a column or a non-empty list"):
            ParquetShards([str(tmp_path / "ok.parquet")], target)
    with pytest.raises(ValueError, match="every column is a target"):
        ParquetShards([str(tmp_path / "ok.parquet")], ["a", "y"])


def test_a_stream_of_one_row_is_refused_for_batch_normalization(tmp_path):
    np.save(tmp_path / "X_000.npy", np.ones((1, 3), np.float32))
    np.save(tmp_path / "y_000.npy", np.zeros(1, np.int64))
    net = dp.Network([dp.Dense(3, 4), dp.BatchNorm(4), dp.Dense(4, 2)], seed=0)
    with pytest.raises(ValueError, match="batch normalization needs at least 2 samples .* holds 1 row"):
        fit_stream(net, NpyShards.from_folder(str(tmp_path)), loss="cross_entropy", batch_size=4)
