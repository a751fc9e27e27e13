"""``dp.stream``: training on data larger than memory, in one namespace.

The shard readers and the stream as a data source live with the data
(:mod:`deltaprop.data.stream`, :mod:`deltaprop.data.parquet`); :func:`fit_stream`, which
trains on them, with the run (:mod:`deltaprop.training.fit`).

    source = dp.stream.NpyShards.from_folder("data/")       # X_000.npy + y_000.npy, ...
    history = dp.stream.fit_stream(net, source, loss="cross_entropy", epochs=3, batch_size=256)
    big = dp.stream.NpyColumns("rows.npy", target=[9])      # one file, column 9 the target

The command line streams the same sources: ``deltaprop train --data FOLDER``
(:mod:`deltaprop.cli.stream`).
"""

from deltaprop.data.parquet import ParquetShards
from deltaprop.data.stream import (
    NpyArray,
    NpyColumns,
    NpyShards,
    StreamSource,
    shuffled_batches,
    shuffled_buffers,
)
from deltaprop.training.fit import fit_stream

__all__ = ["NpyArray", "NpyColumns", "NpyShards", "ParquetShards", "StreamSource", "fit_stream",
           "shuffled_batches", "shuffled_buffers"]
