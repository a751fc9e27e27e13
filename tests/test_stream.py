"""Streaming data larger than memory: .npy files read by row ranges, shards and Parquet row
groups in random order, a shuffle buffer that still visits every row once per epoch, and
training from the stream."""

from __future__ import annotations

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
    with pytest.raises(ValueError, match="they must pair up"):
        NpyShards.from_folder(str(tmp_path / "nowhere"))
