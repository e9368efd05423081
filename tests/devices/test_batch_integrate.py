"""The per-device adaptive fast path of TEAM and Stanford-PKU (ebana.devices.batch_integrate)
against closed forms and against the shared-step reference integrator (rtol 1e-9)."""

from __future__ import annotations

import numpy as np
import pytest

from ebana import devices
from ebana.devices.batch_integrate import integrate_each
from ebana.errors import DeviceError
from ebana.updates.pulses import calibrate, program

MODELS = ["team", "stanford_pku"]
TOL_DG = 1e-5   # |G fast - G reference| / (G_on - G_off): stated tolerance of the fast path
TOL_E = 1e-4    # relative write-energy error of the fast path


def _check(m, x, v, t, fast=None):
    fast = m.apply_pulse(x, v, t) if fast is None else fast
    ref = m.apply_pulse(x, v, t, reference=True)
    span = np.max(m.conductance(np.ones(np.shape(x))) - m.conductance(np.zeros(np.shape(x))))
    np.testing.assert_allclose(m.conductance(fast.x), m.conductance(ref.x), rtol=0, atol=TOL_DG * span)
    np.testing.assert_allclose(fast.energy, ref.energy, rtol=TOL_E, atol=1e-300)
    return fast, ref


def test_closed_forms_growth_and_bound():
    # ds/dτ = k·s, P = s: s(1) = s0·e^k, E = s0·(e^k - 1)/k (no bound reached)
    s0, k = np.array([0.01, 0.02, 0.1]), np.array([1.0, 3.0, 2.0])
    s1, e = integrate_each(lambda i: (lambda s: (k[i] * s, s)), s0, 0.0, 1.0)
    np.testing.assert_allclose(s1, s0 * np.exp(k), rtol=1e-6)
    np.testing.assert_allclose(e, s0 * np.expm1(k) / k, rtol=1e-6)
    # ds/dτ = c (gated at s = 1), P = 1 + s: bound at τ* = (1 - s0)/c, then P = 2 to the end
    s0, c = np.array([0.2, 0.5, 0.9]), np.array([2.0, 0.5, 4.0])

    def make(i):
        return lambda s: (np.where(s >= 1.0, 0.0, c[i]), 1.0 + s)

    s1, e = integrate_each(make, s0, 0.0, 1.0)
    ts = np.minimum((1 - s0) / c, 1.0)
    e_exact = (1 + s0) * ts + 0.5 * c * ts**2 + 2.0 * (1 - ts)
    np.testing.assert_allclose(s1, np.minimum(s0 + c, 1.0), rtol=0, atol=1e-7)
    np.testing.assert_allclose(e, e_exact, rtol=1e-6)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("rng_range", [None, (1e4, 1e6)])
def test_fast_matches_reference_random_pulses(name, rng_range):
    m = devices.create(name)
    m = m if rng_range is None else m.with_range(*rng_range)
    rng = np.random.default_rng(7)
    n = 300
    d = m.demo
    x = rng.uniform(0, 1, n)
    v = rng.choice([-1.0, 1.0], n) * rng.uniform(0.2, 1.6, n) * d.v_set   # PAM-like amplitudes
    t = d.t_pulse * rng.uniform(0, 4, n)                                   # PWM-like widths
    t[:10] = 0.0
    fast, ref = _check(m, x, v, t)
    assert np.max(np.abs(ref.x - x)) > 0.3            # the pulses do move the states
    assert np.all(fast.x[:10] == x[:10]) and np.all(fast.energy[:10] == 0)


@pytest.mark.parametrize("name", MODELS)
def test_below_threshold_does_not_move_and_dissipates_ohmically(name):
    m = devices.create(name)
    x = np.linspace(0.0, 1.0, 21)
    for v in (0.9 * m.v_th_set, 0.9 * m.v_th_reset):
        t = m.demo.t_pulse * 3
        r = m.apply_pulse(x, v, t)
        assert np.all(r.x == x)
        np.testing.assert_allclose(r.energy, v * m.current(v, x) * t, rtol=1e-14)
        _check(m, x, v, t, r)


@pytest.mark.parametrize("name", MODELS)
def test_near_the_bounds(name):
    m = devices.create(name)
    x = np.array([0.0, 1e-9, 1e-4, 0.5, 1 - 1e-4, 1 - 1e-9, 1.0] * 2)
    v = np.array([m.demo.v_set] * 7 + [m.demo.v_reset] * 7)
    for k in (0.01, 1.0, 30.0):  # short, nominal, long into the bound
        fast, ref = _check(m, x, v, k * m.demo.t_pulse)
        assert np.all(fast.x[:7] >= x[:7]) and np.all(fast.x[7:] <= x[7:])
    assert fast.x[6] == 1.0 and fast.x[7] == 0.0      # pushed against its bound: stays on it
    assert fast.x[13] < 1.0 - 1e-3 and fast.x[12] < fast.x[13]  # RESET leaves the ON bound


@pytest.mark.parametrize("name", MODELS)
def test_per_device_parameters(name):
    rng = np.random.default_rng(3)
    m = devices.create(name).with_range(1e4, 1e6).with_variability((40,), rng, 0.1)
    x = rng.uniform(0.05, 0.95, 40)
    v = rng.choice([-1.0, 1.0], 40) * rng.uniform(0.7, 1.5, 40) * m.demo.v_set
    _check(m, x, v, m.demo.t_pulse * rng.uniform(0.1, 2, 40))


@pytest.mark.parametrize("name", MODELS)
def test_split_pulse_invariance(name):
    m = devices.create(name)
    x = np.linspace(0.1, 0.9, 9)
    for v in (m.demo.v_set, m.demo.v_reset):
        t = m.demo.t_pulse
        whole = m.apply_pulse(x, v, t)
        a = m.apply_pulse(x, v, t / 2)
        b = m.apply_pulse(a.x, v, t / 2)
        np.testing.assert_allclose(b.x, whole.x, rtol=0, atol=1e-6)
        np.testing.assert_allclose(a.energy + b.energy, whole.energy, rtol=1e-5)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("scheme,n", [("pwm", 1), ("pam", 1), ("pam", 4)])
def test_programming_schemes_match_the_adaptive_integrator(name, scheme, n):
    fast = devices.create(name).with_range(1e4, 1e6)
    slow = devices.create(name, integrator="adaptive").with_range(1e4, 1e6)
    cal = calibrate(fast, fast.demo.v_set, fast.demo.v_reset)
    rng = np.random.default_rng(5)
    x = rng.uniform(0.1, 0.9, 200)
    dg = rng.normal(0, 3e-6, 200)
    kw = dict(scheme=scheme, pam_pulses=n, dg_ref=3e-6)
    a, b = program(fast, x, dg, cal, **kw), program(slow, x, dg, cal, **kw)
    span = 1e-4 - 1e-6
    assert np.max(np.abs(b.x - x)) > 0.01
    np.testing.assert_allclose(fast.conductance(a.x), slow.conductance(b.x), rtol=0, atol=TOL_DG * span)
    np.testing.assert_allclose(a.energy, b.energy, rtol=TOL_E, atol=1e-300)
    if n > 1:  # write-verify: same pulse counts (a device stops when it reaches its target)
        assert np.mean(a.n_pulses == b.n_pulses) > 0.99


@pytest.mark.parametrize("name", MODELS)
def test_adaptive_is_the_old_path_bit_for_bit(name):
    # preset "adaptive" (device.preset in a run): every pulse through the reference integrator
    m = devices.create(name)
    x = np.linspace(0.1, 0.9, 5)
    old = devices.create(name, preset="adaptive").apply_pulse(x, m.demo.v_set, m.demo.t_pulse)
    ref = m.apply_pulse(x, m.demo.v_set, m.demo.t_pulse, reference=True)
    fast = m.apply_pulse(x, m.demo.v_set, m.demo.t_pulse)
    assert np.array_equal(old.x, ref.x) and np.array_equal(old.energy, ref.energy)
    assert not np.array_equal(fast.x, ref.x)          # the default is the fast path


@pytest.mark.parametrize("name", MODELS)
def test_bad_integrator_is_named(name):
    with pytest.raises(DeviceError, match=rf"^{name}: integrator='rk4' must be fast or adaptive$"):
        devices.create(name, integrator="rk4")


def test_loose_tolerance_would_fail():
    # the comparison can fail: at rtol 1e-2 the same integrator misses the closed form
    s0, k = np.array([0.01]), np.array([4.0])
    s1, _ = integrate_each(lambda i: (lambda s: (k[i] * s, s)), s0, 0.0, 1.0, rtol=1e-2, atol=1e-4)
    assert abs(s1[0] - s0[0] * np.exp(4.0)) > 1e-6 * s1[0]
