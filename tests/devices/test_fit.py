"""Fitting device models to measured pulse data: recovery of known parameters, the fitted device,
the model file, and bad input (issue 20)."""

from __future__ import annotations

import csv
import importlib.util
import tomllib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ebana import devices
from ebana.cli import cli
from ebana.devices import fit, spice
from ebana.devices.fitted import fitted_class
from ebana.devices.measurements import read_iv, read_measurements
from ebana.errors import DeviceError, MeasurementError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "device_models" / "measured"
_spec = importlib.util.spec_from_file_location("make_example_fefet", ROOT / "scripts" / "make_example_fefet.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

# stated tolerances of the recovery (README "Devices from measurements")
TOL_RESPONSE = 0.20   # rms error of a fitted ΔG(G) over the data range / the largest true step
TOL_SYM = 0.05        # |G⋄ fitted - G⋄ true| / measured conductance range
TOL_C2C = 0.03        # |c2c fitted - C2C| (C2C = 0.15)
TOL_C = 0.08          # relative error of the Schottky prefactor c
TOL_BETA = 0.02       # relative error of the Schottky slope β


def _write(path: Path, table: list[list]) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(table)
    return path


def _true_step(c: dict, g: np.ndarray, slowdown: float = gen.RESET_SLOWDOWN) -> np.ndarray:
    """Generating ΔG per pulse (S) at mid-pulse conductance g: r' (1 - p) or -r' p, r' = r/(1 - r/2)."""
    tau = gen.TAU_INF * (1.0 if c["polarity"] > 0 else slowdown) * np.exp(gen.V_A / c["amplitude"])
    r = -np.expm1(-c["width"] / tau)
    rp = r / (1 - r / 2)
    p = (g - gen.G_LO) / (gen.G_HI - gen.G_LO)
    return (rp * (1 - p) if c["polarity"] > 0 else -rp * p) * (gen.G_HI - gen.G_LO)


def _response_errors(model: dict, slowdown: float = gen.RESET_SLOWDOWN) -> tuple[float, float]:
    span = model["g_max"] - model["g_min"]
    worst_poly = worst_table = 0.0
    for c in model["condition"]:
        xs = np.linspace(c["x_lo"], c["x_hi"], 101)
        true = _true_step(c, model["g_min"] + span * xs, slowdown)
        scale = np.max(np.abs(true))
        poly = span * np.polyval(c["poly"], 2 * xs - 1)
        table = span * np.interp(xs, c["table_x"], c["table_q"])
        worst_poly = max(worst_poly, float(np.sqrt(np.mean((poly - true) ** 2)) / scale))
        worst_table = max(worst_table, float(np.sqrt(np.mean((table - true) ** 2)) / scale))
    return worst_poly, worst_table


def _fit_seed(tmp_path: Path, seed: int | None) -> dict:
    if seed is None:
        steps, iv = read_measurements(DATA / "example_fefet.csv"), read_iv(DATA / "example_fefet_iv.csv")
    else:
        rows, iv_rows = gen.generate(np.random.default_rng(seed))
        steps = read_measurements(_write(tmp_path / "m.csv", rows))
        iv = read_iv(_write(tmp_path / "iv.csv", iv_rows))
    return fit.fit_measurements(steps, iv)


def test_committed_example_is_the_generator_output(tmp_path):
    rows, iv = gen.generate(np.random.default_rng(gen.SEED))
    assert _write(tmp_path / "a.csv", rows).read_text() == (DATA / "example_fefet.csv").read_text()
    assert _write(tmp_path / "b.csv", iv).read_text() == (DATA / "example_fefet_iv.csv").read_text()
    assert 300 <= len(rows) <= 600


@pytest.mark.parametrize("seed", [None, 0, 1, 2, 3])
def test_fit_recovers_generating_parameters(tmp_path, seed):
    m = _fit_seed(tmp_path, seed)
    poly, table = _response_errors(m)
    assert poly <= TOL_RESPONSE and table <= TOL_RESPONSE, (poly, table)
    span = m["g_max"] - m["g_min"]
    assert len(m["symmetric"]) == 3
    for s in m["symmetric"]:
        c_set = {"polarity": 1, "width": s["width"], "amplitude": s["v_set"]}
        c_reset = {"polarity": -1, "width": s["width"], "amplitude": -s["v_reset"]}
        g = np.linspace(gen.G_LO, gen.G_HI, 200001)
        g_true = g[np.argmin(np.abs(_true_step(c_set, g) + _true_step(c_reset, g)))]
        assert abs(s["g"] - g_true) <= TOL_SYM * span, (s, g_true)
    assert abs(m["c2c"] - gen.C2C) <= TOL_C2C
    iv = m["iv"]
    assert iv["kind"] == "measured"  # every pulse has i_pulse
    assert abs(iv["c"] / gen.c_schottky() - 1) <= TOL_C and abs(iv["beta"] / gen.BETA - 1) <= TOL_BETA


def test_recovery_check_discriminates(tmp_path):
    """The response metric rejects a wrong generating process (RESET 2x slower instead of 1.44x)."""
    m = _fit_seed(tmp_path, None)
    assert max(_response_errors(m, slowdown=2 * gen.RESET_SLOWDOWN)) > TOL_RESPONSE


def test_schottky_from_i_pulse_when_no_iv_file(tmp_path):
    rows, _ = gen.generate(np.random.default_rng(5))
    m = fit.fit_measurements(read_measurements(_write(tmp_path / "m.csv", rows)))
    assert m["iv"]["fit_points"] == "i_pulse column"
    assert abs(m["iv"]["beta"] / gen.BETA - 1) <= 0.05
    # without any current: Schottky from an I-V file, else ohmic
    bare = [r[:6] for r in rows]
    steps = read_measurements(_write(tmp_path / "bare.csv", bare))
    assert fit.fit_measurements(steps)["iv"]["kind"] == "ohmic"
    m2 = fit.fit_measurements(steps, read_iv(DATA / "example_fefet_iv.csv"))
    assert m2["iv"]["kind"] == "schottky"
    c = m2["condition"][0]
    k = fit.schottky_k(np.float64(c["amplitude"]), m2["iv"]["c"], m2["iv"]["beta"])
    assert c["e_pulse"] == pytest.approx(c["amplitude"] * k * c["g_mean"] * c["width"])


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "fefet.toml"
    r = CliRunner().invoke(cli, ["devices", "fit", str(DATA / "example_fefet.csv"), "--iv",
                                 str(DATA / "example_fefet_iv.csv"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.with_suffix(".png").stat().st_size > 10_000
    return out


def test_fitted_device_follows_the_fit(model_path):
    m = devices.create(f"fitted:{model_path}")
    data = tomllib.loads(model_path.read_text())
    span = data["g_max"] - data["g_min"]
    c = next(c for c in data["condition"] if c["polarity"] == 1 and c["width"] == 2e-6 and c["amplitude"] == 2.0)
    x = np.linspace(c["x_lo"] + 0.05, c["x_hi"] - 0.05, 9)
    x1 = m.apply_pulse(x, 2.0, 2e-6).x
    # one measured pulse: ΔG = the polynomial at mid-pulse (to the ODE's rounding of the step)
    expect = span * np.polyval(c["poly"], 2 * (0.5 * (x + x1)) - 1)
    np.testing.assert_allclose(span * (x1 - x), expect, rtol=2e-3, atol=1e-3 * span * np.max(np.abs(expect)))
    # split-pulse invariance (the algorithms send n pulses as one of width n·t_pulse)
    one = m.apply_pulse(x, -2.0, 10 * 2e-6)
    xs, e = x.copy(), 0.0
    for _ in range(10):
        r = m.apply_pulse(xs, -2.0, 2e-6)
        xs, e = r.x, e + r.energy
    np.testing.assert_allclose(one.x, xs, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(one.energy, e, rtol=1e-6)
    assert np.all(one.energy > 0)


def test_fitted_device_width_and_amplitude_interpolation(model_path):
    name = f"fitted:{model_path}"
    cls = devices.get(name)
    assert sorted(cls.presets) == ["200us", "20ns", "2us"]
    short, long_ = devices.create(name, preset="20ns"), devices.create(name, preset="200us")
    assert (short.demo.t_pulse, short.demo.v_set) == (2e-8, 3.0)
    mid = devices.create(name, t_pulse=float(np.sqrt(2e-8 * 2e-6)))  # halfway in ln(width)
    x = np.array([0.4])
    a = 3.0
    steps = [m.apply_pulse(x, a, m.demo.t_pulse).x - x for m in (short, devices.create(name, preset="2us"))]
    d_mid = mid.apply_pulse(x, a, mid.demo.t_pulse).x - x
    assert min(steps) - 1e-12 <= d_mid <= max(steps) + 1e-12
    with pytest.raises(DeviceError, match="outside the measured"):
        devices.create(name, t_pulse=1e-3)
    # amplitude: below the extrapolated threshold nothing moves; 2.1 V lies between 2.0 and 2.2 V
    two = devices.create(name, preset="2us")
    assert 0 < two.v_th_set < 2.0
    assert two.apply_pulse(x, 0.9 * two.v_th_set, 2e-6).x == x
    d = [float(two.apply_pulse(x, v, 2e-6).x[0] - x[0]) for v in (2.0, 2.1, 2.2)]
    assert d[0] < d[1] < d[2]
    assert long_.apply_pulse(x, 1.5, 2e-4).energy > short.apply_pulse(x, 3.0, 2e-8).energy > 0


@pytest.mark.parametrize("preset", ["20ns", "2us", "200us"])
def test_response_curve_finds_the_fitted_symmetric_point(model_path, preset):
    """The device's own response curve (one pulse of each polarity) crosses where the fit says."""
    from ebana.devices.response import response_curve

    m = devices.create(f"fitted:{model_path}", preset=preset)
    data = tomllib.loads(model_path.read_text())
    s = next(s for s in data["symmetric"] if s["width"] == m.demo.t_pulse)
    curve = response_curve(m, s["v_set"], s["v_reset"], m.demo.t_pulse)
    assert abs(curve.g_sym - s["g"]) <= 0.01 * (data["g_max"] - data["g_min"])


def test_fitted_subcircuit_is_read_conductance_only(model_path):
    m = devices.create(f"fitted:{model_path}")
    text = spice.render_subckt(m)
    assert "Br r 0 V = 0" in text and "read conductance only" in text
    g = m.conductance(np.array([0.0, 1.0]))
    data = tomllib.loads(model_path.read_text())
    np.testing.assert_allclose(g, [data["g_min"], data["g_max"]], rtol=1e-12)


def test_model_file_escapes_text(tmp_path):
    src = 'we"ird\\path\nwith\ttabs \x7f and ünï'
    text = fit.dump_model_toml({"format": fit.FORMAT, "source": src, "t": {"note": src}})
    assert tomllib.loads(text)["source"] == src and tomllib.loads(text)["t"]["note"] == src
    with pytest.raises(MeasurementError, match="bare TOML key"):
        fit.dump_model_toml({"a b": 1})


def test_end_to_end_fit_then_train_iris(model_path, tmp_path):
    """CLI: the fitted model trains IRIS with symmetry-point shifting (2 epochs) and PAM (1 epoch)."""
    run = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", "iris", "--device", f"fitted:{model_path}", "--algorithm", "analog_sgd",
                                 "--reference", "symmetric", "--set", "device.preset=20ns", "--epochs", "2",
                                 "--quiet", "--out", str(run)])
    assert r.exit_code == 0, r.output
    assert "test accuracy" in r.output and "write energy" in r.output
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert len(rows) >= 2 and float(rows[-1]["pulses"]) > 0 and float(rows[-1]["e_write"]) > 0
    r = CliRunner().invoke(cli, ["train", "iris", "--device", f"fitted:{model_path}", "--scheme", "pam",
                                 "--epochs", "1", "--quiet", "--out", str(tmp_path / "pam")])
    assert r.exit_code == 0, r.output


# ------------------------------------------------------------------ bad input
GOOD = [["pulse", "g", "polarity", "width", "amplitude"], [0, 1e-6, "none", 1e-6, 2.0]] + \
    [[i, 1e-6 + i * 1e-8, "set", 1e-6, 2.0] for i in range(1, 11)] + \
    [[i, 1.1e-6 - (i - 10) * 1e-8, "reset", 1e-6, 2.0] for i in range(11, 21)]


def _bad(rows_change) -> list[list]:
    rows = [list(r) for r in GOOD]
    rows_change(rows)
    return rows


def _drop_col(rows):
    for r in rows:
        del r[1]


def _set(i, j, v):
    def change(rows):
        rows[i][j] = v
    return change


def _single(rows):
    for r in rows[12:]:
        r[2] = "set"


@pytest.mark.parametrize("change, row, col", [
    (_drop_col, "row 1", "missing column 'g'"),
    (_set(5, 0, 2), "row 6", "column pulse"),           # pulse 2 after pulse 4 (file line 6)
    (_single, "rows 2-", "column polarity"),
    (_set(7, 1, -1e-6), "row 8", "column g"),
    (_set(8, 1, 0), "row 9", "column g"),
    (_set(9, 3, "nan"), "row 10", "column width"),
    (_set(4, 4, "NaN"), "row 5", "column amplitude"),
    (_set(6, 2, "up"), "row 7", "column polarity"),
])
def test_bad_measurements_give_one_line(tmp_path, change, row, col):
    path = _write(tmp_path / "bad.csv", _bad(change))
    r = CliRunner().invoke(cli, ["devices", "fit", str(path), "--out", str(tmp_path / "m.toml")])
    assert r.exit_code == 1, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    assert row in lines[0] and col in lines[0], lines[0]
    assert not (tmp_path / "m.toml").exists()


def test_good_small_file_fits(tmp_path):
    r = CliRunner().invoke(cli, ["devices", "fit", str(_write(tmp_path / "ok.csv", GOOD))])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "ok.toml").exists()


def test_bad_model_file_and_path(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text('format = "ebana-fitted-device"\ng_min = 1e-6\n')
    with pytest.raises(DeviceError, match="g_max"):
        fitted_class(f"fitted:{bad}")
    r = CliRunner().invoke(cli, ["train", "iris", "--device", f"fitted:{tmp_path / 'none.toml'}", "--epochs", "1",
                                 "--quiet", "--out", str(tmp_path / "r")])
    assert r.exit_code != 0 and "Traceback" not in r.output and "cannot read" in r.output, r.output


def test_tradeoff_experiment_plans(monkeypatch):
    """The committed trade-off sweep resolves (its fitted:PATH is relative to the repository root)."""
    from ebana.experiments import load_experiment, plan

    monkeypatch.chdir(ROOT)
    runs = plan(load_experiment(ROOT / "experiments" / "pulse_width_tradeoff" / "sweep.toml"))
    assert len(runs) == 27


def test_width_at_the_edge_uses_that_width(model_path):
    name = f"fitted:{model_path}"
    x = np.array([0.3, 0.6])
    edge = devices.create(name, t_pulse=2e-8 * (1 - 1e-10))
    exact = devices.create(name, preset="20ns")
    np.testing.assert_allclose(edge.apply_pulse(x, 3.0, 2e-8).x, exact.apply_pulse(x, 3.0, 2e-8).x, rtol=1e-8)


def test_committed_example_subcircuit_matches_rendered(monkeypatch):
    monkeypatch.chdir(ROOT)
    m = devices.create("fitted:device_models/measured/example_fefet.toml")
    assert (DATA / "example_fefet.sub").read_text() == spice.render_subckt(m)


@pytest.mark.ngspice
@pytest.mark.skipif(not spice.ngspice_available(), reason="ngspice not installed")
def test_fitted_subcircuit_reads_like_numpy(model_path):
    """ngspice: the read current of the subcircuit equals the model's, and the state does not move."""
    m = devices.create(f"fitted:{model_path}")
    tr = spice.run_transient(m, "SIN(0 0.1 1e3)", 2e-3, 1e-5, 0.3)
    np.testing.assert_allclose(tr.x, 0.3, atol=1e-12)
    np.testing.assert_allclose(tr.i, m.current(tr.v, 0.3), rtol=1e-6, atol=1e-15)


def test_too_few_pulses_and_bad_iv_file_give_one_line(tmp_path):
    few = [r for r in GOOD if not (isinstance(r[0], int) and 5 < r[0] <= 10)]  # 5 set pulses left
    few = [few[0]] + [[i, *r[1:]] for i, r in enumerate(few[1:])]
    r = CliRunner().invoke(cli, ["devices", "fit", str(_write(tmp_path / "few.csv", few))])
    assert r.exit_code == 1 and "has 5 pulses, a fit needs >= 8" in r.output and len(r.output.splitlines()) == 1
    iv = _write(tmp_path / "iv.csv", [["voltage", "current", "g"], [1.0, 1e-6, 1e-6], [2.0, "nan", 1e-6]])
    r = CliRunner().invoke(cli, ["devices", "fit", str(_write(tmp_path / "ok.csv", GOOD)), "--iv", str(iv)])
    assert r.exit_code == 1 and "row 3, column current" in r.output and len(r.output.splitlines()) == 1, r.output


def test_binary_file_and_unwritable_out_give_one_line(tmp_path):
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"pulse,g,polarity,width,amplitude\n\xff\xfe\x00\x01\n")
    r = CliRunner().invoke(cli, ["devices", "fit", str(binary)])
    assert r.exit_code == 1 and "not a UTF-8 CSV" in r.output and len(r.output.splitlines()) == 1, r.output
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = CliRunner().invoke(cli, ["devices", "fit", str(_write(tmp_path / "ok.csv", GOOD)), "--out",
                                 str(blocker / "m.toml")])
    assert r.exit_code == 1 and "cannot write" in r.output and len(r.output.splitlines()) == 1, r.output


def test_committed_example_model_is_a_fresh_fit(monkeypatch):
    monkeypatch.chdir(ROOT)
    steps = read_measurements("device_models/measured/example_fefet.csv")
    model = fit.fit_measurements(steps, read_iv("device_models/measured/example_fefet_iv.csv"))
    fresh, committed = fit.dump_model_toml(model), (DATA / "example_fefet.toml").read_text()
    # the same keys, layout and values; numbers to rounding (least squares in another CPU's SIMD and
    # BLAS kernels moves the last digits, ~1e-13 relative, so the text itself is not compared)
    assert [ln.split("=")[0] for ln in fresh.splitlines()] == [ln.split("=")[0] for ln in committed.splitlines()]
    _assert_close(tomllib.loads(fresh), tomllib.loads(committed))


def _assert_close(a, b, path: str = "") -> None:
    """Nested TOML values equal, floats within rtol 1e-9 (atol 1e-15 for coefficients near 0)."""
    if isinstance(b, dict):
        assert isinstance(a, dict) and sorted(a) == sorted(b), path
        for k in b:
            _assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(b, list):
        assert isinstance(a, list) and len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{path}[{k}]")
    elif isinstance(b, float):
        assert isinstance(a, float) and abs(a - b) <= 1e-9 * abs(b) + 1e-15, (path, a, b)
    else:
        assert a == b, (path, a, b)
