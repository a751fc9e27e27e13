"""Reading data files: CSV rules and errors, .npy/.npz/.parquet, split, one-hot and features."""

from __future__ import annotations

import io
import os
import re
import struct
import sys
import zipfile

import numpy as np
import pytest

from deltaprop.data.readers import check_column_names
from deltaprop.data.tables import DataFileError, Table, read_table


def write(tmp_path, text, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --- reading CSV -------------------------------------------------------------------------------

def test_numeric_and_text_columns_in_file_order(tmp_path):
    table = read_table(write(tmp_path, "age,city,score\n30,Oslo,1.5\n41,Lima,-2e3\n"))
    assert table.names == ["age", "city", "score"] and table.n_rows == 2
    assert table.columns["age"].dtype == np.float64
    np.testing.assert_array_equal(table.columns["score"], [1.5, -2000.0])
    assert table.columns["city"].tolist() == ["Oslo", "Lima"] and table.is_text("city")
    assert not table.is_text("age")
    assert table.source == str(tmp_path / "data.csv")


def test_quotes_commas_newlines_and_doubled_quotes_inside_cells(tmp_path):
    text = 'name,x\n"Smith, J.",1\n"say ""hi""",2\n"two\nlines",3\n'
    table = read_table(write(tmp_path, text))
    assert table.columns["name"].tolist() == ["Smith, J.", 'say "hi"', "two\nlines"]
    np.testing.assert_array_equal(table.columns["x"], [1, 2, 3])


def test_spaces_are_stripped_blank_lines_skipped_and_a_bom_ignored(tmp_path):
    table = read_table(write(tmp_path, "\ufeff a , b \r\n\r\n 1 , red \r\n2,blue\r\n\r\n"))
    assert table.names == ["a", "b"]
    assert table.columns["b"].tolist() == ["red", "blue"]
    np.testing.assert_array_equal(table.columns["a"], [1, 2])


def test_missing_cells_make_nan_in_numeric_columns_but_na_is_a_value_of_text_columns(tmp_path):
    table = read_table(write(tmp_path, "x,region\n1,NA\n,EU\nNaN,\nnull,AS\n5,EU\n"))
    np.testing.assert_array_equal(np.isnan(table.columns["x"]), [False, True, True, True, False])
    assert table.columns["region"].tolist() == ["NA", "EU", "", "AS", "EU"]
    assert table.categories() == {"region": ["AS", "EU", "NA"]}  # "" is missing, not a category


@pytest.mark.parametrize("name, text", [
    ("data.tsv", "a\tb\n1\t2\n"),
    ("data.txt", "a\tb\n1\t2\n"),
    ("data.csv", "a;b\n1;2\n"),
    ("data.txt", "a,b\n1,2\n"),
])
def test_delimiters_tab_and_semicolon(tmp_path, name, text):
    table = read_table(write(tmp_path, text, name))
    assert table.names == ["a", "b"]
    np.testing.assert_array_equal(table.columns["b"], [2.0])


@pytest.mark.parametrize("text, pattern", [
    ("", r"data\.csv is empty; it needs a header row"),
    ("  \n\n", r"data\.csv is empty"),
    ("a,b,c\n", r"data\.csv has a header row but no data rows"),
    ("a,b,c\n1,2,3\n4,5\n", r"data\.csv, line 3: 2 fields, but the header has 3; each row needs one value"),
    ('a,b\n1,"x\ny"\n2,3,4\n', r"data\.csv, line 4: 3 fields, but the header has 2"),  # cell spans lines 2-3
    ("a,b,a\n1,2,3\n", r"column name 'a' appears twice \(columns 1 and 3\); give each column a unique name"),
    ("a,,c\n1,2,3\n", r"column 2 has no name in the header; name every column"),
    ("1,2,3\n4,5,6\n", r"the first line holds only numbers, so there is no header row; .*e\.g\. x0,x1,x2"),
    ('a,b\n1,"x"y\n', r"data\.csv, line 2: malformed quoting .*enclosed in double quotes"),
    ('a,b\n1,"open\n', r"data\.csv, line 2: malformed quoting"),
])
def test_csv_errors_name_the_problem_and_the_fix(tmp_path, text, pattern):
    with pytest.raises(DataFileError, match=pattern):
        read_table(write(tmp_path, text))


def test_non_utf8_file_names_the_byte_offset_line_and_fix(tmp_path):
    path = write(tmp_path, "name,x\nJosé,1\n", encoding="latin-1")
    with pytest.raises(DataFileError, match=r"not UTF-8 text: byte 0xe9 at offset 10 \(line 2\).*re-save"):
        read_table(path)


def test_missing_file_directory_and_unknown_extension(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nope.csv"))):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataFileError, match="is a folder; give a data file"):
        read_table(tmp_path)
    os.mkfifo(tmp_path / "pipe.csv")  # would block a read forever
    with pytest.raises(DataFileError, match=r"pipe\.csv is not a regular file \(a pipe"):
        read_table(tmp_path / "pipe.csv")
    with pytest.raises(DataFileError, match=r"unknown extension '\.xlsx'; supported are \.csv, \.tsv"):
        read_table(write(tmp_path, "a\n1\n", "data.xlsx"))


# --- split --------------------------------------------------------------------------------------

@pytest.fixture
def people(tmp_path):
    text = ("age,color,income,label,score\n"
            "30,red,1.0,yes,0.5\n41,blue,2.0,no,1.5\n25,red,3.0,yes,2.5\n")
    return read_table(write(tmp_path, text))


def test_split_with_a_text_target_keeps_string_labels(people):
    X, y, feature_names, target_names = people.split("label", one_hot=True)
    assert y.tolist() == ["yes", "no", "yes"] and target_names == ["label"]
    # the indicators of 'color' (values sorted) take its place between age and income
    assert feature_names == ["age", "color=blue", "color=red", "income", "score"]
    np.testing.assert_array_equal(X, [[30, 0, 1, 1, 0.5], [41, 1, 0, 2, 1.5], [25, 0, 1, 3, 2.5]])
    assert X.dtype == np.float64
    assert people.categories(exclude=target_names) == {"color": ["blue", "red"]}


def test_split_with_numeric_targets(people):
    _, y, _, _ = people.split("score", one_hot=True)
    assert y.dtype == np.float64 and y.shape == (3,)
    X, y, feature_names, target_names = people.split(["income", "score"], one_hot=True)
    assert y.shape == (3, 2) and target_names == ["income", "score"]
    np.testing.assert_array_equal(y[:, 0], [1, 2, 3])
    assert feature_names == ["age", "color=blue", "color=red", "label=no", "label=yes"] and X.shape == (3, 5)


def test_split_without_target_is_for_prediction(tmp_path):
    X, y, feature_names, target_names = read_table(write(tmp_path, "a,b\n1,2\n")).split(None)
    assert y is None and target_names == [] and feature_names == ["a", "b"]


def test_missing_target_lists_the_available_columns(people):
    with pytest.raises(DataFileError, match=r"there is no target column 'price'; available columns: 'age', "
                                            r"'color', 'income', 'label', 'score'"):
        people.split("price")


def test_text_features_need_one_hot(people):
    with pytest.raises(DataFileError, match=r"feature column\(s\) hold text: 'color' holds text \(e\.g\. "
                                            r"'red'\)\. .*one_hot=True \(--one-hot on the command line\)"):
        people.split("label")


def test_a_mostly_numeric_column_names_its_stray_cells(tmp_path):
    table = read_table(write(tmp_path, "age,y\n30,1\nunknown,0\n41,1\n?,0\n"))
    with pytest.raises(DataFileError, match=r"'age' holds numbers but also '\?', 'unknown' \(rows 2, 4; "
                                            r"row 1 is the first data row\)"):
        table.split("y")


def test_missing_and_infinite_values_are_reported_with_their_rows(tmp_path):
    table = read_table(write(tmp_path, "age,x,y\n1,1,1\n,2,2\n3,inf,3\nNA,4,\n5,5,5\n"))
    with pytest.raises(DataFileError, match=r"feature column 'age' has 2 missing value\(s\) \(rows 2, 4; "
                                            r"row 1 is the first data row\); fill or drop them"):
        table.split("y")
    table.columns["age"][:] = 0
    with pytest.raises(DataFileError, match=r"feature column 'x' has 1 missing or infinite value\(s\)"):
        table.split("y")
    table.columns["x"][:] = 0
    with pytest.raises(DataFileError, match=r"target column 'y' has 1 missing value\(s\) \(row 4;"):
        table.split("y")


def test_many_bad_rows_are_summarized(tmp_path):
    table = read_table(write(tmp_path, "a,y\n" + ",1\n" * 8))
    with pytest.raises(DataFileError, match=r"has 8 missing value\(s\) \(rows 1, 2, 3, 4, 5 and 3 more;"):
        table.split("y")


def test_text_target_with_missing_labels_and_several_text_targets(people, tmp_path):
    table = read_table(write(tmp_path, "a,label\n1,yes\n2,\n"))
    with pytest.raises(DataFileError, match=r"column 'label' has 1 missing value\(s\) \(row 2;"):
        table.split("label")
    with pytest.raises(DataFileError, match=r"target column\(s\) 'label' hold text; several targets must be"):
        people.split(["label", "score"], one_hot=True)


def test_bad_target_arguments(people):
    with pytest.raises(DataFileError, match=r"no feature columns are left"):
        Table({"y": np.array([1.0])}, "t").split("y")
    with pytest.raises(TypeError, match=r"target must be a column name"):
        people.split([])
    with pytest.raises(ValueError, match=r"names a column twice"):
        people.split(["score", "score"])


# --- features for prediction ----------------------------------------------------------------------

def test_features_map_new_data_to_the_training_order(people, tmp_path):
    _, _, feature_names, target_names = people.split("label", one_hot=True)
    categories = people.categories(exclude=target_names)
    new = read_table(write(tmp_path, "score,extra,color,income,age\n9,x,blue,8,7\n", "new.csv"))
    X = new.features(feature_names, categories)  # no label column and an extra one: both fine
    np.testing.assert_array_equal(X, [[7, 1, 0, 8, 9]])


def test_features_missing_columns_unknown_values_and_missing_values(people, tmp_path):
    _, _, feature_names, target_names = people.split("label", one_hot=True)
    categories = people.categories(exclude=target_names)
    new = read_table(write(tmp_path, "age,income\n1,2\n", "new.csv"))
    with pytest.raises(DataFileError, match=r"new\.csv: the feature column\(s\) 'color', 'score' the "
                                            r"model was trained on are missing; available columns: 'age', "
                                            r"'income'"):
        new.features(feature_names, categories)
    new = read_table(write(tmp_path, "age,color,income,score\n1,red,2,3\n1,green,2,3\n1,,2,3\n", "new.csv"))
    with pytest.raises(DataFileError, match=r"column 'color' has 1 missing value\(s\) \(row 3;"):
        new.features(feature_names, categories)
    new.columns["color"][2] = "green"
    with pytest.raises(DataFileError, match=r"column 'color' has value\(s\) 'green' \(rows 2, 3; row 1 is "
                                            r"the first data row\) not seen in training, where it had "
                                            r"'blue', 'red'"):
        new.features(feature_names, categories)


def test_a_categorical_column_read_as_numbers_in_new_data(tmp_path):
    train = read_table(write(tmp_path, "size,y\n1,0\n2,1\nXL,1\n"))
    X, _, feature_names, _ = train.split("y", one_hot=True)
    assert feature_names == ["size=1", "size=2", "size=XL"]
    new = read_table(write(tmp_path, "size\n2\n1\n", "new.csv"))  # all numbers: a numeric column here
    np.testing.assert_array_equal(new.features(feature_names, train.categories(exclude=["y"])),
                                  [[0, 1, 0], [1, 0, 0]])


def test_a_numeric_feature_holding_text_in_new_data(tmp_path):
    new = read_table(write(tmp_path, "age\n3\nold\n"))
    with pytest.raises(DataFileError, match=r"feature column 'age' holds numbers but also 'old' \(row 2;"):
        new.features(["age"])


# --- .npy, .npz and .parquet ----------------------------------------------------------------------

def test_npy_round_trip(tmp_path, rng):
    X = rng.standard_normal((5, 3))
    np.save(tmp_path / "X.npy", X)
    table = read_table(tmp_path / "X.npy")
    assert table.names == ["x0", "x1", "x2"]
    features, y, names, _ = table.split(None)
    np.testing.assert_array_equal(features, X)
    np.save(tmp_path / "ints.npy", np.arange(6).reshape(3, 2))
    assert read_table(tmp_path / "ints.npy").columns["x1"].dtype == np.float64


def test_npz_round_trip_with_one_or_several_targets_and_string_labels(tmp_path, rng):
    X = rng.standard_normal((4, 2))
    np.savez(tmp_path / "d.npz", X=X, y=np.array(["a", "b", "a", "c"]))
    X_read, y, feature_names, target_names = read_table(tmp_path / "d.npz").split("y")
    np.testing.assert_array_equal(X_read, X)
    assert y.tolist() == ["a", "b", "a", "c"] and feature_names == ["x0", "x1"] and target_names == ["y"]
    Y = rng.standard_normal((4, 3))
    np.savez(tmp_path / "multi.npz", X=X, y=Y)
    table = read_table(tmp_path / "multi.npz")
    assert table.names == ["x0", "x1", "y0", "y1", "y2"]
    np.testing.assert_array_equal(table.split(["y0", "y1", "y2"])[1], Y)
    np.savez(tmp_path / "nolabels.npz", X=X)
    assert read_table(tmp_path / "nolabels.npz").names == ["x0", "x1"]


@pytest.mark.parametrize("name, arrays, pattern", [
    ("a.npy", np.zeros(3), r"holds an array of shape \(3,\); a \.npy data file needs a 2-D array"),
    ("a.npy", np.zeros((2, 2, 2)), r"shape \(2, 2, 2\)"),
    ("a.npy", np.zeros((0, 3)), r"no data \(0 rows x 3 columns\)"),
    ("a.npy", np.array([[1 + 2j]]), r"column 'x0' has dtype complex128; save numbers or text"),
    ("a.npz", {"data": np.zeros((2, 2))}, r"has no array named 'X' \(it has: data\); save the data with "
                                          r"np\.savez\(path, X=X, y=y\)"),
    ("a.npz", {"X": np.zeros(3)}, r"array 'X' has shape \(3,\); it must be 2-D"),
    ("a.npz", {"X": np.zeros((3, 2)), "y": np.zeros(2)}, r"array 'y' has shape \(2,\) but X has 3 rows"),
])
def test_array_file_errors(tmp_path, name, arrays, pattern):
    path = tmp_path / name
    if isinstance(arrays, dict):
        np.savez(path, **arrays)
    else:
        np.save(path, arrays)
    with pytest.raises(DataFileError, match=pattern):
        read_table(path)


def test_object_arrays_and_swapped_extensions_are_refused(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(DataFileError, match=r"obj\.npy is not a plain NumPy file .*no object arrays"):
        read_table(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", X=np.array([[1, "a"]], dtype=object))
    with pytest.raises(DataFileError, match=r"obj\.npz: .*save numeric or text arrays"):
        read_table(tmp_path / "obj.npz")
    np.savez(tmp_path / "archive.npz", X=np.zeros((2, 2)))
    (tmp_path / "archive.npz").rename(tmp_path / "archive.npy")
    with pytest.raises(DataFileError, match=r"holds an archive; rename it to \.npz"):
        read_table(tmp_path / "archive.npy")
    (tmp_path / "garbage.npy").write_bytes(b"not numpy at all")
    with pytest.raises(DataFileError, match=r"garbage\.npy: not a readable \.npy file \(.*magic string"):
        read_table(tmp_path / "garbage.npy")


def test_parquet_numbers_text_nulls_and_categoricals(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    arrow_table = pa.table({
        "n": pa.array([1, 2, None], type=pa.int32()),
        "f": [0.5, 1.5, 2.5],
        "flag": [True, False, True],
        "color": pa.array(["red", None, "blue"]).dictionary_encode(),
        "label": ["a", "b", "a"],
    })
    pq.write_table(arrow_table, tmp_path / "d.parquet")
    table = read_table(tmp_path / "d.parquet")
    assert table.names == ["n", "f", "flag", "color", "label"]
    np.testing.assert_array_equal(table.columns["n"], [1, 2, np.nan])
    np.testing.assert_array_equal(table.columns["flag"], [1, 0, 1])
    assert table.columns["color"].tolist() == ["red", "", "blue"]
    with pytest.raises(DataFileError, match=r"feature column 'n' has 1 missing value\(s\) \(row 3;"):
        table.split("label", one_hot=True)


def test_parquet_errors(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"when": pa.array([1, 2], type=pa.timestamp("s"))}), tmp_path / "t.parquet")
    with pytest.raises(DataFileError, match=r"column 'when' has type timestamp\[.*\], which deltaprop "):
        read_table(tmp_path / "t.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataFileError, match=r"bad\.parquet could not be read as Parquet"):
        read_table(tmp_path / "bad.parquet")


def test_parquet_without_pyarrow_gives_the_install_hint(tmp_path, monkeypatch):
    (tmp_path / "d.parquet").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"pip install pyarrow"):
        read_table(tmp_path / "d.parquet")


def test_a_utf16_file_is_named_as_such(tmp_path):
    path = tmp_path / "sheet.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-16")
    with pytest.raises(DataFileError, match="is UTF-16 text; re-save it as UTF-8.*iconv -f utf-16"):
        read_table(path)


def test_a_truncated_or_overclaiming_npy_file_is_named_before_anything_is_allocated(tmp_path):
    np.save(tmp_path / "cut.npy", np.ones((100, 3)))
    raw = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:300])
    with pytest.raises(DataFileError, match=r"cut\.npy: truncated .npy file: its header declares shape "
                                            r"\(100, 3\) \(2400 bytes\)"):
        read_table(tmp_path / "cut.npy")
    with open(tmp_path / "huge.npy", "wb") as stream:  # 10^12 rows declared: 24 TB if allocated
        np.lib.format.write_array_header_1_0(
            stream, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 3)})
        stream.write(bytes(48))
    with pytest.raises(DataFileError, match=r"declares shape \(1000000000000, 3\)"):
        read_table(tmp_path / "huge.npy")


def test_masked_entries_and_pandas_na_are_missing_cells_in_memory_tables():
    from deltaprop.data.tables import as_table

    rows = np.ma.masked_array([[1.0, 2.0], [3.0, 4.0]], mask=[[0, 1], [0, 0]])
    table = as_table(rows)  # the mask honoured: a masked cell is a missing one, not its data
    np.testing.assert_array_equal(table.columns["x1"], [np.nan, 4.0])
    text = as_table(np.ma.masked_array([["a", "b"], ["c", "d"]], mask=[[0, 1], [0, 0]]))
    assert text.columns["x1"].tolist() == ["", "d"]
    pd = pytest.importorskip("pandas")
    frame = as_table(pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "b": [1.0, 2.0]}))
    np.testing.assert_array_equal(frame.columns["n"], [1.0, np.nan])  # <NA> is missing, not text


def test_a_sparse_matrix_given_as_rows_is_named():
    sparse = pytest.importorskip("scipy.sparse")
    from deltaprop.data.tables import as_table

    with pytest.raises(DataFileError, match=r"scipy.sparse matrix; give a dense array \(call .toarray\(\)\)"):
        as_table(sparse.csr_matrix(np.eye(2)))


def test_an_npz_array_declaring_more_than_its_archive_holds_is_named(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 100)})
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w") as archive:
        archive.writestr("X.npy", header.getvalue() + bytes(48))
    with pytest.raises(DataFileError, match=r"bomb\.npz: array 'X.npy': truncated .npy file: its header "
                                            r"declares shape \(1000000000000, 100\)"):
        read_table(tmp_path / "bomb.npz")


def raw_npy(text, data=b"", version=1):
    """A ``.npy`` file whose header is ``text`` as written (NumPy's padding, no parsing)."""
    body = text.encode()
    body += b" " * (-((10 if version == 1 else 12) + len(body) + 1) % 64) + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(body))
    return b"\x93NUMPY" + bytes([version, 0]) + size + body + data


def npz_of(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


DATA = np.arange(30, dtype="<f8").tobytes()  # what a (10, 3) float64 header promises


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("text, problem", [
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (10, 3 }", r"malformed header: TokenError"),
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (10, 3), [1]: 2}", r"malformed header: TypeError"),
    ("{'descr': '<f8', 'fortran_order': False, 'shape': (-1, 3), }",
     r"the header's shape \(-1, 3\) has a negative size"),
])
def test_a_malformed_npy_header_is_named_in_a_data_file_and_an_npz_member(tmp_path, version, text, problem):
    (tmp_path / "X.npy").write_bytes(raw_npy(text, DATA, version))
    with pytest.raises(DataFileError, match=rf"X\.npy: .*{problem}.*; save numeric or text arrays"):
        read_table(tmp_path / "X.npy")
    npz_of(tmp_path / "d.npz", {"X.npy": raw_npy(text, DATA, version)})
    with pytest.raises(DataFileError, match=rf"d\.npz: array 'X\.npy': .*{problem}"):
        read_table(tmp_path / "d.npz")


@pytest.mark.parametrize("descr, extra", [("<f4", b""), ("<f8", b"\0")])
def test_data_a_header_does_not_describe_is_named_not_read_as_garbage(tmp_path, descr, extra):
    """A header saying float32 over float64 data would read as other numbers, silently."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': (10, 3), }}"
    (tmp_path / "X.npy").write_bytes(raw_npy(text, DATA + extra))
    with pytest.raises(DataFileError, match=rf"X\.npy: its header declares shape \(10, 3\) of .* but the "
                                            rf"file holds {len(DATA + extra)} bytes of data: the header "
                                            "does not describe the data"):
        read_table(tmp_path / "X.npy")
    npz_of(tmp_path / "d.npz", {"X.npy": raw_npy(text, DATA + extra)})
    with pytest.raises(DataFileError, match=r"d\.npz: array 'X\.npy': its header declares .* archive holds"):
        read_table(tmp_path / "d.npz")


def _flip(raw, offset):
    raw = bytearray(raw)
    raw[offset] ^= 0xFF
    return bytes(raw)


def _set_method(raw, method, field):
    """A zip archive with its one member's 16-bit header ``field`` (6: flags, 8: compression)
    set to ``method``, in the local and the central header alike."""
    raw = bytearray(raw)
    central = raw.index(b"PK\x01\x02")
    raw[field:field + 2] = raw[central + field + 2:central + field + 4] = struct.pack("<H", method)
    return bytes(raw)


@pytest.mark.parametrize("damage, problem", [
    (lambda raw: _flip(raw, 200), r"BadZipFile: Bad CRC-32"),
    (lambda raw: _set_method(raw, 99, 8), r"NotImplementedError: That compression method"),
    (lambda raw: _set_method(raw, 1, 6), r"RuntimeError: .*encrypted"),
    (lambda raw: raw[:300], r"BadZipFile: File is not a zip file"),
])
def test_a_damaged_npz_archive_is_named(tmp_path, damage, problem):
    stored = io.BytesIO()
    np.savez(stored, X=np.ones((50, 3)))
    (tmp_path / "d.npz").write_bytes(damage(stored.getvalue()))
    with pytest.raises(DataFileError, match=rf"d\.npz .*{problem}"):
        read_table(tmp_path / "d.npz")


def test_a_damaged_deflate_stream_is_named(tmp_path):
    stored = io.BytesIO()
    np.savez_compressed(stored, X=np.ones((50, 3)))
    raw = bytearray(stored.getvalue())
    start = raw.index(b"X.npy") + len(b"X.npy") + 20  # into the compressed data
    raw[start:start + 4] = b"\xff\xff\xff\xff"
    (tmp_path / "d.npz").write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match=r"d\.npz is not a readable \.npz archive \(error: Error -3"):
        read_table(tmp_path / "d.npz")


def test_column_names_are_checked_in_one_pass_however_wide_the_header(tmp_path):
    """200,000 columns took minutes with a search of the columns before each (no time is
    asserted: a quadratic check would run past the suite's timeout)."""
    names = [f"c{j}" for j in range(200_000)]
    check_column_names(names, "wide.csv")
    path = tmp_path / "wide.csv"
    path.write_text(",".join([*names[:-1], "c0"]) + "\n" + ",".join(["1"] * len(names)) + "\n")
    with pytest.raises(DataFileError, match=r"column name 'c0' appears twice \(columns 1 and 200000\)"):
        read_table(path)
