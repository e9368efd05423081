"""IRIS: the shipped table, its published statistics and the default split."""

from importlib import resources

import numpy as np
import pytest

from ebana import datasets
from ebana.datasets.csv import parse_csv
from ebana.datasets.iris import IRIS_RESOURCE


@pytest.fixture(scope="module")
def table():
    text = (
        resources.files("ebana.datasets")
        .joinpath(IRIS_RESOURCE)
        .read_text(encoding="utf-8")
    )
    return parse_csv(text, "iris.csv", label_column="species")


def test_shipped_table(table):
    assert table.x.shape == (150, 4)
    assert table.feature_names == (
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    )
    assert table.class_names == ("setosa", "versicolor", "virginica")
    assert np.array_equal(np.bincount(table.y), [50, 50, 50])


def test_published_column_means(table):
    # Fisher (1936) / UCI summary statistics
    assert np.round(table.x.mean(axis=0), 3).tolist() == [5.843, 3.057, 3.758, 1.199]


def test_uci_typos_corrected(table):
    # UCI rows 35 and 38 carry transcription errors; Fisher's values are used.
    assert table.x[34].tolist() == [4.9, 3.1, 1.5, 0.2]
    assert table.x[37].tolist() == [4.9, 3.6, 1.4, 0.1]


def test_default_split():
    ds = datasets.load("iris")
    assert ds.name == "iris"
    assert ds.x_train.shape == (105, 4) and ds.x_test.shape == (45, 4)
    assert ds.x_train.dtype == np.float64 and ds.y_train.dtype == np.int64
    assert np.array_equal(np.bincount(ds.y_test), [15, 15, 15])
    assert np.array_equal(np.bincount(ds.y_train), [35, 35, 35])
    assert (ds.n_features, ds.n_classes) == (4, 3)


def test_split_seeded(table):
    a, b, c = (
        datasets.load("iris", seed=3),
        datasets.load("iris", seed=3),
        datasets.load("iris", seed=4),
    )
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    # train + test is exactly the table (as a multiset of rows)
    both = np.concatenate([a.x_train, a.x_test])
    assert np.array_equal(np.sort(both, axis=0), np.sort(table.x, axis=0))


def test_limits_and_fraction():
    ds = datasets.load("iris", test_fraction=0.2, limit_train=10, limit_test=5)
    full = datasets.load("iris", test_fraction=0.2)
    assert full.x_test.shape == (30, 4)
    assert np.array_equal(ds.x_train, full.x_train[:10]) and np.array_equal(
        ds.y_test, full.y_test[:5]
    )
