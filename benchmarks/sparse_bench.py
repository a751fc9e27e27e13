"""One epoch on a sparse X too large to make dense: 100,000 x 50,000 float32 CSR with 0.1% non-zeros
(5 million: about 40 MiB of values and column indices), a 50000-64-2 network, against the 20 GB
(18.6 GiB) the same X would take as a dense float32 array.

    python benchmarks/sparse_bench.py [--rows 100000] [--features 50000] [--density 0.001]
                                      [--batch-size 256] [--binary]

Prints the peak resident memory above the data during one epoch of training and during a
prediction over every row (the method of bench.py's memory child: the peak, VmHWM, is reset to the
current RSS by writing 5 to /proc/self/clear_refs once the data are made and the network has taken
a warm-up step), the time they took, and what densifying X would have cost. The warm figures
leave out what the warm-up left resident (freed memory the allocator keeps); the cold one is the
peak above the RSS with the data made, before any network: networks, optimizer states,
workspaces and all.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
from peak_memory import proc_status_kib, reset_peak

import deltaprop as dp

MIB = 2**20


def make_data(rows: int, features: int, density: float, binary: bool,
              seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """A seeded CSR matrix with ``density * features`` non-zeros per row (columns drawn uniformly;
    a repeated column is summed), and labels that depend on it (so the epoch learns something)."""
    rng = np.random.default_rng(seed)
    per_row = max(1, round(density * features))
    indices = rng.integers(0, features, size=rows * per_row, dtype=np.int32)
    values = (np.ones(indices.size, np.float32) if binary
              else rng.random(indices.size, dtype=np.float32))
    indptr = np.arange(0, indices.size + 1, per_row, dtype=np.int64)
    X = sp.csr_matrix((values, indices, indptr), shape=(rows, features))
    X.sum_duplicates()  # canonical: fit takes it as it is, no copy
    w = rng.standard_normal(features).astype(np.float32)
    y = (X @ w > 0).astype(np.int64)
    return X, y


def nbytes(X: sp.csr_matrix) -> int:
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def measure(run: Any) -> tuple[float, float]:
    """(MiB of peak RSS above the RSS before ``run``, seconds)."""
    baseline = proc_status_kib("VmRSS")
    reset_peak()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    return (proc_status_kib("VmHWM") - baseline) / 1024, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=50_000)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--binary", action="store_true", help="values 1 instead of uniform [0, 1)")
    args = parser.parse_args(argv)
    X, y = make_data(args.rows, args.features, args.density, args.binary)
    with_data = proc_status_kib("VmRSS")
    reset_peak()
    net = dp.MLP([args.features, args.hidden, 2], seed=0)
    net.fit(X[:2 * args.batch_size], y[:2 * args.batch_size], loss="cross_entropy", epochs=1,
            batch_size=args.batch_size, engine="numpy")  # imports, workspaces, optimizer state
    net = dp.MLP([args.features, args.hidden, 2], seed=0)
    train_mib, train_seconds = measure(lambda: net.fit(
        X, y, loss="cross_entropy", epochs=1, batch_size=args.batch_size, engine="numpy"))
    predict_mib, predict_seconds = measure(lambda: net.predict(X))
    cold_mib = (proc_status_kib("VmHWM") - with_data) / 1024  # the HWM since the data were made
    dense_bytes = args.rows * args.features * np.dtype(np.float32).itemsize
    parameters = net.n_parameters * np.dtype(np.float32).itemsize
    report = {
        "shape": list(X.shape), "non_zeros": int(X.nnz), "density": X.nnz / (X.shape[0] * X.shape[1]),
        "data_mib": round((nbytes(X) + y.nbytes) / MIB, 1),
        "dense_X_gib": round(dense_bytes / 2**30, 1), "dense_X_gb": round(dense_bytes / 1e9, 1),
        "parameters": net.n_parameters, "parameters_mib": round(parameters / MIB, 1),
        "batch_size": args.batch_size, "steps": -(-args.rows // args.batch_size),
        "process_rss_with_data_mib": round(with_data / 1024, 1),
        "cold_peak_mib_above_data": round(cold_mib, 1),
        "train_epoch_peak_mib_above_data": round(train_mib, 1),
        "train_epoch_seconds": round(train_seconds, 1),
        "predict_peak_mib_above_data": round(predict_mib, 1),
        "predict_seconds": round(predict_seconds, 1),
        "final_loss": round(float(net.history.loss[-1]), 4),
        "accuracy": round(float(np.mean(net.predict_classes(X) == y)), 3),
    }
    print(json.dumps(report, indent=1).replace("\n  ", " "))


if __name__ == "__main__":
    main()
