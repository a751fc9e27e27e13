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
    code = main(shlex.split(argv))
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
    ("train --data data.csv --target y --hidden 4 --epochs 1 --quiet --history old.json", "old.json"),
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
