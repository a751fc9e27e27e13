"""``deltaprop train --data FOLDER`` (and ``--stream``): data streamed from disk, the scaling
from one streaming pass equal to the in-memory one, the progress in rows, bad folders and
options refused in one line, and memory bounded by the buffer, not the data."""

from __future__ import annotations

import importlib
import inspect
import json
import math
import re
import shlex
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.callbacks.progress import RowProgress
from deltaprop.cli import data as cli_data
from deltaprop.cli import main
from deltaprop.cli import stream as cli_stream
from deltaprop.cli.data import StreamedData, training_data
from deltaprop.cli.parser import build_parser
from deltaprop.data.preprocessing import RunningMoments, Standardizer
from deltaprop.stream import fit_stream


def run(argv, capsys):
    """(exit code, stdout, stderr) of ``deltaprop argv``."""
    code = main(shlex.split(argv) if isinstance(argv, str) else argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def make_rows(n=1200, d=4, seed=0):
    """Features far from standard units (so the scaling matters) and a 3-class label."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.arange(1, d + 1) * 10.0 + 1e3
    y = np.digitize(X[:, 0] - X[:, 1], [np.quantile(X[:, 0] - X[:, 1], q) for q in (1 / 3, 2 / 3)])
    return X, y


@pytest.fixture
def shards(tmp_path, monkeypatch):
    """A folder of 3 X/y shard pairs of uneven sizes; the working folder is tmp_path."""
    X, y = make_rows()
    folder = tmp_path / "shards"
    folder.mkdir()
    for i, rows in enumerate(np.split(np.arange(len(X)), [500, 700])):
        np.save(folder / f"X_{i:03d}.npy", X[rows])
        np.save(folder / f"y_{i:03d}.npy", y[rows])
    monkeypatch.chdir(tmp_path)
    return folder, X, y


def one_line_error(code, err, *needles):
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


# -- the scaling of one pass -------------------------------------------------------------------
def test_running_moments_equal_the_two_pass_statistics_to_rounding():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5000, 3)) * [1.0, 1e-3, 1e4] + [1e6, -5.0, 0.0]
    X[:, 2] = 7.0  # a constant column: scale 1, as Standardizer.fit gives
    moments = RunningMoments()
    for rows in np.split(np.arange(5000), [1, 2, 700, 701, 3000]):  # uneven chunks, one empty
        moments.add(X[rows])
    moments.add(X[:0])
    streamed, whole = moments.standardizer(), Standardizer.fit(X)
    np.testing.assert_allclose(streamed.mean, whole.mean, rtol=1e-12, atol=0)
    np.testing.assert_allclose(streamed.scale, whole.scale, rtol=1e-12, atol=0)
    assert moments.count == 5000 and streamed.scale[2] == 1.0
    with pytest.raises(ValueError, match="no rows"):
        _ = RunningMoments().std


def test_running_moments_keep_a_large_mean_to_the_last_digits():
    """Rows minus the first row: a column of mean 1e6 and deviation 1 keeps its mean and
    deviation to 1e-14 of the exact ones (computed in rationals)."""
    x = np.random.default_rng(2).standard_normal(2000) + 1e6
    moments = RunningMoments()
    for rows in np.split(np.arange(2000), [1, 500, 501, 1600]):
        moments.add(x[rows])
    exact = [Fraction(float(value)) for value in x]
    mean = sum(exact) / len(exact)
    std = math.sqrt(sum((value - mean) ** 2 for value in exact) / len(exact))
    assert abs(moments.mean[0] - float(mean)) <= 1e-14 * float(mean)
    assert abs(moments.std[0] - std) <= 1e-14 * std


def test_the_constant_column_rule_is_the_standardizers_for_both_sources():
    """Scale 1 for a constant column: Standardizer.from_moments, whatever gave the moments."""
    X = np.column_stack([np.full(6, 3.0), np.arange(6.0)])
    moments = RunningMoments()
    moments.add(X[:4])
    moments.add(X[4:])
    for standardizer in (Standardizer.fit(X), moments.standardizer(),
                         Standardizer.from_moments(X.mean(axis=0), X.std(axis=0))):
        assert standardizer.scale[0] == 1.0 and standardizer.mean[0] == 3.0
        np.testing.assert_array_equal(standardizer.transform(X)[:, 0], 0.0)
    with pytest.raises(ValueError, match="rows of 3 columns added to moments of 2"):
        moments.add(np.ones((2, 3)))


def test_the_model_of_a_folder_stores_the_scaling_of_all_its_rows(shards, capsys):
    folder, X, y = shards
    code, out, _ = run(f"train --data {folder} --hidden 8 --epochs 2 --out m.dp --json", capsys)
    assert code == 0
    report = json.loads(out)
    assert report["n_train"] == 1200 and report["n_test"] == 0 and report["task"] == "classify"
    assert report["streamed"] == {"rows": 1200, "chunk_rows": 8192, "buffer_rows": 65536}
    model = dp.load("m.dp")
    whole = Standardizer.fit(X)
    np.testing.assert_allclose(model.preprocessing.features.mean, whole.mean, rtol=1e-12, atol=0)
    np.testing.assert_allclose(model.preprocessing.features.scale, whole.scale, rtol=1e-12, atol=0)
    assert model.feature_names == ["x0", "x1", "x2", "x3"] and model.classes.tolist() == [0, 1, 2]


def test_new_rows_are_scaled_alike_by_predict_and_evaluate(shards, capsys):
    folder, X, y = shards
    assert run(f"train --data {folder} --hidden 8 --epochs 30 --lr 0.01 --out m.dp --quiet",
               capsys)[0] == 0
    np.savez("new.npz", X=X[:300], y=y[:300])
    code, out, _ = run("evaluate m.dp --data new.npz --json", capsys)
    assert code == 0 and json.loads(out)["accuracy"] > 0.8  # learnt on the scaled rows
    model = dp.load("m.dp")
    code, out, _ = run(["predict", "m.dp", "--data", str(folder)], capsys)  # the folder, read whole
    predicted = [int(line.split(",")[0]) for line in out.splitlines()[1:]]
    assert code == 0 and len(predicted) == 1200
    np.testing.assert_array_equal(predicted, model.predict(X))  # rows in shard order


def test_a_regression_file_streams_to_the_statistics_it_has_in_memory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    X, _ = make_rows(n=900)
    target = X @ [0.5, -1.0, 0.0, 2.0] + 3e4  # far from 0: its scaling matters too
    np.save("rows.npy", np.column_stack([X, target]))
    common = "--target x4 --hidden 4 --epochs 1 --test-fraction 0 --quiet"
    assert run(f"train --data rows.npy {common} --out memory.dp", capsys)[0] == 0
    code, out, _ = run(f"train --data rows.npy --stream {common.replace(' --test-fraction 0', '')} "
                       "--out streamed.dp --json", capsys)
    assert code == 0 and json.loads(out)["streamed"]["rows"] == 900
    memory, streamed = dp.load("memory.dp").preprocessing, dp.load("streamed.dp").preprocessing
    assert streamed.task == "regress" and streamed.target_names == ["x4"]
    assert streamed.feature_names == memory.feature_names == ["x0", "x1", "x2", "x3"]
    for ours, theirs in ((streamed.features, memory.features), (streamed.targets, memory.targets)):
        np.testing.assert_allclose(ours.mean, theirs.mean, rtol=1e-12, atol=0)
        np.testing.assert_allclose(ours.scale, theirs.scale, rtol=1e-12, atol=0)


def _read_whole_fails(monkeypatch):
    """Make every whole-file read of a data file fail, as a file too large to read would."""
    def refuse(*args, **kwargs):
        raise AssertionError("a file to stream was read whole")
    monkeypatch.setattr(cli_data, "read_table", refuse)
    monkeypatch.setattr(cli_stream, "read_table", refuse)


def test_a_small_file_given_with_stream_is_never_read_whole(tmp_path, monkeypatch, capsys):
    """--stream is decided before anything is read: the file is streamed, not read whole first."""
    monkeypatch.chdir(tmp_path)
    X, y = make_rows(n=300)
    np.save("rows.npy", np.column_stack([X, y]))
    _read_whole_fails(monkeypatch)
    code, out, err = run("train --data rows.npy --stream --target x4 --hidden 4 --epochs 2 "
                         "--out m.dp --json --quiet", capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["streamed"]["rows"] == 300 and report["epochs"] == 2
    assert report["task"] == "classify" and dp.load("m.dp").classes.tolist() == [0, 1, 2]


def test_options_a_stream_refuses_are_named_before_its_pass(shards, monkeypatch, capsys):
    """A stream's pass reads every row: options it refuses are named before it starts."""
    folder, _, _ = shards

    def no_pass(*args, **kwargs):
        raise AssertionError("the stream was scanned")
    monkeypatch.setattr(cli_data, "scan", no_pass)
    _read_whole_fails(monkeypatch)
    for option in ("--val-fraction 0.2", "--auto --stream", "--restarts 2", "--chunk-rows 0"):
        code, _, err = run(f"train --data {folder} --no-save {option}", capsys)
        one_line_error(code, err, option.split()[0])


def test_a_npy_file_larger_than_the_memory_available_streams_by_itself(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    X, y = make_rows(n=300)
    np.save("rows.npy", np.column_stack([X, y]))
    assert not cli_stream.streams("rows.npy")
    monkeypatch.setattr(cli_stream, "available_memory", lambda: 300 * 5 * 8)  # a quarter too little
    assert cli_stream.streams("rows.npy")
    code, out, _ = run("train --data rows.npy --target x4 --hidden 4 --epochs 1 --no-save --json",
                       capsys)
    assert code == 0 and json.loads(out)["streamed"]["rows"] == 300


def test_parquet_files_stream_with_their_target_column(tmp_path, monkeypatch, capsys):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    monkeypatch.chdir(tmp_path)
    X, y = make_rows(n=600)
    (tmp_path / "parts").mkdir()
    for i, rows in enumerate(np.split(np.arange(600), 2)):
        table = pa.table({"a": X[rows, 0], "b": X[rows, 1], "label": y[rows]})
        pq.write_table(table, tmp_path / "parts" / f"p{i}.parquet", row_group_size=128)
    code, out, _ = run("train --data parts --target label --hidden 4 --epochs 1 --out p.dp --json",
                       capsys)
    assert code == 0 and json.loads(out)["n_train"] == 600
    model = dp.load("p.dp")
    assert model.feature_names == ["a", "b"] and model.target_names == ["label"]
    np.testing.assert_allclose(model.preprocessing.features.mean, X[:, :2].mean(axis=0), rtol=1e-12)
    code, _, err = run("train --data parts --hidden 4 --epochs 1 --no-save", capsys)
    one_line_error(code, err, "--target")


# -- options -------------------------------------------------------------------------------------
def test_the_stream_options_have_the_python_names_and_defaults():
    defaults = inspect.signature(fit_stream).parameters
    args = build_parser().parse_args(["train"])
    assert args.chunk_rows == defaults["chunk_rows"].default
    assert args.buffer_rows == defaults["buffer_rows"].default
    assert args.stream is False


@pytest.mark.parametrize("option, named", [
    ("--val-fraction 0.2", "--val-fraction"), ("--test-fraction 0.2", "--test-fraction"),
    ("--restarts 2", "--restarts"), ("--n-jobs 2", "--n-jobs"),
    ("--checkpoint-every 1", "--checkpoint-every"), ("--batch-size full", "--batch-size full"),
    ("--one-hot", "--one-hot"), ("--chunk-rows 0", "--chunk-rows"), ("--buffer-rows -1", "--buffer-rows"),
    ("--auto --stream", "--auto does not go with streamed data"),
])
def test_options_a_stream_does_not_take_are_refused_by_name(shards, capsys, option, named):
    folder, _, _ = shards
    code, _, err = run(f"train --data {folder} --no-save {option}", capsys)
    one_line_error(code, err, named)


def test_a_stream_under_mpiexec_is_refused(shards, monkeypatch, capsys):
    folder, _, _ = shards
    monkeypatch.setattr(cli_stream.parallel, "launched_comm", lambda: object())
    code, _, err = run(f"train --data {folder} --epochs 1 --no-save", capsys)
    one_line_error(code, err, "mpiexec")


def test_a_buffer_too_large_for_the_machine_is_refused(shards, capsys):
    folder, _, _ = shards
    code, _, err = run(f"train --data {folder} --buffer-rows {10**15} --no-save", capsys)
    one_line_error(code, err, "--buffer-rows", "this machine has")


# -- bad input -----------------------------------------------------------------------------------
def _empty(folder, X, y):
    (folder.parent / "nothing").mkdir()
    return folder.parent / "nothing", ""


def _saving(name, rows, extra=""):
    """A damage that saves ``rows(X, y)`` as the shard file ``name``."""
    def damage(folder, X, y):
        np.save(folder / name, rows(X, y))
        return folder, extra
    return damage


def _writing(name, data, extra=""):
    def damage(folder, X, y):
        (folder / name).write_bytes(data)
        return folder, extra
    return damage


def _with_nan(X, y):
    bad = X[500:700].copy()
    bad[7, 2] = np.nan
    return bad


DAMAGES = {
    "empty": (_empty, ["empty folder"]),
    "unpaired": (_saving("X_003.npy", lambda X, y: X[:5]), ["X_003.npy without a y"]),
    "widths": (_saving("X_000.npy", lambda X, y: X[:500, :3]), ["different widths", "X_000.npy"]),
    "other file": (_writing("notes.txt", b"hi"), ["notes.txt is neither a .npy shard nor a .parquet file"]),
    "nan": (_saving("X_001.npy", _with_nan), ["X_001.npy: row 7 (counting from 0) holds nan in column 'x2'"]),
    "inf label": (_saving("y_002.npy", lambda X, y: np.where(np.arange(500) == 0, np.inf, y[700:] * 1.0)),
                  ["y_002.npy: row 0 (counting from 0) holds inf in column 'y'"]),
    "negative count": (_saving("y_000.npy", lambda X, y: np.where(np.arange(500) == 3, -1, y[:500]),
                               "--loss poisson"),
                       ["y_000.npy: row 3 (counting from 0) holds a negative target"]),
    "both kinds": (_writing("more.parquet", b"PAR1"), ["both .npy and .parquet"]),
    "target given": (_writing(".hidden", b"", "--target y"), ["--target is for Parquet files"]),
    "rows differ": (_saving("y_001.npy", lambda X, y: y[500:699]),
                    ["X_001.npy has 200 rows but", "y_001.npy has 199"]),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_bad_folders_are_refused_in_one_line(shards, capsys, damage):
    folder, X, y = shards
    spoil, needles = DAMAGES[damage]
    folder, extra = spoil(folder, X, y)
    code, _, err = run(f"train --data {folder} --epochs 1 --no-save {extra}", capsys)
    one_line_error(code, err, *needles)


def test_a_file_that_cannot_stream_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rows.csv").write_text("a,b\n1,0\n2,1\n3,0\n4,1\n")
    code, _, err = run("train --data rows.csv --target b --stream --no-save", capsys)
    one_line_error(code, err, "--stream takes a folder of shards, a .npy or a .parquet file")
    np.save("rows.npy", np.arange(12.0).reshape(4, 3))
    code, _, err = run("train --data rows.npy --target x7 --stream --no-save", capsys)
    one_line_error(code, err, "'x7'")
    code, _, err = run("train --data rows.npy --target x2,x2 --stream --no-save", capsys)
    one_line_error(code, err, "--target names the column 'x2' twice")
    for missing in ("missing.npy", "iris"):  # no file (an embedded dataset is read in memory)
        code, _, err = run(f"train --data {missing} --target x0 --stream --no-save", capsys)
        one_line_error(code, err, f"'{missing}' is no file or folder; --stream takes a folder")


def test_classes_and_tasks_are_decided_as_for_data_read_whole(shards, capsys):
    folder, X, y = shards
    data = training_data(str(folder), None, task=None, one_hot=False)
    assert isinstance(data, StreamedData) and data.task == "classify"
    assert data.classes.tolist() == [0, 1, 2] and data.stats.n_rows == 1200
    with pytest.raises(ValueError, match="never read whole"):
        _ = data.X
    np.save(folder / "y_000.npy", np.arange(500) * 1.5)  # many fractional values: numbers
    assert training_data(str(folder), None, task=None, one_hot=False).task == "regress"
    code, _, err = run(f"train --data {folder} --task classify --epochs 1 --no-save", capsys)
    one_line_error(code, err, "fractional numbers")


def test_an_unknown_label_at_evaluate_time_is_one_line(shards, capsys):
    folder, X, y = shards
    assert run(f"train --data {folder} --hidden 4 --epochs 1 --out m.dp --quiet", capsys)[0] == 0
    np.savez("new.npz", X=X[:10], y=np.full(10, 7))
    code, _, err = run("evaluate m.dp --data new.npz", capsys)
    one_line_error(code, err, "labels ['7'] never appeared in training")


# -- progress and memory -------------------------------------------------------------------------
def test_progress_counts_rows_in_about_ten_lines_off_a_terminal(shards, capsys):
    folder, _, _ = shards
    code, _, err = run(f"train --data {folder} --hidden 4 --epochs 3 --batch-size 50 --no-save",
                       capsys)
    lines = err.splitlines()
    assert code == 0 and 8 <= len(lines) <= 11, err
    counts = [int(re.match(r"rows ([\d,]+)/3,600  epoch \d/3", line).group(1).replace(",", ""))
              for line in lines]
    assert counts == sorted(counts) and counts[-1] == 3600 and "loss" in lines[-1]


def test_progress_of_a_run_stopped_early_ends_with_where_it_stopped():
    class Run:
        stop_reason = None

    out = _Lines()
    progress = RowProgress(n_rows=1000, batch_size=10, epochs=10, stream=out)
    progress.on_train_begin(Run())
    progress.on_batch_end(Run(), 55)  # 550 rows of 10,000: no tenth crossed yet
    progress.on_train_end(Run())
    assert out.lines == ["rows 550/10,000  epoch 1/10"]


def test_progress_shows_an_epochs_end_with_its_loss():
    """The last batch (a short one here: 7 rows) ends the epoch; its line is the epoch's, with
    the loss, not a line without it followed by none."""
    class Run:
        stop_reason = None

    out = _Lines()
    progress = RowProgress(n_rows=50, batch_size=7, epochs=1, stream=out)
    progress.on_train_begin(Run())
    for step in range(1, 9):
        progress.on_batch_end(Run(), step)
    progress.on_epoch_end(Run(), 1, {"loss": 0.25})
    progress.on_train_end(Run())
    assert out.lines[-1] == "rows 50/50  epoch 1/1  loss 0.25"
    assert [line.split()[1] for line in out.lines] == [
        "7/50", "14/50", "21/50", "28/50", "35/50", "42/50", "49/50", "50/50"]


@pytest.mark.parametrize("keywords, error", [
    ({"n_rows": 0}, ValueError), ({"batch_size": -1}, ValueError), ({"epochs": 1.5}, TypeError),
    ({"lines": 0}, ValueError), ({"stream": "stderr"}, TypeError)])
def test_row_progress_refuses_bad_arguments_by_name(keywords, error):
    arguments = {"n_rows": 10, "batch_size": 2, "epochs": 1, **keywords}
    with pytest.raises(error, match=next(iter(keywords))):
        RowProgress(**arguments)


class _Lines:
    def __init__(self):
        self.lines = []

    def write(self, text):
        self.lines.extend(line.rsplit("  ", 1)[0] for line in text.splitlines() if line)

    def flush(self):
        pass


def test_training_from_a_folder_never_holds_the_whole_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(24):  # 24 x 2,000 x 64 float64: 24 MiB of X
        X = rng.standard_normal((2000, 64))
        np.save(folder / f"X_{i}.npy", X)
        np.save(folder / f"y_{i}.npy", (X[:, 0] > 0).astype(np.int64))
    data_bytes = 24 * 2000 * 64 * 8
    tracemalloc.start()
    try:
        code = main(["train", "--data", str(folder), "--hidden", "8", "--epochs", "1",
                     "--batch-size", "256", "--chunk-rows", "500", "--buffer-rows", "2000",
                     "--no-save", "--quiet", "--engine", "numpy"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0
    assert peak < data_bytes / 4, f"peak {peak / 2**20:.1f} MiB for {data_bytes / 2**20:.0f} MiB of data"


# -- commands that need their data whole: sweep, --auto, resume ----------------------------------
def _no_pass(monkeypatch):
    def no_pass(*args, **kwargs):
        raise AssertionError("the stream was scanned")
    monkeypatch.setattr(cli_data, "scan", no_pass)


def test_a_folder_that_fits_is_read_whole_by_the_commands_that_need_it_whole(shards, monkeypatch,
                                                                              capsys):
    folder, X, y = shards
    _no_pass(monkeypatch)  # read whole: never streamed, never scanned
    data = training_data(str(folder), None, task=None, one_hot=False, whole=True)
    assert not isinstance(data, StreamedData) and data.task == "classify"
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, y)
    assert data.feature_names == ["x0", "x1", "x2", "x3"] and data.target_names == ["y"]
    (folder.parent / "spec.json").write_text(json.dumps(
        {"search": "grid", "params": {"lr": [0.01, 0.02], "hidden": ["4"]}, "epochs": 1}))
    code, out, err = run(f"sweep spec.json --data {folder} --out-dir out --json", capsys)
    assert code == 0, err
    assert json.loads(out)["succeeded"] == 2
    code, _, err = run(f"sweep spec.json --data {folder} --target y --out-dir out", capsys)
    one_line_error(code, err, "--target is for Parquet files")  # as train's stream says


def test_data_too_large_for_memory_are_refused_before_any_pass_when_needed_whole(
        shards, monkeypatch, capsys):
    folder, X, _ = shards
    _no_pass(monkeypatch)
    _read_whole_fails(monkeypatch)
    monkeypatch.setattr(cli_stream, "available_memory", lambda: 1200 * 5 * 8)  # too little
    (folder.parent / "spec.json").write_text(json.dumps({"search": "grid", "params": {"lr": [0.01]}}))
    code, _, err = run(f"sweep spec.json --data {folder} --out-dir out", capsys)
    one_line_error(code, err, "1,200 rows of 5 columns, too many to read whole here")
    code, _, err = run(f"train --data {folder} --auto --no-save", capsys)
    one_line_error(code, err, "too many to read whole here")
    np.save("rows.npy", X)  # a single file too large: refused, never read
    code, _, err = run("sweep spec.json --data rows.npy --target x3 --out-dir out", capsys)
    one_line_error(code, err, "rows.npy is too large to read whole here")


def test_a_parquet_folder_too_large_for_memory_is_refused_before_it_is_read(tmp_path, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    for i in range(2):
        pq.write_table(pa.table({"a": np.arange(100.0), "label": np.arange(100) % 2}),
                       tmp_path / f"p{i}.parquet")
    assert cli_stream.folder_table(str(tmp_path)).names == ["a", "label"]
    _read_whole_fails(monkeypatch)
    monkeypatch.setattr(cli_stream, "available_memory", lambda: 4 * 8 * 200 * 2 - 1)
    with pytest.raises(ValueError, match="holds 200 rows of 2 columns, too many to read whole"):
        cli_stream.folder_table(str(tmp_path))


def test_a_one_column_y_shard_classifies_as_a_one_dimensional_one(shards):
    folder, _, y = shards
    flat = training_data(str(folder), None, task=None, one_hot=False)
    for i, rows in enumerate(np.split(np.arange(len(y)), [500, 700])):
        np.save(folder / f"y_{i:03d}.npy", y[rows].reshape(-1, 1).astype(np.float64))
    column = training_data(str(folder), None, task=None, one_hot=False)
    assert column.task == flat.task == "classify" and column.target_names == ["y"]
    assert column.classes.tolist() == flat.classes.tolist() == [0, 1, 2]
    assert training_data(str(folder), None, task=None, one_hot=False, whole=True).task == "classify"


def test_a_one_column_y_shard_trains_a_classifier(shards, capsys):
    folder, _, y = shards
    for i, rows in enumerate(np.split(np.arange(len(y)), [500, 700])):
        np.save(folder / f"y_{i:03d}.npy", y[rows].reshape(-1, 1))
    code, out, err = run(f"train --data {folder} --hidden 4 --epochs 1 --out m.dp --json", capsys)
    assert code == 0, err
    assert json.loads(out)["task"] == "classify" and dp.load("m.dp").classes.tolist() == [0, 1, 2]


def test_a_streamed_classify_of_too_many_distinct_values_is_refused(shards, monkeypatch, capsys):
    folder, _, _ = shards
    monkeypatch.setattr(cli_data, "MAX_CLASSES", 50)
    for i, n in enumerate((500, 200, 500)):  # whole numbers, every one distinct
        np.save(folder / f"y_{i:03d}.npy", np.arange(n) + 1000 * i)
    seen = []
    real_scan = cli_data.scan
    monkeypatch.setattr(cli_data, "scan", lambda *a, **k: seen.append(k["cap"]) or real_scan(*a, **k))
    code, _, err = run(f"train --data {folder} --task classify --epochs 1 --no-save", capsys)
    one_line_error(code, err, "holds more than 50 distinct values; use --task regress")
    assert seen == [50]


def test_the_checkpoints_option_kinds_are_the_training_options_own():
    from deltaprop.cli import resume_options
    from deltaprop.tuning import options

    assert resume_options.TRAIN_OPTIONS.items() >= options.KINDS.items()
    assert resume_options.CHOICES.items() >= options.CHOICES.items()


def test_a_scheduler_that_does_not_answer_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    pytest.importorskip("distributed")
    cli_sweep = importlib.import_module("deltaprop.cli.sweep")  # (the package exports sweep())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_sweep, "CONNECT_SECONDS", 0.3)
    (tmp_path / "spec.json").write_text(json.dumps({"search": "grid", "params": {"lr": [0.01]}}))
    for address in ("tcp://127.0.0.1:1", "tcp://nowhere"):
        code, _, err = run(f"sweep spec.json --data xor --scheduler {address} --out-dir out", capsys)
        one_line_error(code, err, f"--scheduler {address}: no Dask scheduler answered")
