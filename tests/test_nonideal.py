"""[nonideal]: configuration, converters, read-out, stuck devices, variability, write noise, retention."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest

from ebana import devices
from ebana.backends import create
from ebana.builder import build
from ebana.config import apply_overrides, dump_toml, from_dict, preset, to_dict
from ebana.errors import ConfigError
from ebana.gradients import eqprop_gradients
from ebana.losses import create_loss
from ebana.measurement import Readout, layer_spans, make_readout
from ebana.nonideal import NonIdealConfig, dac_features, dac_grid_low, draw_stuck, lsb, power_law_factor, quantize, relax
from ebana.phases import PhaseController
from tests.conftest import make_circuit

KEYS = ["d2d", "c2c", "stuck_on", "stuck_off", "t_batch", "retention_tau", "retention_x_rest", "drift_nu",
        "drift_t0", "t_read", "t_read_eval", "read_noise", "adc_bits", "adc_v_min", "adc_v_max", "dac_bits", "dac_pulse_bits"]


def cfg_with(**kv):
    return apply_overrides(preset("iris"), {f"nonideal.{k}" if "." not in k else k: v for k, v in kv.items()})


# ---------------------------------------------------------------------- configuration
def test_every_effect_off_by_default_and_written_to_config_toml():
    ni = NonIdealConfig()
    assert not ni.measured and not ni.faulty
    d = to_dict(preset("iris"))["nonideal"]
    assert set(d) == {k for k in KEYS if getattr(ni, k) is not None}
    assert all(d[k] == 0 for k in ("d2d", "c2c", "stuck_on", "stuck_off", "retention_tau", "drift_nu", "read_noise",
                                   "t_read", "t_read_eval"))
    cfg = cfg_with(stuck_on=0.1, adc_bits=8, read_noise=1e-3, adc_v_min=0.4)
    back = from_dict(tomllib.loads(dump_toml(to_dict(cfg))))
    assert back.nonideal == cfg.nonideal and back.nonideal.adc_bits == 8


BAD = [("stuck_on", 1.5), ("stuck_off", -0.1), ("retention_x_rest", 2.0), ("d2d", -0.1), ("c2c", -1.0),
       ("read_noise", -1e-3), ("retention_tau", -1.0), ("t_read", -1e-6), ("t_read_eval", -1e-6), ("t_read_eval", 2.0), ("t_batch", 0.0), ("t_batch", -1.0), ("drift_t0", -2.0),
       ("drift_nu", -0.1), ("adc_bits", 0), ("dac_bits", -3), ("dac_pulse_bits", 0), ("adc_bits", 2.5),
       ("read_noise", float("nan")), ("stuck_on", float("nan")), ("t_batch", float("inf")), ("adc_bits", 33)]


@pytest.mark.parametrize("key,value", BAD, ids=[f"{k}={v}" for k, v in BAD])
def test_bad_values_give_one_line_naming_key_and_value(key, value):
    with pytest.raises(ConfigError) as err:
        cfg_with(**{key: value})
    msg = str(err.value)
    assert "\n" not in msg and f"nonideal.{key}" in msg and repr(value) in msg


@pytest.mark.parametrize("kv,words", [
    (dict(stuck_on=0.6, stuck_off=0.5), ["stuck_on", "stuck_off", "<= 1"]),
    (dict(adc_v_min=0.8, adc_v_max=0.5), ["adc_v_min", "adc_v_max"]),
    (dict(d2d=0.1), ["nonideal.d2d", "device model"]),
    (dict(c2c=0.2), ["nonideal.c2c", "device model"]),
    (dict(dac_pulse_bits=4), ["dac_pulse_bits", "device model"]),
    (dict(**{"device.model": "vteam", "device.d2d": 0.2}, d2d=0.1), ["nonideal.d2d", "device.d2d", "one"]),
    (dict(**{"device.model": "vteam"}, dac_pulse_bits=4), ["dac_pulse_bits", "device.t_max"]),
    (dict(**{"device.model": "vteam", "device.scheme": "pam", "device.pam_levels": 5}, dac_pulse_bits=4),
     ["dac_pulse_bits", "pam_levels"])])
def test_inconsistent_settings_are_refused(kv, words):
    with pytest.raises(ConfigError) as err:
        cfg_with(**kv)
    assert "\n" not in str(err.value) and all(w in str(err.value) for w in words), str(err.value)


def test_pulse_dac_sets_the_programming_quanta():
    c = cfg_with(**{"device.model": "vteam", "device.scheme": "pam"}, dac_pulse_bits=4).device_used
    assert c.pam_levels == 15
    c = cfg_with(**{"device.model": "vteam", "device.t_max": 1.5e-6}, dac_pulse_bits=3).device_used
    assert c.t_clock == pytest.approx(1.5e-6 / 7)
    plain = cfg_with(**{"device.model": "vteam"})
    assert plain.device_used is plain.device


# ---------------------------------------------------------------------- converters
@pytest.mark.parametrize("bits", [1, 3, 8, 12])
def test_adc_error_within_half_an_lsb_and_saturates(bits, rng):
    lo, hi = 0.45, 0.75
    v = rng.uniform(lo, hi, 20000)
    q = quantize(v, bits, lo, hi)
    step = lsb(bits, lo, hi)
    assert step == pytest.approx((hi - lo) / (2 ** bits - 1))
    assert np.max(np.abs(q - v)) <= step / 2 * (1 + 1e-9)
    k = (q - lo) / step   # every output is one of the 2^bits levels
    assert np.allclose(k, np.rint(k), atol=1e-6) and len(np.unique(np.rint(k))) <= 2 ** bits
    assert np.all(quantize(np.array([lo - 1.0, hi + 1.0]), bits, lo, hi) == np.array([lo, hi]))


def test_input_dac_puts_both_wordlines_on_the_grid(rng):
    c = make_circuit(rng, n_in=4)
    p = c.params
    x = rng.uniform(-1.2, 1.2, (50, 4))
    bits = 4
    xq = dac_features(x, bits)
    u = c.input_voltages(xq)
    step = lsb(bits, p.v_shift - p.v_scale, p.v_shift + p.v_scale)
    k = (u - (p.v_shift - p.v_scale)) / step
    assert np.allclose(k, np.rint(k), atol=1e-9)
    inside = np.abs(x) <= 1
    assert np.max(np.abs(xq - x)[inside]) * p.v_scale <= step / 2 * (1 + 1e-9)


def test_input_dac_reaches_the_training_data():
    parts = build(cfg_with(dac_bits=2))
    assert set(np.unique(np.round(parts.x_train, 12))) <= {-1.0, round(-1 / 3, 12), round(1 / 3, 12), 1.0}


def test_input_dac_keeps_black_pixels_at_zero_volts_for_images():
    """Non-negative features (images): each polarity's DAC starts at v_shift, so x = 0 stays 0 V
    of drive and the 2^bits levels are k/(2^bits - 1); a symmetric 3-bit grid would put x = 0 at 1/7."""
    x = np.array([[0.0, 0.06, 0.5, 0.93, 1.0]])
    lo = dac_grid_low(x)
    assert lo == 0.0 and dac_grid_low(x - 0.5) == -1.0
    xq = dac_features(x, 3, lo)
    assert np.allclose(xq * 7, np.rint(xq * 7), atol=1e-12) and xq[0, 0] == 0.0 and xq[0, -1] == 1.0
    assert np.max(np.abs(xq - x)) <= lsb(3, 0.0, 1.0) / 2 * (1 + 1e-12)
    assert dac_features(x, 3)[0, 0] == pytest.approx(1 / 7)     # the symmetric grid: no level at 0
    parts = build(apply_overrides(preset("digits"), {"nonideal.dac_bits": 2}))
    assert set(np.unique(np.round(parts.x_train, 12))) <= {0.0, round(1 / 3, 12), round(2 / 3, 12), 1.0}
    assert np.mean(parts.x_train == 0.0) > 0.2                  # the dark background stays at 0 V


# ---------------------------------------------------------------------- read-out
def _phases(rng, readout):
    c = make_circuit(rng, n_in=3, hidden=(5,), n_cls=2)
    be = create("numpy", c)
    return c, PhaseController(be, create_loss("ce", tau=0.05), 1e-7, centered=True, readout=readout)


def test_read_noise_has_the_stated_spread_and_is_keyed(rng):
    r = Readout(2e-3, None, [(0.45, 0.75)], seed=5)
    v = np.full((400, 50), 0.6)
    d = r.voltages(v, r.rng((1, 2))) - v
    assert abs(d.std() / 2e-3 - 1) < 0.02 and abs(d.mean()) < 3 * 2e-3 / math.sqrt(d.size)
    assert np.array_equal(r.voltages(v, r.rng((1, 2))), r.voltages(v, r.rng((1, 2))))
    assert not np.array_equal(r.voltages(v, r.rng((1, 2))), r.voltages(v, r.rng((1, 3))))


def test_gradient_comes_from_the_measured_phases(rng):
    r = Readout(1e-4, 6, [(0.3, 0.9)], seed=1)
    c, ph = _phases(rng, r)
    x, y = rng.uniform(-1, 1, (8, 3)), rng.integers(0, 2, 8)
    res = ph.run(x, y, key=(0, 3))
    ma, mb = res.measured
    step = r.lsb()
    for sol in (ma, mb):
        for v in sol.layers[1:]:
            k = (v - 0.3) / step
            assert np.allclose(k, np.rint(k), atol=1e-6)   # ADC codes
    for q in (1, 2):   # exact phases kept for energy and verification, the measured ones within noise + LSB/2
        v, m = res.a.layers[q], ma.layers[q]
        inside = (v > 0.3 + 1e-3) & (v < 0.9 - 1e-3)
        assert np.max(np.abs(m - v)[inside]) < step / 2 + 6e-4   # noise: 1e-4 V, 6 sigma
        assert np.all(m[v < 0.3 - 1e-3] == 0.3) and np.all(m[v > 0.9 + 1e-3] == 0.9)   # saturates
    got = ph.gradients(res)
    want = eqprop_gradients(c, ma, mb, res.beta_a, res.beta_b)
    exact = eqprop_gradients(c, res.a, res.b, res.beta_a, res.beta_b)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))
    assert not all(np.allclose(g, e) for g, e in zip(got, exact))
    # the prediction (and so the nudge) is read through the same ADC
    assert np.array_equal(res.pred, c.prediction(r(res.free, r.rng((0, 3))).output))


def test_no_readout_when_nothing_is_measured():
    c = build(preset("iris")).circuit
    assert make_readout(NonIdealConfig(), c, 0) is None
    r = make_readout(NonIdealConfig(adc_bits=8), c, 0)
    assert r.spans[0] == (0.45, 0.75)                          # the clamp window
    assert r.spans[1] == pytest.approx((0.0, 1.2), abs=1e-15)   # amplifier outputs 0.6 +- 4 * 0.15 V
    r = make_readout(NonIdealConfig(adc_bits=8, adc_v_min=0.1, adc_v_max=1.0), c, 0)
    assert r.spans == [(0.1, 1.0), (0.1, 1.0)]
    with pytest.raises(ConfigError, match="empty ADC range"):
        make_readout(NonIdealConfig(adc_bits=8, adc_v_min=0.8), c, 0)


@pytest.mark.parametrize("kw", [dict(), dict(skips=((0, 2),)), dict(hidden=(4, 3)), dict(output_diodes=True)])
def test_default_adc_spans_hold_every_free_phase_voltage(kw, rng):
    """A free operating point never leaves its layer's span (a resistive node averages its drives)."""
    c = make_circuit(rng, n_in=4, n_cls=3, **kw)
    sol = create("numpy", c).solve(rng.uniform(-1, 1, (200, 4)))
    spans = layer_spans(c)
    for q, v in enumerate(sol.layers[1:], 1):
        lo, hi = spans[q - 1]
        assert lo - 1e-4 <= v.min() and v.max() <= hi + 1e-4, (q, v.min(), v.max(), spans)
    assert spans[-1] != (c.params.v_clamp_low, c.params.v_clamp_high) or kw.get("output_diodes")


# ---------------------------------------------------------------------- stuck devices
def test_draw_stuck_counts_and_disjoint(rng):
    on, off = draw_stuck(1000, 0.07, 0.13, rng)
    assert on.sum() == 70 and off.sum() == 130 and not np.any(on & off)


def _random_grads(updater, rng):
    return [rng.normal(0, 1e3, np.shape(g)) * rng.choice([-1, 1]) for g in updater.conductances()]


UPDATERS = [dict(), {"device.model": "vteam"}, {"device.model": "linear_ion_drift", "device.scheme": "pam"},
            {"device.model": "linear_ion_drift", "device.array_scheme": "row_v2"},
            {"device.model": "vteam", "device.array_scheme": "outer_product"},
            {"device.model": "soft_bounds_power", "device.preset": "asymmetric", "algorithm.name": "mixed_precision"},
            {"device.model": "soft_bounds_power", "device.preset": "asymmetric", "algorithm.name": "residual"},
            {"device.model": "yakopcic", "nonideal.c2c": 0.2, "nonideal.d2d": 0.2}]


@pytest.mark.parametrize("extra", UPDATERS, ids=lambda d: "-".join(str(v) for v in d.values()) or "ideal")
def test_stuck_devices_never_move(extra, rng):
    cfg = cfg_with(stuck_on=0.1, stuck_off=0.15, **extra)
    up = build(cfg).updater
    g0 = np.concatenate([g.ravel() for g in up.conductances()])
    on, off = up.on, up.off
    n = g0.size
    assert on.sum() == round(0.1 * n) and off.sum() == round(0.15 * n)
    x0 = up.array.x.copy() if up.device else None
    moved = np.zeros(n, dtype=bool)
    for _ in range(15):
        g = np.concatenate([a.ravel() for a in up.step(_random_grads(up, rng), 2e-6)])
        moved |= g != g0
        assert np.array_equal(g[on | off], g0[on | off])
        if x0 is not None:
            assert np.array_equal(up.array.x[on | off], x0[on | off])
    assert moved[~(on | off)].mean() > 0.3   # the others do learn
    if up.device:
        lo, hi = up.array.model.bounds
        assert np.all(x0[on] == hi) and np.all(x0[off] == lo)
        if "algorithm.name" not in extra and "device.array_scheme" not in extra:   # nothing is sent to them
            assert up.report.n_pulses <= (~(on | off)).sum()
    else:
        assert np.all(g0[on] == cfg.circuit.g_max) and np.all(g0[off] == cfg.circuit.g_min)


# ---------------------------------------------------------------------- variability and write noise
def test_variability_reaches_the_device_with_the_stated_spread():
    d2d = 0.25
    up = build(cfg_with(d2d=d2d, **{"device.model": "vteam"})).updater
    nominal = devices.create("vteam")
    for field in ("k_off", "v_off"):   # not touched by the read mapping
        ratio = np.log(np.asarray(getattr(up.array.model.params, field)) / getattr(nominal.params, field))
        n = ratio.size
        assert abs(ratio.std(ddof=1) / d2d - 1) < 4 / math.sqrt(2 * n) and abs(ratio.mean()) < 4 * d2d / math.sqrt(n)
    # the same numbers through the older device.d2d / device.c2c keys: the same run
    a = build(cfg_with(d2d=0.1, c2c=0.1, **{"device.model": "vteam"})).updater
    b = build(cfg_with(**{"device.model": "vteam", "device.d2d": 0.1, "device.c2c": 0.1})).updater
    assert all(np.array_equal(p, q) for p, q in zip(a.conductances(), b.conductances()))


def test_write_noise_has_the_stated_relative_spread(rng):
    c2c = 0.3
    up = build(cfg_with(c2c=c2c, **{"device.model": "linear_ion_drift"})).updater
    m = up.array.model
    assert m.params.c2c == c2c
    x = np.full(20000, 0.5)
    clean = m.replace(c2c=0.0).apply_pulse(x, np.full(x.size, 1.0), np.full(x.size, 1e-3)).x - x
    noisy = m.apply_pulse(x, np.full(x.size, 1.0), np.full(x.size, 1e-3), rng=rng).x - x
    rel = noisy / clean - 1
    assert abs(rel.std() / c2c - 1) < 0.03 and abs(rel.mean()) < 0.01


# ---------------------------------------------------------------------- retention
def test_relax_and_power_law_closed_forms():
    assert relax(np.array([1.0]), 0.2, 3.0, 2.0)[0] == pytest.approx(0.2 + 0.8 * math.exp(-1.5), rel=1e-15)
    age, g = np.array([1.0]), np.array([1.0])
    for _ in range(10):
        g = g * power_law_factor(age, 0.5, 0.1)
        age = age + 0.5
    assert g[0] == pytest.approx((6.0 / 1.0) ** -0.1, rel=1e-13)


def _zero(up):
    return [np.zeros(np.shape(g)) for g in up.conductances()]


@pytest.mark.parametrize("model", [None, "linear_ion_drift"])
def test_retention_relaxation_between_updates(model):
    tau, dt, rest, k = 50.0, 7.0, 0.25, 4
    extra = {} if model is None else {"device.model": model}
    up = build(cfg_with(retention_tau=tau, t_batch=dt, retention_x_rest=rest, **extra)).updater
    cfg = preset("iris").circuit
    if model is None:
        g0 = np.concatenate([g.ravel() for g in up.conductances()])
        g_rest = cfg.g_min + rest * (cfg.g_max - cfg.g_min)
        for _ in range(k):
            g = np.concatenate([a.ravel() for a in up.step(_zero(up), 1e-7)])
        np.testing.assert_allclose(g, g_rest + (g0 - g_rest) * math.exp(-k * dt / tau), rtol=1e-12)
    else:
        x0 = up.array.x.copy()
        lo, hi = up.array.model.bounds
        for _ in range(k):
            up.step(_zero(up), 1e-7)
        x_rest = lo + rest * (hi - lo)
        np.testing.assert_allclose(up.array.x, x_rest + (x0 - x_rest) * math.exp(-k * dt / tau), rtol=1e-12)


@pytest.mark.parametrize("model", [None, "linear_ion_drift", "vteam"])
def test_power_law_drift_since_programming(model, rng):
    nu, t0, dt, k = 0.06, 2.0, 3.0, 5
    extra = {} if model is None else {"device.model": model}
    up = build(cfg_with(drift_nu=nu, drift_t0=t0, t_batch=dt, **extra)).updater
    g0 = np.concatenate([g.ravel() for g in up.conductances()])
    for _ in range(k):
        g = np.concatenate([a.ravel() for a in up.step(_zero(up), 1e-7)])
    floor = cfg_with().circuit.g_min
    want = np.maximum(g0 * ((t0 + k * dt) / t0) ** -nu, floor * (1 - 1e-9))
    np.testing.assert_allclose(g, want, rtol=1e-8)
    assert np.all(up.age == t0 + k * dt)
    # a device written in an update restarts at t0
    grads = _zero(up)
    grads[0][0, 0] = 1e3
    g_before = up.conductances()[0][0, 0]
    up.step(grads, 1e-7)
    assert up.age[0] == t0 + dt and up.age[1] == t0 + (k + 1) * dt
    assert up.conductances()[0][0, 0] != g_before


def test_power_law_drift_of_residual_learnings_p_devices():
    """Residual learning's P devices drift too, each on its own clock since its last write."""
    nu, t0, dt, k = 0.05, 1.0, 2.0, 4
    up = build(cfg_with(drift_nu=nu, drift_t0=t0, t_batch=dt, **{"device.model": "soft_bounds_power",
                                                                 "device.preset": "asymmetric",
                                                                 "algorithm.name": "residual"})).updater
    res, m = up.inner.residual, up.array.model
    g0 = m.conductance(res.x_p)
    for _ in range(k):
        up.step(_zero(up), 1e-7)
    floor = m.conductance(np.full(g0.size, m.bounds[0]))
    np.testing.assert_allclose(m.conductance(res.x_p), np.maximum(g0 * ((t0 + k * dt) / t0) ** -nu, floor),
                               rtol=1e-8)
    assert np.all(up.age_p == t0 + k * dt)
