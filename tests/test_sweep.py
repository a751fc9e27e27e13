"""deltaprop sweep: grid and random search, ranked, saved as it goes, resumable; and restarts
and a sweep on a real Dask cluster (a `dask scheduler` and a `dask worker` started here on
127.0.0.1) giving exactly the serial results."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.cli.sweep import read_spec, trials

SPEC = {"search": "grid", "params": {"hidden": ["8", "16"], "activation": ["relu", "tanh"],
                                     "lr": [0.01]}, "epochs": 15}


def write_spec(tmp_path, spec=SPEC):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return str(path)


def results(folder):
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]


def test_a_grid_sweep_ranks_saves_and_resumes(tmp_path, capsys):
    spec = write_spec(tmp_path)
    assert main(["sweep", spec, "--data", "moons", "--out-dir", str(tmp_path / "out"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trials"] == 4 and report["ran"] == 4
    logged = results(tmp_path / "out")
    assert len(logged) == 4 and report["best"]["validation"] == max(r["validation"] for r in logged)
    best = dp.load(tmp_path / "out" / "best.dp")  # a model: the network with its preprocessing
    assert best.net.n_parameters > 0
    rows = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert rows[0].startswith("rank,activation,hidden,lr,validation") and len(rows) == 5
    # A second run with one more value runs only the new trials.
    bigger = dict(SPEC, params=dict(SPEC["params"], lr=[0.01, 0.05]))
    assert main(["sweep", write_spec(tmp_path, bigger), "--data", "moons", "--out-dir",
                 str(tmp_path / "out"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["trials"], again["ran"], again["skipped"]) == (8, 4, 4)


def test_random_search_draws_distinct_combinations_reproducibly(tmp_path):
    spec = read_spec(write_spec(tmp_path, {"search": "random", "trials": 5,
                                           "params": {"lr": [0.1, 0.01, 0.001], "l2": [0, 1e-4]}}))
    drawn = trials(spec, 3)
    assert drawn == trials(spec, 3) and len({json.dumps(t, sort_keys=True) for t in drawn}) == 5
    spec["trials"] = 50
    assert len(trials(spec, 3)) == 6  # no more than the grid holds


def test_a_failing_trial_is_logged_and_the_best_model_survives_a_rerun(tmp_path, capsys):
    out = tmp_path / "out"
    failing = {"params": {"lr": [0.05, -1.0]}, "epochs": 5}
    assert main(["sweep", write_spec(tmp_path, failing), "--data", "moons", "--out-dir", str(out),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["failed"] == 1 and report["best"]["options"] == {"lr": 0.05}
    assert any("--lr must be positive" in r.get("error", "") for r in results(out))
    (out / "best.dp").unlink()  # lost (say a crash before it was written): a rerun restores it
    assert main(["sweep", write_spec(tmp_path, failing), "--data", "moons", "--out-dir", str(out)]) == 0
    assert (out / "best.dp").exists() and len(results(out)) == 2
    # Other settings (here the data) are other trials, not the logged ones.
    assert main(["sweep", write_spec(tmp_path, failing), "--data", "circles", "--out-dir", str(out),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["ran"] == 2


@pytest.mark.parametrize("spec, message", [
    ({"params": {}}, "needs \"params\""),
    ({"params": {"colour": ["red"]}}, "cannot search \\['colour'\\]"),
    ({"params": {"lr": 0.1}}, "must be a non-empty list"),
    ({"search": "bayes", "params": {"lr": [0.1]}}, "search must be 'grid' or 'random'"),
])
def test_bad_specs_are_named(spec, message, tmp_path, capsys):
    assert main(["sweep", write_spec(tmp_path, spec), "--data", "moons"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.fixture
def dask_cluster(tmp_path):
    """A real scheduler and one worker process on 127.0.0.1; both stopped afterwards."""
    pytest.importorskip("distributed")
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("no dask command in this environment")
    address_file = tmp_path / "scheduler.json"
    started = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                 "--dashboard-address", "127.0.0.1:0", "--scheduler-file",
                                 str(address_file)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        started.append(subprocess.Popen(
            [str(dask), "worker", "--scheduler-file", str(address_file), "--nworkers", "1",
             "--nthreads", "1", "--dashboard-address", "127.0.0.1:0", "--host", "127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        address = json.loads(address_file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_restarts_and_a_sweep_on_a_real_dask_cluster_equal_serial(dask_cluster, tmp_path, capsys):
    import joblib
    from distributed import Client

    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 4))
    y = (X[:, 0] > 0).astype(int)

    def restarts(n_jobs):
        net = dp.MLP([4, 6, 2], seed=2)
        net.fit(X, y, loss="cross_entropy", epochs=5, restarts=3, n_jobs=n_jobs)
        return net

    serial = restarts(1)
    with Client(dask_cluster), joblib.parallel_config(backend="dask"):
        on_dask = restarts(-1)
    np.testing.assert_array_equal(on_dask.theta, serial.theta)
    assert [r["loss"] for r in on_dask.history.restarts] == [r["loss"] for r in serial.history.restarts]

    spec = write_spec(tmp_path)
    assert main(["sweep", spec, "--data", "moons", "--out-dir", str(tmp_path / "serial")]) == 0
    assert main(["sweep", spec, "--data", "moons", "--out-dir", str(tmp_path / "dask"),
                 "--scheduler", dask_cluster]) == 0
    capsys.readouterr()
    assert results(tmp_path / "dask") == results(tmp_path / "serial")
    np.testing.assert_array_equal(dp.load(tmp_path / "dask" / "best.dp").net.theta,
                                  dp.load(tmp_path / "serial" / "best.dp").net.theta)
