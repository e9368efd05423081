"""Generic CSV loader: parsing, label mapping and one-line errors naming file, line, column."""

from pathlib import Path

import numpy as np
import pytest

from ebana import datasets
from ebana.datasets.csv import load_csv, parse_csv
from ebana.errors import DatasetError

GOOD = "a,b,label\n" + "".join(
    f"{i},{i * 0.5},{'cat' if i % 2 else 'dog'}\n" for i in range(20)
)


def _write(
    tmp_path: Path, text: str, name: str = "t.csv", encoding: str = "utf-8"
) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def _error(tmp_path: Path, text: str, **kwargs) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(DatasetError) as err:
        load_csv(path, **kwargs)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_string_labels(tmp_path):
    ds = datasets.load(str(_write(tmp_path, GOOD)), seed=0, test_fraction=0.25)
    assert ds.name == "t"
    assert ds.class_names == ("cat", "dog") and ds.feature_names == ("a", "b")
    assert ds.x_train.shape == (15, 2) and ds.x_test.shape == (5, 2)
    assert ds.x_train.dtype == np.float64 and ds.y_train.dtype == np.int64
    # labels follow the rows: odd a -> cat (0), even a -> dog (1)
    assert np.array_equal(ds.y_train, (ds.x_train[:, 0] % 2 == 0).astype(np.int64))
    assert np.allclose(ds.x_train[:, 1], ds.x_train[:, 0] * 0.5)


def test_int_labels_sort_numerically():
    t = parse_csv("x,y\n1,10\n2,9\n3,10\n4,2\n5,002\n", "mem.csv")
    assert t.class_names == ("2", "9", "10")  # "002" and "2" are the same class
    assert t.y.tolist() == [2, 1, 2, 0, 0]


def test_label_column_by_name_quotes_blank_lines_bom(tmp_path):
    text = '\ufeffspecies,"len, cm",w\n\n"b",1.5, 2\n a ,2.5,3 \n"b",1e1,-4\n\n\n'
    t = parse_csv(text.lstrip("\ufeff"), "x.csv", label_column="species")
    assert t.feature_names == ("len, cm", "w") and t.class_names == ("a", "b")
    assert t.x.tolist() == [[1.5, 2.0], [2.5, 3.0], [10.0, -4.0]] and t.y.tolist() == [
        1,
        0,
        1,
    ]
    path = _write(tmp_path, text, encoding="utf-8")  # BOM in the file is dropped
    ds = load_csv(path, label_column="species", test_fraction=0.34)
    assert ds.feature_names == ("len, cm", "w")


def test_load_by_path_object(tmp_path):
    ds = datasets.load(_write(tmp_path, GOOD), limit_train=4, limit_test=2)
    assert ds.x_train.shape == (4, 2) and ds.x_test.shape == (2, 2)


def test_non_numeric_feature(tmp_path):
    text = GOOD.replace("7,3.5,cat", "7,3.5x,cat")
    assert ", line 9, column 2 'b': non-numeric feature value '3.5x'" in _error(
        tmp_path, text
    )


@pytest.mark.parametrize("cell", ["", "NA", "nan", "?", "  "])
def test_missing_value(tmp_path, cell):
    text = GOOD.replace("3,1.5,cat", f"{cell},1.5,cat")
    assert f", line 5, column 1 'a': missing value {cell!r}" in _error(tmp_path, text)


def test_non_finite_value(tmp_path):
    text = GOOD.replace("3,1.5,cat", "3,-inf,cat")
    assert "line 5, column 2 'b': non-finite feature value '-inf'" in _error(
        tmp_path, text
    )


def test_first_bad_cell_in_reading_order(tmp_path):
    text = (
        GOOD.replace("5,2.5,cat", "5,zz,cat")
        .replace("3,1.5,cat", "3,1.5,cat")
        .replace("9,4.5", "q,4.5")
    )
    assert "line 7, column 2 'b'" in _error(tmp_path, text)


def test_missing_label(tmp_path):
    text = GOOD.replace("3,1.5,cat", "3,1.5,")
    assert "line 5, column 3 'label': missing label" in _error(tmp_path, text)


def test_ragged_row(tmp_path):
    text = GOOD.replace("4,2.0,dog", "4,2.0,dog,extra")
    assert "line 6: ragged row with 4 fields; the header has 3" in _error(
        tmp_path, text
    )
    text = GOOD.replace("4,2.0,dog", "4,dog")
    assert "line 6: ragged row with 2 fields" in _error(tmp_path, text)


def test_fewer_than_two_classes(tmp_path):
    text = "a,label\n1,x\n2,x\n3,x\n"
    message = _error(tmp_path, text)
    assert (
        "lines 2-4, column 2 'label': need at least 2 classes, found 1 ('x')" in message
    )


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path, text):
    assert "empty file" in _error(tmp_path, text)


def test_header_only(tmp_path):
    assert "line 1: empty file: no data rows" in _error(tmp_path, "a,b,label\n")


def test_unknown_label_column(tmp_path):
    message = _error(tmp_path, GOOD, label_column="class")
    assert "line 1: unknown label column 'class'; columns: a, b, label" in message


def test_header_required(tmp_path):
    assert "line 1: the first row is all numbers" in _error(tmp_path, "1,2,3\n4,5,6\n")


def test_header_problems(tmp_path):
    assert "line 1, column 3: duplicate column name 'a' (also column 1)" in _error(
        tmp_path, "a,b,a\n1,2,3\n"
    )
    assert "line 1, column 2: empty column name" in _error(tmp_path, "a,,c\n1,2,3\n")
    assert "line 1: the header has 1 column" in _error(tmp_path, "label\nx\ny\n")


def test_unreadable_files(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"a,label\n\xff\xfe,1\n")
    with pytest.raises(DatasetError, match="not UTF-8") as err:
        load_csv(path)
    assert "\n" not in str(err.value)
    with pytest.raises(DatasetError, match="no such file"):
        load_csv(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    "text, line", [('a,label\n1,x\n2,"y"z\n', 3), ('a,label\n1,x\n2,"y\n3,z\n', 4)]
)
def test_malformed_csv_quoting(tmp_path, text, line):
    assert f"line {line}: malformed CSV" in _error(tmp_path, text)


def test_write_csv_round_trips_a_registered_data_set(tmp_path):
    cols = datasets.write_csv("iris", tmp_path / "iris.csv")
    d, back = datasets.load("iris"), datasets.load(tmp_path / "iris.csv")
    x = np.concatenate([d.x_train, d.x_test])
    assert cols == ["f0", "f1", "f2", "f3"] and back.x_train.shape[1] == 4
    got = np.concatenate([back.x_train, back.x_test])
    assert sorted(map(tuple, got)) == sorted(map(tuple, x))   # every sample, exactly (repr round trip)
