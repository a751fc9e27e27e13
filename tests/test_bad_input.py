"""Bad input on every surface (the Python API, the scikit-learn estimators, the command line)
gets a clear error that names the problem, raised before any work: a ValueError or TypeError
whose message matches, never an IndexError, a NumPy broadcasting error or a traceback from
inside the library; on the command line exit code 2 and one line on stderr.

Each table row is (surface, case, action, expected message). The count of cases is asserted,
so the table cannot silently shrink."""

from __future__ import annotations

import json
import os
import pickle
import re
import shlex
import zipfile

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.cli import main
from deltaprop.data.labels import LabelEncoder
from deltaprop.files.container import read_archive, write_archive
from deltaprop.stream import NpyArray, NpyShards, fit_stream

sklearn_estimators = pytest.importorskip("deltaprop.sklearn")
MLPClassifier, MLPRegressor = sklearn_estimators.MLPClassifier, sklearn_estimators.MLPRegressor

RNG = np.random.default_rng(0)
X = RNG.standard_normal((20, 3))
Y_CLASS = np.arange(20) % 3
Y_REG = X @ np.array([1.0, -2.0, 0.5])


def with_value(array, index, value):
    changed = np.array(array, dtype=float)
    changed[index] = value
    return changed


def sparse(kind, array):
    import scipy.sparse

    return getattr(scipy.sparse, kind)(array)


def frame(**changed):
    import pandas as pd

    columns = {name: X[:, j] for j, name in enumerate("abc")}
    return pd.DataFrame({**columns, **changed})


def series(values):
    import pandas as pd

    return pd.Series(values)


def categorical(values):
    import pandas as pd

    return pd.Categorical(values)


def nullable(values, dtype):
    import pandas as pd

    return pd.array(values, dtype=dtype)


def shard_pair(tmp_path, rows=10, keep_rows=None):
    """A pair of .npy shards of ``rows`` rows, X cut to its first ``keep_rows`` rows."""
    x_path, y_path = tmp_path / "X_0.npy", tmp_path / "y_0.npy"
    np.save(x_path, np.ones((rows, 3)))
    np.save(y_path, np.zeros(rows, dtype=np.int64))
    if keep_rows is not None:
        raw = x_path.read_bytes()
        x_path.write_bytes(raw[: len(raw) - (rows - keep_rows) * 3 * 8 + 4])
    return str(x_path), str(y_path)


def npy_header_only(tmp_path, shape):
    path = tmp_path / "header.npy"
    with open(path, "wb") as stream:
        np.lib.format.write_array_header_1_0(stream, {"descr": "<f8", "fortran_order": False, "shape": shape})
        stream.write(bytes(48))
    return str(path)


def net():
    return dp.MLP([3, 5, 3], seed=0)


def fit(**changes):
    options = {"X": X, "y": Y_CLASS, "loss": "cross_entropy", "epochs": 2}
    options.update(changes)
    model = net()
    before = model.theta.copy()
    try:
        model.fit(options.pop("X"), options.pop("y"), **options)
    finally:
        np.testing.assert_array_equal(model.theta, before)  # raised before any work


def trained(tmp_path):
    model = net()
    model.fit(X, Y_CLASS, loss="cross_entropy", epochs=1)
    path = tmp_path / "model.dp"
    dp.save(model, path)
    return model, path


def damaged(tmp_path, how):
    _, path = trained(tmp_path)
    raw = path.read_bytes()
    if how == "truncated":
        path.write_bytes(raw[: len(raw) // 3])
    elif how == "future":
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        metadata = json.loads(members["metadata.json"])
        metadata["format_version"] = 99
        members["metadata.json"] = json.dumps(metadata).encode()
        with zipfile.ZipFile(path, "w") as archive:
            for name, content in members.items():
                archive.writestr(name, content)
    elif how == "corrupted":
        middle = len(raw) // 2
        path.write_bytes(raw[:middle] + bytes(b ^ 0x5A for b in raw[middle:middle + 64]) + raw[middle + 64:])
    elif how == "not a model":
        path.write_text("name,age\nann,3\n")
    elif how == "pickle":
        path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    return path


API = [
    ("NaN in X", lambda t: fit(X=with_value(X, (0, 0), np.nan)), "NaN or infinity"),
    ("inf in y", lambda t: fit(y=with_value(Y_REG, 3, np.inf), loss="squared_error"),
     "NaN or infinity"),
    ("X is 1-D", lambda t: fit(X=X[:, 0]), r"must be 2-D .* reshape"),
    ("X is 3-D", lambda t: fit(X=X[None]), "must be 2-D"),
    ("y has too few rows", lambda t: fit(y=Y_CLASS[:-2]), "X has 20 samples but y has 18"),
    ("y has the wrong columns", lambda t: fit(y=np.zeros((20, 2)), loss="squared_error"),
     r"targets have shape \(20, 2\) but the network has 3 output"),
    ("zero samples", lambda t: fit(X=X[:0], y=Y_CLASS[:0]), "zero samples"),
    ("strings in X", lambda t: fit(X=np.array([["a"] * 3] * 20)), "X must hold numbers"),
    ("object array X", lambda t: fit(X=np.array([[{}] * 3] * 20, dtype=object)),
     "X must hold numbers"),
    ("strings in y", lambda t: fit(y=np.array(["a"] * 20)),
     "targets must be numbers, got labels such as .a."),
    ("negative width", lambda t: dp.MLP([3, -4, 2]), r"layer_sizes\[1\] must be an integer > 0"),
    ("zero width", lambda t: dp.MLP([3, 0, 2]), r"layer_sizes\[1\] must be an integer > 0"),
    ("negative learning rate", lambda t: dp.SGD(lr=-0.1), "lr must be a number > 0"),
    ("zero batch size", lambda t: fit(batch_size=0), "batch_size must be an integer > 0"),
    ("zero epochs", lambda t: fit(epochs=0), "epochs must be an integer > 0"),
    ("dropout of 1", lambda t: dp.MLP([3, 4, 2], dropout=1.0), r"dropout must lie in \[0, 1\)"),
    ("unknown activation", lambda t: dp.MLP([3, 4, 2], activation="swish"),
     "unknown activation 'swish'; valid names are: elu, exp, identity"),
    ("unknown loss", lambda t: fit(loss="hinge"), "unknown loss 'hinge'; valid names are"),
    ("unknown optimizer", lambda t: fit(optimizer="rmsprop"),
     "unknown optimizer 'rmsprop'; valid names are: adam, lbfgs, sgd"),
    ("unknown init", lambda t: dp.MLP([3, 4, 2], init="orthogonal"),
     "unknown init 'orthogonal'; valid names are"),
    ("cross-entropy on regression targets", lambda t: fit(y=Y_REG), "class labels must be whole numbers"),
    ("a label beyond the outputs", lambda t: fit(y=np.arange(20) % 5), "label 3 is outside 0..2"),
    ("batch norm with batches of 1", lambda t: dp.MLP([3, 4, 3], batch_norm=True).fit(
        X, Y_CLASS, loss="cross_entropy", batch_size=1), "batch normalization needs at least 2 samples"),
    ("wrong features at predict", lambda t: net().predict(X[:, :2]),
     "X has 2 features but the network expects 3"),
    ("negative sample weight", lambda t: fit(sample_weight=with_value(np.ones(20), 0, -1)),
     "must be non-negative"),
    ("truncated model file", lambda t: dp.load(damaged(t, "truncated")), "truncated"),
    ("corrupted model file", lambda t: dp.load(damaged(t, "corrupted")), "corrupted|truncated"),
    ("model from a future format", lambda t: dp.load(damaged(t, "future")), "newer deltaprop"),
    ("not a model file", lambda t: dp.load(damaged(t, "not a model")), "not a deltaprop model file"),
    ("a pickle given as a model", lambda t: dp.load(damaged(t, "pickle")), "not a deltaprop model file"),
    # masked arrays: the mask would be ignored
    ("masked X", lambda t: fit(X=np.ma.masked_array(X, mask=X > 1)), "X is a masked array with masked"),
    ("masked y", lambda t: fit(y=np.ma.masked_array(Y_CLASS, mask=Y_CLASS == 2)),
     "y is a masked array .* fill them"),
    ("masked sample weights", lambda t: fit(sample_weight=np.ma.masked_array(np.ones(20), mask=Y_CLASS == 0)),
     "sample_weight is a masked array"),
    ("masked validation X", lambda t: fit(validation_data=(np.ma.masked_array(X, mask=X > 1), Y_CLASS)),
     "validation X is a masked array"),
    # sample weights: a number is that weight for every sample, checked as a vector is
    ("sample weight 0", lambda t: fit(sample_weight=0), "sample_weight is all zero"),
    ("all-zero sample weights", lambda t: fit(sample_weight=np.zeros(20)), "sample_weight is all zero"),
    ("negative scalar sample weight", lambda t: fit(sample_weight=-1.0),
     "sample_weight must be non-negative"),
    ("NaN scalar sample weight", lambda t: fit(sample_weight=float("nan")), "sample_weight contains NaN"),
    ("NaN in sample weights", lambda t: fit(sample_weight=with_value(np.ones(20), 4, np.nan)),
     "sample_weight contains NaN"),
    ("text sample weight", lambda t: fit(sample_weight="1"), "sample_weight must hold numbers"),
    # values beyond the network's float32
    ("targets beyond float32", lambda t: fit(y=np.full((20, 3), 1e39), loss="squared_error"),
     r"y \(the targets\) holds 1e\+39, beyond the largest float32 \(3.403e\+38\)"),
    ("one target beyond float32",
     lambda t: fit(y=with_value(np.zeros((20, 3)), (7, 1), -4e38), loss="squared_error"),
     r"holds 4e\+38, beyond the largest float32"),
    ("X beyond float32", lambda t: fit(X=with_value(X, (2, 2), 1e39)),
     r"X holds 1e\+39, beyond the largest float32"),
    ("validation targets beyond float32", lambda t: fit(
        y=np.zeros((20, 3)), loss="squared_error", validation_data=(X, np.full((20, 3), 1e40))),
     "validation y .* beyond the largest float32"),
    # scipy.sparse and pandas
    ("sparse y", lambda t: fit(y=sparse("csr_matrix", np.eye(3)[Y_CLASS])), r"y is a scipy.sparse matrix"),
    # a newcomer's first mistakes: the message says what to do
    ("class labels with the default squared error", lambda t: fit(loss="squared_error"),
     r"y looks like class labels 0\.\.2: to classify, train with loss=\"cross_entropy\""),
    ("string labels in the core", lambda t: fit(y=np.array(["cat", "dog", "emu"] * 6 + ["cat", "dog"])),
     r"targets must be numbers, got labels such as 'cat': encode them first, e.g\. classes, y = "
     r"np\.unique\(y, return_inverse=True\).*MLPClassifier"),
    ("NaN in sparse X", lambda t: fit(X=sparse("csr_matrix", with_value(X, (2, 1), np.nan))),
     "X contains NaN or infinity"),
    ("sparse X of the wrong width at predict", lambda t: net().predict(sparse("coo_matrix", X[:, :2])),
     "X has 2 features|2 columns"),
    ("sparse X for the compiled engine", lambda t: fit(X=sparse("csr_matrix", X), engine="compiled"),
     "the input X is sparse"),
    ("categorical column", lambda t: fit(X=frame(c=categorical(["u", "v"] * 10))),
     "X column 'c' is categorical; one-hot encode it"),
    ("<NA> in a nullable Int64 column", lambda t: fit(X=frame(b=nullable([1, None] * 10, "Int64"))),
     "X column 'b' has 10 missing value"),
    ("<NA> in a nullable boolean column", lambda t: fit(X=frame(a=nullable([True, None] * 10, "boolean"))),
     "X column 'a' has 10 missing value"),
    ("NaN in a float column", lambda t: fit(X=frame(a=with_value(X[:, 0], 3, np.nan))),
     "X column 'a' has 1 missing value"),
    ("text column", lambda t: fit(X=frame(c=["x"] * 20)),
     "X column 'c' holds (object|str) values, not numbers"),
    ("<NA> in a target Series", lambda t: fit(y=series(nullable([0, 1, None, 2] * 5, "Int64"))),
     "y has 5 missing value"),
    ("categorical target Series", lambda t: fit(y=series(categorical([0, 1] * 10))), "y is categorical"),
    # class labels: numbers or text only
    ("datetime labels", lambda t: LabelEncoder.fit(np.arange(3).astype("datetime64[D]")),
     r"class labels of dtype datetime64\[D\] are not supported"),
    ("timedelta labels", lambda t: LabelEncoder.fit(np.arange(3).astype("timedelta64[s]")),
     "dtype timedelta64"),
    ("complex labels", lambda t: LabelEncoder.fit(np.arange(3) + 1j), "dtype complex128"),
    ("structured labels", lambda t: LabelEncoder.fit(np.zeros(3, dtype=[("a", "<i4")])), "not supported"),
    ("object labels that are no text", lambda t: LabelEncoder.fit(np.array([None, {}, 1], dtype=object)),
     "must be strings or numbers, not NoneType, dict"),
    ("NaN labels", lambda t: LabelEncoder.fit([1.0, np.nan]), "class labels contain NaN"),
    ("stored labels of a datetime dtype", lambda t: LabelEncoder.from_config(
        {"dtype": "<M8[D]", "values": [0, 1]}), r"dtype '<M8\[D\]'; class labels are numbers"),
    ("stored labels unsorted", lambda t: LabelEncoder.from_config({"dtype": "<U1", "values": ["b", "a"]}),
     "sorted and distinct"),
    ("stored labels of the wrong type", lambda t: LabelEncoder.from_config(
        {"dtype": "<i8", "values": ["1", "2"]}), "must all be int"),
    ("stored labels beyond their dtype", lambda t: LabelEncoder.from_config(
        {"dtype": "|u1", "values": [1, 256]}), r"outside the range of \|u1"),
    ("stored labels not a list", lambda t: LabelEncoder.from_config({"dtype": "<i8", "values": 5}),
     "must be a list"),
    # streamed shards
    ("truncated .npy shard", lambda t: NpyShards([shard_pair(t, keep_rows=3)]),
     r"truncated .npy file: its header declares 10 rows .* holds 3 whole rows"),
    ("shard header claiming 10^12 rows", lambda t: NpyArray.open(npy_header_only(t, (10**12, 3))),
     "declares 1000000000000 rows"),
    ("shard with negative rows", lambda t: NpyArray.open(npy_header_only(t, (-1, 3))), "has a negative size"),
    ("only empty shards",
     lambda t: fit_stream(net(), NpyShards([shard_pair(t, rows=0)]), loss="cross_entropy"),
     "the stream holds no rows"),
    # options, callbacks and output locations (junk taken as meaning something)
    ("None among the callbacks", lambda t: fit(callbacks=[None]), r"callbacks\[0\] is None"),
    ("a string as the callbacks", lambda t: fit(callbacks="on_epoch_end"),
     "callbacks must be a list of callbacks"),
    ("shuffle='no'", lambda t: fit(shuffle="no"), "shuffle must be True or False, got 'no'"),
    ("verbose='yes'", lambda t: fit(verbose="yes"), "verbose must be True, False or an integer >= 0"),
    ("a bool layer width", lambda t: dp.MLP([3, True, 2]),
     r"layer_sizes\[1\] must be an integer > 0, got True"),
    ("a float layer width", lambda t: dp.MLP([3, 4.0, 2]),
     r"layer_sizes\[1\] must be an integer > 0, got 4.0"),
    ("batch_norm='no'", lambda t: dp.MLP([3, 4, 2], batch_norm="no"), "batch_norm must be True or False"),
    ("NaN l2", lambda t: fit(l2=np.nan), "l2 must be a number >= 0, got nan"),
    ("checkpoint in a missing folder", lambda t: fit(checkpoint=t / "missing" / "run.ckpt"),
     "the folder .*missing does not exist"),
    ("checkpoint onto a folder", lambda t: fit(checkpoint=t), "is a folder; name a file to write"),
]

ESTIMATORS = [
    ("NaN in X", lambda t: MLPClassifier(max_iter=2).fit(with_value(X, (1, 1), np.nan), Y_CLASS),
     "Input X contains NaN"),
    ("one class only", lambda t: MLPClassifier(max_iter=2).fit(X, np.zeros(20)), "at least 2 classes"),
    ("a class partial_fit never saw", lambda t: MLPClassifier(max_iter=2).partial_fit(
        X, Y_CLASS, classes=[0, 1, 2]).partial_fit(X, Y_CLASS + 1),
     r"`y` has classes not in `self.classes_`"),
    ("wrong features at predict", lambda t: MLPClassifier(max_iter=2).fit(X, Y_CLASS).predict(X[:, :2]),
     "X has 2 features, but MLPClassifier is expecting 3"),
    ("strings in X", lambda t: MLPRegressor(max_iter=2).fit(np.array([["a"] * 3] * 20), Y_REG),
     "could not convert string to float|dtype='numeric' is not compatible"),
    ("zero hidden width", lambda t: MLPClassifier((4, 0), max_iter=2).fit(X, Y_CLASS), "hidden_layer_sizes"),
    ("zero batch size", lambda t: MLPClassifier(batch_size=0, max_iter=2).fit(X, Y_CLASS), "batch_size"),
    ("zero max_iter", lambda t: MLPClassifier(max_iter=0).fit(X, Y_CLASS), "max_iter must be"),
    ("negative learning rate", lambda t: MLPClassifier(learning_rate_init=-1, max_iter=2).fit(X, Y_CLASS),
     "learning_rate_init must be"),
    ("dropout above 1", lambda t: MLPClassifier(dropout=1.5, max_iter=2).fit(X, Y_CLASS), "dropout"),
    ("unknown activation", lambda t: MLPClassifier(activation="swish", max_iter=2).fit(X, Y_CLASS),
     "unknown activation 'swish'"),
    ("categorical column", lambda t: MLPClassifier(max_iter=2).fit(frame(c=categorical(["nice", "bad"] * 10)),
                                                                  Y_CLASS),
     "X column 'c' is categorical; one-hot encode it"),
    ("text column", lambda t: MLPClassifier(max_iter=2).fit(frame(c=["nice", "bad"] * 10), Y_CLASS),
     "X column 'c' holds (object|str) values, not numbers"),
    ("unknown solver", lambda t: MLPClassifier(solver="newton").fit(X, Y_CLASS),
     "solver must be 'lbfgs', 'sgd' or 'adam', got 'newton'"),
    ("zero max_fun", lambda t: MLPClassifier(solver="lbfgs", max_fun=0).fit(X, Y_CLASS), "max_fun must be"),
    ("negative Poisson targets", lambda t: MLPRegressor(loss="poisson", max_iter=2).fit(X, Y_REG - 10),
     "poisson targets must be non-negative"),
    ("NaN in regression targets", lambda t: MLPRegressor(max_iter=2).fit(X, with_value(Y_REG, 0, np.nan)),
     "Input y contains NaN"),
    ("one-hot y without multilabel", lambda t: MLPClassifier(max_iter=2).fit(X, np.eye(3)[Y_CLASS]),
     "y is one-hot"),
    ("sample_weight of the wrong length",
     lambda t: MLPClassifier(max_iter=2).fit(X, Y_CLASS, sample_weight=np.ones(3)),
     r"sample_weight has shape \(3,\) but X has 20 samples"),
    # options, callbacks and parameters (junk taken as meaning something)
    ("a string among the callbacks", lambda t: MLPClassifier(max_iter=2, callbacks=["print"]).fit(X, Y_CLASS),
     r"callbacks\[0\] is 'print' \(str\), not a callback"),
    ("shuffle='no'", lambda t: MLPClassifier(max_iter=2, shuffle="no").fit(X, Y_CLASS),
     "shuffle must be True or False, got 'no'"),
    ("early_stopping=1", lambda t: MLPRegressor(max_iter=2, early_stopping=1).fit(X, Y_REG),
     "early_stopping must be True or False, got 1"),
    ("a bool hidden width", lambda t: MLPClassifier((4, True), max_iter=2).fit(X, Y_CLASS),
     r"hidden_layer_sizes\[1\] must be an integer > 0, got True"),
    ("a float hidden width", lambda t: MLPClassifier((4.0,), max_iter=2).fit(X, Y_CLASS),
     r"hidden_layer_sizes\[0\] must be an integer > 0, got 4.0"),
    ("NaN power_t", lambda t: MLPClassifier(solver="sgd", learning_rate="invscaling", power_t=np.nan,
                                            max_iter=2).fit(X, Y_CLASS), "power_t must be a number >= 0"),
    ("a float max_iter", lambda t: MLPClassifier(max_iter=2.0).fit(X, Y_CLASS),
     "max_iter must be an integer > 0, got 2.0"),
    ("early stopping with no validation", lambda t: MLPClassifier(
        max_iter=2, early_stopping=True, validation_fraction=0.0).fit(X, Y_CLASS),
     "validation_fraction must be > 0 with early_stopping=True"),
    ("NaN class weight", lambda t: MLPClassifier(max_iter=2, class_weight={0: np.nan}).fit(X, Y_CLASS),
     r"class_weight\[0\] must be a number >= 0, got nan"),
    ("class weight of no class", lambda t: MLPClassifier(max_iter=2, class_weight={7: 2.0}).fit(X, Y_CLASS),
     r"class_weight names \[7\], not classes of y"),
    ("zero sample weight", lambda t: MLPRegressor(max_iter=2).fit(X, Y_REG, sample_weight=0),
     "sample_weight is all zero"),
    ("negative scalar sample weight", lambda t: MLPClassifier(max_iter=2).fit(X, Y_CLASS, sample_weight=-1),
     "sample_weight must be non-negative"),
    ("NaN scalar sample weight", lambda t: MLPClassifier(max_iter=2).fit(X, Y_CLASS, sample_weight=np.nan),
     "sample_weight contains NaN or infinity"),
    ("negative random_state", lambda t: MLPClassifier(max_iter=2, random_state=-1).fit(X, Y_CLASS),
     r"random_state must be None, an int in \[0, 2\*\*32 - 1\]"),
]

CLI = [
    ("missing target column", "train --data data.csv --target colour", "'colour'"),
    ("ragged rows", "train --data ragged.csv --target y", "line 3"),
    ("empty file", "train --data empty.csv --target y", "is empty"),
    ("non-UTF-8 file", "train --data latin1.csv --target y", "not UTF-8"),
    ("text feature without --one-hot", "train --data text.csv --target y", "hold text"),
    ("negative epochs", "train --data data.csv --target y --epochs -3", "--epochs must be at least 1"),
    ("unknown activation", "train --data data.csv --target y --activation swish",
     "unknown activation 'swish'"),
    ("dropout of 1", "train --data data.csv --target y --dropout 1", r"--dropout must lie in \[0, 1\)"),
    ("truncated model", "info truncated.dp", "truncated"),
    ("model from a future format", "info future.dp", "newer deltaprop"),
    ("not a model", "info data.csv", "not a deltaprop model file"),
    ("wrong features at predict", "predict model.dp --data narrow.csv", r"'b'"),
    ("an unseen label at evaluate", "evaluate model.dp --data unseen.csv", "never appeared in training"),
    ("no such file", "evaluate model.dp --data nowhere.csv", "neither a file nor an embedded dataset"),
    # outputs never overwrite inputs or each other (compared as files, not as spellings)
    ("--out onto the data", "train --data data.csv --target y --out ./data.csv",
     "--out ./data.csv is the same file as the input --data data.csv"),
    ("--history onto a hard link of the data", "train --data data.csv --target y --history hard.csv",
     "--history hard.csv is the same file as the input --data"),
    ("--checkpoint onto a symbolic link of the data",
     "train --data data.csv --target y --checkpoint-every 1 --checkpoint sym.csv",
     "--checkpoint sym.csv is the same file as the input --data"),
    ("--history equal to --out", "train --data data.csv --target y --out m.dp --history sub/../m.dp",
     "--history sub/../m.dp and --out m.dp are the same file"),
    ("predict --out onto the model", "predict model.dp --data data.csv --out model.dp",
     "--out model.dp is the same file as the input model"),
    ("predict --out onto the data", "predict model.dp --data data.csv --out sub/../data.csv",
     "is the same file as the input --data"),
    ("export --onnx onto the model", "export model.dp --onnx ./model.dp",
     "--onnx ./model.dp is the same file as the input model"),
    ("plot --out onto the model", "plot model.dp --out model.dp", "is the same file as the input source"),
    ("an output that is a device", "predict model.dp --data data.csv --out /dev/null",
     "is not a regular file"),
    ("an output that is a folder", "predict model.dp --data data.csv --out sub", "--out sub is a folder"),
    # sweep
    ("a sweep spec of the wrong kind", "sweep badkind.json --data data.csv --target y",
     "params.lr must be a number, got 'fast'"),
    ("a grid too large to run", "sweep biggrid.json --data data.csv --target y",
     "the grid holds 1,000,000 combinations"),
    ("--out-dir naming a file", "sweep spec.json --data data.csv --target y --out-dir data.csv",
     "--out-dir data.csv is a file, not a folder"),
    # command-line tracebacks
    ("deeply nested history JSON", "plot deep.json --out p.png", "levels deep; at most 64 are allowed"),
    ("deeply nested sweep spec", "sweep deep.json --data data.csv --target y",
     "levels deep; at most 64 are allowed"),
    ("--hidden too large for memory", "train --data data.csv --target y --hidden 1000000000000",
     r"would need [\d.]+ [TP]iB; this machine has"),
    ("gradcheck --rows too large for memory", "gradcheck --rows 1000000000000",
     "would need 524 TiB; this machine has"),
    ("a checkpoint with incomplete stored options", "resume partial.ckpt",
     "stored train options lack hidden, lr"),
    ("an unknown option", "train --hiden 16",
     r"^deltaprop train: error: unknown option --hiden; did you mean --hidden\? "
     r"\(try: deltaprop train --help\)$"),
    ("a bad option value", "train --epochs ten",
     r"argument --epochs: invalid int value: 'ten' \(try: deltaprop train --help\)$"),
    ("a missing argument", "predict model.dp",
     r"required: --data \(try: deltaprop predict --help\)$"),
]


def test_the_table_covers_at_least_forty_bad_inputs_on_three_surfaces():
    assert len(API) + len(ESTIMATORS) + len(CLI) >= 50
    assert min(len(API), len(ESTIMATORS), len(CLI)) >= 10


@pytest.mark.parametrize("case, action, message", API, ids=[row[0] for row in API])
def test_python_api(case, action, message, tmp_path):
    with pytest.raises((ValueError, TypeError)) as caught:
        action(tmp_path)
    assert type(caught.value).__name__ in ("ValueError", "TypeError", "ModelFileError")
    assert re.search(message, str(caught.value)), str(caught.value)


@pytest.mark.parametrize("case, action, message", ESTIMATORS, ids=[row[0] for row in ESTIMATORS])
def test_estimators(case, action, message, tmp_path):
    with pytest.raises((ValueError, TypeError)) as caught:
        action(tmp_path)
    assert re.search(message, str(caught.value)), str(caught.value)


@pytest.fixture
def cli_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = "".join(f"{a:.3f},{b:.3f},{int(c)}\n" for (a, b, _), c in zip(X, Y_CLASS))
    (tmp_path / "data.csv").write_text("a,b,y\n" + rows)
    (tmp_path / "ragged.csv").write_text("a,b,y\n1,2,0\n1,2\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "latin1.csv").write_bytes("a,b,y\n1,2,caf\xe9\n".encode("latin-1"))
    (tmp_path / "text.csv").write_text("a,b,y\n" + "".join(f"{i},x{i % 2},{i % 2}\n" for i in range(10)))
    (tmp_path / "narrow.csv").write_text("a,y\n1,0\n")
    (tmp_path / "unseen.csv").write_text("a,b,y\n1,2,7\n")
    assert main(["train", "--data", "data.csv", "--target", "y", "--epochs", "2", "--quiet",
                 "--out", "model.dp"]) == 0
    os.link(tmp_path / "data.csv", tmp_path / "hard.csv")
    os.symlink("data.csv", tmp_path / "sym.csv")
    (tmp_path / "sub").mkdir()
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "spec.json").write_text(json.dumps({"params": {"lr": [0.01]}, "epochs": 2}))
    (tmp_path / "badkind.json").write_text(json.dumps({"params": {"lr": ["fast"]}}))
    (tmp_path / "biggrid.json").write_text(json.dumps({"params": {
        name: list(range(1, 11)) for name in ("lr", "l2", "dropout", "momentum", "hidden", "batch_size")}}))
    assert main(["train", "--data", "data.csv", "--target", "y", "--epochs", "1", "--quiet", "--hidden",
                 "4", "--checkpoint-every", "1", "--checkpoint", "partial.ckpt"]) == 0
    archive = read_archive(tmp_path / "partial.ckpt")
    for name in ("hidden", "lr"):  # a checkpoint whose stored arguments are incomplete
        del archive.sections["metadata"]["train_options"][name]
    write_archive(tmp_path / "partial.ckpt", archive.kind, archive.sections, archive.arrays)
    raw = (tmp_path / "model.dp").read_bytes()
    (tmp_path / "truncated.dp").write_bytes(raw[: len(raw) // 2])
    with zipfile.ZipFile(tmp_path / "model.dp") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    metadata = json.loads(members["metadata.json"])
    metadata["format_version"] = 99
    members["metadata.json"] = json.dumps(metadata).encode()
    with zipfile.ZipFile(tmp_path / "future.dp", "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return tmp_path


@pytest.mark.parametrize("case, argv, message", CLI, ids=[row[0] for row in CLI])
def test_command_line(case, argv, message, cli_files, capsys):
    capsys.readouterr()
    code = main(shlex.split(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.search(message, err), err


def test_what_the_data_checks_refuse_only_when_it_would_be_misread():
    """The checks above refuse masks, sparse matrices and pandas' gaps; the same containers
    holding plain numbers train exactly as the arrays do."""
    pd = pytest.importorskip("pandas")
    plain = net().fit(X, Y_CLASS, loss="cross_entropy", epochs=2).loss
    columns = {"a": X[:, 0], "b": pd.array(np.round(X[:, 1] * 0).astype(int), dtype="Int64"), "c": X[:, 2]}
    frame = pd.DataFrame(columns)
    nullable = net().fit(frame, pd.Series(Y_CLASS, dtype="Int64"), loss="cross_entropy", epochs=2).loss
    rounded = net().fit(np.column_stack([X[:, 0], np.round(X[:, 1] * 0), X[:, 2]]), Y_CLASS,
                        loss="cross_entropy", epochs=2).loss
    assert nullable == rounded
    unmasked = net().fit(np.ma.masked_array(X, mask=False), Y_CLASS, loss="cross_entropy", epochs=2).loss
    assert unmasked == plain
    weighted = net().fit(X, Y_CLASS, loss="cross_entropy", epochs=2, sample_weight=2.5).loss
    assert weighted == pytest.approx(plain)
