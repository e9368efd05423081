"""[nonideal] in whole runs: all off = the runs of before (tests/golden.py); resume; the netlist carries the faults."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.backends import create
from ebana.builder import build
from ebana.cli import cli
from ebana.config import apply_overrides, preset
from ebana.netlist import input_source_name, node_names, resistor_name
from ebana.training import Trainer
from tests import golden
from tests.conftest import interrupted_and_resumed
from tests.test_netlist import needs_ngspice_binary, run_ngspice_batch

OFF = {f"nonideal.{k}": v for k, v in dict(d2d=0.0, c2c=0.0, stuck_on=0.0, stuck_off=0.0, retention_tau=0.0,
                                            drift_nu=0.0, read_noise=0.0, t_read=0.0, t_batch=5.0,
                                            drift_t0=3.0).items()}

# Legacy hashes (tests/golden.py) of short IRIS runs (final conductances and every epoch's losses, accuracies, write and
# chip energy) computed with the code before [nonideal] existed (main at 115bdd1, the same at f7e0156)
GOLDEN = [
    ({"epochs": 3}, "a1782c8e901d1c9f"),
    ({"epochs": 3, "device.model": "vteam", "device.c2c": 0.1, "device.d2d": 0.1}, "cfb11599089e93bf"),
    ({"epochs": 2, "device.model": "linear_ion_drift", "device.scheme": "pam", "device.pam_levels": 7},
     "d829e73d900339c4"),
]


METRIC_KEYS = ["train_loss", "train_acc", "test_loss", "test_acc", "e_write", "pulses", "e_energy"]


def _run(overrides: dict, tmp_path) -> tuple[dict[str, np.ndarray], str]:
    """A short IRIS run: (its final conductances and every epoch's metrics as arrays (None -> nan),
    the hash of the same, :func:`fingerprint`)."""
    cfg = apply_overrides(preset("iris"), overrides)
    t = Trainer(cfg, tmp_path / f"run{len(list(tmp_path.iterdir()))}")
    h = t.run()
    gs = t.updater.conductances()
    rows = [[r.get(k) for k in METRIC_KEYS] for r in h]
    values = {f"g{k}": g for k, g in enumerate(gs)}
    values["metrics"] = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)
    return values, golden.fingerprint(gs, json.dumps(rows).encode())


def fingerprint(overrides: dict, tmp_path) -> str:
    return _run(overrides, tmp_path)[1]


@pytest.mark.parametrize("over,expect", GOLDEN, ids=["ideal", "vteam-c2c-d2d", "lid-pam"])
@pytest.mark.parametrize("explicit", [False, True])
def test_everything_off_is_unchanged(over, expect, explicit, tmp_path):
    """All of [nonideal] off, by default or explicitly: the run of the code before [nonideal]
    existed (stored arrays, rounding-level tolerance: tests/golden.py)."""
    values, fp = _run({**over, **(OFF if explicit else {})}, tmp_path)
    name = ["ideal", "vteam-c2c-d2d", "lid-pam"][[g[1] for g in GOLDEN].index(expect)]
    golden.check(f"nonideal-off-{name}", values, legacy=expect, current=fp)


def test_nonideal_d2d_c2c_are_the_device_keys(tmp_path):
    over = {"epochs": 3, "device.model": "vteam", "nonideal.c2c": 0.1, "nonideal.d2d": 0.1}
    values, fp = _run(over, tmp_path)
    golden.check("nonideal-off-vteam-c2c-d2d", values, legacy=GOLDEN[1][1], current=fp)


def test_effects_change_the_run(tmp_path):
    base = fingerprint({"epochs": 1}, tmp_path)
    for k, v in [("stuck_on", 0.05), ("read_noise", 1e-4), ("adc_bits", 10), ("dac_bits", 3),
                 ("retention_tau", 1e3), ("drift_nu", 0.01)]:
        assert fingerprint({"epochs": 1, f"nonideal.{k}": v}, tmp_path) != base, k


ALL = {"nonideal.stuck_on": 0.05, "nonideal.stuck_off": 0.05, "nonideal.read_noise": 2e-5,
       "nonideal.adc_bits": 12, "nonideal.drift_nu": 0.01, "nonideal.retention_tau": 500.0, "nonideal.dac_bits": 5}


@pytest.mark.parametrize("extra", [{}, {"device.model": "vteam", "nonideal.c2c": 0.1, "nonideal.d2d": 0.1}],
                         ids=["ideal", "vteam"])
def test_interrupt_and_resume_equals_uninterrupted(extra, tmp_path):
    cfg = apply_overrides(preset("iris"), {"epochs": 2, **ALL, **extra})
    ref, resumed = interrupted_and_resumed(cfg, tmp_path, (1, 4))
    for a, b in zip(ref.updater.conductances(), resumed.updater.conductances()):
        assert np.array_equal(a, b)
    assert [r["test_loss"] for r in ref.history] == [r["test_loss"] for r in resumed.history]
    assert np.array_equal(ref.updater.age, resumed.updater.age)


FAULTY = ["--set", "device.model=vteam", "--set", "nonideal.d2d=0.3", "--set", "nonideal.stuck_on=0.1",
          "--set", "nonideal.stuck_off=0.1", "--set", "nonideal.dac_bits=3"]


@pytest.mark.ngspice
@needs_ngspice_binary
@pytest.mark.parametrize("phase", ["free", "nudged"])
def test_netlist_carries_faults_and_variability(tmp_path, phase):
    """`ebana netlist` of a faulty, variable array in stock ngspice = ebana's numpy solve (<= 1e-9 V)."""
    out = tmp_path / "faulty.cir"
    res = CliRunner().invoke(cli, ["netlist", "--dataset", "iris", "--sample", "4", "--phase", phase,
                                   "--beta", "1e-7", *FAULTY, "--out", str(out)])
    assert res.exit_code == 0, res.output
    spice = run_ngspice_batch(out, tmp_path)
    overrides = dict(a.split("=") for a in FAULTY[1::2])
    cfg = apply_overrides(preset("iris"), {k: v if k == "device.model" else json.loads(v)
                                           for k, v in overrides.items()})
    parts = build(cfg)
    c, up = parts.circuit, parts.updater
    x = parts.x_test[4:5]
    sol = create("numpy", c).solve(x)
    if phase == "nudged":
        inj = c.nudge_currents(parts.loss.grad(c.prediction(sol.output), parts.data.y_test[4:5]), 1e-7)
        sol = create("numpy", c).solve(x, inj)
    for q in (1, 2):
        got = np.array([spice[n] for n in node_names(c, q)])
        assert np.max(np.abs(got - sol.layers[q][0])) < 1e-9
    # the stuck devices are in the netlist at their bound, every device at its own conductance
    text = {ln.split()[0]: float(ln.split()[-1]) for ln in out.read_text().splitlines() if ln.startswith("R")}
    g = np.concatenate([a.ravel() for a in c.conductances])
    k = 0
    for spec in c.topology.crossbars:
        for i in range(spec.shape[0]):
            for j in range(spec.shape[1]):
                assert text[resistor_name(spec.index, i, j)] == pytest.approx(1 / g[k], rel=1e-9)
                if up.stuck[k]:
                    assert g[k] == up.g_stuck[k]
                k += 1
    assert len(np.unique(up.g_stuck[up.on])) > 1   # variability: every stuck-ON device has its own R_ON
    # the wordline sources sit on the input DAC's grid (3 bits over [s - a, s + a])
    p = c.params
    names = {input_source_name(i, s) for i in range(c.topology.n_inputs) for s in (True, False)}
    lines = [ln for ln in out.read_text().splitlines() if ln.split() and ln.split()[0] in names]
    assert len(lines) == len(names)
    for ln in lines:
        k = (float(ln.split()[-1]) - (p.v_shift - p.v_scale)) / (2 * p.v_scale / 7)
        assert abs(k - round(k)) < 1e-9


@pytest.mark.ngspice
def test_trained_faulty_array_ngspice_parity(tmp_path):
    """After training with stuck, variable, drifting devices the ngspice backend solves the same circuit."""
    cfg = apply_overrides(preset("iris"), {"epochs": 1, "device.model": "linear_ion_drift", "nonideal.d2d": 0.2,
                                           "nonideal.stuck_on": 0.1, "nonideal.stuck_off": 0.1,
                                           "nonideal.retention_tau": 100.0})
    t = Trainer(cfg, tmp_path / "run")
    t.run()
    c = t.circuit.copy()
    gs = t.updater.conductances()
    nb, ng = create("numpy", c, conductances=gs), create("ngspice", c.copy(), conductances=gs)
    x = t.x_test[:5]
    a, b = nb.solve(x), ng.solve(x)
    for q in (1, 2):
        assert np.max(np.abs(a.layers[q] - b.layers[q])) < 1e-9
    g = np.concatenate([np.ravel(v) for v in nb.model.conductances])
    assert np.array_equal(g[t.updater.stuck], t.updater.g_stuck[t.updater.stuck])
    shutil.rmtree(tmp_path / "run")


@pytest.mark.ngspice
def test_every_effect_on_trains_the_same_on_both_backends(tmp_path):
    """Stuck, variable, noisy-write, drifting, read-disturbed devices behind a noisy ADC: numpy = ngspice."""
    over = {"epochs": 1, "device.model": "linear_ion_drift", **ALL, "nonideal.d2d": 0.2, "nonideal.c2c": 0.1,
            "nonideal.t_read": 1e-3, "limit_train": 30}
    runs = [Trainer(apply_overrides(preset("iris"), {**over, "backend": b}), tmp_path / b) for b in ("numpy", "ngspice")]
    for t in runs:
        t.run()
    for a, b in zip(*(t.updater.conductances() for t in runs)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert runs[0].history[-1]["test_acc"] == runs[1].history[-1]["test_acc"]
