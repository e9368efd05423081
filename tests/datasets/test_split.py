"""stratified_split: proportions per class, determinism under a seed, disjoint cover."""

import numpy as np
import pytest

from ebana.datasets import stratified_split
from ebana.errors import DatasetError


def _labels() -> np.ndarray:
    # uneven classes, shuffled: 50 / 30 / 17 / 3
    y = np.repeat(np.arange(4), [50, 30, 17, 3])
    return np.random.default_rng(123).permutation(y)


def test_disjoint_and_covering():
    y = _labels()
    train, test = stratified_split(y, 0.3, np.random.default_rng(0))
    assert train.dtype == np.int64 and test.dtype == np.int64
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(y.size))


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.3, 0.5, 0.8])
def test_stratified_per_class_counts(fraction):
    y = _labels()
    train, test = stratified_split(y, fraction, np.random.default_rng(1))
    assert test.size == round(y.size * fraction)
    counts = np.bincount(y, minlength=4)
    test_counts = np.bincount(y[test], minlength=4)
    # each class within one sample of its exact proportional share
    assert np.all(np.abs(test_counts - counts * fraction) < 1.0)
    assert np.array_equal(test_counts + np.bincount(y[train], minlength=4), counts)


def test_balanced_classes_split_exactly():
    y = np.repeat(np.arange(3), 50)
    train, test = stratified_split(y, 0.3, np.random.default_rng(0))
    assert np.array_equal(np.bincount(y[test]), [15, 15, 15])
    assert np.array_equal(np.bincount(y[train]), [35, 35, 35])


def test_deterministic_under_seed():
    y = _labels()
    a = stratified_split(y, 0.3, np.random.default_rng(7))
    b = stratified_split(y, 0.3, np.random.default_rng(7))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))


def test_different_seeds_differ():
    y = _labels()
    a_train, _ = stratified_split(y, 0.3, np.random.default_rng(7))
    b_train, _ = stratified_split(y, 0.3, np.random.default_rng(8))
    assert not np.array_equal(np.sort(a_train), np.sort(b_train))


def test_labels_need_not_be_contiguous():
    y = np.repeat(np.array([-3, 10, 42]), 20)
    train, test = stratified_split(y, 0.25, np.random.default_rng(0))
    assert sorted(np.unique(y[test], return_counts=True)[1]) == [5, 5, 5]
    assert train.size == 45


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5, float("nan"), "0.3"])
def test_bad_fraction(fraction):
    with pytest.raises(DatasetError, match="test_fraction") as err:
        stratified_split(np.arange(10) % 2, fraction, np.random.default_rng(0))
    assert "\n" not in str(err.value)


def test_too_few_samples_for_fraction():
    with pytest.raises(DatasetError, match="4 samples gives 0 test samples") as err:
        stratified_split(np.array([0, 0, 1, 1]), 0.1, np.random.default_rng(0))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("y", [np.zeros((3, 2), dtype=int), np.array([0.0, 1.0, 1.0])])
def test_bad_labels(y):
    with pytest.raises(DatasetError, match="1-D integer labels") as err:
        stratified_split(y, 0.3, np.random.default_rng(0))
    assert "\n" not in str(err.value)
