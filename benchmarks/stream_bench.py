"""One epoch over a generated dataset larger than the memory the run may use: 2 GiB of float32
features in 16 ``.npy`` shards, streamed (deltaprop.data.stream) with a 65,536-row shuffle buffer,
against the same model trained in memory on a 256 MiB part of it.

    python benchmarks/stream_bench.py [FOLDER]     # default: a temporary folder, removed after
    python benchmarks/stream_bench.py --cli [FOLDER]   # the command line on 1 GiB of shards

Prints the streamed throughput and peak resident memory (ru_maxrss of the training process,
which must stay under 500 MiB) and the in-memory throughput. With ``--cli``: the peak resident
memory of ``deltaprop train --data FOLDER`` (its scaling pass and one epoch) on the first 8
shards, 1 GiB of X, against the data's size.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

FEATURES, SHARDS, ROWS_PER_SHARD = 256, 16, 131072  # 16 x 128 MiB = 2 GiB of X
LAYERS = [FEATURES, 64, 10]


def generate(folder: str) -> None:
    rng = np.random.default_rng(0)
    W = rng.standard_normal((FEATURES, 10)).astype(np.float32)
    for i in range(SHARDS):
        X = rng.standard_normal((ROWS_PER_SHARD, FEATURES), dtype=np.float32)
        np.save(os.path.join(folder, f"X_{i:03d}.npy"), X)
        np.save(os.path.join(folder, f"y_{i:03d}.npy"), (X @ W).argmax(axis=1))


def train(folder: str, mode: str) -> None:
    import deltaprop as dp
    from deltaprop.stream import NpyShards, fit_stream

    net = dp.MLP(LAYERS, seed=0)
    start = time.perf_counter()
    if mode == "stream":
        source = NpyShards.from_folder(folder)
        fit_stream(net, source, loss="cross_entropy", optimizer=dp.SGD(0.05, momentum=0.9),
                   epochs=1, batch_size=256, buffer_rows=65536, chunk_rows=8192)
        rows = source.n_rows
    else:
        X, y = np.load(os.path.join(folder, "X_000.npy")), np.load(os.path.join(folder, "y_000.npy"))
        X, y = np.concatenate([X, np.load(os.path.join(folder, "X_001.npy"))]), np.concatenate(
            [y, np.load(os.path.join(folder, "y_001.npy"))])
        start = time.perf_counter()
        net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(0.05, momentum=0.9), epochs=1,
                batch_size=256)
        rows = len(X)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mib": peak_mib}))


CLI_SHARDS = 8  # 1 GiB of X


def cli(folder: str) -> None:
    """Peak RSS of ``deltaprop train --data FOLDER`` (a child process) against the data."""
    shards = os.path.join(folder, "cli")
    os.makedirs(shards, exist_ok=True)
    for name in (f"{xy}_{i:03d}.npy" for i in range(CLI_SHARDS) for xy in "Xy"):
        if not os.path.exists(os.path.join(shards, name)):
            os.link(os.path.join(folder, name), os.path.join(shards, name))
    command = [sys.executable, "-m", "deltaprop", "train", "--data", shards, "--hidden", "64",
               "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.9", "--epochs", "1",
               "--batch-size", "256", "--no-save", "--json"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    report = json.loads(done.stdout.strip().splitlines()[-1])
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    data_mib = CLI_SHARDS * ROWS_PER_SHARD * FEATURES * 4 / 2**20
    print(f"deltaprop train --data FOLDER: {report['n_train']:,} rows, {data_mib:,.0f} MiB of X "
          f"in {CLI_SHARDS} shards, model {LAYERS}, batch 256, one epoch (and the scaling pass)")
    print(f"peak RSS {peak_mib:.0f} MiB = {peak_mib / data_mib:.2f} x the data; "
          f"{seconds:.1f} s in all ({report['seconds']:.1f} s training), "
          f"{report['n_train'] / report['seconds']:,.0f} samples/s, {report['engine']} engine")


def main() -> None:
    paths = [arg for arg in sys.argv[1:] if arg != "--cli"]
    folder = paths[0] if paths else tempfile.mkdtemp(prefix="deltaprop-stream-")
    try:
        if not os.path.exists(os.path.join(folder, f"X_{SHARDS - 1:03d}.npy")):
            generate(folder)
        if "--cli" in sys.argv:
            cli(folder)
            return
        env = {k: v for k, v in os.environ.items()
               if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        results = {}
        for mode in ("stream", "memory"):
            done = subprocess.run([sys.executable, __file__, "--train", folder, mode],
                                  capture_output=True, text=True, env=env, check=True)
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        gib = SHARDS * ROWS_PER_SHARD * FEATURES * 4 / 2**30
        print(f"{gib:.1f} GiB of X ({SHARDS} shards), model {LAYERS}, batch 256, one epoch")
        print("| mode | rows | samples/s | peak memory |")
        print("|---|---|---|---|")
        for mode, r in results.items():
            print(f"| {mode} | {r['rows']:,} | {r['rows'] / r['seconds']:,.0f} | "
                  f"{r['peak_mib']:.0f} MiB |")
        rate = {mode: r["rows"] / r["seconds"] for mode, r in results.items()}
        print(f"streamed / in memory throughput: {rate['stream'] / rate['memory']:.2f}")
    finally:
        if not paths:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if "--train" in sys.argv:
        train(sys.argv[2], sys.argv[3])
    else:
        main()
