"""deltaprop sweep: grid and random search, ranked, saved as it goes, resumable; and restarts
and a sweep on a real Dask cluster (a `dask scheduler` and a `dask worker` started here on
127.0.0.1) giving exactly the serial results."""

from __future__ import annotations

import importlib
import itertools
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.cli.sweepspec import read_spec
from deltaprop.tuning.sweep import REASON_WIDTH
from deltaprop.tuning.sweepspec import combination, distinct_indices, trials

sweep = importlib.import_module("deltaprop.cli.sweep")  # the module (deltaprop.cli.sweep is the command)

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


def test_a_network_too_large_for_the_machine_is_a_failed_trial_worded_for_the_command_line(
        tmp_path, capsys):
    # the library's memory check (as dp.sweep makes it), naming the flag; the small width trains
    out = tmp_path / "out"
    spec = {"params": {"hidden": ["1000000000000", "4"]}, "epochs": 1}
    assert main(["sweep", write_spec(tmp_path, spec), "--data", "moons", "--out-dir", str(out),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["failed"] == 1 and report["best"]["options"] == {"hidden": "4"}
    (error,) = [r["error"] for r in results(out) if "error" in r]
    assert re.match(r"--hidden 1000000000000 \(5,000,000,000,002 parameters, 150 rows at once\) "
                    r"would need [\d.]+ [TP]iB; this machine has", error)


def test_random_search_draws_distinct_combinations_reproducibly(tmp_path):
    spec = read_spec(write_spec(tmp_path, {"search": "random", "trials": 5,
                                           "params": {"lr": [0.1, 0.01, 0.001], "l2": [0, 1e-4]}}))
    drawn = trials(spec, 3)
    assert drawn == trials(spec, 3) and len({json.dumps(t, sort_keys=True) for t in drawn}) == 5
    spec["trials"] = 50
    assert len(trials(spec, 3)) == 6  # no more than the grid holds


def test_a_failing_trial_is_logged_and_the_best_model_survives_a_rerun(tmp_path, capsys):
    out = tmp_path / "out"
    # momentum 0.5 is a good value (with sgd), adam too (with 0); together a failed trial, logged
    failing = {"params": {"optimizer": ["adam", "sgd"], "momentum": [0, 0.5]}, "epochs": 5}
    assert main(["sweep", write_spec(tmp_path, failing), "--data", "moons", "--out-dir", str(out),
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["failed"] == 1 and report["best"]["options"] != {"momentum": 0.5, "optimizer": "adam"}
    assert any("--momentum is for --optimizer sgd" in r.get("error", "") for r in results(out))
    (out / "best.dp").unlink()  # lost (say a crash before it was written): a rerun restores it
    assert main(["sweep", write_spec(tmp_path, failing), "--data", "moons", "--out-dir", str(out)]) == 0
    assert (out / "best.dp").exists() and len(results(out)) == 4
    # Other settings (here the data) are other trials, not the logged ones.
    assert main(["sweep", write_spec(tmp_path, failing), "--data", "circles", "--out-dir", str(out),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["ran"] == 4


@pytest.mark.parametrize("spec, message", [
    ({"params": {}}, "needs \"params\""),
    ({"params": {"colour": ["red"]}}, "cannot search 'colour'; known: hidden, activation"),
    ({"params": {"hiden": ["4"]}}, "cannot search 'hiden' \\(did you mean 'hidden'\\?\\)"),
    # an unknown key at the top (a typo) is refused, not ignored, with the closest known one
    ({"params": {"lr": [0.1]}, "epoch": 500}, "no key 'epoch' \\(did you mean 'epochs'\\?\\)"),
    ({"params": {"lr": [0.1]}, "colour": 1}, "no key 'colour'; known: search, trials, params"),
    # every setting and every value by train's own rule for it, named as the spec names it
    ({"params": {"hidden": ["4"]}, "epochs": 0}, "spec.json: epochs must be at least 1, got 0$"),
    ({"params": {"hidden": ["4"]}, "val_fraction": 1.5}, "val_fraction must lie in \\[0, 1\\), got 1.5"),
    ({"params": {"hidden": ["4"]}, "val_fraction": -0.1}, "val_fraction must lie in \\[0, 1\\)"),
    ({"params": {"hidden": ["4"]}, "test_fraction": 1}, "test_fraction must lie in \\[0, 1\\), got 1"),
    ({"params": {"hidden": ["4"]}, "seed": -3}, "seed must be >= 0, got -3"),
    ({"params": {"hidden": ["4"]}, "early_stopping": 0}, "early_stopping must be at least 1 epoch"),
    ({"params": {"lr": [0.05, -1.0]}}, "params.lr must be positive, got -1.0"),
    ({"params": {"l2": [0, -1]}}, "params.l2 must be >= 0, got -1"),
    ({"params": {"dropout": [0, 1]}}, "params.dropout must lie in \\[0, 1\\), got 1"),
    ({"params": {"momentum": [1.5]}}, "params.momentum must lie in \\[0, 1\\), got 1.5"),
    ({"params": {"hidden": ["8", "8,x"]}}, "params.hidden takes widths like 128,64; got '8,x'"),
    ({"params": {"hidden": [4, 0]}}, "params.hidden widths must be positive; got '0'"),
    ({"params": {"hidden": ["4,,4"]}}, "params.hidden '4,,4': hidden layer 2 has no width"),
    ({"params": {"batch_size": ["full", "0"]}}, "params.batch_size takes a positive integer or 'full'"),
    ({"params": {"activation": ["relux"]}}, "params.activation: unknown activation 'relux'"),
    ({"params": {"init": ["he", "foo"]}}, "params.init: unknown init 'foo'"),
    ({"params": {"loss": ["mse", "hinge"]}}, "params.loss: unknown loss 'hinge'"),
    # a value that goes with no trial holding it (momentum where every trial uses adam)
    ({"params": {"momentum": [0, 0.9]}}, "params.momentum 0.9: --momentum is for --optimizer sgd "
                                          "\\(in every trial that holds it\\)"),
    ({"params": {"lr": 0.1}}, "must be a non-empty list"),
    ({"search": "bayes", "params": {"lr": [0.1]}}, "search must be 'grid' or 'random'"),
    ({"params": {"lr": ["fast"]}}, "params.lr must be a number, got 'fast'"),
    ({"params": {"lr": [True]}}, "params.lr must be a number, got True"),
    ({"params": {"hidden": [[16, 8]]}}, "params.hidden must be text, got \\[16, 8\\]"),
    ({"params": {"optimizer": ["rmsprop"]}}, "params.optimizer must be one of \\('adam', 'sgd'\\)"),
    ({"params": {"lr": [0.1]}, "epochs": "ten"}, "epochs must be a whole number, got 'ten'"),
    ({"params": {"lr": [0.1]}, "early_stopping": 2.5}, "early_stopping must be a whole number or null"),
    ({"search": "random", "trials": 0, "params": {"lr": [0.1]}}, "trials must be a whole number from 1"),
    ({"search": "random", "trials": 1e300, "params": {"lr": [0.1]}}, "trials must be a whole number"),
    ({"params": {**{name: list(range(1, 11)) for name in ("lr", "l2", "batch_size", "hidden")},
                 **{name: [i / 10 for i in range(10)] for name in ("dropout", "momentum")}}},
     "the grid holds 1,000,000 combinations, more than a sweep runs \\(100,000\\); \"search\": \"random\""),
    ({"params": {"lr": json.loads("[" * 70 + "0.1" + "]" * 70)}},
     "is not a JSON sweep spec: its JSON is nested 72 levels deep; at most 64 are allowed"),
])
def test_bad_specs_are_named(spec, message, tmp_path, capsys):
    assert main(["sweep", write_spec(tmp_path, spec), "--data", "moons", "--out-dir",
                 str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err
    assert captured.out == "" and not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.parametrize("spec, data, message", [
    ({"params": {"loss": ["cross_entropy", "bce"]}}, "iris",
     "params.loss 'bce': --loss bce takes two classes \\(on one sigmoid output\\); the target has 3"),
    ({"params": {"loss": ["squared_error", "cross_entropy"]}, "epochs": 1}, "sine",
     "params.loss 'cross_entropy': --loss cross_entropy is for classification"),
    ({"params": {"lr": [0.1]}}, "no-such-data", "'no-such-data' is neither a file nor"),
])
def test_losses_are_checked_against_the_data_before_any_trial(spec, data, message, tmp_path, capsys):
    assert main(["sweep", write_spec(tmp_path, spec), "--data", data, "--out-dir",
                 str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and re.search(message, captured.err), captured.err
    assert captured.out == "" and not (tmp_path / "out").exists()


def test_a_spec_nested_past_the_decoders_limit_is_named(tmp_path, capsys):
    (tmp_path / "spec.json").write_text('{"params": {"lr": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    assert main(["sweep", str(tmp_path / "spec.json"), "--data", "moons"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "levels deep; at most 64 are allowed" in err, err


def test_when_every_trial_fails_the_sweep_exits_1_showing_each_reason(tmp_path, capsys):
    out = tmp_path / "out"
    # Good values by the options' rules, each a network too large for the machine (its
    # rows' count known only as the trial runs): failed trials, each with its reason.
    failing = {"params": {"hidden": ["100000000", "8,4000000000", "8," + "9" * 300 + ",7"]},
               "epochs": 2}
    assert main(["sweep", write_spec(tmp_path, failing), "--data", "moons", "--out-dir", str(out)]) == 1
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "3 trials (0 from an earlier run), 3 failed, best first:"
    assert any(line.startswith("  1. failed: --hidden 100000000 (500,000,002 parameters")
               for line in table), table
    long = next(line for line in table if "999" in line)  # one line, its reason cut short
    assert "failed: --hidden 8,999" in long and "...  hidden=8,999" in long
    assert len(long.split("...  ")[0]) <= len("  3. failed: ") + REASON_WIDTH
    assert table[-1] == "no trial succeeded: no best model was written"
    assert "validation nan" not in "\n".join(table) and not (out / "best.dp").exists()
    assert main(["sweep", write_spec(tmp_path, failing), "--data", "moons", "--out-dir", str(out),
                 "--json"]) == 1  # the logged failures, again
    report = json.loads(capsys.readouterr().out)
    assert (report["succeeded"], report["failed"], report["best"]) == (0, 3, None)


def test_random_search_draws_from_a_huge_grid_without_building_it(tmp_path):
    # 11 options of 100 values: 10^22 combinations, past 64 bits (4e10 ran out of memory once)
    params = {name: [f"{i}" for i in range(1, 101)] for name in ("hidden", "batch_size")}
    params.update({name: [i / 1000 for i in range(100)] for name in
                   ("lr", "l2", "dropout", "momentum")})
    params.update({name: [f"{name}{i}" for i in range(100)] for name in
                   ("activation", "init", "loss", "optimizer")})
    params.pop("optimizer")
    params["batch_norm"] = [True, False] * 50
    spec = {"search": "random", "trials": 50, "params": params}  # the draws, not the values
    drawn = trials(spec, 0)
    assert drawn == trials(spec, 0) and len({json.dumps(t, sort_keys=True) for t in drawn}) == 50
    assert all(set(t) == set(params) and all(t[n] in params[n] for n in t) for t in drawn)
    assert len({t["lr"] for t in drawn}) > 30  # every option varies, the first as the last


def test_a_grid_index_decodes_in_mixed_radix_to_the_products_combination():
    names, values = ["a", "b", "c"], [[1, 2], ["x", "y", "z"], [True, False, None, 0.5]]
    grid = [dict(zip(names, combo)) for combo in itertools.product(*values)]
    assert [combination(names, values, i) for i in range(len(grid))] == grid
    rng = np.random.default_rng(0)
    assert sorted(distinct_indices(24, 24, rng)) == list(range(24))  # all: a permutation
    assert len(set(distinct_indices(24, 5, rng))) == 5
    huge = distinct_indices(10**30, 2000, np.random.default_rng(1))  # past 64 bits
    assert len(set(huge)) == 2000 and all(0 <= i < 10**30 for i in huge)
    assert sum(i < 10**30 // 2 for i in huge) in range(900, 1101)  # both halves, evenly
    assert sum(i % 2 for i in huge) in range(900, 1101)  # and the low digits too


def test_damaged_lines_of_the_log_are_skipped_and_their_trials_run_again(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    spec = write_spec(tmp_path, {"params": {"lr": [0.05]}, "epochs": 2})
    assert main(["sweep", spec, "--data", "moons", "--out-dir", str(out)]) == 0
    capsys.readouterr()
    good = (out / "results.jsonl").read_text()
    monkeypatch.setattr(sweep, "MAX_LOG_LINE", 5000)
    settings = json.loads(good)["settings"]
    for bad in ["[1]", '{"options": 5}', "[" * 100_000, json.dumps(
            {"options": {"lr": 0.05}, "validation": "high", "settings": settings}),
            json.dumps({"options": {"lr": 0.05}, "validation": 0.9, "held_out": [1],
                        "settings": settings}),
            json.dumps({"options": {"lr": 0.05}, "validation": 10**400, "settings": settings}),
            json.dumps({"options": {"lr": 0.05}, "validation": 0.9, "pad": "x" * 6000,
                        "settings": settings})]:
        (out / "results.jsonl").write_text(bad + "\n")
        (out / "best.dp").unlink(missing_ok=True)
        assert main(["sweep", spec, "--data", "moons", "--out-dir", str(out), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["ran"] == 1, bad[:40]


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


def labelled_csv(path, names=("setosa", "virginica"), n=40):
    """Two well separated classes named ``names``, in a CSV file."""
    rng = np.random.default_rng(0)
    rows = ["a,b,species"] + [f"{x:.3f},{y:.3f},{names[i % 2]}" for i, (x, y) in
                              enumerate(rng.standard_normal((n, 2)) + 3 * (np.arange(n) % 2)[:, None])]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def best_classes(out):
    return [str(c) for c in dp.load(out / "best.dp").classes]


def test_results_are_keyed_by_the_datas_content_not_its_file_name(tmp_path, capsys):
    """A result logged for other data (the same file, changed) is set aside and its trial run
    again, and best.dp follows the data; the same data under another name reuse the results;
    back to the first data, best.dp (which held the second's model) is trained again."""
    out, spec = tmp_path / "out", write_spec(tmp_path, {"params": {"hidden": ["4", "8"]}, "epochs": 3})
    data = labelled_csv(tmp_path / "e.csv")

    def run_sweep(path):
        assert main(["sweep", spec, "--data", path, "--target", "species", "--one-hot",
                     "--out-dir", str(out), "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    assert run_sweep(data)["ran"] == 2 and best_classes(out) == ["setosa", "virginica"]
    labelled_csv(tmp_path / "e.csv", names=("versicolor", "virginica"))  # the same name, new data
    report = run_sweep(data)
    assert (report["ran"], report["skipped"], report["set_aside"]) == (2, 0, 2)
    assert best_classes(out) == ["versicolor", "virginica"]
    assert json.loads((out / "best.json").read_text())["options"] == report["best"]["options"]
    assert main(["sweep", spec, "--data", data, "--target", "species", "--one-hot",
                 "--out-dir", str(out)]) == 0
    assert "(2 from an earlier run)," in capsys.readouterr().out  # nothing set aside: all reused
    moved = tmp_path / "moved.csv"
    moved.write_bytes((tmp_path / "e.csv").read_bytes())
    assert run_sweep(str(moved))["ran"] == 0  # the same content: the same trials
    labelled_csv(tmp_path / "e.csv")  # the first data again: their results hold, best.dp not
    report = run_sweep(data)
    assert (report["ran"], report["skipped"], report["set_aside"]) == (1, 1, 0)  # the best again
    assert best_classes(out) == ["setosa", "virginica"]
    assert run_sweep(data)["ran"] == 0  # and now best.dp holds it


def test_a_trial_that_read_data_changed_during_the_sweep_fails_and_is_not_logged(
        tmp_path, capsys, monkeypatch):
    out, spec = tmp_path / "out", write_spec(tmp_path, {"params": {"hidden": ["4", "8"]}, "epochs": 3})
    data = labelled_csv(tmp_path / "e.csv")
    first_trial = sweep.run_trial

    def then_change_the_data(base, options):
        result = first_trial(base, options)
        labelled_csv(tmp_path / "e.csv", names=("versicolor", "virginica"))
        return result

    monkeypatch.setattr(sweep, "run_trial", then_change_the_data)
    assert main(["sweep", spec, "--data", data, "--target", "species", "--one-hot",
                 "--out-dir", str(out)]) == 0
    table = capsys.readouterr().out
    assert "1 failed" in table and "the data changed while the sweep ran" in table
    assert len(results(out)) == 1 and best_classes(out) == ["setosa", "virginica"]


def test_a_diverging_trial_is_a_failed_trial_not_a_warning(tmp_path, capsys):
    # sgd at 1e9 overflows on iris: reported in the table, nothing on stderr (warnings are
    # errors in these tests: a warning would have stopped the sweep)
    spec = write_spec(tmp_path, {"params": {"optimizer": ["sgd"], "lr": [0.05, 1e9]}, "epochs": 4})
    assert main(["sweep", spec, "--data", "iris", "--out-dir", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "  2. failed: validation nan (diverged)  lr=1000000000.0, optimizer=sgd" in captured.out
    assert captured.err == ""
