"""Losses: BCE (sigmoid of the differential output) against finite differences, multi-label targets, accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from ebana.errors import ConfigError
from ebana.losses import accuracy, create_loss, sparsemax


def fd_grad(loss, pred, y, h=1e-7):
    g = np.zeros_like(pred)
    for k in range(pred.shape[1]):
        d = np.zeros_like(pred)
        d[:, k] = h
        g[:, k] = (loss.value(pred + d, y) - loss.value(pred - d, y)) / (2 * h)
    return g


@pytest.mark.parametrize("name", ["bce", "ce", "mse", "sparsemax"])
def test_grad_is_finite_difference_of_value(name):
    rng = np.random.default_rng(0)
    pred = rng.normal(0, 0.1, size=(6, 4))   # V
    y = rng.integers(0, 4, size=6)
    loss = create_loss(name, tau=0.05)
    np.testing.assert_allclose(loss.grad(pred, y), fd_grad(loss, pred, y), rtol=1e-6, atol=1e-6)


def test_bce_multilabel_grad_and_value():
    rng = np.random.default_rng(1)
    pred = rng.normal(0, 0.1, size=(5, 3))
    y = rng.integers(0, 2, size=(5, 3))
    loss = create_loss("bce", tau=0.05)
    np.testing.assert_allclose(loss.grad(pred, y), fd_grad(loss, pred, y), rtol=1e-6, atol=1e-6)
    p = 1 / (1 + np.exp(-pred / 0.05))
    ref = -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p), axis=1)
    np.testing.assert_allclose(loss.value(pred, y), ref, rtol=1e-12)
    # class indices are the one-hot multi-label rows
    yi = np.array([0, 2, 1, 1, 0])
    np.testing.assert_array_equal(loss.value(pred, yi), loss.value(pred, np.eye(3)[yi]))


def test_bce_stable_and_checked():
    loss = create_loss("bce", tau=1e-3)
    pred = np.array([[5.0, -5.0]])   # z = +-5000: no overflow
    assert np.isfinite(loss.value(pred, np.array([1]))).all()
    np.testing.assert_allclose(loss.grad(pred, np.array([0])), [[0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(loss.value(pred, np.array([0])), [0.0], atol=1e-12)
    with pytest.raises(ConfigError, match="3 columns, the network 2 outputs"):
        loss.value(pred, np.ones((1, 3)))
    with pytest.raises(ConfigError, match="tau must be > 0"):
        create_loss("bce", tau=0)


def test_accuracy_definitions():
    pred = np.array([[0.1, -0.2, 0.3], [-0.1, 0.2, -0.3]])
    np.testing.assert_array_equal(accuracy(pred, np.array([2, 0])), [True, False])
    # multi-label: exact match of pred > 0 with the labels
    np.testing.assert_array_equal(accuracy(pred, np.array([[1, 0, 1], [0, 1, 1]])), [True, False])


def test_train_with_bce(tmp_path):
    from ebana.config import apply_overrides, preset
    from ebana.training import Trainer
    cfg = apply_overrides(preset("iris"), {"loss": "bce", "epochs": 2, "limit_train": 30, "limit_test": 15})
    hist = Trainer(cfg, tmp_path / "run").run()
    assert np.isfinite(hist[-1]["test_loss"]) and 0 <= hist[-1]["test_acc"] <= 1


def test_sparsemax_is_the_simplex_projection_and_its_loss_the_fenchel_young_form():
    """sparsemax(z) = argmin_{p in simplex} |p - z|^2 (checked against a bisection on the threshold),
    and L = 1/2 |e_y - z|^2 - 1/2 |p - z|^2 (Blondel et al. 2020, the sparsemax Fenchel-Young loss)."""
    rng = np.random.default_rng(3)
    z = rng.normal(0, 1.5, size=(40, 6))
    p = sparsemax(z)
    lo, hi = z.min(1) - 1.0, z.max(1)                  # sum max(z - t, 0) = 1 has one root t in [lo, hi]
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        big = np.maximum(z - mid[:, None], 0).sum(1) > 1
        lo, hi = np.where(big, mid, lo), np.where(big, hi, mid)
    np.testing.assert_allclose(p, np.maximum(z - lo[:, None], 0), atol=1e-12)
    assert np.all(p >= 0) and np.allclose(p.sum(1), 1.0) and np.any(p == 0)
    y = rng.integers(0, 6, size=40)
    e = np.eye(6)[y]
    loss = create_loss("sparsemax", tau=1.0)
    np.testing.assert_allclose(loss.value(z, y), 0.5 * ((e - z) ** 2).sum(1) - 0.5 * ((p - z) ** 2).sum(1), atol=1e-12)
    assert np.all(loss.value(z, y) >= -1e-12)
    margin = np.zeros((1, 3))
    margin[0, 1] = 1.0                                 # true score ahead of the rest by exactly 1: L = 0
    assert loss.value(margin, np.array([1]))[0] == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ConfigError, match="sparsemax temperature tau"):
        create_loss("sparsemax", tau=0.0)
