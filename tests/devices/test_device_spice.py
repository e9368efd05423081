"""numpy vs ngspice parity (state under a sinusoid and a pulse train) and subcircuit files."""

from __future__ import annotations

import shutil

import subprocess
from pathlib import Path

import numpy as np
import pytest

from ebana import devices
from ebana.devices import iv, spice

NAMES = devices.names()
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None,
                                   reason="ngspice executable not found")



ROOT = Path(__file__).resolve().parents[2]
PARITY_TOL = 1e-3  # max |Δx| between numpy and ngspice .tran
N_COMPARE = 600  # ngspice time points compared (evenly spread, plus the fastest ones)


def _sample(tr: spice.Transient) -> np.ndarray:
    idx = np.linspace(0, tr.t.size - 1, N_COMPARE).astype(int)
    fast = np.argsort(-np.abs(np.gradient(tr.x, tr.t)))[:100]
    return np.unique(np.r_[idx, fast])


def test_committed_device_models_match_rendered(tmp_path):
    spice.write_device_models(tmp_path)
    committed = ROOT / "device_models"
    for path in sorted(tmp_path.iterdir()):
        assert (committed / path.name).read_text() == path.read_text(), path.name


@pytest.mark.ngspice
@needs_ngspice
@pytest.mark.parametrize("name", NAMES)
def test_parity_sinusoid(name):
    m = devices.create(name)
    d = m.demo
    period = 1.0 / d.frequency
    tr = spice.run_transient(m, f"SIN(0 {d.amplitude!r} {d.frequency!r})", d.cycles * period,
                             period / 2000, d.x0)
    k = _sample(tr)
    w = 2 * np.pi * d.frequency
    from ebana.devices.integrate import integrate_drive

    x, _ = integrate_drive(m._gated_rate, None, np.array(d.x0),
                           lambda t: m.polarity * d.amplitude * np.sin(w * t), tr.t[k],
                           lo=m.bounds[0], hi=m.bounds[1], h_max=period / 400)
    err = float(np.max(np.abs(x - tr.x[k])))
    print(f"{name}: sinusoid max|dx| = {err:.2e}")
    assert err < PARITY_TOL
    assert np.ptp(x) > 0.05  # the drive really switches the device
    i = m.current(tr.v[k], tr.x[k])
    np.testing.assert_allclose(tr.i[k], i, rtol=1e-6, atol=1e-9 * np.max(np.abs(i)))


def _pulse_train_parity(m) -> tuple[float, float]:
    """8 SET + 8 RESET demo pulses through ngspice and numpy: (max |Δx| between them, swing of x)."""
    d = m.demo
    tp, vp, _ = iv.pulse_waveform(d.v_set, d.v_reset, d.t_pulse, 8, 8)
    tr = spice.run_transient(m, spice.pwl_source("Vd", "in", tp, vp), float(tp[-1]), d.t_pulse / 20, d.x0)
    k = _sample(tr)
    num = iv.drive_pwl(m, tp, vp, tr.t[k], d.x0)
    return float(np.max(np.abs(num.x - tr.x[k]))), float(np.ptp(num.x))


@pytest.mark.ngspice
@needs_ngspice
@pytest.mark.parametrize("name", NAMES)
def test_parity_pulse_train(name):
    err, swing = _pulse_train_parity(devices.create(name))
    print(f"{name}: pulse train max|dx| = {err:.2e}")
    assert err < PARITY_TOL
    assert swing > 0.02


@pytest.mark.ngspice
@needs_ngspice
def test_example_deck_runs_in_stock_ngspice():
    out = subprocess.run(["ngspice", "-b", "vteam_example.cir"], cwd=ROOT / "device_models",
                         capture_output=True, text=True, timeout=60)
    assert "x_end" in out.stdout, out.stdout[-500:] + out.stderr[-500:]


@pytest.mark.ngspice
@needs_ngspice
def test_rescaled_subckt_current():
    m = devices.create("yakopcic").with_range(2e3, 2e5)
    tr = spice.run_transient(m, "SIN(0 0.1 1e3)", 1e-3, 1e-6, 0.5)
    np.testing.assert_allclose(tr.i, m.current(tr.v, tr.x), rtol=1e-6, atol=1e-12)


LOGIT_VARIANTS = [("linear_ion_drift", {"window": "joglekar"}),
                  ("linear_ion_drift", {"window": "joglekar", "p": 2.0}),
                  ("linear_ion_drift", {"window": "prodromakis"}),
                  ("vteam", {"window": "joglekar"}),
                  ("nonlinear_ion_drift", {"window": "joglekar"})]


@pytest.mark.ngspice
@needs_ngspice
@pytest.mark.parametrize("name,kw", LOGIT_VARIANTS)
def test_parity_logit_state(name, kw):
    """Windows that vanish at both bounds integrate logit(x) in ngspice; same ODE as numpy."""
    m = devices.create(name, **kw)
    assert m.spice_logit_rate() is not None
    assert "Cy y 0 1" in spice.render_subckt(m)
    err, swing = _pulse_train_parity(m)
    print(f"{name} {kw}: pulse train max|dx| = {err:.2e}")
    assert err < PARITY_TOL
    assert swing > 0.01


@pytest.mark.ngspice
@needs_ngspice
def test_joglekar_symmetric_train_returns_in_ngspice():
    """Issue 17 in ngspice: 50 SET + 50 RESET pulses (±1 V, 20 ms, 20 µs edges) from x = 0.1
    come back to 0.1 (x on the capacitor ended at 0.0896; logit(x) keeps the memory)."""
    m = devices.create("linear_ion_drift", window="joglekar")
    w = 0.02
    tp, vp, ends = iv.pulse_waveform(1.0, -1.0, w, 50, 50, t_edge=1e-3 * w)
    tr = spice.run_transient(m, spice.pwl_source("Vd", "in", tp, vp), float(tp[-1]), w / 20, 0.1)
    x = np.interp(ends, tr.t, tr.x)
    assert 1 - x[49] < 1e-13  # it really went next to the bound
    assert abs(x[-1] - 0.1) < 1e-5
