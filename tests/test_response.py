"""Response-function view, parametric soft-bounds families and the symmetric-point search."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from ebana import devices
from ebana.cli import cli
from ebana.devices import response, soft_bounds
from ebana.errors import DeviceError

FAMILIES = ["soft_bounds_linear", "soft_bounds_power", "soft_bounds_exp"]


@pytest.mark.parametrize("beta", [0.0, 0.18, 0.3, -0.3])
def test_linear_soft_bounds_symmetric_point_is_aihwkit(beta):
    """aihwkit SoftBoundsDevice with up_down u and bounds ±b: the up step is (1 + min(u, 0))·dw_min
    and the down step (1 - max(u, 0))·dw_min, so w⋄ = b·u/(2 - |u|) (0.18/1.7 for u = 0.3,
    b = 0.6; issue 17). Exact for one finite pulse: x⋄ = A/(A + B)."""
    m = devices.create("soft_bounds_linear", up_down=beta)
    assert soft_bounds.symmetric_point_linear(0.3, 0.6) == pytest.approx(0.18 / 1.7, rel=1e-15)
    w_ai = soft_bounds.symmetric_point_linear(beta)
    # infinitesimal steps: k₊(1 - w) = k₋(1 + w)
    up = float(m._drift(np.float64(1.0)))
    dn = -float(m._drift(np.float64(-1.0)))
    assert (up - dn) / (up + dn) == pytest.approx(w_ai, rel=1e-12, abs=1e-15)
    assert max(up, dn) == pytest.approx(m.params.k * 1.0, rel=1e-15)  # the faster step is k
    c = response.response_curve(m)
    # one pulse: Δx₊ = (1 - x)(1 - e^{-a t}), Δx₋ = x(1 - e^{-b t}) => x⋄ = A/(A + B)
    d = m.demo
    a = 1 - np.exp(-up * 2 * d.t_pulse)
    b = 1 - np.exp(-dn * 2 * d.t_pulse)
    assert c.x_sym == pytest.approx(a / (a + b), abs=1e-9)
    assert c.w_sym == pytest.approx(w_ai, abs=0.01)
    small = response.response_curve(m, t_pulse=d.t_pulse / 100)  # small steps: aihwkit's limit
    assert small.w_sym == pytest.approx(w_ai, abs=1e-3)
    i = np.argmin(np.abs(c.w - c.w_sym))
    assert abs(c.G[i]) < 0.02 and c.F[i] == pytest.approx(1.0, abs=0.03)
    # G/F is the slope of the penalty; for the linear family G/F = (w - w⋄)/(1 - w w⋄)-like: increasing
    r = c.ratio[5:-5]
    assert np.all(np.diff(r) > 0)


class _OldRateBias:
    """The soft-bounds drive before issue 17: SET speed k(1 + up_down), RESET k(1 - up_down)."""

    def _drift(self, vn):
        p = self.params
        up = p.k * (1 + p.up_down) * np.maximum(vn / p.v_on - 1, 0.0) ** p.alpha
        dn = p.k * (1 - p.up_down) * np.maximum(vn / p.v_off - 1, 0.0) ** p.alpha
        return np.where(vn > p.v_on, up, np.where(vn < p.v_off, -dn, 0.0))


@pytest.mark.parametrize("name", FAMILIES)
def test_asymmetric_preset_is_the_old_device(name):
    """The converted preset (k = 1.18e4, up_down = 0.36/1.18) pulses bit-identically to the old
    k = 1e4, up_down = 0.18 in k(1 ± u) terms, so committed results stay valid."""
    cls = devices.get(name)
    old = type("Old", (_OldRateBias, cls), {})(k=1e4, up_down=0.18)
    new = devices.create(name, preset="asymmetric")
    assert new.params.k == 1e4 * 1.18 and new.params.up_down == pytest.approx(0.36 / 1.18, rel=1e-15)
    assert soft_bounds.from_rate_bias(1e4, 0.18) == {"k": new.params.k, "up_down": new.params.up_down}
    x = np.array([0.0, 0.02, 0.3, 0.59, 0.9, 0.999, 1.0])
    for v, t in ((1.0, 2e-6), (-1.0, 2e-6), (0.7, 1e-5), (-0.8, 3e-6), (0.3, 1e-3)):
        a, b = old.apply_pulse(x, v, t), new.apply_pulse(x, v, t)
        assert np.array_equal(a.x, b.x) and np.array_equal(a.energy, b.energy), (v, t)
    # general conversion: equal to rounding
    for beta in (-0.6, -0.05, 0.4):
        o = type("Old", (_OldRateBias, cls), {})(k=3e3, up_down=beta)
        n = devices.create(name, **soft_bounds.from_rate_bias(3e3, beta))
        np.testing.assert_allclose(n.apply_pulse(x, 1.0, 5e-6).x, o.apply_pulse(x, 1.0, 5e-6).x,
                                   rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(n.apply_pulse(x, -1.0, 5e-6).x, o.apply_pulse(x, -1.0, 5e-6).x,
                                   rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", FAMILIES)
def test_families_saturate_and_are_symmetric_without_bias(name):
    m = devices.create(name)
    c = response.response_curve(m)
    assert c.x_sym == pytest.approx(0.5, abs=1e-6)
    assert c.dg_up[-1] < 1e-3 * c.dg_min and c.dg_down[0] < 1e-3 * c.dg_min  # q₊(τ_max) = q₋(τ_min) = 0
    assert np.all(c.dg_up >= 0) and np.all(c.dg_down >= 0)


@pytest.mark.parametrize("name", ["soft_bounds_linear", "soft_bounds_power", "soft_bounds_exp",
                                  "yakopcic"])
@pytest.mark.parametrize("preset", [None, "asymmetric"])
def test_alternating_pulses_find_symmetric_point_within_one_step(name, preset):
    kw = {"preset": preset} if preset and preset in devices.get(name).presets else {}
    m = devices.create(name, **kw)
    c = response.response_curve(m)
    sp = response.find_symmetric_point(m, np.array([0.05, 0.5, 0.95]))
    assert sp.converged
    assert np.all(np.abs(sp.g - c.g_sym) <= sp.step), (sp.g, c.g_sym, sp.step)


@pytest.mark.parametrize("name", ["soft_bounds_linear", "soft_bounds_power", "soft_bounds_exp"])
def test_noisy_search_averages_to_the_symmetric_point_within_one_step(name):
    """With 10 % cycle-to-cycle noise the state wanders by about a step; the mean midpoint after
    the burn-in still lands within one (noise-free) pulse step of G⋄ on every device."""
    kw = {"preset": "asymmetric"} if "asymmetric" in devices.get(name).presets else {}
    m = devices.create(name, **kw)
    c = response.response_curve(m)
    step = response.find_symmetric_point(m, np.array([0.5])).step.max()
    sp = response.find_symmetric_point(m.replace(c2c=0.1), np.tile([0.05, 0.5, 0.95], 20), max_cycles=1000,
                                       rng=np.random.default_rng(0))
    assert sp.n_pulses == 2000 and sp.converged
    assert np.all(np.abs(sp.g - c.g_sym) <= step), np.max(np.abs(sp.g - c.g_sym)) / step


def test_ideal_device_has_no_symmetric_point():
    c = response.response_curve(devices.create("ideal"))
    assert c.x_sym is None and np.allclose(c.F[10:-10], 1.0)  # hard bounds at the ends


def test_pulse_cost_grid_and_bad_pulses():
    m = devices.create("soft_bounds_linear")
    dg, e = response.pulse_cost(m, 0.5, [0.8, 1.0, 2.0], [2e-8, 2e-7, 2e-6])
    assert dg.shape == e.shape == (3, 3) and np.all(e > 0)
    # alpha = 3: at equal width a higher amplitude costs less energy per siemens moved
    assert np.all(np.diff(e[:, 0] / dg[:, 0]) < 0)
    with pytest.raises(DeviceError, match="v_reset < 0"):
        response.response_curve(m, v_reset=0.5)
    with pytest.raises(DeviceError, match="t_pulse"):
        response.response_curve(m, t_pulse=-1.0)


def test_with_range_keeps_closed_form_energy():
    m = devices.create("soft_bounds_power").with_range(1e5, 1e7)
    assert m.r_on == pytest.approx(1e5) and m.params.range_r_on is None
    r = m.apply_pulse(np.array([0.3]), 1.0, 1e-6)
    g0, g1 = m.conductance(np.array([0.3])), m.conductance(r.x)
    assert g0 * 1e-6 <= r.energy <= g1 * 1e-6 * (1 + 1e-9)


def test_cli_response(tmp_path):
    res = CliRunner().invoke(cli, ["devices", "response", "soft_bounds_linear", "--preset", "asymmetric",
                                   "--points", "51", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "w = +0.17" in res.output
    data = np.loadtxt(tmp_path / "soft_bounds_linear_response.csv", delimiter=",", skiprows=1)
    assert data.shape == (51, 13) and (tmp_path / "soft_bounds_linear_response.png").exists()
    bad = CliRunner().invoke(cli, ["devices", "response", "soft_bounds_linear", "--width", "0",
                                   "--out", str(tmp_path)])
    assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1
