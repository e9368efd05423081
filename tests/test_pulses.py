"""Pulse encoders and programming: PWM linearity, PAM threshold and overshoot, energy, clocks."""

from __future__ import annotations

import numpy as np
import pytest

from ebana import devices
from ebana.errors import DeviceError
from ebana.updates.pulses import Calibration, calibrate, program, pwm, state_for_conductance

G_MIN, G_MAX = 1e-7, 1e-5


def _model(name):
    return devices.create(name).with_range(1 / G_MAX, 1 / G_MIN)


@pytest.mark.parametrize("name", devices.names())
@pytest.mark.parametrize("direction", [1, -1])
def test_pwm_small_update_is_linear_in_width(name, direction):
    m = _model(name)
    cal = calibrate(m, m.demo.v_set, m.demo.v_reset)
    dg = direction * np.linspace(0.1, 1.0, 10) * 2e-3 * (G_MAX - G_MIN)   # small requests
    p = pwm(dg, cal)
    assert np.all(np.diff(np.abs(p.t)) > 0) and np.all(np.sign(p.v) == direction)
    x0 = np.full(dg.shape, 0.5)
    dx = m.apply_pulse(x0, p.v, p.t, energy=False).x - x0
    slope, icpt = np.polyfit(p.t, dx, 1)
    r2 = 1 - np.sum((dx - (slope * p.t + icpt)) ** 2) / np.sum((dx - dx.mean()) ** 2)
    assert r2 > 0.99, (name, r2)


def test_pwm_clock_min_and_max_width():
    cal = Calibration(v_set=1.0, v_reset=-1.0, rate_set=1.0, rate_reset=2.0)   # S/s
    p = pwm(np.array([0.0, 0.26, -0.26, 0.04, 5.0]), cal, t_clock=0.1, t_min=0.1, t_max=1.0)
    assert np.allclose(p.t, [0.0, 0.3, 0.1, 0.0, 1.0])        # rounded to clock, dropped, cut
    assert list(p.v) == [0.0, 1.0, -1.0, 0.0, 1.0]
    assert list(p.sent) == [False, True, True, False, True]


def test_ideal_device_pwm_is_exact_and_pam_equals_pwm():
    m = _model("ideal")
    cal = calibrate(m, 1.0, -1.0)
    x = np.random.default_rng(0).uniform(0.2, 0.8, 50)
    dg = np.random.default_rng(1).normal(0, 2e-7, 50)
    g0 = m.conductance(x)
    for scheme in ("pwm", "pam"):
        r = program(m, x, dg, cal, scheme=scheme, dg_ref=2e-7, v_max=100.0)
        assert np.allclose(m.conductance(r.x) - g0, dg, rtol=1e-9, atol=1e-20), scheme
    for n in (3, 10):  # split PAM on a linear device: N pulses of 1/N deliver the whole request
        r = program(m, x, dg, cal, scheme="pam", pam_pulses=n, dg_ref=2e-7, v_max=100.0)
        assert np.allclose(m.conductance(r.x) - g0, dg, rtol=1e-6, atol=1e-20), n


def test_pam_sub_threshold_requests_do_not_move_a_thresholded_device():
    m = _model("vteam")
    assert m.kind == "thresholded"
    cal = calibrate(m, m.demo.v_set, m.demo.v_reset)
    dg_ref = 2e-7
    # amplitude v_set * dg/dg_ref below v_th_set = 0.2 V  <=>  dg < dg_ref * 0.2 / 0.22
    dg = np.array([0.5, 0.8, 0.9]) * dg_ref * m.v_th_set / cal.v_set
    x = np.full(3, 0.5)
    for n in (1, 5):
        r = program(m, x, dg, cal, scheme="pam", dg_ref=dg_ref, pam_pulses=n)
        assert np.array_equal(r.x, x)
    r = program(m, x, np.array([1.0, 1.0, 1.0]) * dg_ref, cal, scheme="pam", dg_ref=dg_ref)
    assert np.all(r.x > x)


@pytest.mark.parametrize("name,sign", [("yakopcic", 1), ("yakopcic", -1), ("messaris", -1)])
def test_pam_split_into_shorter_pulses_reduces_overshoot(name, sign):
    m = _model(name)
    cal = calibrate(m, m.demo.v_set, m.demo.v_reset)
    dg_ref = 2e-7
    x = np.full(4, 0.5)
    dg = np.full(4, sign * 2 * dg_ref)                     # a large update: twice the reference
    ratio = {}
    for n in (1, 30):
        r = program(m, x, dg, cal, scheme="pam", dg_ref=dg_ref, pam_pulses=n)
        ratio[n] = float(((m.conductance(r.x) - m.conductance(x)) / dg)[0])
        assert np.all(r.n_pulses <= n)
    assert ratio[1] > 1.5                                   # one pulse overshoots by > 50 %
    assert ratio[30] < ratio[1] and ratio[30] < 1.2, ratio   # 30 short pulses: overshoot gone


@pytest.mark.parametrize("scheme,n", [("pwm", 1), ("pam", 4)])
def test_energy_total_is_sum_of_pulse_energies(scheme, n):
    m = _model("yakopcic")
    cal = calibrate(m, m.demo.v_set, m.demo.v_reset)
    x = np.random.default_rng(2).uniform(0.3, 0.7, 8)
    dg = np.random.default_rng(3).normal(0, 2e-7, 8)
    r = program(m, x, dg, cal, scheme=scheme, dg_ref=2e-7, pam_pulses=n)
    # replay the same pulses one by one
    if scheme == "pwm":
        p = pwm(dg, cal)
        ref = m.apply_pulse(x, p.v, p.t)
        assert np.allclose(r.energy, ref.energy, rtol=1e-12) and np.all(r.energy >= 0)
    assert r.energy.sum() > 0 and np.all(r.energy >= 0)
    assert np.all(r.n_pulses <= n)


def test_energy_of_ideal_pwm_matches_closed_form():
    m = _model("ideal")
    cal = calibrate(m, 1.0, -1.0)
    x = np.array([0.3, 0.6])
    dg = np.array([3e-7, -2e-7])
    p = pwm(dg, cal)
    r = program(m, x, dg, cal)
    g0, g1 = m.conductance(x), m.conductance(r.x)
    assert np.allclose(r.energy, p.v ** 2 * p.t * 0.5 * (g0 + g1), rtol=1e-6)   # V² ∫G dt, G linear in t


def test_higher_amplitude_shorter_pulse_energy_follows_the_physics():
    """Ideal device: rate ∝ V so t ∝ 1/V and E = V²·G·t ∝ V; VTEAM: rate grows faster than V², E falls."""
    energies = {}
    for name, scales in (("ideal", (1.0, 2.0)), ("vteam", (1.0, 1.5))):
        m = _model(name)
        for s in scales:
            cal = calibrate(m, s * m.demo.v_set, s * m.demo.v_reset)
            r = program(m, np.full(4, 0.5), np.full(4, 1e-7), cal)
            energies[name, s] = r.energy.sum()
    assert energies["ideal", 2.0] == pytest.approx(2 * energies["ideal", 1.0], rel=1e-3)
    assert energies["vteam", 1.5] < energies["vteam", 1.0]


def test_state_for_conductance_inverts_every_model():
    g = np.random.default_rng(4).uniform(G_MIN, G_MAX, 20)
    for name in devices.names():
        m = _model(name)
        assert np.allclose(m.conductance(state_for_conductance(m, g)), g, rtol=1e-9), name


def test_bad_amplitudes_are_device_errors():
    m = _model("vteam")
    with pytest.raises(DeviceError, match="does not move"):
        calibrate(m, 0.1, -0.3)                       # below v_th_set = 0.2 V
    with pytest.raises(DeviceError, match="v_set > 0"):
        calibrate(m, -0.1, -0.3)


def test_open_loop_higher_frequency_delivers_one_fth_on_a_linear_device():
    """pam_frequency f: one pulse of t_pam/f at the same amplitude, nothing read back; the ideal
    (rate linear in V and t) device gets exactly dg/f, and f open-loop pulses of 1/f each would be
    the single pulse again (the state equation is autonomous in time)."""
    m = _model("ideal")
    cal = calibrate(m, 1.0, -1.0)
    x = np.random.default_rng(4).uniform(0.2, 0.8, 40)
    dg = np.random.default_rng(5).normal(0, 2e-7, 40)
    g0 = m.conductance(x)
    for f in (1.0, 3.0, 10.0):
        r = program(m, x, dg, cal, scheme="pam", dg_ref=2e-7, v_max=100.0, pam_frequency=f)
        assert np.allclose(m.conductance(r.x) - g0, dg / f, rtol=1e-9, atol=1e-21), f
        assert np.array_equal(r.n_pulses, (dg != 0).astype(np.int64))


def test_open_loop_higher_frequency_shrinks_a_thresholded_overshoot():
    m = _model("vteam")
    cal = calibrate(m, m.demo.v_set, m.demo.v_reset)
    dg_ref = 2e-7
    x = np.full(3, 0.5)
    dg = np.full(3, 1.2 * dg_ref)     # 1.2 v_set: one full-window pulse overshoots ~40x (saturates)
    got = {}
    for f in (1.0, 10.0):
        r = program(m, x, dg, cal, scheme="pam", dg_ref=dg_ref, pam_frequency=f)
        got[f] = float((m.conductance(r.x) - m.conductance(x))[0])
        # the same pulse applied by hand: amplitude unchanged, width t_pam / f
        t = dg_ref / cal.rate_set / f
        ref = m.apply_pulse(x, np.full(3, 1.2 * cal.v_set), np.full(3, t))
        assert np.allclose(r.x, ref.x, rtol=1e-12, atol=0)
        assert np.allclose(r.energy, ref.energy, rtol=1e-9)
    assert got[1.0] > 10 * dg[0] and got[10.0] < got[1.0] / 5


def test_pam_frequency_below_one_is_refused():
    m = _model("ideal")
    cal = calibrate(m, 1.0, -1.0)
    with pytest.raises(DeviceError, match="pam_frequency"):
        program(m, np.full(2, 0.5), np.full(2, 1e-7), cal, scheme="pam", dg_ref=2e-7, pam_frequency=0.5)
