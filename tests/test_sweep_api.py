"""The sweep's Python API, dp.sweep(spec, X, y): grid and random trials, ranked by the validation
score, failures reported (not raised), reproducible, the best model trained, a bad spec named;
the same results as `deltaprop sweep` on the same spec and data; and the estimator route
(deltaprop's MLPClassifier in scikit-learn's GridSearchCV)."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import warnings

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.cli.parser import build_parser
from deltaprop.tuning import budget as library_budget
from deltaprop.tuning import options as library_options
from deltaprop.tuning.sweep import SweepResult, sweep
from deltaprop.tuning.trial import SweepTrial

sweep_module = importlib.import_module("deltaprop.tuning.sweep")  # the module, not the function
trial_module = importlib.import_module("deltaprop.tuning.trial")
MOONS = dp.datasets.load("moons")


def xor(n=200, seed=0):
    """Two classes by the sign of x0 * x1: no linear model separates them."""
    X = np.random.default_rng(seed).uniform(-1, 1, (n, 2))
    return X, np.where(X[:, 0] * X[:, 1] > 0, "same", "opposite")


def test_a_grid_runs_every_combination_ranked_best_first():
    spec = {"params": {"hidden": ["4", "16"], "lr": [0.01, 0.05]}, "epochs": 8}
    result = sweep(spec, MOONS.X, MOONS.y)
    assert isinstance(result, SweepResult) and len(result.trials) == 4
    assert sorted(json.dumps(t.options, sort_keys=True) for t in result.trials) == sorted(
        json.dumps({"hidden": h, "lr": lr}) for h in ("4", "16") for lr in (0.01, 0.05))
    scores = [t.validation for t in result.trials]
    assert scores == sorted(scores, reverse=True) and not result.failed
    assert result.best == result.trials[0].options == result.best_trial.options
    assert all(t.seconds > 0 and t.epochs == 8 and set(t.held_out) == {"accuracy", "log_loss"}
               for t in result.trials)
    table = result.table().splitlines()
    assert table[0] == "4 trials (0 from an earlier run), 0 failed, best first:"
    assert table[1] == (f"  1. validation {scores[0]:.4f}  hidden={result.best['hidden']}, "
                        f"lr={result.best['lr']}")
    rows = result.rows()
    assert rows[0][:4] == ["rank", "hidden", "lr", "validation"] and len(rows) == 5


def test_a_random_search_draws_distinct_trials_reproducibly_with_a_seed():
    spec = {"search": "random", "trials": 3, "epochs": 3,
            "params": {"hidden": ["4", "8"], "lr": [0.01, 0.02], "l2": [0, 1e-4]}}
    first, again = sweep(spec, MOONS.X, MOONS.y, seed=5), sweep(spec, MOONS.X, MOONS.y, seed=5)
    drawn = [json.dumps(t.options, sort_keys=True) for t in first.trials]
    assert len(set(drawn)) == 3
    assert [t.record() for t in first.trials] == [t.record() for t in again.trials]
    np.testing.assert_array_equal(first.best_model.net.theta, again.best_model.net.theta)
    other = sweep(spec, MOONS.X, MOONS.y, seed=6)  # another seed: other draws or other weights
    assert [t.record() for t in other.trials] != [t.record() for t in first.trials]
    # the spec's own seed wins over the keyword, as in `deltaprop sweep`
    pinned = dict(spec, seed=5)
    assert ([t.record() for t in sweep(pinned, MOONS.X, MOONS.y, seed=9).trials]
            == [t.record() for t in first.trials])


def test_the_planted_winner_ranks_first_and_its_model_predicts():
    # identity activations make the network linear: chance on XOR; tanh learns it
    X, y = xor()
    spec = {"params": {"activation": ["identity", "tanh"], "hidden": ["16"], "lr": [0.05]},
            "epochs": 60}
    result = sweep(spec, X, y, seed=1)
    winner, loser = result.trials
    assert winner.options["activation"] == "tanh" and winner.validation > 0.9
    assert loser.options["activation"] == "identity" and loser.validation < 0.75
    predicted = result.best_model.predict(X)
    assert predicted.dtype.kind == "U" and np.mean(predicted == y) > 0.9  # labels as given
    assert result.best_model.task == "classify"


def test_failures_are_reported_not_raised():
    # sgd at 1e9 diverges (NaN validation); adam with momentum cannot train: both trials fail
    spec = {"params": {"optimizer": ["adam", "sgd"], "momentum": [0, 0.5], "lr": [0.05, 1e9]},
            "epochs": 4}
    iris = dp.datasets.load("iris")  # whose divergence overflows (warned about, unless handled)
    with warnings.catch_warnings():  # nor warned about: a diverged trial is a result
        warnings.simplefilter("error")
        result = sweep(spec, iris.X, iris.y)
    assert len(result.trials) == 8 and result.best is not None
    failed = result.failed
    assert result.trials[-len(failed):] == failed  # last in the ranking
    reasons = {(t.options["optimizer"], t.options["momentum"], t.options["lr"]): t for t in failed}
    assert reasons[("adam", 0.5, 0.05)].error == "momentum is for optimizer='sgd'"  # keywords
    assert reasons[("sgd", 0, 1e9)].stop_reason == "diverged"
    assert reasons[("sgd", 0, 1e9)].error is None
    assert "failed: validation nan (diverged)" in result.table()
    assert "failed: momentum is for optimizer='sgd'" in result.table()


def test_a_network_too_large_for_the_machine_fails_its_trial_before_it_is_built(monkeypatch):
    # 10^12 hidden units: about 10^14 bytes to train, far beyond any machine's memory; refused
    # by its figure (as `deltaprop train` refuses it) instead of allocating until killed
    built = []
    real_mlp = trial_module.MLP
    monkeypatch.setattr(trial_module, "MLP", lambda sizes, **k: built.append(sizes) or real_mlp(sizes, **k))
    X = np.random.default_rng(0).standard_normal((60, 3))
    spec = {"params": {"hidden": ["1000000000000", "4"]}, "epochs": 1}
    result = sweep(spec, X, (X[:, 0] > 0).astype(int))
    (huge,) = result.failed
    assert huge.options == {"hidden": "1000000000000"} and huge.stop_reason == "error"
    assert re.fullmatch(r"hidden '1000000000000' \(6,000,000,000,002 parameters, 45 rows at once\) "
                        r"would need [\d.]+ [TP]iB; this machine has [\d.]+ [KMGT]iB", huge.error)
    assert result.best == {"hidden": "4"} and built == [[3, 4, 2]]  # only the small one was built


def test_when_every_trial_fails_there_is_no_best():
    spec = {"params": {"optimizer": ["sgd"], "lr": [1e9, 1e12]}, "epochs": 3}
    result = sweep(spec, MOONS.X, MOONS.y)
    assert (result.best, result.best_trial, result.best_model) == (None, None, None)
    assert len(result.failed) == 2 and "2 failed" in result.table().splitlines()[0]


def test_a_regression_sweep_ranks_by_r2():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 100.0  # far from zero: the targets are standardized
    result = sweep({"params": {"hidden": ["", "8"], "lr": [0.05]}, "epochs": 40}, X, y)
    assert result.best_model.task == "regress" and set(result.best_trial.held_out) == {"r2", "mse"}
    assert result.best_trial.validation > 0.9
    assert abs(np.mean(result.best_model.predict(X)) - 100.0) < 1.0


@pytest.mark.parametrize("spec, message", [
    ([{"lr": [0.1]}], "needs \"params\""),
    ({"params": {"hiden": ["4"]}}, "cannot search 'hiden' \\(did you mean 'hidden'\\?\\)"),
    ({"params": {"lr": [0.1]}, "epoch": 5}, "no key 'epoch' \\(did you mean 'epochs'\\?\\)"),
    ({"params": {"lr": [0.1]}, 3: 1}, "a sweep spec has no key 3; known"),
    ({"params": {"lr": [0.05, -1.0]}}, "^params.lr must be positive, got -1.0$"),
    ({"params": {"lr": [float("nan")]}}, "params.lr must be a finite number, got nan"),
    ({"params": {"hidden": ["8,x"]}}, "params.hidden takes widths like 128,64; got '8,x'"),
    ({"params": {"activation": ["relux"]}}, "params.activation: unknown activation 'relux'"),
    ({"params": {"lr": 0.1}}, "params.lr must be a non-empty list"),
    ({"params": {"lr": [0.1]}, "epochs": 0}, "^epochs must be at least 1, got 0$"),
    ({"params": {"lr": [0.1]}, "val_fraction": 0}, "val_fraction must be > 0"),
    ({"params": {"lr": [0.1]}, "early_stopping": 3, "val_fraction": 0.5, "epochs": 2.5},
     "epochs must be a whole number, got 2.5"),
    ({"search": "bayes", "params": {"lr": [0.1]}}, "search must be 'grid' or 'random'"),
    ({"params": {"momentum": [0, 0.9]}}, "params.momentum 0.9: momentum is for optimizer='sgd' "
                                         "\\(in every trial that holds it\\)"),
    ({"params": {"loss": ["cross_entropy", "bce"]}}, "params.loss 'bce': loss 'bce' takes two "
                                                     "classes"),
])
def test_bad_specs_are_value_errors_naming_the_key_or_value(spec, message):
    iris = dp.datasets.load("iris")
    with pytest.raises(ValueError, match=message):
        sweep(spec, iris.X, iris.y)


@pytest.mark.parametrize("X, y, keywords, error, message", [
    (MOONS.X[:, 0], MOONS.y, {}, ValueError, "X must be finite numbers of shape"),
    (np.where(MOONS.X > 1, np.nan, MOONS.X), MOONS.y, {}, ValueError, "X must be finite"),
    ([["a", "b"]] * 5, [0, 1, 0, 1, 0], {}, TypeError, "X of numbers"),
    (MOONS.X, MOONS.y[:-1], {}, ValueError, "y must hold a value per row of X \\(200\\)"),
    (MOONS.X, np.zeros(200), {}, ValueError, "single class"),
    (MOONS.X, MOONS.y, {"task": "cluster"}, ValueError, "task must be 'classify', 'regress'"),
    (MOONS.X, MOONS.y + 0.5, {"task": "classify"}, ValueError, "fractional"),
    (MOONS.X, MOONS.y, {"n_jobs": 0}, ValueError, "n_jobs must be None or a nonzero integer"),
])
def test_bad_data_and_arguments_are_named(X, y, keywords, error, message):
    with pytest.raises(error, match=message):
        sweep({"params": {"lr": [0.1]}, "epochs": 1}, X, y, **keywords)


@pytest.mark.parametrize("spec", [
    {"search": "random", "trials": 4, "seed": 2, "test_fraction": 0.2,
     "params": {"hidden": ["4", "8,8"], "activation": ["relu", "tanh"], "lr": [0.02, 0.1],
                "dropout": [0, 0.1], "batch_norm": [False, True]}, "epochs": 10},
    # train's defaults: a quarter held out, seed 0, adam, batches of 32
    {"params": {"hidden": ["4", "8"], "l2": [0, 1e-3]}, "epochs": 5},
    {"params": {"optimizer": ["sgd"], "momentum": [0.5], "loss": ["mse", "cross_entropy"],
                "init": ["xavier"], "batch_size": ["full", 16]}, "epochs": 5,
     "early_stopping": 2, "val_fraction": 0.3},
])
def test_the_same_results_as_the_command_line(spec, tmp_path, capsys):
    X, y = xor(120, seed=3)
    labels = np.where(y == "same", 1, 0)
    rows = ["a,b,label"] + [f"{a!r},{b!r},{c}" for (a, b), c in zip(X.tolist(), labels)]
    (tmp_path / "xor.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "spec.json"), "--data", str(tmp_path / "xor.csv"),
                 "--target", "label", "--out-dir", str(out)]) == 0
    cli_table = capsys.readouterr().out.strip()
    logged = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    result = sweep(spec, X, labels)
    by_options = {json.dumps(r["options"], sort_keys=True): r for r in logged}
    assert len(by_options) == len(result.trials) == 4 and result.best is not None
    for trial in result.trials:
        cli = by_options[json.dumps(trial.options, sort_keys=True)]
        cli.pop("settings")
        assert trial.record() == cli
    assert result.table(everything="results.csv") == cli_table
    np.testing.assert_array_equal(result.best_model.net.theta, dp.load(out / "best.dp").net.theta)


def test_trials_in_parallel_equal_the_serial_ones():
    joblib = pytest.importorskip("joblib")
    spec = {"params": {"hidden": ["4", "8", "16"], "lr": [0.01, 0.05]}, "epochs": 3}
    serial = sweep(spec, MOONS.X, MOONS.y)
    with joblib.parallel_config(backend="threading"):  # finishing in any order (processes: slow)
        parallel = sweep(spec, MOONS.X, MOONS.y, n_jobs=3)
    assert [t.record() for t in parallel.trials] == [t.record() for t in serial.trials]


def test_trials_finishing_in_any_order_rank_the_same(monkeypatch):
    # l2 0 and 0.0 are two trials (their JSON differs) training alike: a tie, ranked in the
    # spec's order however the trials arrive
    spec = {"params": {"l2": [0, 0.0, 1e-3], "hidden": ["4", "8"]}, "epochs": 3}
    serial = sweep(spec, MOONS.X, MOONS.y)
    run_trials = sweep_module.run_trials
    monkeypatch.setattr(sweep_module, "run_trials",
                        lambda *args, **kw: reversed(list(run_trials(*args, **kw))))
    backwards = sweep(spec, MOONS.X, MOONS.y)
    assert [t.record() for t in backwards.trials] == [t.record() for t in serial.trials]
    np.testing.assert_array_equal(backwards.best_model.net.theta, serial.best_model.net.theta)
    tied = [t.options for t in serial.trials if t.options["hidden"] == serial.best["hidden"]
            and t.options["l2"] == 0]
    assert tied == [dict(serial.best, l2=0), dict(serial.best, l2=0.0)]


def test_a_trial_record_round_trips():
    trial = SweepTrial({"lr": 0.1}, 0.5, {"accuracy": 0.4}, 3, "epochs", seconds=1.5)
    assert SweepTrial.from_record(json.loads(json.dumps(trial.record()))) == SweepTrial(
        {"lr": 0.1}, 0.5, {"accuracy": 0.4}, 3, "epochs")
    failed = SweepTrial.failure({"lr": 0.1}, "too big")
    assert failed.failed and failed.record()["error"] == "too big" and failed.score == -np.inf


def test_the_defaults_a_sweep_leaves_alone_are_deltaprop_trains():
    defaults = vars(build_parser().parse_args(["train"]))
    assert library_options.DEFAULTS == {name: defaults[name] for name in library_options.DEFAULTS}


def test_deltaprop_train_takes_its_rules_and_steps_from_the_library():
    """One owner: cli.train's rules ARE the library's (its own options' rules on top), and it
    defines no function of the library's options or trial under its own name (a copy regrown)."""
    from deltaprop.cli import train

    assert all(train.RULES[name] is rule for name, rule in library_options.RULES.items())
    assert set(train.RULES) - set(library_options.RULES) == {"restarts", "n_jobs", "checkpoint_every"}
    assert train.PARSERS is library_options.PARSERS

    def functions(module):
        return {name for name, value in vars(module).items()
                if inspect.isfunction(value) and value.__module__ == module.__name__}

    library = functions(library_options) | functions(trial_module)
    assert functions(train) and not functions(train) & library
    for name in ("MAX_HIDDEN_LAYERS", "DEFAULT_LOSS", "CLASSIFYING", "REGRESSION_ONLY"):
        for own in (name, "_" + name):  # the library's constant, if it names it at all
            assert getattr(train, own, getattr(library_options, name)) is getattr(library_options, name)


@pytest.mark.parametrize("wording, messages", [
    (library_options.KEYWORDS,
     ["loss 'cross_entropy' is for classification; to regress use squared_error",
      "loss 'poisson' is for regression on counts, not class labels$",
      "loss 'bce' takes two classes \\(on one sigmoid output\\); y has 3: use cross_entropy",
      "5 samples leave 1 for training; lower test_fraction$",
      "momentum is for optimizer='sgd'$",
      "early_stopping needs val_fraction \\(a validation split to watch\\)$",
      "hidden '100,7' \\(1,123 parameters, 64 rows at once\\) would need 138 KiB; this machine has 1 KiB$"]),
    (library_options.FLAGS,
     ["--loss cross_entropy is for classification; for --task regress use squared_error",
      "--loss poisson is for regression on counts, not class labels; drop --task classify",
      "--loss bce takes two classes \\(on one sigmoid output\\); the target has 3: use",
      "5 samples leave 1 for training; lower --test-fraction$",
      "--momentum is for --optimizer sgd$",
      "--early-stopping needs --val-fraction \\(a validation split to watch\\)$",
      "--hidden 100,7 \\(1,123 parameters, 64 rows at once\\) would need 138 KiB; this machine has 1 KiB$"]),
])
def test_one_message_for_each_rule_worded_as_the_caller_names_things(wording, messages):
    three = np.array(["a", "b", "c"])
    calls = [lambda: library_options.task_loss("cross_entropy", "regress", None, wording),
             lambda: library_options.task_loss("poisson", "classify", three, wording),
             lambda: library_options.task_loss("bce", "classify", three, wording),
             lambda: trial_module.held_out_rows(5, 0.8, 0, wording),
             lambda: library_options.check_combination({"optimizer": "adam", "momentum": 0.9},
                                                       wording),
             lambda: library_options.check_combination({"early_stopping": 3}, wording),
             lambda: library_budget.check_network_fits([3, 100, 7, 2], 64, 16, "100,7",
                                                       wording=wording, available=1024)]
    for call, message in zip(calls, messages):
        with pytest.raises(ValueError, match=f"^{message}"):
            call()
    assert library_options.task_loss(None, "classify", three, wording) == "cross_entropy"
    assert library_options.task_loss(None, "regress", None, wording) == "squared_error"


def test_the_estimator_route_grid_search_cv():
    """scikit-learn's GridSearchCV over deltaprop's MLPClassifier: cross-validated, with
    scikit-learn's parameter names."""
    model_selection = pytest.importorskip("sklearn.model_selection")
    from deltaprop.sklearn import MLPClassifier

    search = model_selection.GridSearchCV(
        MLPClassifier(max_iter=40, random_state=0),
        {"hidden_layer_sizes": [(2,), (16,)], "learning_rate_init": [1e-4, 0.05]}, cv=2)
    search.fit(MOONS.X, MOONS.y)
    assert search.best_params_ == {"hidden_layer_sizes": (16,), "learning_rate_init": 0.05}
    assert search.best_estimator_.score(MOONS.X, MOONS.y) > 0.9
    assert len(search.cv_results_["mean_test_score"]) == 4


def test_trials_on_a_dask_cluster_equal_the_serial_ones():
    distributed = pytest.importorskip("distributed")
    spec = {"params": {"hidden": ["4", "8"]}, "epochs": 3}
    serial = [t.record() for t in sweep(spec, MOONS.X, MOONS.y).trials]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:  # a client, or the scheduler's address
            assert [t.record() for t in sweep(spec, MOONS.X, MOONS.y, scheduler=client).trials] == serial
        by_address = sweep(spec, MOONS.X, MOONS.y, scheduler=cluster.scheduler_address)
        assert [t.record() for t in by_address.trials] == serial
