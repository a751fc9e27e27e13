"""Reproducible weights: fixed seeds give the final weights recorded before the internals' redesign.

What it proves
--------------
Each configuration below trains a small network with a fixed seed through the public API only
(``dp.MLP``, ``dp.Network`` with ``dp.Dense``/``dp.BatchNorm``/``dp.ActivationLayer``/
``dp.Dropout``, ``fit``/``dp.fit`` and its options, ``dp.SGD`` with momentum and Nesterov,
``dp.Adam``, the schedules, ``restarts``, ``sample_weight``, ``l2``/``l1``, validation and early
stopping, random sampling, ``dp.BatchStepper``, ``dp.stream.fit_stream`` over
``dp.stream.NpyShards``, checkpoint and ``dp.resume``, and data-parallel training over two MPI
ranks). The code under test must reach the very weights that commit a397d64 (before the
redesign) reached:

- when this machine's BLAS key (NumPy's version, and the internal API and kernel architecture
  threadpoolctl reports for NumPy's BLAS) is recorded in ``fixtures/weights_sha256.json``,
  the SHA-256 of the final state (:func:`state_digest`) must be equal, bit for bit;
- otherwise the BLAS may round the last bits differently, so the final state must match
  ``fixtures/weights_final.npz`` to ``rtol=1e-5`` (float32) or ``1e-9`` (float64), with
  ``atol`` equal to ``rtol`` times each array's RMS (for the weights near 0). It never skips.

The configurations are defined here and only here: ``fixtures/make_weights_sha256.py`` imports
this module by path to (re)generate both fixtures, and this file, run as a script with
``--mpi-worker``, is what ``mpiexec`` launches on each rank. Data come from
``np.random.default_rng(seed)``; every fit runs on one BLAS thread, on the NumPy engine (the
reference: ``engine="numpy"``; tests/test_compiled_engine.py proves the compiled engine equal to
it to rounding).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import deltaprop as dp
from mpi_support import launch, mpiexec_or_skip

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HASHES = FIXTURES / "weights_sha256.json"
FINAL = FIXTURES / "weights_final.npz"
RTOL = {"float32": 1e-5, "float64": 1e-9}

Config = Callable[[Path], dp.Network]
CONFIGS: dict[str, Config] = {}
MPI_CONFIGS: dict[str, Callable[[object], dp.Network]] = {}


# -- the state, its digest and the BLAS key --------------------------------------------------------
def final_state(net: dp.Network) -> list[np.ndarray]:
    """``theta``, then each BatchNorm's running mean and running variance, in layer order."""
    arrays = [net.theta]
    for layer in net.layers:
        if isinstance(layer, dp.BatchNorm):
            arrays += [layer.running_mean, layer.running_var]
    return [np.array(a, copy=True) for a in arrays]


def state_digest(arrays: list[np.ndarray]) -> str:
    """SHA-256 of the arrays' bytes (C order), concatenated."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def numpy_blas() -> dict:
    """threadpoolctl's record of NumPy's own BLAS (the one its matmul calls), or {}."""
    import numpy

    numpy_dir = Path(numpy.__file__).resolve().parent
    homes = (str(numpy_dir), str(numpy_dir.parent / "numpy.libs"))
    blas = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    ours = [info for info in blas if str(Path(info.get("filepath", "")).resolve()).startswith(homes)]
    return (ours or blas or [{}])[0]


def blas_key() -> str:
    """``numpy-<version>/<internal_api>/<architecture>``: what decides the last bits."""
    info = numpy_blas()
    return "/".join([f"numpy-{np.__version__}", str(info.get("internal_api", "unknown")),
                     str(info.get("architecture", "unknown"))])


def config(function: Config) -> Config:
    CONFIGS[function.__name__] = function
    return function


def mpi_config(function: Callable[[object], dp.Network]) -> Callable[[object], dp.Network]:
    MPI_CONFIGS[function.__name__] = function
    return function


def classes(rng: np.random.Generator, n: int, n_in: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """n rows of Gaussian features, labels 0..k-1 from a random linear rule (learnable)."""
    X = rng.standard_normal((n, n_in))
    return X, np.argmax(X @ rng.standard_normal((n_in, k)), axis=1)


def regression(rng: np.random.Generator, n: int, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    X = rng.standard_normal((n, n_in))
    return X, np.tanh(X @ rng.standard_normal((n_in, n_out))) + 0.1 * rng.standard_normal((n, n_out))


# -- the configurations, in one process -------------------------------------------------------------
@config
def mlp_sgd_minibatch_cross_entropy_f32(tmp: Path) -> dp.Network:
    X, y = classes(np.random.default_rng(101), 240, 6, 3)
    net = dp.MLP([6, 16, 3], activation="tanh", seed=1)
    net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(0.1), epochs=6, batch_size=32, threads=1,
            engine="numpy")
    return net


@config
def mlp_sgd_momentum_online_binary_cross_entropy_f64(tmp: Path) -> dp.Network:
    X, y = classes(np.random.default_rng(102), 100, 4, 2)
    net = dp.MLP([4, 8, 1], activation="tanh", dtype=np.float64, seed=2)
    net.fit(X, y, engine="numpy", loss="binary_cross_entropy", optimizer=dp.SGD(0.05, momentum=0.9), epochs=3,
            batch_size=1, threads=1)
    return net


@config
def mlp_sgd_nesterov_full_batch_step_decay_squared_error_f64(tmp: Path) -> dp.Network:
    X, y = regression(np.random.default_rng(103), 150, 3, 2)
    net = dp.MLP([3, 12, 2], activation="relu", dtype=np.float64, seed=3)
    optimizer = dp.SGD(0.05, momentum=0.9, nesterov=True, schedule=dp.StepDecay(step_size=10, gamma=0.5))
    net.fit(X, y, loss="squared_error", optimizer=optimizer, epochs=40, batch_size="full", threads=1,
            engine="numpy")
    return net


@config
def mlp_adam_cosine_l2_sample_weight_squared_error_f32(tmp: Path) -> dp.Network:
    rng = np.random.default_rng(104)
    X, y = regression(rng, 200, 5, 1)
    weights = rng.random(200) + 0.25
    net = dp.MLP([5, 16, 8, 1], activation="elu", seed=4)
    dp.fit(net, X, y, loss="squared_error", optimizer=dp.Adam(1e-2, schedule=dp.Cosine()), epochs=5,
           engine="numpy", batch_size=16, l2=1e-3, sample_weight=weights, threads=1)
    return net


@config
def mlp_sgd_random_sampling_inverse_scaling_l1_cross_entropy_f32(tmp: Path) -> dp.Network:
    X, y = classes(np.random.default_rng(105), 180, 5, 4)
    net = dp.MLP([5, 12, 4], activation="sigmoid", seed=5)
    net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(0.5, schedule=dp.InverseScaling(0.5)), epochs=4,
            engine="numpy", batch_size=20, sampling="random", l1=1e-4, threads=1)
    return net


@config
def mlp_adam_validation_fraction_early_stopping_cross_entropy_f64(tmp: Path) -> dp.Network:
    X, y = classes(np.random.default_rng(106), 160, 4, 3)
    y[:40] = np.random.default_rng(7).integers(0, 3, 40)  # label noise: the validation loss turns
    net = dp.MLP([4, 32, 3], activation="relu", dtype=np.float64, seed=6)
    net.fit(X, y, engine="numpy", loss="cross_entropy", optimizer=dp.Adam(0.05), epochs=40, batch_size=16,
            validation_fraction=0.25, early_stopping=3, threads=1)
    return net


@config
def mlp_restarts_3_sgd_momentum_cross_entropy_f32(tmp: Path) -> dp.Network:
    X, y = classes(np.random.default_rng(107), 150, 4, 2)
    net = dp.MLP([4, 6, 2], activation="tanh", seed=7)
    net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(0.1, momentum=0.5), epochs=4, batch_size=16,
            engine="numpy", restarts=3, threads=1)
    return net


@config
def mlp_batchnorm_dropout_sgd_nesterov_squared_error_f32(tmp: Path) -> dp.Network:
    X, y = regression(np.random.default_rng(108), 200, 5, 1)
    net = dp.MLP([5, 16, 16, 1], activation="relu", batch_norm=True, dropout=0.2, seed=8)
    net.fit(X, y, loss="squared_error", optimizer=dp.SGD(0.02, momentum=0.9, nesterov=True), epochs=5,
            engine="numpy", batch_size=25, threads=1)
    return net


# Two layer-by-layer networks. The README's puts BatchNorm right after a Dense layer, whose bias
# then has a gradient of zero but for rounding; SGD moves it by lr times that noise, but Adam
# divides the noise by its own size and moves it by ~lr per step, so in float32 another BLAS
# kernel's rounding changes such weights by ~1e-2 (their bits are still reproducible on one BLAS,
# but no tolerance could compare them across BLAS). So Adam trains the second layout, where
# BatchNorm follows an activation and every parameter has a true gradient.
def readme_network(n_in: int, n_out: int, *, dtype: type = np.float32, seed: int) -> dp.Network:
    """The README's: Dense(tanh), Dense, BatchNorm, ActivationLayer(relu), Dropout, Dense."""
    return dp.Network([dp.Dense(n_in, 16, "tanh"), dp.Dense(16, 16), dp.BatchNorm(),
                       dp.ActivationLayer("relu"), dp.Dropout(0.2), dp.Dense(16, n_out)],
                      dtype=dtype, seed=seed)


def normalized_activations_network(n_in: int, n_out: int, *, dtype: type = np.float32,
                                   seed: int) -> dp.Network:
    """Dense(tanh), BatchNorm, Dropout, Dense, ActivationLayer(relu), Dense."""
    return dp.Network([dp.Dense(n_in, 16, "tanh"), dp.BatchNorm(), dp.Dropout(0.2), dp.Dense(16, 16),
                       dp.ActivationLayer("relu"), dp.Dense(16, n_out)], dtype=dtype, seed=seed)


@config
def network_batchnorm_dropout_adam_cross_entropy_f32(tmp: Path) -> dp.Network:
    X, y = classes(np.random.default_rng(109), 210, 4, 3)
    net = normalized_activations_network(4, 3, seed=9)
    net.fit(X, y, loss="cross_entropy", optimizer=dp.Adam(1e-2), epochs=5, batch_size=30, threads=1,
            engine="numpy")
    return net


@config
def network_batchnorm_dropout_sgd_momentum_clip_binary_cross_entropy_f64(tmp: Path) -> dp.Network:
    X, y = classes(np.random.default_rng(110), 180, 5, 2)
    net = readme_network(5, 1, dtype=np.float64, seed=10)
    net.fit(X, y, loss="binary_cross_entropy", optimizer=dp.SGD(0.05, momentum=0.9, clip_norm=5.0),
            engine="numpy", epochs=5, batch_size=20, threads=1)
    return net


@config
def network_batchnorm_dropout_full_batch_sgd_squared_error_f32(tmp: Path) -> dp.Network:
    X, y = regression(np.random.default_rng(111), 120, 4, 2)
    net = readme_network(4, 2, seed=11)
    net.fit(X, y, loss="squared_error", optimizer=dp.SGD(0.1), epochs=25, batch_size="full", threads=1,
            engine="numpy")
    return net


@config
def batch_stepper_whole_epochs_adam_binary_cross_entropy_f32(tmp: Path) -> dp.Network:
    X, y = classes(np.random.default_rng(112), 150, 4, 2)
    net = normalized_activations_network(4, 1, seed=12)
    stepper = dp.BatchStepper(net, X, y, loss="binary_cross_entropy", optimizer=dp.Adam(1e-2),
                              batch_size=16, l2=1e-3, total_epochs=3)
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(3 * stepper.batches_per_epoch):
            assert stepper.step().taken
    return net


@config
def stream_npy_shards_sgd_momentum_cross_entropy_f32(tmp: Path) -> dp.Network:
    X, y = classes(np.random.default_rng(113), 210, 5, 3)
    folder = tmp / "shards"
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(210), 3)):
        np.save(folder / f"X_{i:03d}.npy", X[part].astype(np.float32))
        np.save(folder / f"y_{i:03d}.npy", y[part])
    net = dp.MLP([5, 12, 3], activation="tanh", seed=13)
    dp.stream.fit_stream(net, dp.stream.NpyShards.from_folder(str(folder)), loss="cross_entropy",
                         optimizer=dp.SGD(0.1, momentum=0.9), epochs=3, batch_size=16, buffer_rows=64,
                         chunk_rows=32, threads=1, engine="numpy")
    return net


@config
def checkpoint_resume_batchnorm_dropout_adam_cross_entropy_f64(tmp: Path) -> dp.Network:
    X, y = classes(np.random.default_rng(114), 150, 4, 3)
    path = tmp / "run.ckpt"
    net = normalized_activations_network(4, 3, dtype=np.float64, seed=14)
    net.fit(X, y, engine="numpy", loss="cross_entropy", optimizer=dp.Adam(1e-2), epochs=2, batch_size=16,
            checkpoint=path, threads=1)  # "interrupted" after epoch 2 ...
    resumed, _ = dp.resume(path, X, y, epochs=5, threads=1)  # ... and continued to epoch 5
    return resumed


# -- the configurations over two MPI ranks (this file run by mpiexec with --mpi-worker) -----------
@mpi_config
def mpi_2_ranks_sgd_momentum_l2_sample_weight_cross_entropy_f64(comm: object) -> dp.Network:
    rng = np.random.default_rng(201)
    X, y = classes(rng, 203, 6, 2)
    weights = rng.random(203) + 0.5
    net = dp.MLP([6, 16, 16, 2], activation="tanh", dtype=np.float64, seed=21)
    net.fit(X, y, loss="cross_entropy", optimizer=dp.SGD(0.1, momentum=0.9), epochs=5, batch_size=25,
            engine="numpy", l2=1e-3, sample_weight=weights, validation_fraction=0.2, threads=1, comm=comm)
    return net


@mpi_config
def mpi_2_ranks_adam_binary_cross_entropy_f32(comm: object) -> dp.Network:
    X, y = classes(np.random.default_rng(202), 161, 5, 2)
    net = dp.MLP([5, 12, 1], activation="relu", seed=22)
    net.fit(X, y, loss="binary_cross_entropy", optimizer=dp.Adam(1e-2), epochs=4, batch_size=15,
            engine="numpy", threads=1, comm=comm)
    return net


@mpi_config
def mpi_2_ranks_full_batch_sgd_squared_error_f32(comm: object) -> dp.Network:
    X, y = regression(np.random.default_rng(203), 120, 3, 2)
    net = dp.MLP([3, 10, 2], activation="tanh", seed=23)
    net.fit(X, y, loss="squared_error", optimizer=dp.SGD(0.1), epochs=20, batch_size="full", threads=1,
            engine="numpy", comm=comm)
    return net


def run_mpi_configs(out_dir: Path) -> dict[str, list[np.ndarray]]:
    """Every MPI configuration in one ``mpiexec -n 2`` launch; the final state of rank 0."""
    out = out_dir / "mpi_states.npz"
    # -m mpi4py: an exception on one rank aborts the job instead of leaving the other waiting
    done = launch(2, [sys.executable, "-m", "mpi4py", Path(__file__).resolve(), "--mpi-worker", out],
                  timeout=300)
    assert "WORLD 2" in done.stdout, done.stdout  # two ranks of one job, not two one-rank jobs
    assert f"DELTAPROP {Path(dp.__file__).resolve()}" in done.stdout, done.stdout  # the code under test
    with np.load(out) as saved:
        return {name: [saved[f"{name}.{i}"] for i in range(int(saved[f"{name}.count"]))]
                for name in MPI_CONFIGS}


def mpi_worker(out: str) -> None:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    states = {name: final_state(function(comm)) for name, function in MPI_CONFIGS.items()}
    if comm.Get_rank() == 0:
        arrays: dict[str, np.ndarray] = {}
        for name, state in states.items():
            arrays[f"{name}.count"] = np.array(len(state))
            arrays.update({f"{name}.{i}": array for i, array in enumerate(state)})
        np.savez(out, **arrays)
        print("WORLD", comm.Get_size(), flush=True)
        print("DELTAPROP", Path(dp.__file__).resolve(), flush=True)


# -- the checks ------------------------------------------------------------------------------------
def check_state(name: str, state: list[np.ndarray]) -> None:
    """Exact SHA-256 on a recorded BLAS, else closeness to the recorded weights; names ``name``."""
    key = blas_key()
    recorded = json.loads(HASHES.read_text())["hashes"]
    if key in recorded:
        assert name in recorded[key], (f"{name}: no hash recorded for BLAS {key}; run "
                                       "fixtures/make_weights_sha256.py with the code before the redesign")
        digest = state_digest(state)
        assert digest == recorded[key][name], (
            f"{name}: final weights differ from the recorded ones (BLAS {key}): SHA-256 {digest}, "
            f"recorded {recorded[key][name]}")
        return
    with np.load(FINAL) as final:
        count = int(final[f"{name}.count"]) if f"{name}.count" in final else None
        assert count == len(state), f"{name}: {len(state)} state arrays, recorded {count} (BLAS {key})"
        for i, array in enumerate(state):
            expected = final[f"{name}.{i}"]
            assert array.dtype == expected.dtype and array.shape == expected.shape, (
                f"{name}: array {i} is {array.dtype}{array.shape}, recorded {expected.dtype}{expected.shape}")
            # Weights near 0 are compared at the array's typical size (their rounding is that
            # of the larger terms of their sums): atol = rtol * the array's RMS.
            rtol = RTOL[expected.dtype.name]
            atol = rtol * float(np.sqrt(np.mean(np.square(expected, dtype=np.float64))))
            np.testing.assert_allclose(array, expected, rtol=rtol, atol=atol,
                                       err_msg=f"{name}: array {i} of the final state (BLAS {key} "
                                               "not recorded: compared to weights_final.npz)")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_final_weights_are_the_recorded_ones(name, tmp_path):
    check_state(name, final_state(CONFIGS[name](tmp_path)))


@pytest.fixture(scope="module")
def mpi_states(tmp_path_factory):
    mpiexec_or_skip()
    return run_mpi_configs(tmp_path_factory.mktemp("mpi"))


@pytest.mark.parametrize("name", list(MPI_CONFIGS))
def test_final_weights_over_two_mpi_ranks_are_the_recorded_ones(name, mpi_states):
    check_state(name, mpi_states[name])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the MPI worker of this test module (run by mpiexec)")
    parser.add_argument("--mpi-worker", metavar="OUT.npz", required=True)
    mpi_worker(parser.parse_args().mpi_worker)
