"""SeparableModel.apply_holds: a sequence of holds at once equals a pulse per hold (read disturb's shortcut)."""

from __future__ import annotations

import numpy as np
import pytest

from ebana import devices

N = 400


def _reads(model, rng, n=24, flips=True):
    """n voltage vectors (V) up to 1.5x the demo's SET/RESET amplitudes: both directions above threshold
    (``flips``) or one sign per device."""
    d = model.demo
    if flips:
        return [rng.uniform(1.5 * d.v_reset, 1.5 * d.v_set, N) for _ in range(n)]
    sign = rng.random(N) < 0.5
    return [np.where(sign, rng.uniform(0, 1.5 * d.v_set, N), rng.uniform(1.5 * d.v_reset, 0, N)) for _ in range(n)]


def _pulsed(model, x, reads, t):
    for v in reads:
        x = model.apply_pulse(x, v, t, energy=False).x
    return x


def _spread(model, rng):
    """The same model with per-device parameters (lognormal sigma 0.1 on its d2d fields)."""
    p = model.params
    kw = {f: getattr(p, f) * rng.lognormal(0.0, 0.1, N) for f in type(model).d2d_fields}
    return type(model)(p, **kw) if kw else model


@pytest.mark.parametrize("name", devices.names())
@pytest.mark.parametrize("flips", [True, False])
def test_holds_at_once_equal_a_pulse_per_hold(name, flips):
    rng = np.random.default_rng(11)
    model = _spread(devices.create(name), rng)
    lo, hi = model.bounds
    x0 = rng.uniform(lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo), N)
    t = model.demo.t_pulse / 8
    reads = _reads(model, rng, flips=flips)
    got = model.apply_holds(x0, iter(reads), t)
    if got is None:   # no closed form: read disturb pulses each hold
        assert not getattr(model, "separable", False)
        return
    want = _pulsed(model, x0, reads, t)
    assert np.max(np.abs(want - x0)) > 1e-3, "the holds should move the devices"
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_holds_reach_a_hard_bound_like_pulses():
    """Ideal device (hard bounds at 0 and 1): pushes past a bound and back are order-sensitive; apply_holds
    advances a device early wherever its direction flips, so it ends where the pulses end."""
    m = devices.create("ideal")
    x0 = np.array([0.95, 0.05, 0.5])
    t = 1e-5   # k V t = 0.1 per 1 V hold
    reads = [np.array([1.0, -1.0, 1.0])] * 3 + [np.array([-1.0, 1.0, -1.0])]
    got = m.apply_holds(x0, iter(reads), t)
    np.testing.assert_allclose(got, [0.9, 0.1, 0.7], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got, _pulsed(m, x0, reads, t), rtol=0, atol=1e-15)
