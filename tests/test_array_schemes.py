"""Programming through a passive array (issue 15 items 5 and 7): ebana.updates.array_schemes.

Closed-form oracles: half-selected linear-ion-drift devices (no window) drift exactly as the HP
charge relation at the partial voltage for the pulse time; VTEAM below threshold does not move;
write times are rows × t, columns × t, BL·t_slot per quadrant. The selector default reproduces
the fingerprints of the code before array schemes existed (bit for bit), and IRIS trains through
the CLI with every scheme.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import numpy as np
import pytest
from click.testing import CliRunner

from ebana import devices
from ebana.cli import cli
from ebana.config import ARRAY_SCHEMES, AlgorithmConfig, DeviceConfig, apply_overrides, preset
from ebana.devices.base import Demo, DeviceParams, SeparableModel
from ebana.errors import ConfigError
from ebana.training import METRIC_FIELDS, Trainer
from ebana.updates import device_update
from ebana.updates.algorithms import create_algorithm
from tests import golden
from ebana.updates.array_schemes import HALF_SELECT, PassiveArray, check_voltage_dependence, protected, row_phases


def hp_none():
    """HP linear ion drift without a window: Φ(x) = R_OFF·x + (R_ON - R_OFF)·x²/2, dΦ/dt = k·V."""
    return devices.create("linear_ion_drift", window="none")


def hp_exact(x0, v, t):
    """Independent oracle: solve (R_ON - R_OFF)/2·x² + R_OFF·x = Φ(x0) + k·v·t for x."""
    m = hp_none().params
    a, b = m.r_off, m.r_on - m.r_off
    y = a * x0 + 0.5 * b * x0**2 + m.k * v * t
    return (-a + np.sqrt(a * a + 2 * b * y)) / b


def one_crossbar(model, scheme, shape, **kw):
    return PassiveArray(scheme, [shape], model, v_set=1.0, v_reset=-1.0, rng=np.random.default_rng(0),
                        energy=False, **kw)


# ---------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("column", [False, True])
def test_v2_half_selected_hp_devices_drift_exactly_at_half_voltage(column):
    """One cell (1, 2) of a 3x4 HP array gets +1 V for t; V/2: its row and column see 0.5 V for t."""
    shape, t = (3, 4), 1e-3
    x0 = np.random.default_rng(3).uniform(0.2, 0.8, shape)
    v, w = np.zeros(shape), np.zeros(shape)
    v[1, 2], w[1, 2] = 1.0, t
    arr = one_crossbar(hp_none(), "column_v2" if column else "row_v2", shape)
    x1 = arr.write(x0.ravel(), v.ravel(), w.ravel()).x.reshape(shape)
    half = np.zeros(shape, dtype=bool)
    half[1, :] = half[:, 2] = True
    half[1, 2] = False
    np.testing.assert_allclose(x1[1, 2], hp_exact(x0[1, 2], 1.0, t), rtol=1e-12)
    np.testing.assert_allclose(x1[half], hp_exact(x0[half], 0.5, t), rtol=1e-12)
    assert np.all(x1[half] > x0[half])                   # continuous drift: disturbed
    rest = ~half
    rest[1, 2] = False
    assert np.array_equal(x1[rest], x0[rest])            # unselected lines at 0 V
    stats = arr.take_stats()
    assert stats.t_write == pytest.approx(t)
    assert stats.disturb == pytest.approx(np.abs(x1 - x0)[half].sum(), rel=1e-12)


def test_v3_every_other_device_sees_a_third():
    """V/3: the selected row and column at +V/3, every other device at -V/3, for the pulse time."""
    shape, t = (3, 4), 2e-3
    x0 = np.random.default_rng(4).uniform(0.2, 0.8, shape)
    v, w = np.zeros(shape), np.zeros(shape)
    v[0, 1], w[0, 1] = 1.0, t
    x1 = one_crossbar(hp_none(), "row_v3", shape).write(x0.ravel(), v.ravel(), w.ravel()).x.reshape(shape)
    on_lines = np.zeros(shape, dtype=bool)
    on_lines[0, :] = on_lines[:, 1] = True
    on_lines[0, 1] = False
    others = ~on_lines
    others[0, 1] = False
    np.testing.assert_allclose(x1[0, 1], hp_exact(x0[0, 1], 1.0, t), rtol=1e-12)
    np.testing.assert_allclose(x1[on_lines], hp_exact(x0[on_lines], 1 / 3, t), rtol=1e-12)
    np.testing.assert_allclose(x1[others], hp_exact(x0[others], -1 / 3, t), rtol=1e-12)


def test_pwm_row_phase_gives_each_selected_cell_its_width_then_the_half_voltage():
    """Two cells of one row with widths t and 3t: the shorter one sees V for t, then V/2 for 2t;
    other rows see V/2 only while each column pulses."""
    shape, t = (2, 3), 1e-3
    x0 = np.full(shape, 0.4)
    v, w = np.zeros(shape), np.zeros(shape)
    v[0, 0], w[0, 0] = 1.0, t
    v[0, 1], w[0, 1] = 1.0, 3 * t
    arr = one_crossbar(hp_none(), "row_v2", shape)
    x1 = arr.write(x0.ravel(), v.ravel(), w.ravel()).x.reshape(shape)
    np.testing.assert_allclose(x1[0, 0], hp_exact(hp_exact(0.4, 1.0, t), 0.5, 2 * t), rtol=1e-12)
    np.testing.assert_allclose(x1[0, 1], hp_exact(0.4, 1.0, 3 * t), rtol=1e-12)
    np.testing.assert_allclose(x1[0, 2], hp_exact(0.4, 0.5, 3 * t), rtol=1e-12)
    np.testing.assert_allclose(x1[1, 0], hp_exact(0.4, 0.5, t), rtol=1e-12)
    np.testing.assert_allclose(x1[1, 1], hp_exact(0.4, 0.5, 3 * t), rtol=1e-12)
    assert x1[1, 2] == 0.4
    assert arr.take_stats().t_write == pytest.approx(3 * t)


def test_vteam_below_threshold_is_protected_by_v2_but_not_by_v3():
    """VTEAM (v_th_set = +0.2 V, v_th_reset = -0.02 V): V/2 at +0.22 / -0.035 V keeps every
    half-selected device exactly still; V/3 puts -0.073 V (beyond -0.02 V) on the unselected
    devices during a SET phase, and they move."""
    m = devices.create("vteam")
    shape = (4, 5)
    rng = np.random.default_rng(5)
    x0 = rng.uniform(0.2, 0.8, shape)
    v = np.where(rng.random(shape) < 0.5, 0.22, -0.035) * (rng.random(shape) < 0.4)
    w = np.where(v != 0, 1e-9, 0.0)
    sel = v != 0
    for scheme in ("row_v2", "column_v2", "outer_product"):
        arr = PassiveArray(scheme, [shape], m, v_set=0.22, v_reset=-0.035, rng=np.random.default_rng(0),
                           energy=False)
        x1 = arr.write(x0.ravel(), v.ravel(), w.ravel()).x.reshape(shape)
        assert arr.take_stats().disturb == 0.0, scheme
        if scheme != "outer_product":
            assert np.array_equal(x1[~sel], x0[~sel]), scheme
            ref = m.apply_pulse(x0, v, w, energy=False).x        # the selected cells: exactly their pulse
            assert np.array_equal(x1[sel], ref[sel]), scheme
    assert protected(m, "row_v2", 0.22, -0.035) and not protected(m, "row_v2", 0.22, -0.3)
    assert not protected(m, "row_v3", 0.22, -0.035)
    arr = PassiveArray("row_v3", [shape], m, v_set=0.22, v_reset=-0.035, rng=np.random.default_rng(0), energy=False)
    x1 = arr.write(x0.ravel(), v.ravel(), w.ravel()).x.reshape(shape)
    assert arr.take_stats().disturb > 0 and np.any(x1[~sel] < x0[~sel])



def _both_ways(scheme, model, shapes, x0, v, w, *, index=None, v_set=0.22, v_reset=-0.035):
    """(one-pass result, step-by-step result, one-pass stats, step stats, one pass used)."""
    out = []
    for one in (True, False):
        arr = PassiveArray(scheme, shapes, model, v_set=v_set, v_reset=v_reset, rng=np.random.default_rng(0),
                           energy=True, index=index)
        arr.one_pass = one
        r = arr.write(x0, v, w)
        out.append((r, arr.take_stats()))
    used = PassiveArray(scheme, shapes, model, v_set=v_set, v_reset=v_reset, rng=np.random.default_rng(0),
                        index=index)
    full_v = v if index is None else np.bincount(index, v, int(sum(np.prod(s) for s in shapes)))
    full_w = w if index is None else np.bincount(index, w, int(sum(np.prod(s) for s in shapes)))
    return out[0], out[1], used._write_dead(x0, full_v, full_w) is not None


@pytest.mark.parametrize("scheme", ["row_v2", "column_v2", "row_v3", "column_v3"])
@pytest.mark.parametrize("case", ["pwm", "pam", "d2d", "masked", "reset_0.3"])
def test_one_pass_write_equals_the_step_by_step_write(scheme, case):
    """VTEAM through two crossbars: the one-pass write (dead partial voltages: V/2 at +0.22 / -0.035 V)
    gives the step-by-step write's states, energy (every segment of every device), write time and
    disturb; writes that do not qualify (V/3 there, V/2 at -0.3 V) fall back and agree trivially."""
    rng = np.random.default_rng(11)
    m = devices.create("vteam")
    shapes = [(7, 5), (5, 3)]
    n = sum(int(np.prod(s)) for s in shapes)
    v_reset = -0.3 if case == "reset_0.3" else -0.035
    amp = np.where(rng.random(n) < 0.5, 0.22, v_reset)
    if case == "pam":             # three amplitude levels per polarity: a few distinct partial voltages
        amp = amp * rng.choice([0.8, 0.9, 1.0], n)
    v = amp * (rng.random(n) < 0.5)
    w = np.where(v != 0, rng.uniform(1e-10, 2e-9, n), 0.0)
    index = None
    if case == "d2d":
        m = m.with_variability(n, np.random.default_rng(2), 0.01)   # thresholds stay beyond V/2
    if case == "masked":          # devices on 80 % of the cells
        index = np.flatnonzero(rng.random(n) < 0.8)
        v, w = v[index], w[index]
    x0 = rng.uniform(0.05, 0.95, v.size)
    (fast, fs), (slow, ss), used = _both_ways(scheme, m, shapes, x0, v, w, index=index, v_reset=v_reset)
    assert used == (scheme.endswith("v2") and case != "reset_0.3"), (scheme, case)
    assert np.allclose(fast.x, slow.x, rtol=0, atol=1e-15)
    assert np.all(slow.energy > 0) and np.allclose(fast.energy, slow.energy, rtol=1e-9, atol=0)
    assert fs.t_write == pytest.approx(ss.t_write, rel=1e-12) and fs.disturb == ss.disturb


def test_yakopcic_is_protected_by_v2_and_v3_at_its_demo_amplitudes():
    m = devices.create("yakopcic")
    for scheme in HALF_SELECT:
        assert protected(m, scheme, m.demo.v_set, m.demo.v_reset), scheme
    assert not protected(devices.create("linear_ion_drift"), "row_v2", 1.0, -1.0)


# ---------------------------------------------------------------------- write time
@pytest.mark.parametrize("scheme", ["row_v2", "row_v3"])
def test_row_by_row_write_time_is_rows_times_the_pulse(scheme):
    n_r, n_c, t = 7, 5, 3e-8
    v = np.full((n_r, n_c), 0.22)
    steps, t_tot = row_phases(v, np.full((n_r, n_c), t), scheme)
    assert t_tot == pytest.approx(n_r * t)
    v[:, 0] = -0.3                                   # a RESET phase in every row as well
    w = np.full((n_r, n_c), t)
    w[:, 0] = 2 * t
    assert row_phases(v, w, scheme)[1] == pytest.approx(n_r * 3 * t)


def test_write_times_of_every_scheme_on_a_network():
    """Crossbars in parallel: the update's write time is the largest crossbar's."""
    m = devices.create("vteam")
    shapes = [(6, 4), (5, 3)]
    n = sum(a * b for a, b in shapes)
    t = 1e-9
    v, w = np.full(n, 0.22), np.full(n, t)
    x0 = np.full(n, 0.5)
    expect = {"row_v2": 6 * t, "row_v3": 6 * t, "column_v2": 4 * t, "column_v3": 4 * t}
    for scheme, t_exp in expect.items():
        arr = PassiveArray(scheme, shapes, m, v_set=0.22, v_reset=-0.3, rng=np.random.default_rng(0), energy=False)
        arr.write(x0, v, w)
        assert arr.take_stats().t_write == pytest.approx(t_exp), scheme
    # outer product of a rank-1 (all equal) request: one quadrant of BL slots of t/BL
    arr = PassiveArray("outer_product", shapes, m, v_set=0.22, v_reset=-0.3, rng=np.random.default_rng(0),
                       energy=False, bl=31)
    arr.write(x0, v, w)
    assert arr.take_stats().t_write == pytest.approx(t, rel=1e-12)


def test_outer_product_writes_a_rank_one_request_in_expectation():
    """Ideal device with a threshold of 0.6 V at 1 V pulses: half-selected devices (0.5 V) stay,
    coincidences move x by k·V·t_slot each; the largest cell is hit in every slot (exact), the mean
    over repeats approaches τ_ij·k·V."""
    m = devices.create("ideal", v_th=0.6)
    u, w = np.array([1.0, 0.5, 0.25]), np.array([1.0, 0.8, 0.3, 0.1])
    tau = 1e-6 * np.outer(u, w)                      # s of +1 V
    x0 = np.full(tau.shape, 0.3)
    arr = PassiveArray("outer_product", [tau.shape], m, v_set=1.0, v_reset=-1.0, rng=np.random.default_rng(7),
                       energy=False, bl=64)
    runs = np.array([arr.write(x0.ravel(), np.ones(tau.size), tau.ravel()).x.reshape(tau.shape) - x0
                     for _ in range(400)])
    target = m.params.k * 1.0 * tau
    np.testing.assert_allclose(runs[:, 0, 0], target[0, 0], rtol=1e-9)
    np.testing.assert_allclose(runs.mean(0), target, rtol=0.06)
    assert arr.take_stats().disturb == 0.0


def test_outer_product_signs_reach_set_and_reset_quadrants():
    m = devices.create("ideal", v_th=0.6)
    tau = 1e-6 * np.outer([1.0, -1.0], [1.0, -1.0])   # + on the diagonal, - off it
    v = np.sign(tau)
    arr = PassiveArray("outer_product", [tau.shape], m, v_set=1.0, v_reset=-1.0, rng=np.random.default_rng(0),
                       energy=False)
    dx = arr.write(np.full(4, 0.5), v.ravel(), np.abs(tau).ravel()).x.reshape(2, 2) - 0.5
    np.testing.assert_allclose(dx, m.params.k * tau, rtol=1e-9)
    assert arr.take_stats().t_write == pytest.approx(4 * 1e-6)   # four quadrants of BL·t_slot


# ---------------------------------------------------------------------- voltage dependence (item 7)
@dataclass(frozen=True, slots=True, kw_only=True)
class _FlatParams(DeviceParams):
    model = "flat"


class _Flat(SeparableModel):
    """A device whose drift ignores the amplitude: dx/dt = 1e4·sign(V) (a pulse counter)."""

    name = "flat"
    Params = _FlatParams
    demo = Demo(amplitude=1.0, frequency=1e3, v_set=1.0, v_reset=-1.0, t_pulse=1e-6)

    def _current(self, vn, x):
        return vn * (1e-5 + 9e-4 * x)

    def _drift(self, vn):
        return 1e4 * np.sign(vn)

    def _f(self, x, up):
        return np.ones_like(x)

    def _phi(self, x, up):
        return x + 0.0 * up

    def _phi_inv(self, y, up):
        return y


@pytest.mark.parametrize("scheme", HALF_SELECT)
def test_a_device_without_voltage_dependence_is_refused(scheme):
    with pytest.raises(ConfigError, match=rf"device.array_scheme = '{scheme}'.*device.model = 'flat'"):
        check_voltage_dependence(_Flat(), scheme, 1.0, -1.0, "flat")


@pytest.mark.parametrize("name", devices.names())
def test_every_registered_model_depends_on_the_voltage(name):
    m = devices.create(name)
    for scheme in HALF_SELECT:
        check_voltage_dependence(m, scheme, m.demo.v_set, m.demo.v_reset, name)


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown device.array_scheme 'row_v4'.*did you mean"):
        DeviceConfig(model="vteam", array_scheme="row_v4")
    with pytest.raises(ConfigError, match="device.array_scheme = 'row_v2' needs a device model"):
        DeviceConfig(array_scheme="row_v2")
    with pytest.raises(ConfigError, match="outer_product.*device.scheme = 'pam'"):
        DeviceConfig(model="vteam", scheme="pam", array_scheme="outer_product")
    for key in ("array_bl", "array_rank"):
        with pytest.raises(ConfigError, match=f"device.{key}"):
            DeviceConfig(model="vteam", **{key: 0})
    assert DeviceConfig().array_scheme == "selector"


# ---------------------------------------------------------------------- updater and metrics
def _updater(array_scheme, model="linear_ion_drift", **kw):
    shapes = [(4, 3), (3, 2)]
    rng = np.random.default_rng(2)
    g = [rng.uniform(2e-7, 9e-6, s) for s in shapes]
    cfg = DeviceConfig(model=model, array_scheme=array_scheme, energy=False, **kw)
    return device_update(cfg, "sgd", g, 1e-7, 1e-5, lr_ref=1e-7), shapes


def test_disturb_and_cosine_in_the_update_report():
    """Selector: no disturb, ideal-device cosine 1; V/2 on HP: disturb > 0 and cosine < 1."""
    up, shapes = _updater("selector", model="ideal")
    up.step([np.random.default_rng(0).standard_normal(s) for s in shapes], 1e-7)
    assert up.report.disturb == 0.0 and up.report.dg_cos == pytest.approx(1.0, abs=1e-12)
    assert up.report.t_write > 0
    up, shapes = _updater("row_v2")
    up.step([np.random.default_rng(0).standard_normal(s) for s in shapes], 1e-7)
    assert up.report.disturb > 0 and up.report.dg_cos < 1.0 and up.report.t_write > 0
    assert up.describe()["array_scheme"] == "row_v2" and up.describe()["half_select_protected"] is False


def test_pam_with_write_verify_goes_through_the_array():
    """PAM amplitudes up to v_max = 0.6 V: V/3 partial voltages a/3 reach 0.2 V > v_th_set = 0.16 V
    (Yakopcic), so PAM through a V/3 array disturbs where PWM at 0.3 V would not."""
    up, shapes = _updater("row_v3", model="yakopcic", scheme="pam", pam_pulses=3)
    up.step([5 * np.random.default_rng(0).standard_normal(s) for s in shapes], 1e-7)   # amplitudes up to v_max
    assert up.report.t_write > 0 and up.report.n_pulses > 0 and up.report.disturb > 0
    up, shapes = _updater("row_v3", model="yakopcic")
    up.step([5 * np.random.default_rng(0).standard_normal(s) for s in shapes], 1e-7)
    assert up.report.disturb == 0.0


def test_standard_pulse_algorithms_go_through_the_array():
    rng = np.random.default_rng(3)
    shapes = [(5, 4), (4, 3)]
    g = [rng.uniform(2e-7, 9e-6, s) for s in shapes]
    for scheme in ("row_v2", "outer_product"):
        up = create_algorithm(DeviceConfig(model="soft_bounds_power", preset="asymmetric", array_scheme=scheme,
                                           energy=False),
                              AlgorithmConfig(name="analog_sgd"), "adam", g, 1e-7, 1e-5, lr_ref=1e-7,
                              rng=np.random.default_rng(1))
        up.step([rng.standard_normal(s) for s in shapes], 2e-7)
        assert up.report.t_write > 0 and np.isfinite(up.report.dg_cos), scheme


# ---------------------------------------------------------------------- the selector default, bit for bit
GOLDEN = [   # legacy hashes (tests/golden.py) of the code before device.array_scheme existed (commit 21aaa45); the linear ion
             # drift and Yakopcic rows after the faster state inversion of the energyfast merge, which
             # moved their conductances by <= 5e-14 relative (checked against 21aaa45's arrays); the
             # Yakopcic row again after E1 by power series and the incremental inversion (ebana.devices.special,
             # Yakopcic._dphi): <= 1.5e-14 relative
             # against the scipy.special.exp1 arrays (branch fastdev)
    (dict(model="vteam"), dict(), "1a58c8204189a987"),
    (dict(model="linear_ion_drift", scheme="pam", pam_pulses=3), dict(), "4ebcc9fb045dd67e"),
    (dict(model="yakopcic", c2c=0.1, d2d=0.1), dict(), "1d380c3d9a638b63"),
    (dict(model="soft_bounds_power", preset="asymmetric", c2c=0.05), dict(name="analog_sgd"), "e18213774239daed"),
    (dict(model="soft_bounds_linear", preset="asymmetric"), dict(name="residual_v2"), "eff52408587618a6"),
]


@pytest.mark.parametrize("dev,alg,expect", GOLDEN, ids=[f"{d['model']}-{a.get('name', 'device')}" for d, a, _ in GOLDEN])
@pytest.mark.parametrize("explicit", [False, True])
def test_selector_default_is_unchanged(dev, alg, expect, explicit):
    """The selector scheme, default or explicit, gives the conductances of the code before array
    schemes existed (stored arrays, rounding-level tolerance: tests/golden.py)."""
    rng = np.random.default_rng(3)
    shapes = [(5, 4), (4, 3)]
    g = [rng.uniform(2e-7, 9e-6, s) for s in shapes]
    cfg = DeviceConfig(**dev, **({"array_scheme": "selector"} if explicit else {}))
    up = create_algorithm(cfg, AlgorithmConfig(**alg), "adam", g, 1e-7, 1e-5, lr_ref=1e-7,
                          rng=np.random.default_rng(1))
    for _ in range(5):
        out = up.step([rng.standard_normal(s) for s in shapes], 2e-7)
    name = f"selector-{dev['model']}-{alg.get('name', 'device')}"
    golden.check(name, {f"g{k}": g for k, g in enumerate(out)}, legacy=expect, current=golden.fingerprint(out))


def test_selector_training_is_unchanged():
    cfg = apply_overrides(preset("iris"), {"epochs": 2, "device.model": "vteam", "device.r_ratio": 100})
    with tempfile.TemporaryDirectory() as d:
        t = Trainer(cfg, d + "/r")
        t.run()
    gs = t.circuit.conductances          # the circuit built from the initial device states (the legacy hash)
    golden.check("selector-training-vteam", {**{f"g{k}": g for k, g in enumerate(gs)},
                                             **{f"trained_g{k}": g for k, g in enumerate(t.backend.model.conductances)},
                                             "test_loss": t.history[-1]["test_loss"]},
                 legacy="86e4b736ff571ee2", current=golden.fingerprint(gs))
    assert t.history[-1]["disturb"] == 0.0 and t.history[-1]["t_write"] > 0


# ---------------------------------------------------------------------- end to end through the CLI
@pytest.mark.parametrize("scheme", ARRAY_SCHEMES)
def test_iris_trains_through_the_cli_with_every_scheme(scheme, tmp_path):
    out = tmp_path / scheme
    res = CliRunner().invoke(cli, ["train", "iris", "--device", "vteam", "--epochs", "2", "--quiet", "--out", str(out),
                                   "--set", "device.r_ratio=100", "--set", "device.energy=false",
                                   "--set", "device.v_reset=-0.035", "--set", f"device.array_scheme={scheme}"])
    assert res.exit_code == 0, res.output
    rows = (out / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert header[:len(METRIC_FIELDS)] == METRIC_FIELDS   # then the energy columns (ebana.energy)
    last = dict(zip(header, rows[-1].split(",")))
    assert float(last["t_write"]) > 0 and float(last["t_update"]) > 0
    if scheme.endswith("v3"):   # -0.22/3 V on unselected devices is beyond v_th_reset = -0.02 V
        assert float(last["disturb"]) > 0
    else:                       # selectors, and V/2 at amplitudes inside VTEAM's dead zone
        assert float(last["disturb"]) == 0.0
    assert -1.0 <= float(last["dg_cos"]) <= 1.0


@pytest.mark.parametrize("scheme", ["row_v3", "outer_product"])
def test_resume_through_a_passive_array_is_bit_identical(scheme, tmp_path):
    """The outer product's pulse trains draw from the device rng (checkpointed); the epoch's
    write-time/disturb/cosine sums are checkpointed with the tally."""
    from tests.conftest import interrupted_and_resumed
    cfg = apply_overrides(preset("iris"), {"epochs": 2, "device.model": "vteam", "device.r_ratio": 100,
                                           "device.energy": False, "device.array_scheme": scheme})
    ref, resumed = interrupted_and_resumed(cfg, tmp_path, (0, 4))
    assert np.array_equal(ref.updater.x, resumed.updater.x)
    for k in ("test_loss", "t_write", "disturb", "dg_cos"):
        assert [r[k] for r in ref.history] == [r[k] for r in resumed.history], k
