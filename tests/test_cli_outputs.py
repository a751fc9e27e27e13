"""What the command line writes: never onto a file it reads, never two outputs onto one file,
whatever the spelling of the path (``./``, ``sub/..``, absolute, a symbolic or a hard link);
refused with exit 2 and one line before any work. Unrelated existing files are overwritten as
asked. A write that fails half-way (a full disk, a file-size limit) leaves the old file whole and
ends in exit 2 and one line."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

from deltaprop.cli import main

CLASH = "is the same file as the input"
TWICE = "are the same file; give each output a file of its own"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """data.csv, model.dp (trained on it), history.json, run.ckpt (a checkpoint of a train run),
    spec.json, a folder sub/, and for each file a symbolic link sym-NAME and a hard link
    hard-NAME."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    rows = "".join(f"{a:.4f},{b:.4f},{int(a + b > 0)}\n" for a, b in X)
    (tmp_path / "data.csv").write_text("a,b,y\n" + rows)
    assert main(shlex.split("train --data data.csv --target y --hidden 4 --epochs 2 --quiet "
                            "--out model.dp --history history.json --checkpoint-every 1 "
                            "--checkpoint run.ckpt")) == 0
    (tmp_path / "spec.json").write_text(json.dumps({"params": {"lr": [0.01]}, "epochs": 2}))
    (tmp_path / "sub").mkdir()
    for name in ("data.csv", "model.dp", "history.json", "run.ckpt", "spec.json"):
        os.symlink(name, tmp_path / f"sym-{name}")
        os.link(tmp_path / name, tmp_path / f"hard-{name}")
    return tmp_path


def spellings(folder, name):
    """Six names of one file."""
    return [name, f"./{name}", f"sub/../{name}", str(folder / name), f"sym-{name}", f"hard-{name}"]


def run(argv, capsys):
    capsys.readouterr()
    code = main(shlex.split(argv) if isinstance(argv, str) else argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2, (argv, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert message in err, (argv, err)


def snapshot(folder):
    """Every file's bytes (links followed) and the folder's listing."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


@pytest.mark.parametrize("argv, read", [
    ("train --data data.csv --target y --out {}", "data.csv"),
    ("train --data data.csv --target y --history {}", "data.csv"),
    ("train --data data.csv --target y --checkpoint-every 1 --checkpoint {}", "data.csv"),
    ("train --data data.csv --target y --out m.dp --history h.json --checkpoint-every 1 "
     "--checkpoint {}", "data.csv"),
    ("predict model.dp --data data.csv --out {}", "model.dp"),
    ("predict model.dp --data data.csv --out {}", "data.csv"),
    ("export model.dp --onnx {}", "model.dp"),
    ("plot model.dp --out {}", "model.dp"),
    ("plot history.json --out {}", "history.json"),
    ("plot model.dp --kind boundary --data data.csv --out {}", "data.csv"),
    ("plot model.dp --kind boundary --out {}", "data.csv"),  # the model's data, read by default
    ("resume run.ckpt --out {}", "run.ckpt"),
    ("resume run.ckpt --out {} --epochs 3", "run.ckpt"),
    ("sweep spec.json --data data.csv --target y --out-dir out --quiet", None),  # see below
])
def test_an_output_onto_an_input_is_refused_before_any_work(folder, capsys, argv, read):
    before = snapshot(folder)
    if read is None:  # sweep: its outputs are files in --out-dir, the inputs moved there
        os.mkdir(folder / "out")
        for name, output in (("spec.json", "results.csv"), ("data.csv", "best.dp"),
                             ("spec.json", "results.jsonl")):
            os.link(folder / name, folder / "out" / output)
            refused(argv, CLASH, capsys)
            os.unlink(folder / "out" / output)
    else:
        for path in spellings(folder, read):
            refused(argv.format(path), CLASH, capsys)
    assert snapshot(folder) == before  # nothing written, nothing changed


@pytest.mark.parametrize("argv, name", [
    ("train --data data.csv --target y --out {} --history other.dp", "other.dp"),
    ("train --data data.csv --target y --out other.dp --history {}", "other.dp"),
    ("train --data data.csv --target y --out other.dp --checkpoint-every 1 --checkpoint {}",
     "other.dp"),
    ("train --data data.csv --target y --history other.dp --checkpoint-every 1 --checkpoint {}",
     "other.dp"),
    ("train --data data.csv --target y --out other --checkpoint-every 1 --history {}",
     "other.ckpt"),  # the checkpoint's default name, --out + .ckpt
])
def test_two_outputs_onto_one_file_are_refused(folder, capsys, argv, name):
    spelled = [name, f"./{name}", f"sub/../{name}", str(folder / name)]
    for path in spelled:  # a file not there yet: compared by its resolved path
        refused(argv.format(path), TWICE, capsys)
    (folder / name).write_text("unrelated")
    os.symlink(name, folder / "sym-out")
    os.link(folder / name, folder / "hard-out")
    before = snapshot(folder)
    for path in [*spelled, "sym-out", "hard-out"]:  # there: compared as files
        refused(argv.format(path), TWICE, capsys)
    assert snapshot(folder) == before


def test_resume_never_writes_onto_its_checkpoint_or_the_runs_data(folder, capsys):
    before = snapshot(folder)
    refused("resume run.ckpt --out sym-run.ckpt", CLASH, capsys)
    refused("resume hard-run.ckpt --out run.ckpt", CLASH, capsys)
    assert snapshot(folder) == before


def test_overwriting_an_unrelated_existing_file_stays_allowed(folder, capsys):
    (folder / "old.csv").write_text("old\n")
    (folder / "old.dp").write_text("old\n")
    (folder / "old.json").write_text("old\n")
    code, _, err = run("predict model.dp --data data.csv --out old.csv", capsys)
    assert code == 0, err
    assert (folder / "old.csv").read_text().startswith("prediction,p(0),p(1)")
    code, _, err = run("train --data data.csv --target y --hidden 4 --epochs 2 --quiet "
                       "--out old.dp --history old.json", capsys)
    assert code == 0, err
    assert (folder / "old.dp").read_bytes()[:2] == b"PK"
    assert json.loads((folder / "old.json").read_text())["epoch"] == [1, 2]


@pytest.mark.parametrize("argv, message", [
    ("predict model.dp --data data.csv --out nowhere/p.csv", "the folder .*nowhere does not exist"),
    ("predict model.dp --data data.csv --out sub", "--out sub is a folder; name a file"),
    ("export model.dp --onnx .", "--onnx . is a folder"),
    ("train --data data.csv --target y --history sub/", "--history sub/ is a folder"),
    ("plot model.dp --out nowhere/p.png", "does not exist"),
    ("sweep spec.json --data data.csv --target y --out-dir data.csv",
     "--out-dir data.csv is a file, not a folder"),
    ("sweep spec.json --data data.csv --target y --out-dir data.csv/results",
     "--out-dir data.csv/results lies in .*data.csv, which is a file"),
])
def test_an_output_that_cannot_be_written_is_named_before_any_work(folder, capsys, argv, message):
    before = snapshot(folder)
    code, _, err = run(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and re.search(message, err), err
    assert snapshot(folder) == before


LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (500, 500))  # Python ignores SIGXFSZ: EFBIG
from deltaprop.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin",
                    reason="RLIMIT_FSIZE as on Linux")
@pytest.mark.parametrize("argv, old", [
    ("predict model.dp --data data.csv --out old.csv", "old.csv"),
    ("train --data data.csv --target y --hidden 4 --epochs 1 --quiet --out old.dp", "old.dp"),
    ("train --data data.csv --target y --hidden 4 --epochs 1 --quiet --no-save --history old.json",
     "old.json"),
])
def test_a_write_cut_short_by_a_file_size_limit_keeps_the_old_file(folder, argv, old):
    (folder / old).write_text("the old file\n")
    before = sorted(os.listdir(folder))
    done = subprocess.run([sys.executable, "-c", LIMITED, *shlex.split(argv)], cwd=folder,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert re.search(rf"{re.escape(old)}.*File too large", done.stderr), done.stderr
    assert done.stderr.count(old) == 1, done.stderr  # the file named once
    assert (folder / old).read_text() == "the old file\n"
    assert sorted(os.listdir(folder)) == before  # no temporary file left behind


# -- train's model file when --out is not given ----------------------------------------------------
@pytest.mark.parametrize("argv, model", [
    ("train --data xor --epochs 1", "xor.dp"),
    ("train --data data.csv --target y --hidden 4 --epochs 1", "data.dp"),
    ("train --data sub/runs.csv --target y --hidden 4 --epochs 1", "runs.dp"),  # here, not in sub/
    ("train --data sub/.hidden.csv --target y --hidden 4 --epochs 1", "hidden.dp"),  # not hidden
])
def test_train_names_its_model_after_the_data(folder, capsys, argv, model):
    for name in ("runs.csv", ".hidden.csv"):
        (folder / "sub" / name).write_bytes((folder / "data.csv").read_bytes())
    code, out, err = run(argv + " --quiet", capsys)
    assert code == 0, err
    assert f"model written to {model}\n" in out and (folder / model).read_bytes()[:2] == b"PK"
    code, out, _ = run(argv + " --quiet --json --no-save --history h.json", capsys)
    assert "model" not in json.loads(out)  # (and no second file: see below)
    assert not (folder / model.replace(".dp", "-2.dp")).exists()


def test_a_default_model_name_never_overwrites_a_file(folder, capsys):
    (folder / "xor.dp").write_text("mine")
    os.symlink("nowhere", folder / "xor-2.dp")  # a broken link: taken too
    (folder / "xor-3.dp.ckpt").write_text("mine")  # taken only for a checkpoint named after it
    before = snapshot(folder)
    code, out, err = run("train --data xor --epochs 1 --quiet --json", capsys)
    assert code == 0 and json.loads(out)["model"] == "xor-3.dp", err
    code, out, err = run("train --data xor --epochs 2 --quiet --checkpoint-every 1", capsys)
    assert code == 0 and "model written to xor-4.dp (xor.dp was taken; nothing was overwritten)" in out
    assert (folder / "xor-4.dp.ckpt").stat().st_size > 0  # the checkpoint follows the model's name
    after = snapshot(folder)
    assert {name: after[name] for name in before} == before  # every earlier file as it was
    assert os.readlink(folder / "xor-2.dp") == "nowhere"


def test_a_default_model_name_is_none_of_the_runs_other_outputs(folder, capsys):
    code, out, err = run("train --data xor --epochs 1 --quiet --json --history xor.dp", capsys)
    assert code == 0 and json.loads(out)["model"] == "xor-2.dp", err
    assert json.loads((folder / "xor.dp").read_text())["epoch"] == [1]  # the history, whole
    code, out, err = run("train --data moons --epochs 1 --quiet --json --checkpoint-every 1 "
                         "--history sub/../moons.dp.ckpt", capsys)  # the checkpoint's default
    assert code == 0 and json.loads(out)["model"] == "moons-2.dp", err
    assert (folder / "moons-2.dp.ckpt").exists() and not (folder / "moons.dp").exists()


def test_a_file_of_the_default_name_made_during_training_is_not_overwritten(folder, capsys,
                                                                             monkeypatch):
    from deltaprop.cli import commands

    train_model = commands.train_model

    def another_run_finishes_meanwhile(data, args):
        result = train_model(data, args)
        (folder / "xor.dp").write_text("another run's model")
        return result

    monkeypatch.setattr(commands, "train_model", another_run_finishes_meanwhile)
    code, out, err = run("train --data xor --epochs 1 --quiet", capsys)
    assert code == 0 and "model written to xor-2.dp (xor.dp was taken" in out, err
    assert (folder / "xor.dp").read_text() == "another run's model"


def test_no_save_writes_no_model(folder, capsys):
    before = snapshot(folder)
    code, out, _ = run("train --data xor --epochs 1 --quiet --no-save --json", capsys)
    assert code == 0 and "model" not in json.loads(out)
    code, out, _ = run("train --data xor --epochs 1 --no-save", capsys)
    assert code == 0 and "no model was written (--no-save)" in out and "next, try" not in out
    assert snapshot(folder) == before


@pytest.mark.parametrize("argv, message", [
    ("train --data xor --no-save --out m.dp", "argument --out: not allowed with argument --no-save"),
    ("train --data xor --out -", "--out - names no file (a model file is not written to stdout); "
                                 "to write none, use --no-save"),
    ("train --data xor --out ''", "--out is empty; name a file, or write none with --no-save"),
    ("train --data xor --no-save --checkpoint-every 1", "--checkpoint-every with --no-save needs "
                                                         "--checkpoint FILE"),
    ("train --data xor --epochs 0", "--epochs must be at least 1"),  # named before the files
    ("train --data data.csv --target y --out data.csv", CLASH),  # an explicit --out as before
])
def test_the_model_options_refused_before_any_work(folder, capsys, argv, message):
    before = snapshot(folder)
    refused(argv, message, capsys)
    assert snapshot(folder) == before


def test_a_default_name_that_cannot_be_written_says_so(folder, capsys):
    (folder / "xor.dp").mkdir()  # a folder of the name: taken, the next name is used
    code, out, _ = run("train --data xor --epochs 1 --quiet", capsys)
    assert code == 0 and "model written to xor-2.dp (xor.dp was taken" in out
    os.symlink("/dev/null", folder / "moons.dp")  # a link to a device: taken too, not written
    code, out, _ = run("train --data moons --epochs 1 --quiet", capsys)
    assert code == 0 and "model written to moons-2.dp" in out


def test_the_next_commands_printed_after_training_run_as_printed(folder, capsys, monkeypatch):
    import deltaprop.playground

    served = []
    monkeypatch.setattr(deltaprop.playground, "serve", lambda *args, **kwargs: served.append(args))
    (folder / "my data.csv").write_bytes((folder / "data.csv").read_bytes())  # a space to quote
    code, out, err = run(["train", "--data", "my data.csv", "--target", "y", "--hidden", "4",
                          "--activation", "tanh", "--epochs", "2"], capsys)
    assert code == 0 and "model written to my data.dp" in out, err
    tips = out.split("next, try:\n", 1)[1].splitlines()
    assert tips == ["  deltaprop evaluate 'my data.dp' --data 'my data.csv' --target y",
                    "  deltaprop predict 'my data.dp' --data 'my data.csv' --target y",
                    "  deltaprop gradcheck 'my data.dp'",
                    "  deltaprop playground"]
    for tip in tips:
        code, out, err = run(shlex.split(tip)[1:], capsys)
        assert code == 0 and (out or tip.endswith("playground")), (tip, err)
    assert served  # the playground started (a stand-in: a test serves no page)
