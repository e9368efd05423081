"""E1 by power series (:mod:`ebana.devices.special`) against ``scipy.special.exp1``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import exp1

from ebana import devices
from ebana.errors import DeviceError
from ebana.devices.special import EIN_TRUNCATION, Z_SERIES, ein_terms, exp1_diff_small, exp1_small

E1_ATOL = 1e-13
"""Stated bound: absolute error of :func:`exp1_small` on (0, z_max], z_max <= Z_SERIES."""


@pytest.mark.parametrize("z_max", [0.3, 0.7, 2.5, Z_SERIES])
def test_exp1_series_matches_scipy(z_max):
    z = np.concatenate([np.linspace(1e-12, z_max, 100_001), np.geomspace(1e-300, z_max, 500)])
    err = np.abs(exp1_small(z, z_max) - exp1(z))
    assert err.max() <= E1_ATOL
    # well inside the bound in practice (rounding of a few terms)
    assert err.max() <= 2e-14


def test_truncation_bound_is_the_first_omitted_term():
    for z_max in (0.5, 2.5, 4.0):
        n = ein_terms(z_max)
        assert n + 1 > z_max
        first_omitted = z_max ** (n + 1) / ((n + 1) * np.prod(np.arange(1, n + 2, dtype=float)))
        assert first_omitted <= EIN_TRUNCATION
    # one term fewer than chosen would not meet the bound at z_max = 2.5: the test can fail
    n = ein_terms(2.5) - 1
    assert 2.5 ** (n + 1) / ((n + 1) * np.prod(np.arange(1, n + 2, dtype=float))) > EIN_TRUNCATION


def test_yakopcic_series_and_scipy_agree():
    """The default (series) and the reference (scipy) Yakopcic pulses agree: states to 1e-13
    absolute; energies to 1e-7 relative (the energy of a tiny move is conditioned by Δx, which
    the two E1 evaluations resolve to ~1e-16 absolute; measured 1.6e-8)."""
    rng = np.random.default_rng(5)
    fast = devices.create("yakopcic").with_range(1e4, 1e6)
    ref = devices.create("yakopcic", e1="scipy").with_range(1e4, 1e6)
    x = rng.uniform(0, 1, 2000)
    v = rng.choice([-1, 1], 2000) * rng.uniform(0.1, 0.6, 2000)
    t = 2e-5 * 10.0 ** rng.uniform(-4, 1, 2000)
    a, b = fast.apply_pulse(x, v, t), ref.apply_pulse(x, v, t)
    np.testing.assert_allclose(a.x, b.x, rtol=0, atol=1e-13)
    np.testing.assert_allclose(a.energy, b.energy, rtol=1e-7, atol=0)
    assert np.any(a.x != x)


def test_yakopcic_rejects_an_unknown_e1_method():
    with pytest.raises(DeviceError, match="e1"):
        devices.create("yakopcic", e1="table")


E1_DIFF_RTOL = 1e-13
"""Stated bound: relative error of :func:`exp1_diff_small` against the difference itself."""


def test_exp1_difference_keeps_relative_precision():
    """E1(zb) - E1(za) relative to the difference, down to |zb - za| = 1e-14 (where subtracting
    two E1 values would keep no digit): reference ``-∫ e^-t/t dt`` by 30-node Gauss-Legendre
    for short intervals, the scipy difference for long ones."""
    rng = np.random.default_rng(0)
    za = rng.uniform(0.01, 2.5, 3000)
    zb = np.clip(za + 10.0 ** rng.uniform(-14, 0, 3000) * rng.choice([-1, 1], 3000), 1e-3, 2.5)
    d = exp1_diff_small(za, zb, 2.5)
    xi, w = np.polynomial.legendre.leggauss(30)
    short = np.abs(zb - za) < 0.3 * za
    mid, h = 0.5 * (za + zb), 0.5 * (zb - za)
    nodes = mid[None] + h[None] * xi[:, None]
    ref = np.where(short, -(h * (w @ (np.exp(-nodes) / nodes))), exp1(zb) - exp1(za))
    assert short.sum() > 1000
    np.testing.assert_allclose(d, ref, rtol=E1_DIFF_RTOL, atol=0)
    # the naive difference of two series values cannot meet this on the short intervals
    naive = exp1_small(zb, 2.5) - exp1_small(za, 2.5)
    assert np.max(np.abs(naive - ref)[short] / np.abs(ref[short])) > 1e3 * E1_DIFF_RTOL


def test_yakopcic_incremental_inversion_solves_the_state_equation():
    """Φ(x1) - Φ(x0) = g·t (scipy's Φ) for pulses that stay off the bounds."""
    m = devices.create("yakopcic")
    rng = np.random.default_rng(9)
    x = rng.uniform(0.05, 0.9, 500)
    v = rng.choice([-0.3, 0.3], 500)
    t = 2e-5 * 10.0 ** rng.uniform(-4, -1, 500)
    x1 = m.apply_pulse(x, v, t, energy=False).x
    vn = m.polarity * v
    g = m._drift(vn)
    up = g > 0
    ref = devices.create("yakopcic", e1="scipy")
    lhs = ref._phi(x1, up) - ref._phi(x, up)
    np.testing.assert_allclose(lhs, g * t, rtol=1e-9, atol=1e-15)
