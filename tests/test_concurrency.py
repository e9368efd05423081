"""Two trainings on one ``--out`` (issue 12, item 5): the directory is locked, never silently
overwritten, and what it holds is one run's files, consistent with each other.

Runs ``python -m ebana.cli`` in subprocesses (cwd = a tmp dir); ``EBANA_SRC`` puts another source
tree on PYTHONPATH.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import cli_env

pytestmark = pytest.mark.slow

SRC = os.environ.get("EBANA_SRC")




def start(argv: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ebana.cli", *argv], cwd=cwd, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, errors="replace", start_new_session=True)


def finish(p: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"no exit within {timeout} s:\n{err[-2000:]}")
    return p.returncode, out, err


def run(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    return finish(start(argv, cwd))


def show(rc: int, out: str, err: str) -> str:
    return f"exit {rc}\n--- stdout\n{out[-1500:]}\n--- stderr\n{err[-2500:]}"


def assert_one_line_error(rc: int, out: str, err: str, needle: str) -> None:
    assert rc == 1, show(rc, out, err)
    assert "traceback" not in (out + err).lower(), show(rc, out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), f"not one 'Error: ' line:\n{show(rc, out, err)}"
    assert needle in lines[0].lower(), f"{needle!r} not in {lines[0]!r}"


def file_bytes(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def assert_consistent_run(d: Path, seed: int, epochs: int) -> None:
    """config.toml parses; the config inside conductances.npz and checkpoint.npz is config.toml's;
    metrics, run.json and seed belong to that run; no .tmp-* files."""
    cfg = tomllib.loads((d / "config.toml").read_text())
    assert cfg["seed"] == seed and cfg["epochs"] == epochs, cfg
    for name in ("conductances.npz", "checkpoint.npz"):
        with np.load(d / name, allow_pickle=False) as z:
            inner = json.loads(str(z["config_json"]))
        assert inner == cfg, f"{name} holds the config of another run: seed {inner.get('seed')} vs {cfg['seed']}"
    info = json.loads((d / "run.json").read_text())
    assert info["status"] == "done" and info["seed"] == seed, info
    assert (d / "curves.png").exists()
    rows = (d / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == epochs + 1, f"metrics.csv has {len(rows) - 1} epochs, expected {epochs}"
    assert not list(d.rglob(".tmp-*")), sorted(p.name for p in d.rglob(".tmp-*"))


def test_two_trainings_on_one_out(tmp_path: Path) -> None:
    """Started together: exactly one trains (exit 0), the other exits 1 saying the dir is in use."""
    argv = ["train", "iris", "--epochs", "20", "--quiet", "--out", "same"]
    procs = {seed: start([*argv, "--seed", str(seed)], tmp_path) for seed in (1, 2)}
    results = {seed: finish(p) for seed, p in procs.items()}
    winners = [s for s, (rc, _, _) in results.items() if rc == 0]
    assert len(winners) == 1, "\n\n".join(f"seed {s}: {show(*r)}" for s, r in results.items())
    (loser,) = [s for s in results if s not in winners]
    assert_one_line_error(*results[loser], "in use")
    assert_consistent_run(tmp_path / "same", winners[0], 20)


def test_in_use_while_running(tmp_path: Path) -> None:
    """While a run is training, --overwrite and --resume into its directory are refused too."""
    p = start(["train", "iris", "--epochs", "200", "--seed", "1", "--quiet", "--out", "busy"], tmp_path)
    t0 = time.monotonic()
    while not (tmp_path / "busy" / "checkpoint.npz").exists():
        assert p.poll() is None, show(p.returncode, *p.communicate())
        assert time.monotonic() - t0 < 60
        time.sleep(0.02)
    try:
        for extra in (["train", "iris", "--epochs", "200", "--seed", "2", "--overwrite"],
                      ["train", "--resume"]):
            rc, out, err = run([*extra, "--quiet", "--out", "busy"], tmp_path)
            assert p.poll() is None, "the first run ended before the check; make it longer"
            assert_one_line_error(rc, out, err, "in use")
    finally:
        rc, out, err = finish(p)
    assert rc == 0, show(rc, out, err)
    assert_consistent_run(tmp_path / "busy", 1, 200)


def test_finished_run_is_protected(tmp_path: Path) -> None:
    """A second training into a finished run's dir: exit 1 and no byte changes; --overwrite replaces it."""
    rc, out, err = run(["train", "iris", "--epochs", "2", "--seed", "1", "--quiet", "--out", "r"], tmp_path)
    assert rc == 0, show(rc, out, err)
    before = file_bytes(tmp_path / "r")
    for argv in (["train", "iris", "--epochs", "2", "--seed", "1", "--quiet", "--out", "r"],
                 ["train", "iris", "--epochs", "3", "--seed", "2", "--quiet", "--out", "r"]):
        rc, out, err = run(argv, tmp_path)
        assert rc == 1, show(rc, out, err)
        assert "traceback" not in (out + err).lower(), show(rc, out, err)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: "), show(rc, out, err)
        assert file_bytes(tmp_path / "r") == before, "the refused run changed files of the finished one"
    rc, out, err = run(["train", "iris", "--epochs", "3", "--seed", "2", "--quiet", "--overwrite", "--out", "r"],
                       tmp_path)
    assert rc == 0, show(rc, out, err)
    assert_consistent_run(tmp_path / "r", 2, 3)
