"""``deltaprop doctor MODEL --data DATA`` and the doctor's line at the end of ``train``, run
in-process through ``main(argv)``."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main

pytest.importorskip("sklearn")  # the embedded real datasets

DEEP_SIGMOID = ("train --data moons --hidden 32,32,32,32,32,32,32,32 --activation sigmoid "
                "--optimizer sgd --lr 0.1 --epochs 3 --quiet --out deep.dp")


def run(argv: str, capsys) -> tuple[int, str, str]:
    code = main(shlex.split(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_healthy_model_has_no_problems_and_train_says_nothing(workdir, capsys):
    code, out, _ = run("train --data iris --epochs 30 --quiet --out iris.dp", capsys)
    assert code == 0 and "doctor" not in out
    code, out, err = run("doctor iris.dp --data iris", capsys)
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "iris.dp on iris: 150 samples, a history of 30 epochs"
    assert out.splitlines()[1].startswith("no problems found (checked: unscaled_inputs")
    code, out, _ = run("doctor iris.dp --data iris --json", capsys)
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["loss"] == "cross_entropy"
    assert report["epochs"] == 30 and "overfitting" in report["checked"]


def test_a_broken_run_is_named_at_the_end_of_train_and_explained_by_doctor(workdir, capsys):
    code, out, _ = run(DEEP_SIGMOID, capsys)
    last = out.splitlines()[-1]
    assert code == 0 and last == ("doctor: 1 problem: vanishing_gradients (layer 0); see: "
                                  "deltaprop doctor deep.dp --data moons")
    code, out, _ = run("doctor deep.dp --data moons", capsys)
    assert code == 0  # findings are an answer, not a failure
    assert "warning vanishing_gradients (layer 0): the gradient reaching layer 0 is" in out
    assert "    advice: use relu" in out and "    evidence: grad_norms [" in out
    code, out, _ = run("doctor deep.dp --data moons --json", capsys)
    finding = json.loads(out)["findings"][0]
    assert (finding["code"], finding["layer"], finding["severity"]) == ("vanishing_gradients", 0, "warning")
    assert finding["evidence"]["ratio_to_output"][0] < 1e-2


def test_trains_json_report_carries_the_findings(workdir, capsys):
    code, out, _ = run(DEEP_SIGMOID + " --json", capsys)
    doctor = json.loads(out)["doctor"]
    assert code == 0 and doctor["ok"] is False
    assert doctor["summary"].startswith("doctor: 1 problem: vanishing_gradients (layer 0)")
    assert [f["code"] for f in doctor["findings"] if f["severity"] != "info"] == ["vanishing_gradients"]


def test_a_diverged_train_names_the_rate(workdir, capsys):
    code, out, _ = run("train --data iris --optimizer sgd --lr 1e4 --no-save --quiet", capsys)
    assert code == 1 and out.splitlines()[-1].startswith("doctor: ") and "lr_too_high" in out


def test_a_regressor_is_diagnosed_in_standard_units(workdir, capsys):
    code, _, _ = run("train --data diabetes --epochs 20 --lr 0.01 --quiet --out d.dp", capsys)
    assert code == 0
    code, out, _ = run("doctor d.dp --data diabetes --json", capsys)
    report = json.loads(out)
    assert code == 0 and report["loss"] == "squared_error" and report["n"] == 442
    code, out, err = run("doctor d.dp --data diabetes --loss cross_entropy", capsys)
    assert code == 2 and "--loss cross_entropy is for classification; this model regresses" in err


def test_a_binary_cross_entropy_model_and_a_csv_with_text_labels(workdir, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    rows = [f"{a},{b},{c},{'yes' if a + b > 0 else 'no'}" for a, b, c in X]
    (workdir / "d.csv").write_text("a,b,c,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    code, _, err = run("train --data d.csv --target label --loss binary_cross_entropy --epochs 20 "
                       "--quiet --out b.dp", capsys)
    assert code == 0, err
    code, out, err = run("doctor b.dp --data d.csv --json", capsys)
    assert code == 0 and json.loads(out)["loss"] == "binary_cross_entropy", err


def test_an_untrained_network_file_needs_loss(workdir, capsys):
    dp.save(dp.MLP([2, 4, 2], seed=0), "net.dp")
    code, out, err = run("doctor net.dp --data moons", capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and "--loss" in err
    code, out, err = run("doctor net.dp --data moons --loss cross_entropy --json", capsys)
    report = json.loads(out)
    assert code == 0 and report["epochs"] is None and "lr_too_high" not in report["checked"]


@pytest.mark.parametrize(("argv", "words"), [
    ("doctor missing.dp --data iris", "no model file"),
    ("doctor iris.dp", "--data"),
    ("doctor iris.dp --data nowhere", "neither a file nor an embedded dataset"),
    ("doctor iris.dp --data digits", "lacks the model's feature column"),
    ("doctor iris.dp --data iris --loss hinge", "unknown loss 'hinge'"),
    ("doctor iris.dp --data iris --loss ''", "unknown loss ''"),
    ("doctor iris.dp --data iris --loss poisson", "--loss poisson is for regression on counts; "
     "this model classifies"),
    ("doctor notes.txt --data iris", "notes.txt"),
    ("doctor iris.dp --data iris --target species", "--target is for data files"),
    ("doctor iris.dp --data iris --jsn", "did you mean --json"),
])
def test_bad_input_is_one_line_and_exit_2(workdir, capsys, argv, words):
    assert run("train --data iris --epochs 2 --quiet --out iris.dp", capsys)[0] == 0
    (workdir / "notes.txt").write_text("not a model\n", encoding="utf-8")
    code, out, err = run(argv, capsys)
    assert code == 2 and out == "", (argv, out)
    assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err, err
