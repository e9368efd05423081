"""The public API of ebana.datasets: registry, load() dispatch, Dataset validation."""

import importlib.util

import numpy as np
import pytest

from ebana import datasets
from ebana.datasets import Dataset
from ebana.errors import DatasetError
from tests.conftest import SHARED_DATA as SHARED
from tests.datasets.idx_files import tiny_arrays, write_set


def test_names():
    assert datasets.names() == ["digits", "fashion-mnist", "idx", "iris", "kmnist", "mnist"]


@pytest.mark.parametrize("name", datasets.names())
def test_every_dataset_honours_the_contract(name, tmp_path):
    data_dir = SHARED
    if name == "mnist" and not SHARED.is_dir():
        pytest.skip(f"MNIST files not found in {SHARED}")
    if name in ("fashion-mnist", "kmnist"):   # their own files, in a subdirectory of the data directory
        data_dir = SHARED / name
        if not data_dir.is_dir():
            pytest.skip(f"{name} files not found in {data_dir}")
    if name == "idx":
        data_dir = tmp_path
        write_set(data_dir, tiny_arrays(np.random.default_rng(0), n_train=50, n_test=25))
    if name == "digits" and importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn not installed")
    ds = datasets.load(name, seed=0, data_dir=data_dir, limit_train=40, limit_test=20)
    assert ds.name == name
    assert ds.x_train.shape == (40, ds.n_features) and ds.x_test.shape == (
        20,
        ds.n_features,
    )
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert np.issubdtype(ds.x_train.dtype, np.floating)
    assert ds.y_train.min() >= 0 and ds.y_train.max() < ds.n_classes
    assert len(ds.feature_names) == ds.n_features and ds.n_classes >= 2


def test_unknown_name():
    with pytest.raises(DatasetError) as err:
        datasets.load("cifar")
    assert (
        str(err.value)
        == "unknown dataset 'cifar'; known: digits, fashion-mnist, idx, iris, kmnist, mnist "
        "(or a path to a .csv file)"
    )


def test_missing_csv_path(tmp_path):
    with pytest.raises(DatasetError, match="not found") as err:
        datasets.load(str(tmp_path / "gone.csv"))
    assert "\n" not in str(err.value)


def test_label_column_only_for_csv():
    with pytest.raises(DatasetError, match="applies only to .csv files") as err:
        datasets.load("iris", label_column="species")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "kwargs", [{"limit_train": 0}, {"limit_test": -1}, {"limit_train": 2.5}]
)
def test_bad_limits(kwargs):
    with pytest.raises(DatasetError, match="must be a positive integer") as err:
        datasets.load("iris", **kwargs)
    assert "\n" not in str(err.value)


def _tiny(**changes) -> dict:
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1], dtype=np.int64)
    fields = {
        "name": "t",
        "x_train": x,
        "y_train": y,
        "x_test": x,
        "y_test": y,
        "class_names": ("a", "b"),
        "feature_names": ("f", "g"),
    }
    fields.update(changes)
    return fields


def test_dataset_properties_and_frozen():
    ds = Dataset(**_tiny())
    assert (ds.n_features, ds.n_classes) == (2, 2)
    with pytest.raises(AttributeError):
        ds.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"y_train": np.array([0, 1, 0])}, "train arrays have shapes"),
        ({"x_test": np.zeros(4)}, "test arrays have shapes"),
        ({"y_test": np.array([0, 1, 2, 0])}, "labels outside 0..1"),
        ({"y_train": np.zeros(4)}, "dtype float64"),
        ({"feature_names": ("f",)}, "2 features but 1 feature names"),
    ],
)
def test_dataset_validation(changes, match):
    with pytest.raises(DatasetError, match=match) as err:
        Dataset(**_tiny(**changes))
    assert "\n" not in str(err.value)
