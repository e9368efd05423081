"""Incremental state inversion (``Φ(s) - Φ(x0) = g·t``) against an extended-precision residual."""

from __future__ import annotations

import numpy as np
import pytest

from ebana import devices
from ebana.errors import DeviceError

L = np.longdouble


def _biolek_dphi(p, x0, x1, up):
    """ΔΦ of the HP model with the Biolek window (p = 1) in long double (x86: 64-bit mantissa)."""
    a, b = L(p.r_off), L(p.r_on) - L(p.r_off)
    x0, x1 = x0.astype(L), x1.astype(L)
    d = x1 - x0
    u = -L(0.5) * (a + b) * np.log1p(-d / (1 - x0)) + L(0.5) * (a - b) * np.log1p(d / (1 + x0))
    dn = L(0.5) * a * np.log1p(d / x0) - (b + L(0.5) * a) * np.log1p(-d / (2 - x0))
    return np.where(up, u, dn)


def _state_errors(inversion: str) -> np.ndarray:
    m = devices.create("linear_ion_drift", inversion=inversion).with_range(1e4, 1e6)
    rng = np.random.default_rng(1)
    x = rng.uniform(0.05, 0.95, 5000)
    v = rng.choice([-1.0, 1.0], 5000)
    t = 2e-2 * 10.0 ** rng.uniform(-5, -1, 5000)
    x1 = m.apply_pulse(x, v, t, energy=False).x
    p = m.params
    up = v > 0
    resid = _biolek_dphi(p, x, x1, up) - L(p.k) * v.astype(L) * t.astype(L)
    f = np.where(up, 1 - x1**2, x1 * (2 - x1)) / (p.r_on * x1 + p.r_off * (1 - x1))  # dx/dΦ
    return np.abs(resid.astype(float) * f)  # state error (–)


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs an 80-bit long double")
def test_incremental_inversion_is_exact_to_an_ulp():
    """Incremental: states within 2e-16 of exact; the absolute inversion (default) within 1e-14,
    and measurably worse (so the check can tell the two apart)."""
    inc, ab = _state_errors("incremental"), _state_errors("absolute")
    assert inc.max() <= 2e-16
    assert ab.max() <= 1e-14
    assert ab.max() > 4 * inc.max()


def test_inversion_option_is_checked():
    with pytest.raises(DeviceError, match="inversion"):
        devices.create("linear_ion_drift", inversion="table")
