"""Interface invariants, oracles (devices.md §10) and bad-input errors, for every model."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ebana import devices
from ebana.devices import iv
from ebana.devices.base import X_MAX, X_MIN
from ebana.errors import DeviceError

NAMES = devices.names()
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None,
                                   reason="ngspice executable not found")



SPLIT_RTOL = 1e-6  # split-pulse tolerance on x and energy (relative), devices.md §10.8


def test_registry_lists_all_models():
    assert set(NAMES) >= {"ideal", "linear_ion_drift", "nonlinear_ion_drift", "team", "vteam",
                          "yakopcic", "stanford_pku", "messaris"}


def test_unknown_model_lists_known_ones():
    with pytest.raises(DeviceError, match="known: .*vteam") as err:
        devices.create("vtem")
    assert "\n" not in str(err.value)


def test_metadata(model):
    assert model.kind in ("continuous", "thresholded")
    assert model.citation
    assert model.r_off > model.r_on > 0
    if model.v_th_set is not None:
        assert model.v_th_set > 0
    if model.v_th_reset is not None:
        assert model.v_th_reset < 0
    if model.kind == "thresholded":
        assert model.v_th_set is not None and model.v_th_reset is not None


def test_shapes_and_pinching(model, rng):
    x = rng.uniform(0, 1, (3, 4))
    assert model.conductance(x).shape == (3, 4)
    assert model.current(rng.uniform(-1, 1, (3, 4)), x).shape == (3, 4)
    assert np.all(model.current(0.0, x) == 0)  # I(0, x) = 0: pinched loops
    g = model.conductance(np.linspace(0, 1, 11))
    assert np.all(np.diff(g) > 0)  # x = 1 is the most conductive


def test_polarity_potentiates(model):
    d = model.demo
    x = np.array([0.3, 0.5, 0.7])
    up = model.apply_pulse(x, d.v_set, d.t_pulse).x
    down = model.apply_pulse(x, d.v_reset, d.t_pulse).x
    assert np.all(model.conductance(up) > model.conductance(x))
    assert np.all(model.conductance(down) < model.conductance(x))


def test_pulse_stays_in_range_and_energy_positive(model, rng):
    x = model.initial_state((5, 6), rng)
    v = rng.uniform(-1.5, 1.5, (5, 6)) * max(model.demo.amplitude, abs(model.demo.v_reset))
    t = rng.uniform(0, 20, (5, 6)) * model.demo.t_pulse
    res = model.apply_pulse(x, v, t)
    assert res.x.shape == (5, 6) and res.energy.shape == (5, 6)
    assert np.all((res.x >= 0) & (res.x <= 1))
    assert np.all(res.energy >= 0)


def test_bounds_are_left(model):
    """A device at a bound can leave it (direction-aware windows and clipping)."""
    d = model.demo
    lo, hi = model.bounds
    v_up = d.v_set if model.v_th_set is None else max(d.v_set, 1.4 * model.v_th_set)
    v_dn = d.v_reset if model.v_th_reset is None else min(d.v_reset, 1.4 * model.v_th_reset)
    at_top = model.apply_pulse(hi, v_dn, 10 * d.t_pulse).x
    at_bottom = model.apply_pulse(lo, v_up, 10 * d.t_pulse).x
    assert at_top < hi and at_bottom > lo


@pytest.mark.parametrize("n", [2, 10, 100])
def test_split_pulse_invariance(model, n):
    d = model.demo
    x = np.array([0.05, 0.3, 0.6, 0.95])
    for v in (d.v_set, d.v_reset):
        t = 5 * d.t_pulse
        one = model.apply_pulse(x, v, t)
        xs, e = x.copy(), np.zeros_like(x)
        for _ in range(n):
            r = model.apply_pulse(xs, 0.0, t)  # 0 V gap: nothing moves
            assert np.array_equal(r.x, xs)
            r = model.apply_pulse(xs, v, t / n)
            xs, e = r.x, e + r.energy
        np.testing.assert_allclose(xs, one.x, rtol=SPLIT_RTOL, atol=1e-12)
        np.testing.assert_allclose(e, one.energy, rtol=SPLIT_RTOL, atol=1e-30)


def test_thresholded_models_do_not_move_below_threshold(model):
    if model.kind != "thresholded":
        pytest.skip("continuous-drift model")
    x = np.linspace(0, 1, 21)
    for v in (0.999 * model.v_th_set, 0.5 * model.v_th_set, 0.0, 0.5 * model.v_th_reset,
              0.999 * model.v_th_reset):
        assert np.array_equal(model.apply_pulse(x, v, 1.0).x, x), v


def test_energy_bounds_linear_iv():
    """§10.10: V²·G_min·t <= E <= V²·G_max·t for linear-I-V models."""
    for name, kw in (("ideal", {}), ("linear_ion_drift", {}), ("vteam", {})):
        m = devices.create(name, **kw)
        x = np.linspace(0.05, 0.95, 7)
        for v in (m.demo.v_set, m.demo.v_reset):
            t = 10 * m.demo.t_pulse
            r = m.apply_pulse(x, v, t)
            g_lo = np.minimum(m.conductance(x), m.conductance(r.x))
            g_hi = np.maximum(m.conductance(x), m.conductance(r.x))
            assert np.all(r.energy >= v**2 * g_lo * t * (1 - 1e-9))
            assert np.all(r.energy <= v**2 * g_hi * t * (1 + 1e-9))


def test_ideal_energy_is_v2_g_t():
    m = devices.create("ideal", v_th=0.5)
    x = np.array([0.2, 0.5])
    r = m.apply_pulse(x, 0.4, 1e-3)  # below threshold: state fixed, E = V²·G·t exactly
    np.testing.assert_allclose(r.energy, 0.4**2 * m.conductance(x) * 1e-3, rtol=1e-14)
    r = m.apply_pulse(x, 1.0, 1e-6)  # moving: G linear in t, E = V²·mean(G)·t
    assert np.allclose(r.x - x, m.params.k * 1e-6)
    np.testing.assert_allclose(
        r.energy, 0.5 * (m.conductance(x) + m.conductance(r.x)) * 1e-6, rtol=1e-12)


def test_hp_no_window_switching_time():
    """§10.3: full OFF->ON at 1 V takes (R_OFF + R_ON)/(2kV) = 0.805 s."""
    m = devices.create("linear_ion_drift", window="none")
    assert m.apply_pulse(0.0, 1.0, 0.805).x == pytest.approx(1.0, abs=1e-12)
    assert m.apply_pulse(0.0, 1.0, 0.80).x < 0.99
    # charge relation s(q) = s0 + k q  =>  E = V·Δs/k
    r = m.apply_pulse(0.2, 1.0, 0.1)
    assert r.energy == pytest.approx(1.0 * (r.x - 0.2) / m.params.k, rel=1e-12)


def test_joglekar_sticks_biolek_leaves():
    """§10.4: a Joglekar device at a bound never moves; a Biolek one leaves."""
    jog = devices.create("linear_ion_drift", window="joglekar")
    bio = devices.create("linear_ion_drift", window="biolek")
    assert jog.apply_pulse(1.0, -1.0, 1.0).x == 1.0
    assert jog.apply_pulse(0.0, 1.0, 1.0).x == 0.0
    assert bio.apply_pulse(1.0, -1.0, 0.1).x < 1.0
    assert bio.apply_pulse(0.0, 1.0, 0.1).x > 0.0


def test_joglekar_charge_oracle():
    """§10.4, p = 1: with f̃ = f/R, Φ(x) = (R_OFF ln x - R_ON ln(1 - x))/4 grows as k·V·t."""
    m = devices.create("linear_ion_drift", window="joglekar")
    p = m.params
    x0, v, t = 0.3, 0.7, 0.2
    x1 = m.apply_pulse(x0, v, t).x

    def phi(x):
        return (p.r_off * np.log(x) - p.r_on * np.log1p(-x)) / 4

    assert phi(x1) - phi(x0) == pytest.approx(p.k * v * t, rel=1e-10)


def test_vteam_asymmetric_switching_times():
    """§10.6: full OFF at native +1 V (ebana -1 V) 122.4 ns; full ON at native -1 V 4.69 ps."""
    m = devices.create("vteam")
    t_off = 3e-9 / (5e-4 * 49)
    t_on = 3e-9 / (10 * 4**3)
    assert t_off == pytest.approx(122.4e-9, rel=1e-3) and t_on == pytest.approx(4.69e-12, rel=1e-3)
    assert m.apply_pulse(1.0, -1.0, t_off).x == pytest.approx(0.0, abs=1e-12)
    assert m.apply_pulse(1.0, -1.0, 0.99 * t_off).x > 0.005
    assert m.apply_pulse(0.0, 1.0, t_on).x == pytest.approx(1.0, abs=1e-12)
    assert m.apply_pulse(0.0, 1.0, 0.99 * t_on).x < 0.995


def test_stanford_read_resistances():
    """§6.1/§10.7: 541.82 ohm at g = 0.2 nm and 218 586 ohm at 1.7 nm, read at 0.1 V."""
    m = devices.create("stanford_pku")
    assert m.r_on == pytest.approx(541.82, rel=1e-5)
    assert m.r_off == pytest.approx(218586, rel=1e-5)
    assert m.v_th_set == pytest.approx(1.0504, rel=1e-4)
    assert m.apply_pulse(0.0, 1.39, 1.0).x == 0.0  # at g_max the field threshold is 1.3919 V
    assert m.apply_pulse(0.0, 1.40, 1e-9).x > 0.0


def test_yakopcic_read_resistance():
    m = devices.create("yakopcic")
    assert m.r_on == pytest.approx(117.6, rel=1e-3)  # x = 1
    assert 1 / m.conductance(np.float64((0.11 - 0.01) / 0.99)) == pytest.approx(1069.5, rel=1e-3)


def test_messaris_amplitude_dependent_bounds():
    """§10.9: SET at native -1 V stops at R = r_n(-1) = 5612 ohm, RESET at 16 719 ohm."""
    m = devices.create("messaris")
    p = m.params
    x_set = m.apply_pulse(0.0, 1.0, 1.0).x  # ebana +1 V = native -1 V
    r_set = p.r_off - x_set * (p.r_off - p.r_on)
    assert r_set == pytest.approx(p.r_n0 - p.r_n1, rel=1e-9)
    x_reset = m.apply_pulse(1.0, -1.0, 1.0).x
    assert p.r_off - x_reset * (p.r_off - p.r_on) == pytest.approx(16719, rel=1e-9)
    beyond = m.apply_pulse(0.0, -1.0, 1.0).x  # R = 17 kOhm already above r_p
    assert beyond == 0.0


def test_team_no_drift_at_zero_bias():
    """§9.6: with i_on < 0 nothing moves at V = 0 (the published +8.9 µA drifts)."""
    m = devices.create("team")
    x = np.linspace(0, 1, 11)
    assert np.array_equal(m.apply_pulse(x, 0.0, 1.0).x, x)
    with pytest.raises(DeviceError, match="i_on=8.9e-06"):
        devices.create("team", i_on=8.9e-6)


def test_pinched_loops_and_lobes_shrink_with_frequency(model):
    d = model.demo
    tr = iv.sinusoid(model, cycles=1)
    zero = np.isclose(tr.v, 0, atol=0)
    assert np.all(np.abs(tr.i[zero]) <= 1e-12 * np.max(np.abs(tr.i)))
    assert np.max(tr.x) > np.min(tr.x)  # the demo drive does switch the device
    if model.kind == "continuous":
        areas = [iv.loop_area(*_vi(iv.sinusoid(model, frequency=f * d.frequency, cycles=1)))
                 for f in (1, 10, 100)]
        assert areas[0] > areas[1] > areas[2]


def _vi(tr):
    return tr.v, tr.i


def test_rescaling_read_map(model):
    m2 = model.with_range(2e3, 2e5)
    assert m2.r_on == pytest.approx(2e3, rel=1e-12)
    assert m2.r_off == pytest.approx(2e5, rel=1e-12)
    x = np.linspace(0, 1, 5)
    d = model.demo
    # dynamics unchanged: same state after the same pulse
    np.testing.assert_allclose(m2.apply_pulse(x, d.v_set, d.t_pulse).x,
                               model.apply_pulse(x, d.v_set, d.t_pulse).x, rtol=1e-8, atol=1e-12)
    # normalised conductance map unchanged
    gn = (model.conductance(x) - model.conductance(0.0)) / (model.conductance(1.0)
                                                            - model.conductance(0.0))
    gn2 = (m2.conductance(x) - 1 / 2e5) / (1 / 2e3 - 1 / 2e5)
    np.testing.assert_allclose(gn2, gn, rtol=1e-10, atol=1e-14)
    assert np.all(m2.current(0.0, x) == 0)


def test_variability_and_c2c(model, rng):
    mv = model.with_variability((4, 3), rng, 0.1)
    x = np.full((4, 3), 0.5)
    r = mv.apply_pulse(x, model.demo.v_set, model.demo.t_pulse)
    assert np.unique(np.round(r.x, 14)).size > 1  # devices differ
    assert np.all((r.x >= 0) & (r.x <= 1))
    noisy = model.replace(c2c=0.2)
    a = noisy.apply_pulse(x, model.demo.v_set, model.demo.t_pulse, rng=np.random.default_rng(5))
    b = noisy.apply_pulse(x, model.demo.v_set, model.demo.t_pulse, rng=np.random.default_rng(5))
    assert np.array_equal(a.x, b.x) and np.unique(a.x).size > 1
    with pytest.raises(DeviceError, match="rng"):
        noisy.apply_pulse(x, model.demo.v_set, model.demo.t_pulse)
    if model.kind == "thresholded":  # noise never creates motion below threshold
        assert np.array_equal(noisy.apply_pulse(x, 0.0, 1.0, rng=rng).x, x)


@pytest.mark.parametrize("name,kw,pattern", [
    ("linear_ion_drift", {"r_off": 50.0}, "r_off=50"),
    ("vteam", {"r_on": 2e3}, "r_off=1000"),
    ("vteam", {"v_on": 0.2}, "v_on=0.2"),
    ("vteam", {"v_off": -0.1}, "v_off=-0.1"),
    ("yakopcic", {"v_n": -0.15}, "v_n=-0.15"),
    ("stanford_pku", {"g_max": 0.1e-9}, "g_max"),
    ("messaris", {"sw_an": 5.0}, "sw_an=5"),
    ("ideal", {"v_th": -1.0}, "v_th=-1"),
    ("ideal", {"nope": 1.0}, "unknown parameter 'nope'"),
    ("linear_ion_drift", {"window": "hann"}, "window='hann'"),
])
def test_bad_parameters(name, kw, pattern):
    with pytest.raises(DeviceError, match=pattern) as err:
        devices.create(name, **kw)
    assert "\n" not in str(err.value)


def test_bad_pulses(model):
    with pytest.raises(DeviceError, match="t=-1e-06 s must be >= 0"):
        model.apply_pulse(0.5, 1.0, -1e-6)
    with pytest.raises(DeviceError, match="x=1.5"):
        model.apply_pulse(1.5, 1.0, 1e-6)
    with pytest.raises(DeviceError, match="finite"):
        model.apply_pulse(0.5, np.nan, 1e-6)
    with pytest.raises(DeviceError, match="r_off"):
        model.with_range(1e3, 1e2)


def test_joglekar_symmetric_train_returns_to_start():
    """Issue 17: 50 SET + 50 RESET pulses (±1 V, 20 ms) from x = 0.1 return to 0.1.

    The exact state after the SET pulses is 1.7e-14 below the bound (Φ closed form solved for
    d = 1 - x); the old 1e-12 clamp stored 1e-12 and the train ended at x = 0.0975."""
    m = devices.create("linear_ion_drift", window="joglekar")
    p = m.params
    assert m.bounds == (X_MIN, X_MAX)
    tr = iv.pulse_train(m, 1.0, -1.0, 0.02, 50, 50, 0.1)
    target = (p.r_off * np.log(0.1) - p.r_on * np.log(0.9)) / 4 + 50 * p.k * 1.0 * 0.02
    d = 1e-14
    for _ in range(50):  # 4Φ = r_off·ln(1 - d) - r_on·ln d, solved for d
        d = np.exp((p.r_off * np.log1p(-d) - 4 * target) / p.r_on)
    assert d == pytest.approx(1.73e-14, rel=0.01)
    assert abs((1 - tr.x[50]) - d) <= 2.3e-16  # one float64 step below 1
    assert abs(tr.x[-1] - 0.1) < 1e-5


@pytest.mark.parametrize("pw", [2, 3, 5])
def test_joglekar_integer_p_closed_form(pw):
    """Integer p: Φ(x) = ∫R/(1 - (2x - 1)^(2p)) dx (partial fractions) grows as k·V·t; checked
    against quadrature of the published window, and split pulses agree."""
    from scipy.integrate import quad

    m = devices.create("linear_ion_drift", window="joglekar", p=float(pw))
    p = m.params
    assert m.separable
    x0, v, t = 0.3, 0.7, 5e-3
    x1 = float(m.apply_pulse(x0, v, t).x)

    def rhs(s):
        return (p.r_on * s + p.r_off * (1 - s)) / (1 - (2 * s - 1) ** (2 * pw))

    dphi, _ = quad(rhs, x0, x1, epsabs=0, epsrel=1e-13)
    assert dphi == pytest.approx(p.k * v * t, rel=1e-9)
    back = float(m.apply_pulse(x1, -v, t).x)
    assert back == pytest.approx(x0, abs=1e-12)
    # the window-only Φ of VTEAM/nonlinear drift: ∫dx/f
    from ebana.devices import windows as win

    a, b = 0.2, 0.9
    ref, _ = quad(lambda s: 1 / (1 - (2 * s - 1) ** (2 * pw)), a, b, epsabs=0, epsrel=1e-13)
    got = win.phi("joglekar", np.float64(b), True, pw) - win.phi("joglekar", np.float64(a), True, pw)
    assert got == pytest.approx(ref, rel=1e-12)
