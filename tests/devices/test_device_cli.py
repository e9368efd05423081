"""CLI: ebana devices list / iv / pulse (CliRunner, one-line errors)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from ebana import devices as dev
from ebana.cli_devices import devices

NAMES = dev.names()
needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None,
                                   reason="ngspice executable not found")




def test_list():
    res = CliRunner().invoke(devices, ["list"])
    assert res.exit_code == 0
    for name in NAMES:
        assert name in res.output
    assert "541.82" in res.output


def test_iv_writes_png_and_csv(tmp_path):
    res = CliRunner().invoke(devices, ["iv", "ideal", "--cycles", "1", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "ideal_iv.png").stat().st_size > 1000
    data = np.loadtxt(tmp_path / "ideal_iv.csv", delimiter=",", skiprows=1)
    assert data.shape[1] == 4


@needs_ngspice
def test_iv_and_pulse_with_spice(tmp_path):
    r = CliRunner()
    res = r.invoke(devices, ["iv", "vteam", "--cycles", "1", "--spice", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "vteam_iv_spice.csv").exists()
    res = r.invoke(devices, ["pulse", "yakopcic", "--n-set", "5", "--n-reset", "5", "--spice",
                             "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    data = np.loadtxt(tmp_path / "yakopcic_pulse.csv", delimiter=",", skiprows=1)
    assert np.max(np.abs(data[:, 2] - data[:, 5])) < 2e-3  # x numpy vs x ngspice


def test_pulse_with_param(tmp_path):
    res = CliRunner().invoke(devices, ["pulse", "linear_ion_drift", "--param", "window=none",
                                       "--n-set", "3", "--n-reset", "3", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "linear_ion_drift_pulse.png").exists()


def test_errors_are_one_line(tmp_path):
    r = CliRunner()
    for args, text in ((["iv", "nope"], "known:"),
                       (["iv", "vteam", "--param", "r_off=10", "--out", str(tmp_path)], "r_off"),
                       (["pulse", "vteam", "--width", "-1", "--out", str(tmp_path)], "--width"),
                       (["pulse", "vteam", "--v-set", "-1", "--out", str(tmp_path)], "--v-set"),
                       (["iv", "vteam", "--frequency", "0", "--out", str(tmp_path)], "frequency")):
        res = r.invoke(devices, args)
        assert res.exit_code == 1, (args, res.output)
        assert text in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1, res.output
