"""Netlists written by `ebana netlist` run in stock `ngspice -b` and match ebana's own solve."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from ebana.backends import create
from ebana.cli import cli
from ebana.netlist import render
from ebana.rawfile import read_ascii_raw
from tests.conftest import make_circuit

needs_ngspice_binary = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice binary missing")


def _same_netlist(a: str, b: str, rtol: float = 1e-9) -> bool:
    """Same lines, numbers equal to rtol (nudge currents come from a solve: last-digit noise)."""
    la, lb = a.splitlines(), b.splitlines()
    if len(la) != len(lb):
        return False
    for x, y in zip(la, lb):
        if x == y:
            continue
        tx, ty = x.split(), y.split()
        if len(tx) != len(ty) or tx[:-1] != ty[:-1]:
            return False
        if abs(float(tx[-1]) - float(ty[-1])) > rtol * max(abs(float(ty[-1])), 1e-30):
            return False
    return True


def run_ngspice_batch(netlist_path, tmp_path) -> dict[str, np.ndarray]:
    raw = tmp_path / "out.raw"
    env = dict(os.environ, SPICE_ASCIIRAWFILE="1")
    proc = subprocess.run(["ngspice", "-b", "-r", str(raw), str(netlist_path)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {k: v[0] for k, v in read_ascii_raw(raw).items()}


def assert_ngspice_matches(c, x, i_nudge, backend, tmp_path, label: str = "", **render_kw):
    """Render ``c`` at inputs ``x`` (n_in,) and nudging currents ``i_nudge`` (or None), run stock
    ``ngspice -b`` and assert every layer's node voltages within 1e-9 V of ``backend``'s solve;
    returns ngspice's vectors and the backend's solution."""
    path = tmp_path / f"{label or 'net'}.cir"
    path.write_text(render(c, x, i_nudge, **render_kw))
    spice = run_ngspice_batch(path, tmp_path)
    sol = backend.solve(x[None], None if i_nudge is None else i_nudge[None])
    from ebana.netlist import node_names
    for q in range(1, c.topology.n_layers):
        got = np.array([spice[n] for n in node_names(c, q)])
        assert np.max(np.abs(got - sol.layers[q][0])) < 1e-9, (label, q)
    return spice, sol


@pytest.mark.ngspice
@needs_ngspice_binary
@pytest.mark.parametrize("norton", [False, True])
@pytest.mark.parametrize("diode", ["ideal", "shockley"])
def test_rendered_netlist_in_stock_ngspice(tmp_path, rng, norton, diode):
    kw = dict(v_clamp_low=0.5, v_clamp_high=0.7) if diode == "shockley" else {}
    c = make_circuit(rng, n_in=4, hidden=(6, 4), n_cls=3, skips=((0, 2),), diode=diode, **kw)
    x = rng.uniform(-3, 3, 4)
    i_nudge = rng.normal(0, 2e-7, 6)
    path = tmp_path / "net.cir"
    path.write_text(render(c, x, i_nudge, norton=norton))
    spice = run_ngspice_batch(path, tmp_path)
    sol = create("numpy", c).solve(x[None], i_nudge[None])
    from ebana.netlist import node_names
    for q in range(1, c.topology.n_layers):
        got = np.array([spice[n] for n in node_names(c, q)])
        assert np.max(np.abs(got - sol.layers[q][0])) < 1e-9


@pytest.mark.ngspice
@needs_ngspice_binary
@pytest.mark.parametrize("phase", ["free", "nudged"])
def test_cli_netlist_matches_ebana_solve(tmp_path, phase):
    out = tmp_path / "iris.cir"
    res = CliRunner().invoke(cli, ["netlist", "--dataset", "iris", "--sample", "4", "--phase", phase,
                                   "--beta", "1e-7", "--out", str(out)])
    assert res.exit_code == 0, res.output
    spice = run_ngspice_batch(out, tmp_path)
    # ebana's own solve of the same sample, through the library
    from ebana import datasets
    from ebana.config import preset
    from ebana.encoding import Encoder
    from ebana.losses import create_loss
    from ebana.builder import build_circuit
    cfg = preset("iris")
    data = datasets.load("iris", seed=cfg.seed)
    c = build_circuit(cfg, data.n_features, data.n_classes, np.random.default_rng(cfg.seed))
    x = Encoder.fit("minmax", data.x_train)(data.x_test[4:5])
    backend = create("ngspice", c)
    sol = backend.solve(x)
    if phase == "nudged":
        loss = create_loss(cfg.loss, tau=cfg.tau)
        inj = c.nudge_currents(loss.grad(c.prediction(sol.output), data.y_test[4:5]), 1e-7)
        sol = backend.solve(x, inj)
    from ebana.netlist import node_names
    for q in (1, 2):
        got = np.array([spice[n] for n in node_names(c, q)])
        assert np.max(np.abs(got - sol.layers[q][0])) < 1e-9


def test_netlist_is_deterministic_and_commented(rng):
    c = make_circuit(rng, n_in=2, hidden=(3,), n_cls=2)
    a = render(c, np.array([0.1, 0.2]))
    assert a == render(c, np.array([0.1, 0.2]))
    assert "* ---- crossbar 0: layer 0 -> hidden layer 1" in a
    assert "* ---- hidden layer 1: clamp diodes" in a and a.rstrip().endswith(".end")


@pytest.mark.ngspice
@needs_ngspice_binary
def test_committed_example_netlists_are_current_and_run(tmp_path):
    """netlists/*.cir are what `bash netlists/make.sh` writes today, and stock ngspice runs them."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "netlists"
    regenerated = {
        "tiny.cir": ["--dataset", "iris", "--hidden", "2", "--sample", "0"],
        "iris.cir": ["--dataset", "iris", "--sample", "0"],
        "iris_nudged.cir": ["--dataset", "iris", "--sample", "0", "--phase", "nudged", "--beta", "1e-8"],
        "iris_norton.cir": ["--dataset", "iris", "--sample", "0", "--norton"],
    }
    volts = {}
    for name, args in regenerated.items():
        out = tmp_path / name
        assert CliRunner().invoke(cli, ["netlist", *args, "--out", str(out)]).exit_code == 0
        assert _same_netlist(out.read_text(), (root / name).read_text()), f"{name} is stale: bash netlists/make.sh"
        volts[name] = run_ngspice_batch(root / name, tmp_path)
    assert abs(volts["iris.cir"]["out0p"] - volts["iris_norton.cir"]["out0p"]) < 1e-9
    assert volts["iris.cir"]["out0p"] != volts["iris_nudged.cir"]["out0p"]


def test_title_cannot_start_a_netlist_line(rng):
    """A title with newlines (e.g. from a file name) stays one comment line: no .control block."""
    from ebana.netlist import control_blocks, summarize
    c = make_circuit(rng)
    evil = "x\n.control\nshell touch pwned\n.endc\r\n* é"
    text = render(c, np.zeros(c.topology.n_inputs), title=evil)
    plain = render(c, np.zeros(c.topology.n_inputs), title="x")
    assert text.count("\n") == plain.count("\n")
    assert not control_blocks(text) and text.isascii()
    assert text.splitlines()[0].startswith("* x\\n.control")
    assert control_blocks(plain + ".control\nshell ls\n.endc\n") == [plain.count("\n") + 1]
    assert summarize(".CONTROL\nshell ls\n.endc\n")[0].startswith("WARNING: .control block at line 1")
    from ebana.netlist import include_lines
    assert not include_lines(text)
    assert include_lines("* t\nR1 a 0 1\n.INCLUDE evil.lib\n.lib x.lib tt\n.inc y\n.includex\n") == [3, 4, 5]
    assert summarize("* t\n.include evil.lib\n")[0].startswith("WARNING: .include/.lib at line 2")
