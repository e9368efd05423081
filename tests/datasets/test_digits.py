"""8x8 digits (optional scikit-learn)."""

import sys

import numpy as np
import pytest

from ebana import datasets
from ebana.errors import DatasetError


def test_digits_split():
    pytest.importorskip("sklearn")
    ds = datasets.load("digits", seed=2)
    assert ds.x_train.shape[0] + ds.x_test.shape[0] == 1797
    assert ds.x_test.shape == (539, 64) and ds.x_train.dtype == np.float64
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    assert ds.class_names == tuple("0123456789")
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_test]))
    assert np.all(np.abs(np.bincount(ds.y_test) - counts * 0.3) < 1.0)
    again = datasets.load("digits", seed=2)
    assert np.array_equal(ds.x_test, again.x_test)


def test_digits_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DatasetError) as err:
        datasets.load("digits")
    assert (
        str(err.value)
        == "the 'digits' dataset needs scikit-learn: pip install scikit-learn"
    )
