"""Response-function view, parametric soft-bounds families and the symmetric-point search."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from ebana import devices
from ebana.cli import cli
from ebana.devices import response
from ebana.errors import DeviceError

FAMILIES = ["soft_bounds_linear", "soft_bounds_power", "soft_bounds_exp"]


@pytest.mark.parametrize("beta", [0.0, 0.18, -0.3])
def test_linear_soft_bounds_symmetric_point_is_up_down(beta):
    """aihwkit SoftBoundsDevice: w⋄ = β·b (b = 1); exact for one finite pulse too."""
    m = devices.create("soft_bounds_linear", up_down=beta)
    c = response.response_curve(m)
    # one pulse: Δx₊ = (1 - x)(1 - e^{-a t}), Δx₋ = x(1 - e^{-b t}) => x⋄ = A/(A + B)
    d = m.demo
    a = 1 - np.exp(-m.params.k * (1 + beta) * 2 * d.t_pulse)
    b = 1 - np.exp(-m.params.k * (1 - beta) * 2 * d.t_pulse)
    assert c.x_sym == pytest.approx(a / (a + b), abs=1e-9)
    assert c.w_sym == pytest.approx(beta, abs=0.02)
    i = np.argmin(np.abs(c.w - c.w_sym))
    assert abs(c.G[i]) < 0.02 and c.F[i] == pytest.approx(1.0, abs=0.02)
    # G/F is the slope of the penalty; for the linear family G/F = (w - w⋄)/(1 - w w⋄)-like: increasing
    r = c.ratio[5:-5]
    assert np.all(np.diff(r) > 0)


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
