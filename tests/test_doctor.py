"""``ebana doctor``: healthy install, missing/corrupt MNIST, hidden libngspice, a wrong solve."""

from __future__ import annotations

import gzip
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from ebana import doctor
from ebana.cli import cli
from tests.conftest import SHARED_DATA, cli_env, make_circuit

HAVE_MNIST = all((SHARED_DATA / f"{n}.gz").is_file() or (SHARED_DATA / n).is_file()
                 for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"))


def _lines(output: str) -> dict[str, str]:
    """Check name -> its line."""
    out = {}
    for line in output.splitlines():
        if line.startswith("["):
            out[line[7:].split(":")[0]] = line
    return out


@pytest.mark.ngspice
@pytest.mark.skipif(not HAVE_MNIST, reason=f"MNIST not in {SHARED_DATA}")
def test_healthy_install_exits_0():
    res = CliRunner().invoke(cli, ["doctor", "--data-dir", str(SHARED_DATA)])
    assert res.exit_code == 0, res.output
    lines = _lines(res.output)
    assert set(lines) == {"python", "libngspice", "pyspice", "ngspice solve", "numpy/BLAS", "data dir", "MNIST"}
    assert all(line.startswith("[ ok ]") for line in lines.values()), res.output
    assert "sha256 verified" in lines["MNIST"] and "loaded ngspice" in lines["pyspice"]
    assert "all checks passed" in res.output


def test_data_dir_without_mnist_fails_with_a_fix(tmp_path):
    res = CliRunner().invoke(cli, ["doctor", "--data-dir", str(tmp_path)])
    assert res.exit_code == 1
    line = _lines(res.output)["MNIST"]
    assert line.startswith("[FAIL]") and "4 of 4 files missing" in line and "-> put the four MNIST" in line
    assert res.output.strip().splitlines()[-1].startswith("Error: ") and "MNIST" in res.output.splitlines()[-1]
    assert "Traceback" not in res.output


def test_missing_data_dir_fails(tmp_path):
    res = CliRunner().invoke(cli, ["doctor", "--data-dir", str(tmp_path / "nowhere")])
    assert res.exit_code == 1
    lines = _lines(res.output)
    assert lines["data dir"].startswith("[FAIL]") and "does not exist" in lines["data dir"]
    assert lines["MNIST"].startswith("[FAIL]")


def test_corrupt_mnist_file_is_named(tmp_path):
    # a labels file with the right header but wrong content fails its sha256
    header = (0x0801).to_bytes(4, "big") + (60000).to_bytes(4, "big")
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header + bytes(60000)))
    c = doctor.check_mnist(tmp_path)
    assert c.status == "fail" and "train-labels-idx1-ubyte.gz" in c.detail and "sha256" in c.detail


def test_hidden_libngspice_fails_in_a_subprocess(tmp_path):
    env = dict(cli_env(), NGSPICE_LIBRARY_PATH="/nonexistent/libngspice.so")
    proc = subprocess.run([sys.executable, "-m", "ebana.cli", "doctor", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = _lines(proc.stdout)
    assert lines["libngspice"].startswith("[FAIL]") and "apt-get install" in lines["libngspice"]
    assert lines["pyspice"].startswith("[FAIL]") and "cannot load libngspice" in lines["pyspice"]
    assert lines["ngspice solve"].startswith("[FAIL]")
    assert lines["numpy/BLAS"].startswith("[ ok ]")
    assert "Traceback" not in proc.stderr


def test_no_library_found(monkeypatch):
    monkeypatch.delenv("NGSPICE_LIBRARY_PATH", raising=False)
    monkeypatch.setattr(doctor, "find_libngspice", lambda: None)
    c = doctor.check_libngspice()
    assert c.status == "fail" and "apt-get install" in c.fix


def test_wrong_operating_point_fails(monkeypatch):
    import ebana.backends.ngspice as ng
    v, i = doctor.divider_closed_form()
    monkeypatch.setattr(ng, "run_op", lambda text, vecs: {"mid": v + 1e-6, "v1#branch": i})
    c = doctor.check_solve()
    assert c.status == "fail" and "wrong operating point" in c.fix


def test_closed_form():
    v, i = doctor.divider_closed_form()
    # KCL at mid: (1 - v)/1k = v/3k + (v - 0.25)/1M
    assert abs((1 - v) / 1e3 - v / 3e3 - (v - 0.25) / 1e6) < 1e-18 and i == -(1 - v) / 1e3


@pytest.mark.ngspice
def test_backend_still_solves_its_circuit_after_the_doctor(rng):
    """run_op replaces the loaded netlist; a backend must reload its own afterwards."""
    from ebana.backends import create
    c = make_circuit(rng, n_in=2, hidden=(3,), n_cls=2)
    x = rng.uniform(-1, 1, (2, 2))
    b = create("ngspice", c)
    before = b.solve(x).output
    assert doctor.check_solve().status == "ok"
    after = b.solve(x).output
    np.testing.assert_array_equal(before, after)
    np.testing.assert_allclose(after, create("numpy", c).solve(x).output, atol=1e-9)
