"""Device models on masked crossbars ([graph] connectivity, ``local`` layers): only the mask cells
hold a device; every other cell stays at 0 S exactly, is never programmed or disturbed and costs
no energy (ebana.updates.device_update.DeviceArray, PassiveArray, FaultyUpdate)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ebana import datasets
from ebana.cli import cli
from ebana.config import DeviceConfig, from_dict, load_toml
from ebana.errors import ConfigError
from ebana.updates.device_update import DeviceArray, Programmer, device_index

ROOT = Path(__file__).resolve().parents[1]
SPLIT = ROOT / "experiments" / "logic_gates" / "gates_split.toml"
G_MIN, G_MAX = 1e-7, 1e-5


def _masks(rng, shapes):
    out = []
    for k, s in enumerate(shapes):
        if k == 1:
            out.append(None)                       # a dense crossbar between masked ones
            continue
        m = rng.random(s) < 0.4
        m.flat[0] = True
        out.append(m)
    return out


# ----------------------------------------------------------------------------- the device array
def test_device_index_split_and_positions(rng):
    shapes = [(5, 4), (3, 2), (4, 6)]
    masks = _masks(rng, shapes)
    gs = [rng.uniform(G_MIN, G_MAX, s) for s in shapes]
    arr = DeviceArray(DeviceConfig(model="vteam"), gs, G_MIN, G_MAX, np.random.default_rng(0), masks)
    n_dev = int(masks[0].sum()) + 6 + int(masks[2].sum())
    assert arr.x.size == n_dev == arr.index.size and arr.n_cells == 20 + 6 + 24
    out = arr.split(arr.model.conductance(arr.x))
    for g, g0, m in zip(out, gs, masks):
        m = np.ones(g.shape, bool) if m is None else m
        assert np.all(g[~m] == 0.0)                                     # no device: exactly 0 S
        assert np.allclose(g[m], g0[m], rtol=1e-9)                      # devices start at the draw
    assert list(arr.positions(arr.index)) == list(range(n_dev))
    off = np.flatnonzero(~masks[0].ravel())[0]
    assert arr.positions(np.array([off]))[0] == -1
    assert device_index(shapes, [None, None, None]) is None
    with pytest.raises(ConfigError, match=r"device mask of crossbar0 has shape \(4, 5\), the crossbar \(5, 4\)"):
        device_index(shapes, [np.ones((4, 5), bool), None, None])


@pytest.mark.parametrize("scheme", ["selector", "row_v2", "column_v3", "outer_product"])
def test_masked_write_equals_the_full_array_on_its_devices(rng, scheme):
    """The same pulses through the masked array and through a full array whose extra cells get no
    request: the devices end equal (each sees its own line voltages), and the masked write's
    energy is the full write's energy of the mask cells alone (absent cells cost nothing)."""
    shapes = [(6, 5), (3, 4), (5, 4)]
    masks = _masks(rng, shapes)
    gs = [rng.uniform(G_MIN, G_MAX, s) for s in shapes]
    cfg = DeviceConfig(model="vteam", array_scheme=scheme, array_bl=7)
    full = DeviceArray(cfg, gs, G_MIN, G_MAX, np.random.default_rng(1))
    part = DeviceArray(cfg, gs, G_MIN, G_MAX, np.random.default_rng(1), masks)
    idx = part.index
    dg_cells = np.zeros(full.x.size)
    dg_cells[idx] = rng.normal(0, 2e-7, idx.size)
    x_full, e_full, n_full = Programmer(full, 1e-7)(full.x, dg_cells)
    x_part, e_part, n_part = Programmer(part, 1e-7)(part.x, dg_cells[idx])
    assert np.allclose(x_part, x_full[idx], rtol=0, atol=1e-12)
    if scheme != "outer_product":        # the stochastic trains draw per cell: same stream only when exact
        assert np.array_equal(x_part, x_full[idx])
    assert np.isclose(e_part.sum(), e_full[idx].sum(), rtol=1e-12) and e_part.sum() > 0
    assert np.array_equal(np.asarray(n_part), np.asarray(n_full)[idx])
    if scheme != "selector":     # in the full array the extra cells are half-selected devices: they cost energy
        assert e_full.sum() > e_part.sum() * (1 + 1e-9)


# ----------------------------------------------------------------------------- training runs
RUNS = {
    "vteam pwm": {},
    "vteam pam": {"device": {"scheme": "pam"}},
    "linear_ion_drift analog_sgd": {"device": {"model": "linear_ion_drift"}, "algorithm": {"name": "analog_sgd"}},
    "mixed_precision": {"algorithm": {"name": "mixed_precision"}},
    "residual": {"algorithm": {"name": "residual"}},
    "reference fixed": {"algorithm": {"name": "analog_sgd", "reference": "fixed"}},
    "pairs split": {"device": {"pairs": "split"}},
    "row_v2 array": {"device": {"array_scheme": "row_v2"}},
    "outer_product array, d2d": {"device": {"array_scheme": "outer_product"}, "nonideal": {"d2d": 0.1}},
    "faults": {"nonideal": {"stuck_on": 0.1, "stuck_off": 0.1, "d2d": 0.1, "c2c": 0.02, "retention_tau": 100.0,
                            "drift_nu": 0.01, "t_read": 1e-9}},
}


def _cfg(change: dict):
    d = load_toml(SPLIT)
    d["epochs"] = 2
    d["device"] = {"model": "vteam", **change.get("device", {})}
    for k in ("algorithm", "nonideal"):
        if k in change:
            d[k] = change[k]
    return from_dict(d)


@pytest.mark.parametrize("name", list(RUNS))
def test_masked_graph_device_run_keeps_absent_cells_at_zero(tmp_path, monkeypatch, name):
    from ebana.training import Trainer
    monkeypatch.chdir(ROOT)
    cfg = _cfg(RUNS[name])
    tr = Trainer(cfg, tmp_path / "run")
    hist = tr.run()
    t = tr.circuit.topology
    masks = [t.mask(c.index) for c in t.crossbars]
    assert any(m is not None for m in masks)
    n_dev = sum(int(m.sum()) if m is not None else c.shape[0] * c.shape[1] for m, c in zip(masks, t.crossbars))
    up = tr.updater
    assert up.array.x.size == n_dev and up.report.n_devices == n_dev
    for gs in (up.conductances(), tr.circuit.conductances):
        for g, m in zip(gs, masks):
            if m is not None:
                assert np.all(g[~m] == 0.0), name
                assert np.all(g[m] >= G_LO(cfg)) and np.all(g[m] <= cfg.circuit.g_max * (1 + 1e-9))
    assert hist[-1]["pulses"] > 0 and np.isfinite(hist[-1]["train_loss"])
    ck = np.load(tmp_path / "run" / "checkpoint.npz")
    assert ck["opt_dev_x"].size == n_dev


@pytest.mark.parametrize("model", [None, "vteam"])
def test_faults_on_a_masked_graph_hit_devices_only(tmp_path, monkeypatch, model):
    """Stuck devices, retention and drift on a masked graph, ideal updates (no device model) and
    VTEAM: drawn over the devices (round(p * devices) stuck each way), absent cells stay 0 S."""
    from ebana.training import Trainer
    monkeypatch.chdir(ROOT)
    d = load_toml(SPLIT)
    d["epochs"] = 2
    d["nonideal"] = {"stuck_on": 0.1, "stuck_off": 0.05, "retention_tau": 100.0, "drift_nu": 0.01}
    if model:
        d["device"] = {"model": model}
    cfg = from_dict(d)
    tr = Trainer(cfg, tmp_path / "run")
    tr.run()
    t = tr.circuit.topology
    masks = [t.mask(c.index) for c in t.crossbars]
    n_dev = sum(int(m.sum()) if m is not None else c.shape[0] * c.shape[1] for m, c in zip(masks, t.crossbars))
    up = tr.updater
    assert up.on.size == n_dev and up.on.sum() == round(0.1 * n_dev) and up.off.sum() == round(0.05 * n_dev)
    gs = up.conductances()
    for g, m in zip(gs, masks):
        if m is not None:
            assert np.all(g[~m] == 0.0) and np.all(g[m] > 0)
    flat = np.concatenate([g.ravel() for g, m in zip(gs, masks)])[up.index]
    assert np.all(flat[up.off] <= flat[~up.stuck].min()) and np.all(flat[up.on] >= flat[~up.stuck].max())


def G_LO(cfg) -> float:
    return cfg.circuit.g_min * (1 - 1e-9)


def test_masked_device_run_resumes_bit_for_bit(tmp_path, monkeypatch):
    from tests.conftest import interrupted_and_resumed
    monkeypatch.chdir(ROOT)
    cfg = _cfg(RUNS["faults"])
    ref, resumed = interrupted_and_resumed(cfg, tmp_path, (1, 2))
    for a, b in zip(ref.updater.conductances(), resumed.updater.conductances()):
        assert np.array_equal(a, b)
    assert [r["test_loss"] for r in ref.history] == [r["test_loss"] for r in resumed.history]


def test_iris_graph_with_vteam_devices_trains(tmp_path):
    """IRIS as a masked graph (sepal and petal groups with their own hidden blocks, petal also
    straight to the head) programmed through VTEAM devices: above 90 % test accuracy in 10 epochs."""
    from ebana.config import TrainConfig
    from ebana.graphnet import GraphConfig
    from ebana.training import Trainer
    cols = datasets.write_csv("iris", tmp_path / "iris.csv")
    g = GraphConfig(inputs={"sepal": cols[:2], "petal": cols[2:]}, hidden={"hs": 5, "hp": 5},
                    heads={"label": {"column": "label"}},
                    edges=["sepal -> hs", "petal -> hp", "hs -> label", "hp -> label", "petal -> label"])
    cfg = TrainConfig(dataset=str(tmp_path / "iris.csv"), graph=g, epochs=10, seed=0,
                      device=DeviceConfig(model="vteam"))
    tr = Trainer(cfg, tmp_path / "run")
    hist = tr.run()
    t = tr.circuit.topology
    assert len(t.masks) == 2
    assert hist[-1]["test_acc"] >= 0.9 and hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert hist[-1]["e_write"] > 0
    for k, g in enumerate(tr.updater.conductances()):
        if t.mask(k) is not None:
            assert np.all(g[~t.mask(k)] == 0.0)


def test_digits_local_layer_with_vteam_devices_trains(tmp_path):
    """``--conv local4k3s1 --hidden none --device vteam`` on digits (64x2-144-10x2, 3 epochs)."""
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["train", "digits", "--conv", "local4k3s1", "--hidden", "none", "--device",
                                   "vteam", "--epochs", "3", "--out", str(run), "--quiet"])
    assert res.exit_code == 0, res.output
    import csv
    with open(run / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[-1]["test_acc"]) > 0.85 and float(rows[-1]["e_write"]) > 0
    from ebana.checkpoint import load_checkpoint_circuit
    _, c = load_checkpoint_circuit(run)
    m = c.topology.mask(0)
    assert m is not None and m.mean() < 0.2
    assert np.all(c.conductances[0][~m] == 0.0) and np.all(c.conductances[0][m] > 0)
    assert np.load(run / "checkpoint.npz")["opt_dev_x"].size == int(m.sum()) + c.conductances[1].size


@pytest.mark.ngspice
def test_masked_device_training_verified_by_ngspice(tmp_path, monkeypatch):
    """A masked VTEAM graph run, every batch re-solved by ngspice: <= 1e-9 V (absent cells are no resistor)."""
    from ebana.training import Trainer
    monkeypatch.chdir(ROOT)
    cfg = replace(_cfg({}), epochs=1, verify_every=1)
    hist = Trainer(cfg, tmp_path / "run").run()
    assert 0 < hist[0]["verify_max_dv"] < 1e-9
