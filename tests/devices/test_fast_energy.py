"""Closed-form write energy against the exact integrator (issue 17, item 1).

Every pulse: random state, amplitude (both polarities, below and above threshold) and width,
including widths long enough to reach a hard bound mid-pulse. Reference: the adaptive
Dormand-Prince integrator of the state and ``∫V·I dt`` (rtol 1e-9). Tolerance on the energy:
relative 1e-6. Native and read-mapped (``with_range``) devices.
"""

from __future__ import annotations

import numpy as np
import pytest

from ebana import devices
from ebana.devices.integrate import integrate_pulse

RTOL_E = 1e-6
"""Stated tolerance: relative error of the fast energy against the integrator."""

CASES = [
    ("vteam", {}),
    ("vteam", {"iv": "exponential"}),
    ("yakopcic", {}),
    ("linear_ion_drift", {}),
    ("linear_ion_drift", {"window": "none"}),
    ("soft_bounds_power", {}),
    ("soft_bounds_linear", {}),
    ("soft_bounds_exp", {}),
    ("soft_bounds_exp", {"gamma_r": 10.0}),
    ("messaris", {}),
    ("nonlinear_ion_drift", {}),
    ("nonlinear_ion_drift", {"window": "none"}),
    ("nonlinear_ion_drift", {"preset": "technion_2011"}),
]


def _pulses(model, n: int, rng: np.random.Generator):
    d = model.demo
    lo, hi = model.bounds
    x = rng.uniform(0.0, 1.0, n)
    x[:4] = [lo, hi, lo, hi]  # on a bound, both directions
    scale = rng.choice([0.3, 0.9, 1.0, 1.3], n)  # 0.3: below threshold for thresholded models
    v = np.where(rng.random(n) < 0.5, d.v_set, d.v_reset) * scale
    t = d.t_pulse * 10.0 ** rng.uniform(-4, 1, n)  # up to 10 demo widths: hard bounds reached
    return x, v, t


def _exact(model, x, v, t):
    vn = model.polarity * v
    lo, hi = model.bounds
    return integrate_pulse(model._gated_rate, model._power, x, vn, t, lo, hi, rtol=1e-9)


@pytest.mark.parametrize("rescale", [False, True])
@pytest.mark.parametrize("name,kw", CASES)
def test_fast_energy_matches_integrator(name, kw, rescale):
    model = devices.create(name, **kw)
    if rescale:
        model = model.with_range(1e4, 1e6)
    rng = np.random.default_rng(17)
    x, v, t = _pulses(model, 400, rng)
    vn = model.polarity * v
    with np.errstate(all="ignore"):
        x1 = model._closed_form(x, vn, t)
        assert x1 is not None
        e_native = model._closed_energy(x, vn, t, x1)
    assert e_native is not None, "fast energy path not taken"
    r = model.apply_pulse(x, v, t)
    x_ref, e_ref = _exact(model, x, v, t)
    np.testing.assert_allclose(r.x, x_ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(r.energy, e_ref, rtol=RTOL_E, atol=0)


def test_fast_energy_detects_a_wrong_formula():
    """The comparison can fail: a 1e-5 relative error in the energy is caught."""
    model = devices.create("vteam").with_range(1e4, 1e6)
    rng = np.random.default_rng(3)
    x, v, t = _pulses(model, 100, rng)
    e = model.apply_pulse(x, v, t).energy
    _, e_ref = _exact(model, x, v, t)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(e * (1 + 1e-5), e_ref, rtol=RTOL_E, atol=0)


def test_quadrature_declines_only_wide_sweeps():
    """Nonlinear ion drift: short pulses (training-sized sweeps) all take the quadrature; sweeps
    wider than its error bound allows are declined (NaN) and integrated by apply_pulse."""
    model = devices.create("nonlinear_ion_drift").with_range(1e4, 1e6)
    rng = np.random.default_rng(4)
    x = rng.uniform(0.05, 0.95, 300)
    v = rng.choice([-1.0, 1.0], 300)
    vn = model.polarity * v
    short = model.demo.t_pulse * 1e-2
    with np.errstate(all="ignore"):
        e = model._closed_energy(x, vn, short, model._closed_form(x, vn, short + 0 * x))
    assert np.all(np.isfinite(e))
    mixed = model.demo.t_pulse * 10.0 ** rng.uniform(-1, 1.5, 300)
    with np.errstate(all="ignore"):
        e = model._closed_energy(x, vn, mixed, model._closed_form(x, vn, mixed))
    assert np.any(~np.isfinite(e)) and np.any(np.isfinite(e))
    r = model.apply_pulse(x, v, mixed)
    _, e_ref = _exact(model, x, v, mixed)
    np.testing.assert_allclose(r.energy, e_ref, rtol=RTOL_E, atol=0)


def test_reference_mode_is_the_integrator():
    """``apply_pulse(reference=True)`` bypasses closed forms: it equals the integrator exactly."""
    model = devices.create("messaris").with_range(1e4, 1e6)
    x, v, t = _pulses(model, 50, np.random.default_rng(8))
    r = model.apply_pulse(x, v, t, reference=True)
    x_ref, e_ref = _exact(model, x, v, t)
    np.testing.assert_array_equal(r.energy, e_ref)
    np.testing.assert_array_equal(r.x, np.where(t > 0, np.clip(x_ref, 0, 1), x))
