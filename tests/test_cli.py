"""CLI: bad input gives one line and exit 1; the happy paths write their files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ebana.cli import cli


def _run(*args):
    return CliRunner().invoke(cli, list(args))


def _one_line_error(res, needle):
    assert res.exit_code == 1, res.output
    err = res.output.strip().splitlines()
    assert err[-1].startswith("Error: ") and needle in err[-1], res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize("args, needle", [
    (["train", "nope"], "unknown dataset 'nope'"),
    (["train", "iris", "--loss", "hinge"], "unknown loss 'hinge'"),
    (["train", "iris", "--hidden", "0"], "hidden '0': layer size 0"),
    (["train", "iris", "--set", "circuit.g_min=0"], "need 0 < g_min < g_max"),
    (["train", "iris", "--set", "circuit.g_min=-1e-7"], "need 0 < g_min < g_max"),
    (["train", "iris", "--set", "init_low=-1e-6"], "init_low must be a positive conductance"),
    (["train", "iris", "--backend", "xyce"], "unknown backend 'xyce'"),
    (["train", "iris", "--optimizer", "adamw"], "unknown optimizer 'adamw'"),
    (["train", "iris", "--set", "circuit.gian=3"], "did you mean circuit.gain"),
    (["train", "iris", "--epochs", "1", "--set", "max_sweeps=2"], "free phase did not converge"),
])
def test_bad_input_one_line(tmp_path, args, needle):
    _one_line_error(_run(*args, "--out", str(tmp_path / "r")), needle)


def test_csv_with_non_numeric_feature(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("a,b,label\n1,2,x\n3,oops,y\n5,6,x\n7,8,y\n")
    _one_line_error(_run("train", str(p), "--out", str(tmp_path / "r")), "oops")


def test_csv_trains(tmp_path, rng):
    p = tmp_path / "blobs.csv"
    rows = ["f1,f2,cls"]
    for k in range(60):
        c = k % 2
        rows.append(f"{rng.normal(2 * c, 0.3):.4f},{rng.normal(-c, 0.3):.4f},{'ab'[c]}")
    p.write_text("\n".join(rows) + "\n")
    res = _run("train", str(p), "--epochs", "5", "--out", str(tmp_path / "r"), "--quiet")
    assert res.exit_code == 0, res.output
    assert "test accuracy" in res.output


def test_zero_conductance_in_checkpoint(tmp_path):
    res = _run("train", "iris", "--epochs", "1", "--out", str(tmp_path / "r"), "--quiet")
    assert res.exit_code == 0, res.output
    import numpy as np
    z = dict(np.load(tmp_path / "r" / "conductances.npz"))
    z["g0"][0, 0] = 0.0
    np.savez(tmp_path / "bad.npz", **z)
    _one_line_error(_run("inspect", str(tmp_path / "bad.npz")), "conductances must be finite and > 0 S")


def test_ngspice_missing_is_one_line(tmp_path):
    env = dict(os.environ, NGSPICE_LIBRARY_PATH="/nonexistent/libngspice.so")
    proc = subprocess.run([sys.executable, "-m", "ebana.cli", "train", "iris", "--backend", "ngspice",
                           "--epochs", "1", "--out", str(tmp_path / "r")], capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: cannot load the ngspice shared library") and "apt-get install" in last
    assert "Traceback" not in proc.stderr


@pytest.mark.ngspice
def test_ngspice_failed_solve_names_phase_and_sample_and_writes_netlist(tmp_path, rng):
    from ebana.backends import create
    from ebana.errors import ConvergenceError
    from tests.conftest import make_circuit
    c = make_circuit(rng, n_in=2, hidden=(3,), n_cls=2)
    b = create("ngspice", c, failure_dir=tmp_path)
    b._vec[0][0] = b"no_such_node"   # an unreadable result is treated like a failed op
    with pytest.raises(ConvergenceError, match=r"nudged\(\+beta\) phase, sample 17") as err:
        b.solve(rng.uniform(-1, 1, (1, 2)), None, phase="nudged(+beta)", sample_ids=[17])
    assert (tmp_path / "failed-nudged(+beta)-sample17.cir").exists()
    assert "\n" not in str(err.value)


def test_train_netlist_inspect_roundtrip(tmp_path):
    res = _run("train", "iris", "--epochs", "2", "--out", str(tmp_path / "r"), "--quiet")
    assert res.exit_code == 0, res.output
    res = _run("netlist", "--checkpoint", str(tmp_path / "r"), "--sample", "2", "--phase", "nudged",
               "--out", str(tmp_path / "n.cir"))
    assert res.exit_code == 0, res.output
    res = _run("inspect", str(tmp_path / "n.cir"))
    assert res.exit_code == 0 and "resistors: 172" in res.output
    res = _run("inspect", str(tmp_path / "r"))
    assert res.exit_code == 0 and "crossbar 1 (layer 1 -> 2) 12x6" in res.output


def test_resume_cli(tmp_path):
    res = _run("train", "--resume", "--out", str(tmp_path / "none"))
    _one_line_error(res, "no checkpoint")


def test_missing_mnist_is_one_line(tmp_path):
    _one_line_error(_run("train", "mnist", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")),
                    "t10k-labels-idx1-ubyte")


def test_one_sided_picks_its_beta_and_trains(tmp_path):
    """Issue 14: --one-sided on a preset made for centered nudging uses the one-sided default beta,
    records it in config.toml, and learns (digits: the MNIST circuit at 8x8 pixels)."""
    import csv
    import tomllib
    out = tmp_path / "r"
    res = _run("train", "digits", "--one-sided", "--epochs", "1", "--set", "limit_train=600", "--quiet",
               "--out", str(out))
    assert res.exit_code == 0, res.output
    cfg = tomllib.loads((out / "config.toml").read_text())
    assert cfg["centered"] is False and cfg["beta"] == 1e-9
    with open(out / "metrics.csv") as fh:
        row = list(csv.DictReader(fh))[-1]
    assert float(row["test_acc"]) > 0.6 and float(row["test_loss"]) < 1.5   # not ln 10 = 2.30 (the collapse)


def test_one_sided_refuses_a_known_bad_beta(tmp_path):
    res = _run("train", "digits", "--one-sided", "--beta", "1e-6", "--epochs", "1", "--quiet",
               "--out", str(tmp_path / "r"))
    _one_line_error(res, "beta = 1e-06 A is too large for one-sided nudging (centered = false)")
    assert not (tmp_path / "r").exists()


def test_beta_default_follows_the_nudging_mode():
    from ebana.config import apply_overrides, from_dict, preset, to_dict
    cfg = preset("mnist")
    assert (cfg.beta, apply_overrides(cfg, {"centered": False}).beta) == (1e-6, 1e-9)
    assert apply_overrides(cfg, {"centered": False, "beta": 1e-8}).beta == 1e-8       # a given beta stays
    assert apply_overrides(apply_overrides(cfg, {"beta": 1e-7}), {"centered": False}).beta == 1e-7
    assert from_dict({"dataset": "mnist", "centered": False}).beta == 1e-9
    one = apply_overrides(cfg, {"centered": False})
    assert "beta_is_default" not in to_dict(one) and from_dict(to_dict(one)) == one   # the resolved value is written
    assert preset("iris").beta == apply_overrides(preset("iris"), {"centered": False}).beta == 1e-8
