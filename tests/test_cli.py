"""The command line, run in-process through main(argv) (and a few real subprocesses): every
command of README.md, file round trips, ONNX parity, the progress output and the exit codes."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.callbacks import progress
from deltaprop.callbacks.progress import ProgressBar, ProgressPrinter, progress_callback
from deltaprop.cli import budget, main
from deltaprop.cli.parser import build_parser
from deltaprop.data.tables import read_table

README = Path(__file__).resolve().parents[1] / "README.md"
SPECIES = np.array(["setosa", "versicolor", "virginica"])


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder holding iris.csv (string labels, a text feature) and new.csv (no target)."""
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_iris

    iris = load_iris()
    header = [*iris.feature_names, "site", "species"]
    rows = [[*map(float, x), "north" if i % 2 else "south", SPECIES[t]]
            for i, (x, t) in enumerate(zip(iris.data, iris.target))]
    for name, drop in (("iris.csv", False), ("new.csv", True)):
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(header[:-1] if drop else header)
            writer.writerows([row[:-1] if drop else row for row in rows])
    json_block = README.read_text(encoding="utf-8").split("```json", 1)[1].split("```", 1)[0]
    (tmp_path / "spec.json").write_text(json_block)  # the README's own sweep spec
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(argv, capsys):
    """(exit code, stdout, stderr) of ``deltaprop argv``."""
    code = main(shlex.split(argv) if isinstance(argv, str) else argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def readme_commands() -> list[str]:
    block = README.read_text(encoding="utf-8").split("## Command line", 1)[1].split("```bash", 1)[1]
    return [line for line in block.split("```", 1)[0].splitlines() if line.startswith("deltaprop ")]


def test_every_command_in_the_readme_runs(workdir, capsys):
    commands = readme_commands()
    assert len(commands) >= 10
    for command in commands:
        code, out, err = run(command.removeprefix("deltaprop "), capsys)
        assert code == 0, f"{command}\n{err}"
    for produced in ("moons.dp", "boundary.png", "loss.png", "gradnorm.png", "moons.onnx", "iris.dp",
                     "iris.json", "predictions.csv", "iris-loss.png", "sine.dp", "sine.png",
                     "sweep/best.dp", "sweep/results.csv"):
        assert (workdir / produced).stat().st_size > 0, produced


def test_train_alone_is_the_digits_demo_and_keeps_its_model(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(progress, "HEARTBEAT_SECONDS", math.inf)  # the epoch rule alone
    code, out, err = run("train", capsys)
    assert code == 0
    accuracy = float(re.search(r"held-out accuracy (\d\.\d+)", out).group(1))
    assert accuracy >= 0.97
    assert "trained 64-128-10 (relu, softmax) for 30 epochs in" in out
    assert "model written to digits.dp\n" in out and (tmp_path / "digits.dp").stat().st_size > 0
    # off a terminal: the first epoch, every third (about ten lines a run), the last
    assert epochs_printed(err) == [1, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]


def epochs_printed(err: str) -> list[int]:
    """The epochs of the progress lines on stderr (nothing else may be there)."""
    lines = err.strip().splitlines()
    assert all(line.startswith("epoch ") for line in lines), err
    return [int(line.split()[1]) for line in lines]


def test_csv_round_trip_train_evaluate_predict_info(workdir, capsys):
    code, out, _ = run("train --data iris.csv --target species --one-hot --hidden 16 --lr 0.01 "
                       "--epochs 150 --out iris.dp --json --quiet", capsys)
    assert code == 0
    report = json.loads(out)
    assert report["task"] == "classify" and report["held_out"]["accuracy"] >= 0.9
    model = dp.load("iris.dp")
    assert model.classes.tolist() == SPECIES.tolist()
    assert model.feature_names[-2:] == ["site=north", "site=south"]
    code, out, _ = run("evaluate iris.dp --data iris.csv --one-hot --json", capsys)
    assert code == 0 and json.loads(out)["accuracy"] >= 0.9
    code, out, _ = run("predict iris.dp --data new.csv", capsys)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["prediction", "p(setosa)", "p(versicolor)", "p(virginica)"]
    assert len(rows) == 151 and {row[0] for row in rows[1:]} <= set(SPECIES)
    probabilities = np.array([[float(v) for v in row[1:]] for row in rows[1:]])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    code, out, _ = run("info iris.dp --json", capsys)
    info = json.loads(out)
    assert info["classes"] == SPECIES.tolist() and info["parameters"] == model.net.n_parameters
    assert info["held_out"]["accuracy"] == report["held_out"]["accuracy"]


def test_regression_predicts_in_the_targets_units(workdir, capsys):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, (300, 2))
    y = 1.7e9 + 50 * x[:, 0] - 20 * x[:, 1]  # an offset float32 could not carry to the unit
    with open("lin.csv", "w", encoding="utf-8") as stream:
        stream.write("a,b,price\n" + "".join(f"{a},{b},{t}\n" for (a, b), t in zip(x, y)))
    code, out, _ = run("train --data lin.csv --target price --hidden 8 --lr 0.01 --epochs 200 "
                       "--out lin.dp --quiet --json", capsys)
    assert code == 0 and json.loads(out)["task"] == "regress"
    code, out, _ = run("predict lin.dp --data lin.csv", capsys)
    predictions = np.array([float(row[0]) for row in list(csv.reader(io.StringIO(out)))[1:]])
    assert np.abs(predictions - y).mean() < 0.05 * y.std()
    ort = pytest.importorskip("onnxruntime")  # the export carries the target scaling
    assert run("export lin.dp --onnx lin.onnx", capsys)[0] == 0
    session = ort.InferenceSession("lin.onnx", providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {"X": x.astype(np.float32)})
    np.testing.assert_allclose(onnx_out[:, 0], predictions, rtol=1e-6)  # float32: 1.7e9 +- 128


def test_review_findings_stay_fixed(workdir, capsys):
    # Restarts in worker processes while progress lines go to a pipe (not a terminal).
    code, out, _ = run("train --data moons --restarts 3 --n-jobs 2 --epochs 3 --json --out r.dp",
                       capsys)
    assert code == 0
    # With restarts the held-out part is not shown to the runs (it would choose the winner).
    history = dp.load("r.dp").net.history
    assert history.val_loss == [] and all(r["val_loss"] is None for r in history.restarts)
    # Labels read as numbers at evaluation match the same labels read as text in training.
    (workdir / "mixed.csv").write_text("a,b,label\n" + "".join(
        f"{i % 7},{i % 5},{['1', '2', 'x'][i % 3]}\n" for i in range(60)))
    (workdir / "numbers.csv").write_text("a,b,label\n" + "".join(
        f"{i % 7},{i % 5},{[1, 2][i % 2]}\n" for i in range(20)))
    assert run("train --data mixed.csv --target label --epochs 2 --quiet --out mixed.dp", capsys)[0] == 0
    assert run("evaluate mixed.dp --data numbers.csv", capsys)[0] == 0
    # Embedded datasets are matched to the model's columns by name, not position.
    moons = dp.datasets.load("moons")
    (workdir / "swapped.csv").write_text("x2,x1,class\n" + "".join(
        f"{b},{a},{c}\n" for (a, b), c in zip(moons.X, moons.y)))
    assert run("train --data swapped.csv --target class --hidden 16 --lr 0.01 --epochs 100 --quiet "
               "--out swapped.dp", capsys)[0] == 0
    on_file = json.loads(run("evaluate swapped.dp --data swapped.csv --json", capsys)[1])
    on_name = json.loads(run("evaluate swapped.dp --data moons --json", capsys)[1])
    assert on_file["accuracy"] == on_name["accuracy"] > 0.8
    # gradcheck of a ReLU model checks on the model's own data by default, and passes.
    assert run("train --data moons --epochs 5 --quiet --out relu.dp", capsys)[0] == 0
    assert run("gradcheck relu.dp", capsys)[0] == 0
    # A boundary plot of a regression model is refused, naming the flag.
    assert run("train --data sine --epochs 2 --quiet --out sine.dp", capsys)[0] == 0
    code, _, err = run("plot sine.dp --kind boundary --out b.png", capsys)
    assert code == 2 and "--kind boundary draws a classify model" in err


def test_a_diverged_run_writes_no_model_and_says_why(workdir, capsys):
    (workdir / "good.dp").write_bytes(b"the user's earlier model")
    code, out, err = run("train --data moons --optimizer sgd --lr 1e6 --epochs 5 --out good.dp",
                         capsys)
    assert code == 1 and "diverged" in out and "smaller learning rate" in out
    assert "no model was written" in out and "Warning" not in err
    assert (workdir / "good.dp").read_bytes() == b"the user's earlier model"


def test_exported_onnx_matches_the_model_with_its_scaling(workdir, capsys):
    ort = pytest.importorskip("onnxruntime")
    assert run("train --data iris.csv --target species --one-hot --epochs 20 --out iris.dp --quiet",
               capsys)[0] == 0
    assert run("export iris.dp --onnx iris.onnx", capsys)[0] == 0
    model = dp.load("iris.dp")
    X = read_table("new.csv").features(model.feature_names, model.categories)
    session = ort.InferenceSession("iris.onnx", providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {session.get_inputs()[0].name: X.astype(np.float32)})
    np.testing.assert_allclose(onnx_out, model.predict_proba(read_table("new.csv")), atol=1e-5)
    props = session.get_modelmeta().custom_metadata_map  # what a user of the file needs to know
    assert json.loads(props["output_columns"]) == SPECIES.tolist()
    assert json.loads(props["feature_names"]) == model.feature_names and props["task"] == "classify"


def test_a_crashed_run_resumes_to_the_uninterrupted_weights(workdir, capsys, monkeypatch):
    options = "train --data sine --epochs 10 --batch-size 16 --val-fraction 0.2 --quiet"
    assert run(f"{options} --out whole.dp", capsys)[0] == 0
    from deltaprop.training import loop as trainer

    run_epoch = trainer.Trainer._run_epoch

    def crash_in_epoch_7(self, epoch):
        if epoch == 7:
            raise RuntimeError("power cut")
        return run_epoch(self, epoch)

    monkeypatch.setattr(trainer.Trainer, "_run_epoch", crash_in_epoch_7)
    with pytest.raises(RuntimeError, match="power cut"):
        run(f"{options} --out cut.dp --checkpoint-every 3", capsys)
    monkeypatch.setattr(trainer.Trainer, "_run_epoch", run_epoch)
    assert not (workdir / "cut.dp").exists()
    checkpoint = dp.load("cut.dp.ckpt")  # a usable model too, as of epoch 6
    assert checkpoint.net.history.n_epochs == 6
    (workdir / "elsewhere").mkdir()
    monkeypatch.chdir(workdir / "elsewhere")  # paths in the checkpoint are absolute
    code, out, _ = run("resume ../cut.dp.ckpt --json", capsys)
    assert code == 0 and json.loads(out)["epochs"] == 10
    monkeypatch.chdir(workdir)
    whole, resumed = dp.load("whole.dp"), dp.load("cut.dp")
    np.testing.assert_array_equal(resumed.net.theta, whole.net.theta)
    assert resumed.net.history.loss == whole.net.history.loss


def test_ctrl_c_saves_the_weights_kept_and_exits_130(workdir, capsys, monkeypatch):
    import os
    import signal

    from deltaprop.training import loop as trainer

    run_epoch = trainer.Trainer._run_epoch

    def interrupted_in_epoch_3(self, epoch):
        if epoch == 3:
            os.kill(os.getpid(), signal.SIGINT)  # arrives during the epoch's first step
        return run_epoch(self, epoch)

    monkeypatch.setattr(trainer.Trainer, "_run_epoch", interrupted_in_epoch_3)
    code, out, _ = run("train --data moons --epochs 20 --quiet --out moons.dp", capsys)
    assert code == 130 and "interrupted (Ctrl-C) in epoch 3" in out and "model written" in out
    assert dp.load("moons.dp").net.history.stop_reason == "interrupted"


def test_resume_refuses_a_finished_model(workdir, capsys):
    assert run("train --data xor --epochs 2 --quiet --out xor.dp", capsys)[0] == 0
    code, _, err = run("resume xor.dp", capsys)
    assert code == 2 and "not a checkpoint" in err


def test_gradcheck_fails_with_exit_code_1(monkeypatch, capsys):
    failing = dp.GradcheckReport(errors={"layers.0.W": 0.5})
    monkeypatch.setattr(dp, "gradcheck", lambda *args, **kwargs: failing)
    code, out, _ = run("gradcheck --json", capsys)
    assert code == 1 and json.loads(out)["passed"] is False


def test_datasets_lists_every_embedded_dataset(capsys):
    code, out, _ = run("datasets --json", capsys)
    names = [row["name"] for row in json.loads(out)["datasets"]]
    assert code == 0 and set(names) == set(dp.datasets.names()) and len(names) == 14


@pytest.mark.parametrize("argv, message", [
    ("train --data iris.csv", "name the target column with --target"),
    ("train --data iris.csv --target colour", "colour"),
    ("train --data iris.csv --target species", "'site' holds text"),
    ("train --data nowhere.csv --target y", "neither a file nor an embedded dataset"),
    ("train --data moons --hidden 16,x", "--hidden takes widths"),
    ("train --data moons --activation swish", "unknown activation 'swish'; valid names"),
    ("train --data moons --lr -1", "lr must be"),
    ("train --data moons --dropout 1.5", "dropout"),
    ("train --data moons --epochs 0", "epochs must be"),
    ("train --data moons --batch-size big", "--batch-size takes"),
    ("train --data moons --no-save --checkpoint-every 2",
     "--checkpoint-every with --no-save needs --checkpoint FILE"),
    ("train --data moons --checkpoint-every 0 --out m.dp", "--checkpoint-every must be at least 1"),
    ("train --data moons --checkpoint-every 2 --out m.dp --restarts 2", "does not cover --restarts"),
    ("train --data moons --out nodir/m.dp", "does not exist"),
    ("train --data moons --momentum 0.9", "--momentum is for --optimizer sgd"),
    ("train --data moons --seed -1", "--seed must be >= 0"),
    ("train --data sine --loss cross_entropy", "--loss cross_entropy is for classification"),
    ("train --data moons --loss hinge", "unknown loss 'hinge'"),  # FitOptions's own message
    ("train --data moons --n-jobs 0", "n-jobs must not be 0"),
    ("train --data moons --hidden 4,,4", "--hidden '4,,4': hidden layer 2 has no width"),
    ("train --data moons --hidden 4,", "--hidden '4,': hidden layer 2 has no width"),
    ("train --data moons --hidden ,4", "--hidden ',4': hidden layer 1 has no width"),
    ("train --data moons --init foo", "--init: unknown init 'foo'"),
    ("gradcheck --rows 0", "--rows must be at least 1"),
    ("gradcheck --seed -1", "--seed must be >= 0, got -1"),
    ("train --data moons --early-stopping 3", "--early-stopping needs --val-fraction"),
    ("train --data moons --target y", "--target is for data files"),
    ("train --data sine --task classify", "holds fractional numbers"),
    ("train --data iris.csv --target species --one-hot --task regress", "holds text"),
    ("train --data iris.csv --target species --one-hot --loss cross_entropy --task regress",
     "holds text"),
    ("evaluate missing.dp --data moons", "no model file"),
    ("evaluate iris.csv --data moons", "not a deltaprop model file"),
    ("plot moons --out x.png", "no model file|not a deltaprop"),
])
def test_bad_input_exits_2_with_one_line_naming_the_problem(workdir, capsys, argv, message):
    code, out, err = run(argv, capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err


# Every loss name (aliases and case too) against every task: trained with the outputs the
# loss needs, or refused in one line naming the loss and what to use.
_LOSS_NAMES = ("squared_error", "sse", "mse", "cross_entropy", "log_loss",
               "categorical_cross_entropy", "binary_cross_entropy", "bce", "BCE", "Log_Loss")
_CLASSIFYING = {"cross_entropy", "log_loss", "categorical_cross_entropy", "binary_cross_entropy",
                "bce", "BCE", "Log_Loss"}
_BINARY = {"binary_cross_entropy", "bce", "BCE"}


def _loss_task_outcome(loss, data, task):
    """(outputs of the trained network, or None) and the message expected otherwise."""
    if task == "regress" and loss in _CLASSIFYING:
        return None, f"--loss {loss} is for classification; for --task regress use squared_error"
    n_classes = {"moons": 2, "iris": 3}[data] if task == "classify" else 0
    if loss in _BINARY and n_classes != 2:
        return None, (f"--loss {loss} takes two classes \\(on one sigmoid output\\); the target "
                      f"has {n_classes}: use cross_entropy")
    return (1 if loss in _BINARY else n_classes or 1), None


@pytest.mark.parametrize("loss", _LOSS_NAMES)
@pytest.mark.parametrize(("data", "task"), [("moons", "classify"), ("iris", "classify"),
                                            ("moons", "regress")])
def test_every_loss_trains_every_task_or_is_refused_naming_it(loss, data, task, tmp_path, capsys):
    outputs, message = _loss_task_outcome(loss, data, task)
    code, _, err = run(["train", "--data", data, "--task", task, "--loss", loss, "--epochs", "1",
                        "--hidden", "3", "--quiet", "--out", str(tmp_path / "m.dp")], capsys)
    if message is not None:
        assert code == 2 and len(err.strip().splitlines()) == 1 and re.search(message, err), err
        return
    assert code == 0, err
    model = dp.load(tmp_path / "m.dp")
    assert model.net.n_outputs == outputs
    X, y = dp.datasets.load(data).X, dp.datasets.load(data).y
    if task == "classify":
        assert set(model.predict(X)) <= set(y)
    if loss in _CLASSIFYING and task == "classify":  # one sigmoid output gives both columns
        probabilities = model.predict_proba(X)
        assert probabilities.shape[1] == {"moons": 2, "iris": 3}[data]
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)


def test_binary_cross_entropy_learns_two_classes_on_one_output(tmp_path, capsys):
    code, out, err = run(["train", "--data", "moons", "--loss", "bce", "--epochs", "40", "--lr",
                          "0.01", "--quiet", "--json", "--out", str(tmp_path / "m.dp")], capsys)
    report = json.loads(out)
    assert code == 0 and report["loss"] == "binary_cross_entropy" and report["held_out"]["accuracy"] > 0.8
    model = dp.load(tmp_path / "m.dp")
    assert model.net.output_layer.activation.name == "sigmoid"
    moons = dp.datasets.load("moons")
    assert np.mean(model.predict(moons.X) == moons.y) > 0.8  # labels, and the right ones


def test_the_command_line_trains_with_fit_options_made_once():
    from deltaprop.cli.parser import build_parser
    from deltaprop.cli.train import fit_options

    args = build_parser().parse_args(shlex.split(
        "train --data moons --optimizer sgd --lr 0.1 --momentum 0.9 --epochs 7 --batch-size full "
        "--l2 0.01 --val-fraction 0.2 --early-stopping 3 --n-jobs 2 --checkpoint-every 2 --out m.dp"))
    written = fit_options(args, "cross_entropy").to_dict()
    assert written["optimizer"]["class"] == "SGD"
    assert written["optimizer"]["params"] == {"lr": 0.1, "momentum": 0.9, "nesterov": False,
                                              "clip_norm": None}
    assert {name: written[name] for name in (
        "loss", "epochs", "batch_size", "l2", "validation_fraction", "early_stopping", "restarts",
        "n_jobs", "checkpoint", "checkpoint_every")} == {
        "loss": "cross_entropy", "epochs": 7, "batch_size": "full", "l2": 0.01,
        "validation_fraction": 0.2, "early_stopping": 3, "restarts": 1, "n_jobs": 2,
        "checkpoint": "m.dp.ckpt", "checkpoint_every": 2}


def test_bad_input_against_a_trained_model(workdir, capsys):
    assert run("train --data iris.csv --target species --one-hot --epochs 5 --out iris.dp --quiet",
               capsys)[0] == 0
    (workdir / "renamed.csv").write_text(
        (workdir / "iris.csv").read_text().replace("sepal length", "sepal size"))
    (workdir / "unknown.csv").write_text((workdir / "iris.csv").read_text().replace("setosa", "rosa"))
    for argv, message in [("predict iris.dp --data renamed.csv", "sepal length"),
                          ("evaluate iris.dp --data unknown.csv", "never appeared in training"),
                          ("evaluate iris.dp --data moons", "lacks the model.s feature column"),
                          ("gradcheck iris.dp --data nowhere.csv",  # not random rows instead
                           "neither a file nor an embedded dataset")]:
        code, _, err = run(argv, capsys)
        assert code == 2 and re.search(message, err), err
    (workdir / "broken.dp").write_bytes((workdir / "iris.dp").read_bytes()[:100])
    code, _, err = run("info broken.dp", capsys)
    assert code == 2 and "truncated" in err


@pytest.mark.parametrize("argv, message", [
    ("train --task cluster", r"^deltaprop train: error: argument --task: invalid choice: 'cluster'.*"
                             r" \(try: deltaprop train --help\)$"),
    ("train --hiden 16", r"^deltaprop train: error: unknown option --hiden; did you mean --hidden\? "
                         r"\(try: deltaprop train --help\)$"),
    ("train --epochs ten", r"argument --epochs: invalid int value: 'ten' \(try: deltaprop train"),
    ("train --epochs", r"argument --epochs: expected one argument \(try: deltaprop train"),
    ("evaluate", r"^deltaprop evaluate: error: the following arguments are required: model, --data"),
    ("predict m.dp --data x.csv --out", r"argument --out: expected one argument"),
    ("gradcheck --rows 1e3", r"argument --rows: invalid int value: '1e3'"),
    ("teach", r"^deltaprop: error: unknown command teach \(the commands: train, sweep, .*, "
              r"playground\) \(try: deltaprop --help\)$"),
    ("--verbose", r"^deltaprop: error: --verbose is an option of playground: give it after the "
                  r"command \(try: deltaprop --help\)$"),
    ("train --data xor extra", r"^deltaprop train: error: unrecognized arguments: extra"),
    ("plot h.json --kind pie --out p.png", r"argument --kind: invalid choice: 'pie'"),
])
def test_bad_usage_is_one_line_with_the_way_to_the_help_and_exit_2(capsys, argv, message):
    code, out, err = run(argv, capsys)  # main returns argparse's exit code: no SystemExit
    assert code == 2 and out == "", err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err.strip()), err
    assert "usage:" not in err


def test_help_still_prints_the_usage_and_exits_0(capsys):
    code, out, _ = run("train --help", capsys)
    assert code == 0 and out.startswith("usage: deltaprop train") and "--hidden" in out


def test_quiet_prints_no_progress(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run("train --data xor --epochs 3 --quiet", capsys)
    assert code == 0 and err == ""
    assert "model written to xor.dp" in out and "next, try" not in out  # the result, no tips


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_and_anything_else_lines():
    pytest.importorskip("tqdm")
    assert isinstance(progress_callback(5, FakeTerminal()), ProgressBar)
    assert not isinstance(progress_callback(5, io.StringIO()), ProgressBar)
    terminal = FakeTerminal()
    X, y = dp.datasets.load("moons").X, dp.datasets.load("moons").y
    dp.MLP([2, 8, 2], seed=0).fit(X, y, loss="cross_entropy", epochs=4, batch_size=8,
                                  validation_fraction=0.2, callbacks=[ProgressBar(4, terminal)])
    drawn = terminal.getvalue()
    assert "\r" in drawn and "4/4" in drawn and "val_accuracy" in drawn


# -- a newcomer's first commands: help, version, typos, progress, the summary ----------------------
def test_bare_deltaprop_prints_the_help_and_exits_0(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run([], capsys)
    assert code == 0 and err == "" and out.startswith("usage: deltaprop")
    assert "Start with: deltaprop train" in " ".join(out.split()) and "playground" in out
    assert list(tmp_path.iterdir()) == []  # nothing trained, nothing written


def test_version_prints_the_version(capsys):
    code, out, err = run("--version", capsys)
    assert code == 0 and out == f"deltaprop {dp.__version__}\n" and err == ""


@pytest.mark.parametrize("name", [None, *build_parser().commands])
def test_every_option_of_every_command_has_help_and_its_default_in_the_help(name, capsys):
    top = build_parser()
    parser = top if name is None else top.commands[name]
    code, out, _ = run([] if name is None else [name, "--help"], capsys)
    text = " ".join(out.split())  # the lines argparse wrapped, joined again
    assert code == 0 and text.startswith(f"usage: deltaprop {name or ''}".strip())
    formatter = parser._get_formatter()
    for action in parser._actions:
        assert action.help, f"{name}: {action.option_strings or action.dest} has no help text"
        shown = " ".join(formatter._expand_help(action).split())  # its help as --help prints it
        assert shown in text
        unset = action.default is None or action.default is False or action.default == "==SUPPRESS=="
        if action.option_strings and not unset:  # 0 and 0.0 are defaults to show
            assert shown.endswith(f"(default: {action.default})"), (name, action.option_strings)


def test_trains_help_shows_the_defaults_a_newcomer_meets(capsys):
    text = " ".join(run("train --help", capsys)[1].split())
    for shown in ("--data DATA a data file or an embedded dataset name (default: digits)",
                  "('' for none) (default: 128)", "(default: relu)", "update rule (default: adam)",
                  "learning rate (default: 0.001)", "passes over the training rows (default: 30)",
                  "a size, or 'full' (default: 32)", "--no-save write no model file",
                  "digits.dp for digits, data.dp for data.csv"):
        assert shown in text, shown


@pytest.mark.parametrize("argv, message", [
    ("train --hiden 16", "deltaprop train: error: unknown option --hiden; did you mean --hidden?"),
    ("train --lr 0.1 --batchsize 8", "unknown option --batchsize; did you mean --batch-size?"),
    ("train --activaton=tanh", "unknown option --activaton; did you mean --activation?"),
    ("evaluate m.dp --dta x.csv", "deltaprop evaluate: error: unknown option --dta; did you mean "
                                  "--data?"),  # named before argparse's "--data is required"
    ("trian --data xor", "deltaprop: error: unknown command trian; did you mean train?"),
    ("evalute m.dp --data xor", "unknown command evalute; did you mean evaluate?"),
    ("--hidden 16 train", "--hidden is an option of train: give it after the command"),
    ("train --zzzzzz", "deltaprop train: error: unknown option --zzzzzz (try: deltaprop train --help)"),
])
def test_a_mistyped_option_or_command_is_named_with_the_closest_valid_one(tmp_path, monkeypatch,
                                                                          capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(argv, capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and message in err, err
    assert "usage:" not in err and list(tmp_path.iterdir()) == []


def test_options_argparse_accepts_are_not_taken_for_typos(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # an abbreviation, negative numbers, --opt=value
    code, out, err = run("train --data=xor --hid 4 --epochs 1 --n-jobs -1 --seed 0 --no-save "
                         "--quiet", capsys)
    assert code == 0, err


class Run:
    """What a ProgressPrinter reads of a run."""

    def __init__(self, epochs: int) -> None:
        self.epochs, self.stop_reason = epochs, None


def printed_by(printer: ProgressPrinter, epochs: int, seconds_per_epoch: float,
               stop_at: int | None = None) -> list[int]:
    """The epochs ``printer`` prints a line for, in a run of ``epochs`` (stopped at ``stop_at``)
    whose epochs each take ``seconds_per_epoch`` on the run's clock."""
    run_view = Run(epochs)
    printer.on_train_begin(run_view)
    for epoch in range(1, epochs + 1):
        run_view.stop_reason = "early_stopping" if epoch == stop_at else None
        printer.on_epoch_end(run_view, epoch, {"loss": 0.5, "lr": 0.1, "time": epoch * seconds_per_epoch})
        if run_view.stop_reason:
            break
    return epochs_printed(printer.stream.getvalue())


def test_the_printer_prints_each_epoch_on_a_terminal_and_a_few_lines_elsewhere():
    assert printed_by(ProgressPrinter(FakeTerminal()), 25, 0.01) == list(range(1, 26))
    assert printed_by(ProgressPrinter(FakeTerminal(), every=5), 25, 0.01) == [5, 10, 15, 20, 25]
    # off a terminal: about ten lines, ceil(25 / 10) = 3 epochs apart, and the first and last
    assert printed_by(ProgressPrinter(io.StringIO()), 25, 0.01) == [1, 3, 6, 9, 12, 15, 18, 21, 24, 25]
    assert printed_by(ProgressPrinter(io.StringIO()), 4, 0.01) == [1, 2, 3, 4]
    assert printed_by(ProgressPrinter(io.StringIO(), log_every=1), 25, 0.01) == list(range(1, 26))
    assert printed_by(ProgressPrinter(io.StringIO()), 100, 0.01, stop_at=37) == [1, 10, 20, 30, 37]
    # slow epochs: a line at least every HEARTBEAT_SECONDS of training (here: each epoch)
    slow = progress.HEARTBEAT_SECONDS + 1
    assert printed_by(ProgressPrinter(io.StringIO()), 12, slow) == list(range(1, 13))
    # epochs of 12 s, 30 s between lines at most: 1 (12 s), 4 (48 s), 7, 10 (also the grid)
    assert printed_by(ProgressPrinter(io.StringIO()), 100, 12.0)[:5] == [1, 4, 7, 10, 13]
    with pytest.raises(ValueError, match="log_every must be an integer > 0"):
        ProgressPrinter(log_every=0)


def test_fit_verbose_prints_through_the_same_printer(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(progress, "HEARTBEAT_SECONDS", math.inf)
    moons = dp.datasets.load("moons")
    dp.MLP([2, 4, 2], seed=0).fit(moons.X, moons.y, loss="cross_entropy", epochs=50, verbose=True)
    assert epochs_printed(stream.getvalue()) == [1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50]


def test_off_a_terminal_a_long_run_prints_a_handful_of_lines(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the README's moons command, as a log or a pipe sees it
    code, out, err = run("train --data moons --hidden 16,16 --activation tanh --lr 0.01 "
                         "--epochs 200 --json", capsys)
    report = json.loads(out)
    assert code == 0 and report["model"] == "moons.dp"
    assert report["architecture"] == "2-16-16-2, tanh, softmax"
    printed, grid = epochs_printed(err), [1, *range(20, 201, 20)]
    assert set(grid) <= set(printed)
    # beyond those, a line only after HEARTBEAT_SECONDS of training without one
    assert len(printed) <= len(grid) + report["seconds"] // progress.HEARTBEAT_SECONDS


def test_the_summary_says_epochs_in_words(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("train --data xor --epochs 1 --quiet", capsys)
    assert code == 0 and "trained 2-128-2 (relu, softmax) for 1 epoch in " in out
    assert "epochs" not in out and "(epochs" not in out  # no plural of one, no reason code
    code, out, _ = run("info xor.dp", capsys)
    assert "trained 1 epoch on xor," in out and "(epochs)" not in out
    code, out, _ = run("train --data moons --epochs 200 --lr 0.05 --val-fraction 0.3 "
                       "--early-stopping 2 --hidden 4 --batch-norm --dropout 0.1 --quiet", capsys)
    lines = out.splitlines()
    assert code == 0 and "trained 2-4-2 (relu, batch norm, dropout 0.1, softmax) for " in lines[1]
    assert lines[2].startswith("stopped early after epoch ")  # a stop other than the plain end


@pytest.mark.parametrize("launcher", [[sys.executable, "-m", "deltaprop"],
                                      [str(Path(sys.executable).with_name("deltaprop"))]])
def test_real_processes(launcher, tmp_path):
    if not Path(launcher[0]).exists():
        pytest.skip("the deltaprop script is not installed next to this Python")
    done = subprocess.run([*launcher, "train", "--data", "xor", "--epochs", "2", "--json"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"] == "xor"
    failed = subprocess.run([*launcher, "evaluate", "nothing.dp", "--data", "xor"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1


# -- every file that holds a network ---------------------------------------------------------------
def cli_csv(argv, capsys):
    """(header, rows) of a command's CSV output."""
    code, out, err = run(argv, capsys)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    return rows[0], rows[1:]


@pytest.fixture
def every_kind(workdir, capsys):
    """A file of every kind, and the data and target column to use it on: {name: (data, target)}."""
    from sklearn.datasets import load_iris

    from deltaprop.sklearn import MLPClassifier, MLPRegressor

    X, codes = load_iris(return_X_y=True)
    y = X @ [0.5, -1.0, 2.0, 0.3]
    targets = {"label": codes.tolist(), "value": y.tolist(), "species": SPECIES[codes].tolist()}
    for target, values in targets.items():
        with open(f"{target}.csv", "w", encoding="utf-8") as stream:  # four numbers and a target
            stream.write(f"a,b,c,d,{target}\n" + "".join(
                f"{r[0]},{r[1]},{r[2]},{r[3]},{v!r}\n".replace("'", "") for r, v in zip(X, values)))
    x = np.linspace(-3, 3, 60)
    (workdir / "sine.csv").write_text("x,y\n" + "".join(f"{a!r},{np.sin(a)!r}\n" for a in x.tolist()))
    classify = dp.MLP([4, 8, 3], seed=0)
    classify.fit(X, codes, loss="cross_entropy", epochs=5, checkpoint="fit.ckpt")
    dp.save(classify, "net_classify.dp")
    regress = dp.MLP([4, 8, 1], seed=0)
    regress.fit(X, y, epochs=5)
    dp.save(regress, "net_regress.dp")
    MLPClassifier((6,), max_iter=5, random_state=0).fit(X, SPECIES[codes]).save("estimator_classify.dp")
    MLPClassifier((6,), max_iter=5, random_state=0).fit(X, codes == 1).save("estimator_binary.dp")
    MLPRegressor((6,), max_iter=5, random_state=0).fit(X, y).save("estimator_regress.dp")
    for argv in ("train --data iris.csv --target species --one-hot --epochs 5 --out cli_classify.dp",
                 "train --data sine.csv --target y --hidden 16 --epochs 20 --out cli_regress.dp "
                 "--checkpoint-every 10 --checkpoint cli.ckpt"):
        assert run(f"{argv} --quiet", capsys)[0] == 0
    return {"net_classify.dp": ("label.csv", "label"), "net_regress.dp": ("value.csv", "value"),
            "fit.ckpt": ("label.csv", "label"), "estimator_classify.dp": ("species.csv", "species"),
            "estimator_binary.dp": ("label.csv", "label"), "estimator_regress.dp": ("value.csv", "value"),
            "cli_classify.dp": ("iris.csv", None), "cli_regress.dp": ("sine.csv", None),
            "cli.ckpt": ("sine.csv", None)}


def _python_predictions(path, data, target):
    """What deltaprop.load(path) predicts on the data, as the command line's CSV columns."""
    loaded = dp.load(path)
    if isinstance(loaded, dp.Network):  # numbers as given; classes as output indices
        X = read_table(data).features(["a", "b", "c", "d"])
        if loaded.loss.is_classification:
            return loaded.predict_classes(X).tolist(), loaded.predict(X)
        return None, loaded.predict(X)
    rows = read_table(data)
    if not isinstance(loaded, dp.Model):  # an estimator takes X as scikit-learn does
        rows = rows.features(["a", "b", "c", "d"])
    if hasattr(loaded, "predict_proba"):
        try:
            return loaded.predict(rows).tolist(), loaded.predict_proba(rows)
        except AttributeError:  # a model that regresses
            pass
    return None, np.asarray(loaded.predict(rows)).reshape(len(rows), -1)


@pytest.mark.parametrize("name", ["net_classify.dp", "net_regress.dp", "fit.ckpt", "estimator_classify.dp",
                                  "estimator_binary.dp", "estimator_regress.dp", "cli_classify.dp",
                                  "cli_regress.dp", "cli.ckpt"])
def test_python_and_the_command_line_predict_the_same_from_every_kind_of_file(every_kind, capsys, name):
    data, target = every_kind[name]
    header, rows = cli_csv(["predict", name, "--data", data] + (["--target", target] if target else []),
                           capsys)
    labels, values = _python_predictions(name, data, target)
    if labels is None:  # values: the predictions themselves
        assert not header[0].startswith("p(")
        np.testing.assert_array_equal([[float(v) for v in row] for row in rows], values)
    else:
        assert header[0] == "prediction" and len(header) == 1 + values.shape[1]
        assert [row[0] for row in rows] == [str(label) for label in labels]
        np.testing.assert_array_equal([[float(v) for v in row[1:]] for row in rows], values)


@pytest.mark.parametrize("name", ["net_classify.dp", "net_regress.dp", "fit.ckpt", "estimator_classify.dp",
                                  "estimator_regress.dp", "cli_classify.dp", "cli.ckpt"])
def test_every_command_that_reads_a_model_takes_every_kind_of_file(every_kind, capsys, name):
    pytest.importorskip("onnx")
    data, target = every_kind[name]
    data_options = ["--data", data] + (["--target", target] if target else [])
    code, out, err = run(["info", name, "--json"], capsys)
    assert code == 0, err
    kinds = {"net_classify.dp": "network", "net_regress.dp": "network", "fit.ckpt": "checkpoint",
             "estimator_classify.dp": "estimator", "estimator_regress.dp": "estimator",
             "cli_classify.dp": "model", "cli.ckpt": "checkpoint"}
    assert json.loads(out)["kind"] == kinds[name]
    assert run(["info", name], capsys)[1].startswith(f"{name}: a ")
    pytest.importorskip("matplotlib")
    for argv in (["evaluate", name, *data_options], ["export", name, "--onnx", "out.onnx"],
                 ["gradcheck", name, *data_options], ["plot", name, "--out", "loss.png"]):
        code, out, err = run(argv, capsys)
        assert code == 0, f"{argv}: {err}"


def test_a_sine_model_of_the_command_line_predicts_the_same_in_python(workdir, capsys):
    # The issue: dp.load dropped the target scaling and gave -0.894 where the CLI gave 0.857.
    assert run("train --data sine --epochs 30 --quiet --out sine.dp", capsys)[0] == 0
    (workdir / "points.csv").write_text("x\n1.0\n-2.0\n")
    _, rows = cli_csv("predict sine.dp --data points.csv", capsys)
    model = dp.load("sine.dp")
    np.testing.assert_array_equal(model.predict([[1.0], [-2.0]]), [float(row[0]) for row in rows])
    iris = [[5.1, 3.5, 1.4, 0.2, "north"]]  # and the iris model of the issue, by its labels
    assert run("train --data iris.csv --target species --one-hot --hidden 16 --lr 0.01 --epochs 100 "
               "--out iris.dp --quiet", capsys)[0] == 0
    (workdir / "one.csv").write_text(",".join(read_table("new.csv").names) + "\n5.1,3.5,1.4,0.2,north\n")
    _, rows = cli_csv("predict iris.dp --data one.csv", capsys)
    assert dp.load("iris.dp").predict(iris).tolist() == [rows[0][0]] == ["setosa"]


def test_wrong_kinds_and_positional_data_are_named(every_kind, capsys):
    for argv, message in [("resume net_classify.dp", "holds a network .*, not a checkpoint"),
                          ("resume fit.ckpt", "written from Python; continue it with deltaprop.resume"),
                          ("predict net_classify.dp --data label.csv",
                           "5 columns .*, but the model takes 4 inputs by position; leave out target"),
                          ("evaluate net_classify.dp --data label.csv", "name the target column")]:
        code, _, err = run(argv, capsys)
        assert code == 2 and re.search(message, err), err


# -- hostile input that used to end in a traceback: exit 2 and one line naming the problem ----
def one_line_error(code, err, message):
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.search(message, err), err


@pytest.mark.parametrize("content, message", [
    ("[" * 100_000 + "]" * 100_000, "levels deep; at most 64 are allowed"),  # the decoder's own limit
    ('{"loss": ' + "[" * 100 + "]" * 100 + "}", "levels deep; at most 64 are allowed"),  # below it
    ('{"loss": ["x"]}', "is not a training history written by train --history .*'x'"),
    ('{"epoch": [1e400], "loss": [1]}', "is not a training history .*inf"),
    ("[1, 2]", "is not a training history"),
    ('{"loss": 5}', "is not a training history"),
    ('{"loss": [1, 2], "epoch": [1, 2], "grad_norms": [5]}', "is not a training history"),
    ("{", "is not a training history .*Expecting property name"),
])
def test_a_hostile_history_file_is_named_in_one_line(tmp_path, monkeypatch, capsys, content, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "history.json").write_text(content)
    one_line_error(*run("plot history.json --out p.png", capsys)[::2], message)
    assert not (tmp_path / "p.png").exists()


def _history(**fields):
    return json.dumps({"epoch": [1, 2, 3], "loss": [1.0, 0.5, 0.2], "grad_norms": [[0.1, 0.2]] * 3,
                       **fields})


@pytest.mark.parametrize("kind", ["loss", "gradnorm"])
@pytest.mark.parametrize("content, message", [
    (_history(epoch=[10**400, 10**400 + 1, 10**400 + 2]), r"epochs from 1 up \(1, 2, 3, ...\)"),
    (_history(epoch=[1, 2, 4]), "entry 3 is 4"),
    (_history(best_epoch=10**400), "best_epoch is 1000"),
    (_history(grad_norms=[[0.1, -0.2]] * 3), "layer 2 of epoch 1 has the norm -0.2"),
    (_history(loss=[None] * 3, grad_norms=[[None, None]] * 3), "nothing to draw"),
    (_history(loss=[1e308, -1e308, 1e308], grad_norms=[[1e308, 5e-324]] * 3), "nothing to draw"),
])
def test_a_history_plot_cannot_draw_is_named_in_one_line(tmp_path, monkeypatch, capsys, kind,
                                                          content, message):
    """Each class of history the plots cannot draw (epochs not 1, 2, 3, ..., an epoch it does
    not hold, a negative norm, nothing drawable): exit 2 and one line, whichever plot."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "history.json").write_text(content)
    one_line_error(*run(f"plot history.json --kind {kind} --out p.png", capsys)[::2], message)
    assert not (tmp_path / "p.png").exists()


def test_a_history_of_many_layers_plots_without_a_word_on_stderr(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "history.json").write_text(_history(grad_norms=[[0.5] * 1000] * 3))
    code, _, err = run("plot history.json --kind gradnorm --out p.png", capsys)
    assert (code, err) == (0, "") and (tmp_path / "p.png").stat().st_size > 0


def test_json_files_are_read_up_to_a_bound_named_in_the_message(tmp_path, monkeypatch, capsys):
    from deltaprop.cli import commands

    monkeypatch.chdir(tmp_path)
    history = {"epoch": list(range(1, 201)), "loss": [1.0] * 200}
    (tmp_path / "history.json").write_text(json.dumps(history))
    assert run("plot history.json --out p.png", capsys)[0] == 0
    monkeypatch.setattr(commands, "MAX_HISTORY_BYTES", 1000)
    one_line_error(*run("plot history.json --out p.png", capsys)[::2],
                   r"history.json is too large to be a training history .* reads at most 1000 bytes")


@pytest.mark.parametrize("argv, message", [
    # digits: 64 features, 10 classes, 1348 training rows (all of them at once in evaluation)
    ("train --data digits --hidden 100000000",
     r"--hidden 100000000 \(7,500,000,010 parameters, 1348 rows at once\) would need 2.13 TiB; "
     r"this machine has 24 GiB"),
    ("train --data moons --hidden 8,4000000000", r"would need 9.69 TiB; this machine has 24 GiB"),
    ("train --data moons --hidden 1" + "0" * 40, r"would need about 10\^\d+ bytes"),
    ("train --data moons --hidden 20000,20000 --restarts 4 --n-jobs 4",  # fits once, not 4 times
     r"would need 36.1 GiB; this machine has 24 GiB"),
    ("gradcheck --rows 1000000000000",
     r"gradcheck --rows 1000000000000 \(a batch of 1,000,000,000,000 rows, float64\) would need "
     r"524 TiB; this machine has 24 GiB"),
])
def test_a_network_too_large_for_the_machine_is_refused_with_the_figure(monkeypatch, capsys, argv,
                                                                         message):
    monkeypatch.setattr(budget, "physical_memory", lambda: 24 * 2**30)
    if argv.startswith("train"):  # refused before the network is built
        monkeypatch.setattr(dp, "MLP", lambda *a, **k: pytest.fail("the network was built"))
    one_line_error(*run(argv, capsys)[::2], message)


def test_the_memory_estimate_is_the_documented_formula():
    # [3, 5, 2]: (3 + 1) * 5 + (5 + 1) * 2 = 32 parameters; 10 units; 7 rows; float32
    assert budget.parameter_count([3, 5, 2]) == 32
    assert budget.network_bytes([3, 5, 2], 7, 4) == 4 * (
        budget.PARAMETER_COPIES * 32 + budget.UNIT_COPIES * 7 * 10)
    assert [budget.format_bytes(n) for n in (512, 1536, 24 * 2**30, 1288490188800, 10**40)] == [
        "512 bytes", "1.5 KiB", "24 GiB", "1.17 TiB", "about 10^40 bytes"]
    memory = budget.physical_memory()
    assert memory is None or memory > 2**20


def rewrite_checkpoint(path, change):
    from deltaprop.files.container import read_archive, write_archive

    archive = read_archive(path)
    change(archive.sections["metadata"])
    write_archive(path, archive.kind, archive.sections, archive.arrays)


@pytest.mark.parametrize("change, message", [
    (lambda m: [m["train_options"].pop(name) for name in ("hidden", "lr")],
     "stored train options lack hidden, lr; deltaprop resume cannot rebuild the run"),
    (lambda m: m["train_options"].clear(), "lack data, target, task"),
    (lambda m: m["train_options"].update(epochs="ten"), r"wrong kind \(epochs='ten'\)"),
    (lambda m: m["train_options"].update(epochs=True, lr=None), r"wrong kind \(lr=None, epochs=True\)"),
    (lambda m: m["train_options"].update(optimizer="rmsprop"), r"wrong kind \(optimizer='rmsprop'\)"),
    (lambda m: m.update(train_options=["data"]), "a checkpoint written from Python"),
])
def test_resume_names_what_a_checkpoints_stored_options_lack(tmp_path, monkeypatch, capsys, change,
                                                             message):
    monkeypatch.chdir(tmp_path)
    assert run("train --data xor --hidden 4 --epochs 2 --checkpoint-every 1 --checkpoint run.ckpt "
               "--quiet", capsys)[0] == 0
    rewrite_checkpoint("run.ckpt", change)
    one_line_error(*run("resume run.ckpt --epochs 4", capsys)[::2], f"run.ckpt: .*{message}")


def test_more_hidden_layers_than_a_model_file_holds_are_refused(capsys):
    # 2,499 hidden layers with BatchNorm and dropout are 9,998 layers: as many as a file holds.
    one_line_error(*run("train --data xor --hidden " + "1," * 2499 + "1", capsys)[::2],
                   "--hidden gives 2,500 hidden layers; at most 2,499")


@pytest.mark.parametrize("argv", ["info nowhere.dp", "predict nowhere.dp --data xor"])
def test_an_os_error_is_its_file_and_its_reason_on_one_line(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(argv, capsys)
    assert code == 2 and "Errno" not in err and "nowhere.dp" in err, err


def test_whole_labels_beyond_int64_are_classes_and_a_fraction_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("big.csv").write_text("a,y\n1,0\n2,2e19\n3,0\n4,2e19\n")
    Path("frac.csv").write_text("a,y\n1,0\n2,1\n3,0.5\n4,1\n")
    assert main(shlex.split("train --data big.csv --target y --task classify --epochs 1 --quiet "
                            "--out big.dp")) == 0
    assert dp.load("big.dp").classes.tolist() == [0.0, 2e19]
    capsys.readouterr()
    assert main(shlex.split("train --data frac.csv --target y --task classify --quiet")) == 2
    assert "holds fractional numbers (e.g. 0.5)" in capsys.readouterr().err


@pytest.mark.parametrize("argv", ["plot pipe.json --out p.png", "sweep pipe.json --data xor",
                                  "train --data pipe.csv --epochs 1"])
def test_a_pipe_given_as_an_input_is_refused_not_read_forever(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    os.mkfifo("pipe.json")
    os.mkfifo("pipe.csv")
    one_line_error(*run(argv, capsys)[::2], r"pipe\.(json|csv) is not a regular file")


def test_poisson_on_counts_regresses_without_centring_the_targets(tmp_path, capsys, monkeypatch):
    """Integer counts would be read as class labels, and centred targets would be negative:
    --loss poisson means regression on the counts as they are."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    counts = rng.poisson(np.exp(0.7 * X[:, 0]))
    lines = ["a,b,count"] + [f"{a:.4f},{b:.4f},{c}" for (a, b), c in zip(X, counts)]
    (tmp_path / "counts.csv").write_text("\n".join(lines) + "\n")
    code, out, err = run("train --data counts.csv --target count --loss poisson --hidden 8 --epochs 60 "
                         "--lr 0.01 --out counts.dp --json --quiet", capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["task"] == "regress" and report["held_out"]["r2"] > 0.2
    model = dp.load("counts.dp")
    assert model.net.output_layer.activation.name == "exp"
    predictions = model.predict({"a": X[:50, 0], "b": X[:50, 1]})  # counts: no target scaling
    assert model.preprocessing.targets is None
    assert (np.asarray(predictions) > 0).all()
    code, _, err = run("train --data counts.csv --target count --loss poisson --task classify", capsys)
    assert code == 2 and "--loss poisson is for regression on counts" in err


def test_auto_chooses_the_network_and_says_why(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run("train --data moons --auto --time-budget 30 --json", capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["auto"]["chosen"]["hidden"] and report["held_out"]["accuracy"] >= 0.95
    assert "auto: chose hidden" in err and report["model"] == "moons.dp"
    assert dp.load("moons.dp").predict([[0.5, -0.3]]).shape == (1,)
    code, default_out, _ = run("train --data moons --json --no-save --quiet", capsys)
    assert report["held_out"]["accuracy"] >= json.loads(default_out)["held_out"]["accuracy"]
    for options, flag in [("--hidden 16", "--hidden"), ("--lr 0.1", "--lr"), ("--epochs 5", "--epochs")]:
        code, _, err = run(f"train --data moons --auto {options}", capsys)
        assert code == 2 and f"--auto chooses {flag} itself; drop {flag} (or --auto)" in err
    code, _, err = run("train --data moons --auto --time-budget 0", capsys)
    assert code == 2 and "--time-budget must be a positive number of seconds" in err
