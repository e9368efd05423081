"""The fitted device's vectorised RK4 pulse path against the adaptive reference integrator, and
the model file's sha256 in run.json / the checkpoint (issue 20)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ebana import devices
from ebana.cli import cli

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "device_models" / "measured" / "example_fefet.toml"
TOL_DX = 5e-5       # |x fast - x reference| (–, state range 1): stated tolerance of the fast path
TOL_E = 2e-3        # relative energy error of the fast path


@pytest.mark.parametrize("preset", ["20ns", "2us", "200us"])
@pytest.mark.parametrize("response", ["poly", "table"])
def test_fast_path_matches_reference_integrator(preset, response):
    m = devices.create(f"fitted:{MODEL}", preset=preset, response=response)
    rng = np.random.default_rng(1)
    n = 600
    x = rng.uniform(0, 1, n)
    v = rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 4.0, n)
    t = m.t_op * rng.uniform(0, 5, n)
    t[:20] = 0.0
    fast, ref = m.apply_pulse(x, v, t), m.apply_pulse(x, v, t, reference=True)
    assert np.max(np.abs(ref.x - x)) > 0.1          # the pulses do move the states
    np.testing.assert_allclose(fast.x, ref.x, rtol=0, atol=TOL_DX)
    np.testing.assert_allclose(fast.energy, ref.energy, rtol=TOL_E, atol=1e-30)
    assert np.all(fast.x[:20] == x[:20]) and np.all(fast.energy[:20] == 0)


def test_fast_path_read_mapped_energy():
    m = devices.create(f"fitted:{MODEL}").with_range(1e4, 1e6)
    x = np.linspace(0.05, 0.95, 50)
    fast, ref = m.apply_pulse(x, 2.0, 3 * m.t_op), m.apply_pulse(x, 2.0, 3 * m.t_op, reference=True)
    np.testing.assert_allclose(fast.x, ref.x, rtol=0, atol=TOL_DX)
    np.testing.assert_allclose(fast.energy, ref.energy, rtol=TOL_E)


def test_run_json_records_model_hash_and_resume_refuses_a_changed_file(tmp_path):
    model = tmp_path / "fefet.toml"
    shutil.copy(MODEL, model)
    run = tmp_path / "run"
    args = ["train", "iris", "--device", f"fitted:{model}", "--epochs", "1", "--quiet", "--out", str(run)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    info = json.loads((run / "run.json").read_text())
    import hashlib
    assert info["fitted_model"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert info["fitted_model"]["path"] == str(model)
    model.write_text(model.read_text() + "\n# edited\n")
    r = CliRunner().invoke(cli, ["train", "--resume", "--out", str(run), "--override", "--set", "epochs=2", "--quiet"])
    assert r.exit_code != 0
    assert "fitted model file" in r.output and "changed" in r.output


def test_devices_list_shows_fitted_model_files(tmp_path):
    shutil.copy(MODEL, tmp_path / "mine.toml")
    (tmp_path / "other.toml").write_text("x = 1\n")   # not a model file: skipped
    r = CliRunner().invoke(cli, ["devices", "list", "--fitted-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert f"fitted:{(tmp_path / 'mine.toml').as_posix()}" in r.output and "other.toml" not in r.output
    assert "fitted:PATH" in r.output
    r = CliRunner().invoke(cli, ["devices", "list", "--fitted-dir", str(tmp_path / "none")])
    assert r.exit_code == 0 and "(none)" in r.output
