"""DeviceUpdate: ideal-device trajectory, pairs, reports, checkpoints, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.cli import cli
from ebana.config import DeviceConfig, apply_overrides, preset
from ebana.errors import ConfigError
from ebana.topology import Topology
from ebana.training import METRIC_FIELDS, Trainer, metric_fields
from ebana.updates import IdealUpdate, device_update, pair_index
from tests.conftest import interrupted_and_resumed


def _cfg(**over):
    return apply_overrides(preset("iris"), {"epochs": 3, **over})


def test_ideal_device_with_pwm_reproduces_the_ideal_trajectory(tmp_path):
    ref = Trainer(_cfg(), tmp_path / "ideal")
    ref.run()
    dev = Trainer(_cfg(**{"device.model": "ideal", "device.scheme": "pwm"}), tmp_path / "device")
    dev.run()
    for a, b in zip(ref.history, dev.history):
        for k in ("train_loss", "test_loss", "train_acc", "test_acc"):
            assert b[k] == pytest.approx(a[k], rel=1e-9, abs=1e-12), k
    for a, b in zip(ref.circuit.conductances, dev.circuit.conductances):
        assert np.allclose(a, b, rtol=1e-9, atol=0)
    assert dev.pulses_total > 0 and dev.e_write_total > 0
    assert all(ref.history[0].get(k) is None for k in ("e_write", "pulses", "saturated"))
    rows = (tmp_path / "device" / "metrics.csv").read_text().splitlines()
    assert rows[0].split(",") == metric_fields(dev.history)
    assert rows[0].split(",")[:len(METRIC_FIELDS)] == METRIC_FIELDS
    info = json.loads((tmp_path / "device" / "run.json").read_text())
    assert info["device"]["model"] == "ideal" and info["device"]["e_write_total"] == pytest.approx(
        sum(r["e_write"] for r in dev.history))


def test_update_report_requested_vs_achieved_and_saturation(rng):
    shapes = [(4, 3), (3, 2)]
    g = [rng.uniform(2e-7, 9e-6, s) for s in shapes]
    up = device_update(DeviceConfig(model="ideal"), "sgd", g, 1e-7, 1e-5, lr_ref=1e-6)
    assert all(np.allclose(a, b, rtol=1e-12) for a, b in zip(up.conductances(), g))
    grads = [np.full(s, -1.0) for s in shapes]          # descent raises every G
    new = up.step(grads, 1e-6)
    rep = up.report
    assert rep.n_devices == 18 and rep.n_pulses == 18 and rep.e_write > 0
    assert rep.dg_requested == pytest.approx(18e-6)
    assert np.allclose(np.concatenate([(b - a).ravel() for a, b in zip(g, new)]), 1e-6, rtol=1e-9)
    new = up.step([100 * x for x in grads], 1e-6)    # push everything into g_max
    assert up.report.n_saturated == 18 and up.report.dg_achieved < up.report.dg_requested
    assert all(np.allclose(x, 1e-5) for x in new)


def test_split_pairs_keep_the_pair_sum():
    topo = Topology(2, (3,), 2, n_bias_input=1, n_bias_hidden=1)
    pairs = pair_index(topo)
    assert pairs[0][0] == 0 and list(pairs[0][2]) == [2, 3]        # rows x+ / x-
    assert pairs[1][0] == 1 and list(pairs[1][1]) == [0, 2]        # columns V+ / V-
    g = [np.full(c.shape, 5e-6) for c in topo.crossbars]
    up = device_update(DeviceConfig(model="ideal", pairs="split"), "sgd", g, 1e-7, 1e-5, lr_ref=1e-7,
                      pairs=pairs)
    grads = [np.random.default_rng(k).normal(size=c.shape) for k, c in enumerate(topo.crossbars)]
    new = up.step(grads, 1e-7)
    d0 = new[0] - g[0]
    assert np.allclose(d0[:2] + d0[2:4], 0, atol=1e-18)             # G+ + G- unchanged
    assert np.allclose(d0[:2] - d0[2:4], -1e-7 * (grads[0][:2] - grads[0][2:4]), rtol=1e-9)
    d1 = new[1] - g[1]
    assert np.allclose(d1[:, 0::2] + d1[:, 1::2], 0, atol=1e-18)


@pytest.mark.parametrize("stop_at", [(1, 4)])
def test_device_run_interrupt_and_resume_equals_uninterrupted(tmp_path, stop_at):
    over = {"device.model": "yakopcic", "device.c2c": 0.1, "device.scheme": "pam", "device.pam_pulses": 2}
    ref, resumed = interrupted_and_resumed(_cfg(**over), tmp_path, stop_at)
    assert np.array_equal(ref.updater.x, resumed.updater.x)
    assert [r["test_loss"] for r in ref.history] == [r["test_loss"] for r in resumed.history]
    assert [r["e_write"] for r in ref.history] == [r["e_write"] for r in resumed.history]
    assert ref.pulses_total == resumed.pulses_total


def test_ratio_sets_the_circuit_range_and_is_validated(tmp_path):
    cfg = _cfg(**{"device.r_ratio": 10})
    assert cfg.circuit.g_min == pytest.approx(cfg.circuit.g_max / 10)
    for bad, msg in (({"device.r_ratio": 1}, r"must be in \(1, 1e9\]"), ({"device.scheme": "pwn"}, "did you mean 'pwm'"),
                     ({"device.r_ratoi": 3}, "did you mean device.r_ratio")):
        with pytest.raises(ConfigError, match=msg):
            _cfg(**bad)
    assert isinstance(Trainer(_cfg(epochs=1), tmp_path / "unused-ideal").updater, IdealUpdate)


def test_cli_train_with_a_device_and_bad_input(tmp_path):
    r = CliRunner().invoke(cli, ["train", "iris", "--device", "vteam", "--scheme", "pam", "--pam-pulses", "2",
                                 "--r-ratio", "10", "--epochs", "1", "--quiet", "--out", str(tmp_path / "v")])
    assert r.exit_code == 0, r.output
    assert "write energy" in r.output
    for args, msg in ((["--device", "vteam", "--scheme", "pwn"], "pwm"), (["--r-ratio", "0.5"], "(1, 1e9]"),
                      (["--device", "vtem"], "did you mean 'vteam'")):
        r = CliRunner().invoke(cli, ["train", "iris", "--epochs", "1", "--out", str(tmp_path / "x"), *args])
        assert r.exit_code == 1 and msg in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1
