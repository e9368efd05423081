"""Ideal updates: optimisers against their textbook formulas, clipping to [g_min, g_max]."""

from __future__ import annotations

import numpy as np
import pytest

from ebana.errors import ConfigError
from ebana.updates import IdealUpdate


def test_adam_matches_textbook(rng):
    g = np.full((5, 4), 0.5)
    up = IdealUpdate("adam", [g], 1e-9, 1.0)
    m = np.zeros((5, 4))
    v = np.zeros((5, 4))
    for t in range(1, 8):
        grad = rng.normal(size=(5, 4)) * 1e5
        new = up.step([grad], 1e-3)[0]
        m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad ** 2
        ref = g - 1e-3 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        assert np.allclose(new, ref, rtol=0, atol=1e-3 * 1e-5)  # float32 moments
        g = new


def test_sgd_and_momentum(rng):
    grad = rng.normal(size=(3, 2))
    grad_in, g0 = grad.copy(), np.full((3, 2), 0.5)
    sgd = IdealUpdate("sgd", [g0], 0, 1)
    assert np.allclose(sgd.step([grad], 0.01)[0], g0 - 0.01 * grad)
    assert np.allclose(sgd.conductances()[0], g0 - 0.01 * grad)      # the updater owns the new G
    mom = IdealUpdate("momentum", [g0], 0, 1)
    g1 = mom.step([grad], 0.01)[0]
    g2 = mom.step([grad], 0.01)[0]
    assert np.allclose(g2, g1 - 0.01 * (0.9 * grad + grad))
    assert np.array_equal(grad, grad_in) and np.all(g0 == 0.5)  # inputs are not modified
    assert np.allclose(g1, g0 - 0.01 * grad)                    # arrays handed out are never changed


def test_clipped_to_conductance_range():
    up = IdealUpdate("sgd", [np.full((2, 2), 5e-6)], 1e-7, 1e-5)
    g = up.step([np.array([[1e9, -1e9], [0.0, 1.0]])], 1.0)[0]
    assert g[0, 0] == 1e-7 and g[0, 1] == 1e-5 and g[1, 0] == 5e-6


def test_state_roundtrip(rng):
    a = IdealUpdate("adam", [np.full((3, 3), 0.5)], 0, 1)
    for _ in range(3):
        a.step([rng.normal(size=(3, 3))], 1e-3)
    b = IdealUpdate("adam", [np.full((3, 3), 0.5)], 0, 1)
    b.load_state_dict(a.state_dict(), a.conductances())
    grad = rng.normal(size=(3, 3))
    assert np.array_equal(a.step([grad], 1e-3)[0], b.step([grad], 1e-3)[0])
    with pytest.raises(ConfigError, match="shapes"):
        b.load_state_dict(a.state_dict(), [np.zeros((2, 3))])


def test_unknown_optimizer():
    with pytest.raises(ConfigError, match="unknown optimizer 'adamw'"):
        IdealUpdate("adamw", [np.zeros((2, 2))], 0, 1)
